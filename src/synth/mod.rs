//! `panelscope synth`: writes a catalog of paper-like PDFs with planted duplicate panels and its
//! `truth.json`.
//!
//! The catalog is planned first ([`plan`]: documents, figures, panels, planted pairs, hard
//! negatives, all from the seed), then every document is rendered and written on its own
//! ([`document`]), in parallel but each a pure function of the plan, so the same seed always
//! writes byte-identical PDFs and truth. Panels come from procedural generators ([`panels`],
//! [`distractors`]) and, when given, real images ([`real`]); copies are made by [`edits`].
//!
//! ```text
//! panelscope synth --out /tmp/catalog --docs 200 --seed 1
//! ```

// The generators, edits and real-image readers are shared with `panelscope train` (src/train/).
pub(crate) mod distractors;
mod document;
mod draw;
pub mod edits;
mod figure;
pub(crate) mod font;
mod layout;
pub(crate) mod panels;
pub(crate) mod plan;
mod prose;
pub(crate) mod real;
mod render;
pub(crate) mod rng;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result};
use panelscope_stages::units::BBox;
use serde_json::json;

use crate::truth::{
    Edit, HardNegative, PairKind, Region, TRUTH_VERSION, Truth, TruthDocument, TruthPair,
};

use document::Placement;
use plan::{PairPlan, PanelId, Plan};
use real::RealCatalog;

/// The panels of the real compound figures under `data` (the `../shared/data` layout), cut at
/// their white gutters as catalogs cut them, each named `figures/figure-separator/<file>#panelN`.
pub fn real_figure_panels(data: &Path) -> Result<Vec<(String, image::RgbImage)>> {
    real::figure_panels(data)?
        .into_iter()
        .map(|panel| Ok((panel.name.clone(), panel.load()?)))
        .collect()
}

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
    /// Planted pairs within one document.
    pub intra_document_pairs: usize,
    /// Planted pairs across two documents.
    pub cross_document_pairs: usize,
    /// Documents that hold no planted pair.
    pub documents_without_pairs: usize,
    /// Real images used as panel sources.
    pub real_images_used: usize,
    /// Bytes of all PDFs together.
    pub total_bytes: u64,
}

/// One document as written.
struct Written {
    file: String,
    doc: String,
    pages: u32,
    bytes: u64,
    placements: Vec<Placement>,
}

/// Writes the catalog into `options.out`. Files named like the catalog's own (`doc-0001.pdf`)
/// that this catalog does not contain, left over from a larger earlier run, are removed so the
/// folder holds exactly what `truth.json` describes.
pub fn run(options: &SynthOptions) -> Result<SynthSummary> {
    anyhow::ensure!(
        options.docs > 0,
        "synth needs at least one document (--docs)"
    );
    std::fs::create_dir_all(&options.out)
        .with_context(|| format!("cannot create {}", options.out.display()))?;
    let real = RealCatalog::load(options.real_images.as_deref(), options.seed)?;
    let plan = plan::plan(options.seed, options.docs as usize, &real)?;
    let written = write_documents(&plan, &real, &options.out)?;
    remove_stale_documents(&options.out, &plan)?;
    let truth = truth_of(&plan, &real, &written);
    truth.write(&options.out.join("truth.json"))?;

    let mut touched = BTreeSet::new();
    for pair in &truth.pairs {
        touched.insert(pair.a.file.clone());
        touched.insert(pair.b.file.clone());
    }
    let real_images_used: BTreeSet<usize> = plan
        .panels
        .iter()
        .filter(|p| p.slot.is_some())
        .filter_map(|p| match &p.content {
            plan::PanelContent::Original(plan::Source::Real { image, .. }) => Some(*image),
            _ => None,
        })
        .collect();
    Ok(SynthSummary {
        documents: options.docs,
        pairs: truth.pairs.len(),
        hard_negatives: truth.hard_negatives.len(),
        intra_document_pairs: truth
            .pairs
            .iter()
            .filter(|p| p.kind == PairKind::IntraDocument)
            .count(),
        cross_document_pairs: truth
            .pairs
            .iter()
            .filter(|p| p.kind == PairKind::CrossDocument)
            .count(),
        documents_without_pairs: truth.documents.len() - touched.len(),
        real_images_used: real_images_used.len(),
        total_bytes: written.iter().map(|w| w.bytes).sum(),
    })
}

/// Renders and writes every document, on all cores. Each worker takes the next document index;
/// results land in their index's slot, so thread timing never changes what is written.
fn write_documents(plan: &Plan, real: &RealCatalog, out: &Path) -> Result<Vec<Written>> {
    let count = plan.documents.len();
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(count)
        .max(1);
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<Result<Written>>>> =
        (0..count).map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= count {
                        break;
                    }
                    let result = write_document(plan, real, out, index);
                    let failed = result.is_err();
                    *results[index]
                        .lock()
                        .expect("no worker panics while holding a result") = Some(result);
                    if failed {
                        // Stop handing out work; the first error by index is reported below.
                        next.store(count, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let mut written = Vec::with_capacity(count);
    for (index, slot) in results.into_iter().enumerate() {
        match slot
            .into_inner()
            .expect("no worker panics while holding a result")
        {
            Some(result) => written.push(result?),
            None => anyhow::bail!(
                "document {} was not written because an earlier one failed",
                index + 1
            ),
        }
    }
    Ok(written)
}

fn write_document(plan: &Plan, real: &RealCatalog, out: &Path, index: usize) -> Result<Written> {
    let file = plan.documents[index].file.clone();
    let output =
        document::generate(plan, real, index).with_context(|| format!("cannot generate {file}"))?;
    let path = out.join(&file);
    std::fs::write(&path, &output.bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(Written {
        doc: blake3::hash(&output.bytes).to_hex().to_string(),
        file,
        pages: output.pages,
        bytes: output.bytes.len() as u64,
        placements: output.placements,
    })
}

/// Removes `doc-<digits>.pdf` files this catalog did not write.
fn remove_stale_documents(out: &Path, plan: &Plan) -> Result<()> {
    let ours: BTreeSet<&str> = plan.documents.iter().map(|d| d.file.as_str()).collect();
    for entry in std::fs::read_dir(out).with_context(|| format!("cannot list {}", out.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let numbered = name
            .strip_prefix("doc-")
            .and_then(|rest| rest.strip_suffix(".pdf"))
            .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()));
        if numbered && !ours.contains(name) {
            tracing::info!(
                file = name,
                "Removing a document left over from an earlier catalog."
            );
            std::fs::remove_file(entry.path())
                .with_context(|| format!("cannot remove {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Two decimals of a point are far below any detector's precision and keep the JSON readable.
fn round_box(bbox: BBox) -> [f32; 4] {
    bbox.to_array().map(|v| (v * 100.0).round() / 100.0)
}

/// The truth file of a written catalog.
fn truth_of(plan: &Plan, real: &RealCatalog, written: &[Written]) -> Truth {
    let mut placed: HashMap<PanelId, (usize, Placement)> = HashMap::new();
    for (document, output) in written.iter().enumerate() {
        for placement in &output.placements {
            placed.insert(placement.panel, (document, *placement));
        }
    }
    let region = |document: usize, page: u32, bbox: BBox| Region {
        file: written[document].file.clone(),
        doc: written[document].doc.clone(),
        page,
        bbox: round_box(bbox),
    };
    let whole = |panel: PanelId| {
        let (document, placement) = placed[&panel];
        (document, region(document, placement.page, placement.bbox))
    };
    // A box in a panel's pixels, mapped onto where the panel is drawn.
    let part = |panel: PanelId, (x0, y0, x1, y1): (u32, u32, u32, u32)| {
        let (document, placement) = placed[&panel];
        let (width, height) = plan.panels[panel].size;
        let b = placement.bbox;
        let (sx, sy) = (b.width() / width as f32, b.height() / height as f32);
        let bbox = BBox::new(
            b.x0 + x0 as f32 * sx,
            b.y0 + y0 as f32 * sy,
            b.x0 + x1 as f32 * sx,
            b.y0 + y1 as f32 * sy,
        );
        (document, region(document, placement.page, bbox))
    };

    let mut pairs = Vec::new();
    for (index, pair) in plan.pairs.iter().enumerate() {
        let (edits, params, (document_a, a), (document_b, b)) = match pair {
            PairPlan::Copy {
                source,
                copy,
                edits,
                same_object,
            } => {
                let mut params = edits::params(edits, plan.panels[*source].size);
                if let serde_json::Value::Object(map) = &mut params {
                    map.insert("source".into(), json!(plan.describe(*source, real)));
                    if edits.iter().all(|e| e.edit() == Edit::Exact) {
                        map.insert("same_image_object".into(), json!(same_object));
                    }
                }
                (
                    edits.iter().map(|e| e.edit()).collect(),
                    params,
                    whole(*source),
                    whole(*copy),
                )
            }
            PairPlan::Splice { donor, recipient } => {
                let splice = plan.panels[*recipient]
                    .splice_in
                    .clone()
                    .expect("a splice recipient records its splice");
                let (x0, y0, x1, y1) = splice.strip;
                let pasted = (
                    splice.at.0,
                    splice.at.1,
                    splice.at.0 + x1 - x0,
                    splice.at.1 + y1 - y0,
                );
                let params = json!({
                    "splice": {
                        "strip_px": [x0, y0, x1, y1],
                        "donor_px": [plan.panels[*donor].size.0, plan.panels[*donor].size.1],
                        "pasted_px": [pasted.0, pasted.1, pasted.2, pasted.3],
                        "recipient_px": [plan.panels[*recipient].size.0, plan.panels[*recipient].size.1],
                        "donor_panel": whole(*donor).1.bbox,
                        "recipient_panel": whole(*recipient).1.bbox,
                    },
                    "source": plan.describe(*donor, real),
                    "recipient": plan.describe(*recipient, real),
                });
                (
                    vec![Edit::Splice],
                    params,
                    part(*donor, splice.strip),
                    part(*recipient, pasted),
                )
            }
        };
        let kind = if document_a == document_b {
            PairKind::IntraDocument
        } else {
            PairKind::CrossDocument
        };
        pairs.push(TruthPair {
            id: index as u32 + 1,
            kind,
            edits,
            params,
            a,
            b,
        });
    }
    let hard_negatives = plan
        .negatives
        .iter()
        .map(|negative| HardNegative {
            reason: negative.reason.to_string(),
            a: whole(negative.a).1,
            b: whole(negative.b).1,
        })
        .collect();
    Truth {
        version: TRUTH_VERSION,
        seed: plan.seed,
        documents: written
            .iter()
            .map(|w| TruthDocument {
                file: w.file.clone(),
                doc: w.doc.clone(),
                pages: w.pages,
            })
            .collect(),
        pairs,
        hard_negatives,
    }
}
