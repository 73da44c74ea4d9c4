//! `panelscope compare`: how two image files relate, judged as the match stage judges two panels
//! of different documents (embedding similarity over the eight orientations, then geometric
//! verification), for a reviewer who holds two crops and wants the evidence for or against.

use std::path::Path;

use anyhow::{Context, Result};
use panelscope_models::embedder::Dihedral;
use panelscope_stages::assemble::thumbnail;
use panelscope_stages::store::as_stored;
use panelscope_stages::units::{PanelClass, Raster};
use panelscope_stages::verify::{Relation, content_scale, verify_classed};
use serde::Serialize;

use crate::config::Settings;

/// What `compare` found for a pair of images.
#[derive(Debug, Serialize)]
pub struct Comparison {
    /// The embedder that scored them (its fingerprint).
    pub model: String,
    /// Cosine similarity of the first image's vector and the second's in its best orientation.
    pub similarity: f32,
    /// The orientation of the second image that scored best, handed to verification as a hint.
    pub view: &'static str,
    /// What each image shows (blot, gel, microscopy, other), as the classifier says.
    pub classes: [PanelClass; 2],
    /// Geometric verification's relation of the second image to the first.
    pub relation: Relation,
}

/// Compares `first` with `second` under `settings` (`[embed]` picks the embedder, `[classify]`
/// and `[verify]` the rest). Each image is reduced to the thumbnail a panel keeps and passed
/// through the store's JPEG, as panels of two documents are before they are verified, and
/// classified as a panel drawn wholly by a picture.
pub fn run(settings: &Settings, first: &Path, second: &Path) -> Result<Comparison> {
    let (a, a_class, a_size) = panel_gray(settings, first)?;
    let (b, b_class, b_size) = panel_gray(settings, second)?;
    let embedder = settings.embed.embedder().map_err(anyhow::Error::msg)?;
    let model = embedder.fingerprint().to_string();
    let embedding = |e| anyhow::Error::from(e).context(format!("embedding with {model}"));
    let anchor = embedder
        .embed(std::slice::from_ref(&a))
        .map_err(embedding)?;
    let views = embedder
        .embed_views_many(std::slice::from_ref(&b), &Dihedral::ALL)
        .map_err(embedding)?;
    let (similarity, view) = Dihedral::ALL
        .iter()
        .zip(&views[0])
        .map(|(&view, vector)| {
            let cosine: f32 = anchor[0].iter().zip(vector).map(|(x, y)| x * y).sum();
            (cosine, view)
        })
        .fold((f32::MIN, Dihedral::Identity), |best, next| {
            if next.0 > best.0 { next } else { best }
        });
    let mut relation = verify_classed(
        (&a, Some(a_class)),
        (&b, Some(b_class)),
        view,
        &settings.verify,
    );
    // The scale a reviewer sees: of the images as given, not of their thumbnails.
    relation.scale = content_scale(&relation, a_size, b_size);
    Ok(Comparison {
        model,
        similarity,
        view: view.name(),
        classes: [a_class, b_class],
        relation,
    })
}

/// The gray thumbnail of the image at `path` as the store gives a panel back, its class, and
/// the image's size in pixels.
fn panel_gray(
    settings: &Settings,
    path: &Path,
) -> Result<(image::GrayImage, PanelClass, (u32, u32))> {
    let image = image::open(path)
        .with_context(|| format!("{}: not an image this build can read", path.display()))?
        .to_rgb8();
    let size = image.dimensions();
    anyhow::ensure!(
        size.0 > 0 && size.1 > 0,
        "{}: the image is empty",
        path.display()
    );
    let raster = as_stored(&thumbnail(&Raster::from_rgb(image)));
    let class = settings.classify.classify(&raster, 1.0);
    Ok((raster.to_gray(), class, size))
}
