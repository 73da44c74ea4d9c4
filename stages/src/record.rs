//! record: the sink that writes each document to the provenance store once all of its pages
//! have arrived, in one transaction; documents some of whose pages were dead-lettered are recorded
//! as failed instead.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use panelscope_engine::{BuildContext, ItemResult, Outputs, Stage, StageConfig, StageError};

use crate::store::Store;
use crate::units::{DocumentId, DocumentInfo, Figure, FigurePanels, PagePanels, Raster};

/// Live totals of an ingest, for progress displays.
#[derive(Debug, Default)]
pub struct IngestProgress {
    /// Documents recorded complete.
    pub documents: AtomicU64,
    /// Documents recorded failed.
    pub failed: AtomicU64,
    /// Pages recorded.
    pub pages: AtomicU64,
    /// Panels recorded.
    pub panels: AtomicU64,
}

/// Builds the [`Record`] sink (run it with one worker: it keeps the pages of unfinished documents).
pub struct RecordConfig {
    store: Arc<Store>,
    progress: Arc<IngestProgress>,
}

impl RecordConfig {
    /// A sink writing to `store` and counting into `progress`.
    pub fn new(store: Arc<Store>, progress: Arc<IngestProgress>) -> Self {
        Self { store, progress }
    }
}

impl StageConfig for RecordConfig {
    type Stage = Record;

    fn build(&self, cx: &BuildContext) -> Result<Record, StageError> {
        if cx.workers != 1 {
            return Err(StageError::input(format!(
                "stage `{}` must run with exactly one worker (it has {})",
                cx.stage, cx.workers
            )));
        }
        Ok(Record {
            store: Arc::clone(&self.store),
            progress: Arc::clone(&self.progress),
            pending: HashMap::new(),
        })
    }
}

/// Pages of a document seen so far, without their pixels.
struct Pending {
    info: Arc<DocumentInfo>,
    pages: BTreeMap<u32, PagePanels>,
}

/// The record sink.
pub struct Record {
    store: Arc<Store>,
    progress: Arc<IngestProgress>,
    pending: HashMap<DocumentId, Pending>,
}

/// A copy of the raster without its pixels: the store keeps sizes and hashes, not pixels.
fn shape_only(raster: &Raster) -> Raster {
    Raster {
        width: raster.width,
        height: raster.height,
        channels: raster.channels,
        data: Vec::new(),
    }
}

/// The page as the store needs it: boxes, captions, sizes and panel pixel hashes.
fn without_pixels(page: &PagePanels) -> PagePanels {
    PagePanels {
        meta: page.meta.clone(),
        figures: page
            .figures
            .iter()
            .map(|entry| FigurePanels {
                figure: Figure {
                    raster: shape_only(&entry.figure.raster),
                    ..entry.figure.clone()
                },
                panels: entry
                    .panels
                    .iter()
                    .map(|panel| {
                        let mut light = panel.clone();
                        // Keep the hash where the pixels were, so the store can record it.
                        light.raster = Raster {
                            data: blake3::hash(&panel.raster.data).as_bytes().to_vec(),
                            ..shape_only(&panel.raster)
                        };
                        light
                    })
                    .collect(),
            })
            .collect(),
    }
}

impl Record {
    fn record(&mut self, page: &PagePanels) -> Result<(), StageError> {
        let doc = page.meta.doc;
        if self.store.failed_this_run(&doc) {
            self.pending.remove(&doc);
            return Ok(());
        }
        let pending = self.pending.entry(doc).or_insert_with(|| Pending {
            info: Arc::clone(&page.meta.document),
            pages: BTreeMap::new(),
        });
        pending.pages.insert(page.meta.index, without_pixels(page));
        if pending.pages.len() as u32 >= pending.info.pages_screened {
            let pages: Vec<PagePanels> = pending.pages.values().cloned().collect();
            self.store
                .record_document(&pending.info, &pages)
                .map_err(|e| {
                    StageError::transient(format!("{}: {e}", pending.info.job.path.display()))
                })?;
            let panels: usize = pages
                .iter()
                .flat_map(|p| &p.figures)
                .map(|f| f.panels.len())
                .sum();
            self.progress.documents.fetch_add(1, Ordering::Relaxed);
            self.progress
                .pages
                .fetch_add(pages.len() as u64, Ordering::Relaxed);
            self.progress
                .panels
                .fetch_add(panels as u64, Ordering::Relaxed);
            self.pending.remove(&doc);
        }
        Ok(())
    }
}

impl Stage for Record {
    type In = PagePanels;
    type Out = ();

    fn process(&mut self, batch: &[PagePanels]) -> Vec<ItemResult<()>> {
        batch
            .iter()
            .map(|page| self.record(page).map(|()| Outputs::None))
            .collect()
    }

    fn on_close(&mut self) -> Result<Vec<()>, StageError> {
        // Whatever is still pending lost pages to the dead letters (or the run was cut short by a
        // drain request before they were rendered).
        for (doc, pending) in self.pending.drain() {
            let reason = format!(
                "only {} of {} pages were screened; the others are in dead_letters",
                pending.pages.len(),
                pending.info.pages_screened
            );
            self.store
                .record_failure(&doc, &pending.info.job.path, pending.info.job.size, &reason)
                .map_err(|e| StageError::external(e.to_string()))?;
            self.progress.failed.fetch_add(1, Ordering::Relaxed);
        }
        Ok(Vec::new())
    }

    fn describe(&self, page: &PagePanels) -> String {
        format!("{} page {}", page.meta.path.display(), page.meta.index + 1)
    }

    fn key(&self, page: &PagePanels) -> Option<String> {
        Some(page.meta.doc.to_hex())
    }
}
