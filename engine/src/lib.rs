//! panelscope's dataflow engine: stages joined by bounded channels, run by supervised workers.
//! It knows nothing about PDFs.
//!
//! | module | owns |
//! |---|---|
//! | [`stage`] | the `Stage` / `AsyncStage` contracts and the configs that build them |
//! | [`node`] | how the engine runs a stage: workers, queue capacity, batching, retries |
//! | [`graph`] | the builder: sources, stages, sinks, validation, `run` |
//! | `channel` | bounded edges (crossbeam into threads, tokio into tasks) and the micro-batcher |
//! | `worker` | the worker loops: process, route outputs, retry, dead-letter |
//! | `supervise` | the ractor supervision tree: root → stage → workers |
//! | [`process`] | process pools: stages whose work runs in child processes |
//! | [`metrics`] | every metric name, the per-stage handles, the Prometheus exporter |
//! | [`deadletter`] | where items a stage gave up on are recorded |
//! | [`reorder`] | items put back in sequence order after parallel stages |
//! | [`shutdown`] | graceful drain on SIGINT/SIGTERM |
//! | [`summary`] | the end-of-run summary |
//! | [`testing`] | helpers for tests and examples |
//!
//! Guarantees: every item a source emits is either processed by each stage it reaches or written
//! to the dead-letter sink, exactly once; memory in flight is bounded by the queue capacities and
//! batch sizes; a panicking worker is replaced and its items retried.

#![deny(missing_docs)]

mod channel;
pub mod deadletter;
mod error;
pub mod graph;
pub mod metrics;
pub mod node;
pub mod process;
pub mod reorder;
pub mod shutdown;
pub mod stage;
pub mod summary;
mod supervise;
pub mod testing;
mod worker;

pub use deadletter::{CollectedDeadLetters, DeadLetter, DeadLetterSink, JsonlDeadLetters};
pub use error::{EngineError, ErrorDomain, RetryHint, StageError};
pub use graph::{Graph, GraphBuilder, Stream};
pub use node::NodeConfig;
pub use process::{ProcessPool, ProcessPoolConfig, ProcessPoolSpec};
pub use reorder::{ReorderBuffer, Sequences, reorder};
pub use shutdown::Shutdown;
pub use stage::{
    AsyncStage, AsyncStageConfig, BuildContext, ItemResult, Outputs, Stage, StageConfig, StageKind,
    from_async_fn, from_fn, map,
};
pub use summary::{RunSummary, StageSummary};
