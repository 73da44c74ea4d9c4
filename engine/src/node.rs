//! `NodeConfig`: how the engine runs one stage (parallelism, queue size, batching, retries),
//! independent of what the stage does.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Engine-level settings of one stage, read from `[stages.<name>]` in the config file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// Parallel workers (threads, tasks or child processes); 0 = the stage kind's default
    /// (one per core for CPU and process-pool stages, 1 for sources and batched stages).
    pub workers: usize,
    /// Items the stage's input queue holds before upstream senders block. This is the
    /// backpressure bound: memory in flight is at most the sum of these plus the batches held.
    pub capacity: usize,
    /// Largest batch handed to one `process` call.
    pub max_batch: usize,
    /// How long a worker holding a partial batch waits for more items before processing it
    /// ("0s" = take what is already queued and go).
    #[serde(with = "humantime_serde")]
    pub max_wait: Duration,
    /// Idle time after which the stage's `on_tick` hook runs; unset = never.
    #[serde(with = "humantime_serde")]
    pub tick: Option<Duration>,
    /// Retries of an item after a worker panic or a retryable error, before it is dead-lettered.
    pub max_retries: u8,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            workers: 0,
            capacity: 64,
            max_batch: 1,
            max_wait: Duration::ZERO,
            tick: None,
            max_retries: 1,
        }
    }
}

impl NodeConfig {
    /// `workers` parallel workers, everything else default.
    pub fn workers(workers: usize) -> Self {
        Self {
            workers,
            ..Self::default()
        }
    }

    /// Sets the input queue capacity.
    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// Sets dynamic micro-batching: up to `max_batch` items or `max_wait`, whichever first.
    pub fn with_batch(mut self, max_batch: usize, max_wait: Duration) -> Self {
        self.max_batch = max_batch;
        self.max_wait = max_wait;
        self
    }

    /// Sets the idle tick.
    pub fn with_tick(mut self, tick: Duration) -> Self {
        self.tick = Some(tick);
        self
    }

    /// Sets the retry budget per item.
    pub fn with_max_retries(mut self, max_retries: u8) -> Self {
        self.max_retries = max_retries;
        self
    }

    pub(crate) fn problems(&self, stage: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if self.capacity == 0 {
            problems.push(format!("stage `{stage}`: capacity must be at least 1"));
        }
        if self.max_batch == 0 {
            problems.push(format!("stage `{stage}`: max_batch must be at least 1"));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_round_trip_keeps_every_field() {
        let config = NodeConfig {
            workers: 3,
            capacity: 17,
            max_batch: 8,
            max_wait: Duration::from_millis(250),
            tick: Some(Duration::from_secs(2)),
            max_retries: 2,
        };
        let text = toml::to_string(&config).unwrap();
        assert!(text.contains("max_wait = \"250ms\""), "{text}");
        let back: NodeConfig = toml::from_str(&text).unwrap();
        assert_eq!(back, config);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let error = toml::from_str::<NodeConfig>("worker = 2").unwrap_err();
        assert!(
            error.to_string().contains("unknown field `worker`"),
            "{error}"
        );
    }

    #[test]
    fn empty_table_is_the_default() {
        assert_eq!(
            toml::from_str::<NodeConfig>("").unwrap(),
            NodeConfig::default()
        );
    }
}
