//! index: the sharded FAISS index of panel vectors and the stage that searches it. Each vector
//! (a panel holds one per orientation its embedder indexes) goes to shard `hash(label) % S`; a
//! query fans out to every shard in parallel and the top-k are merged.
//! The index lives in `DATA_DIR/index/` with the fingerprint of the model whose vectors it holds;
//! the store keeps every vector too, so the index can always be reconciled with (or rebuilt from)
//! the store after a crash.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use faiss::index::IndexImpl;
use faiss::{Idx, Index, MetricType, index_factory, read_index, write_index};
use panelscope_engine::{BuildContext, ItemResult, Outputs, Stage, StageConfig, StageError};
use panelscope_models::Dihedral;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::parts::{PartIndex, PartKeys};
use crate::store::Store;
use crate::units::{
    BBox, Candidate, DocumentCandidates, DocumentEmbedded, PanelPlace, PartCandidate, Raster,
};

/// Settings of the index and its search, read from `[index]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IndexConfig {
    /// Shards (fixed when the index is created).
    pub shards: usize,
    /// FAISS index factory string of each shard; `IDMap,Flat` is exact inner-product search.
    /// Indexes that need training (IVF, PQ) are trained on the first `train_size` vectors.
    pub factory: String,
    /// Vectors buffered to train an index that needs it.
    pub train_size: usize,
    /// Neighbours fetched per query view.
    pub top_k: usize,
    /// Vector similarity from which a neighbour of the whole panel (in any of its eight views or
    /// its tilts) becomes a candidate for verification (cosine).
    pub min_similarity: f32,
    /// The same for neighbours that only a window of the panel reaches (its crops). Windows are
    /// many queries each, so they are held to a higher bar than the whole panel.
    pub min_window_similarity: f32,
    /// The nearest neighbours of the whole panel (this many, in any of its views) are
    /// candidates from `min_nearest_similarity` on, below `min_similarity` too: a crop resembles
    /// the panel it was cut from, indexed before it, less than a copy does, yet more than most
    /// panels do, and no window of the crop reaches that panel. Verification decides; each one
    /// costs a verification per panel. 0 = none.
    pub nearest_candidates: usize,
    /// See `nearest_candidates` (cosine).
    pub min_nearest_similarity: f32,
    /// Similarity at which a neighbour counts as the same image for boilerplate detection.
    pub boilerplate_similarity: f32,
    /// A small or margin image recurring on at least this many other pages (of this or other
    /// documents) is boilerplate (a journal header, a logo, a licence badge) and is kept out of
    /// the match stream.
    pub boilerplate_documents: usize,
    /// How often the index is written to disk during a run.
    #[serde(with = "humantime_serde")]
    pub save_every: Duration,
    /// Whether blots and gels are keyed in the index of parts ([`crate::parts`]) and each new
    /// one is searched there for a part of an earlier paper's (a band spliced from another
    /// paper). The store then also keeps their keys and their pixels in gray, losslessly.
    pub search_parts: bool,
    /// FAISS index factory string of the index of parts once it holds `part_train_size` keys
    /// (it is searched exhaustively before that, and always with `Flat`).
    pub part_factory: String,
    /// Keys the index of parts is trained on.
    pub part_train_size: usize,
    /// Lists of an IVF index of parts visited per key.
    pub part_nprobe: usize,
    /// Nearest part keys fetched per key.
    pub part_top_k: usize,
    /// Cosine from which two part keys may be one corner.
    pub min_part_key_similarity: f32,
    /// Fewest keys of a picture meeting an earlier picture's at one shift for the pair to be
    /// searched for shared parts.
    pub min_part_votes: usize,
    /// Most earlier pictures searched per picture, those most keys meet first.
    pub part_proposals: usize,
}

impl IndexConfig {
    /// How the index of parts proposes pairs.
    pub fn part_search(&self) -> crate::parts::PartSearch {
        crate::parts::PartSearch {
            factory: self.part_factory.clone(),
            train_size: self.part_train_size,
            nprobe: self.part_nprobe,
            top_k: self.part_top_k,
            min_similarity: self.min_part_key_similarity,
            min_votes: self.min_part_votes,
            most_proposals: self.part_proposals,
        }
    }
}

impl Default for IndexConfig {
    fn default() -> Self {
        Self {
            shards: 4,
            factory: "IDMap,Flat".to_string(),
            train_size: 20_000,
            top_k: 8,
            min_similarity: 0.86,
            min_window_similarity: 0.88,
            nearest_candidates: 1,
            min_nearest_similarity: 0.5,
            boilerplate_similarity: 0.97,
            boilerplate_documents: 3,
            save_every: Duration::from_secs(60),
            search_parts: true,
            part_factory: "IVF1024,SQ8".to_string(),
            part_train_size: 40_960,
            part_nprobe: 4,
            part_top_k: 4,
            min_part_key_similarity: 0.95,
            min_part_votes: 3,
            part_proposals: 3,
        }
    }
}

/// Why the index could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// FAISS failed.
    #[error("{path}: {reason}")]
    Faiss {
        /// The file or folder.
        path: PathBuf,
        /// What FAISS said.
        reason: String,
    },
    /// The index holds vectors of another model.
    #[error(
        "{path} holds vectors of model {found} (dimension {found_dimension}, {found_per_panel} a panel) but this run embeds with {wanted} ({wanted_per_panel} a panel); rebuild it with `panelscope reindex` (re-embeds the stored panels) or use another --data-dir"
    )]
    OtherModel {
        /// The index folder.
        path: PathBuf,
        /// The model found.
        found: String,
        /// Its dimension.
        found_dimension: usize,
        /// Its vectors per panel.
        found_per_panel: usize,
        /// The model wanted.
        wanted: String,
        /// The vectors per panel wanted.
        wanted_per_panel: usize,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// A picture's keys in the index of parts are damaged.
    #[error(
        "{path}: the part keys of panel {panel} are unreadable; delete its row from part_keys (the panel then only loses the search for parts spliced from other papers) or ingest into a fresh --data-dir"
    )]
    PartKeys {
        /// The store file.
        path: PathBuf,
        /// The panel.
        panel: i64,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Meta {
    model: String,
    dimension: usize,
    shards: usize,
    factory: String,
    vectors: usize,
    /// Vectors each panel has in the index (its orientations; see `Embedder::indexed_views`).
    #[serde(default = "one_per_panel")]
    per_panel: usize,
}

fn one_per_panel() -> usize {
    1
}

struct Shard {
    index: IndexImpl,
    ids: Vec<i64>,
    pending_training: Vec<(i64, Vec<f32>)>,
}

/// The neighbours of each query: `(id, inner product)`, best first.
pub type Neighbours = Vec<Vec<(i64, f32)>>;

/// A sharded FAISS index of unit vectors, searched by inner product. A panel may have several
/// vectors (`per_panel`, one per orientation the embedder indexes): its `k`-th is labelled
/// `id × per_panel + k` in FAISS, so with one vector per panel labels are panel ids.
pub struct ShardedIndex {
    dir: PathBuf,
    meta: Meta,
    shards: Vec<Shard>,
    train_size: usize,
    dirty: bool,
}

/// FAISS parallelises each search with OpenMP, but the index already searches its shards in
/// parallel, and starting an OpenMP team per small search cost 25x the search itself (index stage
/// 5 s → 0.2 s on the bio papers). OpenMP settings are per thread: each search thread calls this.
pub(crate) fn one_openmp_thread() {
    unsafe extern "C" {
        fn omp_set_num_threads(threads: std::os::raw::c_int);
    }
    // SAFETY: omp_set_num_threads only sets the calling thread's OpenMP thread count; FAISS links
    // the OpenMP runtime that defines it.
    unsafe { omp_set_num_threads(1) };
}

/// FAISS hands batches of 20 or more queries (a panel's windows) to BLAS, and OpenBLAS starts a
/// thread team per call as OpenMP did, spinning on the cores the shards already search on (the
/// index stage was busy 31 s instead of 13 s on a 200-paper catalog). Its setting is
/// process-wide; it is looked up at run time because the system's BLAS may be another.
fn one_blas_thread() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: dlsym with RTLD_DEFAULT only looks a symbol up; found, it is OpenBLAS's
        // `void openblas_set_num_threads(int)`.
        unsafe {
            let symbol = libc::dlsym(libc::RTLD_DEFAULT, c"openblas_set_num_threads".as_ptr());
            if !symbol.is_null() {
                let set: extern "C" fn(libc::c_int) = std::mem::transmute(symbol);
                set(1);
            }
        }
    });
}

/// The file error at `path`, for `map_err`.
pub(crate) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> IndexError {
    let path = path.to_path_buf();
    move |source| IndexError::Io { path, source }
}

pub(crate) fn faiss_error(path: &Path, error: impl std::fmt::Display) -> IndexError {
    IndexError::Faiss {
        path: path.to_path_buf(),
        reason: error.to_string(),
    }
}

/// The panel of a FAISS label in an index of `per_panel` vectors per panel, and which of its
/// vectors the label is.
pub fn panel_of_label(label: i64, per_panel: usize) -> (i64, usize) {
    let n = per_panel.max(1) as i64;
    (label.div_euclid(n), label.rem_euclid(n) as usize)
}

/// The shard of a vector by its label: a multiplicative hash, so consecutive labels spread evenly.
pub fn shard_of(label: i64, shards: usize) -> usize {
    ((label as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize % shards.max(1)
}

impl ShardedIndex {
    /// Opens the index at `dir` for the vectors `embedder` makes (its fingerprint, dimension and
    /// views a panel), as [`ShardedIndex::open`] does.
    pub fn open_for(
        dir: &Path,
        embedder: &dyn panelscope_models::Embedder,
        indexed_windows: usize,
        config: &IndexConfig,
    ) -> Result<Self, IndexError> {
        Self::open(
            dir,
            &embedder.fingerprint().0,
            embedder.dimension(),
            embedder.indexed_views().len() + indexed_windows,
            config,
        )
    }

    /// Opens the index in `dir`, or creates an empty one for `model` vectors of `dimension`,
    /// `per_panel` of them for each panel.
    pub fn open(
        dir: &Path,
        model: &str,
        dimension: usize,
        per_panel: usize,
        config: &IndexConfig,
    ) -> Result<Self, IndexError> {
        one_blas_thread();
        let meta_path = dir.join("meta.json");
        if meta_path.exists() {
            let meta: Meta = serde_json::from_slice(
                &std::fs::read(&meta_path).map_err(io_error(&meta_path))?,
            )
            .map_err(|e| faiss_error(&meta_path, format!("unreadable index metadata: {e}")))?;
            if meta.model != model || meta.dimension != dimension || meta.per_panel != per_panel {
                return Err(IndexError::OtherModel {
                    path: dir.to_path_buf(),
                    found: meta.model,
                    found_dimension: meta.dimension,
                    found_per_panel: meta.per_panel,
                    wanted: model.to_string(),
                    wanted_per_panel: per_panel,
                });
            }
            let mut shards = Vec::with_capacity(meta.shards);
            for s in 0..meta.shards {
                let index_path = dir.join(format!("shard-{s}.faiss"));
                let ids_path = dir.join(format!("shard-{s}.ids"));
                let index = read_index(index_path.to_string_lossy())
                    .map_err(|e| faiss_error(&index_path, e))?;
                let ids = std::fs::read(&ids_path)
                    .map_err(io_error(&ids_path))?
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
                    .collect();
                shards.push(Shard {
                    index,
                    ids,
                    pending_training: Vec::new(),
                });
            }
            return Ok(Self {
                dir: dir.to_path_buf(),
                meta,
                shards,
                train_size: config.train_size,
                dirty: false,
            });
        }
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        let mut shards = Vec::with_capacity(config.shards.max(1));
        for _ in 0..config.shards.max(1) {
            let index = index_factory(dimension as u32, &config.factory, MetricType::InnerProduct)
                .map_err(|e| {
                    faiss_error(dir, format!("index.factory `{}`: {e}", config.factory))
                })?;
            shards.push(Shard {
                index,
                ids: Vec::new(),
                pending_training: Vec::new(),
            });
        }
        let meta = Meta {
            model: model.to_string(),
            dimension,
            shards: shards.len(),
            factory: config.factory.clone(),
            vectors: 0,
            per_panel: per_panel.max(1),
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            meta,
            shards,
            train_size: config.train_size,
            dirty: true,
        })
    }

    /// Vectors held (including those waiting for training).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.ids.len() + s.pending_training.len())
            .sum()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The model whose vectors it holds.
    pub fn model(&self) -> &str {
        &self.meta.model
    }

    /// Vectors each panel has.
    pub fn per_panel(&self) -> usize {
        self.meta.per_panel
    }

    /// The panel a search result's label belongs to, and which of its vectors it is.
    pub fn panel_of(&self, label: i64) -> (i64, usize) {
        panel_of_label(label, self.meta.per_panel)
    }

    /// Every panel id held.
    pub fn ids(&self) -> HashSet<i64> {
        self.shards
            .iter()
            .flat_map(|s| {
                s.ids
                    .iter()
                    .copied()
                    .chain(s.pending_training.iter().map(|(id, _)| *id))
            })
            .map(|label| self.panel_of(label).0)
            .collect()
    }

    /// Adds panels: `ids.len() × per_panel × dimension` values, each panel's vectors in a row.
    pub fn add(&mut self, ids: &[i64], vectors: &[f32]) -> Result<(), IndexError> {
        let d = self.meta.dimension;
        let n = self.meta.per_panel;
        let mut per_shard: Vec<(Vec<i64>, Vec<f32>)> =
            vec![(Vec::new(), Vec::new()); self.shards.len()];
        for (k, &id) in ids.iter().enumerate() {
            for slot in 0..n {
                let label = id * n as i64 + slot as i64;
                let s = shard_of(label, self.shards.len());
                let at = (k * n + slot) * d;
                per_shard[s].0.push(label);
                per_shard[s].1.extend_from_slice(&vectors[at..at + d]);
            }
        }
        for (s, (ids, vectors)) in per_shard.into_iter().enumerate() {
            if ids.is_empty() {
                continue;
            }
            let shard = &mut self.shards[s];
            if !shard.index.is_trained() {
                shard.pending_training.extend(
                    ids.iter()
                        .copied()
                        .zip(vectors.chunks_exact(d).map(<[f32]>::to_vec)),
                );
                if shard.pending_training.len() >= self.train_size {
                    let all: Vec<f32> = shard
                        .pending_training
                        .iter()
                        .flat_map(|(_, v)| v.iter().copied())
                        .collect();
                    shard
                        .index
                        .train(&all)
                        .map_err(|e| faiss_error(&self.dir, e))?;
                    let ids: Vec<i64> = shard.pending_training.iter().map(|(id, _)| *id).collect();
                    let labels: Vec<Idx> = ids.iter().map(|&id| Idx::new(id as u64)).collect();
                    shard
                        .index
                        .add_with_ids(&all, &labels)
                        .map_err(|e| faiss_error(&self.dir, e))?;
                    shard.ids.extend(ids);
                    shard.pending_training.clear();
                }
                continue;
            }
            let labels: Vec<Idx> = ids.iter().map(|&id| Idx::new(id as u64)).collect();
            shard
                .index
                .add_with_ids(&vectors, &labels)
                .map_err(|e| faiss_error(&self.dir, e))?;
            shard.ids.extend(ids);
        }
        self.dirty = true;
        Ok(())
    }

    /// Removes panels (every vector of each) by id.
    pub fn remove(&mut self, ids: &HashSet<i64>) -> Result<(), IndexError> {
        let per_panel = self.meta.per_panel;
        let held = |label: &i64| ids.contains(&panel_of_label(*label, per_panel).0);
        for shard in &mut self.shards {
            let gone: Vec<Idx> = shard
                .ids
                .iter()
                .filter(|label| held(label))
                .map(|&label| Idx::new(label as u64))
                .collect();
            if !gone.is_empty() {
                let selector = faiss::selector::IdSelector::batch(&gone)
                    .map_err(|e| faiss_error(&self.dir, e))?;
                shard
                    .index
                    .remove_ids(&selector)
                    .map_err(|e| faiss_error(&self.dir, e))?;
                shard.ids.retain(|label| !held(label));
            }
            shard.pending_training.retain(|(label, _)| !held(label));
        }
        self.dirty = true;
        Ok(())
    }

    /// The `k` nearest vectors of each query (`n × dimension` values), best first, merged across
    /// shards searched in parallel: `(label, inner product)` (see [`ShardedIndex::panel_of`]).
    pub fn search(&mut self, queries: &[f32], k: usize) -> Result<Neighbours, IndexError> {
        let d = self.meta.dimension;
        let n = queries.len() / d;
        let dir = self.dir.clone();
        let per_shard: Vec<Result<Neighbours, IndexError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = self
                .shards
                .iter_mut()
                .map(|shard| {
                    let dir = &dir;
                    scope.spawn(move || -> Result<Neighbours, IndexError> {
                        one_openmp_thread();
                        let mut results = vec![Vec::new(); n];
                        if shard.index.ntotal() > 0 {
                            let found = shard
                                .index
                                .search(queries, k)
                                .map_err(|e| faiss_error(dir, e))?;
                            for (q, row) in results.iter_mut().enumerate() {
                                for j in 0..k {
                                    let label = found.labels[q * k + j];
                                    if let Some(id) = label.get() {
                                        row.push((id as i64, found.distances[q * k + j]));
                                    }
                                }
                            }
                        }
                        // Vectors still waiting for training are searched exhaustively.
                        for (id, vector) in &shard.pending_training {
                            for q in 0..n {
                                let query = &queries[q * d..(q + 1) * d];
                                results[q].push((
                                    *id,
                                    query.iter().zip(vector).map(|(a, b)| a * b).sum(),
                                ));
                            }
                        }
                        Ok(results)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a shard search panicked"))
                .collect()
        });
        let mut merged = vec![Vec::new(); n];
        for shard in per_shard {
            for (q, hits) in shard?.into_iter().enumerate() {
                merged[q].extend(hits);
            }
        }
        for hits in &mut merged {
            hits.sort_by(|a, b| {
                b.1.partial_cmp(&a.1)
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then(a.0.cmp(&b.0))
            });
            hits.truncate(k);
        }
        Ok(merged)
    }

    /// Writes every shard and the metadata (each file via a temporary and a rename).
    pub fn save(&mut self) -> Result<(), IndexError> {
        if !self.dirty {
            return Ok(());
        }
        for (s, shard) in self.shards.iter().enumerate() {
            let path = self.dir.join(format!("shard-{s}.faiss"));
            let temporary = self.dir.join(format!("shard-{s}.faiss.tmp"));
            write_index(&shard.index, temporary.to_string_lossy())
                .map_err(|e| faiss_error(&temporary, e))?;
            std::fs::rename(&temporary, &path).map_err(io_error(&path))?;
            let ids_path = self.dir.join(format!("shard-{s}.ids"));
            let ids_temporary = self.dir.join(format!("shard-{s}.ids.tmp"));
            let bytes: Vec<u8> = shard.ids.iter().flat_map(|id| id.to_le_bytes()).collect();
            std::fs::write(&ids_temporary, bytes).map_err(io_error(&ids_temporary))?;
            std::fs::rename(&ids_temporary, &ids_path).map_err(io_error(&ids_path))?;
        }
        self.meta.vectors = self.shards.iter().map(|s| s.ids.len()).sum();
        let meta_path = self.dir.join("meta.json");
        let temporary = self.dir.join("meta.json.tmp");
        std::fs::write(
            &temporary,
            serde_json::to_vec_pretty(&self.meta).expect("metadata serialises"),
        )
        .map_err(io_error(&temporary))?;
        std::fs::rename(&temporary, &meta_path).map_err(io_error(&meta_path))?;
        self.dirty = false;
        Ok(())
    }

    /// Makes the index hold exactly the store's vectors of its model: adds what a crash left out,
    /// removes what belongs to documents the store never recorded. Returns (added, removed).
    pub fn reconcile(&mut self, store: &Store) -> Result<(usize, usize), String> {
        let stored = store
            .embeddings(&self.meta.model)
            .map_err(|e| e.to_string())?;
        let width = self.meta.per_panel * self.meta.dimension;
        if let Some((id, vector)) = stored.iter().find(|(_, v)| v.len() != width) {
            return Err(format!(
                "panel {id} has {} stored values of model {}, not {width} ({} vectors of {}): rebuild with `panelscope reindex`",
                vector.len(),
                self.meta.model,
                self.meta.per_panel,
                self.meta.dimension
            ));
        }
        let held = self.ids();
        let stored_ids: HashSet<i64> = stored.iter().map(|(id, _)| *id).collect();
        let extra: HashSet<i64> = held.difference(&stored_ids).copied().collect();
        let missing: Vec<&(i64, Vec<f32>)> =
            stored.iter().filter(|(id, _)| !held.contains(id)).collect();
        if !extra.is_empty() {
            self.remove(&extra).map_err(|e| e.to_string())?;
        }
        if !missing.is_empty() {
            let ids: Vec<i64> = missing.iter().map(|(id, _)| *id).collect();
            let vectors: Vec<f32> = missing
                .iter()
                .flat_map(|(_, v)| v.iter().copied())
                .collect();
            self.add(&ids, &vectors).map_err(|e| e.to_string())?;
        }
        if !extra.is_empty() || !missing.is_empty() {
            self.save().map_err(|e| e.to_string())?;
        }
        Ok((missing.len(), extra.len()))
    }
}

/// A panel's place and thumbnail, as the cache holds them.
type CachedPanel = (PanelPlace, Arc<Raster>);

/// Indexed panels whose documents are not recorded yet, so verification finds their pixels: the
/// record stage forgets each document's panels once they are in the store, so the cache holds what
/// is in flight between the index and the store, never the catalog. A byte budget bounds it
/// anyway (oldest out first) should documents fail after indexing; everything else is read from
/// the store.
pub struct PanelCache {
    max_bytes: usize,
    entries: Mutex<CacheEntries>,
}

#[derive(Default)]
struct CacheEntries {
    panels: HashMap<i64, CachedPanel>,
    /// Full pixels in gray of keyed pictures (see [`crate::parts`]).
    grays: HashMap<i64, Arc<image::GrayImage>>,
    order: VecDeque<i64>,
    bytes: usize,
}

impl CacheEntries {
    /// Drops a panel's thumbnail and gray pixels; whether it held any.
    fn remove(&mut self, id: i64) -> bool {
        let thumb = self.panels.remove(&id);
        let gray = self.grays.remove(&id);
        self.bytes -= thumb.as_ref().map_or(0, |(_, t)| t.data.len())
            + gray.as_ref().map_or(0, |g| g.as_raw().len());
        thumb.is_some() || gray.is_some()
    }

    /// Drops the oldest panels while over `max_bytes` (keeping the last).
    fn shrink_to(&mut self, max_bytes: usize) {
        while self.bytes > max_bytes && self.order.len() > 1 {
            if let Some(oldest) = self.order.pop_front() {
                self.remove(oldest);
            }
        }
    }
}

impl PanelCache {
    /// A cache of at most `max_bytes` of thumbnails and gray pixels.
    pub fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            entries: Mutex::new(CacheEntries::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheEntries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Remembers a panel.
    pub fn insert(&self, place: PanelPlace, thumb: Arc<Raster>) {
        let mut entries = self.lock();
        let entries = &mut *entries;
        entries.bytes += thumb.data.len();
        let id = place.id;
        match entries.panels.insert(id, (place, thumb)) {
            Some((_, old)) => entries.bytes -= old.data.len(),
            None if !entries.grays.contains_key(&id) => entries.order.push_back(id),
            None => {}
        }
        entries.shrink_to(self.max_bytes);
    }

    /// Remembers a keyed picture's full pixels in gray.
    pub fn insert_gray(&self, id: i64, gray: Arc<image::GrayImage>) {
        let mut entries = self.lock();
        let entries = &mut *entries;
        entries.bytes += gray.as_raw().len();
        match entries.grays.insert(id, gray) {
            Some(old) => entries.bytes -= old.as_raw().len(),
            None if !entries.panels.contains_key(&id) => entries.order.push_back(id),
            None => {}
        }
        entries.shrink_to(self.max_bytes);
    }

    /// Drops panels the store now holds.
    pub fn forget(&self, ids: impl IntoIterator<Item = i64>) {
        let mut entries = self.lock();
        let entries = &mut *entries;
        let mut forgotten = 0;
        for id in ids {
            forgotten += usize::from(entries.remove(id));
        }
        if forgotten > 0 {
            let (panels, grays) = (&entries.panels, &entries.grays);
            entries
                .order
                .retain(|id| panels.contains_key(id) || grays.contains_key(id));
        }
    }

    /// A panel's place, from the cache or the store (its thumbnail left unread).
    pub fn place(&self, id: i64, store: &Store) -> Option<PanelPlace> {
        if let Some((place, _)) = self.lock().panels.get(&id) {
            return Some(place.clone());
        }
        store.panel_place(id).ok()?
    }

    /// A keyed picture's full pixels in gray, from the cache or the store (lossless in both).
    pub fn gray(&self, id: i64, store: &Store) -> Option<Arc<image::GrayImage>> {
        if let Some(gray) = self.lock().grays.get(&id) {
            return Some(Arc::clone(gray));
        }
        store.panel_gray(id).ok()?.map(Arc::new)
    }

    /// Panels held, and their thumbnails' bytes.
    pub fn usage(&self) -> (usize, usize) {
        let entries = self.lock();
        (entries.panels.len(), entries.bytes)
    }

    /// A panel's place and thumbnail, from the cache or the store.
    pub fn get(&self, id: i64, store: &Store) -> Option<CachedPanelThumb> {
        if let Some((place, thumb)) = self.lock().panels.get(&id) {
            return Some(CachedPanelThumb {
                place: place.clone(),
                thumb: Arc::clone(thumb),
                stored: false,
            });
        }
        let place = store.panel_place(id).ok()??;
        let thumb = store.panel_thumb(id).ok()??;
        Some(CachedPanelThumb {
            place,
            thumb: Arc::new(thumb),
            stored: true,
        })
    }
}

/// A panel's place and thumbnail as [`PanelCache::get`] found them.
pub struct CachedPanelThumb {
    /// Where the panel is.
    pub place: PanelPlace,
    /// Its thumbnail.
    pub thumb: Arc<Raster>,
    /// Read back from the store, so through its lossy encoding (see
    /// [`crate::store::as_stored`]).
    pub stored: bool,
}

/// Builds the [`IndexStage`] (one worker: it owns the index).
pub struct IndexStageConfig {
    config: IndexConfig,
    index: Arc<Mutex<Option<ShardedIndex>>>,
    cache: Arc<PanelCache>,
    store: Arc<Store>,
    add: bool,
    parts: Arc<Mutex<Option<PartIndex>>>,
}

impl IndexStageConfig {
    /// A stage searching (and, when `add`, growing) `index`.
    pub fn new(
        config: IndexConfig,
        index: ShardedIndex,
        cache: Arc<PanelCache>,
        store: Arc<Store>,
        add: bool,
    ) -> Self {
        Self {
            config,
            index: Arc::new(Mutex::new(Some(index))),
            cache,
            store,
            add,
            parts: Arc::new(Mutex::new(None)),
        }
    }

    /// Also keys blots and gels in `parts` (the index of parts, [`crate::parts`]) and proposes
    /// the earlier pictures their keys meet at one shift (with `[index] search_parts`).
    pub fn with_parts(self, parts: PartIndex) -> Self {
        *self.parts.lock().unwrap_or_else(|p| p.into_inner()) = Some(parts);
        self
    }
}

impl StageConfig for IndexStageConfig {
    type Stage = IndexStage;

    fn build(&self, cx: &BuildContext) -> Result<IndexStage, StageError> {
        if cx.workers != 1 {
            return Err(StageError::input(format!(
                "stage `{}` must run with exactly one worker (it has {})",
                cx.stage, cx.workers
            )));
        }
        let index = self.index.lock().unwrap_or_else(|p| p.into_inner()).take();
        let index = index.ok_or_else(|| {
            StageError::internal("the index stage was built twice (it cannot be restarted)")
        })?;
        let boilerplate = self
            .store
            .boilerplate_panels()
            .map_err(|e| StageError::transient(e.to_string()))?;
        let parts = self.parts.lock().unwrap_or_else(|p| p.into_inner()).take();
        Ok(IndexStage {
            config: self.config.clone(),
            index,
            parts: parts.filter(|_| self.config.search_parts),
            boilerplate,
            cache: Arc::clone(&self.cache),
            store: Arc::clone(&self.store),
            add: self.add,
            last_save: Instant::now(),
        })
    }
}

/// The index stage: adds each document's vectors, then looks up every panel's neighbours.
pub struct IndexStage {
    config: IndexConfig,
    index: ShardedIndex,
    /// The index of parts, when blots and gels are searched for parts of earlier papers'.
    parts: Option<PartIndex>,
    /// Panels recognised as boilerplate, in earlier documents and runs too.
    boilerplate: HashSet<i64>,
    cache: Arc<PanelCache>,
    store: Arc<Store>,
    add: bool,
    last_save: Instant,
}

/// A document's part keys (one entry per panel, `None` where none are kept) and the earlier
/// pictures they propose.
type KeyedDocument = (Vec<Option<Arc<PartKeys>>>, Vec<PartCandidate>);

/// Whether a panel looks like the kind of image that recurs as boilerplate: small, a banner, or in
/// the page's top or bottom margin.
fn boilerplate_shaped(bbox: &BBox, page_height: f32) -> bool {
    let (short, long) = (
        bbox.width().min(bbox.height()),
        bbox.width().max(bbox.height()),
    );
    bbox.area() <= 15_000.0
        || long >= 6.0 * short
        || bbox.y1 <= 80.0
        || bbox.y0 >= page_height - 80.0
}

impl IndexStage {
    fn index_document(
        &mut self,
        embedded: &DocumentEmbedded,
    ) -> Result<DocumentCandidates, StageError> {
        let document = &embedded.document;
        let doc = document.info.job.id;
        let path = document.info.job.path.display().to_string();
        let place = |k: usize| {
            let panel = &document.panels[k];
            PanelPlace {
                id: panel.id,
                doc,
                path: path.clone(),
                page: panel.page + 1,
                bbox: panel.bbox,
                class: panel.class,
            }
        };
        let indexed: Vec<usize> = (0..document.panels.len())
            .filter(|&k| embedded.vectors[k].is_some())
            .collect();
        for &k in &indexed {
            self.cache
                .insert(place(k), Arc::new(document.panels[k].thumb.clone()));
        }
        // A document only checked against the index is added for the search (so its own panels
        // match each other) and removed again afterwards.
        if !indexed.is_empty() {
            let ids: Vec<i64> = indexed.iter().map(|&k| document.panels[k].id).collect();
            let vectors: Vec<f32> = indexed
                .iter()
                .flat_map(|&k| {
                    embedded.vectors[k]
                        .as_ref()
                        .expect("indexed")
                        .indexed_concatenated()
                })
                .collect();
            self.index
                .add(&ids, &vectors)
                .map_err(|e| StageError::transient(e.to_string()))?;
        }
        let mut candidates = Vec::new();
        // A pair of panels as (lower id, higher id), whichever of them found the other.
        let pair = |c: &Candidate| (c.older.id.min(c.newer), c.older.id.max(c.newer));
        // Pairs a window query found, for the candidates metric.
        let mut by_windows = HashSet::new();
        let mut boilerplate = vec![false; document.panels.len()];
        for &k in &indexed {
            let panel = &document.panels[k];
            let vectors = embedded.vectors[k].as_ref().expect("indexed");
            // The query views, then the panel turned a few degrees (slightly rotated copies,
            // which verification relates to it by its own search over small turns).
            let query_views: Vec<Dihedral> = vectors
                .views
                .iter()
                .map(|(view, _)| *view)
                .chain(vectors.tilts.iter().map(|_| Dihedral::Identity))
                .collect();
            let queries: Vec<f32> = vectors
                .views
                .iter()
                .map(|(_, v)| v)
                .chain(&vectors.tilts)
                .flat_map(|v| v.iter().copied())
                .collect();
            // A panel holds several vectors: as many neighbours as there are panels to fetch.
            let fetched = self.config.top_k * self.index.per_panel();
            let hits = self
                .index
                .search(&queries, fetched)
                .map_err(|e| StageError::transient(e.to_string()))?;
            // The transform that takes this panel onto a neighbour: its query view, then the
            // neighbour's indexed view undone.
            let per_panel = self.index.per_panel();
            let relation = |query: Dihedral, label: i64| {
                let (id, slot) = panel_of_label(label, per_panel);
                let indexed = vectors
                    .indexed
                    .get(slot)
                    .map_or(Dihedral::Identity, |v| v.0);
                (id, query.then(indexed.inverse()))
            };
            // A label past a panel's views is one of its indexed windows.
            let is_window =
                |label: i64| panel_of_label(label, per_panel).1 >= vectors.indexed_views;
            // Best similarity per neighbour over the views and tilts; a window of a neighbour
            // reached instead says this panel may be a crop of it.
            let mut best: HashMap<i64, (f32, Dihedral)> = HashMap::new();
            let mut window_reached: Vec<(i64, f32, Dihedral)> = Vec::new();
            for (&query, view_hits) in query_views.iter().zip(&hits) {
                for &(label, similarity) in view_hits {
                    let (id, dihedral) = relation(query, label);
                    if id == panel.id {
                        continue;
                    }
                    if is_window(label) {
                        window_reached.push((id, similarity, dihedral));
                        continue;
                    }
                    let entry = best.entry(id).or_insert((f32::MIN, Dihedral::Identity));
                    if similarity > entry.0 {
                        *entry = (similarity, dihedral);
                    }
                }
            }
            // Panels only a window of this one resembles: crops of it, as they are.
            let mut cropped: HashMap<i64, (f32, Dihedral)> = HashMap::new();
            if !vectors.windows.is_empty() {
                let queries: Vec<f32> = vectors.windows.iter().flatten().copied().collect();
                let hits = self
                    .index
                    .search(&queries, fetched)
                    .map_err(|e| StageError::transient(e.to_string()))?;
                for &(label, similarity) in hits.iter().flatten().filter(|(l, _)| !is_window(*l)) {
                    let (id, dihedral) = relation(Dihedral::Identity, label);
                    let whole = best.get(&id).map_or(f32::MIN, |b| b.0);
                    if id != panel.id
                        && whole < self.config.min_similarity
                        && similarity >= self.config.min_window_similarity
                    {
                        let entry = cropped.entry(id).or_insert((f32::MIN, dihedral));
                        if similarity > entry.0 {
                            *entry = (similarity, dihedral);
                        }
                    }
                }
            }
            // Panels this one is a crop of, reached through the windows they are indexed with.
            for (id, similarity, dihedral) in window_reached {
                let whole = best.get(&id).map_or(f32::MIN, |b| b.0);
                if whole < self.config.min_similarity
                    && similarity >= self.config.min_window_similarity
                {
                    let entry = cropped.entry(id).or_insert((f32::MIN, dihedral));
                    if similarity > entry.0 {
                        *entry = (similarity, dihedral);
                    }
                }
            }
            // The few nearest whole neighbours, however far below the bar (see
            // `nearest_candidates`).
            let mut nearest: Vec<(i64, f32)> = best.iter().map(|(&id, &(s, _))| (id, s)).collect();
            nearest.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            let nearest: HashSet<i64> = nearest
                .into_iter()
                .take(self.config.nearest_candidates)
                .filter(|&(id, s)| {
                    s >= self.config.min_nearest_similarity && !cropped.contains_key(&id)
                })
                .map(|(id, _)| id)
                .collect();
            let mut neighbours: Vec<(i64, f32, Dihedral, bool)> = best
                .into_iter()
                .filter(|(id, (s, _))| *s >= self.config.min_similarity || nearest.contains(id))
                .map(|(id, (s, d))| (id, s, d, false))
                .chain(cropped.into_iter().map(|(id, (s, d))| (id, s, d, true)))
                .collect();
            neighbours.sort_by(|a, b| {
                b.1.partial_cmp(&a.1)
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then(a.0.cmp(&b.0))
            });
            // Places (document, page) where the same image recurs.
            let mut recurrences = HashSet::new();
            let page_height = document
                .pages
                .get(panel.page as usize)
                .map_or(792.0, |p| p.meta.height_pt);
            for (id, similarity, view, by_window) in neighbours {
                // Pairs of whole panels inside this document are reported once, from the later
                // panel; a crop is found only from the panel it was cut from, whichever came first.
                let same_document = document.panels.iter().any(|p| p.id == id);
                if same_document && id > panel.id && !by_window {
                    continue;
                }
                let Some(CachedPanelThumb { place: older, .. }) = self.cache.get(id, &self.store)
                else {
                    continue;
                };
                if !by_window
                    && similarity >= self.config.boilerplate_similarity
                    && (older.doc, older.page) != (doc, panel.page + 1)
                {
                    recurrences.insert((older.doc, older.page));
                }
                // Drawings (charts, tables, text set as an image) are drawn alike: the nearest of
                // them below the bar is a look-alike, and a part of one found in another (a table's
                // header, a box of text with a word changed, a ring in an arc) says nothing of a
                // common source.
                let drawing = Some(crate::units::PanelClass::Other);
                if (by_window || similarity < self.config.min_similarity)
                    && older.class == drawing
                    && panel.class == drawing
                {
                    continue;
                }
                // Two images drawn over each other (an image and its overlay) are not reuse.
                if older.doc == doc
                    && older.page == panel.page + 1
                    && older.bbox.iou(&panel.bbox) > 0.3
                {
                    continue;
                }
                // A template element: the same boilerplate-shaped image at the same place on
                // another page (a journal's logo or banner), whatever its frequency.
                let template = older.bbox.iou(&panel.bbox) >= 0.9
                    && boilerplate_shaped(&panel.bbox, page_height);
                let candidate = Candidate {
                    older,
                    newer: panel.id,
                    similarity,
                    view,
                    boilerplate: template,
                };
                if by_window {
                    by_windows.insert(pair(&candidate));
                }
                candidates.push(candidate);
            }
            if recurrences.len() >= self.config.boilerplate_documents
                && boilerplate_shaped(&panel.bbox, page_height)
            {
                boilerplate[k] = true;
            }
        }
        // A pair found from both of its panels (a window of one, and the other whole) is one.
        let mut pairs = HashSet::new();
        candidates.retain(|c| pairs.insert(pair(c)));
        // A pair touching boilerplate is boilerplate, whichever of its panels was recognised:
        // this document's, or one recognised before.
        for (k, panel) in document.panels.iter().enumerate() {
            if boilerplate[k] {
                self.boilerplate.insert(panel.id);
            }
        }
        for candidate in &mut candidates {
            candidate.boilerplate |= self.boilerplate.contains(&candidate.newer)
                || self.boilerplate.contains(&candidate.older.id);
        }
        if !self.add {
            let ids: HashSet<i64> = indexed.iter().map(|&k| document.panels[k].id).collect();
            self.index
                .remove(&ids)
                .map_err(|e| StageError::transient(e.to_string()))?;
        }
        // What window queries and nearest neighbours below the bar add to verification, apart
        // from what whole panels find.
        let windowed = candidates
            .iter()
            .filter(|c| by_windows.contains(&pair(c)))
            .count();
        let nearest = candidates
            .iter()
            .filter(|c| !by_windows.contains(&pair(c)) && c.similarity < self.config.min_similarity)
            .count();
        metrics::counter!("panelscope_index_candidates_total", "found_by" => "whole")
            .increment((candidates.len() - windowed - nearest) as u64);
        metrics::counter!("panelscope_index_candidates_total", "found_by" => "window")
            .increment(windowed as u64);
        metrics::counter!("panelscope_index_candidates_total", "found_by" => "nearest")
            .increment(nearest as u64);
        let (parts, part_candidates) = self.search_parts(embedded, &boilerplate)?;
        if self.add && self.last_save.elapsed() >= self.config.save_every {
            self.save(false)
                .map_err(|e| StageError::transient(e.to_string()))?;
            self.last_save = Instant::now();
        }
        let mut embedded = embedded.clone();
        embedded.parts = parts;
        Ok(DocumentCandidates {
            embedded,
            candidates,
            part_candidates,
            boilerplate,
        })
    }

    /// Writes the index, and the index of parts when it grew enough since its last save (or
    /// `closing`).
    fn save(&mut self, closing: bool) -> Result<(), IndexError> {
        self.index.save()?;
        match &mut self.parts {
            Some(parts) if closing => parts.save(),
            Some(parts) => parts.save_if_grown(),
            None => Ok(()),
        }
    }

    /// Keys the document's blots and gels, proposes the earlier pictures each one's keys meet
    /// at one shift, then (when adding) indexes its keys and holds its pictures' pixels for
    /// later documents' verification. A document's own pictures are searched for shared parts
    /// by verification itself.
    fn search_parts(
        &mut self,
        embedded: &DocumentEmbedded,
        boilerplate: &[bool],
    ) -> Result<KeyedDocument, StageError> {
        use crate::units::PanelClass::{Blot, Gel};
        let document = &embedded.document;
        let mut keys = vec![None; document.panels.len()];
        let mut candidates = Vec::new();
        let Some(parts) = self.parts.as_mut() else {
            return Ok((keys, candidates));
        };
        let keyed: Vec<(usize, &image::GrayImage)> = document
            .panels
            .iter()
            .enumerate()
            .filter(|(k, panel)| {
                !panel.uniform && !boilerplate[*k] && matches!(panel.class, Some(Blot | Gel))
            })
            .filter_map(|(k, panel)| Some((k, panel.gray.as_ref()?)))
            .collect();
        let found: Vec<(usize, PartKeys)> = keyed
            .par_iter()
            .map(|&(k, gray)| (k, PartKeys::of(gray)))
            .collect();
        let own: HashSet<i64> = document.panels.iter().map(|p| p.id).collect();
        let started = Instant::now();
        for (k, picture_keys) in &found {
            let proposals = parts
                .propose(picture_keys, |panel| own.contains(&panel))
                .map_err(|e| StageError::transient(e.to_string()))?;
            for proposal in proposals {
                let Some(older) = self.cache.place(proposal.older, &self.store) else {
                    continue;
                };
                candidates.push(PartCandidate {
                    older,
                    newer: document.panels[*k].id,
                    shift: proposal.shift,
                });
            }
        }
        metrics::histogram!("panelscope_index_part_search_seconds")
            .record(started.elapsed().as_secs_f64());
        metrics::counter!("panelscope_index_candidates_total", "found_by" => "parts")
            .increment(candidates.len() as u64);
        for (k, picture_keys) in found {
            let panel = &document.panels[k];
            if self.add {
                parts
                    .add(panel.id, document.info.job.id, &picture_keys)
                    .map_err(|e| StageError::transient(e.to_string()))?;
                if let Some(gray) = &panel.gray {
                    self.cache.insert_gray(panel.id, Arc::new(gray.clone()));
                }
            }
            keys[k] = Some(Arc::new(picture_keys));
        }
        metrics::gauge!("panelscope_index_part_keys").set(parts.len() as f64);
        Ok((keys, candidates))
    }
}

impl Stage for IndexStage {
    type In = DocumentEmbedded;
    type Out = DocumentCandidates;

    fn process(&mut self, batch: &[DocumentEmbedded]) -> Vec<ItemResult<DocumentCandidates>> {
        batch
            .iter()
            .map(|document| self.index_document(document).map(Outputs::One))
            .collect()
    }

    fn on_close(&mut self) -> Result<Vec<DocumentCandidates>, StageError> {
        if self.add {
            self.save(true)
                .map_err(|e| StageError::external(e.to_string()))?;
        }
        Ok(Vec::new())
    }

    fn describe(&self, document: &DocumentEmbedded) -> String {
        document.describe()
    }

    fn key(&self, document: &DocumentEmbedded) -> Option<String> {
        Some(document.key())
    }

    fn sequence(&self, document: &DocumentEmbedded) -> Option<u64> {
        Some(document.position())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached(id: i64, side: u32) -> (PanelPlace, Arc<Raster>) {
        let place = PanelPlace {
            id,
            doc: crate::units::DocumentId::of_bytes(b"cache test"),
            path: "cache-test.pdf".to_string(),
            page: 1,
            bbox: crate::units::BBox::new(0.0, 0.0, 10.0, 10.0),
            class: None,
        };
        let thumb = Raster {
            width: side,
            height: side,
            channels: 1,
            data: vec![128; (side * side) as usize],
        };
        (place, Arc::new(thumb))
    }

    #[test]
    fn the_panel_cache_forgets_recorded_panels_and_keeps_to_its_budget() {
        let cache = PanelCache::new(3 * 100);
        for id in 1..=3 {
            let (place, thumb) = cached(id, 10);
            cache.insert(place, thumb);
        }
        assert_eq!(cache.usage(), (3, 300));
        // Over budget: the oldest goes.
        let (place, thumb) = cached(4, 10);
        cache.insert(place, thumb);
        assert_eq!(cache.usage(), (3, 300));
        assert!(!cache.lock().panels.contains_key(&1));
        // Recorded panels are dropped, unknown ids ignored.
        cache.forget([2, 3, 99]);
        assert_eq!(cache.usage(), (1, 100));
        assert_eq!(cache.lock().order, VecDeque::from([4]));
        // Re-inserting a panel replaces it without counting it twice.
        let (place, thumb) = cached(4, 5);
        cache.insert(place, thumb);
        assert_eq!(cache.usage(), (1, 25));
    }

    fn unit(seed: u64, d: usize) -> Vec<f32> {
        let mut v: Vec<f32> = (0..d)
            .map(|i| (((seed * 31 + i as u64) * 2_654_435_761) % 1000) as f32 - 500.0)
            .collect();
        panelscope_models::embedder::l2_normalize(&mut v);
        v
    }

    #[test]
    fn sharded_search_equals_one_flat_index_and_survives_a_reopen() {
        let dir = std::env::temp_dir().join(format!("panelscope-index-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let d = 16;
        let config = IndexConfig {
            shards: 3,
            ..IndexConfig::default()
        };
        let mut sharded = ShardedIndex::open(&dir, "m1", d, 1, &config).unwrap();
        let mut flat = ShardedIndex::open(
            &dir.join("flat"),
            "m1",
            d,
            1,
            &IndexConfig {
                shards: 1,
                ..IndexConfig::default()
            },
        )
        .unwrap();
        let ids: Vec<i64> = (1..=200).collect();
        let vectors: Vec<f32> = ids.iter().flat_map(|&id| unit(id as u64, d)).collect();
        sharded.add(&ids, &vectors).unwrap();
        flat.add(&ids, &vectors).unwrap();
        let queries: Vec<f32> = [7u64, 150].iter().flat_map(|&s| unit(s, d)).collect();
        let a = sharded.search(&queries, 5).unwrap();
        assert_eq!(a, flat.search(&queries, 5).unwrap());
        assert_eq!(a[0][0].0, 7);
        assert!((a[0][0].1 - 1.0).abs() < 1e-5);
        sharded.save().unwrap();
        let mut reopened = ShardedIndex::open(&dir, "m1", d, 1, &config).unwrap();
        assert_eq!(reopened.len(), 200);
        assert_eq!(reopened.search(&queries, 5).unwrap(), a);
        reopened.remove(&[7].into_iter().collect()).unwrap();
        assert_ne!(reopened.search(&queries, 1).unwrap()[0][0].0, 7);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn another_model_is_refused_with_the_way_out() {
        let dir =
            std::env::temp_dir().join(format!("panelscope-index-model-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut index = ShardedIndex::open(&dir, "m1", 8, 1, &IndexConfig::default()).unwrap();
        index.save().unwrap();
        let error = ShardedIndex::open(&dir, "m2", 8, 1, &IndexConfig::default())
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.contains("m1") && error.contains("m2") && error.contains("panelscope reindex"),
            "{error}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
