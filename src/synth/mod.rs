//! `panelscope synth`: writes a catalog of paper-like PDFs with planted duplicate panels and its
//! `truth.json`.

use std::path::PathBuf;

use anyhow::Result;

/// What to generate.
#[derive(Debug, Clone)]
pub struct SynthOptions {
    /// Output folder (created; PDFs and truth.json go here).
    pub out: PathBuf,
    /// Documents to write.
    pub docs: u32,
    /// Seed: the same seed gives byte-identical PDFs and truth.
    pub seed: u64,
    /// Real images to draw panels from (`../shared/data` layout), when present.
    pub real_images: Option<PathBuf>,
}

/// What was generated.
#[derive(Debug, Clone)]
pub struct SynthSummary {
    /// Documents written.
    pub documents: u32,
    /// Planted pairs.
    pub pairs: usize,
    /// Hard negatives.
    pub hard_negatives: usize,
}

/// Writes the catalog.
pub fn run(options: &SynthOptions) -> Result<SynthSummary> {
    anyhow::bail!("synth is not written yet (out: {})", options.out.display())
}
