//! assemble: gathers the pages of each document as they arrive from the page stages and, once all
//! are there, emits the document with its panels numbered for the store, in catalog order;
//! documents that lost a page to the dead letters are recorded as failed instead.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use image::DynamicImage;
use panelscope_engine::{
    BuildContext, ItemResult, Outputs, ReorderBuffer, Sequences, Stage, StageConfig, StageError,
};

use crate::phash::PHasher;
use crate::store::Store;
use crate::units::{
    BBox, DocumentId, DocumentInfo, DocumentPanels, Figure, FigureSource, PagePanels, PageRecord,
    Panel, PanelItem, Raster, THUMB_SIDE,
};

/// Builds the [`Assemble`] stage (one worker: it holds the pages of unfinished documents).
pub struct AssembleConfig {
    store: Arc<Store>,
    next_panel_id: Arc<AtomicI64>,
    sequences: Arc<Sequences>,
    order_hold: usize,
}

impl AssembleConfig {
    /// An assembler numbering panels after the store's last one, emitting documents in catalog
    /// order: a complete document waits for earlier ones (unless `sequences` settles them) while
    /// fewer than `order_hold` wait with it.
    pub fn new(
        store: Arc<Store>,
        sequences: Arc<Sequences>,
        order_hold: usize,
    ) -> Result<Self, crate::store::StoreError> {
        let next = store.max_panel_id()? + 1;
        Ok(Self {
            store,
            next_panel_id: Arc::new(AtomicI64::new(next)),
            sequences,
            order_hold,
        })
    }
}

impl StageConfig for AssembleConfig {
    type Stage = Assemble;

    fn build(&self, cx: &BuildContext) -> Result<Assemble, StageError> {
        if cx.workers != 1 {
            return Err(StageError::input(format!(
                "stage `{}` must run with exactly one worker (it has {})",
                cx.stage, cx.workers
            )));
        }
        Ok(Assemble {
            store: Arc::clone(&self.store),
            next_panel_id: Arc::clone(&self.next_panel_id),
            pending: HashMap::new(),
            complete: ReorderBuffer::new(Arc::clone(&self.sequences), &cx.stage, self.order_hold),
            hasher: PHasher::default(),
        })
    }
}

/// The pages of a document seen so far.
struct Pending {
    info: Arc<DocumentInfo>,
    pages: BTreeMap<u32, (PageRecord, Vec<PanelItem>)>,
}

/// The assemble stage.
pub struct Assemble {
    store: Arc<Store>,
    next_panel_id: Arc<AtomicI64>,
    pending: HashMap<DocumentId, Pending>,
    /// Complete documents waiting for earlier ones, their panels not yet numbered.
    complete: ReorderBuffer<DocumentPanels>,
    hasher: PHasher,
}

/// Standard deviation (grey levels) below which an area is one flat colour.
const FLAT_SPREAD: f32 = 4.0;
/// Standard deviation below which the inside of an outline is one colour as drawn (a chart's bar):
/// far below the grain of any photograph or scan, even an empty stretch of membrane.
const DRAWN_SPREAD: f32 = 1.0;

/// A copy no larger than [`THUMB_SIDE`] on its longest side.
pub fn thumbnail(raster: &Raster) -> Raster {
    let longest = raster.width.max(raster.height);
    if longest <= THUMB_SIDE {
        return raster.clone();
    }
    let scale = THUMB_SIDE as f32 / longest as f32;
    let (w, h) = (
        ((raster.width as f32 * scale) as u32).max(1),
        ((raster.height as f32 * scale) as u32).max(1),
    );
    // An exact integer block average takes big panels most of the way (a general resampler over
    // megapixels cost more than the rest of assembling); the last step is a small resample.
    let factor = longest / THUMB_SIDE;
    let shrunk;
    let raster = if factor >= 2 {
        shrunk = raster.box_shrink(factor);
        &shrunk
    } else {
        raster
    };
    Raster {
        width: w,
        height: h,
        channels: raster.channels,
        data: panelscope_models::resample::resample_raw(
            &raster.data,
            (raster.width, raster.height),
            usize::from(raster.channels.max(1)),
            (w, h),
        ),
    }
}

/// Whether a panel is too featureless to carry evidence: a blank or single-colour area, perhaps
/// outlined (a bar of a chart), or a smooth ramp (a colour-scale legend), which copies of each
/// other would match without meaning anything.
pub fn is_uniform(raster: &Raster) -> bool {
    let gray = raster.to_gray();
    let small = DynamicImage::ImageLuma8(gray).thumbnail(64, 64).to_luma8();
    let (w, h) = small.dimensions();
    let spread = |x0: u32, y0: u32, x1: u32, y1: u32| {
        let values: Vec<f32> = (y0..y1)
            .flat_map(|y| (x0..x1).map(move |x| (x, y)))
            .map(|(x, y)| small.get_pixel(x, y).0[0] as f32)
            .collect();
        let n = values.len().max(1) as f32;
        let mean = values.iter().sum::<f32>() / n;
        (values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n).sqrt()
    };
    // The inside of an outline, past its antialiasing (a pixel at least, on a thin bar).
    let (inset_x, inset_y) = ((w / 6).max(1), (h / 6).max(1));
    let roomy = w >= 2 * inset_x + 4 && h >= 2 * inset_y + 4;
    if spread(0, 0, w, h) < FLAT_SPREAD
        || (roomy && spread(inset_x, inset_y, w - inset_x, h - inset_y) < DRAWN_SPREAD)
    {
        return true;
    }
    // Changing along one axis only (a colour-scale legend, stripes): nothing a copy could be
    // told from a look-alike by.
    let along_columns = (0..w).map(|x| spread(x, 0, x + 1, h)).sum::<f32>() / w.max(1) as f32;
    let along_rows = (0..h).map(|y| spread(0, y, w, y + 1)).sum::<f32>() / h.max(1) as f32;
    if w >= 8 && h >= 8 && (along_columns < DRAWN_SPREAD || along_rows < DRAWN_SPREAD) {
        return true;
    }
    // Mean absolute Laplacian: how much local structure there is.
    let at = |x: u32, y: u32| small.get_pixel(x, y).0[0] as f32;
    let mut structure = 0.0;
    let mut count = 0.0;
    for y in 1..h.saturating_sub(1) {
        for x in 1..w.saturating_sub(1) {
            structure +=
                (4.0 * at(x, y) - at(x - 1, y) - at(x + 1, y) - at(x, y - 1) - at(x, y + 1)).abs();
            count += 1.0;
        }
    }
    count > 0.0 && structure / count < 0.5
}

/// Share of a panel's area, at most, that raster images may draw for it to be judged lettering by
/// the page's text layer: the rest is vector drawing and text.
const MAX_LETTERING_PICTURE_SHARE: f32 = 0.5;
/// Grey levels from a panel's commonest level past which a pixel is ink.
const LETTERING_INK_LEVELS: u8 = 48;
/// Share of a drawn panel's ink, at least, inside the boxes of the text layer's words for it to
/// be lettering alone: a chart's or a diagram's strokes and fills lie outside them.
const MIN_LETTERING_INK_SHARE: f32 = 0.8;
/// Pixels along a panel's edges left out when its ink is counted, at least, and as a share of its
/// side: the outline of a box drawn around a label.
const LETTERING_EDGE_PX: u32 = 3;
const LETTERING_EDGE_SHARE: f32 = 0.04;

/// Whether a panel drawn on the page (`picture_share` of it raster images) is words of the text
/// layer and nothing else (a diagram's node, a table's cell, a form's label): the same words set
/// in the same font match pixel for pixel without anything having been reused. Its ink, but for
/// a frame along its edges, lies inside the boxes of the words the figure holds.
pub fn is_lettering(figure: &Figure, panel: &Panel, picture_share: f32) -> bool {
    if picture_share > MAX_LETTERING_PICTURE_SHARE || figure.words.is_empty() {
        return false;
    }
    let gray = panel.raster.to_gray();
    let (w, h) = gray.dimensions();
    if w == 0 || h == 0 || panel.bbox.width() <= 0.0 || panel.bbox.height() <= 0.0 {
        return false;
    }
    // The words over the panel, in its pixels.
    let (sx, sy) = (
        w as f32 / panel.bbox.width(),
        h as f32 / panel.bbox.height(),
    );
    let mut in_words = vec![false; (w * h) as usize];
    for word in &figure.words {
        let x0 = ((word.x0 - panel.bbox.x0) * sx).floor().max(0.0) as u32;
        let y0 = ((word.y0 - panel.bbox.y0) * sy).floor().max(0.0) as u32;
        let x1 = (((word.x1 - panel.bbox.x0) * sx).ceil().max(0.0) as u32).min(w);
        let y1 = (((word.y1 - panel.bbox.y0) * sy).ceil().max(0.0) as u32).min(h);
        for y in y0..y1 {
            in_words[(y * w + x0.min(x1)) as usize..(y * w + x1) as usize].fill(true);
        }
    }
    let mut histogram = [0u32; 256];
    for &v in gray.as_raw() {
        histogram[usize::from(v)] += 1;
    }
    let ground = (0..=255u8)
        .max_by_key(|&v| histogram[usize::from(v)])
        .unwrap_or(0);
    let edge_x = LETTERING_EDGE_PX.max((LETTERING_EDGE_SHARE * w as f32) as u32);
    let edge_y = LETTERING_EDGE_PX.max((LETTERING_EDGE_SHARE * h as f32) as u32);
    let (mut ink, mut ink_in_words) = (0usize, 0usize);
    for y in edge_y..h.saturating_sub(edge_y) {
        for x in edge_x..w.saturating_sub(edge_x) {
            let at = (y * w + x) as usize;
            if gray.as_raw()[at].abs_diff(ground) > LETTERING_INK_LEVELS {
                ink += 1;
                ink_in_words += usize::from(in_words[at]);
            }
        }
    }
    ink > 0 && ink_in_words as f32 >= MIN_LETTERING_INK_SHARE * ink as f32
}

/// Share of `area` (page space) that raster images of `figure` draw.
pub fn picture_share(figure: &Figure, area: &BBox) -> f32 {
    const SAMPLES: usize = 16;
    if figure.source == FigureSource::Embedded {
        return 1.0;
    }
    let covered = (0..SAMPLES * SAMPLES)
        .filter(|k| {
            let (fx, fy) = ((k % SAMPLES) as f32 + 0.5, (k / SAMPLES) as f32 + 0.5);
            let x = area.x0 + area.width() * fx / SAMPLES as f32;
            let y = area.y0 + area.height() * fy / SAMPLES as f32;
            figure
                .pictures
                .iter()
                .any(|p| (p.x0..=p.x1).contains(&x) && (p.y0..=p.y1).contains(&y))
        })
        .count();
    covered as f32 / (SAMPLES * SAMPLES) as f32
}

impl Assemble {
    fn take(&mut self, page: &PagePanels) -> Option<DocumentPanels> {
        let doc = page.meta.doc;
        if self.store.failed_this_run(&doc) {
            self.pending.remove(&doc);
            return None;
        }
        let panels = page.figures.iter().enumerate().flat_map(|(f, entry)| {
            entry
                .panels
                .iter()
                .enumerate()
                .map(move |(k, panel)| (f, k, panel))
        });
        // The thumbnail is taken once; the uniformity test and the perceptual hash read it.
        let items: Vec<PanelItem> = panels
            .map(|(f, k, panel)| {
                let thumb = thumbnail(&panel.raster);
                let figure = &page.figures[f].figure;
                let picture_share = picture_share(figure, &panel.bbox);
                PanelItem {
                    id: 0,
                    page: page.meta.index,
                    figure: f as u32 + 1,
                    ordinal: k as u32 + 1,
                    bbox: panel.bbox,
                    uniform: is_uniform(&thumb) || is_lettering(figure, panel, picture_share),
                    thumb,
                    raster: Some(panel.raster.clone()),
                    gray: None,
                    picture_share,
                    class: None,
                }
            })
            .collect();
        let thumbs: Vec<&Raster> = items.iter().map(|item| &item.thumb).collect();
        let record = PageRecord::of(page, &thumbs, &self.hasher);
        let pending = self.pending.entry(doc).or_insert_with(|| Pending {
            info: Arc::clone(&page.meta.document),
            pages: BTreeMap::new(),
        });
        pending.pages.insert(page.meta.index, (record, items));
        if (pending.pages.len() as u32) < pending.info.pages_screened {
            return None;
        }
        let pending = self.pending.remove(&doc).expect("just seen");
        let mut pages = Vec::with_capacity(pending.pages.len());
        let mut panels = Vec::new();
        for (_, (record, items)) in pending.pages {
            pages.push(record);
            panels.extend(items);
        }
        Some(DocumentPanels {
            info: pending.info,
            pages,
            panels,
        })
    }

    /// Numbers the panels of documents let out of the reorder buffer, so that ids follow catalog
    /// order.
    fn numbered(&self, mut documents: Vec<DocumentPanels>) -> Vec<DocumentPanels> {
        for document in &mut documents {
            let first = self
                .next_panel_id
                .fetch_add(document.panels.len() as i64, Ordering::Relaxed);
            for (k, panel) in document.panels.iter_mut().enumerate() {
                panel.id = first + k as i64;
            }
        }
        documents
    }
}

impl Stage for Assemble {
    type In = PagePanels;
    type Out = DocumentPanels;

    fn process(&mut self, batch: &[PagePanels]) -> Vec<ItemResult<DocumentPanels>> {
        batch
            .iter()
            .map(|page| {
                let due = match self.take(page) {
                    Some(document) => {
                        let position = document.info.job.position;
                        self.complete.push(position, document)
                    }
                    None => self.complete.release(),
                };
                Ok(Outputs::Many(self.numbered(due)))
            })
            .collect()
    }

    fn on_tick(&mut self) -> Vec<DocumentPanels> {
        let due = self.complete.release();
        self.numbered(due)
    }

    fn on_close(&mut self) -> Result<Vec<DocumentPanels>, StageError> {
        // Whatever is still pending lost pages to the dead letters.
        for (doc, pending) in self.pending.drain() {
            let reason = format!(
                "only {} of {} pages were screened; the others are in dead_letters",
                pending.pages.len(),
                pending.info.pages_screened
            );
            self.store
                .record_failure(&doc, &pending.info.job.path, pending.info.job.size, &reason)
                .map_err(|e| StageError::external(e.to_string()))?;
        }
        let held = self.complete.drain();
        Ok(self.numbered(held))
    }

    fn describe(&self, page: &PagePanels) -> String {
        format!("{} page {}", page.meta.path.display(), page.meta.index + 1)
    }

    fn key(&self, page: &PagePanels) -> Option<String> {
        Some(page.meta.doc.to_hex())
    }

    fn sequence(&self, page: &PagePanels) -> Option<u64> {
        Some(page.meta.document.job.position)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use image::{Rgb, RgbImage};

    use super::*;

    /// The shared real-data folder (see its README.md).
    const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data");

    #[test]
    fn flat_areas_and_outlined_bars_are_uniform() {
        let blank = RgbImage::from_pixel(120, 80, Rgb([250, 250, 250]));
        assert!(is_uniform(&thumbnail(&Raster::from_rgb(blank))));
        // A bar of a chart: one flat colour inside a dark outline, with a whisker's cap above.
        let mut bar = RgbImage::from_pixel(40, 200, Rgb([68, 114, 196]));
        for (x, y, pixel) in bar.enumerate_pixels_mut() {
            if !(2..38).contains(&x) || !(2..198).contains(&y) {
                *pixel = Rgb([20, 20, 20]);
            }
        }
        assert!(is_uniform(&thumbnail(&Raster::from_rgb(bar))));
    }

    #[test]
    fn a_colour_scale_and_a_thin_outlined_bar_are_uniform() {
        // A legend's ramp, green to light green to blue (its lightness rises, then falls).
        let ramp = RgbImage::from_fn(380, 220, |x, _| {
            let t = x as f32 / 379.0;
            let (a, b, u) = if t < 0.5 {
                ([0.0, 170.0, 60.0], [140.0, 215.0, 80.0], t * 2.0)
            } else {
                ([140.0, 215.0, 80.0], [40.0, 60.0, 150.0], t * 2.0 - 1.0)
            };
            Rgb([0, 1, 2].map(|c| (a[c] + (b[c] - a[c]) * u) as u8))
        });
        assert!(is_uniform(&thumbnail(&Raster::from_rgb(ramp))));
        // A slider drawn as a thin grey bar, outlined, a small coloured square at each end.
        let mut bar = RgbImage::from_pixel(52, 344, Rgb([128, 128, 128]));
        for (x, y, pixel) in bar.enumerate_pixels_mut() {
            if !(2..50).contains(&x) || !(2..342).contains(&y) {
                *pixel = Rgb([30, 30, 30]);
            } else if (16..36).contains(&x) && !(22..322).contains(&y) {
                *pixel = if y < 22 {
                    Rgb([20, 160, 80])
                } else {
                    Rgb([60, 110, 180])
                };
            }
        }
        assert!(is_uniform(&thumbnail(&Raster::from_rgb(bar))));
    }

    #[test]
    fn real_blots_are_not_uniform() {
        let mut flagged = Vec::new();
        let mut seen = 0;
        for sub in ["blots/polimi", "blots/bowenjo"] {
            let dir = Path::new(DATA).join(sub);
            let entries = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("test data missing: {}: {e}", dir.display()));
            for entry in entries {
                let path = entry.expect("directory entry").path();
                let Ok(image) = image::open(&path) else {
                    continue;
                };
                seen += 1;
                if is_uniform(&thumbnail(&Raster::from_rgb(image.to_rgb8()))) {
                    flagged.push(path.display().to_string());
                }
            }
        }
        assert!(seen >= 300, "expected the real blots, found {seen}");
        // One real crop is an empty stretch of membrane with a few faint specks: no evidence.
        let featureless = ["polimi_gimp__img_000040_patch_005_gimp_gd.png"];
        flagged.retain(|path| !featureless.iter().any(|name| path.ends_with(name)));
        assert!(
            flagged.is_empty(),
            "real blots taken for uniform: {flagged:#?}"
        );
    }
}
