//! Building a graph: sources, stages and sinks joined by bounded edges, validated as a whole
//! before anything runs.
//!
//! ```
//! use panelscope_engine::{GraphBuilder, NodeConfig, StageError, map};
//!
//! let mut graph = GraphBuilder::new("double");
//! let numbers = graph.source("numbers", 0..100u64);
//! let doubled = graph.stage("double", numbers, map(|n: &u64| Ok::<_, StageError>(n * 2)), NodeConfig::workers(2));
//! let (sink, collected) = panelscope_engine::testing::collect();
//! graph.sink("collect", doubled, sink, NodeConfig::workers(1));
//! let summary = graph.build().unwrap().run_blocking().unwrap();
//! assert_eq!(summary.stage("double").unwrap().emitted, 100);
//! assert_eq!(collected.lock().unwrap().iter().sum::<u64>(), 9900);
//! ```

use std::collections::HashSet;
use std::sync::{Arc, Mutex, RwLock};

use ractor::Actor;
use tokio::sync::oneshot;

use crate::channel::{self, EdgeTx};
use crate::deadletter::{DeadLetterSink, LoggedDeadLetters};
use crate::error::EngineError;
use crate::node::NodeConfig;
use crate::reorder::Sequences;
use crate::shutdown::Shutdown;
use crate::stage::{AsyncStage, AsyncStageConfig, Stage, StageConfig, StageKind};
use crate::summary::RunSummary;
use crate::supervise::{GraphRoot, RootArgs};
use crate::worker::{AsyncRunner, BlockingRunner, GraphContext, SourceRunner, StageRunner};

/// The output of a source or stage, waiting to be consumed by exactly one stage or sink.
#[must_use = "a stream that no stage consumes makes the graph invalid"]
pub struct Stream<T> {
    producer: String,
    sender: Arc<Mutex<Option<EdgeTx<T>>>>,
}

impl<T> Stream<T> {
    /// The stage that produces this stream.
    pub fn producer(&self) -> &str {
        &self.producer
    }

    fn attach(self, tx: EdgeTx<T>) {
        *self.sender.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
    }
}

/// Assembles a graph. Problems (duplicate names, zero capacities, unconsumed outputs) are
/// collected and reported together by [`GraphBuilder::build`].
pub struct GraphBuilder {
    name: String,
    runners: Vec<Arc<dyn StageRunner>>,
    names: HashSet<String>,
    problems: Vec<String>,
    context: Arc<GraphContext>,
}

impl GraphBuilder {
    /// Starts an empty graph called `name` (used in logs and the summary).
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            runners: Vec::new(),
            names: HashSet::new(),
            problems: Vec::new(),
            context: Arc::new(GraphContext {
                dead_letters: RwLock::new(Arc::new(LoggedDeadLetters)),
                shutdown: Shutdown::new(),
                sequences: Arc::new(Sequences::default()),
            }),
        }
    }

    /// Where items that stages give up on are recorded (default: logged at `warn`).
    pub fn dead_letters(&mut self, sink: Arc<dyn DeadLetterSink>) -> &mut Self {
        *self
            .context
            .dead_letters
            .write()
            .unwrap_or_else(|p| p.into_inner()) = sink;
        self
    }

    /// The sequence numbers settled in this graph, for stages that drop items on purpose and for
    /// reorder buffers (see [`crate::reorder`]).
    pub fn sequences(&self) -> Arc<Sequences> {
        Arc::clone(&self.context.sequences)
    }

    /// The drain flag that sources of this graph obey.
    pub fn shutdown_flag(&self) -> Shutdown {
        self.context.shutdown.clone()
    }

    fn claim(&mut self, name: &str) {
        if !self.names.insert(name.to_string()) {
            self.problems.push(format!("two stages are named `{name}`"));
        }
    }

    fn workers(node: &NodeConfig, kind: StageKind) -> usize {
        if node.workers == 0 {
            kind.default_workers()
        } else {
            node.workers
        }
    }

    /// Adds a source that feeds the graph from `items` on its own thread. It stops early when a
    /// drain is requested.
    pub fn source<I>(&mut self, name: &str, items: I) -> Stream<I::Item>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: Send + 'static,
    {
        self.claim(name);
        let sender = Arc::new(Mutex::new(None));
        let runner = SourceRunner::new(
            name,
            items.into_iter(),
            Arc::clone(&sender),
            Arc::clone(&self.context),
        );
        self.runners.push(Arc::new(runner));
        Stream {
            producer: name.to_string(),
            sender,
        }
    }

    fn add_blocking<C: StageConfig>(
        &mut self,
        name: &str,
        input: Stream<<C::Stage as Stage>::In>,
        config: C,
        node: NodeConfig,
        is_sink: bool,
    ) -> Stream<<C::Stage as Stage>::Out> {
        self.claim(name);
        let kind = config.kind();
        let workers = Self::workers(&node, kind);
        let (tx, rx) = channel::bounded(kind, node.capacity.max(1));
        input.attach(tx);
        let sender = Arc::new(Mutex::new(None));
        let runner = BlockingRunner::new(
            name,
            config,
            node,
            workers,
            rx,
            Arc::clone(&sender),
            is_sink,
            Arc::clone(&self.context),
        );
        self.runners.push(Arc::new(runner));
        Stream {
            producer: name.to_string(),
            sender,
        }
    }

    fn add_async<C: AsyncStageConfig>(
        &mut self,
        name: &str,
        input: Stream<<C::Stage as AsyncStage>::In>,
        config: C,
        node: NodeConfig,
        is_sink: bool,
    ) -> Stream<<C::Stage as AsyncStage>::Out> {
        self.claim(name);
        let workers = Self::workers(&node, StageKind::Async);
        let (tx, rx) = channel::bounded(StageKind::Async, node.capacity.max(1));
        input.attach(tx);
        let sender = Arc::new(Mutex::new(None));
        let runner = AsyncRunner::new(
            name,
            config,
            node,
            workers,
            rx,
            Arc::clone(&sender),
            is_sink,
            Arc::clone(&self.context),
        );
        self.runners.push(Arc::new(runner));
        Stream {
            producer: name.to_string(),
            sender,
        }
    }

    /// Adds a blocking stage consuming `input`; returns its output stream.
    pub fn stage<C: StageConfig>(
        &mut self,
        name: &str,
        input: Stream<<C::Stage as Stage>::In>,
        config: C,
        node: NodeConfig,
    ) -> Stream<<C::Stage as Stage>::Out> {
        self.add_blocking(name, input, config, node, false)
    }

    /// Adds an async stage consuming `input`; returns its output stream.
    pub fn stage_async<C: AsyncStageConfig>(
        &mut self,
        name: &str,
        input: Stream<<C::Stage as AsyncStage>::In>,
        config: C,
        node: NodeConfig,
    ) -> Stream<<C::Stage as AsyncStage>::Out> {
        self.add_async(name, input, config, node, false)
    }

    /// Adds a blocking stage whose outputs are counted and dropped: the end of a branch.
    pub fn sink<C: StageConfig>(
        &mut self,
        name: &str,
        input: Stream<<C::Stage as Stage>::In>,
        config: C,
        node: NodeConfig,
    ) {
        let _ = self.add_blocking(name, input, config, node, true);
    }

    /// Adds an async sink.
    pub fn sink_async<C: AsyncStageConfig>(
        &mut self,
        name: &str,
        input: Stream<<C::Stage as AsyncStage>::In>,
        config: C,
        node: NodeConfig,
    ) {
        let _ = self.add_async(name, input, config, node, true);
    }

    /// Validates the whole graph; every problem is reported at once.
    pub fn build(self) -> Result<Graph, EngineError> {
        let mut problems = self.problems;
        if self.runners.is_empty() {
            problems.push("the graph has no stages".to_string());
        }
        if !self.runners.iter().any(|r| r.kind() == StageKind::Source) {
            problems.push("the graph has no source".to_string());
        }
        for runner in &self.runners {
            problems.extend(runner.problems());
        }
        if problems.is_empty() {
            Ok(Graph {
                name: self.name,
                runners: self.runners,
                context: self.context,
            })
        } else {
            Err(EngineError::InvalidGraph {
                graph: self.name,
                problems,
            })
        }
    }
}

/// A validated graph, ready to run once.
pub struct Graph {
    name: String,
    runners: Vec<Arc<dyn StageRunner>>,
    context: Arc<GraphContext>,
}

impl Graph {
    /// The drain flag: raise it to stop the sources and let in-flight items finish.
    pub fn shutdown_flag(&self) -> Shutdown {
        self.context.shutdown.clone()
    }

    /// Runs the graph to the end: until every source is exhausted (or a drain was requested) and
    /// every item has reached a sink or the dead letters. Needs a multi-threaded tokio runtime.
    pub async fn run(self) -> Result<RunSummary, EngineError> {
        let (reply, done) = oneshot::channel();
        let args = RootArgs {
            graph: self.name.clone(),
            runners: self.runners,
            context: self.context,
            reply,
        };
        let (root, handle) = Actor::spawn(None, GraphRoot, args)
            .await
            .map_err(|e| EngineError::Actor(e.to_string()))?;
        let result = done.await.map_err(|_| {
            EngineError::Actor(format!("graph `{}` stopped without a result", self.name))
        });
        root.stop(None);
        let _ = handle.await;
        result?
    }

    /// [`Graph::run`] on a fresh runtime, for callers outside async code.
    pub fn run_blocking(self) -> Result<RunSummary, EngineError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("panelscope-engine")
            .build()
            .map_err(|e| EngineError::Actor(format!("could not start a tokio runtime: {e}")))?;
        runtime.block_on(self.run())
    }
}
