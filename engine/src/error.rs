//! The engine's error types: what went wrong with one item, and what stops a whole graph.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Whether an item that failed may succeed if tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryHint {
    /// A transient failure (a crashed child process, a busy resource): retry within the stage's budget.
    Retry,
    /// The item itself is bad (a damaged file, a timeout on a pathological input): dead-letter it now.
    NoRetry,
}

/// Who is at fault, so operators know where to look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorDomain {
    /// The input is malformed or unsupported (a damaged PDF, a zero-byte file).
    Input,
    /// Something outside the process failed (disk, child process, network).
    External,
    /// A bug or broken invariant in panelscope itself, including panics.
    Internal,
}

impl ErrorDomain {
    /// The label used for this domain in metrics and dead-letter records.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorDomain::Input => "input",
            ErrorDomain::External => "external",
            ErrorDomain::Internal => "internal",
        }
    }
}

/// Why one item could not be processed by a stage. The supervisor reads `retry` to choose between a
/// retry and the dead-letter sink.
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct StageError {
    /// Human-readable reason, naming the file or value at fault where there is one.
    pub message: String,
    /// Whether trying again may help.
    pub retry: RetryHint,
    /// Who is at fault.
    pub domain: ErrorDomain,
}

impl StageError {
    /// A bad input: dead-lettered without a retry.
    pub fn input(message: impl fmt::Display) -> Self {
        Self {
            message: message.to_string(),
            retry: RetryHint::NoRetry,
            domain: ErrorDomain::Input,
        }
    }

    /// A transient external failure: retried once, then dead-lettered.
    pub fn transient(message: impl fmt::Display) -> Self {
        Self {
            message: message.to_string(),
            retry: RetryHint::Retry,
            domain: ErrorDomain::External,
        }
    }

    /// An external failure that a retry will not fix (a timeout on a pathological input).
    pub fn external(message: impl fmt::Display) -> Self {
        Self {
            message: message.to_string(),
            retry: RetryHint::NoRetry,
            domain: ErrorDomain::External,
        }
    }

    /// A broken invariant inside panelscope.
    pub fn internal(message: impl fmt::Display) -> Self {
        Self {
            message: message.to_string(),
            retry: RetryHint::NoRetry,
            domain: ErrorDomain::Internal,
        }
    }

    /// Whether the supervisor may try the item again.
    pub fn is_retryable(&self) -> bool {
        self.retry == RetryHint::Retry
    }
}

/// What stops a graph from being built or from finishing.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The logical graph is inconsistent; every problem found is listed.
    #[error("invalid graph `{graph}`:\n  - {}", problems.join("\n  - "))]
    InvalidGraph {
        /// The graph's name.
        graph: String,
        /// One line per problem.
        problems: Vec<String>,
    },
    /// A stage could not be built or started (its configuration is wrong, a resource is missing).
    #[error("stage `{stage}` failed to start: {reason}")]
    StageStart {
        /// The stage's name.
        stage: String,
        /// Why.
        reason: String,
    },
    /// A stage failed outside the processing of any one item (a panic in `on_start`, a source that
    /// panicked), so the run cannot account for its items.
    #[error("stage `{stage}` failed: {reason}")]
    StageFailed {
        /// The stage's name.
        stage: String,
        /// Why.
        reason: String,
    },
    /// The actor runtime refused to spawn a supervisor.
    #[error("actor runtime: {0}")]
    Actor(String),
    /// The dead-letter sink or another engine-owned file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The metrics exporter could not be installed.
    #[error("metrics exporter on {addr}: {reason}")]
    Metrics {
        /// The address it tried to bind.
        addr: String,
        /// Why.
        reason: String,
    },
}
