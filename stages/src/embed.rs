//! embed: turns each panel into vectors with the configured embedder: the panel as it is (what
//! the index stores) and its eight dihedral views (what queries use, so flipped and turned copies
//! are found). Documents are embedded in batches.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use image::GrayImage;
use panelscope_engine::{
    BuildContext, ItemResult, Outputs, Stage, StageConfig, StageError, StageKind,
};
use panelscope_models::{
    ClassicalEmbedder, DevicePreference, Embedder, LearnedEmbedder, select_device,
};
use serde::{Deserialize, Serialize};

use crate::units::{DocumentEmbedded, DocumentPanels, PanelItem, PanelVectors};

/// Which embedder, read from `[embed]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbedConfig {
    /// `classical` (the default descriptor shipped in the code, no weights) or `learned` (the
    /// copy-detection model trained by `panelscope train`, read from [`EmbedConfig::weights`]).
    pub model: String,
    /// The learned model's weights (safetensors). A relative path is looked up in the working
    /// directory, then in the repository the binary was built from (beside `target/`).
    pub weights: String,
    /// Where the learned model runs: `auto` (CUDA when this build has it and a GPU is present,
    /// else the CPU), `cpu`, `cuda` or `cuda:N`.
    pub device: String,
}

impl Default for EmbedConfig {
    fn default() -> Self {
        Self {
            model: "classical".to_string(),
            weights: "models/weights/panelscope-embed-small.safetensors".to_string(),
            device: "auto".to_string(),
        }
    }
}

impl EmbedConfig {
    /// The embedder this configuration names.
    pub fn embedder(&self) -> Result<Arc<dyn Embedder>, String> {
        match self.model.as_str() {
            "classical" => Ok(Arc::new(ClassicalEmbedder::default())),
            "learned" => {
                let preference: DevicePreference = self
                    .device
                    .parse()
                    .map_err(|e| format!("embed.device: {e}"))?;
                let device = select_device(preference).map_err(|e| format!("embed.device: {e}"))?;
                let path = self.weights_path()?;
                let embedder = LearnedEmbedder::load(&path, &device).map_err(|e| e.to_string())?;
                Ok(Arc::new(embedder))
            }
            other => Err(format!(
                "embed.model = `{other}` is not a known embedder (known: classical, learned)"
            )),
        }
    }

    /// Where [`EmbedConfig::weights`] is: absolute as given; relative, the first existing of the
    /// working directory's and the build repository's (the binary's `target/<profile>/..`, then
    /// this crate's parent at build time).
    pub fn weights_path(&self) -> Result<PathBuf, String> {
        let given = Path::new(&self.weights);
        if given.is_absolute() {
            return Ok(given.to_path_buf());
        }
        let mut roots: Vec<PathBuf> = Vec::new();
        if let Ok(cwd) = std::env::current_dir() {
            roots.push(cwd);
        }
        if let Ok(exe) = std::env::current_exe() {
            // target/<profile>/panelscope, or target/<profile>/deps/<test> for tests.
            roots.extend(exe.ancestors().skip(3).take(2).map(Path::to_path_buf));
        }
        if let Some(repo) = Path::new(env!("CARGO_MANIFEST_DIR")).parent() {
            roots.push(repo.to_path_buf());
        }
        roots
            .iter()
            .map(|root| root.join(given))
            .find(|candidate| candidate.is_file())
            .ok_or_else(|| {
                format!(
                    "embed.weights = `{}` not found in {}",
                    self.weights,
                    roots
                        .iter()
                        .map(|r| r.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
    }
}

/// Builds [`Embed`] stages sharing one embedder.
pub struct EmbedStageConfig {
    embedder: Arc<dyn Embedder>,
}

impl EmbedStageConfig {
    /// Stages embedding with `embedder`.
    pub fn new(embedder: Arc<dyn Embedder>) -> Self {
        Self { embedder }
    }
}

impl StageConfig for EmbedStageConfig {
    type Stage = Embed;

    fn build(&self, _cx: &BuildContext) -> Result<Embed, StageError> {
        Ok(Embed {
            embedder: Arc::clone(&self.embedder),
        })
    }

    fn kind(&self) -> StageKind {
        // Accelerator models gather batches on few workers; CPU descriptors spread over the cores.
        if self.embedder.prefers_batches() {
            StageKind::Batched
        } else {
            StageKind::Cpu
        }
    }
}

/// Panels handed to the embedder per call.
const PANELS_PER_CALL: usize = 16;

/// The embed stage.
pub struct Embed {
    embedder: Arc<dyn Embedder>,
}

impl Embed {
    fn embed(&self, document: &DocumentPanels) -> Result<DocumentEmbedded, StageError> {
        // Full-resolution pixels stop here: the stages after this one read thumbnails. The copy
        // going on is made without them rather than cloned and emptied.
        let panels: Vec<PanelItem> = document
            .panels
            .iter()
            .map(|p| PanelItem {
                id: p.id,
                page: p.page,
                figure: p.figure,
                ordinal: p.ordinal,
                bbox: p.bbox,
                thumb: p.thumb.clone(),
                uniform: p.uniform,
                raster: None,
            })
            .collect();
        // Panels go to the embedder a few at a time, so a network batches them while only that
        // many gray copies of full-resolution panels exist at once.
        let screened: Vec<usize> = (0..panels.len()).filter(|&k| !panels[k].uniform).collect();
        let mut all_views = Vec::with_capacity(screened.len());
        for chunk in screened.chunks(PANELS_PER_CALL) {
            let grays: Vec<GrayImage> = chunk
                .iter()
                .map(|&k| {
                    let panel = &document.panels[k];
                    panel.raster.as_ref().unwrap_or(&panel.thumb).to_gray()
                })
                .collect();
            all_views.extend(
                self.embedder
                    .embed_dihedral_many(&grays)
                    .map_err(|e| StageError::internal(format!("embedding failed: {e}")))?,
            );
        }
        let mut views = all_views.into_iter();
        let vectors = panels
            .iter()
            .map(|panel| {
                if panel.uniform {
                    return None;
                }
                views.next().map(|views| PanelVectors {
                    identity: views[0].clone(),
                    views,
                })
            })
            .collect();
        Ok(DocumentEmbedded {
            document: DocumentPanels {
                panels,
                ..document.clone()
            },
            vectors,
        })
    }
}

impl Stage for Embed {
    type In = DocumentPanels;
    type Out = DocumentEmbedded;

    fn process(&mut self, batch: &[DocumentPanels]) -> Vec<ItemResult<DocumentEmbedded>> {
        batch
            .iter()
            .map(|document| self.embed(document).map(Outputs::One))
            .collect()
    }

    fn describe(&self, document: &DocumentPanels) -> String {
        document.info.job.path.display().to_string()
    }

    fn key(&self, document: &DocumentPanels) -> Option<String> {
        Some(document.info.job.id.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_round_trips_through_toml_and_defaults_to_classical() {
        let config = EmbedConfig::default();
        let text = toml::to_string(&config).unwrap();
        assert_eq!(toml::from_str::<EmbedConfig>(&text).unwrap(), config);
        assert_eq!(config.model, "classical");
        let error = toml::from_str::<EmbedConfig>("wieghts = \"x\"").unwrap_err();
        assert!(error.to_string().contains("unknown field"), "{error}");
    }

    #[test]
    fn learned_loads_the_shipped_weights_and_reports_a_missing_file() {
        let config = EmbedConfig {
            model: "learned".to_string(),
            device: "cpu".to_string(),
            ..EmbedConfig::default()
        };
        let embedder = config.embedder().unwrap();
        assert!(embedder.fingerprint().0.starts_with("learned-resnetv2-"));
        let missing = EmbedConfig {
            weights: "models/weights/nothing-here.safetensors".to_string(),
            ..config
        };
        let error = missing.embedder().err().unwrap();
        assert!(error.contains("not found"), "{error}");
    }
}
