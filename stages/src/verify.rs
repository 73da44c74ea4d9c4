//! verify: geometric verification of a candidate pair of panels. It finds how the second panel
//! relates to the first — a flip or quarter turn, a small rotation, a rescale, or a crop (one panel
//! inside the other) — by dense correlation of gray images whose intensities are matched to each
//! other, and reports the transform, the matching regions and the correlations. Whole panels are
//! also compared without a thin border, where boxes cut a pixel apart disagree, and a small turn
//! must beat the unturned panels over the same centre it compares; the few best alignments are
//! judged in turn. A mark in one place alone (a panel letter or arrow drawn on one copy) is left
//! out of the correlations, and a near miss whose grain is shared is registered to a fraction of
//! a pixel before it is judged.
//! A pair sharing grain whose ranks fail only because of a black background (clipped on one
//! side, re-noised on the other) has its ranks compared again without that dark floor.
//! Pictures with grain of their own that share a part only (two overlapping crops of one blot)
//! are laid part on part where their keypoints agree (verify/overlap.rs) and judged by the same
//! tests.
//! Only verified pairs reach a reviewer.

use image::GrayImage;
use panelscope_models::Dihedral;
use panelscope_models::resample::resample;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

mod overlap;
mod phase;

/// Settings of verification, read from `[verify]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VerifyConfig {
    /// Longest side of the images compared for whole-panel alignment, in pixels.
    pub work_side: u32,
    /// Longest side of the images searched for one panel inside the other, in pixels.
    pub search_side: u32,
    /// Smallest share of a panel's width another panel may be cropped to (0–1).
    pub min_crop_share: f32,
    /// Small rotations tried, in degrees either way.
    pub rotations_deg: Vec<f32>,
    /// Correlation (intensities matched to each other's distribution) from which a pair is
    /// verified (−1–1).
    pub min_correlation: f32,
    /// Correlation of the rank images (intensities replaced by their ranks) a pair must also
    /// reach. Ranks weigh every pixel alike, so a flat background's noise and a drawing's empty
    /// fill count as much as the content: shapes alike on their own (the bars of a chart, a
    /// look-alike's bands) do not reach it, copies whose background noise was re-encoded still do.
    /// A pair that shares grain (`min_fine_correlation`), or agrees as `strong_correlation` asks,
    /// is compared again without the dark floor of either image (a micrograph's black), when
    /// what remains is content.
    pub min_rank_correlation: f32,
    /// Correlation of the fine detail (band-pass) from which a pair is verified: look-alike blots
    /// share layout, copies share detail.
    pub min_detail_correlation: f32,
    /// Below this detail correlation, a pair must also share pixel-scale texture
    /// (`min_fine_correlation`): look-alikes drawn alike reach high detail correlations too, but
    /// their grain is their own.
    pub detail_needs_texture_below: f32,
    /// Correlation of the finest detail (grain, noise, compression artefacts) that shows two
    /// regions come from the same pixels; independent grain correlates near 0.
    pub min_fine_correlation: f32,
    /// From this correlation on, a pair whose grain did not survive (a heavy JPEG, a resample)
    /// is verified on its detail from `strong_min_detail_correlation`, or on its coarse detail
    /// from `strong_min_coarse_detail_correlation`, with at most `strong_max_left_out_share` of
    /// it left out (a label, a dark floor). Look-alikes drawn alike reach such correlations only
    /// with coarser detail.
    pub strong_correlation: f32,
    /// See `strong_correlation`.
    pub strong_min_detail_correlation: f32,
    /// See `strong_correlation`. Whole panels only. A heavy JPEG quantizes a blot's fine detail
    /// away (its copies' detail correlates at 0.7–0.95) but keeps the outlines of its bands:
    /// copies of real blots at quality 15 correlate at 0.99 and more in this band, the same
    /// bands of look-alike blots (one generator, or one membrane exposed twice) at 0.98 at most.
    /// Such a pair need not reach `min_detail_correlation` either: a JPEG of quality 10 leaves
    /// a real blot's detail at 0.75–0.9.
    pub strong_min_coarse_detail_correlation: f32,
    /// See `strong_correlation`.
    pub strong_max_left_out_share: f32,
    /// Two whole panels placed by their outlines that agree as `strong_correlation` asks, with
    /// nothing left out, whose detail and coarse detail both correlate from this on, are verified
    /// whatever their ranks: a pale micrograph's background is noise a copy drawn at another size
    /// renews (an exact copy drawn at 1.8 times the size: ranks 0.66, detail 0.99), and shapes
    /// alike on their own, which the rank floor is for, do not reach such detail (at most 0.965
    /// from a correlation of 0.98 on, among seven synthetic catalogs' unverified relations).
    pub rank_free_min_detail_correlation: f32,
    /// Coarse-detail correlation from which a near miss of two pictures (neither classed
    /// `other`) whose grain was lost (fine correlation below 0.3: a rescale, a JPEG) is verified
    /// once registered to a fraction of a pixel, with layout and detail as `strong_correlation`
    /// asks. Registration fits position and scale freely, which lifts rows of bands drawn alike
    /// to 0.985–0.991 in this band; copies whose boxes differ by a pixel or two register at
    /// 0.992–0.999 (ten synthetic catalogs).
    pub registered_min_coarse_detail_correlation: f32,
    /// Correlation of the finest detail from which two aligned pictures share their grain so
    /// plainly that they are one picture even where part of it was changed (a band added, one
    /// cleaned away, a blob pasted in): verified when, outside up to four changed regions, they
    /// correlate as copies do (`min_correlation`), and as a whole from
    /// `shared_grain_min_correlation` on. Independent grain correlates near 0.
    pub min_shared_grain: f32,
    /// See `min_shared_grain`. Pictures textured all over (a membrane, a micrograph: half their
    /// pixels off their surroundings by half a level or more) need not reach it: a large edit
    /// (a blob pasted over a band) takes their whole correlation anywhere, and their grain is
    /// theirs alone. A drawing shares its strokes and rules with any other drawn alike, so two
    /// table cells with different symbols must still correlate as a whole.
    pub shared_grain_min_correlation: f32,
    /// A drawn graphic (class `other`) verified this many times over within one document is a
    /// design element (an icon, a legend, a label), not reuse: its matches are kept in the store
    /// and out of the match stream. 0 = never.
    pub min_graphic_repeats: usize,
    /// Pictures textured all over (a membrane, a micrograph) that share a part only, neither
    /// lying whole in the other, are laid on each other where their keypoints agree (which also
    /// finds crops too small for the crop search); they are verified as copies are, and must
    /// also share their grain from this correlation of the finest detail on: a part laid on a
    /// part has more freedom to fit than a whole panel, and look-alike rows of bands fit it at
    /// 0.1–0.2. Real overlapping crops of one blot share it from 0.3 on in 362 of 374 pairs
    /// (`cargo bench --bench real_pairs`).
    pub partial_min_fine_correlation: f32,
    /// Finest-detail correlation from which a part of a panel found again elsewhere in it is
    /// one copied (see [`verify_within`]): look-alike bands and cells, drawn alike within one
    /// picture, have grain of their own.
    pub within_min_fine_correlation: f32,
    /// Whether each blot and gel is searched for parts of it repeated elsewhere in it (a copied
    /// band or lane), recorded as a match of the panel with itself.
    pub search_within_panels: bool,
    /// Whether every two blots or gels of a document are searched, at the scale they were drawn
    /// at, for a part of one moved into the other (a band spliced from another blot).
    pub search_shared_parts: bool,
    /// Most pairs of one document searched for shared parts, the nearest in reading order
    /// first (pairs of one page before pairs of two): a paper of hundreds of blots would cost
    /// each of its tens of thousands of pairs a transform. The pairs left out are counted in
    /// `panelscope_verify_shared_pairs_skipped_total` and logged with the document.
    pub max_shared_part_pairs: usize,
}

impl Default for VerifyConfig {
    fn default() -> Self {
        Self {
            work_side: 96,
            search_side: 64,
            min_crop_share: 0.45,
            rotations_deg: vec![-5.0, -4.0, -3.0, -2.0, -1.0, 1.0, 2.0, 3.0, 4.0, 5.0],
            min_correlation: 0.97,
            min_rank_correlation: 0.8,
            min_detail_correlation: 0.85,
            detail_needs_texture_below: 0.97,
            min_fine_correlation: 0.1,
            strong_correlation: 0.98,
            strong_min_detail_correlation: 0.95,
            strong_min_coarse_detail_correlation: 0.985,
            strong_max_left_out_share: 0.05,
            rank_free_min_detail_correlation: 0.985,
            registered_min_coarse_detail_correlation: 0.995,
            min_shared_grain: 0.6,
            shared_grain_min_correlation: 0.8,
            min_graphic_repeats: 4,
            partial_min_fine_correlation: 0.3,
            within_min_fine_correlation: 0.5,
            search_within_panels: true,
            search_shared_parts: true,
            max_shared_part_pairs: 2048,
        }
    }
}

/// How the second panel relates to the first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Relation {
    /// The flip or quarter turn applied to the second panel to align it with the first.
    pub dihedral: String,
    /// Extra rotation (degrees, counter-clockwise) after the dihedral transform.
    #[serde(deserialize_with = "lenient::number")]
    pub rotation_deg: f32,
    /// Size of the matching content in the second panel relative to the first (second / first).
    #[serde(deserialize_with = "lenient::number")]
    pub scale: f32,
    /// The matching region of the first panel, as fractions of its width and height
    /// `[x0, y0, x1, y1]`.
    #[serde(deserialize_with = "lenient::region")]
    pub region_a: [f32; 4],
    /// The matching region of the second panel, in fractions of the second panel as drawn.
    #[serde(deserialize_with = "lenient::region")]
    pub region_b: [f32; 4],
    /// Correlation of the aligned regions (each one's intensities matched to the other's).
    #[serde(deserialize_with = "lenient::number")]
    pub correlation: f32,
    /// Correlation of the aligned regions' rank images.
    #[serde(default, deserialize_with = "lenient::number")]
    pub rank_correlation: f32,
    /// Correlation of their fine detail.
    #[serde(deserialize_with = "lenient::number")]
    pub detail_correlation: f32,
    /// Correlation of their coarse detail (structure a few to a dozen work pixels across: band
    /// outlines, cell shapes), which a heavy JPEG keeps where it takes the fine detail.
    #[serde(default, deserialize_with = "lenient::number")]
    pub coarse_detail_correlation: f32,
    /// Correlation of their finest detail (pixel-scale texture: grain, noise, compression), at
    /// the resolution of the smaller of the two regions.
    #[serde(default, deserialize_with = "lenient::number")]
    pub fine_correlation: f32,
    /// Share of the aligned area left out of the correlations because the two differ there
    /// alone: a panel letter, arrow or mark on one side (0 when none).
    #[serde(default, deserialize_with = "lenient::number")]
    pub left_out_share: f32,
    /// Verified as one picture of which a part was changed (bands added or cleaned away, a
    /// region pasted over): the two share their grain, and agree as copies do outside the
    /// changed part, which `left_out_share` measures.
    #[serde(default)]
    pub edited: bool,
    /// The two share a part only, neither lying whole in the other: two crops of one picture
    /// that overlap, or a picture mostly regenerated around a part kept. `region_a` and
    /// `region_b` are that part in each.
    #[serde(default)]
    pub partial: bool,
    /// The two regions are parts of one panel: `region_a` a part of it found again at
    /// `region_b` (a band or a group of cells copied within one picture).
    #[serde(default)]
    pub within: bool,
    /// Whether both correlations clear the thresholds.
    pub verified: bool,
}

impl Relation {
    /// The relation with every number finite: a degenerate comparison (a sliver of a panel, a
    /// few pixels high at the working size) can leave a NaN, which JSON cannot hold. Such a
    /// relation is not verified; its unknown numbers become neutral ones (scale 1, whole regions,
    /// no correlation).
    pub fn finite_or_unverified(self) -> Self {
        let finite = [
            self.rotation_deg,
            self.scale,
            self.correlation,
            self.rank_correlation,
            self.detail_correlation,
            self.coarse_detail_correlation,
            self.fine_correlation,
            self.left_out_share,
        ]
        .into_iter()
        .chain(self.region_a)
        .chain(self.region_b)
        .all(f32::is_finite);
        if finite {
            return self;
        }
        let or = |value: f32, neutral: f32| if value.is_finite() { value } else { neutral };
        let region = |r: [f32; 4]| [or(r[0], 0.0), or(r[1], 0.0), or(r[2], 1.0), or(r[3], 1.0)];
        Self {
            rotation_deg: or(self.rotation_deg, 0.0),
            scale: or(self.scale, 1.0),
            region_a: region(self.region_a),
            region_b: region(self.region_b),
            correlation: or(self.correlation, 0.0),
            rank_correlation: or(self.rank_correlation, 0.0),
            detail_correlation: or(self.detail_correlation, 0.0),
            coarse_detail_correlation: or(self.coarse_detail_correlation, 0.0),
            fine_correlation: or(self.fine_correlation, 0.0),
            left_out_share: or(self.left_out_share, 0.0),
            verified: false,
            ..self
        }
    }
}

/// Reading numbers that JSON holds as `null` (how a NaN is written) as NaN, so that relations
/// stored before [`Relation::finite_or_unverified`] existed still load.
mod lenient {
    use serde::{Deserialize, Deserializer};

    pub fn number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f32, D::Error> {
        Ok(Option::<f32>::deserialize(deserializer)?.unwrap_or(f32::NAN))
    }

    pub fn region<'de, D: Deserializer<'de>>(deserializer: D) -> Result<[f32; 4], D::Error> {
        let values = <[Option<f32>; 4]>::deserialize(deserializer)?;
        Ok(values.map(|v| v.unwrap_or(f32::NAN)))
    }
}

/// `image` downscaled to twice `side` on its longest side when it is larger than that: a source
/// for resamples of at most `side` that costs a fraction of the original.
fn shrunk_for(image: &GrayImage, side: u32) -> GrayImage {
    if image.width().max(image.height()) > 2 * side {
        fit(image, 2 * side)
    } else {
        image.clone()
    }
}

/// Resizes so the longest side is `side` (never upscaling by more than 4×).
fn fit(image: &GrayImage, side: u32) -> GrayImage {
    let (w, h) = image.dimensions();
    let longest = w.max(h).max(1) as f32;
    let scale = side as f32 / longest;
    let (nw, nh) = (
        ((w as f32 * scale).round() as u32).max(1),
        ((h as f32 * scale).round() as u32).max(1),
    );
    if scale < 1.0 {
        resample(image, nw, nh)
    } else {
        image::imageops::resize(image, nw, nh, image::imageops::FilterType::CatmullRom)
    }
}

/// How many of `levels` sit at each gray level.
fn level_counts<'a>(levels: impl IntoIterator<Item = &'a u8>) -> [u32; 256] {
    let mut counts = [0u32; 256];
    for &level in levels {
        counts[usize::from(level)] += 1;
    }
    counts
}

/// Pixel values replaced by their ranks in [0, 1]: invariant to monotonic intensity changes.
fn ranks(image: &GrayImage) -> Vec<f32> {
    let histogram = level_counts(image.as_raw());
    let total = (image.width() * image.height()).max(2) as f32;
    let mut below = 0u32;
    let mut rank = [0f32; 256];
    for (value, count) in histogram.iter().enumerate() {
        rank[value] = (below as f32 + (*count as f32 - 1.0) / 2.0) / (total - 1.0);
        below += count;
    }
    image.pixels().map(|p| rank[p.0[0] as usize]).collect()
}

/// The gray levels of `image`, row by row.
fn intensities(image: &GrayImage) -> Vec<f32> {
    image.pixels().map(|p| f32::from(p.0[0])).collect()
}

fn pearson(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len()) as f32;
    if n < 2.0 {
        return 0.0;
    }
    let (ma, mb) = (a.iter().sum::<f32>() / n, b.iter().sum::<f32>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        let (dx, dy) = (x - ma, y - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    if saa <= 1e-9 || sbb <= 1e-9 {
        0.0
    } else {
        sab / (saa * sbb).sqrt()
    }
}

/// Radius of the box blur that detail is taken against.
const DETAIL_RADIUS: isize = 3;

/// Band-pass detail: the image minus its 7×7 box blur.
fn detail(values: &[f32], width: usize, height: usize) -> Vec<f32> {
    high_pass(values, width, height, DETAIL_RADIUS)
}

/// The image minus its box blur of radius `r` (the blur averages the window's pixels inside the
/// image). Window sums come from an integral image: verification takes dozens of these per pair.
fn high_pass(values: &[f32], width: usize, height: usize, r: isize) -> Vec<f32> {
    let stride = width + 1;
    let mut integral = vec![0f64; stride * (height + 1)];
    for y in 0..height {
        let mut row = 0f64;
        for x in 0..width {
            row += f64::from(values[y * width + x]);
            integral[(y + 1) * stride + x + 1] = integral[y * stride + x + 1] + row;
        }
    }
    let r = r.max(0) as usize;
    let mut out = vec![0f32; values.len()];
    for y in 0..height {
        let (y0, y1) = (y.saturating_sub(r), (y + r + 1).min(height));
        for x in 0..width {
            let (x0, x1) = (x.saturating_sub(r), (x + r + 1).min(width));
            let sum = integral[y1 * stride + x1]
                - integral[y0 * stride + x1]
                - integral[y1 * stride + x0]
                + integral[y0 * stride + x0];
            let count = ((y1 - y0) * (x1 - x0)) as f64;
            let i = y * width + x;
            out[i] = values[i] - (sum / count) as f32;
        }
    }
    out
}

/// `image` turned by `degrees` about its centre (bilinear), corners filled with its median.
pub(crate) fn rotate(image: &GrayImage, degrees: f32) -> GrayImage {
    let (w, h) = image.dimensions();
    let histogram = level_counts(image.as_raw());
    let half = w * h / 2;
    let mut seen = 0;
    let fill = (0..=255u8)
        .find(|&v| {
            seen += histogram[usize::from(v)];
            seen > half
        })
        .unwrap_or(0);
    let (sin, cos) = degrees.to_radians().sin_cos();
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    let source = image.as_raw();
    let stride = w as usize;
    let p = |x: u32, y: u32| f32::from(source[y as usize * stride + x as usize]);
    let mut out = Vec::with_capacity(source.len());
    for y in 0..h {
        let dy = y as f32 + 0.5 - cy;
        for x in 0..w {
            let dx = x as f32 + 0.5 - cx;
            let sx = cos * dx + sin * dy + cx - 0.5;
            let sy = -sin * dx + cos * dy + cy - 0.5;
            if sx < 0.0 || sy < 0.0 || sx > (w - 1) as f32 || sy > (h - 1) as f32 {
                out.push(fill);
                continue;
            }
            let (x0, y0) = (sx as u32, sy as u32);
            let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
            let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
            let v = p(x0, y0) * (1.0 - fx) * (1.0 - fy)
                + p(x1, y0) * fx * (1.0 - fy)
                + p(x0, y1) * (1.0 - fx) * fy
                + p(x1, y1) * fx * fy;
            out.push((v + 0.5) as u8);
        }
    }
    GrayImage::from_raw(w, h, out).expect("size matches its data")
}

/// `b`'s intensities mapped onto `a`'s distribution (histogram specification): each value of `b`
/// becomes the value of `a` at the same quantile. Any monotonic change of brightness, contrast or
/// gamma between the two is undone, while a flat background keeps its small spread (ranks would
/// stretch its noise over most of the range).
fn specified(a: &GrayImage, b: &GrayImage) -> Vec<f32> {
    specified_outside(a, b, None)
}

/// [`specified`] with both distributions read outside `left_out` (every pixel when `None`): a
/// changed region (bands cleaned away, a blob pasted in) is not the same content in the two, and
/// its levels would shift every other. Levels of `b` found only inside it keep their distance to
/// the nearest level found outside, so what was changed still differs.
fn specified_outside(a: &GrayImage, b: &GrayImage, left_out: Option<&[bool]>) -> Vec<f32> {
    let kept = |image: &GrayImage| match left_out {
        None => level_counts(image.as_raw()),
        Some(out) => level_counts(
            image
                .as_raw()
                .iter()
                .zip(out)
                .filter(|(_, out)| !**out)
                .map(|(level, _)| level),
        ),
    };
    let (sorted_a, histogram_b) = (kept(a), kept(b));
    let total_a = sorted_a.iter().sum::<u32>().max(1);
    let total_b = histogram_b.iter().sum::<u32>().max(1);
    // Cumulative counts of `a`, to read the value at any quantile.
    let mut cumulative_a = [0u32; 256];
    let mut running = 0;
    for (value, count) in sorted_a.iter().enumerate() {
        running += count;
        cumulative_a[value] = running;
    }
    let value_at = |quantile: f32| -> f32 {
        let position = quantile * (total_a - 1) as f32;
        let below = position.floor() as u32;
        let value = |index: u32| cumulative_a.partition_point(|&c| c <= index) as f32;
        let (low, high) = (value(below), value(below + 1));
        low + (high - low) * (position - below as f32)
    };
    let mut mapping = [None; 256];
    let mut below = 0u32;
    for (value, count) in histogram_b.iter().enumerate() {
        if *count > 0 {
            let mid_rank =
                (below as f32 + (*count as f32 - 1.0) / 2.0) / (total_b - 1).max(1) as f32;
            mapping[value] = Some(value_at(mid_rank.clamp(0.0, 1.0)));
        }
        below += count;
    }
    // The nearest level found below and above each level, for levels found only inside.
    let mut below_found = [None; 256];
    let mut above_found = [None; 256];
    for level in 0..256 {
        below_found[level] = if mapping[level].is_some() {
            Some(level)
        } else {
            level.checked_sub(1).and_then(|l| below_found[l])
        };
    }
    for level in (0..256).rev() {
        above_found[level] = if mapping[level].is_some() {
            Some(level)
        } else {
            above_found.get(level + 1).copied().flatten()
        };
    }
    let table: Vec<f32> = (0..256)
        .map(|level| {
            let nearest = match (below_found[level], above_found[level]) {
                (Some(low), Some(high)) => Some(if level - low <= high - level {
                    low
                } else {
                    high
                }),
                (low, high) => low.or(high),
            };
            nearest.map_or(level as f32, |l| {
                mapping[l].expect("a found level") + level as f32 - l as f32
            })
        })
        .collect();
    b.pixels().map(|p| table[usize::from(p.0[0])]).collect()
}

/// How two aligned images of equal size agree.
struct Agreement {
    /// Correlation of the intensities, each side's mapped onto the other's distribution.
    correlation: f32,
    /// Correlation of their detail.
    detail_correlation: f32,
    /// Pixels left out as a local difference (a letter, arrow or mark on one side only).
    left_out: Vec<bool>,
}

/// Cells along the longer side of the grid in which local differences are looked for.
const MARK_CELLS_PER_SIDE: usize = 12;
/// A cell differs locally when its mean difference is this many times the typical cell's ...
const MARK_CELL_RATIO: f32 = 4.0;
/// ... and at least this many gray levels.
const MARK_MIN_LEVELS: f32 = 16.0;
/// Most of the area that may be left out: differences spread wider than this are no mark.
const MARK_MAX_SHARE: f32 = 0.12;
/// Least share of a cell's difference energy in its sharp edges (a 3×3 high-pass) for the cell
/// to hold a drawn mark.
const MARK_MIN_EDGE_SHARE: f32 = 0.1;
/// Share of [`MARK_MIN_EDGE_SHARE`] a cell in a corner of the grid must reach.
const CORNER_EDGE_SHARE_FACTOR: f32 = 0.5;
/// Most separate marks: a panel letter is one; differences in several places are content.
const MARK_MAX_BLOBS: usize = 1;
/// Least share of each picture's variance (each pixel's deviation capped, see
/// [`HELD_CAP_PERCENTILE`]) that must remain once marks are left out.
const MARK_MIN_HELD: f32 = 0.6;
/// Percentile of a picture's deviations from its median at which each pixel's weight in the
/// share held is capped.
const HELD_CAP_PERCENTILE: usize = 90;
/// Percentile of a flat picture's deviations outside its marks at which each pixel's weight in
/// the share held is capped.
const HELD_FLAT_CAP_PERCENTILE: usize = 99;
/// Share of the shorter side at each border (a frame, a table's rules) not counted in what a
/// flat picture shows outside its marks.
const HELD_BORDER_SHARE: f32 = 0.1;
/// Least deviation (gray levels) of what a flat picture shows outside its marks for it to count
/// as content: noise and JPEG ringing stay under it.
const HELD_MIN_CONTENT_LEVELS: f32 = 6.0;
/// Median deviation (gray levels) under which a picture is flat, its weights capped by what it
/// shows outside its marks.
const HELD_MIN_CAP_LEVELS: f32 = 1.0;

/// The grid cells where two images differ far more than in most cells.
struct CellDifferences {
    /// Side of a cell, in pixels.
    cell: usize,
    columns: usize,
    rows: usize,
    /// The cells (row-major) whose mean difference stands out.
    outliers: Vec<usize>,
}

/// The cells (about [`MARK_CELLS_PER_SIDE`] along the longer side) where `a` and `b`
/// (intensities already matched) differ on average [`MARK_CELL_RATIO`] times more than in the
/// typical cell, and by [`MARK_MIN_LEVELS`] at least; none when the grid would be too coarse.
fn difference_cells(
    a: &[f32],
    b: &[f32],
    (width, height): (usize, usize),
) -> Option<CellDifferences> {
    let cell = (width.max(height) / MARK_CELLS_PER_SIDE).max(4);
    let (columns, rows) = (width.div_ceil(cell), height.div_ceil(cell));
    if columns * rows < 16 {
        return None;
    }
    let mut sums = vec![(0f32, 0u32); columns * rows];
    for y in 0..height {
        for x in 0..width {
            let i = y * width + x;
            let slot = &mut sums[(y / cell) * columns + x / cell];
            slot.0 += (a[i] - b[i]).abs();
            slot.1 += 1;
        }
    }
    let means: Vec<f32> = sums.iter().map(|(s, n)| s / (*n).max(1) as f32).collect();
    let mut sorted = means.clone();
    sorted.sort_by(f32::total_cmp);
    let typical = sorted[sorted.len() / 2];
    let limit = (typical * MARK_CELL_RATIO).max(MARK_MIN_LEVELS);
    let outliers = (0..means.len()).filter(|&c| means[c] > limit).collect();
    Some(CellDifferences {
        cell,
        columns,
        rows,
        outliers,
    })
}

/// Marks the pixels of `cells` (of a grid of `columns` cells `cell` pixels wide), grown by
/// `grow` pixels, in `mask`.
fn paint_cells(
    mask: &mut [bool],
    cells: &[usize],
    (cell, columns): (usize, usize),
    (width, height): (usize, usize),
    grow: usize,
) {
    for &c in cells {
        let (cx, cy) = (c % columns, c / columns);
        let (x0, y0) = (
            (cx * cell).saturating_sub(grow),
            (cy * cell).saturating_sub(grow),
        );
        let (x1, y1) = (
            ((cx + 1) * cell + grow).min(width),
            ((cy + 1) * cell + grow).min(height),
        );
        for y in y0..y1 {
            mask[y * width + x0..y * width + x1].fill(true);
        }
    }
}

/// The pixels of cells where `a` and `b` (intensities already matched) differ far more than
/// elsewhere, grown by `grow` pixels, when such cells cover at most [`MARK_MAX_SHARE`] of the
/// image: a panel letter, an arrow or a mark drawn on one copy and not the other. A copy is still
/// a copy with its label changed, while look-alikes differ all over and keep every pixel.
fn local_marks(
    a: &[f32],
    b: &[f32],
    (width, height): (usize, usize),
    grow: usize,
    turned: bool,
) -> Vec<bool> {
    let limits = if turned { &TURNED_MARKS } else { &MARKS };
    local_differences(a, b, (width, height), grow, limits)
}

/// What a local difference may be: how much of the image, in how many places, how sharp.
struct DifferenceLimits {
    /// Most of the area the differing cells may cover.
    max_share: f32,
    /// Most separate groups of differing cells.
    max_blobs: usize,
    /// Most separate groups when every group reaches into a corner of the picture.
    max_corner_blobs: usize,
    /// Least share of each differing cell's difference energy in sharp edges.
    min_edge_share: f32,
    /// Least share of each picture's variance that must remain once they are left out.
    min_held: f32,
}

/// A panel letter, an arrow or a mark drawn on one copy only: small, in one place, sharp.
const MARKS: DifferenceLimits = DifferenceLimits {
    max_share: MARK_MAX_SHARE,
    max_blobs: MARK_MAX_BLOBS,
    max_corner_blobs: MARK_MAX_BLOBS,
    min_edge_share: MARK_MIN_EDGE_SHARE,
    min_held: MARK_MIN_HELD,
};

/// Marks between a picture and a flipped or turned copy: each copy's own panel letter, in the
/// same corner of each, lands in two corners once one is turned onto the other.
const TURNED_MARKS: DifferenceLimits = DifferenceLimits {
    max_corner_blobs: 2,
    ..MARKS
};

/// An edit of a picture (bands added or cleaned away, a region pasted over or inpainted): up to
/// a third of it, in a few places, as smooth as the picture itself. Edits go where the content
/// is, so less of each picture's variance may remain than around a mark.
const EDITS: DifferenceLimits = DifferenceLimits {
    max_share: 0.3,
    max_blobs: 4,
    max_corner_blobs: 4,
    min_edge_share: 0.0,
    min_held: 0.3,
};

/// The pixels of cells where `a` and `b` (intensities already matched) differ far more than
/// elsewhere, grown by `grow` pixels, when such cells stay within `limits`.
fn local_differences(
    a: &[f32],
    b: &[f32],
    (width, height): (usize, usize),
    grow: usize,
    limits: &DifferenceLimits,
) -> Vec<bool> {
    let mut left_out = vec![false; a.len()];
    let Some(CellDifferences {
        cell,
        columns,
        rows,
        outliers,
    }) = difference_cells(a, b, (width, height))
    else {
        return left_out;
    };
    let cells = columns * rows;
    if outliers.is_empty() || outliers.len() as f32 > limits.max_share * cells as f32 {
        return left_out;
    }
    // A mark is drawn: its difference has sharp edges. Different bands or cells of look-alikes
    // differ smoothly.
    let difference: Vec<f32> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let edges = high_pass(&difference, width, height, 1);
    let mut energy = vec![(0f32, 0f32); columns * rows];
    for y in 0..height {
        for x in 0..width {
            let i = y * width + x;
            let slot = &mut energy[(y / cell) * columns + x / cell];
            slot.0 += edges[i] * edges[i];
            slot.1 += difference[i] * difference[i];
        }
    }
    // A panel letter sits in a corner, where a resample to the work size blurs its strokes
    // into its surroundings: a corner cell of a picture at least three cells either way is
    // held to a part of the edge share.
    let in_outer_corner = |c: usize| {
        let (cx, cy) = (c % columns, c / columns);
        columns >= 3 && rows >= 3 && (cx == 0 || cx + 1 == columns) && (cy == 0 || cy + 1 == rows)
    };
    let marked: Vec<usize> = outliers
        .into_iter()
        .filter(|&c| {
            let share = if in_outer_corner(c) {
                limits.min_edge_share * CORNER_EDGE_SHARE_FACTOR
            } else {
                limits.min_edge_share
            };
            energy[c].0 >= share * energy[c].1
        })
        .collect();
    if marked.is_empty() {
        return left_out;
    }
    let groups = blobs(&marked, columns);
    let count = groups.iter().max().map_or(0, |last| last + 1);
    if count > limits.max_blobs {
        // Letters sit in corners: within the outer quarter of the grid both ways.
        let (margin_x, margin_y) = ((columns / 4).max(1), (rows / 4).max(1));
        let in_corner = |c: usize| {
            let (cx, cy) = (c % columns, c / columns);
            (cx < margin_x || cx + margin_x >= columns) && (cy < margin_y || cy + margin_y >= rows)
        };
        let every_blob_in_a_corner = (0..count).all(|group| {
            marked
                .iter()
                .zip(&groups)
                .any(|(&c, &g)| g == group && in_corner(c))
        });
        if count > limits.max_corner_blobs || !every_blob_in_a_corner {
            return left_out;
        }
    }
    paint_cells(
        &mut left_out,
        &marked,
        (cell, columns),
        (width, height),
        grow,
    );
    // What is left must still hold most of each picture: a mark is a small part of it. Each
    // pixel's weight is capped at the picture's typical strong deviation, so a letter drawn in
    // full black or white on a faint picture does not outweigh the picture itself.
    let held = |values: &[f32]| {
        let mut sorted = values.to_vec();
        sorted.sort_by(f32::total_cmp);
        let median = sorted[sorted.len() / 2];
        let mut deviations: Vec<f32> = values.iter().map(|v| (v - median).abs()).collect();
        deviations.sort_by(f32::total_cmp);
        // A picture textured all over (half its pixels off its median) is weighed up to its
        // typical strong deviation. A flat one is weighed up to the strongest deviation it shows
        // inside its borders outside the marks, when that is content: a letter in full white on
        // a dim micrograph does not outweigh its cells. On a blank box, or a table cell within
        // its rules, what differs is all there is, and uncapped it outweighs what is left.
        let cap = if deviations[deviations.len() / 2] < HELD_MIN_CAP_LEVELS {
            let border = ((width.min(height) as f32 * HELD_BORDER_SHARE) as usize).max(1);
            let inside = |i: usize| {
                let (x, y) = (i % width, i / width);
                x >= border && y >= border && x + border < width && y + border < height
            };
            let mut outside: Vec<f32> = values
                .iter()
                .zip(&left_out)
                .enumerate()
                .filter(|(i, (_, out))| !**out && inside(*i))
                .map(|(_, (v, _))| (v - median).abs())
                .collect();
            outside.sort_by(f32::total_cmp);
            match outside.get((outside.len() * HELD_FLAT_CAP_PERCENTILE) / 100) {
                Some(&strongest) if strongest >= HELD_MIN_CONTENT_LEVELS => strongest,
                _ => f32::MAX,
            }
        } else {
            deviations[(deviations.len() * HELD_CAP_PERCENTILE) / 100]
        };
        let (mut kept, mut total) = (0f32, 0f32);
        for (v, out) in values.iter().zip(&left_out) {
            let deviation = (v - median).abs().min(cap);
            total += deviation * deviation;
            if !out {
                kept += deviation * deviation;
            }
        }
        kept >= limits.min_held * total
    };
    if !held(a) || !held(b) {
        left_out.fill(false);
    }
    left_out
}

/// The group of touching cells (8-neighbours) each of `cells` belongs to on a grid `columns`
/// wide, numbered from 0.
fn blobs(cells: &[usize], columns: usize) -> Vec<usize> {
    let mut group: Vec<Option<usize>> = vec![None; cells.len()];
    let mut count = 0;
    for start in 0..cells.len() {
        if group[start].is_some() {
            continue;
        }
        group[start] = Some(count);
        let mut stack = vec![start];
        while let Some(i) = stack.pop() {
            let (x, y) = ((cells[i] % columns) as isize, (cells[i] / columns) as isize);
            for j in 0..cells.len() {
                let (u, v) = ((cells[j] % columns) as isize, (cells[j] / columns) as isize);
                if group[j].is_none() && (u - x).abs() <= 1 && (v - y).abs() <= 1 {
                    group[j] = Some(count);
                    stack.push(j);
                }
            }
        }
        count += 1;
    }
    group
        .into_iter()
        .map(|g| g.expect("every cell is grouped"))
        .collect()
}

/// The values of `values` at the pixels not left out.
fn kept(values: &[f32], left_out: &[bool]) -> Vec<f32> {
    values
        .iter()
        .zip(left_out)
        .filter(|(_, out)| !**out)
        .map(|(v, _)| *v)
        .collect()
}

/// [`pearson`] over the pixels not left out.
fn pearson_outside(a: &[f32], b: &[f32], left_out: &[bool]) -> f32 {
    if left_out.contains(&true) {
        pearson(&kept(a, left_out), &kept(b, left_out))
    } else {
        pearson(a, b)
    }
}

/// Correlations of two images of equal size, each side's intensities mapped onto the other's
/// distribution in turn: intensities, then detail, over the pixels outside local marks. `turned`:
/// `b` was flipped or turned onto `a`.
fn correlate(a: &GrayImage, b: &GrayImage, turned: bool) -> Agreement {
    let (w, h) = (a.width() as usize, a.height() as usize);
    let (values_a, values_b) = (intensities(a), intensities(b));
    // Marks are found once, on `b` matched to `a`; detail reaches DETAIL_RADIUS pixels past them.
    let matched_b = specified(a, b);
    let left_out = local_marks(
        &values_a,
        &matched_b,
        (w, h),
        DETAIL_RADIUS as usize,
        turned,
    );
    let one_way = |values_a: &[f32], values_b: Vec<f32>| {
        (
            pearson_outside(values_a, &values_b, &left_out),
            pearson_outside(&detail(values_a, w, h), &detail(&values_b, w, h), &left_out),
        )
    };
    let forward = one_way(&values_a, matched_b);
    let backward = one_way(&values_b, specified(b, a));
    Agreement {
        correlation: (forward.0 + backward.0) / 2.0,
        detail_correlation: (forward.1 + backward.1) / 2.0,
        left_out,
    }
}

/// `a · b` over eight running sums, which the compiler turns into vector code (one sum would
/// have to add in order).
fn dot_product(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for k in 0..8 {
            lanes[k] += x[k] * y[k];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// Summed-area tables of an image's values and of their squares: any window's sum and energy in
/// four lookups each.
struct SummedAreas {
    stride: usize,
    sum: Vec<f64>,
    square: Vec<f64>,
}

impl SummedAreas {
    /// The tables of `values`, `width`×`height` row by row.
    fn new(values: &[f32], width: usize, height: usize) -> Self {
        let stride = width + 1;
        let (mut sum, mut square) = (
            vec![0f64; stride * (height + 1)],
            vec![0f64; stride * (height + 1)],
        );
        for y in 0..height {
            let (mut row, mut row_square) = (0f64, 0f64);
            for x in 0..width {
                let v = f64::from(values[y * width + x]);
                row += v;
                row_square += v * v;
                sum[(y + 1) * stride + x + 1] = sum[y * stride + x + 1] + row;
                square[(y + 1) * stride + x + 1] = square[y * stride + x + 1] + row_square;
            }
        }
        Self {
            stride,
            sum,
            square,
        }
    }

    /// The sum and the sum of squares of the `w`×`h` window whose top-left corner is `(x, y)`.
    fn window(&self, x: usize, y: usize, (w, h): (usize, usize)) -> (f64, f64) {
        let at = |table: &[f64]| {
            let (x1, y1) = (x + w, y + h);
            table[y1 * self.stride + x1] - table[y * self.stride + x1] - table[y1 * self.stride + x]
                + table[y * self.stride + x]
        };
        (at(&self.sum), at(&self.square))
    }
}

/// The best placement of `small` inside `large` (both gray, plain NCC via sums): returns the
/// correlation and the top-left corner.
fn best_placement(large: &GrayImage, small: &GrayImage) -> (f32, u32, u32) {
    let (lw, lh) = (large.width() as usize, large.height() as usize);
    let (sw, sh) = (small.width() as usize, small.height() as usize);
    if sw > lw || sh > lh || sw < 4 || sh < 4 {
        return (-1.0, 0, 0);
    }
    let l: Vec<f32> = large.pixels().map(|p| p.0[0] as f32).collect();
    let s: Vec<f32> = small.pixels().map(|p| p.0[0] as f32).collect();
    let n = (sw * sh) as f32;
    let s_mean = s.iter().sum::<f32>() / n;
    let s_centered: Vec<f32> = s.iter().map(|v| v - s_mean).collect();
    let s_norm = s_centered.iter().map(|v| v * v).sum::<f32>().sqrt();
    if s_norm < 1e-6 {
        return (-1.0, 0, 0);
    }
    let areas = SummedAreas::new(&l, lw, lh);
    let mut best = (-1.0f32, 0u32, 0u32);
    for y in 0..=lh - sh {
        for x in 0..=lw - sw {
            let (ws, wq) = areas.window(x, y, (sw, sh));
            let variance = wq - ws * ws / n as f64;
            if variance <= 1e-6 {
                continue;
            }
            let mut dot = 0f32;
            for row in 0..sh {
                let lrow = &l[(y + row) * lw + x..(y + row) * lw + x + sw];
                let srow = &s_centered[row * sw..(row + 1) * sw];
                dot += dot_product(lrow, srow);
            }
            let ncc = dot / (s_norm * variance.sqrt() as f32);
            if ncc > best.0 {
                best = (ncc, x as u32, y as u32);
            }
        }
    }
    best
}

/// Share of the shorter side left out at each border when a turned candidate is compared.
const ROTATION_INSET: f32 = 0.12;
/// Small turns compared in full, the best of all tried by their plain correlation.
const TURNS_COMPARED: usize = 3;
/// Share of the shorter side trimmed off at each border when whole panels are also compared
/// without their borders.
const BORDER_TRIM: f32 = 0.05;

/// Plain correlation of the best coarse crop placement below which the crop is not refined.
const MIN_COARSE_PLACEMENT: f32 = 0.5;

/// Longest side (pixels) at which the finest detail is compared.
const FINE_SIDE: u32 = 256;
/// Shifts (pixels, either way) tried when comparing the finest detail.
const FINE_SHIFT_PX: usize = 2;

/// Correlation of the pixel-scale texture of the matched regions: `a`'s region against
/// `b_turned`'s (the second panel after the relation's flip or quarter turn), at the resolution of
/// the smaller region, after the relation's small rotation.
fn fine_correlation(a: &GrayImage, b_turned: &GrayImage, relation: &Relation) -> f32 {
    let (ra, rb) = (
        cut(a, &relation.region_a),
        cut(b_turned, &relation.region_b),
    );
    let (mut w, mut h) = (ra.width().min(rb.width()), ra.height().min(rb.height()));
    let longest = w.max(h);
    if longest > FINE_SIDE {
        w = (w * FINE_SIDE / longest).max(1);
        h = (h * FINE_SIDE / longest).max(1);
    }
    if w < 8 || h < 8 {
        return relation.detail_correlation;
    }
    let resize = |image: &GrayImage| {
        image::imageops::resize(image, w, h, image::imageops::FilterType::Triangle)
    };
    let (mut fa, mut fb) = (resize(&ra), resize(&rb));
    if relation.rotation_deg != 0.0 {
        fb = rotate(&fb, relation.rotation_deg);
        let inset = (w.min(h) as f32 * ROTATION_INSET) as u32;
        let crop = |image: &GrayImage| {
            image::imageops::crop_imm(image, inset, inset, w - 2 * inset, h - 2 * inset).to_image()
        };
        (fa, fb) = (crop(&fa), crop(&fb));
    }
    let (w, h) = (fa.width() as usize, fa.height() as usize);
    let (ha, hb) = (
        high_pass(&ranks(&fa), w, h, 1),
        high_pass(&ranks(&fb), w, h, 1),
    );
    // Texture only correlates in register: alignment found at the work resolution can be a
    // pixel or two off here, so the best of small shifts counts.
    let m = FINE_SHIFT_PX;
    if w <= 4 * m || h <= 4 * m {
        return pearson(&ha, &hb);
    }
    best_shifted_pearson(&ha, &hb, (w, h), m)
}

/// The part of `image` that `r` covers (shares `[x0, y0, x1, y1]` of its width and height), at
/// least a pixel.
fn cut(image: &GrayImage, r: &[f32; 4]) -> GrayImage {
    let (w, h) = (image.width() as f32, image.height() as f32);
    let x0 = (r[0] * w).floor().clamp(0.0, w - 1.0) as u32;
    let y0 = (r[1] * h).floor().clamp(0.0, h - 1.0) as u32;
    let x1 = ((r[2] * w).ceil() as u32).clamp(x0 + 1, image.width());
    let y1 = ((r[3] * h).ceil() as u32).clamp(y0 + 1, image.height());
    image::imageops::crop_imm(image, x0, y0, x1 - x0, y1 - y0).to_image()
}

/// The best [`pearson`] of `a`'s centre (`a` inset by `m` on every side) with the window of `b` of
/// the same size shifted by up to `m` pixels either way (`a` and `b` both `w`×`h`). The centre is
/// centred once; each shift then costs one dot product, and its window's sums come from
/// [`SummedAreas`].
fn best_shifted_pearson(a: &[f32], b: &[f32], (w, h): (usize, usize), m: usize) -> f32 {
    let (iw, ih) = (w - 2 * m, h - 2 * m);
    let n = (iw * ih) as f64;
    let mut centre: Vec<f32> = Vec::with_capacity(iw * ih);
    for y in 0..ih {
        centre.extend_from_slice(&a[(m + y) * w + m..(m + y) * w + m + iw]);
    }
    let mean = centre.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    centre.iter_mut().for_each(|v| *v -= mean as f32);
    let saa: f64 = centre.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
    let areas = SummedAreas::new(b, w, h);
    let mut best = f32::MIN;
    for dy in 0..=2 * m {
        for dx in 0..=2 * m {
            let (s, q) = areas.window(dx, dy, (iw, ih));
            let sbb = q - s * s / n;
            // The centre sums to zero, so its dot product with the window is the covariance.
            let sab: f64 = (0..ih)
                .map(|y| {
                    let row = &b[(dy + y) * w + dx..(dy + y) * w + dx + iw];
                    f64::from(dot_product(&centre[y * iw..(y + 1) * iw], row))
                })
                .sum();
            let correlation = if saa <= 1e-9 || sbb <= 1e-9 {
                0.0
            } else {
                (sab / (saa * sbb).sqrt()) as f32
            };
            best = best.max(correlation);
        }
    }
    best
}

/// How much larger the shared content is in the second panel than in the first, in the units of
/// the sizes given (pixels here, points when the stage calls it with page boxes): the ratio of the
/// matched regions' diagonals, so quarter turns do not matter.
pub fn content_scale(relation: &Relation, a: (u32, u32), b: (u32, u32)) -> f32 {
    let diagonal = |region: &[f32; 4], (w, h): (u32, u32)| {
        let (rw, rh) = (
            (region[2] - region[0]) * w as f32,
            (region[3] - region[1]) * h as f32,
        );
        (rw * rw + rh * rh).sqrt()
    };
    let da = diagonal(&relation.region_a, a);
    if da <= 0.0 {
        1.0
    } else {
        diagonal(&relation.region_b, b) / da
    }
}

/// Verifies a candidate pair. `hint` is the dihedral transform the embedding search matched with;
/// the identity is tried too.
pub fn verify(a: &GrayImage, b: &GrayImage, hint: Dihedral, cfg: &VerifyConfig) -> Relation {
    verify_of(a, b, hint, Pictures::Both, cfg)
}

/// Whether both panels of a pair are pictures (a blot, a gel, a micrograph, or not classified)
/// or one is a drawing (class `other`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pictures {
    Both,
    NotBoth,
}

/// [`verify`] of two panels of which `pictures` says whether both are pictures.
fn verify_of(
    a: &GrayImage,
    b: &GrayImage,
    hint: Dihedral,
    pictures: Pictures,
    cfg: &VerifyConfig,
) -> Relation {
    let (relation, d) = verify_turned(a, b, hint, pictures, cfg);
    Relation {
        region_b: region_as_drawn(d, relation.region_b),
        ..relation
    }
    .finite_or_unverified()
}

/// A part of one panel that is a copy of another part of it (a band, a lane or a group of cells
/// copied within one picture, a clone tool's patch), as the relation of the panel to itself:
/// `region_a` the part found again (by keypoints, or by the phase correlation of the picture's
/// grain with itself), `region_b` where it is found. `None` when nothing repeats; the relation
/// is verified as an overlap between two panels is, and must share its grain from
/// `within_min_fine_correlation` on. Only pictures textured all over are searched: a drawing
/// repeats its strokes and lettering by design.
pub fn verify_within(panel: &GrayImage, cfg: &VerifyConfig) -> Option<Relation> {
    if !textured_all_over(&fit(panel, cfg.work_side)) {
        return None;
    }
    // Keypoints find a copy with corners enough; the picture's grain laid on itself finds one on
    // a smooth membrane too.
    let by_keypoints = overlap::repeat(&overlap::Keypoints::for_repeats(panel));
    let by_phase = if panel.width().max(panel.height()) <= SHARED_PART_FULL_RESOLUTION_SIDE {
        let transforms =
            phase::Transforms::for_size(panel.width() as usize, panel.height() as usize);
        transforms.repeats(&transforms.spectrum(panel))
    } else {
        Vec::new()
    };
    let mut tried: Vec<overlap::Overlap> = Vec::new();
    by_keypoints
        .into_iter()
        .chain(by_phase)
        .filter_map(|proposal| {
            // A part lying mostly on itself (lanes, a grid: three in four of a membrane's peaks
            // on the synthetic catalogs) is a periodic structure, as below: registering it, a few
            // pixels either way, would not set it apart.
            if covered_by_its_copy(&proposal.region_a, &proposal.region_b)
                > 2.0 * MAX_REPEAT_OVERLAP
            {
                return None;
            }
            let part = registered_part(panel, panel, &proposal, REPEAT_REGISTER_PX)?;
            let registered = overlap::Overlap {
                region_a: part.region_a,
                region_b: part.region_b,
            };
            if tried.contains(&registered) {
                return None;
            }
            tried.push(registered);
            // A part found again where it overlaps itself is a periodic structure (lanes, a
            // grid); one whose grain is not its own is a look-alike. Neither is worth the dense
            // tests.
            let apart = covered_by_its_copy(&part.region_a, &part.region_b) <= MAX_REPEAT_OVERLAP;
            if !apart || part.grain_lead() < cfg.within_min_fine_correlation {
                return None;
            }
            let mut relation = judged_part(panel, panel, &part, PartOf::OnePicture, cfg)?;
            relation.within = true;
            Some(relation)
        })
        .max_by(more_agreeing)
}

/// Orders relations of one pair found from different proposals: verified first, then by how
/// much of their finest detail agrees. The greatest stands for the pair.
fn more_agreeing(x: &Relation, y: &Relation) -> std::cmp::Ordering {
    (x.verified, x.fine_correlation)
        .partial_cmp(&(y.verified, y.fine_correlation))
        .unwrap_or(std::cmp::Ordering::Equal)
}

/// Parts shared by two pictures of one document drawn at one scale: for every pair `(i, j)`
/// (`i < j`) of `pictures` (full resolution) where a part of one reappears, moved but not
/// resized, in the other (a band spliced from one blot into another of the paper), the
/// relation of the two parts, verified or not. Each picture is transformed once per resolution
/// it is searched at; each pair costs one inverse transform and the dense tests of its
/// proposals. Pairs with a picture longer than [`SHARED_PART_FULL_RESOLUTION_SIDE`] are laid on
/// each other at half resolution, both pictures halved so that the part keeps one scale in
/// both, and each shift found is laid again at full resolution.
pub fn verify_shared_parts(
    pictures: &[&GrayImage],
    cfg: &VerifyConfig,
) -> Vec<(usize, usize, Relation)> {
    verify_shared_parts_among(pictures, |_, _| SharedParts::Any, usize::MAX, cfg).found
}

/// Values of a part key's descriptor (see [`part_keys`]).
pub const PART_KEY_DIM: usize = overlap::PART_KEY_DIM;

/// The corners of `picture` keyed for the index of parts ([`crate::parts`]), strongest first,
/// at its own resolution: each one's place (pixels) and its contrast-normalised patch.
pub fn part_keys(picture: &GrayImage) -> Vec<([f32; 2], [f32; PART_KEY_DIM])> {
    overlap::part_keys(picture)
}

/// Which parts shared between two pictures of a document are looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedParts {
    /// None: the pair is not searched.
    Unsearched,
    /// Any part, judged as a splice is: a band spliced from one blot into another.
    Any,
    /// Overlapping fields of view only (a part over a large share of both): micrographs share
    /// small parts by design (a scale bar, a panel letter, a label drawn alike).
    OverlappingFields,
}

/// What [`verify_shared_parts_among`] found, and how many pairs it searched and left out.
#[derive(Debug)]
pub struct SharedPartsSearch {
    /// The pairs `(i, j)` (`i < j`) with a shared part, and its relation, verified or not.
    pub found: Vec<(usize, usize, Relation)>,
    /// Pairs searched.
    pub searched: usize,
    /// Pairs left out by the cap.
    pub skipped: usize,
}

/// [`verify_shared_parts`] over the pairs `(i, j)` (`i < j`), each searched for the parts
/// `searched` says, at most `max_pairs` of them: those of pictures nearest each other in
/// `pictures`' order.
pub fn verify_shared_parts_among(
    pictures: &[&GrayImage],
    searched: impl Fn(usize, usize) -> SharedParts + Sync,
    max_pairs: usize,
    cfg: &VerifyConfig,
) -> SharedPartsSearch {
    let textured: Vec<usize> = (0..pictures.len())
        .filter(|&k| textured_all_over(&fit(pictures[k], cfg.work_side)))
        .collect();
    let halvings = |k: usize| {
        u32::from(pictures[k].width().max(pictures[k].height()) > SHARED_PART_FULL_RESOLUTION_SIDE)
    };
    let mut pairs: Vec<(usize, usize)> = textured
        .iter()
        .enumerate()
        .flat_map(|(n, &i)| textured[n + 1..].iter().map(move |&j| (i, j)))
        .filter(|&(i, j)| searched(i, j) != SharedParts::Unsearched)
        .collect();
    let skipped = pairs.len().saturating_sub(max_pairs);
    if skipped > 0 {
        pairs.sort_by_key(|&(i, j)| (j - i, i));
        pairs.truncate(max_pairs);
        pairs.sort_unstable();
    }
    let mut found = Vec::new();
    for level in 0..=1 {
        let laid: Vec<(usize, usize)> = pairs
            .iter()
            .copied()
            .filter(|&(i, j)| halvings(i).max(halvings(j)) == level)
            .collect();
        if laid.is_empty() {
            continue;
        }
        let mut proposed = shared_part_proposals(pictures, &laid, level);
        if level > 0 {
            proposed = laid_at_full_resolution(pictures, &laid, proposed, level);
        }
        found.extend(
            laid.par_iter()
                .zip(proposed)
                .filter_map(|(&(i, j), proposals)| {
                    let (a, b) = (pictures[i], pictures[j]);
                    let relations = proposals.into_iter().filter_map(|proposal| {
                        let part = registered_part(a, b, &proposal, SHARED_REGISTER_PX)?;
                        // Grain that agrees no better in register than beside it is a
                        // look-alike's.
                        if part.grain_lead() < cfg.min_fine_correlation {
                            return None;
                        }
                        judged_part(a, b, &part, PartOf::TwoPictures(searched(i, j)), cfg)
                    });
                    // The proposal verified with most agreement stands for the pair.
                    let best = relations.max_by(more_agreeing)?;
                    Some((i, j, best))
                })
                .collect::<Vec<_>>(),
        );
    }
    found.sort_by_key(|&(i, j, _)| (i, j));
    SharedPartsSearch {
        found,
        searched: pairs.len(),
        skipped,
    }
}

/// How far (pixels) from the shift the index of parts proposes a part is laid: its keys meet
/// at a shift to the pixel, binned by one.
const PROPOSED_SHIFT_REACH_PX: i64 = 2;

/// The part of `a` that lies in `b`, moved by about `shift` (pixels, b = a + shift) and not
/// resized, as the index of parts proposes it ([`crate::parts`]): a part spliced from a picture
/// of another paper, judged as the search for shared parts judges one; `None` when no part of
/// either agrees there, or when either picture is not textured all over (a drawing).
pub fn verify_part_at(
    a: &GrayImage,
    b: &GrayImage,
    shift: [f32; 2],
    cfg: &VerifyConfig,
) -> Option<Relation> {
    if !textured_all_over(&fit(a, cfg.work_side)) || !textured_all_over(&fit(b, cfg.work_side)) {
        return None;
    }
    let (detail_a, detail_b) = (phase::Detail::of(a), phase::Detail::of(b));
    let proposal = phase::shared_near(
        &detail_a,
        &detail_b,
        (shift[0].round() as i64, shift[1].round() as i64),
        PROPOSED_SHIFT_REACH_PX,
    )?;
    let part = registered_part(a, b, &proposal, SHARED_REGISTER_PX)?;
    // Grain that agrees no better in register than beside it is a look-alike's.
    if part.grain_lead() < cfg.min_fine_correlation {
        return None;
    }
    let found = judged_part(a, b, &part, PartOf::TwoPictures(SharedParts::Any), cfg)?;
    // Where the cells that agree are only part of what the two pictures lay on each other at
    // that shift (a crop whose flat membrane says nothing either way), the whole of it is the
    // part when it verifies as one (judged without its edges, as every part is, and reported
    // with them).
    let whole = found
        .verified
        .then(|| overlap_at(a, b, &part))
        .flatten()
        .filter(|whole| {
            overlap::area(whole.region_a) > overlap::area(part.region_a) * WHOLE_OVERLAP_GAIN
        })
        .and_then(|whole| {
            let registered = registered_part(a, b, &whole, SHARED_REGISTER_PX)
                .filter(|r| r.grain_lead() >= cfg.min_fine_correlation)?;
            let mut relation = judged_part(
                a,
                b,
                &registered,
                PartOf::TwoPictures(SharedParts::Any),
                cfg,
            )
            .filter(|r| r.verified)?;
            (relation.region_a, relation.region_b) = (whole.region_a, whole.region_b);
            Some(relation)
        });
    Some(whole.unwrap_or(found))
}

/// How much larger than the agreeing cells the whole overlap of two pictures must be for it to
/// be judged as the part instead.
const WHOLE_OVERLAP_GAIN: f32 = 1.1;

/// Everything of `a` and `b` that the shift of `part` lays on each other.
fn overlap_at(a: &GrayImage, b: &GrayImage, part: &RegisteredPart) -> Option<overlap::Overlap> {
    let (wa, ha) = (a.width() as f32, a.height() as f32);
    let (wb, hb) = (b.width() as f32, b.height() as f32);
    // b(x, y) lies on a(x - dx, y - dy).
    let dx = part.region_b[0] * wb - part.region_a[0] * wa;
    let dy = part.region_b[1] * hb - part.region_a[1] * ha;
    let (x0, y0) = ((-dx).max(0.0), (-dy).max(0.0));
    let (x1, y1) = (wa.min(wb - dx), ha.min(hb - dy));
    (x1 > x0 && y1 > y0).then(|| overlap::Overlap {
        region_a: [x0 / wa, y0 / ha, x1 / wa, y1 / ha],
        region_b: [
            (x0 + dx) / wb,
            (y0 + dy) / hb,
            (x1 + dx) / wb,
            (y1 + dy) / hb,
        ],
    })
}

/// The phase-correlation proposals of each pair of `pairs` (indices into `pictures`), with
/// every picture of them halved `halvings` times; the proposals' regions are shares of the
/// pictures' sides, so they hold at full resolution too.
fn shared_part_proposals(
    pictures: &[&GrayImage],
    pairs: &[(usize, usize)],
    halvings: u32,
) -> Vec<Vec<overlap::Overlap>> {
    let laid = pictures_of(pairs);
    let scaled: Vec<std::borrow::Cow<GrayImage>> = laid
        .par_iter()
        .map(|&k| {
            let picture = pictures[k];
            if halvings == 0 {
                std::borrow::Cow::Borrowed(picture)
            } else {
                let (w, h) = (
                    (picture.width() >> halvings).max(1),
                    (picture.height() >> halvings).max(1),
                );
                std::borrow::Cow::Owned(image::imageops::thumbnail(picture, w, h))
            }
        })
        .collect();
    let (width, height) = scaled.iter().fold((0, 0), |(w, h), picture| {
        (
            w.max(picture.width() as usize),
            h.max(picture.height() as usize),
        )
    });
    let transforms = phase::Transforms::for_size(width, height);
    let spectra: Vec<phase::Spectrum> = scaled
        .par_iter()
        .map(|picture| transforms.spectrum(picture))
        .collect();
    let spectrum = |k: usize| &spectra[laid.binary_search(&k).expect("a laid picture")];
    pairs
        .par_chunks(2)
        .flat_map_iter(|two| {
            let laid: Vec<(&phase::Spectrum, &phase::Spectrum)> = two
                .iter()
                .map(|&(i, j)| (spectrum(i), spectrum(j)))
                .collect();
            transforms.shared_parts(&laid)
        })
        .collect()
}

/// The pictures of `pairs`, each once, in order.
fn pictures_of(pairs: &[(usize, usize)]) -> Vec<usize> {
    let mut pictures: Vec<usize> = pairs.iter().flat_map(|&(i, j)| [i, j]).collect();
    pictures.sort_unstable();
    pictures.dedup();
    pictures
}

/// `proposed`, one list per pair of `pairs` found with the pictures halved `halvings` times,
/// laid again on the pictures themselves (see [`phase::refined`]): a part's edges are then found
/// to a cell of its pixels, and what it was pasted on is left out of it.
fn laid_at_full_resolution(
    pictures: &[&GrayImage],
    pairs: &[(usize, usize)],
    proposed: Vec<Vec<overlap::Overlap>>,
    halvings: u32,
) -> Vec<Vec<overlap::Overlap>> {
    let laid = pictures_of(pairs);
    let details: Vec<phase::Detail> = laid
        .par_iter()
        .map(|&k| phase::Detail::of(pictures[k]))
        .collect();
    let detail = |k: usize| &details[laid.binary_search(&k).expect("a laid picture")];
    let reach = 1i64 << halvings;
    pairs
        .par_iter()
        .zip(proposed)
        .map(|(&(i, j), proposals)| {
            let mut refined: Vec<overlap::Overlap> = Vec::new();
            for proposal in &proposals {
                if let Some(part) = phase::refined(detail(i), detail(j), proposal, reach)
                    && !refined.contains(&part)
                {
                    refined.push(part);
                }
            }
            refined
        })
        .collect()
}

/// Where a registered part and its copy lie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PartOf {
    /// Both in one picture: a part repeated within it.
    OnePicture,
    /// One in each of two pictures, searched for these parts: a part spliced from one into the
    /// other, or two fields of view that overlap.
    TwoPictures(SharedParts),
}

/// Smallest share of each of two micrographs' areas that a part they share covers for them to be
/// overlapping fields of view: one specimen's field cropped twice and shown as two samples.
/// Such a part is judged as the keypoints' partial matches are (see
/// [`VerifyConfig::partial_min_fine_correlation`]), with [`MAX_FIELD_STEP_SHARPNESS`].
const OVERLAPPING_FIELDS_MIN_SHARE: f32 = 0.15;
/// Sharpest steps (see [`step_sharpness`]) of overlapping fields: a stained section's cells and
/// fibres step by 0.3–0.47 of their spread (the real micrographs of `../shared/data`), lettering
/// rasterised in a report's graphics by 0.55–0.6, synthetic labels and scale bars by 0.5–1.
const MAX_FIELD_STEP_SHARPNESS: f32 = 0.5;

/// The dense tests of a registered part (see [`registered_part`]) in `a` and its copy in `b`,
/// once its caller found its grain its own: lettering and rules drawn alike repeat to the pixel
/// without being picture, and a part with a changed piece was not moved whole.
fn judged_part(
    a: &GrayImage,
    b: &GrayImage,
    part: &RegisteredPart,
    of: PartOf,
    cfg: &VerifyConfig,
) -> Option<Relation> {
    let (region_a, region_b) = (part.region_a, part.region_b);
    let overlapping_fields = of == PartOf::TwoPictures(SharedParts::OverlappingFields);
    if overlapping_fields
        && overlap::area(region_a).min(overlap::area(region_b)) < OVERLAPPING_FIELDS_MIN_SHARE
    {
        return None;
    }
    let window_a = fit(&cut(a, &region_a), cfg.work_side);
    if window_a.width().min(window_a.height()) < MIN_OVERLAP_WINDOW_SIDE {
        return None;
    }
    let window_b = fit(&cut(b, &region_b), cfg.work_side);
    // Lettering and rules drawn alike on paper (a chart's tick labels, taken with the chart for
    // a blot) repeat to the pixel: a copied part must be of picture, textured all over at its
    // own resolution (enlarging a small part smooths its grain away).
    let (part_a, part_b) = (cut(a, &region_a), cut(b, &region_b));
    if !(textured_all_over(&part_a) && textured_all_over(&part_b)) {
        return None;
    }
    // A scale bar, a panel letter or a label laid on two pictures alike steps between its
    // levels within a pixel; a photographed part is blurred by its optics.
    let max_step_sharpness = if overlapping_fields {
        MAX_FIELD_STEP_SHARPNESS
    } else {
        MAX_PICTURE_STEP_SHARPNESS
    };
    if step_sharpness(&part_a).max(step_sharpness(&part_b)) > max_step_sharpness {
        return None;
    }
    let agreement = correlate(&window_a, &window_b, false);
    let relation = aligned(Dihedral::Identity, 0.0, (region_a, region_b), &agreement);
    let (mut relation, _) = judge(
        (a, b),
        relation,
        Dihedral::Identity,
        (&window_a, &window_b, &agreement.left_out),
        PlacedBy::Keypoints,
        Pictures::Both,
        cfg,
    );
    relation.partial = true;
    let min_fine_correlation = if overlapping_fields
        || (of == PartOf::TwoPictures(SharedParts::Any)
            && copied_to_the_pixel(&relation, region_a, region_b))
    {
        cfg.partial_min_fine_correlation
    } else {
        cfg.within_min_fine_correlation
    };
    relation.verified &= !relation.edited && relation.fine_correlation >= min_fine_correlation;
    Some(relation.finite_or_unverified())
}

/// Detail correlation from which a part shared by two pictures is the same pixels laid again:
/// a band spliced from one blot into another, or a crop drawn at its source's scale. On a
/// smooth membrane the grain is a level or two deep, and the figure's JPEG reorders it
/// differently around each copy (such copies on the synthetic catalogs share it at 0.44–0.5
/// only), but their detail stays at 0.9875 and more. Parts of two different pictures laid on
/// each other at one scale, each over 1% of its picture, reach 0.96 at most (seeds 11, 13, 17,
/// 37, 41, 46 and 72, and the real PDFs of ../shared/data).
const COPIED_PART_MIN_DETAIL: f32 = 0.98;
/// Smallest share of each picture such a part covers: a scale bar laid on the dark edge of an
/// inset (a sliver of 0.7% of each) agrees to the pixel too.
const COPIED_PART_MIN_SHARE: f32 = 0.01;

/// Whether `relation`, between the parts `region_a` and `region_b` of two pictures, lays the
/// same pixels on each other (see [`COPIED_PART_MIN_DETAIL`]); such a part need share its grain
/// only as the keypoints' partial matches do (`partial_min_fine_correlation`).
fn copied_to_the_pixel(relation: &Relation, region_a: [f32; 4], region_b: [f32; 4]) -> bool {
    relation.detail_correlation >= COPIED_PART_MIN_DETAIL
        && overlap::area(region_a).min(overlap::area(region_b)) >= COPIED_PART_MIN_SHARE
}

/// Longest side (pixels) of the pictures searched for parts shared with another at one scale:
/// larger ones would cost every pair they are in a transform of half their size.
pub const SHARED_PART_MAX_SIDE: u32 = 2 * SHARED_PART_FULL_RESOLUTION_SIDE;
/// Longest side (pixels) of the pictures whose pairs are laid on each other at full resolution;
/// a pair with a longer one is laid at half resolution (a wide blot strip scanned at 300 dpi
/// is some 2000 pixels long).
pub const SHARED_PART_FULL_RESOLUTION_SIDE: u32 = 1024;
/// Smallest share of a panel drawn by raster images for it to be searched for shared parts.
pub const SHARED_PART_MIN_PICTURE_SHARE: f32 = 0.9;

/// Largest share of a repeat's part that its copy may cover.
const MAX_REPEAT_OVERLAP: f32 = 0.1;

/// Share of the part `region_a` of a picture that its copy `region_b` in the same picture covers.
fn covered_by_its_copy(region_a: &[f32; 4], region_b: &[f32; 4]) -> f32 {
    overlap::area(intersection(region_a, region_b))
        / overlap::area(*region_a).max(f32::MIN_POSITIVE)
}

/// Where two regions `[x0, y0, x1, y1]` overlap (empty when they do not).
fn intersection(a: &[f32; 4], b: &[f32; 4]) -> [f32; 4] {
    [
        a[0].max(b[0]),
        a[1].max(b[1]),
        a[2].min(b[2]),
        a[3].min(b[3]),
    ]
}

/// How far (pixels of the panel) from a repeat's copy its grain is compared again, as controls.
const GRAIN_CONTROL_PX: [i64; 2] = [4, 8];
/// Share of a repeat's box, at each side, left out as its edge.
const REPEAT_EDGE_SHARE: f32 = 0.08;
/// How far (pixels of the panel) a repeat's copy is moved to register it with its source.
const REPEAT_REGISTER_PX: i64 = 3;
/// How far (pixels of its picture) a shared part's copy is moved to register it: the phase
/// correlation's shift is in whole pixels, its boxes are rounded once.
const SHARED_REGISTER_PX: i64 = 1;

/// The two parts of a repeat as boxes of one size, whole pixels apart, the copy in `b` moved to
/// where its detail best agrees with the source in `a` (`b` is `a` for a repeat within one
/// picture): a part copied within a picture, or spliced into another drawn at its scale, is
/// moved, not resized, and its grain only correlates in register. As shares of each picture, a
/// quarter pixel inside each box's edges, so that cutting them gives back exactly those pixels;
/// with the correlation of their grain where both are flat (see [`flat_grain_correlation`]),
/// less the best the source reaches against the copy moved a few pixels any way.
fn registered_part(
    a: &GrayImage,
    b: &GrayImage,
    proposal: &overlap::Overlap,
    register_px: i64,
) -> Option<RegisteredPart> {
    let same = std::ptr::eq(a, b);
    let (wa, ha) = (i64::from(a.width()), i64::from(a.height()));
    let (wb, hb) = (i64::from(b.width()), i64::from(b.height()));
    let (ra, rb) = (proposal.region_a, proposal.region_b);
    let px = |v: f32, side: i64| (v * side as f32).round() as i64;
    // The proposal's span can reach past the part copied: its edge, where the copy meets what it
    // was pasted on, is left out.
    let (full_w, full_h) = (px(ra[2] - ra[0], wa), px(ra[3] - ra[1], ha));
    let (inset_x, inset_y) = (
        (full_w as f32 * REPEAT_EDGE_SHARE).ceil() as i64 + 1,
        (full_h as f32 * REPEAT_EDGE_SHARE).ceil() as i64 + 1,
    );
    let (bw, bh) = (full_w - 2 * inset_x, full_h - 2 * inset_y);
    if bw < 8 || bh < 8 || bw > wa.min(wb) || bh > ha.min(hb) {
        return None;
    }
    let (ax, ay) = (
        (px(ra[0], wa) + inset_x).clamp(0, wa - bw),
        (px(ra[1], ha) + inset_y).clamp(0, ha - bh),
    );
    let centre_b = (
        (rb[0] + rb[2]) / 2.0 * wb as f32,
        (rb[1] + rb[3]) / 2.0 * hb as f32,
    );
    let (bx, by) = (
        (centre_b.0 - bw as f32 / 2.0).round() as i64,
        (centre_b.1 - bh as f32 / 2.0).round() as i64,
    );
    // Every test below reads within this many pixels of the boxes (registration, the controls
    // and the widest blur): the levels, grain and detail of those neighbourhoods are all it needs.
    let margin = register_px + GRAIN_CONTROL_PX[1] + DETAIL_RADIUS as i64;
    let near_a = Neighbourhood::around(a, (ax, ay), (bw, bh), margin);
    let near_b = Neighbourhood::around(b, (bx, by), (bw, bh), margin);
    let source = near_a.cut(&near_a.finest, (ax, ay), (bw, bh));
    let mut best: Option<(f32, i64, i64)> = None;
    for dy in -register_px..=register_px {
        for dx in -register_px..=register_px {
            let (x, y) = (bx + dx, by + dy);
            if !near_b.holds((x, y), (bw, bh)) || (same && x == ax && y == ay) {
                continue;
            }
            let score = pearson(&source, &near_b.cut(&near_b.finest, (x, y), (bw, bh)));
            if best.is_none_or(|b| score > b.0) {
                best = Some((score, x, y));
            }
        }
    }
    let (_, bx, by) = best?;
    let ((ax, ay), (bx, by), size) = {
        let ((ax, ay), (bx, by), size) = trimmed_to_agreement(
            (&near_a.values, near_a.width),
            (&near_b.values, near_b.width),
            (
                (ax - near_a.x0, ay - near_a.y0),
                (bx - near_b.x0, by - near_b.y0),
                (bw, bh),
            ),
        );
        (
            (ax + near_a.x0, ay + near_a.y0),
            (bx + near_b.x0, by + near_b.y0),
            size,
        )
    };
    if size.0 < 8 || size.1 < 8 {
        return None;
    }
    let (source, source_bands) = (
        near_a.cut(&near_a.finest, (ax, ay), size),
        near_a.cut(&near_a.bands, (ax, ay), size),
    );
    let grain_at = |x: i64, y: i64| {
        flat_grain_correlation(
            (&source, &near_b.cut(&near_b.finest, (x, y), size)),
            (&source_bands, &near_b.cut(&near_b.bands, (x, y), size)),
        )
    };
    // Grain is the copy's own only if it agrees in register and nowhere near it: a stripe, a
    // lane or a drawn bar agrees just as well a few pixels along itself, and a JPEG's blocks
    // repeat every 8 pixels with the ringing of whatever was drawn alike in them.
    let beside = GRAIN_CONTROL_PX
        .into_iter()
        .flat_map(|d| [(d, 0), (-d, 0), (0, d), (0, -d)])
        .map(|(dx, dy)| (bx + dx, by + dy))
        .filter(|&(x, y)| near_b.holds((x, y), size))
        .map(|(x, y)| grain_at(x, y))
        .fold(0.0f32, f32::max);
    let grain = grain_at(bx, by);
    let shares = |x: i64, y: i64, (w, h): (i64, i64)| {
        [
            (x as f32 + 0.25) / w as f32,
            (y as f32 + 0.25) / h as f32,
            ((x + size.0) as f32 - 0.25) / w as f32,
            ((y + size.1) as f32 - 0.25) / h as f32,
        ]
    };
    Some(RegisteredPart {
        region_a: shares(ax, ay, (wa, ha)),
        region_b: shares(bx, by, (wb, hb)),
        grain,
        grain_beside: beside,
    })
}

/// Sharpest steps (see [`step_sharpness`]) of a photographed part: drawn lettering and bars, laid
/// on pictures, step by most of their spread within a pixel (0.5–1 on synthetic figures'
/// labels and scale bars), membranes and gels by a fraction of it (0.05–0.2).
const MAX_PICTURE_STEP_SHARPNESS: f32 = 0.3;

/// How sharply `image` steps between its levels: the 95th percentile of its one-pixel level
/// differences over the spread between its 5th and 95th percentile levels.
fn step_sharpness(image: &GrayImage) -> f32 {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let values = intensities(image);
    let mut steps = Vec::with_capacity(values.len() * 2);
    for y in 0..h {
        for x in 0..w {
            let v = values[y * w + x];
            if x + 1 < w {
                steps.push((values[y * w + x + 1] - v).abs());
            }
            if y + 1 < h {
                steps.push((values[(y + 1) * w + x] - v).abs());
            }
        }
    }
    let mut levels = values.clone();
    let percentile = |v: &mut Vec<f32>, p: f32| {
        if v.is_empty() {
            return 0.0;
        }
        let k = ((v.len() - 1) as f32 * p) as usize;
        *v.select_nth_unstable_by(k, f32::total_cmp).1
    };
    let spread = percentile(&mut levels, 0.95) - percentile(&mut levels, 0.05);
    percentile(&mut steps, 0.95) / spread.max(1.0)
}

/// The levels, grain (finest detail) and band-pass detail of a neighbourhood of a picture,
/// computed over the neighbourhood alone: inside it by more than the blurs' radius, they equal
/// those of the whole picture.
struct Neighbourhood {
    /// Its top-left corner in the picture's pixels.
    x0: i64,
    y0: i64,
    width: i64,
    height: i64,
    values: Vec<f32>,
    finest: Vec<f32>,
    bands: Vec<f32>,
}

impl Neighbourhood {
    /// `margin` pixels around the box at `(x, y)` of `size`, within `image`.
    fn around(image: &GrayImage, (x, y): (i64, i64), size: (i64, i64), margin: i64) -> Self {
        let (w, h) = (i64::from(image.width()), i64::from(image.height()));
        let (x0, y0) = ((x - margin).clamp(0, w), (y - margin).clamp(0, h));
        let (x1, y1) = (
            (x + size.0 + margin).clamp(x0, w),
            (y + size.1 + margin).clamp(y0, h),
        );
        let (width, height) = (x1 - x0, y1 - y0);
        let crop =
            image::imageops::crop_imm(image, x0 as u32, y0 as u32, width as u32, height as u32)
                .to_image();
        let values = intensities(&crop);
        let (columns, rows) = (width as usize, height as usize);
        Self {
            x0,
            y0,
            width,
            height,
            finest: high_pass(&values, columns, rows, 1),
            bands: detail(&values, columns, rows),
            values,
        }
    }

    /// Whether the box at `(x, y)` (the picture's pixels) of `size` lies inside.
    fn holds(&self, (x, y): (i64, i64), (w, h): (i64, i64)) -> bool {
        x >= self.x0
            && y >= self.y0
            && x + w <= self.x0 + self.width
            && y + h <= self.y0 + self.height
    }

    /// The box at `(x, y)` (the picture's pixels) of `size`, row by row, from `plane` (one of
    /// this neighbourhood's).
    fn cut(&self, plane: &[f32], (x, y): (i64, i64), (w, h): (i64, i64)) -> Vec<f32> {
        let (left, top) = (x - self.x0, y - self.y0);
        (top..top + h)
            .flat_map(|row| {
                let start = (row * self.width + left) as usize;
                plane[start..start + w as usize].iter().copied()
            })
            .collect()
    }
}

/// A part registered with its copy (see [`registered_part`]).
#[derive(Debug, Clone, Copy)]
struct RegisteredPart {
    /// The part, as shares `[x0, y0, x1, y1]` of the first picture.
    region_a: [f32; 4],
    /// Its copy, as shares of the second.
    region_b: [f32; 4],
    /// Correlation of their grain where both are flat, in register.
    grain: f32,
    /// The best the part's grain correlates with the copy moved a few pixels any way (0 at
    /// least).
    grain_beside: f32,
}

impl RegisteredPart {
    /// How far the grain agrees in register beyond what it does beside it.
    fn grain_lead(&self) -> f32 {
        self.grain - self.grain_beside
    }
}

/// Most of a repeat's box (share of a side) trimmed off each edge where the two parts differ.
const MAX_REPEAT_TRIM: f32 = 0.3;

/// The boxes of a registered part (`(source, copy, size)` in pixels of the pictures whose levels
/// and widths are `a` and `b`) without the lines along their edges where the two differ: the
/// proposal's span can reach past the part copied into what it was pasted on. A line differs
/// when its mean difference is over twice the boxes' typical one and over a level.
fn trimmed_to_agreement(
    (values_a, wa): (&[f32], i64),
    (values_b, wb): (&[f32], i64),
    ((ax, ay), (bx, by), (bw, bh)): ((i64, i64), (i64, i64), (i64, i64)),
) -> ((i64, i64), (i64, i64), (i64, i64)) {
    let difference = |dx: i64, dy: i64| {
        (values_a[((ay + dy) * wa + ax + dx) as usize]
            - values_b[((by + dy) * wb + bx + dx) as usize])
            .abs()
    };
    let mut all: Vec<f32> = (0..bh)
        .flat_map(|y| (0..bw).map(move |x| (x, y)))
        .map(|(x, y)| difference(x, y))
        .collect();
    let middle = all.len() / 2;
    let typical = if all.is_empty() {
        0.0
    } else {
        *all.select_nth_unstable_by(middle, f32::total_cmp).1
    };
    let limit = (2.0 * typical).max(1.0);
    let (most_x, most_y) = (
        (bw as f32 * MAX_REPEAT_TRIM) as i64,
        (bh as f32 * MAX_REPEAT_TRIM) as i64,
    );
    let column = |x: i64| (0..bh).map(|y| difference(x, y)).sum::<f32>() / bh as f32;
    let row = |y: i64| (0..bw).map(|x| difference(x, y)).sum::<f32>() / bw as f32;
    let (mut left, mut right, mut top, mut bottom) = (0, 0, 0, 0);
    while left < most_x && column(left) > limit {
        left += 1;
    }
    while right < most_x && column(bw - 1 - right) > limit {
        right += 1;
    }
    while top < most_y && row(top) > limit {
        top += 1;
    }
    while bottom < most_y && row(bh - 1 - bottom) > limit {
        bottom += 1;
    }
    (
        (ax + left, ay + top),
        (bx + left, by + top),
        (bw - left - right, bh - top - bottom),
    )
}

/// Correlation of two aligned parts' finest detail (`grain`) over the pixels where both are
/// flat: where the band-pass detail (`bands`) of either is below the median. Bands drawn alike
/// (a synthetic blot's rows, a stamp) share their outlines, which the finest detail follows; a
/// copy also shares the grain between them.
fn flat_grain_correlation(grain: (&[f32], &[f32]), bands: (&[f32], &[f32])) -> f32 {
    let strength: Vec<f32> = bands
        .0
        .iter()
        .zip(bands.1)
        .map(|(a, b)| a.abs().max(b.abs()))
        .collect();
    if strength.is_empty() {
        return 0.0;
    }
    let mut sorted = strength.clone();
    let middle = sorted.len() / 2;
    let (_, &mut median, _) = sorted.select_nth_unstable_by(middle, f32::total_cmp);
    let (flat_a, flat_b): (Vec<f32>, Vec<f32>) = grain
        .0
        .iter()
        .zip(grain.1)
        .zip(&strength)
        .filter(|(_, s)| **s <= median)
        .map(|((a, b), _)| (*a, *b))
        .unzip();
    pearson(&flat_a, &flat_b)
}

/// `region` (fractions of the second panel after `d`) as fractions of the panel as drawn.
fn region_as_drawn(d: Dihedral, region: [f32; 4]) -> [f32; 4] {
    // Where the point (u, v) of the turned panel comes from, as `Dihedral::apply` maps pixels.
    let source = |u: f32, v: f32| match d {
        Dihedral::Identity => (u, v),
        Dihedral::Rotate90 => (v, 1.0 - u),
        Dihedral::Rotate180 => (1.0 - u, 1.0 - v),
        Dihedral::Rotate270 => (1.0 - v, u),
        Dihedral::FlipHorizontal => (1.0 - u, v),
        Dihedral::FlipVertical => (u, 1.0 - v),
        Dihedral::Transpose => (v, u),
        Dihedral::AntiTranspose => (1.0 - v, 1.0 - u),
    };
    let (x0, y0) = source(region[0], region[1]);
    let (x1, y1) = source(region[2], region[3]);
    [x0.min(x1), y0.min(y1), x0.max(x1), y0.max(y1)]
}

/// [`verify`] with the second region in the frame of the second panel after the returned
/// transform.
fn verify_turned(
    a: &GrayImage,
    b: &GrayImage,
    hint: Dihedral,
    pictures: Pictures,
    cfg: &VerifyConfig,
) -> (Relation, Dihedral) {
    // Every alignment tried, to be judged best first.
    let mut tried: Vec<Alignment> = Vec::new();
    // Parts of each panel that keypoints lay on each other, judged after the alignments above
    // fail: a copy of the whole panel is reported whole even where a part of it scores a hair
    // better.
    let mut overlapping: Vec<Alignment> = Vec::new();
    let mut consider = |relation: Relation,
                        d: Dihedral,
                        aligned: (&GrayImage, &GrayImage, Vec<bool>),
                        border: [f32; 2]| {
        tried.push(Alignment {
            relation,
            d,
            aligned_a: aligned.0.clone(),
            aligned_b: aligned.1.clone(),
            left_out: aligned.2,
            border,
        });
    };
    let mut dihedrals = vec![hint];
    if hint != Dihedral::Identity {
        dihedrals.push(Dihedral::Identity);
    }
    // Images the alignments below compare, each made once. What is correlated at the end is
    // always resampled from the full thumbnail: resampling twice softens the detail that tells
    // copies from look-alikes.
    let a_work = fit(a, cfg.work_side);
    let a_search = fit(a, cfg.search_side);
    // Drawings share strokes, lettering and axes with anything drawn alike, part for part: only
    // pictures with grain of their own are laid part on part.
    let textured = textured_all_over(&a_work) && textured_all_over(&fit(b, cfg.work_side));
    let mut a_keypoints = None;
    for d in dihedrals {
        let b_turned = d.apply(b);
        // Whole panels, possibly rescaled and slightly turned.
        let b_work = resample(&b_turned, a_work.width(), a_work.height());
        // Corners of a turned image are fill, so a turned candidate compares the central part.
        // The unturned panel is compared both whole and over that same central part: the
        // borders of two boxes cut a pixel apart disagree, and a turned candidate that escaped
        // them must not win over the unturned centre for that alone.
        let (w, h) = a_work.dimensions();
        let rotation_inset = (w.min(h) as f32 * ROTATION_INSET) as u32;
        let border = ((w.min(h) as f32 * BORDER_TRIM) as u32).max(1);
        let crop = |image: &GrayImage, inset: u32| {
            image::imageops::crop_imm(image, inset, inset, w - 2 * inset, h - 2 * inset).to_image()
        };
        // Every small turn is screened by its plain correlation; the few best are compared in
        // full (marks, detail, both ways round), which costs ten times as much.
        let a_centre = crop(&a_work, rotation_inset);
        let a_centre_values = intensities(&a_centre);
        let mut turns: Vec<(f32, f32, GrayImage)> = cfg
            .rotations_deg
            .iter()
            .map(|&angle| {
                let turned = rotate(&b_work, angle);
                let plain = pearson(
                    &a_centre_values,
                    &intensities(&crop(&turned, rotation_inset)),
                );
                (plain, angle, turned)
            })
            .collect();
        turns.sort_by(|x, y| y.0.total_cmp(&x.0));
        turns.truncate(TURNS_COMPARED);
        let placements = [
            (Placement::Whole, 0.0, 0, b_work.clone()),
            (Placement::Trimmed, 0.0, border, b_work.clone()),
            (Placement::Centre, 0.0, rotation_inset, b_work.clone()),
        ]
        .into_iter()
        .chain(
            turns
                .into_iter()
                .map(|(_, angle, turned)| (Placement::Turned, angle, rotation_inset, turned)),
        );
        // The unturned centre, compared as a turned candidate is: the bar a turn must clear.
        let mut unturned_centre = f32::MIN;
        for (placement, angle, inset, candidate) in placements {
            let (aligned_a, aligned_b) = (crop(&a_work, inset), crop(&candidate, inset));
            let agreement = correlate(&aligned_a, &aligned_b, d != Dihedral::Identity);
            let whole = [0.0, 0.0, 1.0, 1.0];
            let relation = aligned(d, angle, (whole, whole), &agreement);
            match placement {
                Placement::Trimmed => {
                    let (fx, fy) = (inset as f32 / w as f32, inset as f32 / h as f32);
                    let relation = Relation {
                        region_a: [fx, fy, 1.0 - fx, 1.0 - fy],
                        region_b: [fx, fy, 1.0 - fx, 1.0 - fy],
                        ..relation
                    };
                    consider(
                        relation,
                        d,
                        (&aligned_a, &aligned_b, agreement.left_out),
                        [fx, fy],
                    );
                    continue;
                }
                Placement::Centre => {
                    unturned_centre = alignment_score(&relation);
                    continue;
                }
                Placement::Turned if alignment_score(&relation) <= unturned_centre => continue,
                Placement::Whole | Placement::Turned => {}
            }
            consider(
                relation,
                d,
                (&aligned_a, &aligned_b, agreement.left_out),
                [0.0, 0.0],
            );
        }
        // One panel is a crop of the other.
        let b_search = fit(&b_turned, cfg.search_side);
        let b_large_work = fit(&b_turned, cfg.work_side);
        let directions = [
            (true, a, &a_search, &a_work, &b_turned),
            (false, &b_turned, &b_search, &b_large_work, a),
        ];
        for (large_is_a, large, large_search, large_work, small) in directions {
            // Coarse templates (at most the search size) only place the crop: a smaller source
            // serves them at a fraction of the cost.
            let small_search = shrunk_for(small, cfg.search_side);
            let mut share = 1.0f32;
            let mut best_crop: Option<(f32, u32, u32, GrayImage)> = None;
            while share >= cfg.min_crop_share {
                let width = (large_search.width() as f32 * share).round() as u32;
                let height = (width as f32 * small.height() as f32 / small.width().max(1) as f32)
                    .round() as u32;
                if width >= 8 && height >= 8 && height <= large_search.height() {
                    let template = resample(&small_search, width, height);
                    let (score, x, y) = best_placement(large_search, &template);
                    if best_crop.as_ref().is_none_or(|b| score > b.0) {
                        best_crop = Some((score, x, y, template));
                    }
                }
                share -= 0.05;
            }
            // A placement this poor at the coarse scale never refines into a copy (its aligned
            // correlation must reach `min_correlation`): the refinement is most of the cost.
            let Some((_, x, y, template)) = best_crop.filter(|b| b.0 >= MIN_COARSE_PLACEMENT)
            else {
                continue;
            };
            // Refine at the work resolution around the coarse placement: scale and position.
            let up = large_work.width() as f32 / large_search.width() as f32;
            let coarse_width = template.width() as f32 * up;
            let (mut fine_score, mut fx, mut fy, mut fw, mut fh) =
                (-1.0f32, 0u32, 0u32, 0u32, 0u32);
            for step in -4i32..=4 {
                let width = (coarse_width * (1.0 + step as f32 * 0.015)).round() as u32;
                let height = (width as f32 * small.height() as f32 / small.width().max(1) as f32)
                    .round() as u32;
                if width < 8
                    || height < 8
                    || width > large_work.width()
                    || height > large_work.height()
                {
                    continue;
                }
                let margin = (2.0 * up).ceil() as u32 + 2;
                let cx = ((x as f32 * up) as u32).saturating_sub(margin);
                let cy = ((y as f32 * up) as u32).saturating_sub(margin);
                let cw = (width + 2 * margin).min(large_work.width() - cx);
                let ch = (height + 2 * margin).min(large_work.height() - cy);
                if cw < width || ch < height {
                    continue;
                }
                let area = image::imageops::crop_imm(large_work, cx, cy, cw, ch).to_image();
                let fine_template = resample(small, width, height);
                let (score, px, py) = best_placement(&area, &fine_template);
                if score > fine_score {
                    (fine_score, fx, fy, fw, fh) = (score, cx + px, cy + py, width, height);
                }
            }
            if fine_score < 0.0 {
                continue;
            }
            let factor = large_work.width() as f32 / large.width().max(1) as f32;
            let (x0, y0) = (fx as f32 / factor, fy as f32 / factor);
            let (x1, y1) = ((fx + fw) as f32 / factor, (fy + fh) as f32 / factor);
            let window = image::imageops::crop_imm(large_work, fx, fy, fw, fh).to_image();
            let small_work = resample(small, window.width(), window.height());
            let agreement = correlate(&window, &small_work, d != Dihedral::Identity);
            let region = [
                x0 / large.width() as f32,
                y0 / large.height() as f32,
                x1 / large.width() as f32,
                y1 / large.height() as f32,
            ];
            let (region_a, region_b) = if large_is_a {
                (region, [0.0, 0.0, 1.0, 1.0])
            } else {
                ([0.0, 0.0, 1.0, 1.0], region)
            };
            consider(
                aligned(d, 0.0, (region_a, region_b), &agreement),
                d,
                (&window, &small_work, agreement.left_out),
                [0.0, 0.0],
            );
        }
        // The two share a part only (two crops of one picture that overlap, a picture mostly
        // regenerated around a kept strip): keypoints say where, the dense tests judge.
        if !textured {
            continue;
        }
        let a_keypoints = a_keypoints.get_or_insert_with(|| overlap::Keypoints::of(a));
        for proposal in overlap::overlaps(a_keypoints, &b_turned) {
            // The same part of two panels, in place on each, is their whole alignment with the
            // rest changed: the edited-copy rules judge that, and a template filled in with other
            // numbers or labels must not pass as an overlap.
            let (ra, rb) = (&proposal.region_a, &proposal.region_b);
            let in_place = (0..4).all(|i| (ra[i] - rb[i]).abs() <= IN_PLACE_SHIFT);
            if in_place {
                continue;
            }
            let window_a = fit(&cut(a, &proposal.region_a), cfg.work_side);
            let window_b = resample(
                &cut(&b_turned, &proposal.region_b),
                window_a.width(),
                window_a.height(),
            );
            if window_a.width().min(window_a.height()) < MIN_OVERLAP_WINDOW_SIDE {
                continue;
            }
            let agreement = correlate(&window_a, &window_b, d != Dihedral::Identity);
            overlapping.push(Alignment {
                relation: aligned(d, 0.0, (proposal.region_a, proposal.region_b), &agreement),
                d,
                aligned_a: window_a,
                aligned_b: window_b,
                left_out: agreement.left_out,
                border: [0.0, 0.0],
            });
        }
    }
    // The best alignments are judged in turn: two that score within a hair of each other (the
    // whole panels and their trimmed centres, say) can differ in what decides.
    tried.sort_by(|x, y| alignment_score(&y.relation).total_cmp(&alignment_score(&x.relation)));
    // Two panels of one shape laid whole on each other are also judged however poorly they
    // correlate: a picture of which a part was changed (bands cleaned away, a blob pasted in)
    // correlates poorly as a whole, a crop of it can score better, and only the whole
    // alignment shows the grain the two share.
    let same_shape = {
        let (w, h) = b.dimensions();
        let b_turned_shape = if hint.swaps_axes() { (h, w) } else { (w, h) };
        let ratio = |(w, h): (u32, u32)| w as f32 / h.max(1) as f32;
        (ratio(a.dimensions()) / ratio(b_turned_shape) - 1.0).abs() <= SAME_SHAPE_TOLERANCE
    };
    let whole_laid = same_shape
        .then(|| {
            tried.iter().position(|t| {
                t.d == hint
                    && t.relation.rotation_deg == 0.0
                    && t.border == [0.0, 0.0]
                    && t.relation.region_a == [0.0, 0.0, 1.0, 1.0]
                    && t.relation.region_b == [0.0, 0.0, 1.0, 1.0]
            })
        })
        .flatten();
    overlapping
        .sort_by(|x, y| alignment_score(&y.relation).total_cmp(&alignment_score(&x.relation)));
    let judged_first = tried.len();
    let mut judged: Option<(Relation, Dihedral)> = None;
    for (index, alignment) in tried.into_iter().chain(overlapping).enumerate() {
        let whole = Some(index) == whole_laid;
        let partial = index >= judged_first;
        if index >= JUDGED_ALIGNMENTS && !whole && !partial {
            continue;
        }
        // Judging settles and may register; an alignment too far below the correlation a copy
        // needs cannot verify either way, so only the best one is judged then.
        if judged.is_some()
            && !whole
            && !partial
            && alignment.relation.correlation < cfg.min_correlation - REGISTER_WITHIN
        {
            continue;
        }
        let aligned = (
            &alignment.aligned_a,
            &alignment.aligned_b,
            alignment.left_out.as_slice(),
        );
        // A crop or an overlap is placed by its content alone, to a work pixel, which a fine
        // grain does not survive; two whole panels (trimmed or not) are placed by their
        // outlines, and whole screenshots of one template with other numbers in them would
        // align their grain as closely as copies.
        let whole = |r: &[f32; 4]| overlap::area(*r) >= WHOLE_SHARE;
        let placement = if alignment.border == [0.0, 0.0]
            && !(whole(&alignment.relation.region_a) && whole(&alignment.relation.region_b))
        {
            PlacedBy::Content
        } else {
            PlacedBy::Outlines
        };
        let (mut relation, d) = judge(
            (a, b),
            alignment.relation,
            alignment.d,
            aligned,
            placement,
            pictures,
            cfg,
        );
        if partial {
            // Keypoints also find crops too small for the crop search: one side is then whole.
            relation.partial = !whole(&relation.region_a) && !whole(&relation.region_b);
            relation.verified &= relation.fine_correlation >= cfg.partial_min_fine_correlation;
        }
        // A trimmed centre stands for the whole panels it was cut from.
        relation.region_a = untrimmed(relation.region_a, alignment.border);
        relation.region_b = untrimmed(relation.region_b, alignment.border);
        if relation.verified {
            return (relation, d);
        }
        judged.get_or_insert((relation, d));
    }
    judged.expect("at least one alignment was tried")
}

/// What a whole-panel placement compares: the panels whole, without a thin border, over the
/// central part a turned candidate keeps (the bar it must clear), or turned. Thin strips trim as
/// much for a border as for a turn, so the role cannot be told from the inset.
#[derive(Clone, Copy)]
enum Placement {
    Whole,
    Trimmed,
    Centre,
    Turned,
}

/// The relation an alignment stands for before it is judged: the transform, the regions it
/// compared and their correlations.
fn aligned(
    d: Dihedral,
    rotation_deg: f32,
    (region_a, region_b): ([f32; 4], [f32; 4]),
    agreement: &Agreement,
) -> Relation {
    Relation {
        dihedral: d.name().to_string(),
        rotation_deg,
        scale: 1.0,
        region_a,
        region_b,
        correlation: agreement.correlation,
        rank_correlation: 0.0,
        detail_correlation: agreement.detail_correlation,
        coarse_detail_correlation: 0.0,
        fine_correlation: 0.0,
        left_out_share: 0.0,
        edited: false,
        partial: false,
        within: false,
        verified: false,
    }
}

/// An alignment tried: the relation it stands for, the two aligned images it compared, the
/// pixels it left out as a mark, and the share of each side trimmed off at every border
/// (`[0, 0]` when none).
struct Alignment {
    relation: Relation,
    d: Dihedral,
    aligned_a: GrayImage,
    aligned_b: GrayImage,
    left_out: Vec<bool>,
    border: [f32; 2],
}

/// `region`, the centre of a panel trimmed by `border` (shares of its width and height at every
/// border), grown back by that border.
fn untrimmed(region: [f32; 4], [fx, fy]: [f32; 2]) -> [f32; 4] {
    if fx == 0.0 && fy == 0.0 {
        return region;
    }
    let (grow_x, grow_y) = (
        (region[2] - region[0]) * fx / (1.0 - 2.0 * fx),
        (region[3] - region[1]) * fy / (1.0 - 2.0 * fy),
    );
    // Edges that land within a rounding error of the panel's own are its edges.
    let low = |v: f32| if v < EDGE_SNAP { 0.0 } else { v };
    let high = |v: f32| if v > 1.0 - EDGE_SNAP { 1.0 } else { v };
    [
        low(region[0] - grow_x),
        low(region[1] - grow_y),
        high(region[2] + grow_x),
        high(region[3] + grow_y),
    ]
}

/// How close (share of a side) a regrown edge must come to the panel's edge to be taken as it.
const EDGE_SNAP: f32 = 1e-3;

/// Overlaps whose edges lie within this share of their panels' sides of each other are in place
/// on both.
const IN_PLACE_SHIFT: f32 = 0.05;
/// Overlaps narrower than this at the work resolution (pixels) are not compared.
const MIN_OVERLAP_WINDOW_SIDE: u32 = 16;

/// A region covering this share of its panel is the whole panel.
const WHOLE_SHARE: f32 = 0.95;

/// How many of the best-scoring alignments are judged before a pair is refused.
const JUDGED_ALIGNMENTS: usize = 3;
/// Aspect ratios within this share of each other are one shape.
const SAME_SHAPE_TOLERANCE: f32 = 0.03;

/// What placed the second panel on the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PlacedBy {
    /// Two whole panels, trimmed or not: their outlines.
    Outlines,
    /// A crop or an overlap: where its content fits best, to a work pixel.
    Content,
    /// Two parts that keypoints proposed, registered to a pixel already.
    Keypoints,
}

/// One alignment settled, and registered to a fraction of a pixel when it is a near miss that
/// shares grain or, of two pictures, lost it.
fn judge(
    (a, b): (&GrayImage, &GrayImage),
    relation: Relation,
    d: Dihedral,
    (aligned_a, aligned_b, left_out): (&GrayImage, &GrayImage, &[bool]),
    placement: PlacedBy,
    pictures: Pictures,
    cfg: &VerifyConfig,
) -> (Relation, Dihedral) {
    let b_turned = d.apply(b);
    let settled = settle(
        a,
        &b_turned,
        relation,
        (aligned_a, aligned_b, left_out),
        placement,
        cfg,
    );
    // A near miss may be a copy whose boxes differ by a pixel or so (a box 2 pixels wider all
    // round costs a copied micrograph's layout 0.965 where 0.99 is due): registering it to a
    // fraction of a pixel decides. Where the grain is lost (a rescale, a JPEG), the fit that
    // registration adds also lifts look-alikes drawn alike, so such a pair must then be two
    // pictures (drawings have no grain to lose, and two boxes with one word in one font register
    // onto each other as copies do) that agree as `registered_min_coarse_detail_correlation` asks.
    let shares_grain = settled.fine_correlation >= REGISTER_FROM_FINE;
    if settled.verified
        || settled.rotation_deg != 0.0
        || settled.correlation < cfg.min_correlation - REGISTER_WITHIN
        || (!shares_grain && pictures != Pictures::Both)
    {
        return (settled, d);
    }
    // Two registrations: interpolated to a fraction of a pixel, and on one grid for both sides.
    // Each that fits closer than the alignment is settled; a verified one wins, then the one
    // whose grain agrees best (the finest test of where the pixels lie).
    let registered = [
        register(a, &b_turned, &settled, cfg.work_side),
        (placement == PlacedBy::Content)
            .then(|| register_on_grid(a, &b_turned, &settled, cfg))
            .flatten(),
    ]
    .into_iter()
    .flatten()
    .filter(|(registered, ..)| alignment_score(registered) > alignment_score(&settled))
    .map(|(registered, aligned_a, aligned_b, left_out)| {
        let mut settled = settle(
            a,
            &b_turned,
            registered,
            (&aligned_a, &aligned_b, &left_out),
            placement,
            cfg,
        );
        settled.verified &= shares_grain || registered_past_grain(&settled, cfg);
        settled
    })
    .max_by(|x, y| {
        (x.verified, x.fine_correlation, alignment_score(x))
            .partial_cmp(&(y.verified, y.fine_correlation, alignment_score(y)))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    (registered.unwrap_or(settled), d)
}

/// Whether a pair registered to a fraction of a pixel without shared grain agrees as only copies
/// do: layout and detail as `strong_correlation` asks, coarse detail from
/// `registered_min_coarse_detail_correlation`.
fn registered_past_grain(relation: &Relation, cfg: &VerifyConfig) -> bool {
    relation.correlation >= cfg.strong_correlation
        && relation.detail_correlation >= cfg.strong_min_detail_correlation
        && relation.coarse_detail_correlation >= cfg.registered_min_coarse_detail_correlation
}

/// How good an alignment is: fine detail separates copies from look-alikes best; the layout
/// correlation breaks ties.
fn alignment_score(relation: &Relation) -> f32 {
    relation.correlation + relation.detail_correlation
}

/// How far below `min_correlation` a pair is still registered to a fraction of a pixel.
const REGISTER_WITHIN: f32 = 0.1;
/// Fine correlation from which a registered near miss is judged as any pair is: shared grain
/// already says the pixels are the same, so only the alignment can be at fault. Below it, a
/// registered pair is held to `registered_min_coarse_detail_correlation` as well.
const REGISTER_FROM_FINE: f32 = 0.3;

/// Box radii (work pixels) of the coarse detail band: the image blurred by the first less the
/// image blurred by the second.
const COARSE_DETAIL_RADII: (isize, isize) = (2, 8);

/// Correlation of two aligned images' coarse detail outside `left_out`.
fn coarse_detail_correlation(a: &GrayImage, b: &GrayImage, left_out: &[bool]) -> f32 {
    let (w, h) = (a.width() as usize, a.height() as usize);
    let band = |image: &GrayImage| {
        let values = intensities(image);
        let (fine, coarse) = COARSE_DETAIL_RADII;
        high_pass(&values, w, h, coarse)
            .iter()
            .zip(high_pass(&values, w, h, fine))
            .map(|(wide, narrow)| wide - narrow)
            .collect::<Vec<f32>>()
    };
    pearson_outside(&band(a), &band(b), left_out)
}

/// `relation` completed from the aligned images it was found with: rank and fine correlations,
/// the share left out, the scale, and whether it is verified.
fn settle(
    a: &GrayImage,
    b_turned: &GrayImage,
    mut relation: Relation,
    (aligned_a, aligned_b, left_out): (&GrayImage, &GrayImage, &[bool]),
    placement: PlacedBy,
    cfg: &VerifyConfig,
) -> Relation {
    let (ranks_a, ranks_b) = (ranks(aligned_a), ranks(aligned_b));
    relation.rank_correlation = pearson_outside(&ranks_a, &ranks_b, left_out);
    relation.left_out_share =
        left_out.iter().filter(|out| **out).count() as f32 / left_out.len().max(1) as f32;
    relation.fine_correlation = fine_correlation(a, b_turned, &relation);
    relation.coarse_detail_correlation = coarse_detail_correlation(aligned_a, aligned_b, left_out);
    // A black background is a few dark levels whose order is noise: clipped to one level on
    // one side, or re-encoded on the other, its ranks correlate with nothing and outweigh the
    // content. Pixels that share grain already say the two are one picture, and so do layout
    // and detail that agree as strongly as `strong_correlation` asks (a heavy JPEG took the
    // grain), so the ranks are compared again without the dark floors; look-alikes, whose grain
    // is their own and whose detail differs, keep the rank test as it was.
    let strong = agrees_strongly(&relation, placement, cfg);
    if relation.rank_correlation < cfg.min_rank_correlation
        && (relation.fine_correlation >= cfg.min_fine_correlation || strong)
        && let Some(without) = without_dark_floor(aligned_a, aligned_b, left_out)
    {
        relation.rank_correlation = relation
            .rank_correlation
            .max(pearson_outside(&ranks_a, &ranks_b, &without));
    }
    // A stained section's pale background is the same noise at the other end of the range: a
    // JPEG or a camera's noise renews it and its ranks outweigh the cells. Only whole panels
    // that agree strongly are compared without it; a look-alike's own grain on a pale membrane
    // is what the rank floor refuses, and a part laid on a part fits too freely.
    if relation.rank_correlation < cfg.min_rank_correlation
        && placement == PlacedBy::Outlines
        && strong
        && let Some(without) =
            without_dark_floor(&inverted(aligned_a), &inverted(aligned_b), left_out)
    {
        relation.rank_correlation = relation
            .rank_correlation
            .max(pearson_outside(&ranks_a, &ranks_b, &without));
    }
    // The scale is reported against the second panel as drawn; a quarter turn swaps its sides,
    // which the diagonals' ratio does not notice.
    relation.scale = content_scale(
        &relation,
        (a.width(), a.height()),
        (b_turned.width(), b_turned.height()),
    );
    relation.verified = relation.correlation >= cfg.min_correlation
        && relation.rank_correlation >= cfg.min_rank_correlation
        && (relation.detail_correlation >= cfg.min_detail_correlation
            || outlines_agree(&relation, placement, cfg))
        && ((relation.detail_correlation >= cfg.detail_needs_texture_below
            && relation.left_out_share == 0.0)
            || (agrees_strongly(&relation, placement, cfg)
                && relation.left_out_share <= cfg.strong_max_left_out_share)
            || (relation.fine_correlation >= cfg.min_fine_correlation
                && texture_is_evidence(&relation, a, b_turned)))
        || copied_whole_past_ranks(&relation, placement, cfg)
        || shared_grain_edited(&mut relation, (aligned_a, aligned_b), a, b_turned, cfg);
    relation
}

/// Whether two whole panels agree in layout, detail and coarse detail as only copies do
/// (`rank_free_min_detail_correlation`), nothing left out: their ranks are not asked.
fn copied_whole_past_ranks(relation: &Relation, placement: PlacedBy, cfg: &VerifyConfig) -> bool {
    placement == PlacedBy::Outlines
        && relation.left_out_share == 0.0
        && relation.correlation >= cfg.strong_correlation
        && relation.detail_correlation >= cfg.rank_free_min_detail_correlation
        && relation.coarse_detail_correlation >= cfg.rank_free_min_detail_correlation
}

/// Whether two whole panels placed by their outlines agree in layout as `strong_correlation`
/// asks and in coarse detail as `strong_min_coarse_detail_correlation` does.
fn outlines_agree(relation: &Relation, placement: PlacedBy, cfg: &VerifyConfig) -> bool {
    placement == PlacedBy::Outlines
        && relation.correlation >= cfg.strong_correlation
        && relation.coarse_detail_correlation >= cfg.strong_min_coarse_detail_correlation
}

/// Whether the layout of two aligned pictures agrees as `strong_correlation` asks, and their
/// detail with it, or their coarse detail where they are whole panels placed by their outlines:
/// copies whose grain a heavy JPEG took. A crop is placed where it fits best among many windows,
/// and one smooth band fits a window of another blot's band as well, outline and all.
fn agrees_strongly(relation: &Relation, placement: PlacedBy, cfg: &VerifyConfig) -> bool {
    (relation.correlation >= cfg.strong_correlation
        && relation.detail_correlation >= cfg.strong_min_detail_correlation)
        || outlines_agree(relation, placement, cfg)
}

/// Whether two pictures that share their grain (`min_shared_grain`) are one picture of which a
/// part was changed: outside a few regions (reported as left out), they agree as copies do.
/// Look-alikes drawn alike can share fine structure (band outlines, frames) but differ all over,
/// and drawings are held to `shared_grain_min_correlation` too.
fn shared_grain_edited(
    relation: &mut Relation,
    (aligned_a, aligned_b): (&GrayImage, &GrayImage),
    a: &GrayImage,
    b_turned: &GrayImage,
    cfg: &VerifyConfig,
) -> bool {
    if relation.fine_correlation < cfg.min_shared_grain
        || relation.rank_correlation < cfg.min_rank_correlation
        || !texture_is_evidence(relation, a, b_turned)
        || (relation.correlation < cfg.shared_grain_min_correlation
            && !(textured_all_over(aligned_a) && textured_all_over(aligned_b)))
    {
        return false;
    }
    match edited_share(aligned_a, aligned_b, cfg.min_correlation) {
        Some(share) => {
            relation.left_out_share = relation.left_out_share.max(share);
            relation.edited = true;
            true
        }
        None => false,
    }
}

/// `b` moved and stretched so that its median and median deviation are `a`'s: a match of two
/// pictures' intensities that a changed minority of pixels does not move.
fn robustly_matched(a: &[f32], b: &[f32]) -> Vec<f32> {
    let median = |values: &[f32]| {
        let mut sorted = values.to_vec();
        sorted.sort_by(f32::total_cmp);
        sorted[sorted.len() / 2]
    };
    let (median_a, median_b) = (median(a), median(b));
    let spread = |values: &[f32], centre: f32| {
        median(
            &values
                .iter()
                .map(|v| (v - centre).abs())
                .collect::<Vec<_>>(),
        )
    };
    let (spread_a, spread_b) = (spread(a, median_a), spread(b, median_b));
    let stretch = if spread_a > 0.0 && spread_b > 0.0 {
        spread_a / spread_b
    } else {
        1.0
    };
    b.iter()
        .map(|v| median_a + (v - median_b) * stretch)
        .collect()
}

/// Median size (levels) of the detail of a picture textured all over: a blot's membrane or a
/// micrograph at the work resolution is 0.8–3 levels off its surroundings at the median (the
/// hand-edited real blots of ../shared/data), a drawing's flat fill 0.
const TEXTURED_MEDIAN_DETAIL: f32 = 0.5;

/// Whether most of `image` is texture rather than flat fill.
fn textured_all_over(image: &GrayImage) -> bool {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let mut sizes: Vec<f32> = detail(&intensities(image), w, h)
        .iter()
        .map(|d| d.abs())
        .collect();
    if sizes.is_empty() {
        return false;
    }
    let middle = sizes.len() / 2;
    let (_, median, _) = sizes.select_nth_unstable_by(middle, f32::total_cmp);
    *median >= TEXTURED_MEDIAN_DETAIL
}

/// The share of two aligned pictures left out as an edit (see [`EDITS`]) when, outside it, they
/// correlate at least `min_correlation` both ways: one picture with part of it changed. Their
/// intensities are matched outside where a first, robust match (median and spread) finds them
/// differing most.
fn edited_share(a: &GrayImage, b: &GrayImage, min_correlation: f32) -> Option<f32> {
    let (w, h) = (a.width() as usize, a.height() as usize);
    let (values_a, values_b) = (intensities(a), intensities(b));
    // The edit itself skews the histograms matched (cleaned bands make one picture lighter
    // throughout): where the pictures differ most at first is left out of the matching.
    let mut rough = vec![false; values_a.len()];
    if let Some(cells) =
        difference_cells(&values_a, &robustly_matched(&values_a, &values_b), (w, h))
    {
        let grid = (cells.cell, cells.columns);
        paint_cells(
            &mut rough,
            &cells.outliers,
            grid,
            (w, h),
            DETAIL_RADIUS as usize,
        );
    }
    let matched_b = specified_outside(a, b, Some(&rough));
    let edited = local_differences(
        &values_a,
        &matched_b,
        (w, h),
        DETAIL_RADIUS as usize,
        &EDITS,
    );
    let share = edited.iter().filter(|out| **out).count() as f32 / edited.len().max(1) as f32;
    if share == 0.0 {
        return None;
    }
    let correlation = (pearson_outside(&values_a, &matched_b, &edited)
        + pearson_outside(&values_b, &specified_outside(b, a, Some(&rough)), &edited))
        / 2.0;
    (correlation >= min_correlation).then_some(share)
}

/// Scale (either way) past which the texture of a small region is not taken as evidence.
const MAX_TEXTURE_SCALE: f32 = 2.0;
/// Short side (pixels) of the smaller region under which that applies.
const MIN_TEXTURE_SIDE_PX: f32 = 64.0;

/// Whether the fine correlation of `relation` says the two regions share pixels. It is measured
/// at the smaller region's resolution: when that region is a few dozen pixels across and the
/// other is more than twice its size, each of its pixels averages many of the other's, and what
/// correlates there is the blurred outline of its bands, which look-alikes share (a small
/// single-band strip against any larger one), not grain.
fn texture_is_evidence(relation: &Relation, a: &GrayImage, b_turned: &GrayImage) -> bool {
    let short_side = |region: &[f32; 4], image: &GrayImage| {
        ((region[2] - region[0]) * image.width() as f32)
            .min((region[3] - region[1]) * image.height() as f32)
    };
    let smaller = short_side(&relation.region_a, a).min(short_side(&relation.region_b, b_turned));
    let scale = relation
        .scale
        .max(1.0 / relation.scale.max(f32::MIN_POSITIVE));
    smaller >= MIN_TEXTURE_SIDE_PX || scale <= MAX_TEXTURE_SCALE
}

/// `image` with its levels reversed, so that a light floor is found as a dark one.
fn inverted(image: &GrayImage) -> GrayImage {
    let mut out = image.clone();
    for level in out.iter_mut() {
        *level = u8::MAX - *level;
    }
    out
}

/// Smallest share of an aligned image its dark floor (a black background) must cover.
const FLOOR_MIN_SHARE: f32 = 0.2;
/// How far above its darkest levels (1st percentile) a pixel still belongs to the floor, as a
/// share of the image's range (1st to 99th percentile), and at least [`FLOOR_MIN_LEVELS`].
const FLOOR_RANGE_SHARE: f32 = 0.05;
const FLOOR_MIN_LEVELS: f32 = 2.0;
/// A noisy floor (a camera's dark noise, a JPEG's ringing) reaches as far above its commonest
/// level as its darkest pixels lie below it, within this share of the range.
const FLOOR_NOISE_RANGE_SHARE: f32 = 0.25;
/// Smallest share of the pixels a rank comparison without the floors must keep.
const FLOOR_MIN_KEPT: f32 = 0.05;
/// Largest share of those kept pixels one level may hold.
const FLOOR_MAX_FLAT_KEPT: f32 = 0.3;

/// `left_out` widened by the dark floor of either image (the pixels within a few levels of its
/// darkest, or as far above its commonest dark level as the darkest lie below it where the floor
/// is noisy, when they cover [`FLOOR_MIN_SHARE`] of it), or `None` when neither has one or too
/// little would be left. A light floor is found on the images' levels reversed, and only for
/// whole panels that agree strongly (see [`settle`]): a look-alike's own grain there is what the
/// rank floor refuses.
fn without_dark_floor(a: &GrayImage, b: &GrayImage, left_out: &[bool]) -> Option<Vec<bool>> {
    let floor = |image: &GrayImage| -> Option<u8> {
        let counts = level_counts(image.as_raw());
        let total = image.pixels().len();
        let percentile = |share: f32| {
            let wanted = (share * total as f32).ceil() as u32;
            let mut seen = 0;
            counts
                .iter()
                .position(|&n| {
                    seen += n;
                    seen >= wanted.max(1)
                })
                .unwrap_or(255) as f32
        };
        let (low, high) = (percentile(0.01), percentile(0.99));
        let noisy_limit = (low + (high - low) * FLOOR_NOISE_RANGE_SHARE) as usize;
        let commonest = (low as usize..=noisy_limit.min(255))
            .max_by_key(|&level| counts[level])
            .unwrap_or(low as usize) as f32;
        let top = (low + ((high - low) * FLOOR_RANGE_SHARE).max(FLOOR_MIN_LEVELS))
            .max((2.0 * commonest - low).min(noisy_limit as f32));
        let level = top.min(255.0) as usize;
        let on_floor: u32 = counts[..=level].iter().sum();
        (on_floor as f32 >= FLOOR_MIN_SHARE * total as f32).then_some(level as u8)
    };
    let (floor_a, floor_b) = (floor(a), floor(b));
    if floor_a.is_none() && floor_b.is_none() {
        return None;
    }
    let on = |image: &GrayImage, floor: Option<u8>, i: usize| {
        floor.is_some_and(|floor| image.as_raw()[i] <= floor)
    };
    let without: Vec<bool> = (0..left_out.len())
        .map(|i| left_out[i] || on(a, floor_a, i) || on(b, floor_b, i))
        .collect();
    let kept = without.iter().filter(|out| !**out).count();
    if (kept as f32) < FLOOR_MIN_KEPT * without.len() as f32 {
        return None;
    }
    // What is left must be content: a chart's bars, once their black is out, leave a flat
    // paper white and two edges.
    let flat = |image: &GrayImage| {
        let counts = level_counts(
            image
                .as_raw()
                .iter()
                .zip(&without)
                .filter(|(_, out)| !**out)
                .map(|(level, _)| level),
        );
        counts.iter().max().copied().unwrap_or(0) as f32 > FLOOR_MAX_FLAT_KEPT * kept as f32
    };
    (!flat(a) && !flat(b)).then_some(without)
}

/// A registration's result: the relation with its registered regions and the correlations of
/// the two aligned images, those images, and the pixels left out as a mark.
type Registered = (Relation, GrayImage, GrayImage, Vec<bool>);

/// `relation` registered at `regions`, where `aligned` (the two regions at the work size) agree
/// as `agreement` says.
fn registered(
    relation: &Relation,
    (region_a, region_b): ([f32; 4], [f32; 4]),
    (aligned_a, aligned_b): (GrayImage, GrayImage),
    agreement: Agreement,
) -> Registered {
    (
        Relation {
            region_a,
            region_b,
            correlation: agreement.correlation,
            detail_correlation: agreement.detail_correlation,
            ..relation.clone()
        },
        aligned_a,
        aligned_b,
        agreement.left_out,
    )
}

/// Region `r` (fractions of `image`) in pixels of it.
fn pixel_box(image: &GrayImage, r: &[f32; 4]) -> [f32; 4] {
    let (w, h) = (image.width() as f32, image.height() as f32);
    [r[0] * w, r[1] * h, r[2] * w, r[3] * h]
}

/// Sub-pixel registration of an alignment without a small rotation: `b_turned`'s region is
/// resampled with shifts of a fraction of a work pixel and scales within 2 %, and the placement
/// correlating best with `a`'s region wins. Returns the relation with its refined second region
/// and correlations, the two aligned images, and the pixels left out as a mark.
fn register(
    a: &GrayImage,
    b_turned: &GrayImage,
    relation: &Relation,
    work_side: u32,
) -> Option<Registered> {
    let [ax0, ay0, ax1, ay1] = pixel_box(a, &relation.region_a);
    let (x0, y0) = (ax0.floor().max(0.0) as u32, ay0.floor().max(0.0) as u32);
    let (x1, y1) = (
        (ax1.ceil() as u32).min(a.width()),
        (ay1.ceil() as u32).min(a.height()),
    );
    if x1 <= x0 + 8 || y1 <= y0 + 8 {
        return None;
    }
    let aligned_a = fit(
        &image::imageops::crop_imm(a, x0, y0, x1 - x0, y1 - y0).to_image(),
        work_side,
    );
    let (w, h) = (aligned_a.width() as usize, aligned_a.height() as usize);
    if w < 8 || h < 8 {
        return None;
    }
    // The second region, shrunk first so that bilinear sampling never skips source pixels.
    let [bx0, by0, bx1, by1] = pixel_box(b_turned, &relation.region_b);
    let shrink = ((2.0 * w as f32) / (bx1 - bx0).max(1.0)).min(1.0);
    let source = if shrink < 1.0 {
        resample(
            b_turned,
            ((b_turned.width() as f32 * shrink).round() as u32).max(1),
            ((b_turned.height() as f32 * shrink).round() as u32).max(1),
        )
    } else {
        b_turned.clone()
    };
    let (sw, sh) = (source.width() as usize, source.height() as usize);
    let sx = |x: f32| x * sw as f32 / b_turned.width() as f32;
    let sy = |y: f32| y * sh as f32 / b_turned.height() as f32;
    let (cx, cy) = (sx((bx0 + bx1) / 2.0), sy((by0 + by1) / 2.0));
    let (half_w, half_h) = (sx(bx1 - bx0) / 2.0, sy(by1 - by0) / 2.0);
    let raw = source.as_raw();
    // `b`'s region with its centre moved by (dx, dy) work pixels and its size scaled by `scale`.
    // Along one axis: the two source pixels the output pixel `index` of `count` falls between,
    // and how far it is past the first.
    let between = |index: usize,
                   count: usize,
                   centre: f32,
                   half: f32,
                   shift: f32,
                   scale: f32,
                   limit: usize| {
        let t = (index as f32 + 0.5) / count as f32 - 0.5;
        let at = (centre + (2.0 * t * scale + 2.0 * shift / count as f32) * half - 0.5)
            .clamp(0.0, (limit - 1) as f32);
        let low = at as usize;
        (low, (low + 1).min(limit - 1), at.fract())
    };
    let sample = |dx: f32, dy: f32, scale: f32| -> Vec<f32> {
        let mut out = Vec::with_capacity(w * h);
        for j in 0..h {
            let (y_low, y_high, fy) = between(j, h, cy, half_h, dy, scale, sh);
            for i in 0..w {
                let (x_low, x_high, fx) = between(i, w, cx, half_w, dx, scale, sw);
                let p = |xx: usize, yy: usize| f32::from(raw[yy * sw + xx]);
                out.push(
                    p(x_low, y_low) * (1.0 - fx) * (1.0 - fy)
                        + p(x_high, y_low) * fx * (1.0 - fy)
                        + p(x_low, y_high) * (1.0 - fx) * fy
                        + p(x_high, y_high) * fx * fy,
                );
            }
        }
        out
    };
    let values_a = intensities(&aligned_a);
    let fit_of = |(dx, dy, scale): (f32, f32, f32)| pearson(&values_a, &sample(dx, dy, scale));
    let mut best = ((0.0, 0.0, 1.0), fit_of((0.0, 0.0, 1.0)));
    let search = |candidates: Vec<(f32, f32, f32)>, best: &mut ((f32, f32, f32), f32)| {
        for candidate in candidates {
            let score = fit_of(candidate);
            if score > best.1 {
                *best = (candidate, score);
            }
        }
    };
    let steps = |step: f32, reach: i32| (-reach..=reach).map(move |k| k as f32 * step);
    let around = |(dx, dy, scale): (f32, f32, f32), step: f32, reach: i32| {
        steps(step, reach)
            .flat_map(|ox| steps(step, reach).map(move |oy| (dx + ox, dy + oy, scale)))
            .collect::<Vec<_>>()
    };
    search(around(best.0, 0.5, 3), &mut best);
    let (dx, dy, _) = best.0;
    search(
        steps(0.01, 2).map(|ds| (dx, dy, 1.0 + ds)).collect(),
        &mut best,
    );
    search(around(best.0, 0.25, 1), &mut best);
    let (dx, dy, scale) = best.0;
    let to_gray = |values: Vec<f32>| {
        GrayImage::from_raw(
            w as u32,
            h as u32,
            values
                .into_iter()
                .map(|v| v.round().clamp(0.0, 255.0) as u8)
                .collect(),
        )
        .expect("size matches its data")
    };
    let aligned_b = to_gray(sample(dx, dy, scale));
    let agreement = correlate(&aligned_a, &aligned_b, relation.dihedral != "identity");
    // The refined second region, back in fractions of the second panel.
    let (bw, bh) = (b_turned.width() as f32, b_turned.height() as f32);
    let (centre_x, centre_y) = (
        (bx0 + bx1) / 2.0 + dx * (bx1 - bx0) / w as f32,
        (by0 + by1) / 2.0 + dy * (by1 - by0) / h as f32,
    );
    let (reach_x, reach_y) = ((bx1 - bx0) / 2.0 * scale, (by1 - by0) / 2.0 * scale);
    let region_b = [
        ((centre_x - reach_x) / bw).clamp(0.0, 1.0),
        ((centre_y - reach_y) / bh).clamp(0.0, 1.0),
        ((centre_x + reach_x) / bw).clamp(0.0, 1.0),
        ((centre_y + reach_y) / bh).clamp(0.0, 1.0),
    ];
    let region_a = [
        x0 as f32 / a.width() as f32,
        y0 as f32 / a.height() as f32,
        x1 as f32 / a.width() as f32,
        y1 as f32 / a.height() as f32,
    ];
    Some(registered(
        relation,
        (region_a, region_b),
        (aligned_a, aligned_b),
        agreement,
    ))
}

/// Registration of an alignment without a small rotation on one pixel grid: both panels are
/// brought to a resolution where the first region is at most twice the work size, the second
/// region is moved there by whole pixels (and scaled within 2 %), and every placement is cut
/// from both and fit to the work size alike. Both sides pass through the same filters, so a fine
/// texture's grain (a micrograph's fibres) stays comparable where interpolating one side to a
/// fraction of a pixel blurs it. Returns what [`register`] returns, or `None` unless the two then
/// correlate from `strong_correlation` on.
fn register_on_grid(
    a: &GrayImage,
    b_turned: &GrayImage,
    relation: &Relation,
    cfg: &VerifyConfig,
) -> Option<Registered> {
    let work_side = cfg.work_side;
    let [ax0, ay0, ax1, ay1] = pixel_box(a, &relation.region_a);
    let [bx0, by0, bx1, by1] = pixel_box(b_turned, &relation.region_b);
    let (aw, ah, bw, bh) = (ax1 - ax0, ay1 - ay0, bx1 - bx0, by1 - by0);
    if aw.min(ah).min(bw).min(bh) < 8.0 {
        return None;
    }
    let sized = |image: &GrayImage, w: f32, h: f32| {
        let (w, h) = ((w.round() as u32).max(1), (h.round() as u32).max(1));
        if (w, h) == image.dimensions() {
            image.clone()
        } else if w < image.width() {
            resample(image, w, h)
        } else {
            image::imageops::resize(image, w, h, image::imageops::FilterType::CatmullRom)
        }
    };
    let grid = (2.0 * work_side as f32 / aw.max(ah)).min(1.0);
    let a_grid = sized(a, a.width() as f32 * grid, a.height() as f32 * grid);
    let (gx, gy) = (
        a_grid.width() as f32 / a.width() as f32,
        a_grid.height() as f32 / a.height() as f32,
    );
    // Second-panel pixels per first-panel pixel, over the region; a copy within a few percent
    // of one is taken at its pixels first (the commonest copy, which any resampling blurs).
    let base_scale = match ((bw / aw) * (bh / ah)).sqrt() {
        near_one if (near_one - 1.0).abs() <= 0.03 => 1.0,
        scale => scale,
    };
    // The second panel on the grid at `scale`, and its region's top-left corner there.
    let on_grid = |scale: f32| {
        let image = sized(
            b_turned,
            b_turned.width() as f32 * gx / scale,
            b_turned.height() as f32 * gy / scale,
        );
        let (fx, fy) = (
            image.width() as f32 / b_turned.width() as f32,
            image.height() as f32 / b_turned.height() as f32,
        );
        let corner = ((bx0 * fx).round() as i64, (by0 * fy).round() as i64);
        (image, corner)
    };
    let (b_grid, _) = on_grid(base_scale);
    // The part cut from both: the first region, within either panel on the grid.
    let (cx0, cy0) = ((ax0 * gx).round() as u32, (ay0 * gy).round() as u32);
    let cw = ((aw * gx).round() as u32)
        .min(a_grid.width().saturating_sub(cx0))
        .min(b_grid.width());
    let ch = ((ah * gy).round() as u32)
        .min(a_grid.height().saturating_sub(cy0))
        .min(b_grid.height());
    if cw < 8 || ch < 8 {
        return None;
    }
    let aligned_a = fit(
        &image::imageops::crop_imm(&a_grid, cx0, cy0, cw, ch).to_image(),
        work_side,
    );
    // Drawings and screenshots (a template filled in with other numbers) align their strokes
    // as closely as copies do: only a picture textured all over, whose grain is its own, is
    // registered this finely.
    if !textured_all_over(&aligned_a) {
        return None;
    }
    let values_a = intensities(&aligned_a);
    let window = |image: &GrayImage, (x, y): (i64, i64)| -> Option<GrayImage> {
        (x >= 0 && y >= 0 && x as u32 + cw <= image.width() && y as u32 + ch <= image.height())
            .then(|| {
                fit(
                    &image::imageops::crop_imm(image, x as u32, y as u32, cw, ch).to_image(),
                    work_side,
                )
            })
    };
    let a_corner = (i64::from(cx0), i64::from(cy0));
    // The second region moved by `shift` against the first: the second panel's window moves
    // where it has room (a part inside it), the first panel's the other way where it has not
    // (the whole second panel, a crop of the first). The first window's corner, and the pair.
    let pair = |image: &GrayImage, corner: (i64, i64), (dx, dy): (i64, i64)| {
        if let Some(b) = window(image, (corner.0 + dx, corner.1 + dy)) {
            return Some((a_corner, None, b));
        }
        let moved = (a_corner.0 - dx, a_corner.1 - dy);
        let a = window(&a_grid, moved)?;
        Some((moved, Some(a), window(image, corner)?))
    };
    // (score, scale, shift)
    let mut best: Option<(f32, f32, (i64, i64))> = None;
    let search =
        |best: &mut Option<(f32, f32, (i64, i64))>, scale: f32, around: (i64, i64), reach: i64| {
            let (image, corner) = on_grid(scale);
            for dy in -reach..=reach {
                for dx in -reach..=reach {
                    let shift = (around.0 + dx, around.1 + dy);
                    let Some((_, a, b)) = pair(&image, corner, shift) else {
                        continue;
                    };
                    let values = a.as_ref().map(intensities);
                    let score = pearson(values.as_ref().unwrap_or(&values_a), &intensities(&b));
                    if best.is_none_or(|found| score > found.0) {
                        *best = Some((score, scale, shift));
                    }
                }
            }
        };
    search(&mut best, base_scale, (0, 0), 3);
    let (_, _, found) = best?;
    for step in [-0.02f32, -0.01, 0.01, 0.02] {
        search(&mut best, base_scale * (1.0 + step), found, 1);
    }
    let (_, scale, shift) = best?;
    let (image, b_corner) = on_grid(scale);
    let ((ax, ay), moved_a, aligned_b) = pair(&image, b_corner, shift)?;
    let aligned_a = moved_a.unwrap_or(aligned_a);
    let corner = if ax == a_corner.0 && ay == a_corner.1 {
        (b_corner.0 + shift.0, b_corner.1 + shift.1)
    } else {
        b_corner
    };
    let agreement = correlate(&aligned_a, &aligned_b, relation.dihedral != "identity");
    // On one grid a copy agrees all but exactly. One that this placement only lifts to the bar
    // is a look-alike it flatters: a screenshot of one template with other numbers in it.
    if agreement.correlation < cfg.strong_correlation {
        return None;
    }
    let (fx, fy) = (
        image.width() as f32 / b_turned.width() as f32,
        image.height() as f32 / b_turned.height() as f32,
    );
    let (bw_full, bh_full) = (b_turned.width() as f32, b_turned.height() as f32);
    let region_b = [
        (corner.0 as f32 / fx / bw_full).clamp(0.0, 1.0),
        (corner.1 as f32 / fy / bh_full).clamp(0.0, 1.0),
        ((corner.0 as f32 + cw as f32) / fx / bw_full).clamp(0.0, 1.0),
        ((corner.1 as f32 + ch as f32) / fy / bh_full).clamp(0.0, 1.0),
    ];
    let region_a = [
        ax as f32 / a_grid.width() as f32,
        ay as f32 / a_grid.height() as f32,
        (ax as f32 + cw as f32) / a_grid.width() as f32,
        (ay as f32 + ch as f32) / a_grid.height() as f32,
    ];
    Some(registered(
        relation,
        (region_a, region_b),
        (aligned_a, aligned_b),
        agreement,
    ))
}

/// Builds [`Verify`] stages.
pub struct VerifyStageConfig {
    config: VerifyConfig,
    cache: std::sync::Arc<crate::index::PanelCache>,
    store: std::sync::Arc<crate::store::Store>,
    pool: std::sync::Arc<rayon::ThreadPool>,
}

impl VerifyStageConfig {
    /// Stages verifying with `config`, reading other panels from `cache` or `store`.
    pub fn new(
        config: VerifyConfig,
        cache: std::sync::Arc<crate::index::PanelCache>,
        store: std::sync::Arc<crate::store::Store>,
    ) -> Self {
        Self {
            config,
            cache,
            store,
            pool: std::sync::Arc::new(verification_pool()),
        }
    }
}

/// One thread per core, shared by the stage's workers, for the pairs of each document: a
/// document with many candidates would otherwise hold one core alone at the end of a run. Its
/// own pool, because the process's global one is sized for the embedder's single-threaded passes.
fn verification_pool() -> rayon::ThreadPool {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    rayon::ThreadPoolBuilder::new()
        .num_threads(cores)
        .thread_name(|k| format!("verify-pairs-{k}"))
        .build()
        .unwrap_or_else(|_| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .expect("a one-thread pool")
        })
}

/// Suppresses the verified within-document matches of drawn graphics (both panels of class
/// `other`) whose panels form groups of at least `min_repeats` copies: a document drawing the
/// same icon or label over and over is not reusing a figure. Matches already suppressed keep
/// their reason.
pub fn suppress_repeated_graphics(matches: &mut [crate::units::MatchRecord], min_repeats: usize) {
    use std::collections::HashMap;
    let graphic = |m: &crate::units::MatchRecord| {
        m.verified
            && m.a.doc == m.b.doc
            && m.a.class == Some(crate::units::PanelClass::Other)
            && m.b.class == Some(crate::units::PanelClass::Other)
    };
    if min_repeats == 0 {
        return;
    }
    let mut parent: HashMap<i64, i64> = HashMap::new();
    fn root(parent: &HashMap<i64, i64>, mut id: i64) -> i64 {
        while let Some(&up) = parent.get(&id).filter(|&&up| up != id) {
            id = up;
        }
        id
    }
    for m in matches.iter().filter(|m| graphic(m)) {
        parent.entry(m.a.id).or_insert(m.a.id);
        parent.entry(m.b.id).or_insert(m.b.id);
        let (a, b) = (root(&parent, m.a.id), root(&parent, m.b.id));
        parent.insert(a, b);
    }
    let mut sizes: HashMap<i64, usize> = HashMap::new();
    for &id in parent.keys() {
        *sizes.entry(root(&parent, id)).or_default() += 1;
    }
    for m in matches.iter_mut() {
        if graphic(m) && m.suppressed.is_none() && sizes[&root(&parent, m.a.id)] >= min_repeats {
            m.suppressed = Some("repeated_graphic".to_string());
        }
    }
}

impl panelscope_engine::StageConfig for VerifyStageConfig {
    type Stage = Verify;

    fn build(
        &self,
        _cx: &panelscope_engine::BuildContext,
    ) -> Result<Verify, panelscope_engine::StageError> {
        Ok(Verify {
            config: self.config.clone(),
            cache: std::sync::Arc::clone(&self.cache),
            store: std::sync::Arc::clone(&self.store),
            pool: std::sync::Arc::clone(&self.pool),
        })
    }
}

/// The verify stage: checks every candidate pair of a document geometrically.
pub struct Verify {
    config: VerifyConfig,
    cache: std::sync::Arc<crate::index::PanelCache>,
    store: std::sync::Arc<crate::store::Store>,
    pool: std::sync::Arc<rayon::ThreadPool>,
}

/// [`verify`] of two panels whose classes are known (`None`: unclassified): drawings share fine
/// structure (strokes, gridlines, lettering) without any grain, so two of them are never one
/// picture with a part changed, and a part of a drawing laid on a part of another is an axis, a
/// legend or lettering drawn alike, not reuse. Having no grain to share, two whole drawings are
/// judged on their coarse detail instead ([`drawings_agree`]).
pub fn verify_classed(
    (a, a_class): (&GrayImage, Option<crate::units::PanelClass>),
    (b, b_class): (&GrayImage, Option<crate::units::PanelClass>),
    hint: Dihedral,
    cfg: &VerifyConfig,
) -> Relation {
    let drawn =
        |class: Option<crate::units::PanelClass>| class == Some(crate::units::PanelClass::Other);
    let pictures = if drawn(a_class) || drawn(b_class) {
        Pictures::NotBoth
    } else {
        Pictures::Both
    };
    let mut relation = verify_of(a, b, hint, pictures, cfg);
    if relation.edited && drawn(a_class) && drawn(b_class) {
        relation.edited = false;
        relation.verified = false;
    }
    if relation.partial && (drawn(a_class) || drawn(b_class)) {
        relation.verified = false;
    }
    if !relation.verified && drawn(a_class) && drawn(b_class) && drawings_agree(&relation, cfg) {
        relation.verified = true;
    }
    relation
}

/// Whether two drawings (charts, diagrams), laid whole on each other, agree as copies do in
/// layout, ranks and detail, and in coarse detail as `strong_min_coarse_detail_correlation`
/// asks. A picture whose detail a resampling or a JPEG blurred proves itself by its grain; a
/// drawing has none, but its strokes and lettering keep their outlines through both, where a
/// chart drawn to the same template (other values, other labels) does not.
fn drawings_agree(relation: &Relation, cfg: &VerifyConfig) -> bool {
    !relation.partial
        && !relation.within
        && !relation.edited
        && relation.correlation >= cfg.min_correlation
        && relation.rank_correlation >= cfg.min_rank_correlation
        && relation.detail_correlation >= cfg.min_detail_correlation
        && relation.coarse_detail_correlation >= cfg.strong_min_coarse_detail_correlation
}

/// The relation between a candidate's older panel (`older_gray`) and its newer one, as a reviewer
/// sees it: verified or not, with the scale on the page.
fn verify_pair(
    candidate: &crate::units::Candidate,
    newer: &crate::units::PanelItem,
    older_gray: &GrayImage,
    newer_gray: &GrayImage,
    config: &VerifyConfig,
) -> Relation {
    let mut relation = verify_classed(
        (older_gray, candidate.older.class),
        (newer_gray, newer.class),
        candidate.view,
        config,
    );
    // The scale a reviewer sees: on the page, in points.
    let points = |b: &crate::units::BBox| {
        (
            b.width().round().max(1.0) as u32,
            b.height().round().max(1.0) as u32,
        )
    };
    relation.scale = content_scale(
        &relation,
        points(&candidate.older.bbox),
        points(&newer.bbox),
    );
    relation
}

impl Verify {
    fn verify_document(
        &self,
        document: &crate::units::DocumentCandidates,
    ) -> crate::units::DocumentMatched {
        use crate::units::{MatchRecord, PanelPlace};
        let panels = &document.embedded.document.panels;
        let info = &document.embedded.document.info;
        // Each newer panel's grey thumbnail, as is or as the store would give it back, made once
        // however many candidates it has.
        let mut newer_grays: std::collections::HashMap<(i64, bool), GrayImage> =
            std::collections::HashMap::new();
        // Older thumbnails are read a few per pool thread at a time, so a document with many
        // candidates does not hold all of them at once.
        let chunk = self.pool.current_num_threads().max(1) * 4;
        let mut pairs = Vec::with_capacity(document.candidates.len());
        let mut relations: Vec<Relation> = Vec::with_capacity(document.candidates.len());
        for candidates in document.candidates.chunks(chunk) {
            let mut olders = Vec::with_capacity(candidates.len());
            for candidate in candidates {
                let Some(newer) = panels.iter().find(|p| p.id == candidate.newer) else {
                    continue;
                };
                let Some(mut older) = self.cache.get(candidate.older.id, &self.store) else {
                    continue;
                };
                // Another document's panel is compared as the store gives it back, whether or not
                // the store has it yet: which it is depends on how far recording has got, and a
                // run's results must not.
                if !older.stored && older.place.doc != info.job.id {
                    older.thumb = std::sync::Arc::new(crate::store::as_stored(&older.thumb));
                    older.stored = true;
                }
                // Like with like: a thumbnail read back from the store went through its JPEG.
                newer_grays
                    .entry((newer.id, older.stored))
                    .or_insert_with(|| {
                        if older.stored {
                            crate::store::as_stored(&newer.thumb).to_gray()
                        } else {
                            newer.thumb.to_gray()
                        }
                    });
                pairs.push((candidate, newer));
                olders.push(older);
            }
            let done = pairs.len() - olders.len();
            let newer_grays = &newer_grays;
            relations.extend(self.pool.install(|| {
                pairs[done..]
                    .par_iter()
                    .zip(olders.par_iter())
                    .map(|((candidate, newer), older)| {
                        verify_pair(
                            candidate,
                            newer,
                            &older.thumb.to_gray(),
                            &newer_grays[&(newer.id, older.stored)],
                            &self.config,
                        )
                    })
                    .collect::<Vec<_>>()
            }));
        }
        let mut matches = Vec::with_capacity(pairs.len());
        let mut verified = 0u64;
        let place = |panel: &crate::units::PanelItem| PanelPlace {
            id: panel.id,
            doc: info.job.id,
            path: info.job.path.display().to_string(),
            page: panel.page + 1,
            bbox: panel.bbox,
            class: panel.class,
        };
        // The document's panels of `classes` that are neither boilerplate nor near-blank.
        let pictures_of = |classes: &[crate::units::PanelClass]| -> Vec<&crate::units::PanelItem> {
            panels
                .iter()
                .zip(document.boilerplate.iter().chain(std::iter::repeat(&false)))
                .filter(|(panel, boilerplate)| {
                    !panel.uniform
                        && !**boilerplate
                        && panel.class.is_some_and(|c| classes.contains(&c))
                })
                .map(|(panel, _)| panel)
                .collect()
        };
        use crate::units::PanelClass::{Blot, Gel, Microscopy};
        // Parts repeated within one picture: every blot and gel of the document. Drawings repeat
        // their strokes and lettering by design, and charts taken for micrographs (coloured bars,
        // a legend's repeated lines, recompressed) are where repeats were found wrongly, so
        // micrographs are left out for now.
        let pictures = pictures_of(&[Blot, Gel]);
        let repeats: Vec<Option<Relation>> = if !self.config.search_within_panels {
            Vec::new()
        } else {
            self.pool.install(|| {
                pictures
                    .par_iter()
                    .map(|panel| verify_within(&panel.thumb.to_gray(), &self.config))
                    .collect()
            })
        };
        // Whether two panels' whole-panel match was verified already: a shared part of theirs is
        // left to that match.
        let matched = |a: i64, b: i64| {
            pairs
                .iter()
                .zip(&relations)
                .any(|((candidate, newer), relation)| {
                    relation.verified
                        && ((candidate.older.id, newer.id) == (a, b)
                            || (candidate.older.id, newer.id) == (b, a))
                })
        };
        // Parts spliced from one picture into another of the document, at the scale both were
        // drawn at.
        let shared = if !self.config.search_shared_parts {
            Vec::new()
        } else {
            fn with_gray(
                panels: Vec<&crate::units::PanelItem>,
            ) -> Vec<(&crate::units::PanelItem, &GrayImage)> {
                panels
                    .into_iter()
                    .filter_map(|panel| panel.gray.as_ref().map(|gray| (panel, gray)))
                    .collect()
            }
            // Blots and gels are searched across the document (a band spliced from another
            // figure's blot); micrographs on their page, beside its blots and gels, for
            // overlapping fields of one specimen shown as different samples: a paper's hundreds
            // of micrographs would cost every pair of them a transform. Each search is laid at
            // the size of its own largest picture, so a page's micrographs do not enlarge the
            // transforms of the document's blots.
            let micrograph = |p: &crate::units::PanelItem| p.class == Some(Microscopy);
            let mut groups = vec![with_gray(pictures_of(&[Blot, Gel]))];
            let all = with_gray(pictures_of(&[Blot, Gel, Microscopy]));
            let mut pages: Vec<u32> = all
                .iter()
                .filter(|(p, _)| micrograph(p))
                .map(|(p, _)| p.page)
                .collect();
            pages.sort_unstable();
            pages.dedup();
            for page in pages {
                groups.push(
                    all.iter()
                        .copied()
                        .filter(|(p, _)| p.page == page)
                        .collect(),
                );
            }
            let mut budget = self.config.max_shared_part_pairs;
            let mut skipped = 0;
            let mut found = Vec::new();
            for (n, group) in groups.iter().enumerate() {
                let grays: Vec<&GrayImage> = group.iter().map(|(_, gray)| *gray).collect();
                let parts = |i: usize, j: usize| {
                    if n == 0 {
                        SharedParts::Any
                    } else if micrograph(group[i].0) || micrograph(group[j].0) {
                        SharedParts::OverlappingFields
                    } else {
                        SharedParts::Unsearched
                    }
                };
                let search = self
                    .pool
                    .install(|| verify_shared_parts_among(&grays, parts, budget, &self.config));
                budget -= search.searched;
                skipped += search.skipped;
                found.extend(
                    search
                        .found
                        .into_iter()
                        .map(|(i, j, relation)| (group[i].0, group[j].0, relation)),
                );
            }
            if skipped > 0 {
                tracing::warn!(
                    document = %info.job.path.display(),
                    skipped,
                    searched = self.config.max_shared_part_pairs,
                    "Pairs of pictures left out of the search for shared parts ([verify] max_shared_part_pairs)."
                );
                metrics::counter!("panelscope_verify_shared_pairs_skipped_total")
                    .increment(skipped as u64);
            }
            found
                .into_iter()
                // Two panels found over one place of a page show the same pixels.
                .filter(|(a, b, _)| {
                    let one_place = a.page == b.page && a.bbox.intersection(&b.bbox).is_some();
                    !one_place && !matched(a.id, b.id)
                })
                .collect::<Vec<_>>()
        };
        // Parts of earlier papers' pictures that the index of parts proposes (a band spliced
        // from another paper's blot), searched as a document's own pictures are.
        let proposed: Vec<(
            &crate::units::PartCandidate,
            &crate::units::PanelItem,
            std::sync::Arc<GrayImage>,
        )> = document
            .part_candidates
            .iter()
            .filter(|candidate| !matched(candidate.older.id, candidate.newer))
            .filter_map(|candidate| {
                let newer = panels.iter().find(|p| p.id == candidate.newer)?;
                let older = self.cache.gray(candidate.older.id, &self.store)?;
                newer.gray.as_ref()?;
                Some((candidate, newer, older))
            })
            .collect();
        let across: Vec<(
            &crate::units::PartCandidate,
            &crate::units::PanelItem,
            Relation,
        )> = self.pool.install(|| {
            proposed
                .par_iter()
                .filter_map(|(candidate, newer, older)| {
                    let gray = newer.gray.as_ref()?;
                    let relation = verify_part_at(older, gray, candidate.shift, &self.config)?;
                    Some((*candidate, *newer, relation))
                })
                .collect()
        });
        for (candidate, newer, relation) in across {
            verified += u64::from(relation.verified);
            metrics::counter!("panelscope_verify_part_proposals_verified_total")
                .increment(u64::from(relation.verified));
            matches.push(MatchRecord {
                a: candidate.older.clone(),
                b: place(newer),
                similarity: relation.correlation,
                verified: relation.verified,
                kind: "cross_document".to_string(),
                transform: relation,
                suppressed: None,
            });
        }
        for (a, b, relation) in shared {
            verified += u64::from(relation.verified);
            matches.push(MatchRecord {
                a: place(a),
                b: place(b),
                similarity: relation.correlation,
                verified: relation.verified,
                kind: "intra_document".to_string(),
                transform: relation,
                suppressed: None,
            });
        }
        for (panel, relation) in pictures.iter().zip(repeats) {
            let Some(relation) = relation else { continue };
            verified += u64::from(relation.verified);
            matches.push(MatchRecord {
                a: place(panel),
                b: place(panel),
                similarity: relation.correlation,
                verified: relation.verified,
                kind: "intra_document".to_string(),
                transform: relation,
                suppressed: None,
            });
        }
        for ((candidate, newer), relation) in pairs.into_iter().zip(relations) {
            verified += u64::from(relation.verified);
            let b = place(newer);
            let kind = if candidate.older.doc == info.job.id {
                "intra_document"
            } else {
                "cross_document"
            };
            matches.push(MatchRecord {
                a: candidate.older.clone(),
                b,
                similarity: candidate.similarity,
                verified: relation.verified,
                kind: kind.to_string(),
                transform: relation,
                suppressed: candidate.boilerplate.then(|| "boilerplate".to_string()),
            });
        }
        suppress_repeated_graphics(&mut matches, self.config.min_graphic_repeats);
        metrics::counter!("panelscope_verify_verified_total").increment(verified);
        metrics::counter!("panelscope_verify_refused_total")
            .increment(matches.len() as u64 - verified);
        crate::units::DocumentMatched {
            embedded: document.embedded.clone(),
            boilerplate: document.boilerplate.clone(),
            matches,
        }
    }
}

impl panelscope_engine::Stage for Verify {
    type In = crate::units::DocumentCandidates;
    type Out = crate::units::DocumentMatched;

    fn process(&mut self, batch: &[Self::In]) -> Vec<panelscope_engine::ItemResult<Self::Out>> {
        batch
            .iter()
            .map(|document| {
                Ok(panelscope_engine::Outputs::One(
                    self.verify_document(document),
                ))
            })
            .collect()
    }

    fn describe(&self, document: &Self::In) -> String {
        document.path().display().to_string()
    }

    fn key(&self, document: &Self::In) -> Option<String> {
        Some(document.embedded.document.info.job.id.to_hex())
    }

    fn sequence(&self, document: &Self::In) -> Option<u64> {
        Some(document.embedded.position())
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use image::Luma;

    #[test]
    fn shifted_correlations_agree_with_plain_pearson_over_copied_windows() {
        let (w, h, m) = (37usize, 23usize, 2usize);
        let texture = |seed: u32| -> Vec<f32> {
            (0..w * h)
                .map(|i| {
                    ((i as u32).wrapping_mul(2_654_435_761) ^ seed.wrapping_mul(40_503)) as f32
                        / 4e9
                })
                .collect()
        };
        let (a, mut b) = (texture(1), texture(2));
        // `b` holds `a` shifted by one pixel right and two down, with noise of its own.
        for y in 2..h {
            for x in 1..w {
                b[y * w + x] = a[(y - 2) * w + x - 1] + 0.1 * b[y * w + x];
            }
        }
        let (iw, ih) = (w - 2 * m, h - 2 * m);
        let window = |values: &[f32], x0: usize, y0: usize| -> Vec<f32> {
            (0..ih)
                .flat_map(|y| values[(y0 + y) * w + x0..(y0 + y) * w + x0 + iw].to_vec())
                .collect()
        };
        let plain = (0..=2 * m)
            .flat_map(|dy| (0..=2 * m).map(move |dx| (dx, dy)))
            .map(|(dx, dy)| pearson(&window(&a, m, m), &window(&b, dx, dy)))
            .fold(f32::MIN, f32::max);
        let fast = best_shifted_pearson(&a, &b, (w, h), m);
        assert!((plain - fast).abs() < 1e-4, "{plain} against {fast}");
        assert!(fast > 0.9, "{fast}");
        // A flat picture correlates with nothing.
        assert_eq!(best_shifted_pearson(&vec![3.0; w * h], &b, (w, h), m), 0.0);
    }

    #[test]
    fn high_pass_subtracts_the_mean_of_the_window_inside_the_image() {
        let (width, height) = (7usize, 5usize);
        let values: Vec<f32> = (0..width * height)
            .map(|i| ((i * 37 + 11) % 23) as f32 / 23.0)
            .collect();
        let fast = high_pass(&values, width, height, 2);
        for y in 0..height {
            for x in 0..width {
                let (mut sum, mut count) = (0.0, 0.0);
                for sy in y.saturating_sub(2)..(y + 3).min(height) {
                    for sx in x.saturating_sub(2)..(x + 3).min(width) {
                        sum += values[sy * width + sx];
                        count += 1.0;
                    }
                }
                let expected = values[y * width + x] - sum / count;
                assert!((fast[y * width + x] - expected).abs() < 1e-5, "({x}, {y})");
            }
        }
    }

    /// A blot-like image with noise, from a seed.
    fn blot(seed: u32, width: u32, height: u32) -> GrayImage {
        GrayImage::from_fn(width, height, |x, y| {
            let lane = x * 6 / width;
            let centre = height / 4 + (lane * 37 + seed * 11) % (height / 2);
            let dy = (y as i32 - centre as i32).unsigned_abs();
            let band = if dy < height / 10 && (x * 6) % width > width / 8 {
                90 + (lane * 13 + seed * 7) % 80
            } else {
                0
            };
            let noise = (x.wrapping_mul(73_856_093)
                ^ y.wrapping_mul(19_349_663)
                ^ seed.wrapping_mul(83_492_791))
                % 23;
            Luma([(225 - y * 25 / height - band + noise).clamp(0, 255) as u8])
        })
    }

    #[test]
    fn a_sliver_against_a_panel_gives_finite_numbers() {
        // A thumbnail of a 1710×27 strip from the real PDFs is 384×6, two pixels high at the
        // working size; against this panel its regions came out NaN.
        let sliver = GrayImage::from_fn(384, 6, |x, y| Luma([((x * 31 + y * 17) % 97 + 80) as u8]));
        let panel = GrayImage::from_fn(117, 45, |x, y| Luma([((x * 13 + y * 7) % 101 + 90) as u8]));
        for hint in Dihedral::ALL {
            for (a, b) in [(&sliver, &panel), (&panel, &sliver)] {
                let relation = verify(a, b, hint, &VerifyConfig::default());
                let json = serde_json::to_string(&relation).unwrap();
                assert!(!json.contains("null"), "{hint:?}: {json}");
                assert!(!relation.verified);
            }
        }
    }

    #[test]
    fn a_relation_stored_with_nans_loads_unverified_and_finite() {
        let stored = r#"{"dihedral":"flip_vertical","rotation_deg":0.0,"scale":null,
            "region_a":[0.0,null,1.0,null],"region_b":[0.0,null,1.0,null],"correlation":0.5,
            "detail_correlation":null,"verified":true}"#;
        let relation: Relation = serde_json::from_str(stored).unwrap();
        assert!(relation.scale.is_nan());
        let relation = relation.finite_or_unverified();
        assert!(!relation.verified);
        assert_eq!(relation.scale, 1.0);
        assert_eq!(relation.region_a, [0.0, 0.0, 1.0, 1.0]);
        assert_eq!(relation.correlation, 0.5);
        assert_eq!(relation.detail_correlation, 0.0);
    }

    #[test]
    fn a_rescaled_copy_verifies_with_its_scale() {
        let a = blot(1, 240, 120);
        let b = image::imageops::resize(&a, 180, 90, image::imageops::FilterType::Triangle);
        let r = verify(&a, &b, Dihedral::Identity, &VerifyConfig::default());
        assert!(r.verified, "{r:?}");
        assert_eq!(r.region_a, [0.0, 0.0, 1.0, 1.0]);
        assert!((r.scale - 0.75).abs() < 0.05, "{r:?}");
    }

    #[test]
    fn a_flipped_copy_verifies_under_its_hint() {
        let a = blot(2, 200, 120);
        let b = Dihedral::FlipHorizontal.apply(&a);
        let r = verify(&a, &b, Dihedral::FlipHorizontal, &VerifyConfig::default());
        assert!(r.verified && r.dihedral == "flip_horizontal", "{r:?}");
    }

    #[test]
    fn a_crop_verifies_and_locates_its_region() {
        let a = blot(3, 240, 160);
        let b = image::imageops::crop_imm(&a, 60, 30, 160, 110).to_image();
        let r = verify(&a, &b, Dihedral::Identity, &VerifyConfig::default());
        assert!(r.verified, "{r:?}");
        let expected = [60.0 / 240.0, 30.0 / 160.0, 220.0 / 240.0, 140.0 / 160.0];
        for (found, want) in r.region_a.iter().zip(expected) {
            assert!((found - want).abs() < 0.06, "{r:?}");
        }
    }

    /// The real figure `name` of ../shared/data/figures/figure-separator, gray; `None` (said)
    /// where the data is absent.
    fn separator_figure(name: &str) -> Option<GrayImage> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/data/figures/figure-separator")
            .join(name);
        let figure = image::open(&path).map(|f| f.to_luma8()).ok();
        if figure.is_none() {
            eprintln!("{} is absent: nothing (more) to check", path.display());
        }
        figure
    }

    /// A real figure of stained brain sections, gray; `None` where the data is absent.
    fn stained_sections() -> Option<GrayImage> {
        separator_figure("PM27563885-Figure4-1.png")
    }

    #[test]
    fn overlapping_fields_of_a_real_section_are_shared_but_a_scale_bar_laid_alike_is_not() {
        let Some(figure) = stained_sections() else {
            return;
        };
        // Two different fields (hippocampus, basal forebrain), enlarged twice as a journal's
        // figure file would be, each with the same scale bar burnt in at its bottom right.
        let field = |y: u32| {
            let section = image::imageops::crop_imm(&figure, 76, y, 208, 155).to_image();
            let mut field =
                image::imageops::resize(&section, 416, 310, image::imageops::FilterType::Lanczos3);
            for (x, y) in (330..400).flat_map(|x| (288..294).map(move |y| (x, y))) {
                field.put_pixel(x, y, image::Luma([15]));
            }
            field
        };
        let (hippocampus, forebrain) = (field(30), field(371));
        let config = VerifyConfig::default();
        let fields_only = |_: usize, _: usize| SharedParts::OverlappingFields;
        let joined =
            verify_shared_parts_among(&[&hippocampus, &forebrain], fields_only, 1, &config).found;
        assert!(joined.iter().all(|(_, _, r)| !r.verified), "{joined:?}");

        // One field shown as two: its left and right two thirds, overlapping in its middle third.
        let (w, h) = hippocampus.dimensions();
        let left = image::imageops::crop_imm(&hippocampus, 0, 0, w * 2 / 3, h).to_image();
        let right = image::imageops::crop_imm(&hippocampus, w / 3, 0, w - w / 3, h).to_image();
        let found = verify_shared_parts_among(&[&left, &right], fields_only, 1, &config).found;
        let centre_x = |r: &[f32; 4]| (r[0] + r[2]) / 2.0;
        assert!(
            found.iter().any(|(_, _, r)| r.verified
                && r.partial
                && centre_x(&r.region_a) > 0.5
                && centre_x(&r.region_b) < 0.5),
            "{found:?}"
        );
    }

    #[test]
    fn crops_of_a_real_stained_section_are_registered_to_their_fibres() {
        let Some(figure) = stained_sections() else {
            return;
        };
        // The corpus callosum (IBA-1): fibres a pixel or two wide, its name lettered on top.
        let section = image::imageops::crop_imm(&figure, 74, 708, 210, 156).to_image();
        let config = VerifyConfig::default();
        // Left, right and middle parts below the lettering: a work pixel of misplacement (two
        // of the section's) decorrelates the fibres.
        for (x, y, w, h) in [(0, 24, 148, 132), (60, 24, 150, 132), (30, 40, 140, 100)] {
            let crop = image::imageops::crop_imm(&section, x, y, w, h).to_image();
            let r = verify(&section, &crop, Dihedral::Identity, &config);
            assert!(r.verified && r.correlation > 0.99, "{:?}: {r:?}", (x, y));
            let (sw, sh) = (section.width() as f32, section.height() as f32);
            let expected = [
                x as f32 / sw,
                y as f32 / sh,
                (x + w) as f32 / sw,
                (y + h) as f32 / sh,
            ];
            for (found, want) in r.region_a.iter().zip(expected) {
                assert!((found - want).abs() < 0.01, "{:?}: {r:?}", (x, y));
            }
        }
        // The same stain in another animal, framed and lettered alike, is not one of them.
        let other = image::imageops::crop_imm(&figure, 300, 740, 150, 120).to_image();
        assert!(!verify(&section, &other, Dihedral::Identity, &config).verified);
    }

    #[test]
    fn a_copy_whose_box_took_in_a_border_and_lost_its_grain_is_registered_to_it() {
        let Some(figure) = stained_sections() else {
            return;
        };
        // The corpus callosum again, and a copy boxed 3 pixels wider all round, drawn 1.3 times
        // the size and saved as a JPEG of quality 50: its grain no longer lines up at the work
        // resolution until it is registered to a fraction of a pixel.
        let (x, y, w, h) = (74, 708, 210, 156);
        let section = image::imageops::crop_imm(&figure, x, y, w, h).to_image();
        let copied = |x: u32, y: u32| {
            let boxed = image::imageops::crop_imm(&figure, x - 3, y - 3, w + 6, h + 6).to_image();
            let drawn = image::imageops::resize(
                &boxed,
                (w + 6) * 13 / 10,
                (h + 6) * 13 / 10,
                image::imageops::FilterType::Triangle,
            );
            through_jpeg(&drawn, 50)
        };
        let config = VerifyConfig::default();
        let r = verify(&section, &copied(x, y), Dihedral::Identity, &config);
        assert!(r.verified, "{r:?}");
        assert!(
            r.coarse_detail_correlation >= config.registered_min_coarse_detail_correlation,
            "{r:?}"
        );
        let unregistered = VerifyConfig {
            registered_min_coarse_detail_correlation: 1.1,
            ..config.clone()
        };
        let r = verify(&section, &copied(x, y), Dihedral::Identity, &unregistered);
        assert!(!r.verified, "{r:?}");
        // A drawing has no grain to lose: one side classed `other` is not registered past it.
        let drawn = Some(crate::units::PanelClass::Other);
        let r = verify_classed(
            (&section, None),
            (&copied(x, y), drawn),
            Dihedral::Identity,
            &config,
        );
        assert!(!r.verified, "{r:?}");
        // The same stain in another animal, framed and lettered alike, treated alike, is not it.
        let other = copied(300, 740);
        let r = verify(&section, &other, Dihedral::Identity, &config);
        assert!(!r.verified, "{r:?}");
    }

    #[test]
    fn a_slightly_rotated_copy_verifies() {
        let a = blot(4, 200, 200);
        let b = rotate(&a, 3.0);
        let r = verify(&a, &b, Dihedral::Identity, &VerifyConfig::default());
        assert!(r.verified, "{r:?}");
    }

    /// Bright grainy cells on a black background clipped to 0, as a fluorescence micrograph is
    /// exported; another `specimen` puts cells of the same size a little elsewhere, with a grain
    /// of its own.
    fn micrograph(specimen: u32, width: u32, height: u32) -> GrayImage {
        let shift = 0.06 * (specimen - 1) as f32;
        let centres = [
            (0.3 + shift, 0.35f32, 0.14f32),
            (0.7, 0.3 + shift, 0.12),
            (0.45 - shift, 0.72, 0.15),
        ];
        GrayImage::from_fn(width, height, |x, y| {
            let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
            let inside = centres.iter().any(|&(cx, cy, r)| {
                let (dx, dy) = (fx - cx, fy - cy);
                dx * dx + dy * dy < r * r
            });
            if !inside {
                return Luma([0]);
            }
            // Mixed well enough that two seeds' grains are independent.
            let grain = (x.wrapping_mul(73_856_093) ^ y.wrapping_mul(19_349_663))
                .wrapping_add(specimen.wrapping_mul(83_492_791))
                .wrapping_mul(2_654_435_761)
                >> 16;
            Luma([(120 + (x * 5 + y * 3) % 50 + grain % 60) as u8])
        })
    }

    /// `image` with its contrast lowered and a faint noise over everything: its clipped black
    /// background becomes dark grain.
    fn contrast_with_noise(image: &GrayImage) -> GrayImage {
        GrayImage::from_fn(image.width(), image.height(), |x, y| {
            let noise = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)) % 7;
            let v = f32::from(image.get_pixel(x, y).0[0]);
            Luma([(v * 0.8 + 10.0 + noise as f32).round().min(255.0) as u8])
        })
    }

    #[test]
    fn a_copy_whose_clipped_black_background_gained_grain_verifies() {
        let a = micrograph(1, 180, 160);
        let b = Dihedral::Rotate180.apply(&contrast_with_noise(&a));
        let r = verify(&a, &b, Dihedral::Rotate180, &VerifyConfig::default());
        assert!(r.verified, "{r:?}");
    }

    #[test]
    fn look_alike_micrographs_on_clipped_black_do_not_verify() {
        let a = micrograph(1, 180, 160);
        let b = contrast_with_noise(&micrograph(2, 180, 160));
        let r = verify(&a, &b, Dihedral::Identity, &VerifyConfig::default());
        assert!(!r.verified, "{r:?}");
    }

    /// `image` with its black floor lifted into blotchy dark noise (levels 0–32 in 4-pixel
    /// squares, which a reduction to the work size keeps), drawn from `seed`.
    fn on_noisy_floor(image: &GrayImage, seed: u32) -> GrayImage {
        GrayImage::from_fn(image.width(), image.height(), |x, y| {
            let v = image.get_pixel(x, y).0[0];
            if v > 0 {
                return Luma([v]);
            }
            let (x, y) = (x / 4, y / 4);
            let mut h = (u64::from(seed) << 40 | u64::from(y) << 20 | u64::from(x))
                .wrapping_mul(0x9E37_79B9_7F4A_7C15);
            h ^= h >> 29;
            Luma([(h.wrapping_mul(0xBF58_476D_1CE4_E5B9) >> 40) as u8 % 33])
        })
    }

    #[test]
    fn a_copy_whose_noisy_dark_floor_was_renewed_verifies() {
        // The floor's noise reaches 32 levels up, past a few levels above the darkest: all of it
        // is left out of the rank test, not its lower part alone.
        let a = on_noisy_floor(&micrograph(1, 180, 160), 1);
        let b = on_noisy_floor(&micrograph(1, 180, 160), 2);
        let config = VerifyConfig::default();
        let r = verify(&a, &b, Dihedral::Identity, &config);
        assert!(r.verified, "{r:?}");
        let look_alike = on_noisy_floor(&micrograph(2, 180, 160), 2);
        let r = verify(&a, &look_alike, Dihedral::Identity, &config);
        assert!(!r.verified, "{r:?}");
    }

    #[test]
    fn a_stained_section_whose_pale_background_was_renewed_verifies() {
        // Dark cells on a pale background whose noise a JPEG or the camera renewed: the noise's
        // ranks outweigh the cells' until the pale floor is left out, as a black one is.
        let stained = |image: &GrayImage| inverted(image);
        let a = stained(&on_noisy_floor(&micrograph(1, 180, 160), 1));
        let b = stained(&on_noisy_floor(&micrograph(1, 180, 160), 2));
        let config = VerifyConfig::default();
        let r = verify(&a, &b, Dihedral::Identity, &config);
        assert!(r.verified, "{r:?}");
        let look_alike = stained(&on_noisy_floor(&micrograph(2, 180, 160), 2));
        let r = verify(&a, &look_alike, Dihedral::Identity, &config);
        assert!(!r.verified, "{r:?}");
    }

    /// A pale stained section's field, 110 x 99 px: four small dark cells and a scale bar on a
    /// mottled background, with the camera's or a JPEG's noise (about 3 levels) from
    /// `noise_seed`. `specimen` places the cells.
    fn pale_field(specimen: u32, noise_seed: u32) -> GrayImage {
        let unit = |key: u64| {
            let mut h = key.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            h ^= h >> 31;
            (h.wrapping_mul(0xBF58_476D_1CE4_E5B9) >> 40) as f32 / (1u64 << 24) as f32
        };
        let cells: Vec<[f32; 4]> = (0..4u64)
            .map(|k| {
                let at = |i: u64, low: f32, high: f32| {
                    low + (high - low) * unit(u64::from(specimen) << 32 | k << 8 | i)
                };
                [
                    at(0, 10.0, 100.0),
                    at(1, 10.0, 90.0),
                    at(2, 3.0, 7.0),
                    at(3, 3.0, 6.0),
                ]
            })
            .collect();
        GrayImage::from_fn(110, 99, |x, y| {
            let (fx, fy) = (x as f32, y as f32);
            let mut v = 222.0
                + 4.0 * (fx / 9.0 + 1.3).sin() * (fy / 11.0).cos()
                + 3.0 * ((fx + fy) / 6.0).sin();
            if cells
                .iter()
                .any(|&[cx, cy, rx, ry]| ((fx - cx) / rx).powi(2) + ((fy - cy) / ry).powi(2) < 1.0)
            {
                v = 95.0;
            }
            if (85..88).contains(&y) && (75..100).contains(&x) {
                v = 20.0;
            }
            // Twelve uniform draws less six: near-Gaussian, deviation 1, scaled to 3 levels.
            let key = u64::from(noise_seed) << 40 | u64::from(y) << 20 | u64::from(x);
            let noise: f32 = (0..12u64).map(|i| unit(key ^ i << 56)).sum::<f32>() - 6.0;
            Luma([(v + 3.0 * noise).round().clamp(0.0, 255.0) as u8])
        })
    }

    #[test]
    fn a_copy_of_a_pale_mottled_field_with_its_noise_renewed_verifies_past_its_ranks() {
        // Both as the store keeps panels (a JPEG): the copy's noise outweighs the cells in the
        // ranks, and the mottling keeps the pale floor from being found and left out, while
        // layout and detail say copy.
        let stored = |image: GrayImage| {
            let rgb = image::DynamicImage::ImageLuma8(image).to_rgb8();
            crate::store::as_stored(&crate::units::Raster::from_rgb(rgb)).to_gray()
        };
        let (a, b) = (stored(pale_field(1, 1)), stored(pale_field(1, 2)));
        let config = VerifyConfig::default();
        let r = verify(&a, &b, Dihedral::Identity, &config);
        assert!(r.verified, "{r:?}");
        assert!(r.rank_correlation < config.min_rank_correlation, "{r:?}");
        let ranks_asked = VerifyConfig {
            rank_free_min_detail_correlation: 1.5,
            ..config.clone()
        };
        assert!(!verify(&a, &b, Dihedral::Identity, &ranks_asked).verified);
        // Another specimen on the same background is no copy.
        let r = verify(&a, &stored(pale_field(2, 2)), Dihedral::Identity, &config);
        assert!(!r.verified, "{r:?}");
    }

    #[test]
    fn only_whole_panels_alike_to_their_detail_and_outlines_are_verified_past_their_ranks() {
        // Measured on seven synthetic catalogs: a planted exact copy of a pale micrograph drawn
        // at 1.8 times the size, and the unverified relations nearest to it in detail.
        let relation = |correlation: f32, detail: f32, coarse: f32, left_out_share: f32| Relation {
            dihedral: "identity".into(),
            rotation_deg: 0.0,
            scale: 1.0,
            region_a: [0.0, 0.0, 1.0, 1.0],
            region_b: [0.0, 0.0, 1.0, 1.0],
            correlation,
            rank_correlation: 0.66,
            detail_correlation: detail,
            coarse_detail_correlation: coarse,
            fine_correlation: 0.16,
            left_out_share,
            edited: false,
            partial: false,
            within: false,
            verified: false,
        };
        let cfg = VerifyConfig::default();
        let past_ranks = |r: Relation, placement| copied_whole_past_ranks(&r, placement, &cfg);
        assert!(past_ranks(
            relation(0.9948, 0.9905, 0.9988, 0.0),
            PlacedBy::Outlines
        ));
        // Placed as a crop, or with a part left out, the ranks are asked again.
        assert!(!past_ranks(
            relation(0.9948, 0.9905, 0.9988, 0.0),
            PlacedBy::Content
        ));
        assert!(!past_ranks(
            relation(0.9948, 0.9905, 0.9988, 0.02),
            PlacedBy::Outlines
        ));
        // Look-alike micrographs, gels and blots of one generator.
        for (correlation, detail, coarse) in [
            (0.9776, 0.9736, 0.9852),
            (0.9790, 0.9638, 0.9875),
            (0.9925, 0.9381, 0.9579),
        ] {
            let look_alike = relation(correlation, detail, coarse, 0.0);
            assert!(!past_ranks(look_alike, PlacedBy::Outlines));
        }
    }

    /// Dark cells on a flat light background whose faint noise comes from `noise_seed`.
    fn cells(noise_seed: u32, width: u32, height: u32) -> GrayImage {
        let centres = [
            (0.25f32, 0.3f32, 0.2f32),
            (0.72, 0.3, 0.17),
            (0.5, 0.75, 0.2),
        ];
        GrayImage::from_fn(width, height, |x, y| {
            let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
            let inside = centres.iter().any(|&(cx, cy, r)| {
                let (dx, dy) = (fx - cx, (fy - cy) * 0.8);
                dx * dx + dy * dy < r * r
            });
            let shade = if inside {
                70 + (x * 7 + y * 3) % 40
            } else {
                205
            };
            let noise = (x.wrapping_mul(73_856_093)
                ^ y.wrapping_mul(19_349_663)
                ^ noise_seed.wrapping_mul(83_492_791))
                % 5;
            Luma([(shade + noise) as u8])
        })
    }

    #[test]
    fn a_copy_whose_background_noise_was_renewed_verifies() {
        // Re-encoding replaces a flat background's noise: ranks spread that noise over most of
        // their range, matched intensities keep it as faint as it is.
        let a = cells(1, 160, 120);
        let b = Dihedral::FlipVertical.apply(&image::imageops::resize(
            &cells(2, 160, 120),
            200,
            150,
            image::imageops::FilterType::Triangle,
        ));
        let r = verify(&a, &b, Dihedral::FlipVertical, &VerifyConfig::default());
        assert!(r.verified, "{r:?}");
        // Ranks alone would have refused it.
        assert!(r.rank_correlation < 0.95, "{r:?}");
    }

    #[test]
    fn a_heavily_recompressed_micrograph_on_a_black_floor_verifies() {
        // Bright cells on a black floor with the camera's grain; the copy went through a JPEG
        // of quality 12, which flattened the floor: its ranks and its grain say nothing, its
        // layout and detail say copy.
        let grain = |x: u32, y: u32| {
            let mut h = (u64::from(y) << 32 | u64::from(x)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            h ^= h >> 31;
            (h.wrapping_mul(0xBF58_476D_1CE4_E5B9) >> 40) as u32 % 7
        };
        let centres = [
            (40.0f32, 50.0f32),
            (150.0, 40.0),
            (100.0, 120.0),
            (200.0, 140.0),
        ];
        let a = GrayImage::from_fn(240, 180, |x, y| {
            let cell = centres.iter().find_map(|&(cx, cy)| {
                let (dx, dy) = (x as f32 - cx, y as f32 - cy);
                let d = (dx * dx + dy * dy * 1.6).sqrt();
                (d < 26.0).then(|| 200.0 - d * 3.0 + ((x * 5 + y * 3) % 17) as f32)
            });
            Luma([cell.map_or(6 + grain(x, y), |v| v as u32) as u8])
        });
        let b = through_jpeg(&a, 12);
        let r = verify(&a, &b, Dihedral::Identity, &VerifyConfig::default());
        assert!(r.verified, "{r:?}");
    }

    /// `image` with a black letter-like mark (an "L") drawn at (x, y), `size` tall.
    fn marked(image: &GrayImage, x: u32, y: u32, size: u32) -> GrayImage {
        marked_in(image, (x, y), size, 0)
    }

    /// `image` with a letter-like mark (an "L") of gray `level` drawn at `(x, y)`, `size` tall.
    fn marked_in(image: &GrayImage, (x, y): (u32, u32), size: u32, level: u8) -> GrayImage {
        let mut out = image.clone();
        let stroke = (size / 4).max(2);
        for dy in 0..size {
            for dx in 0..size * 2 / 3 {
                if dx < stroke || dy >= size - stroke {
                    out.put_pixel(x + dx, y + dy, Luma([level]));
                }
            }
        }
        out
    }

    #[test]
    fn a_copy_labelled_with_another_panel_letter_verifies_with_the_letter_left_out() {
        let base = blot(7, 240, 160);
        let a = marked(&base, 8, 8, 28);
        let b = image::imageops::resize(&base, 200, 133, image::imageops::FilterType::Triangle);
        let r = verify(&a, &b, Dihedral::Identity, &VerifyConfig::default());
        assert!(r.verified, "{r:?}");
        assert!(r.left_out_share > 0.0 && r.left_out_share < 0.15, "{r:?}");
    }

    /// `image` in a gray frame a pixel wide, lettered in its top-left corner in white as text is
    /// set: strokes a few pixels wide, antialiased.
    fn framed_and_lettered(image: &GrayImage) -> GrayImage {
        let (w, h) = image.dimensions();
        let mut out = image.clone();
        for (x, y, p) in out.enumerate_pixels_mut() {
            if x == 0 || y == 0 || x + 1 == w || y + 1 == h {
                *p = Luma([60]);
            }
        }
        let letter = GrayImage::from_fn(24, 24, |x, y| {
            let stroke = (3..7).contains(&x) || (16..20).contains(&x) || (3..7).contains(&y);
            let inked = (3..21).contains(&x) && (3..21).contains(&y) && stroke;
            Luma([if inked { 255 } else { 0 }])
        });
        for (x, y, p) in image::imageops::blur(&letter, 2.0).enumerate_pixels() {
            let q = out.get_pixel_mut(6 + x, 6 + y);
            q.0[0] = q.0[0].max(p.0[0]);
        }
        out
    }

    #[test]
    fn a_framed_copy_of_a_micrograph_lettered_in_its_corner_verifies_with_the_letter_left_out() {
        // The frame is trimmed off with the border; the letter, blurred into the black by the
        // reduction to the work size, is still a mark, in its corner.
        let a = micrograph(1, 246, 244);
        let config = VerifyConfig::default();
        let r = verify(&a, &framed_and_lettered(&a), Dihedral::Identity, &config);
        assert!(r.verified, "{r:?}");
        assert!(r.left_out_share > 0.0, "{r:?}");
        let look_alike = framed_and_lettered(&micrograph(2, 246, 244));
        let r = verify(&a, &look_alike, Dihedral::Identity, &config);
        assert!(!r.verified, "{r:?}");
    }

    #[test]
    fn a_flipped_copy_of_a_dark_micrograph_with_white_letters_of_its_own_verifies() {
        // Full-white letters of thin strokes outweigh a few dim cells on black until each
        // pixel's weight is capped at what the picture shows outside them.
        let dim = |image: &GrayImage| {
            GrayImage::from_fn(image.width(), image.height(), |x, y| {
                Luma([(f32::from(image.get_pixel(x, y).0[0]) * 0.12) as u8])
            })
        };
        let lettered = |image: &GrayImage| {
            let mut out = image.clone();
            for (x, y, p) in out.enumerate_pixels_mut() {
                let (dx, dy) = (x.wrapping_sub(10), y.wrapping_sub(8));
                let stroke = !(3..21).contains(&dx) || dy < 3 || (15..18).contains(&dy);
                if dx < 24 && dy < 36 && stroke {
                    *p = Luma([255]);
                }
            }
            out
        };
        let base = dim(&micrograph(1, 240, 160));
        let a = lettered(&base);
        let b = lettered(&Dihedral::FlipHorizontal.apply(&base));
        let config = VerifyConfig::default();
        let r = verify(&a, &b, Dihedral::FlipHorizontal, &config);
        assert!(r.verified, "{r:?}");
        assert!(r.left_out_share > 0.0, "{r:?}");
        let look_alike = lettered(&Dihedral::FlipHorizontal.apply(&dim(&micrograph(2, 240, 160))));
        let r = verify(&a, &look_alike, Dihedral::FlipHorizontal, &config);
        assert!(!r.verified, "{r:?}");
    }

    #[test]
    fn marks_in_several_places_are_content_not_labels() {
        let base = blot(8, 240, 160);
        let a = base.clone();
        // Both marks on the plain background above and below the bands.
        let b = marked(&marked(&base, 8, 2, 20), 200, 138, 20);
        // Compared at the work resolution, as `correlate` compares them.
        let values = |image: &GrayImage| -> Vec<f32> { intensities(&fit(image, 96)) };
        let marks =
            |b: &GrayImage, turned| local_marks(&values(&a), &values(b), (96, 64), 3, turned);
        assert!(
            marks(&marked(&base, 8, 2, 20), false)
                .iter()
                .any(|out| *out)
        );
        assert!(marks(&b, false).iter().all(|out| !*out));
        // Between a picture and a turned copy, two corners hold the two copies' letters ...
        assert!(marks(&b, true).iter().any(|out| *out));
        // ... but a mark in the middle of an edge is content.
        let middle = marked(&marked(&base, 8, 2, 20), 110, 138, 20);
        assert!(marks(&middle, true).iter().all(|out| !*out));
    }

    #[test]
    fn white_letters_on_a_faint_dark_picture_are_left_out_though_they_outweigh_it() {
        // A near-black micrograph whose texture spans a few dozen gray levels; each copy carries
        // its own white label in a corner of its own. The labels hold most of each picture's
        // variance.
        let faint = |seed| {
            let texture = grain(seed, 240, 150);
            GrayImage::from_fn(240, 150, |x, y| {
                Luma([10 + texture.get_pixel(x, y).0[0] / 4])
            })
        };
        let base = faint(11);
        let a = marked_in(&base, (6, 6), 20, 255);
        let b = marked_in(&Dihedral::FlipHorizontal.apply(&base), (6, 124), 20, 255);
        let r = verify(&a, &b, Dihedral::FlipHorizontal, &VerifyConfig::default());
        assert!(r.verified, "{r:?}");
        assert!(r.left_out_share > 0.0 && r.left_out_share < 0.15, "{r:?}");
        // The same letters on another faint picture are still no copy.
        let other = marked_in(
            &Dihedral::FlipHorizontal.apply(&faint(12)),
            (6, 124),
            20,
            255,
        );
        let r = verify(
            &a,
            &other,
            Dihedral::FlipHorizontal,
            &VerifyConfig::default(),
        );
        assert!(!r.verified, "{r:?}");
    }

    #[test]
    fn two_cells_of_a_table_with_different_symbols_are_no_copy() {
        // A flat cell inside its ruled border holds nothing but its symbol: leaving the symbols
        // out as marks would leave two identical blank cells.
        let cell = GrayImage::from_fn(160, 60, |x, y| {
            let border = x < 2 || y < 2 || x >= 158 || y >= 58;
            Luma([if border { 190 } else { 245 }])
        });
        let a = marked_in(&cell, (72, 20), 20, 40);
        let b = marked_in(&marked_in(&cell, (66, 22), 16, 60), (80, 22), 16, 60);
        let r = verify(&a, &b, Dihedral::Identity, &VerifyConfig::default());
        assert!(!r.verified, "{r:?}");
    }

    #[test]
    fn a_capped_search_for_shared_parts_keeps_the_pairs_nearest_in_order() {
        let mut pictures: Vec<GrayImage> = (0..4).map(|seed| grain(seed, 160, 120)).collect();
        // The first and the last share a part: a block of the first pasted into the last.
        let block = image::imageops::crop_imm(&pictures[0], 20, 20, 70, 50).to_image();
        image::imageops::replace(&mut pictures[3], &block, 80, 60);
        let laid: Vec<&GrayImage> = pictures.iter().collect();
        let config = VerifyConfig::default();
        let joined = |found: &[(usize, usize, Relation)]| {
            found
                .iter()
                .any(|&(i, j, ref r)| (i, j) == (0, 3) && r.verified)
        };
        let all = verify_shared_parts_among(&laid, |_, _| SharedParts::Any, usize::MAX, &config);
        assert_eq!((all.searched, all.skipped), (6, 0));
        assert!(joined(&all.found), "{all:?}");
        // Four textured pictures make six pairs; three are searched, those nearest in order:
        // (0, 1), (1, 2), (2, 3).
        let capped = verify_shared_parts_among(&laid, |_, _| SharedParts::Any, 3, &config);
        assert_eq!((capped.searched, capped.skipped), (3, 3));
        assert!(!joined(&capped.found), "{capped:?}");
    }

    /// Random texture a few pixels across (a micrograph's cells), the same for the same seed.
    fn grain(seed: u32, width: u32, height: u32) -> GrayImage {
        let noise = GrayImage::from_fn(width, height, |x, y| {
            let hash = (x.wrapping_mul(73_856_093)
                ^ y.wrapping_mul(19_349_663)
                ^ seed.wrapping_mul(83_492_791))
            .wrapping_mul(2_654_435_761);
            Luma([(hash >> 24) as u8])
        });
        let smooth = image::imageops::blur(&noise, 3.0);
        // Stretched back to a full range: blurring leaves the noise faint.
        let (low, high) = smooth
            .pixels()
            .fold((255u8, 0u8), |(l, h), p| (l.min(p.0[0]), h.max(p.0[0])));
        GrayImage::from_fn(width, height, |x, y| {
            let v = f32::from(smooth.get_pixel(x, y).0[0] - low) / f32::from((high - low).max(1));
            Luma([(30.0 + v * 200.0) as u8])
        })
    }

    #[test]
    fn a_copy_whose_box_is_a_pixel_off_is_registered() {
        // Textured pictures decorrelate when misaligned by a fraction of a work pixel: the boxes
        // of the same picture drawn twice differ by that much.
        let source = grain(9, 403, 303);
        let a = image::imageops::crop_imm(&source, 0, 0, 400, 300).to_image();
        let b = image::imageops::crop_imm(&source, 3, 3, 400, 300).to_image();
        let r = verify(&a, &b, Dihedral::Identity, &VerifyConfig::default());
        assert!(r.verified, "{r:?}");
        // `a`'s pixels are `b`'s three pixels further right and down: b's match ends before it does.
        assert!((r.region_b[2] - 397.0 / 400.0).abs() < 0.003, "{r:?}");
        assert!((r.region_b[3] - 297.0 / 300.0).abs() < 0.004, "{r:?}");
    }

    #[test]
    fn a_copy_whose_box_took_in_the_gutter_verifies_unturned_and_whole() {
        // The second box was cut a few pixels wide, into the white gutter on both sides: only
        // its borders differ, and neither they nor a small turn may decide.
        let a = micrograph(4, 300, 220);
        let mut b = a.clone();
        for y in 0..b.height() {
            for x in (0..3).chain(b.width() - 3..b.width()) {
                b.put_pixel(x, y, Luma([255]));
            }
        }
        let r = verify(&a, &b, Dihedral::Identity, &VerifyConfig::default());
        assert!(r.verified, "{r:?}");
        assert_eq!(r.rotation_deg, 0.0, "{r:?}");
        assert_eq!(r.region_a, [0.0, 0.0, 1.0, 1.0], "{r:?}");
    }

    #[test]
    fn the_second_region_is_reported_on_the_panel_as_drawn() {
        let a = blot(10, 240, 160);
        // `b` is the left part of `a`, mirrored: the match lies in `a`'s left part and is all of b.
        let b = Dihedral::FlipHorizontal
            .apply(&image::imageops::crop_imm(&a, 0, 0, 160, 160).to_image());
        let r = verify(&a, &b, Dihedral::FlipHorizontal, &VerifyConfig::default());
        assert!(r.verified, "{r:?}");
        assert!(
            r.region_a[0] < 0.05 && (r.region_a[2] - 2.0 / 3.0).abs() < 0.05,
            "{r:?}"
        );
        assert_eq!(
            region_as_drawn(Dihedral::FlipHorizontal, [0.1, 0.2, 0.5, 0.6]),
            [0.5, 0.2, 0.9, 0.6]
        );
        assert_eq!(
            region_as_drawn(Dihedral::Rotate90, [0.0, 0.0, 0.5, 1.0]),
            [0.0, 0.5, 1.0, 1.0]
        );
    }

    #[test]
    fn only_graphics_repeated_often_enough_within_a_document_are_suppressed() {
        use crate::units::{BBox, DocumentId, MatchRecord, PanelClass, PanelPlace};
        let doc = DocumentId::of_bytes(b"an infographic");
        let place = |id: i64, class: PanelClass| PanelPlace {
            id,
            doc,
            path: "infographic.pdf".into(),
            page: 1,
            bbox: BBox::new(0.0, 0.0, 50.0, 50.0),
            class: Some(class),
        };
        let pair = |a: i64, b: i64, class: PanelClass| MatchRecord {
            a: place(a, class),
            b: place(b, class),
            similarity: 0.99,
            verified: true,
            kind: "intra_document".into(),
            transform: verify(
                &GrayImage::new(8, 8),
                &GrayImage::new(8, 8),
                Dihedral::Identity,
                &VerifyConfig::default(),
            ),
            suppressed: None,
        };
        // Four copies of an icon (a chain is enough to join them), two of another, and four
        // copies of a blot (a loading control shown again and again is what screening is for).
        let mut matches = vec![
            pair(1, 2, PanelClass::Other),
            pair(2, 3, PanelClass::Other),
            pair(3, 4, PanelClass::Other),
            pair(10, 11, PanelClass::Other),
            pair(20, 21, PanelClass::Blot),
            pair(21, 22, PanelClass::Blot),
            pair(22, 23, PanelClass::Blot),
        ];
        suppress_repeated_graphics(&mut matches, 4);
        let suppressed: Vec<bool> = matches.iter().map(|m| m.suppressed.is_some()).collect();
        assert_eq!(suppressed, [true, true, true, false, false, false, false]);
        assert_eq!(matches[0].suppressed.as_deref(), Some("repeated_graphic"));
        // 0 turns it off.
        let mut again = vec![pair(1, 2, PanelClass::Other); 1];
        suppress_repeated_graphics(&mut again, 0);
        assert!(again[0].suppressed.is_none());
    }

    #[test]
    fn a_real_blot_with_bands_cleaned_away_is_one_picture_with_a_changed_part() {
        // Two hand edits of one real crop (../shared/data/blots/polimi): bands erased with
        // Cleanup on one, retouched in GIMP on the other.
        let Some((a, b)) = polimi_pair(
            "polimi_cleanup__google_000040_patch_003_clipdrop-cleanup.png",
            "polimi_gimp__google_000040_patch_003_gimp_gd.png",
        ) else {
            return;
        };
        let config = VerifyConfig::default();
        let relation = verify(&a, &b, Dihedral::Identity, &config);
        assert!(relation.verified && relation.edited, "{relation:?}");
        assert!(
            (0.01..=0.35).contains(&relation.left_out_share),
            "{relation:?}"
        );
        // Whole, they correlate less than copies do: without the shared grain they are refused.
        let without_grain = VerifyConfig {
            min_shared_grain: 1.5,
            ..config
        };
        assert!(!verify(&a, &b, Dihedral::Identity, &without_grain).verified);
    }

    /// Two files of ../shared/data/blots/polimi, gray; none when the folder is absent.
    fn polimi_pair(a: &str, b: &str) -> Option<(GrayImage, GrayImage)> {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/blots/polimi");
        let load = |name: &str| image::open(dir.join(name)).map(|i| i.to_luma8()).ok();
        let pair = load(a).zip(load(b));
        if pair.is_none() {
            eprintln!("../shared/data/blots/polimi is absent: nothing to check");
        }
        pair
    }

    /// The real polimi crops named, as grey images; `None` (said once) where the data is absent.
    fn polimi_blots(names: &[&str]) -> Option<Vec<GrayImage>> {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/blots/polimi");
        let blots: Option<Vec<GrayImage>> = names
            .iter()
            .map(|name| image::open(dir.join(name)).map(|i| i.to_luma8()).ok())
            .collect();
        if blots.is_none() {
            eprintln!("../shared/data/blots/polimi is absent: nothing to check");
        }
        blots
    }

    #[test]
    fn a_part_copied_elsewhere_in_one_real_blot_is_found_where_it_was_pasted() {
        let Some(blots) = polimi_blots(&[
            "polimi_cleanup__img_000025_patch_012_clipdrop-cleanup.png",
            "polimi_cleanup__img_000003_patch_008_clipdrop-cleanup.png",
        ]) else {
            return;
        };
        for (blot, (to_x, to_y)) in blots.into_iter().zip([(0.6, 0.55), (0.55, 0.6)]) {
            // The most varied window of the left half (bands, not bare membrane), pasted as it is
            // into the right half.
            let (w, h) = blot.dimensions();
            let (cw, ch) = (w * 3 / 10, h / 4);
            let variance = |x: u32, y: u32| {
                let values =
                    intensities(&image::imageops::crop_imm(&blot, x, y, cw, ch).to_image());
                let mean = values.iter().sum::<f32>() / values.len() as f32;
                values.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>()
            };
            let (from_x, from_y) = (0..w / 2 - cw)
                .step_by(8)
                .flat_map(|x| (0..h - ch).step_by(8).map(move |y| (x, y)))
                .max_by(|p, q| variance(p.0, p.1).total_cmp(&variance(q.0, q.1)))
                .unwrap();
            let part = image::imageops::crop_imm(&blot, from_x, from_y, cw, ch).to_image();
            let mut edited = blot.clone();
            let (to_x, to_y) = ((to_x * w as f32) as u32, (to_y * h as f32) as u32);
            image::imageops::replace(&mut edited, &part, i64::from(to_x), i64::from(to_y));

            let relation = verify_within(&edited, &VerifyConfig::default()).expect("a repeat");
            assert!(relation.verified && relation.within, "{relation:?}");
            let centre = |r: [f32; 4]| ((r[0] + r[2]) / 2.0, (r[1] + r[3]) / 2.0);
            let placed = |x: u32, y: u32| {
                (
                    (x as f32 + cw as f32 / 2.0) / w as f32,
                    (y as f32 + ch as f32 / 2.0) / h as f32,
                )
            };
            let near = |(x, y): (f32, f32), (u, v): (f32, f32)| (x - u).hypot(y - v) <= 0.06;
            let (a, b) = (centre(relation.region_a), centre(relation.region_b));
            let (source, copy) = (placed(from_x, from_y), placed(to_x, to_y));
            assert!(
                (near(a, source) && near(b, copy)) || (near(a, copy) && near(b, source)),
                "{relation:?} is not the part at {source:?} and its copy at {copy:?}"
            );
        }
    }

    #[test]
    fn a_real_clone_tool_edit_is_found_as_a_repeat_inside_its_mask() {
        // Two bands erased in GIMP by cloning one patch of membrane over each: the two patches
        // are one piece of grain, set one above the other, on a smooth membrane with few corners.
        let name = "polimi_gimp__img_000025_patch_029_gimp_cg.png";
        let (Some(blot), Some(mask)) = (
            polimi_blots(&[name]),
            polimi_blots(&[&format!("../polimi-masks/{name}")]),
        ) else {
            return;
        };
        let relation = verify_within(&blot[0], &VerifyConfig::default()).expect("a repeat");
        assert!(relation.verified && relation.within, "{relation:?}");
        let edited = |r: [f32; 4]| {
            let (w, h) = (mask[0].width() as f32, mask[0].height() as f32);
            let (x, y) = ((r[0] + r[2]) / 2.0 * w, (r[1] + r[3]) / 2.0 * h);
            mask[0].get_pixel(x as u32, y as u32)[0] >= 128
        };
        assert!(
            edited(relation.region_a) && edited(relation.region_b),
            "{relation:?} is not in the edit"
        );
        assert!(
            (relation.region_a[1] - relation.region_b[1]).abs() > 0.2,
            "{relation:?}: the patches lie one above the other"
        );
    }

    #[test]
    fn real_blots_as_they_are_repeat_nothing() {
        // Real membranes: rows of look-alike bands, lanes, a pasted GAN square, a DALL·E
        // outpainting; none holds a part copied within itself.
        let Some(blots) = polimi_blots(&[
            "polimi__lf_64x64_google_000004_patch_000.png",
            "polimi_cleanup__img_000003_patch_008_clipdrop-cleanup.png",
            "polimi_cleanup__img_000025_patch_012_clipdrop-cleanup.png",
            "polimi_gimp__img_000055_patch_031_gimp_p2p.png",
            "polimi_dall_e__google_000016_patch_006_genuine_western_blots.png",
            "polimi_dall_e__google_000093_patch_042_western_blots_with_detailed_background_3.png",
        ]) else {
            return;
        };
        for blot in blots {
            let found = verify_within(&blot, &VerifyConfig::default());
            assert!(found.as_ref().is_none_or(|r| !r.verified), "{found:?}");
        }
    }

    #[test]
    fn look_alike_lanes_with_grain_of_their_own_are_no_repeat() {
        // Lanes of one shape side by side, each with its own noise: every lane matches the next
        // in layout, none in grain.
        let mut state = 7u32;
        let mut noise = || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            f32::from((state >> 24) as u8) / 255.0 - 0.5
        };
        let lanes = GrayImage::from_fn(240, 160, |x, y| {
            let lane = (x % 40) as f32;
            let band = (-((y as f32 - 80.0) / 6.0).powi(2)).exp()
                * (lane > 8.0 && lane < 32.0) as u8 as f32;
            Luma([(200.0 - 150.0 * band + 12.0 * noise()).clamp(0.0, 255.0) as u8])
        });
        let found = verify_within(&lanes, &VerifyConfig::default());
        assert!(found.as_ref().is_none_or(|r| !r.verified), "{found:?}");
    }

    #[test]
    fn two_crops_of_one_real_blot_that_overlap_are_laid_part_on_part() {
        // The left 65% of a real blot against its right 65%, shrunk to 80%: neither lies in
        // the other, and they share the middle 30% of the blot.
        let Some((blot, other_blot)) = polimi_pair(
            "polimi_gimp__google_000040_patch_003_gimp_gd.png",
            "polimi_cleanup__google_000004_patch_022_clipdrop-cleanup.png",
        ) else {
            return;
        };
        let (w, h) = blot.dimensions();
        let part = |image: &GrayImage, from: f32| {
            let x0 = (image.width() as f32 * from) as u32;
            let width = (image.width() as f32 * 0.65) as u32;
            image::imageops::crop_imm(image, x0, 0, width, image.height()).to_image()
        };
        let left = part(&blot, 0.0);
        let right = resample(
            &part(&blot, 0.35),
            (w as f32 * 0.65 * 0.8) as u32,
            (h as f32 * 0.8) as u32,
        );
        let relation = verify(&left, &right, Dihedral::Identity, &VerifyConfig::default());
        assert!(relation.verified && relation.partial, "{relation:?}");
        let shared = 0.30 / 0.65;
        let expected_a = [1.0 - shared, 0.0, 1.0, 1.0];
        let expected_b = [0.0, 0.0, shared, 1.0];
        for (got, want) in [
            (relation.region_a, expected_a),
            (relation.region_b, expected_b),
        ] {
            assert!(
                got.iter().zip(want).all(|(g, w)| (g - w).abs() <= 0.05),
                "{got:?} is not {want:?}"
            );
        }
        // The same left part against the right part of another real blot.
        let relation = verify(
            &left,
            &part(&other_blot, 0.35),
            Dihedral::Identity,
            &VerifyConfig::default(),
        );
        assert!(!relation.verified, "{relation:?}");
    }

    #[test]
    fn a_crop_too_small_for_the_crop_search_is_found_by_its_keypoints() {
        // A third of a real blot's width and half its height, under the crop search's smallest
        // share (`min_crop_share`): it lies whole in the blot, so it is no partial overlap.
        let Some((blot, _)) = polimi_pair(
            "polimi_gimp__google_000040_patch_003_gimp_gd.png",
            "polimi_gimp__google_000040_patch_003_gimp_gd.png",
        ) else {
            return;
        };
        let (w, h) = blot.dimensions();
        let crop = image::imageops::crop_imm(&blot, w / 2, h / 4, w / 3, h / 2).to_image();
        let relation = verify(&blot, &crop, Dihedral::Identity, &VerifyConfig::default());
        assert!(relation.verified && !relation.partial, "{relation:?}");
        let near = |got: [f32; 4], want: [f32; 4], by: f32| {
            got.iter().zip(want).all(|(g, w)| (g - w).abs() <= by)
        };
        assert!(
            near(relation.region_a, [0.5, 0.25, 0.5 + 1.0 / 3.0, 0.75], 0.05)
                && near(relation.region_b, [0.0, 0.0, 1.0, 1.0], 0.01),
            "{relation:?}"
        );
    }

    #[test]
    fn two_real_crops_cut_from_one_blot_by_other_hands_share_their_overlap() {
        // Two crops the dataset's authors cut from one original blot, side by side with half
        // of each in common, each edited in its own way (GIMP, Cleanup).
        let Some((a, b)) = polimi_pair(
            "polimi_cleanup__google_000093_patch_047_clipdrop-cleanup.png",
            "polimi_gimp__google_000093_patch_046_gimp_gd.png",
        ) else {
            return;
        };
        let relation = verify(&a, &b, Dihedral::Identity, &VerifyConfig::default());
        assert!(relation.verified && relation.partial, "{relation:?}");
        assert!(
            relation.region_a[0] >= 0.4 && relation.region_b[2] <= 0.6,
            "{relation:?}"
        );
    }

    /// How two files of ../shared/data/blots/polimi relate, checked to be verified as an edited
    /// copy; none when the folder is absent.
    fn verified_edit(a: &str, b: &str) -> Option<Relation> {
        let (a, b) = polimi_pair(a, b)?;
        let relation = verify(&a, &b, Dihedral::Identity, &VerifyConfig::default());
        assert!(relation.verified && relation.edited, "{relation:?}");
        Some(relation)
    }

    #[test]
    fn hand_edits_that_change_a_real_blot_throughout_its_histogram_are_one_picture() {
        // GIMP edits of one real crop: on one, the right-hand band of each row erased; on the
        // other, only the lower one. What is left of the picture is nearly all light membrane,
        // so matching the two histograms darkens the left bands of one: they differed too, and
        // the changed part came out as most of the picture.
        let Some(relation) = verified_edit(
            "polimi_gimp__img_000040_patch_015_gimp_gd.png",
            "polimi_gimp__img_000040_patch_015_gimp_sg.png",
        ) else {
            return;
        };
        assert!(
            (0.01..=0.3).contains(&relation.left_out_share),
            "{relation:?}"
        );
    }

    #[test]
    fn one_real_membrane_with_its_band_moved_is_one_picture_however_poorly_they_correlate() {
        // Two GIMP edits of one real crop: the only band painted in at two different places.
        // As a whole they do not correlate at all, yet the grain of the membrane is one.
        let Some(relation) = verified_edit(
            "polimi_gimp__google_000006_patch_007_gimp_cg.png",
            "polimi_gimp__google_000006_patch_007_gimp_gd.png",
        ) else {
            return;
        };
        assert!(relation.correlation < 0.5, "{relation:?}");
    }

    #[test]
    fn edited_copies_of_one_shape_are_judged_whole_though_a_crop_of_one_scores_better() {
        // A crop of the one laid on half of the other correlates better than the two whole
        // (their bands differ), but only the whole alignment shares the grain.
        let Some(relation) = verified_edit(
            "polimi_cleanup__google_000130_patch_044_clipdrop-cleanup.png",
            "polimi_gimp__google_000130_patch_044_gimp_gd.png",
        ) else {
            return;
        };
        assert_eq!(relation.region_a, [0.0, 0.0, 1.0, 1.0], "{relation:?}");
        assert_eq!(relation.region_b, [0.0, 0.0, 1.0, 1.0], "{relation:?}");
    }

    #[test]
    fn only_a_sizeable_part_laid_again_to_its_detail_is_held_to_the_partial_grain_floor() {
        // Parts of two pictures of one document from the search for shared parts (seeds 11, 13,
        // 37 and 72 of `panelscope synth`): their correlation, detail and share of each picture.
        let part = |correlation: f32, detail_correlation: f32, share: (f32, f32)| {
            let side = |share: f32| [0.0, 0.0, share.sqrt(), share.sqrt()];
            let relation = Relation {
                dihedral: "identity".into(),
                rotation_deg: 0.0,
                scale: 1.0,
                region_a: side(share.0),
                region_b: side(share.1),
                correlation,
                rank_correlation: correlation,
                detail_correlation,
                coarse_detail_correlation: 0.99,
                fine_correlation: 0.44,
                left_out_share: 0.0,
                edited: false,
                partial: true,
                within: false,
                verified: true,
            };
            copied_to_the_pixel(&relation, relation.region_a, relation.region_b)
        };
        // A crop drawn at its source's scale and a spliced band row, each through its figure's
        // JPEG: the grain shared at 0.44 and 0.44, the detail kept.
        assert!(part(0.9999, 0.9992, (0.343, 0.666)));
        assert!(part(0.9996, 0.9875, (0.092, 0.019)));
        // Look-alike bands of one generator laid on each other, and a scale bar laid on an
        // inset's dark edge.
        assert!(!part(0.9977, 0.9199, (0.003, 0.003)));
        assert!(!part(0.9925, 0.8751, (0.059, 0.059)));
        assert!(!part(0.9987, 0.9947, (0.007, 0.007)));
    }

    #[test]
    fn texture_of_a_small_region_shrunk_past_twice_is_not_evidence() {
        let relation = |scale: f32| Relation {
            dihedral: "identity".into(),
            rotation_deg: 0.0,
            scale,
            region_a: [0.0, 0.0, 1.0, 1.0],
            region_b: [0.0, 0.0, 1.0, 1.0],
            correlation: 0.98,
            rank_correlation: 0.97,
            detail_correlation: 0.86,
            coarse_detail_correlation: 0.9,
            fine_correlation: 0.2,
            left_out_share: 0.0,
            edited: false,
            partial: false,
            within: false,
            verified: false,
        };
        // A single-band strip of 112 x 55 px against strips four times its size (seed 17's
        // look-alikes): what correlates at 55 px is the band's outline.
        let (strip, large) = (GrayImage::new(112, 55), GrayImage::new(436, 214));
        assert!(!texture_is_evidence(&relation(3.9), &large, &strip));
        assert!(!texture_is_evidence(&relation(1.0 / 3.9), &strip, &large));
        // The same strip at a like size, or a larger region shrunk as much, still has grain.
        assert!(texture_is_evidence(&relation(1.0), &strip, &strip));
        let (region, larger) = (GrayImage::new(200, 96), GrayImage::new(780, 374));
        assert!(texture_is_evidence(&relation(3.9), &larger, &region));
    }

    /// Encodes `image` as a JPEG of `quality` and decodes it again.
    fn through_jpeg(image: &GrayImage, quality: u8) -> GrayImage {
        let mut bytes = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality)
            .encode_image(image)
            .unwrap();
        image::load_from_memory(&bytes).unwrap().to_luma8()
    }

    #[test]
    fn a_copy_whose_grain_a_blur_and_a_heavy_jpeg_erased_verifies_on_its_detail() {
        let a = blot(7, 240, 120);
        let b = through_jpeg(&image::imageops::blur(&a, 1.5), 8);
        let cfg = VerifyConfig::default();
        let r = verify(&a, &b, Dihedral::Identity, &cfg);
        assert!(r.verified, "{r:?}");
        // The grain is gone and the detail is below `detail_needs_texture_below`: it is the
        // strong correlation's path that verifies it.
        assert!(r.fine_correlation < cfg.min_fine_correlation, "{r:?}");
        assert!(
            r.detail_correlation < cfg.detail_needs_texture_below,
            "{r:?}"
        );
        let without = VerifyConfig {
            strong_correlation: 1.1,
            ..cfg
        };
        assert!(!verify(&a, &b, Dihedral::Identity, &without).verified);
    }

    #[test]
    fn real_blots_through_a_heavy_jpeg_verify_on_their_band_outlines() {
        // Crops of seven different membranes (../shared/data/blots/polimi).
        let Some(blots) = polimi_blots(&[
            "polimi_cleanup__google_000004_patch_008_clipdrop-cleanup.png",
            "polimi_cleanup__google_000006_patch_005_clipdrop-cleanup.png",
            "polimi_cleanup__google_000016_patch_002_clipdrop-cleanup.png",
            "polimi_cleanup__google_000130_patch_015_clipdrop-cleanup.png",
            "polimi_cleanup__img_000003_patch_001_clipdrop-cleanup.png",
            "polimi_cleanup__img_000022_patch_005_clipdrop-cleanup.png",
            "polimi_cleanup__img_000025_patch_002_clipdrop-cleanup.png",
        ]) else {
            return;
        };
        let copies: Vec<GrayImage> = blots.iter().map(|b| through_jpeg(b, 10)).collect();
        let cfg = VerifyConfig::default();
        let without_coarse = VerifyConfig {
            strong_min_coarse_detail_correlation: 1.5,
            ..cfg.clone()
        };
        let (mut verified_without_coarse, mut below_detail_floor) = (0, 0);
        for (i, source) in blots.iter().enumerate() {
            for (j, copy) in copies.iter().enumerate() {
                let r = verify(source, copy, Dihedral::Identity, &cfg);
                if i != j {
                    assert!(!r.verified, "blot {i} against the copy of blot {j}: {r:?}");
                    continue;
                }
                assert!(r.verified, "blot {i}: {r:?}");
                // The JPEG quantized the grain and the fine detail away.
                assert!(
                    r.detail_correlation < cfg.strong_min_detail_correlation,
                    "blot {i}: {r:?}"
                );
                below_detail_floor +=
                    usize::from(r.detail_correlation < cfg.min_detail_correlation);
                verified_without_coarse +=
                    usize::from(verify(source, copy, Dihedral::Identity, &without_coarse).verified);
            }
        }
        // Some lost even the detail every other rule asks for.
        assert!(below_detail_floor >= 2, "{below_detail_floor}");
        assert!(verified_without_coarse <= 2, "{verified_without_coarse}");
    }

    #[test]
    fn whole_drawings_alike_to_their_outlines_verify_without_grain_but_twins_drawn_alike_do_not() {
        // A real chart's copy, turned a quarter and rescaled on a synthetic catalog's pages
        // (seed 11), as the match stage measured it: its strokes resampled below the detail a
        // grainless pair must reach, no grain to share.
        let measured = Relation {
            dihedral: "rotate270".into(),
            rotation_deg: 0.0,
            scale: 1.14,
            region_a: [0.0, 0.0, 1.0, 1.0],
            region_b: [0.0, 0.0, 1.0, 1.0],
            correlation: 0.975,
            rank_correlation: 0.956,
            detail_correlation: 0.898,
            coarse_detail_correlation: 0.990,
            fine_correlation: 0.085,
            left_out_share: 0.0,
            edited: false,
            partial: false,
            within: false,
            verified: false,
        };
        let cfg = VerifyConfig::default();
        assert!(drawings_agree(&measured, &cfg));
        // Outlines that a chart of other values shares only in part, or a part laid on a part.
        let looser = Relation {
            coarse_detail_correlation: 0.978,
            ..measured.clone()
        };
        assert!(!drawings_agree(&looser, &cfg));
        let partial = Relation {
            partial: true,
            ..measured.clone()
        };
        assert!(!drawings_agree(&partial, &cfg));

        // Bar charts E and F of one real figure: four bars each over the same axis labels, drawn
        // to one template with other values. F and its copy are one drawing; E and F are not.
        let Some(figure) = separator_figure("PMC4076561-Figure5-1.png") else {
            return;
        };
        let chart = |(x0, y0, x1, y1): (u32, u32, u32, u32)| {
            image::imageops::crop_imm(&figure, x0, y0, x1 - x0, y1 - y0).to_image()
        };
        let (chart_e, chart_f) = (chart((460, 735, 636, 1001)), chart((642, 735, 798, 1002)));
        let turned = Dihedral::Rotate270.apply(&chart_f);
        let copy = through_jpeg(
            &image::imageops::resize(
                &turned,
                turned.width() * 114 / 100,
                turned.height() * 114 / 100,
                image::imageops::FilterType::Triangle,
            ),
            60,
        );
        let drawn = Some(crate::units::PanelClass::Other);
        let r = verify_classed((&chart_f, drawn), (&copy, drawn), Dihedral::Rotate90, &cfg);
        assert!(r.verified, "{r:?}");
        let twins = verify_classed(
            (&chart_e, drawn),
            (&chart_f, drawn),
            Dihedral::Identity,
            &cfg,
        );
        assert!(
            !twins.verified && !drawings_agree(&twins, &cfg),
            "{twins:?}"
        );
    }

    #[test]
    fn a_different_blot_of_the_same_layout_does_not_verify() {
        let a = blot(5, 240, 120);
        let b = blot(6, 240, 120);
        let r = verify(&a, &b, Dihedral::Identity, &VerifyConfig::default());
        assert!(!r.verified, "{r:?}");
    }

    /// The most varied `share`-sized window of `image` (bands, not bare membrane): its corner.
    fn busiest_window(image: &GrayImage, (cw, ch): (u32, u32)) -> (u32, u32) {
        let (w, h) = image.dimensions();
        let variance = |x: u32, y: u32| {
            let values = intensities(&image::imageops::crop_imm(image, x, y, cw, ch).to_image());
            let mean = values.iter().sum::<f32>() / values.len() as f32;
            values.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>()
        };
        (0..w - cw)
            .step_by(4)
            .flat_map(|x| (0..h - ch).step_by(4).map(move |y| (x, y)))
            .max_by(|p, q| variance(p.0, p.1).total_cmp(&variance(q.0, q.1)))
            .unwrap()
    }

    /// A spliced picture, the strip's corner in the donor and in the recipient, and its size.
    type SplicedStrip = (GrayImage, (u32, u32), (u32, u32), (u32, u32));

    /// `recipient` with a band-sized strip of `donor` (30% of its width, an eighth of its height,
    /// its most varied window) pasted a third of the way down, centred.
    fn spliced_strip(donor: &GrayImage, recipient: &GrayImage) -> SplicedStrip {
        let (w, h) = donor.dimensions();
        let strip = (w * 3 / 10, h / 8);
        let from = busiest_window(donor, strip);
        let (rw, rh) = recipient.dimensions();
        let to = ((rw - strip.0) / 2, (rh - strip.1) / 3);
        let mut spliced = recipient.clone();
        let part = image::imageops::crop_imm(donor, from.0, from.1, strip.0, strip.1);
        image::imageops::replace(&mut spliced, &*part, i64::from(to.0), i64::from(to.1));
        (spliced, from, to, strip)
    }

    /// Membranes of different blots (one crop per original image).
    const DIFFERENT_MEMBRANES: [&str; 12] = [
        "polimi_cleanup__google_000004_patch_006_clipdrop-cleanup.png",
        "polimi_cleanup__google_000006_patch_003_clipdrop-cleanup.png",
        "polimi_cleanup__google_000016_patch_002_clipdrop-cleanup.png",
        "polimi_cleanup__google_000040_patch_000_clipdrop-cleanup.png",
        "polimi_cleanup__google_000093_patch_007_clipdrop-cleanup.png",
        "polimi_cleanup__google_000130_patch_004_clipdrop-cleanup.png",
        "polimi_cleanup__img_000003_patch_001_clipdrop-cleanup.png",
        "polimi_cleanup__img_000017_patch_000_clipdrop-cleanup.png",
        "polimi_cleanup__img_000022_patch_000_clipdrop-cleanup.png",
        "polimi_cleanup__img_000025_patch_000_clipdrop-cleanup.png",
        "polimi_cleanup__img_000040_patch_000_clipdrop-cleanup.png",
        "polimi_cleanup__img_000055_patch_002_clipdrop-cleanup.png",
    ];

    #[test]
    fn a_strip_of_one_real_blot_spliced_into_another_is_found_where_it_was_pasted() {
        let Some(blots) = polimi_blots(&DIFFERENT_MEMBRANES) else {
            return;
        };
        for (donor, recipient) in [(0, 1), (2, 3), (6, 7)] {
            let (donor, recipient) = (&blots[donor], &blots[recipient]);
            let (spliced, from, to, strip) = spliced_strip(donor, recipient);
            let (w, h) = donor.dimensions();
            let (rw, rh) = recipient.dimensions();

            let found = verify_shared_parts(&[donor, &spliced], &VerifyConfig::default());
            let [(0, 1, relation)] = found.as_slice() else {
                panic!("one shared part expected, found {found:?}");
            };
            assert!(
                relation.verified && relation.partial && !relation.within,
                "{relation:?}"
            );
            let inside = |r: [f32; 4], (x, y): (u32, u32), (w, h): (u32, u32)| {
                let (cx, cy) = (
                    (r[0] + r[2]) / 2.0 * w as f32,
                    (r[1] + r[3]) / 2.0 * h as f32,
                );
                let (x, y) = (x as f32, y as f32);
                cx >= x && cx <= x + strip.0 as f32 && cy >= y && cy <= y + strip.1 as f32
            };
            assert!(
                inside(relation.region_a, from, (w, h)) && inside(relation.region_b, to, (rw, rh)),
                "{relation:?} is not the strip at {from:?} pasted at {to:?}"
            );
        }
    }

    #[test]
    fn a_strip_of_another_papers_blot_is_proposed_by_the_index_of_parts_and_verified() {
        use crate::parts::{PartIndex, PartKeys};
        let Some(blots) = polimi_blots(&DIFFERENT_MEMBRANES) else {
            return;
        };
        // Every blot indexed as an earlier paper's, panel k as id k; as few keys to train on as
        // the test has, so the approximate index is the one searched.
        let config = crate::index::IndexConfig {
            part_factory: "IVF4,Flat".to_string(),
            part_train_size: 256,
            ..Default::default()
        };
        let mut index = PartIndex::new(&config.part_search()).unwrap();
        for (k, blot) in blots.iter().enumerate() {
            let doc = crate::units::DocumentId::of_bytes(&[k as u8]);
            index.add(k as i64, doc, &PartKeys::of(blot)).unwrap();
        }
        // Only where the strip holds three corners of the donor's strongest: these crops were
        // cleaned up (some 60 corners in 256 × 256 pixels), and the strips of pairs (2, 3) and
        // (6, 7) hold fewer, which the index cannot propose.
        let (donor, recipient) = (0, 1);
        let (donor_id, donor) = (donor as i64, &blots[donor]);
        let (recipient_id, recipient) = (recipient as i64, &blots[recipient]);
        let (w, h) = donor.dimensions();
        let (spliced, from, to, _) = spliced_strip(donor, recipient);

        // The spliced picture is the recipient's own, new: its original is not indexed.
        let proposals = index
            .propose(&PartKeys::of(&spliced), |panel| panel == recipient_id)
            .unwrap();
        let shift = [to.0 as f32 - from.0 as f32, to.1 as f32 - from.1 as f32];
        let Some(proposal) = proposals.iter().find(|p| p.older == donor_id) else {
            panic!("the donor {donor_id} is not proposed: {proposals:?}");
        };
        assert!(
            (proposal.shift[0] - shift[0]).abs() <= 1.0
                && (proposal.shift[1] - shift[1]).abs() <= 1.0,
            "{proposal:?} is not the shift {shift:?}"
        );
        let relation = verify_part_at(donor, &spliced, proposal.shift, &VerifyConfig::default())
            .expect("a part where the strip was pasted");
        assert!(relation.verified && relation.partial, "{relation:?}");
        // Two different papers' blots laid at that shift share nothing.
        let other = &blots[(donor_id as usize + 4) % blots.len()];
        let unrelated = verify_part_at(other, &spliced, proposal.shift, &VerifyConfig::default());
        assert!(
            !unrelated.as_ref().is_some_and(|r| r.verified),
            "{unrelated:?}"
        );
        // A crop of the donor drawn at its scale shares all of itself, membrane too: the part
        // reported is the whole crop, not only the cells whose detail said so.
        let (x0, y0) = (w / 5, h / 5);
        let crop = image::imageops::crop_imm(donor, x0, y0, w * 3 / 5, h * 3 / 5).to_image();
        let shift = [-(x0 as f32), -(y0 as f32)];
        let relation = verify_part_at(donor, &crop, shift, &VerifyConfig::default())
            .expect("the crop where it was cut");
        assert!(relation.verified, "{relation:?}");
        assert!(overlap::area(relation.region_b) >= 0.99, "{relation:?}");
    }

    /// `blots` side by side, as one wide strip scanned at a high resolution.
    fn side_by_side(blots: &[GrayImage]) -> GrayImage {
        let width = blots.iter().map(|b| b.width()).sum();
        let height = blots.iter().map(|b| b.height()).max().unwrap_or(0);
        let mut wide = GrayImage::new(width, height);
        let mut x = 0;
        for blot in blots {
            image::imageops::replace(&mut wide, blot, i64::from(x), 0);
            x += blot.width();
        }
        wide
    }

    #[test]
    fn a_strip_of_a_real_blot_spliced_into_a_picture_too_wide_for_full_resolution_is_found() {
        let Some(blots) = polimi_blots(&DIFFERENT_MEMBRANES) else {
            return;
        };
        let donor = &blots[0];
        let (w, h) = donor.dimensions();
        let strip = (w * 3 / 10, h / 8);
        let from = busiest_window(donor, strip);
        let mut wide = side_by_side(&blots[1..6]);
        assert!(wide.width() > SHARED_PART_FULL_RESOLUTION_SIDE);
        let to = (wide.width() / 2 + 17, wide.height() / 3 + 5);
        let part = image::imageops::crop_imm(donor, from.0, from.1, strip.0, strip.1);
        image::imageops::replace(&mut wide, &*part, i64::from(to.0), i64::from(to.1));

        let found = verify_shared_parts(&[donor, &wide], &VerifyConfig::default());
        let [(0, 1, relation)] = found.as_slice() else {
            panic!("one shared part expected, found {found:?}");
        };
        assert!(relation.verified && relation.partial, "{relation:?}");
        let (ww, wh) = wide.dimensions();
        let (cx, cy) = (
            (relation.region_b[0] + relation.region_b[2]) / 2.0 * ww as f32,
            (relation.region_b[1] + relation.region_b[3]) / 2.0 * wh as f32,
        );
        assert!(
            (to.0 as f32..(to.0 + strip.0) as f32).contains(&cx)
                && (to.1 as f32..(to.1 + strip.1) as f32).contains(&cy),
            "{relation:?} is not where the strip was pasted, {to:?}"
        );
        // The wide picture as it was shares nothing with the donor or with its own blots.
        let plain = side_by_side(&blots[1..6]);
        let pictures = [donor, &plain, &blots[6], &blots[7]];
        let found = verify_shared_parts(&pictures, &VerifyConfig::default());
        assert!(
            found.iter().all(|(_, _, relation)| !relation.verified),
            "{found:?}"
        );
    }

    #[test]
    fn real_blots_of_different_membranes_share_no_part() {
        let Some(blots) = polimi_blots(&DIFFERENT_MEMBRANES) else {
            return;
        };
        let pictures: Vec<&GrayImage> = blots.iter().collect();
        let found = verify_shared_parts(&pictures, &VerifyConfig::default());
        assert!(
            found.iter().all(|(_, _, relation)| !relation.verified),
            "{found:?}"
        );
    }

    #[test]
    fn a_scale_bar_and_a_letter_drawn_alike_on_two_real_blots_are_no_shared_part() {
        let Some(mut blots) = polimi_blots(&DIFFERENT_MEMBRANES[..2]) else {
            return;
        };
        for blot in &mut blots {
            let (w, h) = blot.dimensions();
            // A white scale bar at the bottom right, a black "L" at the top left.
            for y in h - 14..h - 8 {
                for x in w - 70..w - 12 {
                    blot.put_pixel(x, y, image::Luma([255]));
                }
            }
            for y in 8..30 {
                for x in 8..13 {
                    blot.put_pixel(x, y, image::Luma([0]));
                }
            }
            for y in 25..30 {
                for x in 8..22 {
                    blot.put_pixel(x, y, image::Luma([0]));
                }
            }
        }
        // Saved as a journal's figure would be: the overlays ring alike in both.
        for blot in &mut blots {
            let mut bytes = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 80)
                .encode_image(&*blot)
                .unwrap();
            *blot = image::load_from_memory(&bytes).unwrap().to_luma8();
        }
        let found = verify_shared_parts(&[&blots[0], &blots[1]], &VerifyConfig::default());
        assert!(
            found.iter().all(|(_, _, relation)| !relation.verified),
            "{found:?}"
        );
    }
}
