//! classify: labels every panel blot, gel, microscopy or other (a drawn graphic) from where its
//! pixels come from and their statistics, so reviewers see what a match is of and repeated
//! drawings (icons, legends, labels) stay out of the match stream.

use image::{DynamicImage, RgbImage};
use panelscope_engine::{BuildContext, ItemResult, Outputs, Stage, StageConfig, StageError};
use serde::{Deserialize, Serialize};

use crate::units::{DocumentEmbedded, PanelClass, Raster};

/// Counter of panels classified, by `class`.
pub const CLASSIFY_PANELS_TOTAL: &str = "panelscope_classify_panels_total";

/// Longest side of the copy the statistics are taken on: the scale at which a blot's bands are
/// a few pixels tall and a drawing's strokes are still edges.
const STATS_SIDE: u32 = 128;
/// Grey levels from the commonest level past which a pixel is content rather than background.
const CONTENT_LEVELS: i32 = 12;
/// Largest step to a neighbour (grey levels) of a pixel inside a flat fill.
const FLAT_STEP: i32 = 1;
/// Smallest step to a neighbour of a pixel on a hard edge (a stroke, a glyph, a fill's border).
const EDGE_STEP: i32 = 24;
/// Brightness (luma) from which a picture's lightest colour is read as a tint.
const MIN_TINTED_LEVEL: i32 = 64;
/// Least share of its brightest channel that each channel of a tint keeps.
const MIN_TINT_CHANNEL: f32 = 0.7;
/// Largest share of a tinted picture's content (pixels away from its ground) whose colour is
/// not the tint's for the picture to be grey seen through the tint.
const MAX_OFF_TINT_SHARE: f32 = 0.05;
/// Chroma (max − min of R, G, B, once a tint is divided out: see [`lightest_tint`]) from which
/// a pixel is coloured rather than grey.
const COLOURED_CHROMA: i32 = 40;

/// How panels are labelled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClassifyConfig {
    /// Share of a panel's area below which raster images draw it (the rest is vector drawing and
    /// text): below it the panel is a drawn graphic, whatever its pixels look like (0–1).
    pub min_picture_share: f32,
    /// Share of a panel's content pixels on hard edges from which it is a drawing (text, strokes):
    /// photographs, scans and micrographs grade their edges (0–1).
    pub min_edge_share: f32,
    /// Share of content pixels either on hard edges or inside flat fills from which it is a
    /// drawing: a scan's noise leaves no fill flat (0–1).
    pub min_drawn_share: f32,
    /// Share of content pixels on hard edges from which a panel on a flat ground (see
    /// `min_flat_ground_share`) is lettering or line art (0–1).
    pub min_lettered_edge_share: f32,
    /// Share of the ground (pixels near the commonest grey) without any grain from which it is
    /// paper or a drawn fill rather than a membrane, a slide or a photograph (0–1). Colour on
    /// such a ground is a drawing (a logo, a map, a chart, an infographic), not a stain.
    pub min_flat_ground_share: f32,
    /// Share of coloured pixels from which a picture is a micrograph (stains, fluorescence)
    /// rather than a blot or a gel (0–1).
    pub min_coloured_share: f32,
    /// Median brightness (0–255) below which a picture is on a dark ground (a stained gel, a
    /// fluorescence, dark-field or electron micrograph): never taken for a drawing.
    pub dark_ground: u8,
    /// How much more a blot's or gel's brightness changes along its lanes than across them (the
    /// bands are wider than tall; lanes run down the panel, or across it when the panel was
    /// turned); under it a grey picture is a micrograph.
    pub min_band_anisotropy: f32,
}

impl Default for ClassifyConfig {
    fn default() -> Self {
        Self {
            min_picture_share: 0.5,
            min_edge_share: 0.75,
            min_drawn_share: 0.85,
            min_lettered_edge_share: 0.5,
            min_flat_ground_share: 0.9,
            min_coloured_share: 0.05,
            dark_ground: 100,
            min_band_anisotropy: 1.1,
        }
    }
}

impl ClassifyConfig {
    /// Checks every field's range.
    pub fn validate(&self) -> Result<(), String> {
        for (name, share) in [
            ("min_picture_share", self.min_picture_share),
            ("min_edge_share", self.min_edge_share),
            ("min_drawn_share", self.min_drawn_share),
            ("min_lettered_edge_share", self.min_lettered_edge_share),
            ("min_flat_ground_share", self.min_flat_ground_share),
            ("min_coloured_share", self.min_coloured_share),
        ] {
            if !(0.0..=1.0).contains(&share) {
                return Err(format!(
                    "classify.{name} must be within 0–1 (it is {share})"
                ));
            }
        }
        if !(self.min_band_anisotropy.is_finite() && self.min_band_anisotropy > 0.0) {
            return Err(format!(
                "classify.min_band_anisotropy must be positive (it is {})",
                self.min_band_anisotropy
            ));
        }
        Ok(())
    }

    /// Whether a picture of these statistics is drawn (lettering, strokes, flat fills on paper)
    /// rather than scanned, photographed or imaged.
    pub fn drawn(&self, stats: &PixelStats) -> bool {
        // Drawings are made on paper. On a dark ground, sharp light marks are a stained gel's
        // bands or a fluorescence image's cells, however clean the ground was made.
        stats.median >= self.dark_ground
            && (stats.edge_share >= self.min_edge_share
                || stats.edge_share + stats.flat_share >= self.min_drawn_share
                || (stats.edge_share >= self.min_lettered_edge_share
                    && stats.flat_ground_share >= self.min_flat_ground_share)
                || (stats.coloured_share >= self.min_coloured_share
                    && stats.flat_ground_share >= self.min_flat_ground_share))
    }

    /// What `thumb` shows, `picture_share` of its area being drawn by raster images.
    pub fn classify(&self, thumb: &Raster, picture_share: f32) -> PanelClass {
        if picture_share < self.min_picture_share {
            return PanelClass::Other;
        }
        let stats = PixelStats::of(thumb);
        let on_paper = stats.median >= self.dark_ground;
        if self.drawn(&stats) {
            PanelClass::Other
        } else if stats.coloured_share >= self.min_coloured_share {
            PanelClass::Microscopy
        } else if !on_paper {
            if stats.band_anisotropy() >= self.min_band_anisotropy {
                PanelClass::Gel
            } else {
                PanelClass::Microscopy
            }
        } else if stats.band_anisotropy() >= self.min_band_anisotropy || stats.is_strip() {
            PanelClass::Blot
        } else {
            PanelClass::Microscopy
        }
    }
}

/// The statistics a panel is classified by, taken on a copy at most [`STATS_SIDE`] pixels long.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PixelStats {
    /// Size of the copy.
    pub width: u32,
    /// Size of the copy.
    pub height: u32,
    /// Share of content pixels (away from the commonest grey) on hard edges.
    pub edge_share: f32,
    /// Share of content pixels inside flat fills.
    pub flat_share: f32,
    /// Share of the other pixels (the ground) inside flat fills: paper or a fill as drawn has no
    /// grain, a membrane or a slide as scanned or photographed does.
    pub flat_ground_share: f32,
    /// Share of all pixels that are coloured, once the tint of a grey picture seen through
    /// coloured film or paper is divided out.
    pub coloured_share: f32,
    /// Median brightness.
    pub median: u8,
    /// Mean vertical brightness step over mean horizontal step.
    pub anisotropy: f32,
}

impl PixelStats {
    /// The statistics of `raster`.
    pub fn of(raster: &Raster) -> PixelStats {
        let rgb: RgbImage = if raster.width.max(raster.height) > STATS_SIDE {
            DynamicImage::ImageRgb8(raster.to_rgb())
                .thumbnail(STATS_SIDE, STATS_SIDE)
                .to_rgb8()
        } else {
            raster.to_rgb()
        };
        let (width, height) = rgb.dimensions();
        let luma: Vec<i32> = rgb
            .pixels()
            .map(|p| (i32::from(p[0]) * 299 + i32::from(p[1]) * 587 + i32::from(p[2]) * 114) / 1000)
            .collect();
        let mut histogram = [0usize; 256];
        for &v in &luma {
            histogram[v.clamp(0, 255) as usize] += 1;
        }
        let commonest = (0..256).max_by_key(|&v| histogram[v]).unwrap_or(0) as i32;
        let is_ground = |v: i32| (v - commonest).abs() <= CONTENT_LEVELS;
        let chroma = |p: &image::Rgb<u8>, tint: &[f32; 3]| {
            let channels = [0, 1, 2].map(|c| f32::from(p[c]) / tint[c]);
            let (hi, lo) = channels
                .iter()
                .fold((f32::MIN, f32::MAX), |(hi, lo), &v| (hi.max(v), lo.min(v)));
            hi - lo
        };
        let coloured_under = |tint: &[f32; 3], content_only: bool| {
            rgb.pixels()
                .zip(&luma)
                .filter(|(p, v)| {
                    (!content_only || !is_ground(**v)) && chroma(p, tint) > COLOURED_CHROMA as f32
                })
                .count()
        };
        // A grey picture seen through a tint (sepia or blue film, a yellowed scan) has its
        // content on one ray from black through its lightest colour: its colour is the film's.
        // A stain's cells on a tinted slide are off that ray.
        let tint = lightest_tint(&rgb, &luma, &histogram);
        let content_pixels = luma.iter().filter(|&&v| !is_ground(v)).count();
        let tinted_grey = tint != [1.0; 3]
            && (coloured_under(&tint, true) as f32)
                <= MAX_OFF_TINT_SHARE * content_pixels.max(1) as f32;
        let coloured = coloured_under(if tinted_grey { &tint } else { &[1.0; 3] }, false);
        let half = luma.len() / 2;
        let mut seen = 0;
        let median = (0..256)
            .find(|&v| {
                seen += histogram[v];
                seen > half
            })
            .unwrap_or(0) as u8;

        let (w, h) = (width as usize, height as usize);
        let at = |x: usize, y: usize| luma[y * w + x];
        let (mut content, mut edges, mut flats, mut flat_ground) = (0usize, 0usize, 0usize, 0usize);
        let (mut across, mut down) = (0u64, 0u64);
        for y in 0..h {
            for x in 0..w {
                let v = at(x, y);
                let right = (x + 1 < w).then(|| (at(x + 1, y) - v).abs());
                let below = (y + 1 < h).then(|| (at(x, y + 1) - v).abs());
                across += right.unwrap_or(0) as u64;
                down += below.unwrap_or(0) as u64;
                let step = right.unwrap_or(0).max(below.unwrap_or(0));
                if is_ground(v) {
                    // Steps onto content are the content's edges, not the ground's grain.
                    let grain = [
                        (x + 1 < w).then(|| at(x + 1, y)),
                        (y + 1 < h).then(|| at(x, y + 1)),
                    ]
                    .into_iter()
                    .flatten()
                    .filter(|&n| is_ground(n))
                    .map(|n| (n - v).abs())
                    .max()
                    .unwrap_or(0);
                    flat_ground += usize::from(grain <= FLAT_STEP);
                    continue;
                }
                content += 1;
                if step > EDGE_STEP {
                    edges += 1;
                } else if step <= FLAT_STEP {
                    flats += 1;
                }
            }
        }
        let ground = (luma.len() - content).max(1) as f32;
        let content = content.max(1) as f32;
        PixelStats {
            width,
            height,
            edge_share: edges as f32 / content,
            flat_share: flats as f32 / content,
            flat_ground_share: flat_ground as f32 / ground,
            coloured_share: coloured as f32 / luma.len().max(1) as f32,
            median,
            anisotropy: down as f32 / across.max(1) as f32,
        }
    }

    /// A strip much wider than tall (or, turned, much taller than wide): one row of bands, the
    /// commonest cut of a blot.
    fn is_strip(&self) -> bool {
        self.width >= 3 * self.height || self.height >= 3 * self.width
    }

    /// The anisotropy either way round: a blot turned a quarter is still banded.
    fn band_anisotropy(&self) -> f32 {
        self.anisotropy
            .max(1.0 / self.anisotropy.max(f32::MIN_POSITIVE))
    }
}

/// The colour of the picture's lightest tenth (a film's base, a scan's paper) as per-channel
/// multipliers of grey (the brightest channel 1): the tint a grey picture would have been seen
/// through. Neutral when that tenth is dark (no colour to read), or so strongly coloured (a
/// channel under [`MIN_TINT_CHANNEL`] of the brightest) that it is a dye or a fluorescence rather
/// than a tint.
fn lightest_tint(rgb: &RgbImage, luma: &[i32], histogram: &[usize; 256]) -> [f32; 3] {
    let mut above = 0;
    let lightest = (0..256)
        .rev()
        .find(|&v| {
            above += histogram[v];
            above * 10 >= luma.len()
        })
        .unwrap_or(0) as i32;
    if lightest < MIN_TINTED_LEVEL {
        return [1.0; 3];
    }
    let mut sums = [0u64; 3];
    for (p, _) in rgb.pixels().zip(luma).filter(|(_, v)| **v >= lightest) {
        for (sum, &channel) in sums.iter_mut().zip(&p.0) {
            *sum += u64::from(channel);
        }
    }
    let brightest = sums.iter().copied().max().unwrap_or(0).max(1);
    let tint = sums.map(|s| s as f32 / brightest as f32);
    if tint.iter().any(|&t| t < MIN_TINT_CHANNEL) {
        [1.0; 3]
    } else {
        tint
    }
}

impl StageConfig for ClassifyConfig {
    type Stage = Classify;

    fn build(&self, _cx: &BuildContext) -> Result<Classify, StageError> {
        self.validate().map_err(StageError::input)?;
        metrics::describe_counter!(
            CLASSIFY_PANELS_TOTAL,
            metrics::Unit::Count,
            "Panels classified, by class (blot, gel, microscopy, other)."
        );
        Ok(Classify {
            config: self.clone(),
        })
    }
}

/// The classify stage: sets the class of every panel of a document.
pub struct Classify {
    config: ClassifyConfig,
}

impl Stage for Classify {
    type In = DocumentEmbedded;
    type Out = DocumentEmbedded;

    fn process(&mut self, batch: &[DocumentEmbedded]) -> Vec<ItemResult<DocumentEmbedded>> {
        batch
            .iter()
            .map(|document| {
                let mut document = document.clone();
                for panel in &mut document.document.panels {
                    let class = self.config.classify(&panel.thumb, panel.picture_share);
                    metrics::counter!(CLASSIFY_PANELS_TOTAL, "class" => class.as_str())
                        .increment(1);
                    tracing::debug!(
                        panel = panel.id,
                        class = class.as_str(),
                        stats = ?PixelStats::of(&panel.thumb),
                        picture_share = panel.picture_share,
                        "Panel classified."
                    );
                    panel.class = Some(class);
                }
                Ok(Outputs::One(document))
            })
            .collect()
    }

    fn describe(&self, document: &DocumentEmbedded) -> String {
        document.describe()
    }

    fn key(&self, document: &DocumentEmbedded) -> Option<String> {
        Some(document.key())
    }

    fn sequence(&self, document: &DocumentEmbedded) -> Option<u64> {
        Some(document.position())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The real blots in `../shared/data/blots` (scans and photographs of membranes, some edited).
    fn real_blots() -> Vec<(String, Raster)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/blots");
        let mut found = Vec::new();
        for folder in ["polimi", "bowenjo"] {
            let Ok(entries) = std::fs::read_dir(root.join(folder)) else {
                continue;
            };
            let mut paths: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
            paths.sort();
            for path in paths {
                let image = image::open(&path).expect("a readable image").to_rgb8();
                found.push((path.display().to_string(), Raster::from_rgb(image)));
            }
        }
        found
    }

    #[test]
    fn real_blots_are_never_drawn_graphics_and_mostly_blots() {
        let blots = real_blots();
        if blots.is_empty() {
            eprintln!("../shared/data/blots is absent: nothing to check");
            return;
        }
        let config = ClassifyConfig::default();
        let mut blot = 0;
        for (path, raster) in &blots {
            let class = config.classify(&raster_thumb(raster), 1.0);
            assert_ne!(
                class,
                PanelClass::Other,
                "{path}: {:?}",
                PixelStats::of(raster)
            );
            blot += usize::from(class == PanelClass::Blot);
        }
        let share = blot as f32 / blots.len() as f32;
        eprintln!("{blot} of {} real blots classified blot", blots.len());
        assert!(
            share >= 0.8,
            "only {blot} of {} real blots are blots",
            blots.len()
        );
    }

    /// `raster` seen through a film or paper of colour `tint` (per-channel multipliers).
    fn tinted(raster: &Raster, tint: [f32; 3]) -> Raster {
        let mut rgb = raster.to_rgb();
        for pixel in rgb.pixels_mut() {
            for (channel, t) in pixel.0.iter_mut().zip(tint) {
                *channel = (f32::from(*channel) * t).round() as u8;
            }
        }
        Raster::from_rgb(rgb)
    }

    #[test]
    fn a_blot_on_sepia_film_is_a_blot_and_a_stain_on_a_yellowed_slide_a_micrograph() {
        let config = ClassifyConfig::default();
        let sepia = [1.0, 0.93, 0.8];
        let blots: Vec<(String, Raster)> = real_blots()
            .into_iter()
            .filter(|(_, raster)| config.classify(&raster_thumb(raster), 1.0) == PanelClass::Blot)
            .collect();
        let kept = blots
            .iter()
            .filter(|(_, raster)| {
                config.classify(&raster_thumb(&tinted(raster, sepia)), 1.0) == PanelClass::Blot
            })
            .count();
        eprintln!(
            "{kept} of {} real blots stay blots through sepia",
            blots.len()
        );
        // A few sit on a threshold that the tint's rounding moves, or had colour of their own.
        assert!(
            kept * 100 >= blots.len() * 99,
            "sepia film made {} of {} real blots something else",
            blots.len() - kept,
            blots.len()
        );
        let stained_cell = tinted(&disc([180, 60, 150], 225, 6), sepia);
        assert_eq!(config.classify(&stained_cell, 1.0), PanelClass::Microscopy);
    }

    /// A bar chart as plotting software draws it: axes, flat bars, no grain.
    fn bar_chart() -> Raster {
        Raster::from_rgb(RgbImage::from_fn(300, 200, |x, y| {
            let axis = x == 20 || y == 180;
            let bar = [(40, 90, 60), (110, 160, 120), (180, 230, 30)]
                .iter()
                .any(|&(x0, x1, top)| (x0..x1).contains(&x) && (top..180).contains(&y));
            match (axis, bar) {
                (true, _) => image::Rgb([0, 0, 0]),
                (_, true) => image::Rgb([40, 90, 200]),
                _ => image::Rgb([255, 255, 255]),
            }
        }))
    }

    #[test]
    fn a_chart_and_anything_drawn_in_vectors_are_other() {
        let config = ClassifyConfig::default();
        assert_eq!(config.classify(&bar_chart(), 1.0), PanelClass::Other);
        // A blot's pixels, but most of the panel is not a raster image: a drawing around a logo.
        let (_, blot) = real_blots()
            .into_iter()
            .next()
            .unwrap_or_else(|| ("a bar chart".into(), bar_chart()));
        assert_eq!(config.classify(&blot, 0.2), PanelClass::Other);
    }

    /// A disc of `colour` shaded darker towards its rim (a rendered sphere, a stained cell), its
    /// edge ramped over a few pixels (as a JPEG or a resampled logo leaves it), on a ground of
    /// `ground` plus `grain` levels of noise.
    fn disc(colour: [u8; 3], ground: u8, grain: u32) -> Raster {
        Raster::from_rgb(RgbImage::from_fn(200, 160, |x, y| {
            let d = ((x as f32 - 100.0).powi(2) + (y as f32 - 80.0).powi(2)).sqrt();
            let inside = ((60.0 - d) / 6.0).clamp(0.0, 1.0);
            let noise = if grain == 0 {
                0.0
            } else {
                let hash = (x.wrapping_mul(73_856_093) ^ y.wrapping_mul(19_349_663))
                    .wrapping_mul(2_654_435_761);
                ((hash >> 24) % (2 * grain + 1)) as f32 - grain as f32
            };
            let shade = 1.0 - 0.8 * (d / 60.0).min(1.0);
            let mix = |c: u8| {
                (f32::from(c) * shade * inside + f32::from(ground) * (1.0 - inside) + noise)
                    .clamp(0.0, 255.0) as u8
            };
            image::Rgb([mix(colour[0]), mix(colour[1]), mix(colour[2])])
        }))
    }

    #[test]
    fn colour_on_grainless_paper_is_a_drawing_and_on_a_grainy_slide_a_stain() {
        let config = ClassifyConfig::default();
        let logo = disc([30, 180, 230], 255, 0);
        assert_eq!(config.classify(&logo, 1.0), PanelClass::Other);
        let stained_cell = disc([180, 60, 150], 225, 6);
        assert_eq!(config.classify(&stained_cell, 1.0), PanelClass::Microscopy);
    }

    #[test]
    fn out_of_range_settings_are_refused_by_name() {
        let config = ClassifyConfig {
            min_flat_ground_share: 1.5,
            ..ClassifyConfig::default()
        };
        let error = config.validate().unwrap_err();
        assert!(error.contains("min_flat_ground_share"), "{error}");
    }

    fn raster_thumb(raster: &Raster) -> Raster {
        crate::assemble::thumbnail(raster)
    }
}
