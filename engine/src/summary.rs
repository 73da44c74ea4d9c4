//! The end-of-run summary: items in, out and dead per stage.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::stage::StageKind;
use crate::worker::StageRunner;

/// What one stage did over a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageSummary {
    /// The stage's name.
    pub stage: String,
    /// How it ran (`cpu`, `async`, `process_pool`, …).
    pub kind: String,
    /// Workers it ran.
    pub workers: usize,
    /// Items taken from its input queue.
    pub received: u64,
    /// Items it sent downstream.
    pub emitted: u64,
    /// Items it dead-lettered.
    pub dead: u64,
    /// Retries it scheduled.
    pub retried: u64,
    /// Worker or child-process restarts.
    pub restarts: u64,
    /// Time spent inside `process`, summed over workers.
    #[serde(with = "duration_secs")]
    pub busy: Duration,
}

impl StageSummary {
    pub(crate) fn of(runner: &dyn StageRunner) -> Self {
        let stats = runner.metrics().stats();
        Self {
            stage: runner.name().to_string(),
            kind: runner.kind().as_str().to_string(),
            workers: runner.workers(),
            received: stats.received(),
            emitted: stats.emitted(),
            dead: stats.dead(),
            retried: stats.retried(),
            restarts: stats.restarts(),
            busy: Duration::from_nanos(stats.busy_nanos()),
        }
    }

    fn is_source(&self) -> bool {
        self.kind == StageKind::Source.as_str()
    }
}

/// What a whole run did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    /// The graph's name.
    pub graph: String,
    /// Wall time from start to the last stage's end.
    #[serde(with = "duration_secs")]
    pub elapsed: Duration,
    /// Whether a drain was requested (SIGINT/SIGTERM) before the input ended.
    pub drained_early: bool,
    /// One entry per stage, in the order they were added.
    pub stages: Vec<StageSummary>,
}

impl RunSummary {
    /// The summary of the stage named `stage`.
    pub fn stage(&self, stage: &str) -> Option<&StageSummary> {
        self.stages.iter().find(|s| s.stage == stage)
    }

    /// Items dead-lettered across all stages.
    pub fn dead(&self) -> u64 {
        self.stages.iter().map(|s| s.dead).sum()
    }
}

impl fmt::Display for RunSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "graph `{}` finished in {:.2}s{}",
            self.graph,
            self.elapsed.as_secs_f64(),
            if self.drained_early {
                " (drained early on a signal)"
            } else {
                ""
            }
        )?;
        writeln!(
            f,
            "{:<16} {:<13} {:>7} {:>10} {:>10} {:>8} {:>8} {:>8} {:>9}",
            "stage", "kind", "workers", "in", "out", "dead", "retried", "restarts", "busy_s"
        )?;
        for s in &self.stages {
            let received = if s.is_source() {
                "-".to_string()
            } else {
                s.received.to_string()
            };
            writeln!(
                f,
                "{:<16} {:<13} {:>7} {:>10} {:>10} {:>8} {:>8} {:>8} {:>9.2}",
                s.stage,
                s.kind,
                s.workers,
                received,
                s.emitted,
                s.dead,
                s.retried,
                s.restarts,
                s.busy.as_secs_f64()
            )?;
        }
        Ok(())
    }
}

mod duration_secs {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}
