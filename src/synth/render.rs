//! Turns planned panels into pixels: originals from their procedural generator or real file,
//! copies by re-rendering the source and applying the edits, splices by pasting the donor's
//! strip. Every result is a pure function of the plan, so a document can render a source that
//! another document also draws.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Result, ensure};
use image::RgbImage;
use image::imageops::{self, FilterType};

use super::distractors;
use super::edits;
use super::panels;
use super::plan::{PanelContent, PanelId, PanelPlan, Plan, Source};
use super::real::RealCatalog;

/// The pixels of an original panel (before any splice), at its planned size.
pub(crate) fn render_original(panel: &PanelPlan, real: &RealCatalog) -> Result<RgbImage> {
    let (width, height) = panel.size;
    let PanelContent::Original(source) = &panel.content else {
        anyhow::bail!("render_original called on a copy");
    };
    Ok(match source {
        Source::Blot { style, seed } => panels::blot(style, *seed, width, height),
        Source::Gel { style, seed } => panels::gel(style, *seed, width, height),
        Source::Micrograph { style, seed } => distractors::micrograph(style, *seed, width, height),
        Source::Chart { kind, seed } => distractors::chart(*kind, *seed, width, height),
        Source::Diagram { seed } => distractors::diagram(*seed, width, height),
        Source::Real { image, crop } => {
            let pixels = real.images[*image].load()?;
            let (x0, y0, x1, y1) = *crop;
            let cropped = imageops::crop_imm(&pixels, x0, y0, x1 - x0, y1 - y0).to_image();
            if cropped.dimensions() == (width, height) {
                cropped
            } else {
                imageops::resize(&cropped, width, height, FilterType::CatmullRom)
            }
        }
    })
}

/// Renders panels of one document, remembering each so a source drawn twice is made once.
pub(crate) struct PanelRenderer<'a> {
    plan: &'a Plan,
    real: &'a RealCatalog,
    cache: HashMap<PanelId, Arc<RgbImage>>,
}

impl<'a> PanelRenderer<'a> {
    pub(crate) fn new(plan: &'a Plan, real: &'a RealCatalog) -> Self {
        Self {
            plan,
            real,
            cache: HashMap::new(),
        }
    }

    /// The final pixels of `panel`: edits applied, splice pasted.
    pub(crate) fn render(&mut self, panel: PanelId) -> Result<Arc<RgbImage>> {
        if let Some(image) = self.cache.get(&panel) {
            return Ok(image.clone());
        }
        let plan = &self.plan.panels[panel];
        let mut image = match &plan.content {
            PanelContent::Original(_) => render_original(plan, self.real)?,
            PanelContent::Copy { source, edits } => {
                let source = self.render(*source)?;
                edits::apply_all(edits, (*source).clone())?
            }
        };
        if let Some(splice) = &plan.splice_in {
            let donor = self.render(splice.donor)?;
            let (x0, y0, x1, y1) = splice.strip;
            let strip = imageops::crop_imm(donor.as_ref(), x0, y0, x1 - x0, y1 - y0).to_image();
            imageops::replace(
                &mut image,
                &strip,
                i64::from(splice.at.0),
                i64::from(splice.at.1),
            );
        }
        ensure!(
            image.dimensions() == plan.size,
            "panel {panel} rendered at {:?}, planned at {:?}",
            image.dimensions(),
            plan.size
        );
        let image = Arc::new(image);
        self.cache.insert(panel, image.clone());
        Ok(image)
    }
}
