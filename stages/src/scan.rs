//! scan: turns the catalog (files, folders, list files) into documents identified by the blake3
//! of their bytes; a file seen twice is one document, and documents the store already holds are
//! skipped, so a rerun or a resumed run does no repeated work.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use panelscope_engine::{
    BuildContext, ItemResult, Outputs, Sequences, Stage, StageConfig, StageError,
};
use serde::{Deserialize, Serialize};

use crate::store::{DocumentStatus, Store};
use crate::units::{DocumentId, DocumentJob};

/// Settings of the scan stage, read from `[scan]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScanConfig {
    /// Screen again documents that failed in an earlier run (by default they are skipped, like
    /// complete ones).
    pub retry_failed: bool,
    /// File extensions taken from folders (case-insensitive). Files named on the command line or
    /// in a list file are always taken.
    pub extensions: Vec<String>,
    /// Documents that may finish ahead of an earlier one and wait for it, at each point where
    /// documents are put back in catalog order; past it they go ahead, out of order (a hung page).
    pub order_hold: usize,
}

impl Default for ScanConfig {
    fn default() -> Self {
        Self {
            retry_failed: false,
            extensions: vec!["pdf".to_string()],
            order_hold: 32,
        }
    }
}

/// Whether a command-line path names a list of paths rather than a document.
fn is_list_file(path: &Path) -> bool {
    let listed = matches!(
        path.extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .as_deref(),
        Some("txt" | "lst" | "list")
    );
    let mut magic = [0u8; 5];
    let is_pdf = std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && &magic == b"%PDF-";
    listed && !is_pdf
}

/// One path of the catalog and its place in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogEntry {
    /// 0-based, in the order [`catalog`] yields paths.
    pub position: u64,
    /// The file.
    pub path: PathBuf,
}

/// Every document path under `inputs`, lazily: folders are walked recursively in name order,
/// list files are read line by line (relative paths are relative to the list), other files are
/// taken as they are. Unreadable entries are yielded too, so the scan reports them.
pub fn catalog(
    inputs: Vec<PathBuf>,
    extensions: Vec<String>,
) -> impl Iterator<Item = CatalogEntry> + Send + 'static {
    catalog_paths(inputs, extensions)
        .zip(0..)
        .map(|(path, position)| CatalogEntry { position, path })
}

fn catalog_paths(
    inputs: Vec<PathBuf>,
    extensions: Vec<String>,
) -> impl Iterator<Item = PathBuf> + Send + 'static {
    let extensions: Vec<String> = extensions.iter().map(|e| e.to_ascii_lowercase()).collect();
    inputs.into_iter().flat_map(move |input| -> Box<dyn Iterator<Item = PathBuf> + Send> {
        if input.is_dir() {
            let extensions = extensions.clone();
            Box::new(
                walkdir::WalkDir::new(&input)
                    .follow_links(true)
                    .sort_by_file_name()
                    .into_iter()
                    .filter_map(move |entry| match entry {
                        Ok(entry) if entry.file_type().is_file() => {
                            let ext = entry.path().extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase());
                            ext.filter(|e| extensions.contains(e)).map(|_| entry.into_path())
                        }
                        Ok(_) => None,
                        Err(error) => {
                            tracing::warn!(%error, "Cannot walk part of the catalog.");
                            error.path().map(Path::to_path_buf)
                        }
                    }),
            )
        } else if is_list_file(&input) {
            let base = input.parent().map(Path::to_path_buf).unwrap_or_default();
            match std::fs::read_to_string(&input) {
                Ok(text) => Box::new(
                    text.lines()
                        .map(str::trim)
                        .filter(|line| !line.is_empty() && !line.starts_with('#'))
                        .map(|line| base.join(line))
                        .collect::<Vec<_>>()
                        .into_iter(),
                ),
                Err(error) => {
                    tracing::error!(list = %input.display(), %error, "Cannot read the list file.");
                    Box::new(std::iter::empty())
                }
            }
        } else {
            Box::new(std::iter::once(input))
        }
    })
}

/// Builds [`Scan`] stages sharing one store and one set of documents seen in this run.
pub struct ScanStageConfig {
    config: ScanConfig,
    store: Arc<Store>,
    seen: Arc<Mutex<HashSet<DocumentId>>>,
    sequences: Arc<Sequences>,
}

impl ScanStageConfig {
    /// A scan against `store`; the catalog positions of skipped documents are settled in
    /// `sequences`, so that reorder buffers downstream do not wait for them.
    pub fn new(config: ScanConfig, store: Arc<Store>, sequences: Arc<Sequences>) -> Self {
        Self {
            config,
            store,
            seen: Arc::new(Mutex::new(HashSet::new())),
            sequences,
        }
    }
}

impl StageConfig for ScanStageConfig {
    type Stage = Scan;

    fn build(&self, _cx: &BuildContext) -> Result<Scan, StageError> {
        Ok(Scan {
            retry_failed: self.config.retry_failed,
            store: Arc::clone(&self.store),
            seen: Arc::clone(&self.seen),
            sequences: Arc::clone(&self.sequences),
        })
    }
}

/// The scan stage: hashes each file and decides whether it needs screening.
pub struct Scan {
    retry_failed: bool,
    store: Arc<Store>,
    seen: Arc<Mutex<HashSet<DocumentId>>>,
    sequences: Arc<Sequences>,
}

fn skipped(reason: &'static str) {
    metrics::counter!("panelscope_scan_skipped_total", "reason" => reason).increment(1);
}

impl Scan {
    fn scan(&self, entry: &CatalogEntry) -> ItemResult<DocumentJob> {
        let scanned = self.scan_path(&entry.path, entry.position);
        if matches!(scanned, Ok(Outputs::None)) {
            self.sequences.settle(entry.position);
        }
        scanned
    }

    fn scan_path(&self, path: &Path, position: u64) -> ItemResult<DocumentJob> {
        let file = std::fs::File::open(path)
            .map_err(|e| StageError::input(format!("{}: cannot open: {e}", path.display())))?;
        let mut hasher = blake3::Hasher::new();
        let size = hasher
            .update_reader(std::io::BufReader::with_capacity(1 << 20, file))
            .map_err(|e| StageError::input(format!("{}: cannot read: {e}", path.display())))?
            .count();
        let id = DocumentId(*hasher.finalize().as_bytes());
        let first_sighting = self
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id);
        let record_path = || {
            self.store
                .record_path(&id, path)
                .map_err(|e| StageError::transient(format!("{}: {e}", path.display())))
        };
        if !first_sighting {
            record_path()?;
            skipped("duplicate");
            return Ok(Outputs::None);
        }
        match self
            .store
            .status(&id)
            .map_err(|e| StageError::transient(e.to_string()))?
        {
            Some(DocumentStatus::Complete) => {
                record_path()?;
                skipped("complete");
                Ok(Outputs::None)
            }
            Some(DocumentStatus::Failed(_)) if !self.retry_failed => {
                skipped("failed");
                Ok(Outputs::None)
            }
            _ => {
                record_path()?;
                Ok(Outputs::One(DocumentJob {
                    id,
                    path: path.to_path_buf(),
                    size,
                    position,
                }))
            }
        }
    }
}

impl Stage for Scan {
    type In = CatalogEntry;
    type Out = DocumentJob;

    fn process(&mut self, batch: &[CatalogEntry]) -> Vec<ItemResult<DocumentJob>> {
        batch.iter().map(|entry| self.scan(entry)).collect()
    }

    fn describe(&self, entry: &CatalogEntry) -> String {
        entry.path.display().to_string()
    }

    fn sequence(&self, entry: &CatalogEntry) -> Option<u64> {
        Some(entry.position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_walks_folders_lists_and_files() {
        let dir = std::env::temp_dir().join(format!("panelscope-catalog-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        for name in ["a/2.pdf", "a/b/1.PDF", "a/notes.txt", "a/x.png", "solo.bin"] {
            std::fs::write(dir.join(name), b"%PDF-1.4").unwrap();
        }
        std::fs::write(dir.join("list.txt"), "# catalog\na/x.png\n\nsolo.bin\n").unwrap();
        let found: Vec<CatalogEntry> = catalog(
            vec![dir.join("a"), dir.join("list.txt"), dir.join("solo.bin")],
            ScanConfig::default().extensions,
        )
        .collect();
        assert!(found.iter().zip(0..).all(|(e, k)| e.position == k));
        let names: Vec<String> = found
            .iter()
            .map(|e| e.path.strip_prefix(&dir).unwrap().display().to_string())
            .collect();
        assert_eq!(
            names,
            ["a/2.pdf", "a/b/1.PDF", "a/x.png", "solo.bin", "solo.bin"]
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_second_copy_of_a_file_is_skipped_and_nothing_downstream_waits_for_it() {
        let dir = std::env::temp_dir().join(format!("panelscope-scan-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("a.pdf");
        std::fs::write(&file, b"%PDF-1.4 one document").unwrap();
        let store = Arc::new(Store::open(&dir.join("data")).unwrap());
        let sequences = Arc::new(Sequences::default());
        let config = ScanStageConfig::new(ScanConfig::default(), store, Arc::clone(&sequences));
        let mut scan = config.build(&BuildContext::detached("scan")).unwrap();
        let entry = |position| CatalogEntry {
            position,
            path: file.clone(),
        };
        let results = scan.process(&[entry(0), entry(1)]);
        assert!(matches!(&results[0], Ok(Outputs::One(job)) if job.position == 0));
        assert!(matches!(results[1], Ok(Outputs::None)));
        let mut order = panelscope_engine::ReorderBuffer::new(sequences, "order", 4);
        assert_eq!(order.push(0, 0), vec![0]);
        assert_eq!(order.push(2, 2), vec![2], "position 1 is settled");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
