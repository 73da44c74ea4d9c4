//! The `Stage` contract: what a unit of work looks like to the engine, and the configs that build it.

use std::future::Future;
use std::sync::Arc;

use crate::error::StageError;
use crate::metrics::StageMetrics;

/// How the engine runs a stage's workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StageKind {
    /// A source: one thread that feeds the graph.
    Source,
    /// Blocking CPU work on dedicated threads joined by crossbeam channels.
    Cpu,
    /// Async I/O on tokio tasks.
    Async,
    /// Blocking workers that each drive a child process (for unsafe or non-thread-safe native code).
    ProcessPool,
    /// Work that pays off in batches (an accelerator): few workers, `max_batch` > 1.
    Batched,
}

impl StageKind {
    /// The label used in logs and the run summary.
    pub fn as_str(self) -> &'static str {
        match self {
            StageKind::Source => "source",
            StageKind::Cpu => "cpu",
            StageKind::Async => "async",
            StageKind::ProcessPool => "process_pool",
            StageKind::Batched => "batched",
        }
    }

    /// Workers to start when the configuration leaves the count at 0 ("auto").
    pub fn default_workers(self) -> usize {
        match self {
            StageKind::Source | StageKind::Batched => 1,
            StageKind::Cpu | StageKind::ProcessPool | StageKind::Async => available_cores(),
        }
    }
}

/// The cores this process may use, at least 1.
pub fn available_cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// What one input item produced: nothing, one output, or many (a page yields many figures).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outputs<T> {
    /// The item was consumed and produced nothing (a filter, a sink).
    None,
    /// The common 1:1 case, without an allocation.
    One(T),
    /// A fan-out.
    Many(Vec<T>),
}

impl<T> Outputs<T> {
    /// How many outputs there are.
    pub fn len(&self) -> usize {
        match self {
            Outputs::None => 0,
            Outputs::One(_) => 1,
            Outputs::Many(items) => items.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> From<Vec<T>> for Outputs<T> {
    fn from(items: Vec<T>) -> Self {
        Outputs::Many(items)
    }
}

impl<T> From<Option<T>> for Outputs<T> {
    fn from(item: Option<T>) -> Self {
        match item {
            Some(item) => Outputs::One(item),
            None => Outputs::None,
        }
    }
}

impl<T> IntoIterator for Outputs<T> {
    type Item = T;
    type IntoIter = OutputsIter<T>;

    fn into_iter(self) -> Self::IntoIter {
        match self {
            Outputs::None => OutputsIter::Single(None),
            Outputs::One(item) => OutputsIter::Single(Some(item)),
            Outputs::Many(items) => OutputsIter::Many(items.into_iter()),
        }
    }
}

/// Iterator over [`Outputs`].
#[derive(Debug)]
pub enum OutputsIter<T> {
    /// Zero or one item.
    Single(Option<T>),
    /// A fan-out.
    Many(std::vec::IntoIter<T>),
}

impl<T> Iterator for OutputsIter<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        match self {
            OutputsIter::Single(item) => item.take(),
            OutputsIter::Many(items) => items.next(),
        }
    }
}

/// The result of processing one input item.
pub type ItemResult<T> = Result<Outputs<T>, StageError>;

/// A blocking stage. The engine owns every item until the stage returns, so a worker that panics
/// can be replaced and its items retried.
///
/// `process` returns exactly one [`ItemResult`] per input, in input order.
pub trait Stage: Send + 'static {
    /// What flows in.
    type In: Send + 'static;
    /// What flows out.
    type Out: Send + 'static;

    /// Processes one batch (of one item unless the stage's `max_batch` is larger).
    fn process(&mut self, batch: &[Self::In]) -> Vec<ItemResult<Self::Out>>;

    /// Called once on the worker's thread before its first item.
    fn on_start(&mut self) -> Result<(), StageError> {
        Ok(())
    }

    /// Called when the worker has waited `tick` (see [`crate::NodeConfig`]) without an item: a
    /// chance to flush buffered outputs.
    fn on_tick(&mut self) -> Vec<Self::Out> {
        Vec::new()
    }

    /// Called once when the input is exhausted; its outputs are the worker's last.
    fn on_close(&mut self) -> Result<Vec<Self::Out>, StageError> {
        Ok(Vec::new())
    }

    /// How an item is named in a dead-letter record (a path, an id); never the whole payload.
    fn describe(&self, _item: &Self::In) -> String {
        std::any::type_name::<Self::In>().to_string()
    }

    /// The key a dead-letter sink files the item under (a document id), when it has one.
    fn key(&self, _item: &Self::In) -> Option<String> {
        None
    }

    /// The sequence number of what the item belongs to (a catalog position), when reorder buffers
    /// downstream wait on it: dead-lettering the item settles that number (see [`crate::reorder`]).
    fn sequence(&self, _item: &Self::In) -> Option<u64> {
        None
    }
}

/// An async stage, run as tokio tasks, for I/O-bound work.
pub trait AsyncStage: Send + 'static {
    /// What flows in.
    type In: Send + Sync + 'static;
    /// What flows out.
    type Out: Send + 'static;

    /// Processes one batch; exactly one result per input, in order.
    fn process(
        &mut self,
        batch: &[Self::In],
    ) -> impl Future<Output = Vec<ItemResult<Self::Out>>> + Send;

    /// Called once before the first item.
    fn on_start(&mut self) -> impl Future<Output = Result<(), StageError>> + Send {
        async { Ok(()) }
    }

    /// Called once when the input is exhausted.
    fn on_close(&mut self) -> impl Future<Output = Result<Vec<Self::Out>, StageError>> + Send {
        async { Ok(Vec::new()) }
    }

    /// How an item is named in a dead-letter record.
    fn describe(&self, _item: &Self::In) -> String {
        std::any::type_name::<Self::In>().to_string()
    }

    /// The key a dead-letter sink files the item under, when it has one.
    fn key(&self, _item: &Self::In) -> Option<String> {
        None
    }

    /// The sequence number of what the item belongs to; see [`Stage::sequence`].
    fn sequence(&self, _item: &Self::In) -> Option<u64> {
        None
    }
}

/// What a stage's config may read while building a worker's instance.
#[derive(Clone)]
pub struct BuildContext {
    /// The stage's name in the graph (the `stage` label of its metrics).
    pub stage: Arc<str>,
    /// Which worker slot this instance serves (0-based).
    pub worker: usize,
    /// How many workers the stage runs.
    pub workers: usize,
    pub(crate) metrics: StageMetrics,
}

impl BuildContext {
    /// A context outside any graph (tools, tests): worker 0 of 1, metrics under `stage`.
    pub fn detached(stage: &str) -> Self {
        Self {
            stage: Arc::from(stage),
            worker: 0,
            workers: 1,
            metrics: StageMetrics::new(stage),
        }
    }

    /// Counts a restart of something the stage drives itself (a child process), so it shows in
    /// `panelscope_stage_restarts_total` and the run summary.
    pub fn record_restart(&self) {
        self.metrics.record_restart();
    }
}

impl std::fmt::Debug for BuildContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildContext")
            .field("stage", &self.stage)
            .field("worker", &self.worker)
            .field("workers", &self.workers)
            .finish()
    }
}

/// Builds one [`Stage`] instance per worker; called again when a worker is restarted, so a
/// panicking instance never processes another item.
pub trait StageConfig: Send + Sync + 'static {
    /// The stage this config builds.
    type Stage: Stage;

    /// Builds a fresh instance for one worker.
    fn build(&self, cx: &BuildContext) -> Result<Self::Stage, StageError>;

    /// How the engine should run it.
    fn kind(&self) -> StageKind {
        StageKind::Cpu
    }
}

/// Builds one [`AsyncStage`] instance per worker.
pub trait AsyncStageConfig: Send + Sync + 'static {
    /// The stage this config builds.
    type Stage: AsyncStage;

    /// Builds a fresh instance for one worker.
    fn build(&self, cx: &BuildContext) -> Result<Self::Stage, StageError>;
}

/// A [`StageConfig`] made from a closure, for stages without settings of their own.
pub struct FromFn<F> {
    build: F,
    kind: StageKind,
}

/// Wraps a closure that builds a blocking stage for each worker.
pub fn from_fn<S, F>(build: F) -> FromFn<F>
where
    S: Stage,
    F: Fn(&BuildContext) -> Result<S, StageError> + Send + Sync + 'static,
{
    FromFn {
        build,
        kind: StageKind::Cpu,
    }
}

/// Wraps a closure that builds an async stage for each worker.
pub fn from_async_fn<S, F>(build: F) -> FromFn<F>
where
    S: AsyncStage,
    F: Fn(&BuildContext) -> Result<S, StageError> + Send + Sync + 'static,
{
    FromFn {
        build,
        kind: StageKind::Async,
    }
}

impl<F> FromFn<F> {
    /// Declares another kind (e.g. [`StageKind::Batched`]).
    pub fn with_kind(mut self, kind: StageKind) -> Self {
        self.kind = kind;
        self
    }
}

impl<S, F> StageConfig for FromFn<F>
where
    S: Stage,
    F: Fn(&BuildContext) -> Result<S, StageError> + Send + Sync + 'static,
{
    type Stage = S;

    fn build(&self, cx: &BuildContext) -> Result<S, StageError> {
        (self.build)(cx)
    }

    fn kind(&self) -> StageKind {
        self.kind
    }
}

impl<S, F> AsyncStageConfig for FromFn<F>
where
    S: AsyncStage,
    F: Fn(&BuildContext) -> Result<S, StageError> + Send + Sync + 'static,
{
    type Stage = S;

    fn build(&self, cx: &BuildContext) -> Result<S, StageError> {
        (self.build)(cx)
    }
}

/// A stateless 1:1 stage made from a function; the simplest way to put logic in a graph.
pub struct MapStage<I, O, F> {
    map: Arc<F>,
    _types: std::marker::PhantomData<fn(I) -> O>,
}

/// A [`StageConfig`] for [`MapStage`].
pub struct Map<I, O, F> {
    map: Arc<F>,
    _types: std::marker::PhantomData<fn(I) -> O>,
}

/// A 1:1 stage applying `map` to every item; an `Err` dead-letters the item (or retries it, per
/// its [`crate::RetryHint`]).
pub fn map<I, O, F>(map: F) -> Map<I, O, F>
where
    I: Send + 'static,
    O: Send + 'static,
    F: Fn(&I) -> Result<O, StageError> + Send + Sync + 'static,
{
    Map {
        map: Arc::new(map),
        _types: std::marker::PhantomData,
    }
}

impl<I, O, F> Stage for MapStage<I, O, F>
where
    I: Send + 'static,
    O: Send + 'static,
    F: Fn(&I) -> Result<O, StageError> + Send + Sync + 'static,
{
    type In = I;
    type Out = O;

    fn process(&mut self, batch: &[I]) -> Vec<ItemResult<O>> {
        batch
            .iter()
            .map(|item| (self.map)(item).map(Outputs::One))
            .collect()
    }
}

impl<I, O, F> StageConfig for Map<I, O, F>
where
    I: Send + 'static,
    O: Send + 'static,
    F: Fn(&I) -> Result<O, StageError> + Send + Sync + 'static,
{
    type Stage = MapStage<I, O, F>;

    fn build(&self, _cx: &BuildContext) -> Result<Self::Stage, StageError> {
        Ok(MapStage {
            map: Arc::clone(&self.map),
            _types: std::marker::PhantomData,
        })
    }
}
