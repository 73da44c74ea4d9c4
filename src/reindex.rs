//! `panelscope reindex`: re-embeds the stored panels with the configured embedder and rebuilds
//! the FAISS index from the store, after a model change or to repair an index.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use panelscope_stages::embed::{indexed_vectors, window_crops};
use panelscope_stages::store::Store;

use crate::config::Settings;

/// Panels embedded per store transaction.
const CHUNK: usize = 256;

/// What a reindex did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReindexOutcome {
    /// The embedder's fingerprint.
    pub model: String,
    /// Panels that got a vector of the model in this run.
    pub embedded: usize,
    /// Panels whose stored pixels could not be read (left without a vector).
    pub unreadable: usize,
    /// Panels in the rebuilt index.
    pub indexed: usize,
    /// Vectors in it: each panel's views and indexed windows.
    pub vectors: usize,
    /// The index folder.
    pub index: PathBuf,
}

/// Embeds every stored panel that has no vector of the configured model, or one written with
/// another count of indexed windows (from its stored thumbnail), then replaces the index with one
/// built from the store's vectors of that model. Matches already recorded stay as they are;
/// documents ingested from now on are matched against every indexed panel.
pub fn run(settings: &Settings) -> Result<ReindexOutcome> {
    let store = Arc::new(Store::open(&settings.data_dir)?);
    let embedder = settings.embed.embedder().map_err(anyhow::Error::msg)?;
    let model = embedder.fingerprint().to_string();
    let indexed_windows = settings
        .embed
        .indexed_windows()
        .map_err(anyhow::Error::msg)?;
    // Panels without a vector of the model, or stored with another count of windows.
    let width = (embedder.indexed_views().len() + indexed_windows.len()) * embedder.dimension();
    let missing = store.panels_without_vectors(&model, width)?;
    let (mut embedded, mut unreadable) = (0, 0);
    for chunk in missing.chunks(CHUNK) {
        let mut ids = Vec::with_capacity(chunk.len());
        let mut images = Vec::with_capacity(chunk.len());
        for &id in chunk {
            match store.panel_thumb(id)? {
                Some(thumb) => {
                    ids.push(id);
                    images.push(thumb.to_gray());
                }
                None => unreadable += 1,
            }
        }
        // Each panel in every orientation the index holds, then its indexed windows, end to end
        // (as the ingest stores it).
        let embedding =
            |e| anyhow::Error::from(e).context(format!("embedding panels with {model}"));
        let views = embedder
            .embed_views_many(&images, embedder.indexed_views())
            .map_err(embedding)?;
        let mut rows: Vec<(i64, Vec<f32>)> = Vec::with_capacity(ids.len());
        for ((id, image), views) in ids.into_iter().zip(&images).zip(views) {
            let crops = window_crops(image, &indexed_windows);
            let windows = if crops.is_empty() {
                Vec::new()
            } else {
                embedder.embed(&crops).map_err(embedding)?
            };
            let labelled = embedder
                .indexed_views()
                .iter()
                .copied()
                .zip(views)
                .collect();
            let held = indexed_vectors(labelled, windows, indexed_windows.len());
            rows.push((id, held.into_iter().flat_map(|(_, v)| v).collect()));
        }
        store.record_vectors(&model, &rows)?;
        embedded += rows.len();
        tracing::info!(embedded, of = missing.len(), "Re-embedding stored panels.");
    }
    let dir = settings.data_dir.join("index");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("cannot remove the old index {}", dir.display()))?;
    }
    let mut index = settings.open_index(embedder.as_ref())?;
    index.reconcile(&store).map_err(anyhow::Error::msg)?;
    index.save()?;
    Ok(ReindexOutcome {
        model,
        embedded,
        unreadable,
        indexed: index.len() / index.per_panel().max(1),
        vectors: index.len(),
        index: dir,
    })
}
