//! record: the sink of an ingest. Each document arrives with its pages, figures, panels,
//! thumbnails, vectors and matches, and is written to the provenance store in one transaction; its
//! verified matches then go out on the match stream.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use panelscope_engine::{BuildContext, ItemResult, Outputs, Stage, StageConfig, StageError};

use crate::index::PanelCache;
use crate::store::Store;
use crate::units::{DocumentMatched, MatchRecord};

/// Live totals of an ingest, for progress displays.
#[derive(Debug, Default)]
pub struct IngestProgress {
    /// Documents recorded complete.
    pub documents: AtomicU64,
    /// Pages recorded.
    pub pages: AtomicU64,
    /// Panels recorded.
    pub panels: AtomicU64,
    /// Verified matches recorded (outside boilerplate).
    pub matches: AtomicU64,
}

/// Builds the [`Record`] stage.
pub struct RecordConfig {
    store: Arc<Store>,
    progress: Arc<IngestProgress>,
    model: String,
    cache: Option<Arc<PanelCache>>,
}

impl RecordConfig {
    /// A sink writing to `store` vectors of `model`, counting into `progress`.
    pub fn new(store: Arc<Store>, progress: Arc<IngestProgress>, model: &str) -> Self {
        Self {
            store,
            progress,
            model: model.to_string(),
            cache: None,
        }
    }

    /// Forgets each recorded document's panels from `cache`: the store has them now.
    pub fn forgetting(mut self, cache: Arc<PanelCache>) -> Self {
        self.cache = Some(cache);
        self
    }
}

impl StageConfig for RecordConfig {
    type Stage = Record;

    fn build(&self, _cx: &BuildContext) -> Result<Record, StageError> {
        Ok(Record {
            store: Arc::clone(&self.store),
            progress: Arc::clone(&self.progress),
            model: self.model.clone(),
            cache: self.cache.clone(),
        })
    }
}

/// The record stage; emits each recorded document's verified, unsuppressed matches.
pub struct Record {
    store: Arc<Store>,
    progress: Arc<IngestProgress>,
    model: String,
    cache: Option<Arc<PanelCache>>,
}

impl Record {
    fn record(&self, document: &DocumentMatched) -> ItemResult<MatchRecord> {
        let info = &document.embedded.document.info;
        self.store
            .record_document(document, &self.model)
            .map_err(|e| StageError::transient(format!("{}: {e}", info.job.path.display())))?;
        if let Some(cache) = &self.cache {
            cache.forget(document.embedded.document.panels.iter().map(|p| p.id));
        }
        let stream = document.streamed_matches();
        self.progress.documents.fetch_add(1, Ordering::Relaxed);
        self.progress.pages.fetch_add(
            document.embedded.document.pages.len() as u64,
            Ordering::Relaxed,
        );
        self.progress.panels.fetch_add(
            document.embedded.document.panels.len() as u64,
            Ordering::Relaxed,
        );
        self.progress
            .matches
            .fetch_add(stream.len() as u64, Ordering::Relaxed);
        Ok(Outputs::Many(stream))
    }
}

impl Stage for Record {
    type In = DocumentMatched;
    type Out = MatchRecord;

    fn process(&mut self, batch: &[DocumentMatched]) -> Vec<ItemResult<MatchRecord>> {
        batch.iter().map(|document| self.record(document)).collect()
    }

    fn describe(&self, document: &DocumentMatched) -> String {
        document.path().display().to_string()
    }

    fn key(&self, document: &DocumentMatched) -> Option<String> {
        Some(document.embedded.document.info.job.id.to_hex())
    }

    fn sequence(&self, document: &DocumentMatched) -> Option<u64> {
        Some(document.embedded.position())
    }
}
