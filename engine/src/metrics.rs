//! Every metric the engine emits: names, labels, the per-stage handles, and the Prometheus
//! exporter. Stages never count themselves; the engine wraps them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use metrics::{Counter, Gauge, Histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

use crate::error::{EngineError, ErrorDomain};

/// Items seen by a stage, by `outcome` (see the `OUTCOME_*` constants).
pub const STAGE_ITEMS_TOTAL: &str = "panelscope_stage_items_total";
/// Items waiting in a stage's input queue.
pub const STAGE_QUEUE_DEPTH: &str = "panelscope_stage_queue_depth";
/// The bound of a stage's input queue; depth / capacity is the backpressure a dashboard plots.
pub const STAGE_QUEUE_CAPACITY: &str = "panelscope_stage_queue_capacity";
/// Share of the stage's worker time spent inside `process` over the last sampling interval.
pub const STAGE_BUSY_RATIO: &str = "panelscope_stage_busy_ratio";
/// Time one `process` call took (one observation per batch).
pub const STAGE_LATENCY_SECONDS: &str = "panelscope_stage_latency_seconds";
/// Items per `process` call.
pub const STAGE_BATCH_SIZE: &str = "panelscope_stage_batch_size";
/// Worker (or child process) restarts after a crash.
pub const STAGE_RESTARTS_TOTAL: &str = "panelscope_stage_restarts_total";
/// Items written to the dead-letter sink, by stage and `error_type`.
pub const DEAD_LETTERS_TOTAL: &str = "panelscope_dead_letters_total";
/// Workers currently alive in a stage.
pub const STAGE_WORKERS: &str = "panelscope_stage_workers";
/// Sequence numbers a reorder buffer stopped waiting for because it held too many items behind
/// them (their items, if they come, pass out of order).
pub const REORDER_SKIPPED_TOTAL: &str = "panelscope_reorder_skipped_total";

/// `outcome` of an item received from the stage's input queue.
pub const OUTCOME_RECEIVED: &str = "received";
/// `outcome` of an output item sent downstream.
pub const OUTCOME_EMITTED: &str = "emitted";
/// `outcome` of an item given up on and written to the dead-letter sink.
pub const OUTCOME_DEAD: &str = "dead";
/// `outcome` of an item queued for another attempt.
pub const OUTCOME_RETRIED: &str = "retried";

/// Upper bounds of the latency histogram, in seconds (100 µs to 5 min).
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    300.0,
];
/// Upper bounds of the batch-size histogram.
pub const BATCH_SIZE_BUCKETS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

/// Registers help texts and units for every engine metric with the installed recorder.
pub fn describe() {
    metrics::describe_counter!(
        STAGE_ITEMS_TOTAL,
        Unit::Count,
        "Items seen by a stage, by outcome."
    );
    metrics::describe_gauge!(
        STAGE_QUEUE_DEPTH,
        Unit::Count,
        "Items waiting in a stage's input queue."
    );
    metrics::describe_gauge!(
        STAGE_QUEUE_CAPACITY,
        Unit::Count,
        "Bound of a stage's input queue."
    );
    metrics::describe_gauge!(
        STAGE_BUSY_RATIO,
        "Share of worker time spent processing items."
    );
    metrics::describe_histogram!(
        STAGE_LATENCY_SECONDS,
        Unit::Seconds,
        "Duration of one process call."
    );
    metrics::describe_histogram!(STAGE_BATCH_SIZE, Unit::Count, "Items per process call.");
    metrics::describe_counter!(
        STAGE_RESTARTS_TOTAL,
        Unit::Count,
        "Worker restarts after a crash."
    );
    metrics::describe_counter!(
        DEAD_LETTERS_TOTAL,
        Unit::Count,
        "Items written to the dead-letter sink."
    );
    metrics::describe_gauge!(STAGE_WORKERS, Unit::Count, "Workers alive in a stage.");
    metrics::describe_counter!(
        REORDER_SKIPPED_TOTAL,
        Unit::Count,
        "Items a reorder buffer stopped waiting for, letting later ones go ahead."
    );
}

/// Installs the Prometheus recorder as the global `metrics` recorder and serves it over HTTP on
/// `addr` (every path answers with the text exposition; scrape `/metrics`). Call it once, from
/// inside a tokio runtime, before building graphs.
pub fn serve_prometheus(addr: SocketAddr) -> Result<(), EngineError> {
    let fail = |reason: String| EngineError::Metrics {
        addr: addr.to_string(),
        reason,
    };
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(STAGE_LATENCY_SECONDS.into()), LATENCY_BUCKETS)
        .and_then(|b| {
            b.set_buckets_for_metric(Matcher::Full(STAGE_BATCH_SIZE.into()), BATCH_SIZE_BUCKETS)
        })
        .map_err(|e| fail(e.to_string()))?
        .with_http_listener(addr)
        .install()
        .map_err(|e| fail(e.to_string()))?;
    describe();
    Ok(())
}

/// Running totals of one stage, kept by the engine whether or not a recorder is installed; they
/// make the run summary.
#[derive(Debug, Default)]
pub struct StageStats {
    received: AtomicU64,
    emitted: AtomicU64,
    dead: AtomicU64,
    retried: AtomicU64,
    restarts: AtomicU64,
    busy_nanos: AtomicU64,
}

impl StageStats {
    /// Items taken from the input queue.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Acquire)
    }
    /// Items sent downstream.
    pub fn emitted(&self) -> u64 {
        self.emitted.load(Ordering::Acquire)
    }
    /// Items dead-lettered.
    pub fn dead(&self) -> u64 {
        self.dead.load(Ordering::Acquire)
    }
    /// Retries scheduled.
    pub fn retried(&self) -> u64 {
        self.retried.load(Ordering::Acquire)
    }
    /// Worker or child-process restarts.
    pub fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Acquire)
    }
    /// Total time spent inside `process`, in nanoseconds.
    pub fn busy_nanos(&self) -> u64 {
        self.busy_nanos.load(Ordering::Acquire)
    }
}

/// Handles of one stage's series, resolved once and updated once per batch.
#[derive(Clone)]
pub struct StageMetrics {
    stage: Arc<str>,
    stats: Arc<StageStats>,
    received: Counter,
    emitted: Counter,
    dead: Counter,
    retried: Counter,
    restarts: Counter,
    latency: Histogram,
    batch_size: Histogram,
    queue_depth: Gauge,
    queue_capacity: Gauge,
    busy_ratio: Gauge,
    workers: Gauge,
}

impl StageMetrics {
    /// Resolves the handles for `stage` with the current global recorder.
    pub fn new(stage: &str) -> Self {
        let label = stage.to_string();
        let items = |outcome: &'static str| metrics::counter!(STAGE_ITEMS_TOTAL, "stage" => label.clone(), "outcome" => outcome);
        Self {
            stage: Arc::from(stage),
            stats: Arc::new(StageStats::default()),
            received: items(OUTCOME_RECEIVED),
            emitted: items(OUTCOME_EMITTED),
            dead: items(OUTCOME_DEAD),
            retried: items(OUTCOME_RETRIED),
            restarts: metrics::counter!(STAGE_RESTARTS_TOTAL, "stage" => label.clone()),
            latency: metrics::histogram!(STAGE_LATENCY_SECONDS, "stage" => label.clone()),
            batch_size: metrics::histogram!(STAGE_BATCH_SIZE, "stage" => label.clone()),
            queue_depth: metrics::gauge!(STAGE_QUEUE_DEPTH, "stage" => label.clone()),
            queue_capacity: metrics::gauge!(STAGE_QUEUE_CAPACITY, "stage" => label.clone()),
            busy_ratio: metrics::gauge!(STAGE_BUSY_RATIO, "stage" => label.clone()),
            workers: metrics::gauge!(STAGE_WORKERS, "stage" => label),
        }
    }

    /// The stage's name.
    pub fn stage(&self) -> &str {
        &self.stage
    }

    /// The running totals.
    pub fn stats(&self) -> &Arc<StageStats> {
        &self.stats
    }

    pub(crate) fn record_received(&self, count: u64) {
        if count > 0 {
            self.stats.received.fetch_add(count, Ordering::AcqRel);
            self.received.increment(count);
        }
    }

    pub(crate) fn record_emitted(&self, count: u64) {
        if count > 0 {
            self.stats.emitted.fetch_add(count, Ordering::AcqRel);
            self.emitted.increment(count);
        }
    }

    pub(crate) fn record_retried(&self, count: usize) {
        if count > 0 {
            self.stats.retried.fetch_add(count as u64, Ordering::AcqRel);
            self.retried.increment(count as u64);
        }
    }

    pub(crate) fn record_dead(&self, domain: ErrorDomain) {
        self.stats.dead.fetch_add(1, Ordering::AcqRel);
        self.dead.increment(1);
        metrics::counter!(DEAD_LETTERS_TOTAL, "stage" => self.stage.to_string(), "error_type" => domain.as_str())
            .increment(1);
    }

    /// Counts one restart of a worker or of a child process it drives.
    pub fn record_restart(&self) {
        self.stats.restarts.fetch_add(1, Ordering::AcqRel);
        self.restarts.increment(1);
    }

    fn record_busy(&self, nanos: u64) {
        if nanos > 0 {
            self.stats.busy_nanos.fetch_add(nanos, Ordering::AcqRel);
        }
    }

    fn observe_batch(&self, size: usize, took: Duration) {
        self.latency.record(took.as_secs_f64());
        self.batch_size.record(size as f64);
    }

    pub(crate) fn set_queue(&self, depth: usize, capacity: usize) {
        self.queue_depth.set(depth as f64);
        self.queue_capacity.set(capacity as f64);
    }

    pub(crate) fn set_busy_ratio(&self, ratio: f64) {
        self.busy_ratio.set(ratio);
    }

    pub(crate) fn set_workers(&self, workers: usize) {
        self.workers.set(workers as f64);
    }
}

/// Batches faster than this are timed one in [`SAMPLE_STRIDE`]: on a pass-through stage two clock
/// reads per item would cost more than the work itself.
const TIME_EVERY_BATCH_ABOVE: Duration = Duration::from_micros(20);
/// One in this many fast batches is timed (and observed by the histograms).
const SAMPLE_STRIDE: u32 = 16;
/// Counts are published at least every this many batches, and whenever the worker goes idle.
const FLUSH_EVERY_BATCHES: u32 = 64;

/// One worker's counts, kept locally and published to the shared counters in bulk, so the hot
/// path costs no atomic operation per item. Also decides which batches are timed: every batch of
/// a stage whose batches take 20 µs or more, one in 16 otherwise, with the untimed ones' busy time
/// extrapolated from the last timed one.
#[derive(Debug)]
pub(crate) struct WorkerTally {
    received: u64,
    emitted: u64,
    busy_nanos: u64,
    batches_since_flush: u32,
    batches_since_timed: u32,
    nanos_per_item: u64,
    every_batch: bool,
}

impl WorkerTally {
    pub(crate) fn new() -> Self {
        Self {
            received: 0,
            emitted: 0,
            busy_nanos: 0,
            batches_since_flush: 0,
            batches_since_timed: SAMPLE_STRIDE,
            nanos_per_item: 0,
            every_batch: true,
        }
    }

    pub(crate) fn received(&mut self, count: usize) {
        self.received += count as u64;
    }

    pub(crate) fn emitted(&mut self, count: usize) {
        self.emitted += count as u64;
    }

    /// Starts a batch; `Some` when this batch is to be timed.
    pub(crate) fn start_batch(&mut self) -> Option<Instant> {
        self.batches_since_timed += 1;
        (self.every_batch || self.batches_since_timed >= SAMPLE_STRIDE).then(Instant::now)
    }

    /// Counts a unit of work that is not timed (a source's item).
    pub(crate) fn count_batch(&mut self) {
        self.batches_since_flush += 1;
    }

    /// Ends a batch of `size` items started by [`WorkerTally::start_batch`].
    pub(crate) fn end_batch(
        &mut self,
        metrics: &StageMetrics,
        started: Option<Instant>,
        size: usize,
    ) {
        self.count_batch();
        match started {
            Some(started) => {
                let took = started.elapsed();
                self.batches_since_timed = 0;
                self.every_batch = took >= TIME_EVERY_BATCH_ABOVE;
                self.nanos_per_item = took.as_nanos() as u64 / size.max(1) as u64;
                self.busy_nanos += took.as_nanos() as u64;
                metrics.observe_batch(size, took);
            }
            None => self.busy_nanos += self.nanos_per_item * size as u64,
        }
    }

    /// Publishes when enough batches went by, or when `idle` (the worker is about to wait).
    pub(crate) fn maybe_flush(&mut self, metrics: &StageMetrics, idle: bool) {
        if idle || self.batches_since_flush >= FLUSH_EVERY_BATCHES {
            self.flush(metrics);
        }
    }

    /// Publishes everything counted so far.
    pub(crate) fn flush(&mut self, metrics: &StageMetrics) {
        metrics.record_received(std::mem::take(&mut self.received));
        metrics.record_emitted(std::mem::take(&mut self.emitted));
        metrics.record_busy(std::mem::take(&mut self.busy_nanos));
        self.batches_since_flush = 0;
    }
}
