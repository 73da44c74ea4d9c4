//! embed: turns each panel into vectors with the configured embedder: the panel as it is (what
//! the index stores) and its eight dihedral views (what queries use, so flipped and turned copies
//! are found). Documents are embedded in batches.

use std::sync::Arc;

use panelscope_engine::{
    BuildContext, ItemResult, Outputs, Stage, StageConfig, StageError, StageKind,
};
use panelscope_models::{ClassicalEmbedder, Embedder};
use serde::{Deserialize, Serialize};

use crate::units::{DocumentEmbedded, DocumentPanels, PanelVectors};

/// Which embedder, read from `[embed]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbedConfig {
    /// `classical` (the default descriptor shipped in the code).
    pub model: String,
}

impl Default for EmbedConfig {
    fn default() -> Self {
        Self {
            model: "classical".to_string(),
        }
    }
}

impl EmbedConfig {
    /// The embedder this configuration names.
    pub fn embedder(&self) -> Result<Arc<dyn Embedder>, String> {
        match self.model.as_str() {
            "classical" => Ok(Arc::new(ClassicalEmbedder::default())),
            other => Err(format!(
                "embed.model = `{other}` is not a known embedder (known: classical)"
            )),
        }
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

/// The embed stage.
pub struct Embed {
    embedder: Arc<dyn Embedder>,
}

impl Embed {
    fn embed(&self, document: &DocumentPanels) -> Result<DocumentEmbedded, StageError> {
        let mut vectors = Vec::with_capacity(document.panels.len());
        let mut panels = document.panels.clone();
        for panel in &mut panels {
            let raster = panel.raster.take();
            if panel.uniform {
                vectors.push(None);
                continue;
            }
            let gray = raster.as_ref().unwrap_or(&panel.thumb).to_gray();
            let views = self
                .embedder
                .embed_dihedral(&gray)
                .map_err(|e| StageError::internal(format!("embedding failed: {e}")))?;
            vectors.push(Some(PanelVectors {
                identity: views[0].clone(),
                views,
            }));
        }
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
