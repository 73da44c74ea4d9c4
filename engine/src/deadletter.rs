//! Dead letters: items a stage gave up on, with the reason, so nothing leaves a graph unaccounted.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::{EngineError, ErrorDomain};

/// One item a stage gave up on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The stage that gave up.
    pub stage: String,
    /// The item, as the stage describes it (a path, an id).
    pub item: String,
    /// What the item belongs to (a document id), for sinks that file letters by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Why.
    pub error: String,
    /// Who is at fault.
    pub domain: ErrorDomain,
    /// How many times the item was tried.
    pub attempts: u32,
    /// When, in milliseconds since the Unix epoch.
    pub at_unix_ms: u64,
}

impl DeadLetter {
    pub(crate) fn now(
        stage: &str,
        label: ItemLabel,
        error: String,
        domain: ErrorDomain,
        attempts: u32,
    ) -> Self {
        let at_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Self {
            stage: stage.to_string(),
            item: label.text,
            key: label.key,
            error,
            domain,
            attempts,
            at_unix_ms,
        }
    }
}

/// How a stage named an item for the dead letters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ItemLabel {
    pub(crate) text: String,
    pub(crate) key: Option<String>,
    pub(crate) sequence: Option<u64>,
}

/// Where dead letters go. Called from worker threads, so it must be cheap and thread-safe; a
/// failure to record is logged and never crashes a worker.
pub trait DeadLetterSink: Send + Sync + 'static {
    /// Records one dead letter durably.
    fn record(&self, letter: &DeadLetter) -> std::io::Result<()>;
}

/// Dead letters as JSON lines in a file, flushed after every record.
pub struct JsonlDeadLetters {
    path: PathBuf,
    file: Mutex<BufWriter<File>>,
}

impl JsonlDeadLetters {
    /// Opens (or creates) `path` for appending.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, EngineError> {
        let path = path.as_ref().to_path_buf();
        let io = |source| EngineError::Io {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        Ok(Self {
            path,
            file: Mutex::new(BufWriter::new(file)),
        })
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads every dead letter in a JSON-lines file.
    pub fn read_all(path: impl AsRef<Path>) -> Result<Vec<DeadLetter>, EngineError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| EngineError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        text.lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                serde_json::from_str(line).map_err(|e| EngineError::Io {
                    path: path.to_path_buf(),
                    source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                })
            })
            .collect()
    }
}

impl DeadLetterSink for JsonlDeadLetters {
    fn record(&self, letter: &DeadLetter) -> std::io::Result<()> {
        let line = serde_json::to_string(letter).map_err(std::io::Error::other)?;
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        writeln!(file, "{line}")?;
        file.flush()
    }
}

/// Dead letters kept in memory, for embedding the engine where the caller reads them at the end.
#[derive(Default)]
pub struct CollectedDeadLetters {
    letters: Mutex<Vec<DeadLetter>>,
}

impl CollectedDeadLetters {
    /// Everything recorded so far.
    pub fn letters(&self) -> Vec<DeadLetter> {
        self.letters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

impl DeadLetterSink for CollectedDeadLetters {
    fn record(&self, letter: &DeadLetter) -> std::io::Result<()> {
        self.letters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(letter.clone());
        Ok(())
    }
}

/// Logs each dead letter at `warn`; the default when a graph names no sink.
pub struct LoggedDeadLetters;

impl DeadLetterSink for LoggedDeadLetters {
    fn record(&self, letter: &DeadLetter) -> std::io::Result<()> {
        tracing::warn!(stage = %letter.stage, item = %letter.item, error = %letter.error, attempts = letter.attempts, "Item dead-lettered.");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_round_trip() {
        let dir = std::env::temp_dir().join(format!("panelscope-dl-{}", std::process::id()));
        let path = dir.join("dead.jsonl");
        let _ = std::fs::remove_file(&path);
        let sink = JsonlDeadLetters::open(&path).unwrap();
        let letter = DeadLetter::now(
            "render",
            ItemLabel {
                text: "a.pdf".into(),
                key: Some("doc".into()),
                sequence: None,
            },
            "truncated".into(),
            ErrorDomain::Input,
            1,
        );
        sink.record(&letter).unwrap();
        sink.record(&letter).unwrap();
        assert_eq!(
            JsonlDeadLetters::read_all(&path).unwrap(),
            vec![letter.clone(), letter]
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
