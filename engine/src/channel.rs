//! Bounded edges between stages: crossbeam channels into blocking workers, tokio channels into
//! async tasks, one type on each side so a stage never knows which it got.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel as cb;
use tokio::sync::mpsc;

use crate::stage::StageKind;

/// The downstream stage is gone; only happens while a graph is aborting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Disconnected;

/// The sending end of an edge. Cloned once per upstream worker; the edge closes when every clone
/// is dropped.
pub(crate) enum EdgeTx<T> {
    Blocking(cb::Sender<T>),
    Async(mpsc::Sender<T>),
}

impl<T> Clone for EdgeTx<T> {
    fn clone(&self) -> Self {
        match self {
            EdgeTx::Blocking(tx) => EdgeTx::Blocking(tx.clone()),
            EdgeTx::Async(tx) => EdgeTx::Async(tx.clone()),
        }
    }
}

impl<T: Send> EdgeTx<T> {
    /// Whether the queue is empty (the consumer is waiting for work).
    pub(crate) fn is_empty(&self) -> bool {
        match self {
            EdgeTx::Blocking(tx) => tx.is_empty(),
            EdgeTx::Async(tx) => tx.capacity() == tx.max_capacity(),
        }
    }

    /// Sends from a plain thread, blocking while the edge is full.
    pub(crate) fn send_blocking(&self, item: T) -> Result<(), Disconnected> {
        match self {
            EdgeTx::Blocking(tx) => tx.send(item).map_err(|_| Disconnected),
            EdgeTx::Async(tx) => tx.blocking_send(item).map_err(|_| Disconnected),
        }
    }

    /// Sends from a tokio task. A full blocking edge parks this runtime thread
    /// (`block_in_place`), which is exactly the backpressure we want.
    pub(crate) async fn send_async(&self, item: T) -> Result<(), Disconnected> {
        match self {
            EdgeTx::Async(tx) => tx.send(item).await.map_err(|_| Disconnected),
            EdgeTx::Blocking(tx) => match tx.try_send(item) {
                Ok(()) => Ok(()),
                Err(cb::TrySendError::Disconnected(_)) => Err(Disconnected),
                Err(cb::TrySendError::Full(item)) => {
                    tokio::task::block_in_place(|| tx.send(item)).map_err(|_| Disconnected)
                }
            },
        }
    }
}

/// The receiving end of an edge, shared by all workers of the consuming stage.
pub(crate) enum EdgeRx<T> {
    Blocking(cb::Receiver<T>),
    Async {
        rx: Arc<tokio::sync::Mutex<mpsc::Receiver<T>>>,
        probe: mpsc::WeakSender<T>,
        capacity: usize,
    },
}

impl<T> Clone for EdgeRx<T> {
    fn clone(&self) -> Self {
        match self {
            EdgeRx::Blocking(rx) => EdgeRx::Blocking(rx.clone()),
            EdgeRx::Async {
                rx,
                probe,
                capacity,
            } => EdgeRx::Async {
                rx: Arc::clone(rx),
                probe: probe.clone(),
                capacity: *capacity,
            },
        }
    }
}

impl<T> EdgeRx<T> {
    /// Items waiting in the queue.
    pub(crate) fn len(&self) -> usize {
        match self {
            EdgeRx::Blocking(rx) => rx.len(),
            EdgeRx::Async { probe, .. } => probe
                .upgrade()
                .map_or(0, |tx| tx.max_capacity() - tx.capacity()),
        }
    }

    /// The queue's bound.
    pub(crate) fn capacity(&self) -> usize {
        match self {
            EdgeRx::Blocking(rx) => rx.capacity().unwrap_or(usize::MAX),
            EdgeRx::Async { capacity, .. } => *capacity,
        }
    }

    pub(crate) fn blocking(&self) -> &cb::Receiver<T> {
        match self {
            EdgeRx::Blocking(rx) => rx,
            EdgeRx::Async { .. } => unreachable!("a blocking worker was wired to an async edge"),
        }
    }

    pub(crate) fn asynchronous(&self) -> &tokio::sync::Mutex<mpsc::Receiver<T>> {
        match self {
            EdgeRx::Async { rx, .. } => rx,
            EdgeRx::Blocking(_) => unreachable!("an async worker was wired to a blocking edge"),
        }
    }
}

/// Creates the edge into a stage of `consumer` kind, holding at most `capacity` items.
pub(crate) fn bounded<T>(consumer: StageKind, capacity: usize) -> (EdgeTx<T>, EdgeRx<T>) {
    match consumer {
        StageKind::Async => {
            let (tx, rx) = mpsc::channel(capacity);
            // A weak sender reads the fill level without keeping the edge open.
            let probe = tx.downgrade();
            let rx = Arc::new(tokio::sync::Mutex::new(rx));
            (
                EdgeTx::Async(tx),
                EdgeRx::Async {
                    rx,
                    probe,
                    capacity,
                },
            )
        }
        _ => {
            let (tx, rx) = cb::bounded(capacity);
            (EdgeTx::Blocking(tx), EdgeRx::Blocking(rx))
        }
    }
}

/// What a worker got when it asked for its next batch.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Received {
    /// At least one item, now in the worker's batch buffer.
    Batch,
    /// Nothing arrived within the idle tick.
    Idle,
    /// Every sender is gone and the queue is empty: the stage's input is exhausted.
    Closed,
}

/// Micro-batching on a blocking edge: waits for a first item, then takes up to `max_batch` items,
/// waiting at most `max_wait` after the first one for the rest.
pub(crate) fn recv_batch_blocking<T>(
    rx: &cb::Receiver<T>,
    batch: &mut Vec<T>,
    max_batch: usize,
    max_wait: Duration,
    tick: Option<Duration>,
) -> Received {
    let first = match tick {
        Some(tick) => match rx.recv_timeout(tick) {
            Ok(item) => item,
            Err(cb::RecvTimeoutError::Timeout) => return Received::Idle,
            Err(cb::RecvTimeoutError::Disconnected) => return Received::Closed,
        },
        None => match rx.recv() {
            Ok(item) => item,
            Err(cb::RecvError) => return Received::Closed,
        },
    };
    batch.push(first);
    if max_batch == 1 {
        return Received::Batch;
    }
    let deadline = Instant::now() + max_wait;
    while batch.len() < max_batch {
        match rx.try_recv() {
            Ok(item) => {
                batch.push(item);
                continue;
            }
            Err(cb::TryRecvError::Disconnected) => break,
            Err(cb::TryRecvError::Empty) if max_wait.is_zero() => break,
            Err(cb::TryRecvError::Empty) => {}
        }
        match rx.recv_deadline(deadline) {
            Ok(item) => batch.push(item),
            Err(_) => break,
        }
    }
    Received::Batch
}

/// Micro-batching on an async edge; same policy as [`recv_batch_blocking`]. The receiver lock is
/// held while one batch is gathered, so workers fill batches one after the other.
pub(crate) async fn recv_batch_async<T>(
    rx: &tokio::sync::Mutex<mpsc::Receiver<T>>,
    batch: &mut Vec<T>,
    max_batch: usize,
    max_wait: Duration,
    tick: Option<Duration>,
) -> Received {
    let mut rx = rx.lock().await;
    let first = match tick {
        Some(tick) => match tokio::time::timeout(tick, rx.recv()).await {
            Ok(Some(item)) => item,
            Ok(None) => return Received::Closed,
            Err(_) => return Received::Idle,
        },
        None => match rx.recv().await {
            Some(item) => item,
            None => return Received::Closed,
        },
    };
    batch.push(first);
    let deadline = tokio::time::Instant::now() + max_wait;
    while batch.len() < max_batch {
        match rx.try_recv() {
            Ok(item) => {
                batch.push(item);
                continue;
            }
            Err(mpsc::error::TryRecvError::Disconnected) => break,
            Err(mpsc::error::TryRecvError::Empty) if max_wait.is_zero() => break,
            Err(mpsc::error::TryRecvError::Empty) => {}
        }
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(item)) => batch.push(item),
            Ok(None) | Err(_) => break,
        }
    }
    Received::Batch
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_batches_when_items_are_queued() {
        let (tx, rx) = cb::bounded(32);
        for i in 0..20 {
            tx.send(i).unwrap();
        }
        drop(tx);
        let mut sizes = Vec::new();
        let mut batch = Vec::new();
        while recv_batch_blocking(&rx, &mut batch, 8, Duration::from_secs(60), None)
            == Received::Batch
        {
            sizes.push(batch.len());
            batch.clear();
        }
        assert_eq!(sizes, vec![8, 8, 4]);
    }

    #[test]
    fn partial_batch_after_max_wait_while_input_stays_open() {
        let (tx, rx) = cb::bounded(32);
        for i in 0..3 {
            tx.send(i).unwrap();
        }
        let mut batch = Vec::new();
        assert_eq!(
            recv_batch_blocking(&rx, &mut batch, 8, Duration::from_millis(20), None),
            Received::Batch
        );
        assert_eq!(batch, vec![0, 1, 2]);
        drop(tx);
    }

    #[test]
    fn idle_tick_then_closed() {
        let (tx, rx) = cb::bounded::<u8>(1);
        let mut batch = Vec::new();
        let tick = Some(Duration::from_millis(5));
        assert_eq!(
            recv_batch_blocking(&rx, &mut batch, 1, Duration::ZERO, tick),
            Received::Idle
        );
        drop(tx);
        assert_eq!(
            recv_batch_blocking(&rx, &mut batch, 1, Duration::ZERO, tick),
            Received::Closed
        );
    }
}
