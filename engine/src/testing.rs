//! Helpers for tests and doc examples: sinks that collect what reaches them.

use std::sync::{Arc, Mutex};

use crate::error::StageError;
use crate::stage::{BuildContext, ItemResult, Outputs, Stage, StageConfig};

/// What a [`Collect`] sink has received so far, shared with the caller.
pub type Collected<T> = Arc<Mutex<Vec<T>>>;

/// A sink that appends every item to a shared vector.
pub struct Collect<T> {
    items: Collected<T>,
}

/// A [`Collect`] sink config and the vector it fills.
pub fn collect<T: Send + 'static>() -> (Collect<T>, Collected<T>) {
    let items = Arc::new(Mutex::new(Vec::new()));
    (
        Collect {
            items: Arc::clone(&items),
        },
        items,
    )
}

/// The stage behind [`Collect`].
pub struct CollectStage<T> {
    items: Collected<T>,
}

impl<T: Send + 'static + Clone> Stage for CollectStage<T> {
    type In = T;
    type Out = ();

    fn process(&mut self, batch: &[T]) -> Vec<ItemResult<()>> {
        self.items
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(batch.iter().cloned());
        batch.iter().map(|_| Ok(Outputs::None)).collect()
    }
}

impl<T: Send + 'static + Clone> StageConfig for Collect<T> {
    type Stage = CollectStage<T>;

    fn build(&self, _cx: &BuildContext) -> Result<CollectStage<T>, StageError> {
        Ok(CollectStage {
            items: Arc::clone(&self.items),
        })
    }
}
