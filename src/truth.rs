//! The labelled truth of a synthetic catalog (`truth.json`): every planted duplicate pair with
//! both regions and the edit applied, plus hard negatives. Written by `panelscope synth`, read by
//! `panelscope eval`.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// The format version written in `truth.json`.
pub const TRUTH_VERSION: u32 = 1;

/// A region of a page in a catalog document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Region {
    /// The PDF's file name, relative to the catalog folder.
    pub file: String,
    /// The document id: blake3 of the file's bytes, hex.
    pub doc: String,
    /// 1-based page.
    pub page: u32,
    /// `[x0, y0, x1, y1]` in PDF points from the page's top-left corner, y down.
    pub bbox: [f32; 4],
}

/// What was done to the source panel to make its copy. `primary` edits name the per-edit rows of
/// the evaluation; a pair with two or more edits is reported as `combination`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Edit {
    /// A pixel-identical copy (possibly the same image object drawn twice).
    Exact,
    /// Drawn at another size, or resampled.
    Rescale,
    /// A part of the source keeping 50–90 % of its area.
    Crop,
    /// Mirrored left–right.
    FlipHorizontal,
    /// Mirrored top–bottom.
    FlipVertical,
    /// Turned by 90°.
    Rotate90,
    /// Turned by 180°.
    Rotate180,
    /// Turned by 270°.
    Rotate270,
    /// Turned by 1–5°.
    SmallRotation,
    /// Contrast changed.
    Contrast,
    /// Brightness changed.
    Brightness,
    /// Gamma changed.
    Gamma,
    /// Recompressed as JPEG at low quality.
    Jpeg,
    /// Noise added.
    Noise,
    /// Blurred.
    Blur,
    /// A band strip of one blot pasted into another; the regions are the strip on both sides.
    Splice,
}

impl Edit {
    /// Every edit, in the order the evaluation lists them.
    pub const ALL: [Edit; 16] = [
        Edit::Exact,
        Edit::Rescale,
        Edit::Crop,
        Edit::FlipHorizontal,
        Edit::FlipVertical,
        Edit::Rotate90,
        Edit::Rotate180,
        Edit::Rotate270,
        Edit::SmallRotation,
        Edit::Contrast,
        Edit::Brightness,
        Edit::Gamma,
        Edit::Jpeg,
        Edit::Noise,
        Edit::Blur,
        Edit::Splice,
    ];

    /// The snake_case name used in JSON and reports.
    pub fn name(self) -> &'static str {
        match self {
            Edit::Exact => "exact",
            Edit::Rescale => "rescale",
            Edit::Crop => "crop",
            Edit::FlipHorizontal => "flip_horizontal",
            Edit::FlipVertical => "flip_vertical",
            Edit::Rotate90 => "rotate90",
            Edit::Rotate180 => "rotate180",
            Edit::Rotate270 => "rotate270",
            Edit::SmallRotation => "small_rotation",
            Edit::Contrast => "contrast",
            Edit::Brightness => "brightness",
            Edit::Gamma => "gamma",
            Edit::Jpeg => "jpeg",
            Edit::Noise => "noise",
            Edit::Blur => "blur",
            Edit::Splice => "splice",
        }
    }
}

/// Within one document or across two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PairKind {
    /// Both regions are in one document.
    IntraDocument,
    /// The regions are in two documents.
    CrossDocument,
}

impl PairKind {
    /// The snake_case name used in JSON and reports.
    pub fn name(self) -> &'static str {
        match self {
            PairKind::IntraDocument => "intra_document",
            PairKind::CrossDocument => "cross_document",
        }
    }
}

/// A planted duplicate: `b` was made from `a` by `edits` (in order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthPair {
    /// Stable id within the catalog.
    pub id: u32,
    /// Within or across documents.
    pub kind: PairKind,
    /// The edits applied, in order; one element except for combinations.
    pub edits: Vec<Edit>,
    /// Edit parameters for the record (scale, crop box, angle, quality …), free-form.
    #[serde(default)]
    pub params: serde_json::Value,
    /// The source region.
    pub a: Region,
    /// The copy's region.
    pub b: Region,
}

impl TruthPair {
    /// The row of the per-edit report: the edit's name, or `combination`.
    pub fn edit_label(&self) -> &'static str {
        match self.edits.as_slice() {
            [single] => single.name(),
            _ => "combination",
        }
    }
}

/// Two regions that look alike by construction but are NOT duplicates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HardNegative {
    /// Why they look alike (e.g. `same_layout_blots`).
    pub reason: String,
    /// One region.
    pub a: Region,
    /// The other.
    pub b: Region,
}

/// A document of the catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthDocument {
    /// File name relative to the catalog folder.
    pub file: String,
    /// blake3 of its bytes, hex.
    pub doc: String,
    /// Pages.
    pub pages: u32,
}

/// The whole `truth.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    /// [`TRUTH_VERSION`].
    pub version: u32,
    /// The generator's seed.
    pub seed: u64,
    /// Every document, in file-name order.
    pub documents: Vec<TruthDocument>,
    /// Every planted duplicate pair.
    pub pairs: Vec<TruthPair>,
    /// Look-alikes that are not duplicates.
    pub hard_negatives: Vec<HardNegative>,
}

impl Truth {
    /// Reads and checks a `truth.json`.
    pub fn read(path: &Path) -> Result<Truth> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let truth: Truth = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid truth file", path.display()))?;
        anyhow::ensure!(
            truth.version == TRUTH_VERSION,
            "{}: truth format v{} is not supported (this panelscope reads v{TRUTH_VERSION})",
            path.display(),
            truth.version
        );
        Ok(truth)
    }

    /// Writes it as pretty JSON (stable field and element order, so equal catalogs give equal files).
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
    }
}
