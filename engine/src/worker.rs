//! The worker loops: take a batch, process it, send the outputs, retry or dead-letter failures.
//! One `StageRunner` per stage erases the stage's types for the supervisor.

use std::any::Any;
use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use futures::FutureExt;

use crate::channel::{EdgeRx, EdgeTx, Received, recv_batch_async, recv_batch_blocking};
use crate::deadletter::{DeadLetter, DeadLetterSink, ItemLabel};
use crate::error::StageError;
use crate::metrics::{StageMetrics, WorkerTally};
use crate::node::NodeConfig;
use crate::reorder::Sequences;
use crate::shutdown::Shutdown;
use crate::stage::{
    AsyncStage, AsyncStageConfig, BuildContext, ItemResult, Outputs, Stage, StageConfig, StageKind,
};

/// What every stage of one graph shares.
pub(crate) struct GraphContext {
    pub(crate) dead_letters: RwLock<Arc<dyn DeadLetterSink>>,
    pub(crate) shutdown: Shutdown,
    pub(crate) sequences: Arc<Sequences>,
}

impl GraphContext {
    fn dead_letter(
        &self,
        metrics: &StageMetrics,
        item: ItemLabel,
        error: &StageError,
        attempts: u32,
    ) {
        let sequence = item.sequence;
        let letter = DeadLetter::now(
            metrics.stage(),
            item,
            error.message.clone(),
            error.domain,
            attempts,
        );
        metrics.record_dead(error.domain);
        if let Some(sequence) = sequence {
            self.sequences.settle(sequence);
        }
        let sink = Arc::clone(&self.dead_letters.read().unwrap_or_else(|p| p.into_inner()));
        if let Err(io) = sink.record(&letter) {
            tracing::error!(stage = %letter.stage, item = %letter.item, error = %io, "Could not record a dead letter; it is only in this log line.");
        }
    }
}

/// How a worker ended.
#[derive(Debug)]
pub(crate) enum WorkerExit {
    /// Its input is exhausted and everything it held went downstream.
    Drained,
    /// `process` panicked; the items it held wait in the slot for `recover`.
    Panicked(String),
    /// The stage cannot go on (it failed to build or start, a source panicked, the downstream
    /// stage is gone): the graph must stop.
    Fatal(String),
}

/// What the supervisor does after a worker failed.
#[derive(Debug)]
pub(crate) enum Recovery {
    /// Its items were re-queued or dead-lettered; start a replacement.
    Restart,
    /// Escalate: the stage is broken.
    Fatal(String),
}

/// One stage, its types erased, as its supervising actor sees it.
pub(crate) trait StageRunner: Send + Sync + 'static {
    fn name(&self) -> &str;
    fn kind(&self) -> StageKind;
    fn workers(&self) -> usize;
    fn metrics(&self) -> &StageMetrics;
    /// Problems that make the graph invalid (an output nobody consumes).
    fn problems(&self) -> Vec<String>;
    /// Starts worker `slot` on its own thread or task; `done` is called once when it ends.
    fn start_worker(self: Arc<Self>, slot: usize, done: Box<dyn FnOnce(WorkerExit) + Send>);
    /// Deals with what a failed worker of `slot` held.
    fn recover(&self, slot: usize) -> Recovery;
    /// Updates the queue and busy gauges.
    fn sample(&self);
    /// Called once all workers have ended: closes the stage's output edge.
    fn finish(&self);
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-string payload".to_string())
}

/// An item waiting for another attempt, and how many it has had.
struct Retry<T> {
    item: T,
    attempts: u32,
}

/// What a panicked worker left behind.
enum Failure<T> {
    Panicked {
        items: Vec<(T, ItemLabel)>,
        attempts: u32,
        message: String,
    },
    Fatal(String),
}

/// Per-worker state that outlives the worker: its retry queue and what it held when it failed.
struct Slot<T> {
    retries: Mutex<VecDeque<Retry<T>>>,
    /// Mirrors `retries.len()` so the hot path checks an atomic, not a lock.
    pending: AtomicUsize,
    failure: Mutex<Option<Failure<T>>>,
}

impl<T> Slot<T> {
    fn new() -> Self {
        Self {
            retries: Mutex::new(VecDeque::new()),
            pending: AtomicUsize::new(0),
            failure: Mutex::new(None),
        }
    }

    fn fail(&self, failure: Failure<T>) {
        *self.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(failure);
    }

    fn push_retry(&self, item: T, attempts: u32) {
        self.retries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(Retry { item, attempts });
        self.pending.fetch_add(1, Ordering::AcqRel);
    }

    fn pop_retry(&self) -> Option<Retry<T>> {
        if self.pending.load(Ordering::Acquire) == 0 {
            return None;
        }
        let retry = self
            .retries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()?;
        self.pending.fetch_sub(1, Ordering::AcqRel);
        Some(retry)
    }
}

/// Samples busy time into a ratio between two calls.
struct BusySampler {
    last: Mutex<(Instant, u64)>,
}

impl BusySampler {
    fn new() -> Self {
        Self {
            last: Mutex::new((Instant::now(), 0)),
        }
    }

    fn sample(&self, metrics: &StageMetrics, workers: usize) {
        let now = Instant::now();
        let busy = metrics.stats().busy_nanos();
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let wall = now.duration_since(last.0).as_nanos() as f64 * workers.max(1) as f64;
        if wall > 0.0 {
            metrics.set_busy_ratio((busy.saturating_sub(last.1) as f64 / wall).min(1.0));
        }
        *last = (now, busy);
    }
}

/// The parts shared by blocking and async runners of a stage with an input.
struct Common<In, Out> {
    name: Arc<str>,
    kind: StageKind,
    node: NodeConfig,
    workers: usize,
    input: EdgeRx<In>,
    /// `None` until a consumer attaches (an error if none does), and always `None` for sinks.
    output: Arc<Mutex<Option<EdgeTx<Out>>>>,
    is_sink: bool,
    slots: Vec<Slot<In>>,
    metrics: StageMetrics,
    graph: Arc<GraphContext>,
    busy: BusySampler,
}

impl<In: Send + 'static, Out: Send + 'static> Common<In, Out> {
    #[allow(clippy::too_many_arguments)]
    fn new(
        name: &str,
        kind: StageKind,
        node: NodeConfig,
        workers: usize,
        input: EdgeRx<In>,
        output: Arc<Mutex<Option<EdgeTx<Out>>>>,
        is_sink: bool,
        graph: Arc<GraphContext>,
    ) -> Self {
        Self {
            name: Arc::from(name),
            kind,
            node,
            workers,
            input,
            output,
            is_sink,
            slots: (0..workers).map(|_| Slot::new()).collect(),
            metrics: StageMetrics::new(name),
            graph,
            busy: BusySampler::new(),
        }
    }

    fn cx(&self, slot: usize) -> BuildContext {
        BuildContext {
            stage: Arc::clone(&self.name),
            worker: slot,
            workers: self.workers,
            metrics: self.metrics.clone(),
        }
    }

    fn sender(&self) -> Option<EdgeTx<Out>> {
        self.output
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn problems(&self) -> Vec<String> {
        let mut problems = self.node.problems(&self.name);
        if !self.is_sink
            && self
                .output
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_none()
        {
            problems.push(format!(
                "the output of stage `{}` is not consumed by any stage or sink",
                self.name
            ));
        }
        problems
    }

    fn may_retry(&self, attempts: u32) -> bool {
        attempts <= u32::from(self.node.max_retries)
    }

    fn recover(&self, slot: usize) -> Recovery {
        let failure = self.slots[slot]
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        match failure {
            Some(Failure::Panicked {
                items,
                attempts,
                message,
            }) => {
                let error = StageError::internal(format!("worker panicked: {message}"));
                let mut retried = 0;
                for (item, label) in items {
                    if self.may_retry(attempts) {
                        self.slots[slot].push_retry(item, attempts);
                        retried += 1;
                    } else {
                        self.graph
                            .dead_letter(&self.metrics, label, &error, attempts);
                    }
                }
                self.metrics.record_retried(retried);
                Recovery::Restart
            }
            Some(Failure::Fatal(reason)) => Recovery::Fatal(reason),
            None => Recovery::Fatal("a worker failed without saying why".to_string()),
        }
    }

    /// Routes the results of one batch: outputs into `outputs`, failures to a retry or the dead
    /// letters. Drains `batch`, keeping its allocation. `attempts` counts this attempt.
    fn route(
        &self,
        slot: usize,
        batch: &mut Vec<In>,
        results: Vec<ItemResult<Out>>,
        attempts: u32,
        outputs: &mut Vec<Out>,
        describe: impl Fn(&In) -> ItemLabel,
    ) {
        if results.len() != batch.len() {
            let error = StageError::internal(format!(
                "stage returned {} results for a batch of {} items",
                results.len(),
                batch.len()
            ));
            for item in batch.drain(..) {
                self.graph
                    .dead_letter(&self.metrics, describe(&item), &error, attempts);
            }
            return;
        }
        let mut retried = 0;
        for (item, result) in batch.drain(..).zip(results) {
            match result {
                Ok(Outputs::One(output)) => outputs.push(output),
                Ok(produced) => outputs.extend(produced),
                Err(error) if error.is_retryable() && self.may_retry(attempts) => {
                    self.slots[slot].push_retry(item, attempts);
                    retried += 1;
                }
                Err(error) => {
                    self.graph
                        .dead_letter(&self.metrics, describe(&item), &error, attempts)
                }
            }
        }
        self.metrics.record_retried(retried);
    }

    fn sample(&self) {
        self.metrics
            .set_queue(self.input.len(), self.input.capacity());
        self.busy.sample(&self.metrics, self.workers);
    }

    fn finish(&self) {
        self.output.lock().unwrap_or_else(|p| p.into_inner()).take();
        self.sample();
    }
}

/// A reason that ends a worker loop early.
type Stop = WorkerExit;

/// Runs a [`StageConfig`]'s stages on dedicated threads.
pub(crate) struct BlockingRunner<C: StageConfig> {
    config: C,
    common: Common<<C::Stage as Stage>::In, <C::Stage as Stage>::Out>,
}

type InOf<C> = <<C as StageConfig>::Stage as Stage>::In;
type OutOf<C> = <<C as StageConfig>::Stage as Stage>::Out;

/// One blocking worker's instance, buffers and counts.
struct BlockingWorker<'r, C: StageConfig> {
    runner: &'r BlockingRunner<C>,
    slot: usize,
    stage: C::Stage,
    tx: Option<EdgeTx<OutOf<C>>>,
    batch: Vec<InOf<C>>,
    outputs: Vec<OutOf<C>>,
    tally: WorkerTally,
}

impl<C: StageConfig> BlockingWorker<'_, C> {
    fn send_outputs(&mut self) -> Result<(), Stop> {
        self.tally.emitted(self.outputs.len());
        match &self.tx {
            Some(tx) => {
                for output in self.outputs.drain(..) {
                    tx.send_blocking(output).map_err(|_| {
                        WorkerExit::Fatal("the downstream stage is gone".to_string())
                    })?;
                }
            }
            None => self.outputs.clear(),
        }
        Ok(())
    }

    /// Processes `self.batch` as attempt number `attempts`.
    fn process(&mut self, attempts: u32) -> Result<(), Stop> {
        let common = &self.runner.common;
        let started = self.tally.start_batch();
        let size = self.batch.len();
        let stage = &mut self.stage;
        let batch = &self.batch;
        let results = catch_unwind(AssertUnwindSafe(|| stage.process(batch)));
        self.tally.end_batch(&common.metrics, started, size);
        match results {
            Ok(results) => {
                let stage = &self.stage;
                common.route(
                    self.slot,
                    &mut self.batch,
                    results,
                    attempts,
                    &mut self.outputs,
                    |item| ItemLabel {
                        text: stage.describe(item),
                        key: stage.key(item),
                        sequence: stage.sequence(item),
                    },
                );
                self.send_outputs()
            }
            Err(payload) => {
                let message = panic_message(payload.as_ref());
                let stage = &self.stage;
                let items = self
                    .batch
                    .drain(..)
                    .map(|item| {
                        let label = catch_unwind(AssertUnwindSafe(|| ItemLabel {
                            text: stage.describe(&item),
                            key: stage.key(&item),
                            sequence: stage.sequence(&item),
                        }))
                        .unwrap_or_else(|_| ItemLabel {
                            text: std::any::type_name::<InOf<C>>().to_string(),
                            key: None,
                            sequence: None,
                        });
                        (item, label)
                    })
                    .collect();
                common.slots[self.slot].fail(Failure::Panicked {
                    items,
                    attempts,
                    message: message.clone(),
                });
                Err(WorkerExit::Panicked(message))
            }
        }
    }

    fn run(&mut self) -> Result<(), Stop> {
        let common = &self.runner.common;
        let node = &common.node;
        let input = common.input.blocking();
        loop {
            if let Some(retry) = common.slots[self.slot].pop_retry() {
                self.batch.push(retry.item);
                self.process(retry.attempts + 1)?;
                continue;
            }
            self.tally.maybe_flush(&common.metrics, input.is_empty());
            match recv_batch_blocking(
                input,
                &mut self.batch,
                node.max_batch,
                node.max_wait,
                node.tick,
            ) {
                Received::Batch => {
                    self.tally.received(self.batch.len());
                    self.process(1)?;
                }
                Received::Idle => {
                    let stage = &mut self.stage;
                    match catch_unwind(AssertUnwindSafe(|| stage.on_tick())) {
                        Ok(outputs) => {
                            self.outputs.extend(outputs);
                            self.send_outputs()?;
                        }
                        Err(payload) => {
                            return Err(WorkerExit::Fatal(format!(
                                "on_tick panicked: {}",
                                panic_message(payload.as_ref())
                            )));
                        }
                    }
                }
                Received::Closed => break,
            }
        }
        let stage = &mut self.stage;
        match catch_unwind(AssertUnwindSafe(|| stage.on_close())) {
            Ok(Ok(outputs)) => {
                self.outputs.extend(outputs);
                self.send_outputs()
            }
            Ok(Err(error)) => Err(WorkerExit::Fatal(format!("on_close failed: {error}"))),
            Err(payload) => Err(WorkerExit::Fatal(format!(
                "on_close panicked: {}",
                panic_message(payload.as_ref())
            ))),
        }
    }
}

impl<C: StageConfig> BlockingRunner<C> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        name: &str,
        config: C,
        node: NodeConfig,
        workers: usize,
        input: EdgeRx<InOf<C>>,
        output: Arc<Mutex<Option<EdgeTx<OutOf<C>>>>>,
        is_sink: bool,
        graph: Arc<GraphContext>,
    ) -> Self {
        let kind = config.kind();
        Self {
            config,
            common: Common::new(name, kind, node, workers, input, output, is_sink, graph),
        }
    }

    fn start(&self, slot: usize) -> Result<C::Stage, String> {
        let mut stage = match catch_unwind(AssertUnwindSafe(|| {
            self.config.build(&self.common.cx(slot))
        })) {
            Ok(Ok(stage)) => stage,
            Ok(Err(error)) => return Err(format!("could not build: {error}")),
            Err(payload) => {
                return Err(format!(
                    "panicked while building: {}",
                    panic_message(payload.as_ref())
                ));
            }
        };
        match catch_unwind(AssertUnwindSafe(|| stage.on_start())) {
            Ok(Ok(())) => Ok(stage),
            Ok(Err(error)) => Err(format!("on_start failed: {error}")),
            Err(payload) => Err(format!(
                "on_start panicked: {}",
                panic_message(payload.as_ref())
            )),
        }
    }

    fn run_worker(&self, slot: usize) -> WorkerExit {
        let stage = match self.start(slot) {
            Ok(stage) => stage,
            Err(reason) => {
                self.common.slots[slot].fail(Failure::Fatal(reason.clone()));
                return WorkerExit::Fatal(reason);
            }
        };
        let mut worker = BlockingWorker {
            runner: self,
            slot,
            stage,
            tx: self.common.sender(),
            batch: Vec::with_capacity(self.common.node.max_batch),
            outputs: Vec::new(),
            tally: WorkerTally::new(),
        };
        let result = worker.run();
        worker.tally.flush(&self.common.metrics);
        match result {
            Ok(()) => WorkerExit::Drained,
            Err(WorkerExit::Fatal(reason)) => {
                self.common.slots[slot].fail(Failure::Fatal(reason.clone()));
                WorkerExit::Fatal(reason)
            }
            Err(exit) => exit,
        }
    }
}

impl<C: StageConfig> StageRunner for BlockingRunner<C> {
    fn name(&self) -> &str {
        &self.common.name
    }
    fn kind(&self) -> StageKind {
        self.common.kind
    }
    fn workers(&self) -> usize {
        self.common.workers
    }
    fn metrics(&self) -> &StageMetrics {
        &self.common.metrics
    }
    fn problems(&self) -> Vec<String> {
        let mut problems = self.common.problems();
        if self.common.kind == StageKind::Async || self.common.kind == StageKind::Source {
            problems.push(format!(
                "stage `{}` declares kind `{}` but is a blocking stage",
                self.common.name,
                self.common.kind.as_str()
            ));
        }
        problems
    }

    fn start_worker(self: Arc<Self>, slot: usize, done: Box<dyn FnOnce(WorkerExit) + Send>) {
        let name = format!("{}-{slot}", self.common.name);
        let spawned = std::thread::Builder::new().name(name).spawn(move || {
            let exit = self.run_worker(slot);
            done(exit);
        });
        if let Err(error) = spawned {
            tracing::error!(%error, "Could not spawn a worker thread.");
        }
    }

    fn recover(&self, slot: usize) -> Recovery {
        self.common.recover(slot)
    }
    fn sample(&self) {
        self.common.sample();
    }
    fn finish(&self) {
        self.common.finish();
    }
}

/// Runs an [`AsyncStageConfig`]'s stages as tokio tasks.
pub(crate) struct AsyncRunner<C: AsyncStageConfig> {
    config: C,
    common: Common<<C::Stage as AsyncStage>::In, <C::Stage as AsyncStage>::Out>,
}

type AsyncInOf<C> = <<C as AsyncStageConfig>::Stage as AsyncStage>::In;
type AsyncOutOf<C> = <<C as AsyncStageConfig>::Stage as AsyncStage>::Out;

/// One async worker's instance, buffers and counts.
struct AsyncWorker<'r, C: AsyncStageConfig> {
    runner: &'r AsyncRunner<C>,
    slot: usize,
    stage: C::Stage,
    tx: Option<EdgeTx<AsyncOutOf<C>>>,
    batch: Vec<AsyncInOf<C>>,
    outputs: Vec<AsyncOutOf<C>>,
    tally: WorkerTally,
}

impl<C: AsyncStageConfig> AsyncWorker<'_, C> {
    async fn send_outputs(&mut self) -> Result<(), Stop> {
        self.tally.emitted(self.outputs.len());
        match &self.tx {
            Some(tx) => {
                for output in self.outputs.drain(..) {
                    tx.send_async(output).await.map_err(|_| {
                        WorkerExit::Fatal("the downstream stage is gone".to_string())
                    })?;
                }
            }
            None => self.outputs.clear(),
        }
        Ok(())
    }

    async fn process(&mut self, attempts: u32) -> Result<(), Stop> {
        let common = &self.runner.common;
        let started = self.tally.start_batch();
        let size = self.batch.len();
        let results = AssertUnwindSafe(self.stage.process(&self.batch))
            .catch_unwind()
            .await;
        self.tally.end_batch(&common.metrics, started, size);
        match results {
            Ok(results) => {
                let stage = &self.stage;
                common.route(
                    self.slot,
                    &mut self.batch,
                    results,
                    attempts,
                    &mut self.outputs,
                    |item| ItemLabel {
                        text: stage.describe(item),
                        key: stage.key(item),
                        sequence: stage.sequence(item),
                    },
                );
                self.send_outputs().await
            }
            Err(payload) => {
                let message = panic_message(payload.as_ref());
                let stage = &self.stage;
                let items = self
                    .batch
                    .drain(..)
                    .map(|item| {
                        let label = ItemLabel {
                            text: stage.describe(&item),
                            key: stage.key(&item),
                            sequence: stage.sequence(&item),
                        };
                        (item, label)
                    })
                    .collect();
                common.slots[self.slot].fail(Failure::Panicked {
                    items,
                    attempts,
                    message: message.clone(),
                });
                Err(WorkerExit::Panicked(message))
            }
        }
    }

    async fn run(&mut self) -> Result<(), Stop> {
        let common = &self.runner.common;
        let node = &common.node;
        loop {
            if let Some(retry) = common.slots[self.slot].pop_retry() {
                self.batch.push(retry.item);
                self.process(retry.attempts + 1).await?;
                continue;
            }
            self.tally
                .maybe_flush(&common.metrics, common.input.len() == 0);
            let input = common.input.asynchronous();
            match recv_batch_async(
                input,
                &mut self.batch,
                node.max_batch,
                node.max_wait,
                node.tick,
            )
            .await
            {
                Received::Batch => {
                    self.tally.received(self.batch.len());
                    self.process(1).await?;
                }
                Received::Idle => {}
                Received::Closed => break,
            }
        }
        match AssertUnwindSafe(self.stage.on_close()).catch_unwind().await {
            Ok(Ok(outputs)) => {
                self.outputs.extend(outputs);
                self.send_outputs().await
            }
            Ok(Err(error)) => Err(WorkerExit::Fatal(format!("on_close failed: {error}"))),
            Err(payload) => Err(WorkerExit::Fatal(format!(
                "on_close panicked: {}",
                panic_message(payload.as_ref())
            ))),
        }
    }
}

impl<C: AsyncStageConfig> AsyncRunner<C> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        name: &str,
        config: C,
        node: NodeConfig,
        workers: usize,
        input: EdgeRx<AsyncInOf<C>>,
        output: Arc<Mutex<Option<EdgeTx<AsyncOutOf<C>>>>>,
        is_sink: bool,
        graph: Arc<GraphContext>,
    ) -> Self {
        Self {
            config,
            common: Common::new(
                name,
                StageKind::Async,
                node,
                workers,
                input,
                output,
                is_sink,
                graph,
            ),
        }
    }

    async fn start(&self, slot: usize) -> Result<C::Stage, String> {
        let mut stage = self
            .config
            .build(&self.common.cx(slot))
            .map_err(|e| format!("could not build: {e}"))?;
        match AssertUnwindSafe(stage.on_start()).catch_unwind().await {
            Ok(Ok(())) => Ok(stage),
            Ok(Err(error)) => Err(format!("on_start failed: {error}")),
            Err(payload) => Err(format!(
                "on_start panicked: {}",
                panic_message(payload.as_ref())
            )),
        }
    }

    async fn run_worker(&self, slot: usize) -> WorkerExit {
        let stage = match self.start(slot).await {
            Ok(stage) => stage,
            Err(reason) => {
                self.common.slots[slot].fail(Failure::Fatal(reason.clone()));
                return WorkerExit::Fatal(reason);
            }
        };
        let mut worker = AsyncWorker {
            runner: self,
            slot,
            stage,
            tx: self.common.sender(),
            batch: Vec::with_capacity(self.common.node.max_batch),
            outputs: Vec::new(),
            tally: WorkerTally::new(),
        };
        let result = worker.run().await;
        worker.tally.flush(&self.common.metrics);
        match result {
            Ok(()) => WorkerExit::Drained,
            Err(WorkerExit::Fatal(reason)) => {
                self.common.slots[slot].fail(Failure::Fatal(reason.clone()));
                WorkerExit::Fatal(reason)
            }
            Err(exit) => exit,
        }
    }
}

impl<C: AsyncStageConfig> StageRunner for AsyncRunner<C> {
    fn name(&self) -> &str {
        &self.common.name
    }
    fn kind(&self) -> StageKind {
        StageKind::Async
    }
    fn workers(&self) -> usize {
        self.common.workers
    }
    fn metrics(&self) -> &StageMetrics {
        &self.common.metrics
    }
    fn problems(&self) -> Vec<String> {
        self.common.problems()
    }

    fn start_worker(self: Arc<Self>, slot: usize, done: Box<dyn FnOnce(WorkerExit) + Send>) {
        tokio::spawn(async move {
            let exit = self.run_worker(slot).await;
            done(exit);
        });
    }

    fn recover(&self, slot: usize) -> Recovery {
        self.common.recover(slot)
    }
    fn sample(&self) {
        self.common.sample();
    }
    fn finish(&self) {
        self.common.finish();
    }
}

/// Feeds a graph from an iterator on one thread, until it ends or a drain is requested.
pub(crate) struct SourceRunner<I: Iterator> {
    name: Arc<str>,
    items: Mutex<Option<I>>,
    output: Arc<Mutex<Option<EdgeTx<I::Item>>>>,
    metrics: StageMetrics,
    graph: Arc<GraphContext>,
    failure: Mutex<Option<String>>,
}

impl<I> SourceRunner<I>
where
    I: Iterator + Send + 'static,
    I::Item: Send + 'static,
{
    pub(crate) fn new(
        name: &str,
        items: I,
        output: Arc<Mutex<Option<EdgeTx<I::Item>>>>,
        graph: Arc<GraphContext>,
    ) -> Self {
        Self {
            name: Arc::from(name),
            items: Mutex::new(Some(items)),
            output,
            metrics: StageMetrics::new(name),
            graph,
            failure: Mutex::new(None),
        }
    }

    fn run(&self) -> WorkerExit {
        let Some(items) = self.items.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return WorkerExit::Fatal("the source was started twice".to_string());
        };
        let Some(tx) = self
            .output
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        else {
            return WorkerExit::Fatal("the source has no consumer".to_string());
        };
        let shutdown = &self.graph.shutdown;
        let mut tally = WorkerTally::new();
        let sent = catch_unwind(AssertUnwindSafe(|| {
            for item in items {
                tx.send_blocking(item)
                    .map_err(|_| "the downstream stage is gone".to_string())?;
                tally.emitted(1);
                tally.count_batch();
                tally.maybe_flush(&self.metrics, tx.is_empty());
                if shutdown.is_requested() {
                    tracing::info!(stage = %self.name, "Source stopped early: drain requested.");
                    break;
                }
            }
            Ok::<(), String>(())
        }));
        tally.flush(&self.metrics);
        let reason = match sent {
            Ok(Ok(())) => return WorkerExit::Drained,
            Ok(Err(reason)) => reason,
            Err(payload) => format!("source panicked: {}", panic_message(payload.as_ref())),
        };
        *self.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason.clone());
        WorkerExit::Fatal(reason)
    }
}

impl<I> StageRunner for SourceRunner<I>
where
    I: Iterator + Send + 'static,
    I::Item: Send + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }
    fn kind(&self) -> StageKind {
        StageKind::Source
    }
    fn workers(&self) -> usize {
        1
    }
    fn metrics(&self) -> &StageMetrics {
        &self.metrics
    }
    fn problems(&self) -> Vec<String> {
        if self
            .output
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
        {
            vec![format!(
                "the output of source `{}` is not consumed by any stage or sink",
                self.name
            )]
        } else {
            Vec::new()
        }
    }

    fn start_worker(self: Arc<Self>, _slot: usize, done: Box<dyn FnOnce(WorkerExit) + Send>) {
        let name = self.name.to_string();
        let spawned = std::thread::Builder::new().name(name).spawn(move || {
            let exit = self.run();
            done(exit);
        });
        if let Err(error) = spawned {
            tracing::error!(%error, "Could not spawn a source thread.");
        }
    }

    fn recover(&self, _slot: usize) -> Recovery {
        let reason = self
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        Recovery::Fatal(reason.unwrap_or_else(|| "the source failed".to_string()))
    }

    fn sample(&self) {}

    fn finish(&self) {
        self.output.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}
