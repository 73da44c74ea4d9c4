//! Reordering: items put back in the order of their sequence numbers (a position in a catalog),
//! whatever order parallel workers finished them in, so that the stateful stages after a reorder
//! see one run's items in the same order every time.
//!
//! A sequence number is *settled* when its item will never arrive: a stage dead-lettered it (the
//! engine settles it, through [`crate::Stage::sequence`]) or a stage dropped it on purpose (that
//! stage calls [`Sequences::settle`]). A [`ReorderBuffer`] holds items until every smaller number
//! has passed or is settled; when it holds more than its capacity (a hung item upstream), it lets
//! the smallest it holds go ahead out of order, so memory stays bounded, and says so in
//! `panelscope_reorder_skipped_total{stage=…}`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use crate::error::StageError;
use crate::metrics::REORDER_SKIPPED_TOTAL;
use crate::stage::{BuildContext, ItemResult, Outputs, Stage, StageConfig};

/// The settled sequence numbers of one graph, shared by the stages that settle them and the
/// buffers that wait on them.
#[derive(Debug, Default)]
pub struct Sequences {
    state: Mutex<SequencesState>,
}

#[derive(Debug, Default)]
struct SequencesState {
    settled: BTreeSet<u64>,
    /// Each buffer's next awaited number, by its name: a buffer rebuilt after a panic resumes where
    /// its predecessor was, and numbers below every buffer's are forgotten.
    readers: HashMap<String, u64>,
}

impl Sequences {
    fn lock(&self) -> std::sync::MutexGuard<'_, SequencesState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Says that the item numbered `sequence` will never arrive.
    pub fn settle(&self, sequence: u64) {
        let mut state = self.lock();
        let passed = state.readers.values().min().copied().unwrap_or(0);
        if state.readers.is_empty() || sequence >= passed {
            state.settled.insert(sequence);
        }
    }

    fn is_settled(&self, sequence: u64) -> bool {
        self.lock().settled.contains(&sequence)
    }

    /// Where the buffer called `reader` resumes (0 for a new one).
    fn join(&self, reader: &str) -> u64 {
        *self.lock().readers.entry(reader.to_string()).or_insert(0)
    }

    fn advance(&self, reader: &str, next: u64) {
        let mut state = self.lock();
        state.readers.insert(reader.to_string(), next);
        let passed = state.readers.values().min().copied().unwrap_or(0);
        state.settled = state.settled.split_off(&passed);
    }

    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.lock().settled.len()
    }
}

/// Items held until their turn; see the module documentation.
pub struct ReorderBuffer<T> {
    sequences: Arc<Sequences>,
    reader: String,
    capacity: usize,
    next: u64,
    held: BTreeMap<u64, Vec<T>>,
    count: usize,
}

impl<T> ReorderBuffer<T> {
    /// A buffer called `reader` (unique in its graph; the `stage` label of its metric) that holds
    /// at most `capacity` items waiting for a smaller number.
    pub fn new(sequences: Arc<Sequences>, reader: &str, capacity: usize) -> Self {
        let next = sequences.join(reader);
        Self {
            sequences,
            reader: reader.to_string(),
            capacity: capacity.max(1),
            next,
            held: BTreeMap::new(),
            count: 0,
        }
    }

    /// Takes `item`, numbered `sequence`; returns the items now due, in order. An item whose turn
    /// has passed (it was settled, then arrived after all) is due at once.
    pub fn push(&mut self, sequence: u64, item: T) -> Vec<T> {
        if sequence < self.next {
            let mut due = vec![item];
            due.extend(self.release());
            return due;
        }
        self.held.entry(sequence).or_default().push(item);
        self.count += 1;
        self.release()
    }

    /// The items due now, in order (numbers settled since the last call may have freed some).
    pub fn release(&mut self) -> Vec<T> {
        let mut due = Vec::new();
        loop {
            if let Some(items) = self.held.remove(&self.next) {
                self.count -= items.len();
                due.extend(items);
                self.next += 1;
            } else if self.sequences.is_settled(self.next) {
                self.next += 1;
            } else if self.count > self.capacity {
                let first = *self
                    .held
                    .keys()
                    .next()
                    .expect("holds more than its capacity");
                let skipped = first - self.next;
                tracing::warn!(stage = %self.reader, awaited = self.next, skipped, held = self.count, "Items held for an earlier one exceed the buffer; letting them go ahead out of order.");
                metrics::counter!(REORDER_SKIPPED_TOTAL, "stage" => self.reader.clone())
                    .increment(skipped);
                self.next = first;
            } else {
                break;
            }
        }
        self.sequences.advance(&self.reader, self.next);
        due
    }

    /// Everything held, in order (the input is exhausted: whatever was awaited is not coming).
    pub fn drain(&mut self) -> Vec<T> {
        let held = std::mem::take(&mut self.held);
        self.count = 0;
        if let Some((&last, _)) = held.last_key_value() {
            self.next = self.next.max(last + 1);
            self.sequences.advance(&self.reader, self.next);
        }
        held.into_values().flatten().collect()
    }

    /// How many items are held.
    pub fn held(&self) -> usize {
        self.count
    }
}

/// Builds a [`Reorder`] stage: items numbered by `sequence`, at most `capacity` held.
pub fn reorder<T, F>(sequences: Arc<Sequences>, capacity: usize, sequence: F) -> ReorderConfig<T, F>
where
    T: Clone + Send + 'static,
    F: Fn(&T) -> u64 + Clone + Send + Sync + 'static,
{
    ReorderConfig {
        sequences,
        capacity,
        sequence,
        _items: PhantomData,
    }
}

/// The config of a [`Reorder`] stage; see [`reorder`].
pub struct ReorderConfig<T, F> {
    sequences: Arc<Sequences>,
    capacity: usize,
    sequence: F,
    _items: PhantomData<fn(T)>,
}

/// A stage that passes its items on in sequence order. It runs one worker: two would reorder
/// them again.
pub struct Reorder<T, F> {
    buffer: ReorderBuffer<T>,
    sequence: F,
}

impl<T, F> StageConfig for ReorderConfig<T, F>
where
    T: Clone + Send + 'static,
    F: Fn(&T) -> u64 + Clone + Send + Sync + 'static,
{
    type Stage = Reorder<T, F>;

    fn build(&self, cx: &BuildContext) -> Result<Self::Stage, StageError> {
        if cx.workers != 1 {
            return Err(StageError::input(format!(
                "stage `{}` reorders items and must run one worker, not {}",
                cx.stage, cx.workers
            )));
        }
        Ok(Reorder {
            buffer: ReorderBuffer::new(Arc::clone(&self.sequences), &cx.stage, self.capacity),
            sequence: self.sequence.clone(),
        })
    }
}

impl<T, F> Stage for Reorder<T, F>
where
    T: Clone + Send + 'static,
    F: Fn(&T) -> u64 + Clone + Send + Sync + 'static,
{
    type In = T;
    type Out = T;

    fn process(&mut self, batch: &[T]) -> Vec<ItemResult<T>> {
        batch
            .iter()
            .map(|item| {
                let due = self.buffer.push((self.sequence)(item), item.clone());
                Ok(Outputs::Many(due))
            })
            .collect()
    }

    fn on_tick(&mut self) -> Vec<T> {
        self.buffer.release()
    }

    fn on_close(&mut self) -> Result<Vec<T>, StageError> {
        Ok(self.buffer.drain())
    }

    fn sequence(&self, item: &T) -> Option<u64> {
        Some((self.sequence)(item))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_come_out_in_order_and_settled_numbers_are_not_awaited() {
        let sequences = Arc::new(Sequences::default());
        let mut buffer = ReorderBuffer::new(Arc::clone(&sequences), "order", 10);
        assert!(buffer.push(2, "c").is_empty());
        assert!(buffer.push(4, "e").is_empty());
        assert_eq!(buffer.push(0, "a"), vec!["a"]);
        sequences.settle(1);
        assert_eq!(buffer.release(), vec!["c"]);
        assert_eq!(buffer.push(3, "d"), vec!["d", "e"]);
        // A settled item that turns up after all is passed on at once.
        assert_eq!(buffer.push(1, "b"), vec!["b"]);
        assert_eq!(buffer.held(), 0);
        assert_eq!(
            sequences.remembered(),
            0,
            "numbers behind every reader are forgotten"
        );
    }

    #[test]
    fn settled_numbers_are_passed_and_forgotten_while_nothing_is_held() {
        let sequences = Arc::new(Sequences::default());
        let mut buffer = ReorderBuffer::<u64>::new(Arc::clone(&sequences), "order", 2);
        (0..1000).for_each(|k| sequences.settle(k));
        assert!(buffer.release().is_empty());
        assert_eq!(sequences.remembered(), 0);
        assert_eq!(buffer.push(1000, 1000), vec![1000]);
    }

    #[test]
    fn a_full_buffer_lets_the_earliest_go_ahead_and_a_drain_empties_it_in_order() {
        let sequences = Arc::new(Sequences::default());
        let mut buffer = ReorderBuffer::new(Arc::clone(&sequences), "order", 2);
        assert!(buffer.push(1, 1).is_empty());
        assert!(buffer.push(2, 2).is_empty());
        assert_eq!(buffer.push(3, 3), vec![1, 2, 3]);
        assert!(buffer.push(5, 5).is_empty());
        assert_eq!(buffer.push(0, 0), vec![0]);
        assert_eq!(buffer.drain(), vec![5]);
        // A rebuilt buffer of the same name resumes where this one was.
        let mut rebuilt = ReorderBuffer::new(Arc::clone(&sequences), "order", 2);
        assert_eq!(rebuilt.push(6, 6), vec![6]);
    }
}
