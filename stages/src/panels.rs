//! panels: splits compound figures into panels by recursive whitespace cuts (XY-cut).
//!
//! **Background.** The figure's background is the dominant colour of its border, provided most
//! of the border is flat in it (within 1 level, in runs of 8 px): a page's white is exact, a blot
//! membrane or a photograph is not. Panels cropped tight (the figures stage merges neighbouring
//! images into one figure) leave only the gutters' ends on the border: then the background is the
//! light colour of those ends, provided whole rows or columns somewhere are gutters of it (no ink,
//! one line within a few levels: a JPEG's ringing leaves no gutter line exactly flat). A figure with
//! neither is a full-bleed picture (a blot crop, a photograph) and is one panel covering it all.
//!
//! **Ink.** A pixel is ink when one of its channels differs from the background by more than
//! [`PanelsConfig::ink_tolerance`]. A summed-area table of the ink answers "how much ink in this
//! rectangle" in four reads, so every row or column profile costs O(width + height), never a
//! scan of the pixels.
//!
//! **Cuts.** A region is trimmed to its ink and cut at a gutter: a band of at least
//! [`PanelsConfig::min_gutter_px`] rows (or columns) without ink, tolerating specks and thin
//! hairlines, with at least one line of the background itself (not a panel's light shading).
//! Both sides are split the same way. A cut is kept when its sides yield a panel and what they
//! drop (panel letters, labels, stray text lines) is a small share of the region's ink; otherwise
//! the next-widest gutter is tried, and the region stays whole when none is kept. A leaf is a
//! panel when it is big enough to screen and filled: most of its rows and columns hold ink. A
//! panel that is a solid picture sheds the labels beside it that no gutter parted from it (a
//! letter set close, JPEG ringing bridging the gap): they are not part of the image screened.
//!
//! **Blots.** These rules are what keep a Western blot whole: the light columns between its
//! lanes and the light rows between its bands look like gutters, but a cut there leaves lanes or
//! rows of bands that are thin or sparse (so the cut drops most of the ink and is refused), or a
//! membrane strip that is solid ink (no cut may drop that), or edges that fade into the gutter
//! instead of starting at it (lanes and bands do; panels do not). Lanes solid enough to pass
//! all that (grey lanes with hard edges, white between them) are joined back into one panel when
//! three or more stand side by side over the same rows, each far taller than wide.
//!
//! **Letters.** Pictures butted together without a gutter (a row of micrographs, blots side by
//! side) are one region to the cuts. When a row of panel letters stands at its top — set as text
//! (the figures stage finds them) or drawn just above it — two or more letters, the first at the
//! region's left edge and each a panel's width apart, part it at the sharpest seam by each letter.
//! Each part that has a background of its own (a strip above white space, a blot above a chart)
//! is then split at its own gutters and trimmed to its ink.
//! Lane labels are words and numbers, or letters a lane apart: they part nothing. Marks drawn in
//! the picture rather than set as text may be lane labels however far apart ("0 1 3 6 12 24"
//! over a blot's lanes): they part it only where a butt seam lies by each (see **Seams**).
//! Likewise, blot strips stacked closer than a gutter, each named by a row label beside it (a
//! protein name set as text), are parted between their labels — only at a seam that differs all
//! along its width, and only in a picture (a chart's rows beside its axis labels are mostly
//! empty).
//!
//! **Seams.** A full-bleed picture that is still one region after the letters, or a panel of a
//! figure on paper that is mostly ink (a picture, not a chart or a drawing, whose straight edges
//! are strokes), may be strips or pictures butted with no gutter at all: once its labels are shed,
//! it is parted at a white hairline (a line or two lighter than both sides, dropped) and at a butt
//! seam: a step in the picture, along nearly its whole width, far sharper than the picture's
//! typical line-to-line change and alone among its neighbours. A dark line drawn across a picture
//! parts nothing, unless page white lies just beyond it (a frame: the margin is cut off). Pieces
//! thinner than a strip join the next one; pieces that are mostly page white (a margin, a label)
//! are dropped, unless they lie between pictures (a picture's own light interior: then the
//! picture stays whole). Lanes parted at the light columns between them are joined back into
//! their blot. A piece a seam parted off with paper beside its ink (pictures butted in an L: two
//! side by side, a third along both, page white under the two) is trimmed and parted again, or,
//! in a full-bleed figure, split at its own gutters when those leave pictures only.
//!
//! A figure that yields one panel is one panel covering the trimmed figure; on a dark background
//! (a gel, a fluorescence image) it covers the whole figure, dark margins and all, as a copy
//! whose bands reach its border does. A panel that took in page white past a sharp edge of its
//! picture (a picture shorter or narrower than the slot a gutterless figure gives it, or both, and
//! the JPEG ringing beside its edge) sheds it. Panels come
//! in reading order: rows top to bottom, each row left to right.
//!
//! This is the first, rule-based splitter; a learned detector will replace it.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;

use metrics::Counter;
use panelscope_engine::{BuildContext, ItemResult, Outputs, Stage, StageConfig, StageError};
use serde::{Deserialize, Serialize};

use crate::classify::{ClassifyConfig, PixelStats};
use crate::units::{
    BBox, Figure, FigurePanels, FigureSource, PageFigures, PagePanels, Panel, PixelBox, Raster,
};

/// Panels emitted, one increment per batch.
pub const PANELS_EMITTED_TOTAL: &str = "panelscope_panels_emitted_total";
/// Pieces of ink dropped as too small or too sparse to screen (panel letters, labels, text).
pub const PANELS_FRAGMENTS_DROPPED_TOTAL: &str = "panelscope_panels_fragments_dropped_total";

/// Pixels within this many levels of the background are flat background (a page's white is
/// exact; a blot's membrane or a photograph's sky is not).
const FLAT_TOLERANCE: u8 = 1;
/// Flat border pixels count only in runs at least this long (pixels), so that noise which
/// happens to match the background does not make a photograph look like a page.
const FLAT_RUN_PX: usize = 8;
/// How far into a piece (pixels) the start of its ink is looked for when judging its edge.
const EDGE_DEPTH: u32 = 16;
/// An edge whose first ink pixels differ from the background by less than the ink tolerance plus
/// this (levels) may be soft: a blot's lane or band fading into the membrane.
const SOFT_EDGE_MARGIN: u8 = 12;
/// How far past its first ink pixel (pixels) a soft edge is much darker.
const RAMP_PX: u32 = 6;
/// A dropped piece at least this share ink (a blot strip's membrane; text and letters are
/// strokes, well below it) and at least half the area of the smallest panel vetoes the cut that
/// drops it.
const SOLID_SHARE: f32 = 0.85;
/// A solid piece at least this many times longer than wide is a strip, a panel whatever its
/// share of the figure.
const STRIP_ASPECT: f32 = 2.0;
/// A strip at least this share one flat fill is a drawn box (a node of a pathway diagram with its
/// label: 0.67–0.70), not a membrane: of the 339 real blots in ../shared/data, 2% reach it (0.46
/// at the 99th percentile; smooth generated ones up to 0.69), and those are still panels when
/// large enough for the share rule.
const MAX_STRIP_FLAT_SHARE: f32 = 0.55;
/// A seam between pictures butted together (stacked strips, blots side by side) is at least this
/// many times sharper than the panel's median line-to-line change.
const SEAM_CONTRAST: u64 = 3;
/// … and differs by at least this many levels all along.
const MIN_SEAM_LEVELS: u64 = 8;
/// How far above a panel (as a share of its height) its letters are looked for.
const LETTER_ROW_SHARE: f32 = 0.3;
/// Letters parting butted pictures stand at least this share of the panel's height apart.
const LETTER_PITCH_SHARE: f32 = 0.5;
/// A row (or column) of a panel's solid picture has at least this share of ink.
const BODY_INK: f32 = 0.9;
/// A row (or column) of a label beside a picture has less than this share of ink.
const LABEL_INK: f32 = 0.25;
/// Lines next to a picture's edge that may hold anything (JPEG ringing, an antialiased border).
const RINGING_PX: usize = 3;
/// Most of a panel's height (or width) that labels beside its picture may take.
const MAX_LABEL_SHARE: f32 = 0.2;
/// A line of a label that is nearly empty (a marker's "26 —" beside a tall strip) holds less
/// than this share of ink …
const FAINT_LABEL_INK: f32 = 0.1;
/// … and such labels may take up to this share of the panel's width (or height): beside a
/// narrow strip they can be as wide as a third of it.
const MAX_FAINT_LABEL_SHARE: f32 = 0.5;
/// Marker labels beside one strip, at most (more are a chart's tick labels, which stay).
const MAX_MARKER_LABELS: usize = 2;
/// Lines of a gutter tried, from its middle outwards, when looking for one that is clean background.
const MAX_CLEAN_LINES_TRIED: usize = 16;
/// Every channel of a page-white gutter between panels cropped tight is at least this light.
const LIGHT: u8 = 224;
/// Page white within this many levels of itself, in a figure without flat margins: JPEG ringing
/// next to the panels of a recompressed figure moves its gutters' white by a few levels.
const LIGHT_TOLERANCE: u8 = 6;
/// Every channel of a page's white is at least this light.
const PAGE_WHITE: u8 = 248;
/// Thickest frame line (pixels) where the frames of two touching panels meet.
const MAX_FRAME_PX: u32 = 6;
/// A frame line's pixels are all at most this light (every channel), ...
const FRAME_DARK: u8 = 110;
/// ... along at least this share of its length, ...
const FRAME_COVER: f32 = 0.97;
/// ... and the pixels beside it, over this many lines on each side, ...
const FRAME_SIDE_PX: usize = 3;
/// ... are lighter by this much on average (levels).
const FRAME_CONTRAST: f32 = 50.0;
/// A panel's outer lines are a frame when each is one colour within this many levels along at
/// least [`FRAME_COVER`] of its length, the four sides of one colour.
const FRAME_FLAT_TOLERANCE: u8 = 10;
/// Most lines of paper a panel's crop may take in past its picture on a side (its box rounded
/// out to whole pixels of a render).
const MAX_PAPER_EDGE_PX: u32 = 2;
/// Most near-white lines a JPEG's ringing leaves between a picture's edge and the paper past it.
const MAX_RINGING_PX: usize = 8;
/// Mean level (all channels) of a line of such ringing: paper, faintly stained.
const RINGING_MIN_MEAN: f32 = 245.0;
/// Levels by which the line inside must be darker on average than a paper edge line for it to
/// be taken as the crop's overshoot rather than the picture's own light margin.
const PAPER_EDGE_CONTRAST: f32 = 40.0;
/// Share of a gutter's lines a line across it must be ink on for the gutter to be crossed.
const GUTTER_CROSSING_SHARE: f32 = 0.9;
/// Narrowest gutter, in minimum gutters, that a line across it can take back.
const CROSSED_GUTTER_MIN_GUTTERS: u32 = 3;

/// Gutters tried per region, widest first, before the region is kept whole.
const CUTS_TRIED: usize = 3;
/// Regions evaluated per figure after which only the widest gutter of a region is tried, and
/// ten times as many after which regions are no longer cut: a bound on pathological figures
/// (a page of text), reached by none of the real figures we test with.
const REGION_BUDGET: usize = 4_000;

/// Settings of the panels stage, read from `[panels]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PanelsConfig {
    /// A pixel is ink when one of its channels differs from the figure's background by more than
    /// this, in levels (0–254).
    pub ink_tolerance: u8,
    /// Share of the figure's border (0–1) that must be flat background (within 1 level of its
    /// dominant colour, in runs of 8 px) for that colour to be the background; below it the
    /// figure is panels cropped tight (when whole rows or columns are page white) or else a
    /// full-bleed picture (a blot crop, a photograph): one panel covering the whole figure.
    pub flat_border_share: f32,
    /// Narrowest gutter, in pixels.
    pub min_gutter_px: u32,
    /// Narrowest gutter as a share of the figure's longer side (0–0.5); the larger of this and
    /// `min_gutter_px` applies.
    pub min_gutter_share: f32,
    /// Ink a row (or column) of a gutter may hold, as a share of its length (0–0.5), and at least
    /// 1 px: JPEG specks and thin lines crossing the gutter.
    pub gutter_noise_share: f32,
    /// At least one line of a gutter must be within this many levels of the background (0–254):
    /// the page's white, not the light shading of a panel or a pale blot membrane. On a dark
    /// background the line must be within 1 level of it.
    pub gutter_flat_tolerance: u8,
    /// Lines of ink at most this thick (pixels) running along a gutter do not close it.
    pub max_hairline_px: u32,
    /// Smallest panel side, in pixels; smaller pieces are letters, labels or text lines.
    pub min_panel_side_px: u32,
    /// Smallest panel side on the page, in points: smaller pieces (a letter of a drawn logo, an
    /// icon) carry too little to screen, whatever their pixel count.
    pub min_panel_side_pt: f32,
    /// A thinner piece is still a panel when its short side reaches this (points) and its area
    /// that of a `min_panel_side_pt` square: a blot strip, one protein's row of bands, is often
    /// 8–12 pt high. An upright one must also be three times taller than wide (a strip turned a
    /// quarter).
    pub min_strip_side_pt: f32,
    /// Smallest panel side as a share of the figure's shorter side (0–1); the larger of this and
    /// `min_panel_side_px` applies. A solid strip (one protein's row of bands, at least twice as
    /// long as high) needs only `min_panel_side_px`.
    pub min_panel_side_share: f32,
    /// Smallest share (0–1) of a panel's rows, and of its columns, that hold ink; sparser pieces
    /// (one lane of a blot, a row of bands, a column of labels) are not panels on their own.
    pub min_panel_fill: f32,
    /// A piece longer than this many times its width (a ratio, at least 1) must be at least half
    /// ink (a blot strip) to be a panel; sparser elongated pieces are text lines.
    pub max_sparse_aspect: f32,
    /// Most ink a cut may drop (letters, labels, text), as a share of the ink of the region it cuts
    /// (0–1); a cut that would drop more is refused and the region stays whole.
    pub max_dropped_ink_share: f32,
    /// Pieces of one picture that are all drawn (a diagram's nodes and arrows, a table's cells,
    /// a chart beside its legend; told as the classify stage's defaults tell a drawing) are one
    /// panel, the drawing, or one per panel letter drawn above them, unless panel letters set as
    /// text head two or more of them: a diagram's repeated nodes are not images reused. A
    /// drawing placed as an image of its own is that whole image. Charts each drawn in a frame
    /// of its own (every frame at least twice `min_panel_side_pt` a side) are made whole frame
    /// by frame.
    pub drawings_whole: bool,
}

impl Default for PanelsConfig {
    fn default() -> Self {
        Self {
            ink_tolerance: 20,
            flat_border_share: 0.5,
            min_gutter_px: 4,
            min_gutter_share: 0.004,
            gutter_noise_share: 0.002,
            gutter_flat_tolerance: 4,
            max_hairline_px: 2,
            min_panel_side_px: 32,
            min_panel_side_pt: 16.0,
            min_strip_side_pt: 8.0,
            min_panel_side_share: 0.08,
            min_panel_fill: 0.5,
            max_sparse_aspect: 5.0,
            max_dropped_ink_share: 0.3,
            drawings_whole: true,
        }
    }
}

impl PanelsConfig {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), StageError> {
        let bad = |field: &str, rule: &str, value: &dyn std::fmt::Display| {
            Err(StageError::input(format!(
                "panels.{field} must be {rule} (got {value})"
            )))
        };
        if self.ink_tolerance == u8::MAX {
            return bad("ink_tolerance", "below 255", &self.ink_tolerance);
        }
        if self.gutter_flat_tolerance > self.ink_tolerance {
            return bad(
                "gutter_flat_tolerance",
                "at most panels.ink_tolerance",
                &self.gutter_flat_tolerance,
            );
        }
        if self.min_gutter_px == 0 {
            return bad("min_gutter_px", "at least 1", &self.min_gutter_px);
        }
        if self.min_panel_side_px == 0 {
            return bad("min_panel_side_px", "at least 1", &self.min_panel_side_px);
        }
        let shares = [
            ("flat_border_share", self.flat_border_share, 1.0),
            ("min_gutter_share", self.min_gutter_share, 0.5),
            ("gutter_noise_share", self.gutter_noise_share, 0.5),
            ("min_panel_side_share", self.min_panel_side_share, 1.0),
            ("min_panel_fill", self.min_panel_fill, 1.0),
            ("max_dropped_ink_share", self.max_dropped_ink_share, 1.0),
        ];
        for (field, value, max) in shares {
            if !(0.0..=max).contains(&value) {
                return bad(field, &format!("in [0, {max}]"), &value);
            }
        }
        if !(0.0..=self.min_panel_side_pt).contains(&self.min_strip_side_pt) {
            return bad(
                "min_strip_side_pt",
                "in [0, panels.min_panel_side_pt]",
                &self.min_strip_side_pt,
            );
        }
        if self.max_sparse_aspect.is_nan() || self.max_sparse_aspect < 1.0 {
            return bad("max_sparse_aspect", "at least 1", &self.max_sparse_aspect);
        }
        Ok(())
    }
}

impl StageConfig for PanelsConfig {
    type Stage = Panels;

    fn build(&self, cx: &BuildContext) -> Result<Panels, StageError> {
        self.validate()?;
        metrics::describe_counter!(
            PANELS_EMITTED_TOTAL,
            metrics::Unit::Count,
            "Panels emitted."
        );
        metrics::describe_counter!(
            PANELS_FRAGMENTS_DROPPED_TOTAL,
            metrics::Unit::Count,
            "Pieces of figures dropped as too small or sparse to screen."
        );
        let stage = cx.stage.to_string();
        Ok(Panels {
            config: self.clone(),
            emitted: metrics::counter!(PANELS_EMITTED_TOTAL, "stage" => stage.clone()),
            dropped: metrics::counter!(PANELS_FRAGMENTS_DROPPED_TOTAL, "stage" => stage),
        })
    }
}

/// The panels stage: one [`PagePanels`] per [`PageFigures`], every figure with its panels.
pub struct Panels {
    config: PanelsConfig,
    emitted: Counter,
    dropped: Counter,
}

/// Where the panels of one figure raster are, before they are cut out.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PanelLayout {
    /// Panel boxes in the raster's pixels, in reading order.
    pub boxes: Vec<PixelBox>,
    /// Pieces of ink that were dropped as too small or sparse to screen.
    pub fragments_dropped: u32,
    /// Whether the figure was taken whole as a full-bleed picture, without looking for gutters.
    pub full_bleed: bool,
    /// The cells of the frames drawn around its panels, when it was parted at frame lines.
    pub frame_cells: Vec<PixelBox>,
}

impl Panels {
    /// A stage with `config`, outside any graph (its counters carry `stage="panels"`).
    pub fn new(config: PanelsConfig) -> Result<Self, StageError> {
        config.build(&BuildContext::detached("panels"))
    }

    /// The settings in use.
    pub fn config(&self) -> &PanelsConfig {
        &self.config
    }

    /// Where the panels of a figure raster (a picture: an embedded image) are.
    pub fn layout(&self, raster: &Raster) -> PanelLayout {
        layout(raster, &self.config, true, &Labels::default())
    }

    /// The panels of a figure, boxes in page space and pixels cut out, in reading order, with the
    /// count of dropped fragments.
    pub fn split(&self, figure: &Figure) -> (Vec<Panel>, u32) {
        let raster = &figure.raster;
        // The raster's pixel grid maps linearly onto the figure's box.
        let ppx = raster.width as f32 / figure.bbox.width();
        let ppy = raster.height as f32 / figure.bbox.height();
        // Frame lines part framed pictures; in a drawing (a table, a chart) they are its rules.
        let frames = figure.source == FigureSource::Embedded;
        let labels = Labels {
            letters: figure.letters.clone(),
            rows: figure.row_labels.clone(),
        };

        if figure.parts.len() < 2 {
            return self.split_picture(raster, figure.bbox, frames, frames, &labels, |pixel_box| {
                pixel_box
            });
        }
        // Each picture of a figure drawn from several is split on its own (a picture may itself
        // be a compound of panels), at its native resolution when it has one.
        let (mut panels, mut dropped) = (Vec::new(), 0);
        for part in &figure.parts {
            let in_figure = BBox::new(
                part.bbox.x0 - figure.bbox.x0,
                part.bbox.y0 - figure.bbox.y0,
                part.bbox.x1 - figure.bbox.x0,
                part.bbox.y1 - figure.bbox.y0,
            );
            let to_figure_pixels = |b: BBox| {
                PixelBox::new(
                    ((b.x0 * ppx).round().max(0.0) as u32).min(raster.width),
                    ((b.y0 * ppy).round().max(0.0) as u32).min(raster.height),
                    ((b.x1 * ppx).round().max(0.0) as u32).min(raster.width),
                    ((b.y1 * ppy).round().max(0.0) as u32).min(raster.height),
                )
            };
            let part_box = to_figure_pixels(in_figure);
            let cropped;
            let pixels = match &part.raster {
                Some(native) => native,
                None => {
                    cropped = raster.crop(part_box);
                    &cropped
                }
            };
            if pixels.width == 0 || pixels.height == 0 {
                continue;
            }
            let (in_part, fragments) =
                self.split_picture(pixels, part.bbox, frames, true, &labels, |pixel_box| {
                    // Where the panel sits in the figure raster, for overlays.
                    to_figure_pixels(pixel_box.to_page(
                        (in_figure.x0, in_figure.y0),
                        pixels.width as f32 / in_figure.width(),
                        pixels.height as f32 / in_figure.height(),
                    ))
                });
            panels.extend(in_part);
            dropped += fragments;
        }
        (panels, dropped)
    }

    /// The panels of one picture drawn over `bbox` on the page (parted at frame lines too when
    /// `frames`; `placed` when it is one image placed on the page, not a region of the render);
    /// `in_figure` maps a box in the picture's pixels to the figure raster's.
    fn split_picture(
        &self,
        raster: &Raster,
        bbox: BBox,
        frames: bool,
        placed: bool,
        labels: &Labels,
        in_figure: impl Fn(PixelBox) -> PixelBox,
    ) -> (Vec<Panel>, u32) {
        let origin = (bbox.x0, bbox.y0);
        let ppx = raster.width as f32 / bbox.width();
        let ppy = raster.height as f32 / bbox.height();
        let labels = labels.moved(-bbox.x0, -bbox.y0, ppx, ppy);
        let layout = layout(raster, &self.config, frames, &labels);
        let mut dropped = layout.fragments_dropped;
        let drawings_whole = self.config.drawings_whole && !layout.full_bleed;
        // Frames drawn around charts (each a panel of its own) part what a drawing's pieces
        // would join: the drawings are made whole within each frame. A grid of small cells is a
        // table's rules, whose cells are one drawing.
        let framed_panels = layout.frame_cells.len() >= 2
            && layout.frame_cells.iter().all(|cell| {
                cell.width().min(cell.height()) as f32
                    >= MIN_FRAMED_PANEL_SIDES * self.config.min_panel_side_pt * ppy
            });
        let groups: Vec<Vec<PixelBox>> = if framed_panels {
            layout
                .frame_cells
                .iter()
                .map(|cell| {
                    let inside = |b: &&PixelBox| Rect::from(*cell).contains(&Rect::from(**b));
                    layout.boxes.iter().filter(inside).copied().collect()
                })
                .collect()
        } else {
            vec![layout.boxes]
        };
        let mut boxes: Vec<PixelBox> = if drawings_whole {
            groups
                .into_iter()
                .flat_map(|group| drawn_whole(raster, &self.config, group, &labels.letters, ppy))
                .collect()
        } else {
            groups.into_iter().flatten().collect()
        };
        // A drawing placed as an image of its own is that image: the paper around its strokes is
        // part of the panel as its author placed it (a sparse diagram's strokes are a small part
        // of it, and a copy of it is the whole image again).
        let placed_drawing = match boxes[..] {
            [only] => {
                placed
                    && drawings_whole
                    && ClassifyConfig::default().drawn(&PixelStats::of(&raster.crop(only)))
            }
            _ => false,
        };
        if placed_drawing {
            boxes = vec![PixelBox::new(0, 0, raster.width, raster.height)];
        }
        let panels = boxes
            .iter()
            .filter_map(|&pixel_box| {
                let bbox = pixel_box.to_page(origin, ppx, ppy);
                let (short, area) = (bbox.width().min(bbox.height()), bbox.area());
                let cfg = &self.config;
                let strip = short >= cfg.min_strip_side_pt
                    && area >= cfg.min_panel_side_pt * cfg.min_panel_side_pt
                    && (bbox.width() >= bbox.height()
                        || bbox.height() >= MIN_UPRIGHT_STRIP_ASPECT * bbox.width());
                if short < cfg.min_panel_side_pt && !strip {
                    dropped += 1;
                    return None;
                }
                if placed_drawing {
                    return Some(Panel {
                        bbox,
                        pixel_box: in_figure(pixel_box),
                        raster: raster.clone(),
                        class: None,
                    });
                }
                // Where a frame is drawn around the picture, the panel is what it encloses.
                let pixel_box = without_frame(
                    raster,
                    without_letterbox(
                        raster,
                        without_paper_edges(raster, pixel_box),
                        min_gutter(raster, cfg),
                    ),
                );
                let bbox = pixel_box.to_page(origin, ppx, ppy);
                Some(Panel {
                    bbox,
                    pixel_box: in_figure(pixel_box),
                    raster: raster.crop(pixel_box),
                    class: None,
                })
            })
            .collect();
        (panels, dropped)
    }
}

impl Stage for Panels {
    type In = PageFigures;
    type Out = PagePanels;

    fn process(&mut self, batch: &[PageFigures]) -> Vec<ItemResult<PagePanels>> {
        let (mut emitted, mut dropped) = (0u64, 0u64);
        let results = batch
            .iter()
            .map(|page| {
                // A raster whose bytes do not match its size is a bug upstream: say so rather
                // than emit a figure without panels.
                if let Some((i, problem)) = page
                    .figures
                    .iter()
                    .enumerate()
                    .find_map(|(i, f)| raster_problem(&f.raster).map(|p| (i, p)))
                {
                    return Err(StageError::internal(format!(
                        "{}, figure {}: {problem}",
                        self.describe(page),
                        i + 1
                    )));
                }
                let figures = page
                    .figures
                    .iter()
                    .map(|figure| {
                        let (panels, fragments) = self.split(figure);
                        emitted += panels.len() as u64;
                        dropped += u64::from(fragments);
                        FigurePanels {
                            figure: figure.clone(),
                            panels,
                        }
                    })
                    .collect();
                Ok(Outputs::One(PagePanels {
                    meta: page.meta.clone(),
                    figures,
                }))
            })
            .collect();
        self.emitted.increment(emitted);
        self.dropped.increment(dropped);
        results
    }

    fn describe(&self, page: &PageFigures) -> String {
        format!("doc {} page {}", page.meta.doc.short(), page.meta.index + 1)
    }

    fn key(&self, page: &PageFigures) -> Option<String> {
        Some(page.meta.doc.to_hex())
    }

    fn sequence(&self, page: &PageFigures) -> Option<u64> {
        Some(page.meta.document.job.position)
    }
}

/// `boxes` of `raster` when they are several and all drawn (see [`ClassifyConfig::drawn`]): the
/// pieces of one drawing, joined into one panel, or into one per panel letter heading them when
/// letters are drawn in the picture (a row of charts and diagrams, each with its letter). Letters
/// set as text (`letters`, in the raster's pixels) that head two or more of them leave the pieces
/// as they are. `px_per_pt` is the raster's resolution on the page.
fn drawn_whole(
    raster: &Raster,
    config: &PanelsConfig,
    boxes: Vec<PixelBox>,
    letters: &[BBox],
    px_per_pt: f32,
) -> Vec<PixelBox> {
    let union_of = |group: &[PixelBox]| {
        let first = Rect::from(group[0]);
        PixelBox::from(group[1..].iter().fold(first, |u, &b| u.union(&b.into())))
    };
    if boxes.len() < 2 {
        return boxes;
    }
    let union = union_of(&boxes);
    // A letter heads a panel from just above it or from inside its top.
    let heading = letters
        .iter()
        .filter(|l| {
            let (cx, reach) = ((l.x0 + l.x1) / 2.0, 2.0 * l.height());
            cx >= union.x0 as f32 - l.width()
                && cx <= union.x1 as f32 + l.width()
                && l.y1 >= union.y0 as f32 - reach
                && l.y0 <= union.y1 as f32
        })
        .count();
    let classify = ClassifyConfig::default();
    if heading >= 2
        || !boxes
            .iter()
            .all(|b| classify.drawn(&PixelStats::of(&raster.crop(*b))))
    {
        return boxes;
    }
    let marks = drawn_letters(raster, config, &boxes, px_per_pt);
    // Each piece goes with the letter nearest to its upper left: the panel it belongs to.
    let mut groups: Vec<(Option<usize>, Vec<PixelBox>)> = Vec::new();
    for piece in boxes {
        let centre = (piece.x0 + piece.x1) / 2;
        let letter = marks
            .iter()
            .enumerate()
            .filter(|(_, m)| m.y1 <= piece.y0 + m.height() / 2 && m.x0 <= centre)
            .max_by_key(|(_, m)| (m.x0, m.y0))
            .map(|(i, _)| i);
        match groups.iter_mut().find(|(l, _)| *l == letter) {
            Some((_, group)) => group.push(piece),
            None => groups.push((letter, vec![piece])),
        }
    }
    groups.iter().map(|(_, group)| union_of(group)).collect()
}

/// Panel letters drawn in `raster` among the pieces `boxes`: lone glyph-sized marks (5–20 pt
/// tall, at most twice as wide, glyphs closer than half their height joined: "A", "b", "(c)")
/// with paper around them, outside every piece taller than three of them.
fn drawn_letters(
    raster: &Raster,
    config: &PanelsConfig,
    boxes: &[PixelBox],
    px_per_pt: f32,
) -> Vec<Rect> {
    let Some(background) = background(raster, config, min_gutter(raster, config)) else {
        return Vec::new();
    };
    let ink = InkMap::new(raster, &background, config.ink_tolerance);
    let whole = Rect {
        x0: 0,
        y0: 0,
        x1: raster.width,
        y1: raster.height,
    };
    let mut components = ink_components(&ink, whole);
    components.sort_by_key(|c| (c.x0, c.y0));
    let mut glyphs: Vec<Rect> = Vec::new();
    for c in components {
        let joined = glyphs.iter_mut().rev().take(8).find(|g| {
            let reach = g.height().max(c.height()) / 2;
            c.x0 <= g.x1 + reach && c.y0 < g.y1 && g.y0 < c.y1
        });
        match joined {
            Some(g) => *g = g.union(&c),
            None => glyphs.push(c),
        }
    }
    let (lowest, highest) = (5.0 * px_per_pt, 20.0 * px_per_pt);
    let pieces: Vec<Rect> = boxes.iter().map(|&b| b.into()).collect();
    glyphs
        .iter()
        .enumerate()
        .filter(|&(i, g)| {
            let h = g.height();
            let sized = (lowest..=highest).contains(&(h as f32)) && g.width() <= 2 * h;
            let room = Rect {
                x0: g.x0.saturating_sub(h / 2),
                y0: g.y0.saturating_sub(h / 4),
                x1: (g.x1 + h / 2).min(raster.width),
                y1: (g.y1 + h / 4).min(raster.height),
            };
            let alone = glyphs
                .iter()
                .enumerate()
                .all(|(j, other)| j == i || !other.overlaps(&room));
            let loose = !pieces.iter().any(|p| p.height() > 3 * h && p.overlaps(g));
            sized && alone && loose
        })
        .map(|(_, g)| *g)
        .collect()
}

/// Where the panels of `raster` are, under `config` (assumed valid): with `frames`, panels framed
/// by dark lines that touch each other are parted at the lines first; then each cell is split at
/// its gutters.
fn layout(raster: &Raster, config: &PanelsConfig, frames: bool, labels: &Labels) -> PanelLayout {
    if raster_problem(raster).is_some() {
        return PanelLayout::default();
    }
    let whole = Rect {
        x0: 0,
        y0: 0,
        x1: raster.width,
        y1: raster.height,
    };
    let cells = if frames {
        let cells = frame_cells(raster, whole);
        // Frame lines between panels run across the grid they part, not across the paper left
        // around it; only a grid framed all round is looked into (a chart's axis spans all of
        // what its labels leave).
        if cells.len() >= 2 {
            cells
        } else {
            match within_paper_margins(raster) {
                Some(grid) if grid != whole && framed(raster, grid) => frame_cells(raster, grid),
                _ => cells,
            }
        }
    } else {
        vec![whole]
    };
    if cells.len() < 2 {
        return gutter_layout(raster, config, labels);
    }
    let mut combined = PanelLayout::default();
    let mut boxes = Vec::new();
    for &cell in &cells {
        let in_cell = labels.moved(-(cell.x0 as f32), -(cell.y0 as f32), 1.0, 1.0);
        let inner = gutter_layout(&raster.crop(cell.into()), config, &in_cell);
        combined.fragments_dropped += inner.fragments_dropped;
        boxes.extend(inner.boxes.into_iter().map(|b| placed_in(b, cell)));
    }
    combined.boxes = reading_order(boxes)
        .into_iter()
        .map(PixelBox::from)
        .collect();
    combined.frame_cells = cells.into_iter().map(PixelBox::from).collect();
    combined
}

/// The narrowest gutter of `raster`, in pixels.
fn min_gutter(raster: &Raster, config: &PanelsConfig) -> u32 {
    (config.min_gutter_px as f32)
        .max(config.min_gutter_share * raster.width.max(raster.height) as f32)
        .ceil() as u32
}

/// Share of a line's pixels that may be darker than page white for the line to be paper still
/// (a speck, a JPEG's ringing).
const PAPER_LINE_MARKS: f32 = 0.01;

/// `raster` without the lines of paper along its edges; `None` when it is all paper.
fn within_paper_margins(raster: &Raster) -> Option<Rect> {
    let channels = usize::from(raster.channels.max(1));
    let (width, height) = (raster.width as usize, raster.height as usize);
    if width == 0 || height == 0 {
        return None;
    }
    let (mut per_row, mut per_column) = (vec![0u32; height], vec![0u32; width]);
    for (y, row) in raster.data.chunks_exact(width * channels).enumerate() {
        for (x, pixel) in row.chunks_exact(channels).enumerate() {
            if pixel.iter().any(|&v| v < PAGE_WHITE) {
                per_row[y] += 1;
                per_column[x] += 1;
            }
        }
    }
    let marked = |counts: &[u32], length: usize| {
        let most = (PAPER_LINE_MARKS * length as f32) as u32;
        let first = counts.iter().position(|&n| n > most)?;
        let last = counts.iter().rposition(|&n| n > most)?;
        Some((first as u32, last as u32 + 1))
    };
    let (y0, y1) = marked(&per_row, width)?;
    let (x0, x1) = marked(&per_column, height)?;
    Some(Rect { x0, y0, x1, y1 })
}

/// Whether `region` is enclosed by a frame: on each side, one of its outer [`MAX_FRAME_PX`] lines
/// is dark over [`FRAME_COVER`] of its length.
fn framed(raster: &Raster, region: Rect) -> bool {
    if region.width().min(region.height()) <= 2 * MAX_FRAME_PX {
        return false;
    }
    let dark = |x: u32, y: u32| raster.pixel(x, y).iter().all(|&v| v <= FRAME_DARK);
    let covered = |count: usize, length: u32| count as f32 >= FRAME_COVER * length as f32;
    let row_dark = |y: u32| {
        covered(
            (region.x0..region.x1).filter(|&x| dark(x, y)).count(),
            region.width(),
        )
    };
    let column_dark = |x: u32| {
        covered(
            (region.y0..region.y1).filter(|&y| dark(x, y)).count(),
            region.height(),
        )
    };
    (0..MAX_FRAME_PX).any(|i| row_dark(region.y0 + i))
        && (0..MAX_FRAME_PX).any(|i| row_dark(region.y1 - 1 - i))
        && (0..MAX_FRAME_PX).any(|i| column_dark(region.x0 + i))
        && (0..MAX_FRAME_PX).any(|i| column_dark(region.x1 - 1 - i))
}

/// The cells of `region` between frame lines that run across all of it, recursively: thin
/// (at most [`MAX_FRAME_PX`]) lines of dark pixels with lighter pixels on both sides, where the
/// frames of touching panels meet. A dark background (a gel, a fluorescence image) has no
/// lighter sides and is never parted.
fn frame_cells(raster: &Raster, region: Rect) -> Vec<Rect> {
    for axis in [Axis::Cols, Axis::Rows] {
        let lines = frame_lines(raster, region, axis);
        if lines.is_empty() {
            continue;
        }
        let (start, end) = match axis {
            Axis::Cols => (region.x0, region.x1),
            Axis::Rows => (region.y0, region.y1),
        };
        let mut cells = Vec::new();
        let mut from = start;
        for (line_start, line_end) in lines.into_iter().chain([(end, end)]) {
            if line_start > from {
                let piece = match axis {
                    Axis::Cols => Rect {
                        x0: from,
                        x1: line_start,
                        ..region
                    },
                    Axis::Rows => Rect {
                        y0: from,
                        y1: line_start,
                        ..region
                    },
                };
                // Slivers beside the outer frame are nothing to screen.
                if piece.width().min(piece.height()) > 2 * MAX_FRAME_PX {
                    cells.extend(frame_cells(raster, piece));
                }
            }
            from = line_end;
        }
        return cells;
    }
    vec![region]
}

/// `area` without the lines of paper it took in past its picture on any side: a line of page
/// white, of one colour, beside a darker line (a dark picture's crop rounded out by a pixel). The
/// picture's own light margins, as light as the line inside them, stay.
fn without_paper_edges(raster: &Raster, mut area: PixelBox) -> PixelBox {
    if raster.width < area.x1 || raster.height < area.y1 {
        return area;
    }
    let pixel = |x: u32, y: u32| raster.pixel(x, y);
    let line = |area: &PixelBox, side: Side, inset: u32| -> Vec<&[u8]> {
        match side {
            Side::Top => (area.x0..area.x1)
                .map(|x| pixel(x, area.y0 + inset))
                .collect(),
            Side::Bottom => (area.x0..area.x1)
                .map(|x| pixel(x, area.y1 - 1 - inset))
                .collect(),
            Side::Left => (area.y0..area.y1)
                .map(|y| pixel(area.x0 + inset, y))
                .collect(),
            Side::Right => (area.y0..area.y1)
                .map(|y| pixel(area.x1 - 1 - inset, y))
                .collect(),
        }
    };
    let mean = |pixels: &[&[u8]]| {
        pixels
            .iter()
            .map(|p| p.iter().map(|&v| f32::from(v)).sum::<f32>() / p.len().max(1) as f32)
            .sum::<f32>()
            / pixels.len().max(1) as f32
    };
    for side in [Side::Top, Side::Bottom, Side::Left, Side::Right] {
        for _ in 0..MAX_PAPER_EDGE_PX {
            let (width, height) = (area.x1 - area.x0, area.y1 - area.y0);
            if width.min(height) <= 8 * MAX_PAPER_EDGE_PX {
                break;
            }
            let (edge, inside) = (line(&area, side, 0), line(&area, side, 1));
            let paper = edge
                .iter()
                .filter(|p| p.iter().all(|&v| v >= PAGE_WHITE - LIGHT_TOLERANCE))
                .count();
            if (paper as f32) < FRAME_COVER * edge.len() as f32
                || mean(&inside) > mean(&edge) - PAPER_EDGE_CONTRAST
            {
                break;
            }
            match side {
                Side::Top => area.y0 += 1,
                Side::Bottom => area.y1 -= 1,
                Side::Left => area.x0 += 1,
                Side::Right => area.x1 -= 1,
            }
        }
    }
    area
}

/// `area` without margins of page white at least `min_margin` lines thick on any side that end
/// at a sharp edge of a picture: a picture set in a larger slot of a gutterless figure (a blot
/// above the white its taller neighbour leaves, a framed micrograph beside the white of its
/// row), which letters or seams parted off whole with the slot. Up to [`MAX_RINGING_PX`]
/// near-white lines among the paper are a JPEG's ringing (around the picture, around its
/// neighbour's edge) and go with it. The edge must step from the paper by [`BUTT_SEAM_LEVELS`]
/// along [`SEAM_SHARE`] of the part of it that is not paper itself, which is at least half of
/// it: a picture shorter *and* narrower than its slot has white beside its edge on both sides
/// of the L. A blot whose own white membrane runs into the margin keeps it, as its copies,
/// whose white an edit may have dimmed, keep theirs.
fn without_letterbox(raster: &Raster, area: PixelBox, min_margin: u32) -> PixelBox {
    if raster.width < area.x1 || raster.height < area.y1 || area.x1 <= area.x0 || area.y1 <= area.y0
    {
        return area;
    }
    let channels = usize::from(raster.channels.max(1));
    let mut r = Rect::from(area);
    // One side's trim can make another's edge plain (the white under an L's foot is gone).
    for _ in 0..2 {
        for side in [Side::Top, Side::Bottom, Side::Left, Side::Right] {
            if let Some(margin) = letterbox_margin(raster, r, side, min_margin, channels) {
                match side {
                    Side::Top => r.y0 += margin,
                    Side::Bottom => r.y1 -= margin,
                    Side::Left => r.x0 += margin,
                    Side::Right => r.x1 -= margin,
                }
            }
        }
    }
    r.into()
}

/// Lines of page white (and of the ringing past them) that `side` of `r` sheds, as
/// [`without_letterbox`] says; `None` when it keeps them.
fn letterbox_margin(
    raster: &Raster,
    r: Rect,
    side: Side,
    min_margin: u32,
    channels: usize,
) -> Option<u32> {
    let (axis, lines): (Axis, Vec<u32>) = match side {
        Side::Top => (Axis::Rows, (r.y0..r.y1).collect()),
        Side::Bottom => (Axis::Rows, (r.y0..r.y1).rev().collect()),
        Side::Left => (Axis::Cols, (r.x0..r.x1).collect()),
        Side::Right => (Axis::Cols, (r.x0..r.x1).rev().collect()),
    };
    // Paper, with up to MAX_RINGING_PX near-white lines of ringing (by the neighbour's edge
    // outside, by the picture's inside) among it.
    let (mut margin, mut papers, mut ringing, mut last_paper) = (0, 0, 0, None);
    for &at in &lines {
        let look = line_look(raster, r, axis, at);
        if look.paper {
            (papers, last_paper) = (papers + 1, Some(at));
        } else if look.mean >= RINGING_MIN_MEAN && ringing < MAX_RINGING_PX {
            ringing += 1;
        } else {
            break;
        }
        margin += 1;
    }
    let last_paper = last_paper?;
    if papers < min_margin as usize || margin >= lines.len() {
        return None;
    }
    let line = |at: u32| -> Vec<u8> {
        match axis {
            Axis::Rows => (r.x0..r.x1)
                .flat_map(|x| raster.pixel(x, at).iter().copied())
                .collect(),
            Axis::Cols => (r.y0..r.y1)
                .flat_map(|y| raster.pixel(at, y).iter().copied())
                .collect(),
        }
    };
    let (paper, edge) = (line(last_paper), line(lines[margin]));
    let length = paper.len() / channels;
    let white = edge
        .chunks_exact(channels)
        .filter(|p| p.iter().all(|&v| v >= PAGE_WHITE - LIGHT_TOLERANCE))
        .count();
    let mut stepped = 0usize;
    pixel_deviations(&paper, &edge, channels, |_, d| {
        stepped += usize::from(u64::from(d) >= BUTT_SEAM_LEVELS);
    });
    let picture = length - white;
    (2 * picture >= length && stepped as f32 >= SEAM_SHARE * picture as f32)
        .then_some(margin as u32)
}

/// `area` without the frame drawn around its picture: fewer than [`MAX_FRAME_PX`] outermost
/// rows and columns that are each one colour, the same on all four sides, unlike the line inside
/// them (frames are drawn around some copies of a picture and not around others).
fn without_frame(raster: &Raster, area: PixelBox) -> PixelBox {
    let (width, height) = (
        area.x1.saturating_sub(area.x0),
        area.y1.saturating_sub(area.y0),
    );
    if width.min(height) < 8 * MAX_FRAME_PX || raster.width < area.x1 || raster.height < area.y1 {
        return area;
    }
    let pixel = |x: u32, y: u32| raster.pixel(x, y);
    // The colour of a line of pixels when it is one colour, but for a few.
    let flat_colour = |pixels: &mut dyn Iterator<Item = &[u8]>| -> Option<Vec<u8>> {
        let pixels: Vec<&[u8]> = pixels.collect();
        let colour = pixels[pixels.len() / 2].to_vec();
        let alike = pixels
            .iter()
            .filter(|p| deviation(p, &colour) <= FRAME_FLAT_TOLERANCE)
            .count();
        (alike as f32 >= FRAME_COVER * pixels.len() as f32).then_some(colour)
    };
    let mut depth = 0;
    let mut frame_line: Option<Vec<u8>> = None;
    while depth < MAX_FRAME_PX {
        let (x0, y0, x1, y1) = (
            area.x0 + depth,
            area.y0 + depth,
            area.x1 - 1 - depth,
            area.y1 - 1 - depth,
        );
        let sides = [
            flat_colour(&mut (x0..=x1).map(|x| pixel(x, y0))),
            flat_colour(&mut (x0..=x1).map(|x| pixel(x, y1))),
            flat_colour(&mut (y0..=y1).map(|y| pixel(x0, y))),
            flat_colour(&mut (y0..=y1).map(|y| pixel(x1, y))),
        ];
        let Some(top) = sides[0].clone() else { break };
        let one_colour = sides.iter().all(|side| {
            side.as_ref()
                .is_some_and(|c| deviation(c, &top) <= FRAME_FLAT_TOLERANCE)
        });
        if !one_colour {
            break;
        }
        // A line around a flat ground of another colour (a dark membrane's, a fluorescence
        // image's black) is left with the picture, wherever the ground's flat lines end: the
        // first band's distance from the edge would decide how much of it a copy loses. Paper
        // inside a box is a drawing's: left to the test below.
        let paper = top.iter().all(|&v| v >= PAPER_LEVEL);
        let stepped = frame_line
            .as_ref()
            .is_some_and(|line| deviation(line, &top) > FRAME_FLAT_TOLERANCE);
        if stepped && !paper {
            return area;
        }
        frame_line = Some(top);
        depth += 1;
    }
    // A frame is a line around something else: flat sides wider than a frame, or a "frame" in
    // the colour of what it encloses, are the picture's own margins.
    let frame_colour = pixel(area.x0, area.y0 + height / 2).to_vec();
    let inner: Vec<&[u8]> = (area.x0 + depth..area.x1 - depth)
        .map(|x| pixel(x, area.y0 + depth))
        .chain((area.y0 + depth..area.y1 - depth).map(|y| pixel(area.x0 + depth, y)))
        .collect();
    let like_frame = inner
        .iter()
        .filter(|p| deviation(p, &frame_colour) <= FRAME_FLAT_TOLERANCE)
        .count();
    if depth == 0 || depth == MAX_FRAME_PX || 2 * like_frame >= inner.len() {
        return area;
    }
    PixelBox::new(
        area.x0 + depth,
        area.y0 + depth,
        area.x1 - depth,
        area.y1 - depth,
    )
}

/// The frame lines of `region` along `axis` (columns or rows), as `start..end` in raster
/// coordinates, away from its edges.
fn frame_lines(raster: &Raster, region: Rect, axis: Axis) -> Vec<(u32, u32)> {
    let channels = usize::from(raster.channels.max(1));
    let (lines, length) = match axis {
        Axis::Cols => (region.x0..region.x1, region.height()),
        Axis::Rows => (region.y0..region.y1, region.width()),
    };
    if length < 4 * MAX_FRAME_PX {
        return Vec::new();
    }
    // Per line: how many pixels are dark, and the mean of every pixel's lightest channel. One
    // row-major pass: walking columns pixel by pixel missed the cache on every step.
    let mut dark = vec![0u32; lines.len()];
    let mut sums = vec![0u64; lines.len()];
    let row_bytes = raster.width as usize * channels;
    let mut lightest: Vec<u8> = Vec::with_capacity(region.width() as usize);
    for y in region.y0..region.y1 {
        let start = y as usize * row_bytes + region.x0 as usize * channels;
        let row = &raster.data[start..start + region.width() as usize * channels];
        lightest.clear();
        match channels {
            3 => lightest.extend(row.chunks_exact(3).map(|p| p[0].max(p[1]).max(p[2]))),
            1 => lightest.extend_from_slice(row),
            _ => lightest.extend(
                row.chunks_exact(channels)
                    .map(|p| p.iter().copied().max().unwrap_or(0)),
            ),
        }
        match axis {
            Axis::Cols => {
                for ((d, s), &l) in dark.iter_mut().zip(sums.iter_mut()).zip(&lightest) {
                    *d += u32::from(l <= FRAME_DARK);
                    *s += u64::from(l);
                }
            }
            Axis::Rows => {
                let line = (y - region.y0) as usize;
                dark[line] += lightest
                    .iter()
                    .map(|&l| u32::from(l <= FRAME_DARK))
                    .sum::<u32>();
                sums[line] += lightest.iter().map(|&l| u64::from(l)).sum::<u64>();
            }
        }
    }
    let profile: Vec<(u32, f32)> = dark
        .into_iter()
        .zip(sums)
        .map(|(d, s)| (d, s as f32 / length as f32))
        .collect();
    let is_dark = |i: usize| profile[i].0 as f32 >= FRAME_COVER * length as f32;
    let mean_of = |range: std::ops::Range<usize>| {
        profile[range.clone()].iter().map(|p| p.1).sum::<f32>() / range.len() as f32
    };
    let mut found = Vec::new();
    let mut i = 0;
    while i < profile.len() {
        if !is_dark(i) {
            i += 1;
            continue;
        }
        let a = i;
        while i < profile.len() && is_dark(i) {
            i += 1;
        }
        let b = i;
        let thin = (b - a) as u32 <= MAX_FRAME_PX;
        let inside = a >= FRAME_SIDE_PX && b + FRAME_SIDE_PX <= profile.len();
        if thin && inside {
            let line = mean_of(a..b);
            let lighter_both = mean_of(a - FRAME_SIDE_PX..a) >= line + FRAME_CONTRAST
                && mean_of(b..b + FRAME_SIDE_PX) >= line + FRAME_CONTRAST;
            if lighter_both {
                found.push((lines.start + a as u32, lines.start + b as u32));
            }
        }
    }
    found
}

/// Where the panels of `raster` are, split at whitespace gutters only.
fn gutter_layout(raster: &Raster, config: &PanelsConfig, labels: &Labels) -> PanelLayout {
    let (width, height) = (raster.width, raster.height);
    if width == 0 || height == 0 || raster_problem(raster).is_some() {
        return PanelLayout::default();
    }
    let min_side = (config.min_panel_side_px as f32)
        .max(config.min_panel_side_share * width.min(height) as f32);
    // A figure as a whole needs only the absolute minimum: the share applies to its pieces. A
    // strip needs half of it (a row of bands placed as an image of its own is often 20–30 pixels
    // tall at its native resolution); the panel's size on the page decides the rest.
    let big_enough = |r: Rect| r.width().min(r.height()) >= config.min_panel_side_px;
    let thin_strip = |r: Rect| {
        let (short, long) = (r.width().min(r.height()), r.width().max(r.height()));
        2 * short >= config.min_panel_side_px && long as f32 >= THIN_STRIP_ASPECT * short as f32
    };
    let whole = Rect {
        x0: 0,
        y0: 0,
        x1: width,
        y1: height,
    };

    let min_gutter = min_gutter(raster, config);
    let Some(background) = background(raster, config, min_gutter) else {
        // A full-bleed picture: one panel, unless panel letters set as text part it.
        let boxes = if big_enough(whole) || thin_strip(whole) {
            let parts = parted_at_letters(raster, None, whole, min_side, &labels.letters);
            let several = parts.len() >= 2;
            parts
                .into_iter()
                .flat_map(|part| {
                    // A part may be a picture of its own with page margins or gutters inside
                    // (a strip above white space, a blot above a chart): split it on its own.
                    let inner = several
                        .then(|| layout_of_part(raster, config, part, labels, false))
                        .flatten();
                    inner.unwrap_or_else(|| {
                        let pieces = parted_at_all_seams(raster, None, part);
                        // A piece a seam parted off may stand on paper of its own (pictures
                        // butted in an L leave paper beside two of them): split it on its own.
                        let several = pieces.len() >= 2;
                        pieces
                            .into_iter()
                            .flat_map(|piece| {
                                several
                                    .then(|| layout_of_part(raster, config, piece, labels, true))
                                    .flatten()
                                    .unwrap_or_else(|| {
                                        parted_at_row_labels(raster, None, piece, &labels.rows)
                                    })
                            })
                            .collect()
                    })
                })
                .map(PixelBox::from)
                .collect()
        } else {
            Vec::new()
        };
        return PanelLayout {
            boxes,
            fragments_dropped: 0,
            full_bleed: true,
            frame_cells: Vec::new(),
        };
    };
    let ink = InkMap::new(raster, &background, config.ink_tolerance);
    let Some(trimmed) = ink.trim(whole) else {
        return PanelLayout::default();
    };
    let clean_tolerance = if background.iter().all(|&v| v < DARK_BACKGROUND) {
        FLAT_TOLERANCE
    } else {
        config.gutter_flat_tolerance
    };
    let mut splitter = Splitter {
        ink: &ink,
        config,
        clean_tolerance,
        min_gutter,
        min_side,
        memo: HashMap::new(),
        evaluated: 0,
    };
    let outcome = splitter.segment(trimmed);
    // Gutters thinner than the minimum (stacked blot strips, grids of photographs a few pixels
    // apart) leave solid pieces inside a region: take those pieces as the panels.
    let mut panels: Vec<Rect> = Vec::new();
    let regions = if outcome.panels.is_empty() {
        vec![trimmed]
    } else {
        outcome.panels.clone()
    };
    for region in &regions {
        match solid_parts(
            raster,
            &ink,
            &background,
            *region,
            min_side as u32,
            min_gutter,
            config.gutter_flat_tolerance,
        ) {
            Some(parts) => {
                // A lone photograph parts off drawings only: beside another picture, both are
                // the blots of one membrane (or one picture) the ink map breaks apart.
                let lone = parts.len() < 2;
                // What the solid pieces leave is split on its own: a chart or a drawing beside
                // photographs, with no gutter wide enough between them, is a panel too when it
                // is as large as they are.
                let rest = ink.without(&parts);
                let mut rest_splitter = Splitter {
                    ink: &rest,
                    config,
                    clean_tolerance,
                    min_gutter,
                    min_side,
                    memo: HashMap::new(),
                    evaluated: 0,
                };
                let rest_panels = rest_splitter.segment(*region).panels;
                // A solid piece lying inside what the rest is split into, and small beside it,
                // is a piece of a drawing (a filled box of a diagram): the drawing is the panel.
                // Labels around a picture enclose it too, but the picture fills most of them.
                let parts: Vec<Rect> = parts
                    .into_iter()
                    .filter(|s| {
                        !rest_panels.iter().any(|p| {
                            p.contains(s) && s.area() * DRAWING_PIECE_AREA_RATIO <= p.area()
                        })
                    })
                    .collect();
                let smallest = parts.iter().map(Rect::area).min().unwrap_or(0);
                let mut others: Vec<Rect> = Vec::new();
                for panel in rest_panels {
                    let cleared = clear_of(&rest, panel, &parts);
                    if cleared == [panel] {
                        others.push(panel);
                    } else {
                        // What a photograph's box leaves of a piece is split again on its own
                        // (where the splitter finds no panel in it, it stays one piece).
                        for piece in cleared {
                            match rest_splitter.segment(piece).panels {
                                found if found.is_empty() => others.push(piece),
                                found => others.extend(found),
                            }
                        }
                    }
                }
                others.retain(|p| MAX_PICTURE_TO_DRAWING_AREA * p.area() >= smallest);
                if lone && (others.is_empty() || others.iter().any(|&p| ink.is_picture(p))) {
                    panels.push(*region);
                } else {
                    panels.extend(parts);
                    panels.extend(others);
                }
            }
            None => panels.push(*region),
        }
    }
    let mut outcome = if panels.len() > outcome.panels.len() {
        Outcome { panels, ..outcome }
    } else {
        outcome
    };
    outcome.panels = joined_lanes(outcome.panels)
        .into_iter()
        .flat_map(|panel| parted_at_letters(raster, Some(&ink), panel, min_side, &labels.letters))
        .flat_map(|panel| parted_at_row_labels(raster, Some(&ink), panel, &labels.rows))
        .map(|panel| ink.without_labels(panel))
        .flat_map(|panel| {
            // A drawing or a chart on paper: its edges are strokes, not seams between pictures.
            if !ink.is_picture(panel) {
                return vec![panel];
            }
            // Pieces are parted again only where paper is what a trim takes off them.
            let paper = background.iter().all(|&v| v >= PAPER_LEVEL);
            parted_at_all_seams(raster, paper.then_some((&ink, min_gutter)), panel)
        })
        .collect();
    if outcome.panels.len() >= 2 {
        let boxes = reading_order(outcome.panels)
            .into_iter()
            .map(PixelBox::from)
            .collect();
        PanelLayout {
            boxes,
            fragments_dropped: outcome.dropped_pieces,
            full_bleed: false,
            frame_cells: Vec::new(),
        }
    } else if big_enough(trimmed) || (thin_strip(trimmed) && ink.is_picture(trimmed)) {
        // One panel (or none found but enough ink to be one): the whole figure, trimmed of
        // paper. A dark background is the picture's own (a gel's membrane, a fluorescence
        // image's black) and stays: trimmed to its bands, the panel would not align with a copy
        // turned or cut so that its bands reach its border, which has no background to trim.
        // So does a picture's pale ground that is not paper (a membrane around its bands).
        let own_ground = background.iter().all(|&v| v < DARK_BACKGROUND)
            || (background.iter().any(|&v| v < PALE_GROUND) && ink.is_picture(trimmed));
        let panel = if own_ground {
            whole
        } else {
            ink.without_labels(trimmed)
        };
        PanelLayout {
            boxes: vec![panel.into()],
            fragments_dropped: 0,
            full_bleed: false,
            frame_cells: Vec::new(),
        }
    } else {
        PanelLayout {
            boxes: Vec::new(),
            fragments_dropped: u32::from(ink.count(trimmed) > 0),
            full_bleed: false,
            frame_cells: Vec::new(),
        }
    }
}

/// Frame cells drawn around panels are each made whole on their own when every one of them is at
/// least this many times `min_panel_side_pt` on its shorter side (charts boxed one by one); a
/// grid of smaller cells is a table, one drawing.
const MIN_FRAMED_PANEL_SIDES: f32 = 2.0;

/// How many times longer than wide a picture thinner than `min_panel_side_px` must be to be a
/// strip screened all the same (a row of lanes): a lone band, two or three times longer than
/// tall, is a look-alike of every other.
const THIN_STRIP_ASPECT: f32 = 4.0;

/// A drawing beside photographs is a panel of its own when the smallest of them is at most this
/// many times its area: a chart or a pedigree set in a row of micrographs is often a third or a
/// quarter of one, while the labels, scale bars and legends left around them are far smaller.
const MAX_PICTURE_TO_DRAWING_AREA: u64 = 4;

/// `piece` of what solid pictures leave, cut clear of each of `pictures` it overlaps (see
/// [`around`]: a panel letter heading the next picture, taken into the drawing beside it, does
/// not make the drawing a part of that picture), each part trimmed to its ink in `rest`.
fn clear_of(rest: &InkMap, piece: Rect, pictures: &[Rect]) -> Vec<Rect> {
    let mut pieces = vec![piece];
    for picture in pictures {
        pieces = pieces
            .into_iter()
            .flat_map(|clear| {
                if clear.overlaps(picture) {
                    around(rest, clear, picture)
                } else {
                    vec![clear]
                }
            })
            .collect();
    }
    pieces.into_iter().filter_map(|p| rest.trim(p)).collect()
}

/// `piece` less the `picture` it overlaps, as the rectangles of whichever way of cutting the
/// rest crosses less ink: rows first (bands above and below the picture, the sides between)
/// or columns first (full-height sides, the picture's columns above and below it). A drawing
/// beside a photograph on one side and below it on the other is whole in one of the two.
fn around(rest: &InkMap, piece: Rect, picture: &Rect) -> Vec<Rect> {
    let inner = Rect {
        x0: picture.x0.clamp(piece.x0, piece.x1),
        y0: picture.y0.clamp(piece.y0, piece.y1),
        x1: picture.x1.clamp(piece.x0, piece.x1),
        y1: picture.y1.clamp(piece.y0, piece.y1),
    };
    let rows_first = [
        Rect {
            y1: inner.y0,
            ..piece
        },
        Rect {
            y0: inner.y1,
            ..piece
        },
        Rect {
            y0: inner.y0,
            y1: inner.y1,
            x1: inner.x0,
            ..piece
        },
        Rect {
            y0: inner.y0,
            y1: inner.y1,
            x0: inner.x1,
            ..piece
        },
    ];
    let columns_first = [
        Rect {
            x1: inner.x0,
            ..piece
        },
        Rect {
            x0: inner.x1,
            ..piece
        },
        Rect {
            x0: inner.x0,
            x1: inner.x1,
            y1: inner.y0,
            ..piece
        },
        Rect {
            x0: inner.x0,
            x1: inner.x1,
            y0: inner.y1,
            ..piece
        },
    ];
    let inked = |x: u32, y: u32| {
        rest.count(Rect {
            x0: x,
            y0: y,
            x1: x + 1,
            y1: y + 1,
        }) > 0
    };
    // Ink each way cuts through, outside the picture: pixels inked on both sides of a cut line
    // (a chart's axis) count; ink that merely ends at it (a letter beside the chart) does not.
    let across_rows =
        |y: u32, xs: std::ops::Range<u32>| xs.filter(|&x| inked(x, y - 1) && inked(x, y)).count();
    let across_columns =
        |x: u32, ys: std::ops::Range<u32>| ys.filter(|&y| inked(x - 1, y) && inked(x, y)).count();
    let rows_cut: usize = [inner.y0, inner.y1]
        .into_iter()
        .filter(|&y| y > piece.y0 && y < piece.y1)
        .map(|y| across_rows(y, piece.x0..inner.x0) + across_rows(y, inner.x1..piece.x1))
        .sum();
    let columns_cut: usize = [inner.x0, inner.x1]
        .into_iter()
        .filter(|&x| x > piece.x0 && x < piece.x1)
        .map(|x| across_columns(x, piece.y0..inner.y0) + across_columns(x, inner.y1..piece.y1))
        .sum();
    let largest = |pieces: &[Rect; 4]| pieces.iter().map(Rect::area).max().unwrap_or(0);
    let chosen = if (rows_cut, std::cmp::Reverse(largest(&rows_first)))
        <= (columns_cut, std::cmp::Reverse(largest(&columns_first)))
    {
        rows_first
    } else {
        columns_first
    };
    chosen
        .into_iter()
        .filter(|r| r.width() > 0 && r.height() > 0)
        .collect()
}

/// The panels of `part` of a full-bleed picture parted at its letters, when the part stands on
/// paper of its own to split it on; `None` when it is a full-bleed picture itself or its
/// background is dark (a gel, a fluorescence image). With `pictures_only` (a piece a seam parted
/// off), also `None` unless every panel found is a picture, at least [`PICTURE_INK_SHARE`] ink: a
/// table's or a drawing's cells are mostly paper, and stay whole.
fn layout_of_part(
    raster: &Raster,
    config: &PanelsConfig,
    part: Rect,
    labels: &Labels,
    pictures_only: bool,
) -> Option<Vec<Rect>> {
    // The letters have parted what they can: the part is split at its gutters and row labels.
    let in_part = Labels {
        letters: Vec::new(),
        ..labels.moved(-(part.x0 as f32), -(part.y0 as f32), 1.0, 1.0)
    };
    let picture = raster.crop(part.into());
    // Only paper around it: a gel's or a fluorescence image's dark margins are its own.
    let colour = background(&picture, config, min_gutter(&picture, config))
        .filter(|colour| colour.iter().all(|&v| v >= PAPER_LEVEL))?;
    let inner = gutter_layout(&picture, config, &in_part);
    if inner.full_bleed || inner.boxes.is_empty() {
        return None;
    }
    if pictures_only {
        let ink = InkMap::new(&picture, &colour, config.ink_tolerance);
        let pictures = inner.boxes.iter().all(|b| ink.is_picture(Rect::from(*b)));
        if !pictures {
            return None;
        }
    }
    Some(
        inner
            .boxes
            .into_iter()
            .map(|b| placed_in(b, part))
            .collect(),
    )
}

/// Every channel of a background below this is dark: a gel's, a fluorescence image's. Its
/// gutters must hold a line of that exact dark (a canvas laid out by software), not the dark
/// between a fluorescent blot's lanes, a few levels off it.
const DARK_BACKGROUND: u8 = 64;

/// Every channel of a background at least this light is paper.
const PAPER_LEVEL: u8 = 200;

/// A background with a channel below this is a picture's own ground, not the page's paper (a
/// membrane's grey around its bands, 180–230); white paper stays above it through a JPEG.
const PALE_GROUND: u8 = 236;

/// `inner`, a box in the pixels of `area` cropped out, in the pixels of the whole.
fn placed_in(inner: PixelBox, area: Rect) -> Rect {
    Rect {
        x0: inner.x0 + area.x0,
        y0: inner.y0 + area.y0,
        x1: inner.x1 + area.x0,
        y1: inner.y1 + area.y0,
    }
}

/// What is wrong with a raster whose bytes do not match its size, if anything.
fn raster_problem(raster: &Raster) -> Option<String> {
    let expected = raster.width as usize * raster.height as usize * usize::from(raster.channels);
    let fine = matches!(raster.channels, 1 | 3) && raster.data.len() == expected;
    (!fine).then(|| {
        format!(
            "figure raster {}x{}x{} holds {} bytes",
            raster.width,
            raster.height,
            raster.channels,
            raster.data.len()
        )
    })
}

/// A rectangle of the raster: columns `x0..x1`, rows `y0..y1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Rect {
    x0: u32,
    y0: u32,
    x1: u32,
    y1: u32,
}

impl Rect {
    fn width(&self) -> u32 {
        self.x1 - self.x0
    }

    fn height(&self) -> u32 {
        self.y1 - self.y0
    }

    fn overlaps(&self, other: &Rect) -> bool {
        self.x0 < other.x1 && other.x0 < self.x1 && self.y0 < other.y1 && other.y0 < self.y1
    }

    fn area(&self) -> u64 {
        u64::from(self.width()) * u64::from(self.height())
    }

    /// Whether `other` lies within this rectangle.
    fn contains(&self, other: &Rect) -> bool {
        self.x0 <= other.x0 && other.x1 <= self.x1 && self.y0 <= other.y0 && other.y1 <= self.y1
    }

    /// The smallest rectangle holding both.
    fn union(&self, other: &Rect) -> Rect {
        Rect {
            x0: self.x0.min(other.x0),
            y0: self.y0.min(other.y0),
            x1: self.x1.max(other.x1),
            y1: self.y1.max(other.y1),
        }
    }
}

impl From<Rect> for PixelBox {
    fn from(r: Rect) -> Self {
        PixelBox::new(r.x0, r.y0, r.x1, r.y1)
    }
}

impl From<PixelBox> for Rect {
    fn from(b: PixelBox) -> Self {
        Rect {
            x0: b.x0,
            y0: b.y0,
            x1: b.x1,
            y1: b.y1,
        }
    }
}

/// The figure's background colour, if it has one: the dominant colour of its border when most
/// of the border is flat in that colour (a figure with margins); otherwise a light colour that
/// fills whole rows or columns at least `min_gutter` thick (panels cropped tight, their gutters
/// the page's white). `None` is a full-bleed picture: a blot crop, a photograph.
fn background(raster: &Raster, config: &PanelsConfig, min_gutter: u32) -> Option<Vec<u8>> {
    let border = border_pixels(raster);
    let color = dominant_color(&border, usize::from(raster.channels.max(1)))?;
    if flat_share(&border, &color) >= config.flat_border_share {
        return Some(color);
    }
    // Panels cropped tight: the gutters meet the border as short runs of page white.
    let mut light: Vec<&[u8]> = Vec::new();
    let mut run_start = 0;
    for i in 1..=border.len() {
        let continues = i < border.len()
            && deviation(border[i], border[run_start]) <= LIGHT_TOLERANCE
            && border[i].iter().all(|&v| v >= LIGHT);
        if !continues {
            if i - run_start >= min_gutter as usize && border[run_start].iter().all(|&v| v >= LIGHT)
            {
                light.extend_from_slice(&border[run_start..i]);
            }
            run_start = i;
        }
    }
    let light = dominant_color(&light, usize::from(raster.channels.max(1)))?;
    // Ringing is only forgiven around the page's own white, never around a pale membrane: there
    // a gutter is what the splitter takes for one (no ink, one line near clean), which a JPEG's
    // ringing between tightly cropped panels does not break.
    let (tolerance, clean) = if light.iter().all(|&v| v >= PAGE_WHITE) {
        (config.ink_tolerance, LIGHT_TOLERANCE)
    } else {
        (FLAT_TOLERANCE, FLAT_TOLERANCE)
    };
    has_flat_lines(
        raster,
        &light,
        (tolerance, clean),
        config.gutter_noise_share,
        min_gutter,
    )
    .then_some(light)
}

/// The dominant colour of `pixels`: a histogram of colours quantised to 8 levels, refined to the
/// mean of the pixels within 8 levels of the winning bin.
fn dominant_color(pixels: &[&[u8]], channels: usize) -> Option<Vec<u8>> {
    if pixels.is_empty() {
        return None;
    }
    let key = |p: &[u8]| {
        p.iter()
            .fold(0usize, |k, &v| (k << 5) | usize::from(v >> 3))
    };
    let mut histogram = vec![0u32; 1 << (5 * channels)];
    for p in pixels {
        histogram[key(p)] += 1;
    }
    let mode = (0..histogram.len())
        .max_by_key(|&k| (histogram[k], k))
        .unwrap_or(0);
    let rough: Vec<u8> = (0..channels)
        .map(|c| (((mode >> (5 * (channels - 1 - c))) & 31) << 3) as u8 | 4)
        .collect();
    let near: Vec<&&[u8]> = pixels
        .iter()
        .filter(|p| deviation(p, &rough) <= 8)
        .collect();
    let n = near.len() as u64;
    Some(
        (0..channels)
            .map(|c| ((near.iter().map(|p| u64::from(p[c])).sum::<u64>() + n / 2) / n) as u8)
            .collect(),
    )
}

/// Share of `border` within [`FLAT_TOLERANCE`] of `color` in runs of at least [`FLAT_RUN_PX`].
fn flat_share(border: &[&[u8]], color: &[u8]) -> f32 {
    let (mut flat, mut run) = (0usize, 0usize);
    for p in border {
        if deviation(p, color) <= FLAT_TOLERANCE {
            run += 1;
        } else {
            flat += if run >= FLAT_RUN_PX { run } else { 0 };
            run = 0;
        }
    }
    flat += if run >= FLAT_RUN_PX { run } else { 0 };
    flat as f32 / border.len().max(1) as f32
}

/// Whether `min_gutter` consecutive rows, or columns, of the raster are within `tolerance.0` of
/// `color`, one of them within `tolerance.1` (each but for a `noise_share` of its pixels).
fn has_flat_lines(
    raster: &Raster,
    color: &[u8],
    (tolerance, clean): (u8, u8),
    noise_share: f32,
    min_gutter: u32,
) -> bool {
    let (w, h) = (raster.width as usize, raster.height as usize);
    let channels = usize::from(raster.channels.max(1));
    // Per line: pixels within `tolerance`, and within `clean`.
    let mut rows = vec![(0u32, 0u32); h];
    let mut cols = vec![(0u32, 0u32); w];
    for (y, row) in raster.data.chunks_exact(w * channels).take(h).enumerate() {
        for (x, pixel) in row.chunks_exact(channels).enumerate() {
            let d = deviation(pixel, color);
            if d <= tolerance {
                rows[y].0 += 1;
                cols[x].0 += 1;
                if d <= clean {
                    rows[y].1 += 1;
                    cols[x].1 += 1;
                }
            }
        }
    }
    let thick = |counts: &[(u32, u32)], length: usize| {
        let passes = |n: u32| (length as f32 - n as f32) <= noise_share * length as f32;
        let (mut run, mut cleaned) = (0, false);
        counts.iter().any(|&(near, flat)| {
            if passes(near) {
                run += 1;
                cleaned |= passes(flat);
            } else {
                (run, cleaned) = (0, false);
            }
            run >= min_gutter && cleaned
        })
    };
    thick(&rows, w) || thick(&cols, h)
}

/// The border pixels clockwise from the top-left corner, each once.
fn border_pixels(raster: &Raster) -> Vec<&[u8]> {
    let (w, h) = (raster.width as usize, raster.height as usize);
    let channels = usize::from(raster.channels.max(1));
    let at = |x: usize, y: usize| &raster.data[(y * w + x) * channels..(y * w + x + 1) * channels];
    let mut pixels = Vec::with_capacity(2 * (w + h));
    pixels.extend((0..w).map(|x| at(x, 0)));
    pixels.extend((1..h).map(|y| at(w - 1, y)));
    if h > 1 {
        pixels.extend((0..w.saturating_sub(1)).rev().map(|x| at(x, h - 1)));
    }
    if w > 1 {
        pixels.extend((1..h.saturating_sub(1)).rev().map(|y| at(0, y)));
    }
    pixels
}

/// The solid pieces of `region` (connected areas of ink filling at least 85 % of their bounding
/// box: blot strips, photographs, gels), when they hold most of the region's ink; `None` when
/// the region is better left as one panel (a plot, a drawing). A lone piece is returned as it
/// is, for the caller to part off a drawing beside it. Pieces that are solid only counting faint
/// marks too (`faint`: a pale membrane whose bands are its only ink, stacked with darker strips)
/// are pieces as well, where they touch no ink piece; one that holds two or more ink pieces
/// covering less than half of it is a membrane with its bands, and replaces them.
fn solid_parts(
    raster: &Raster,
    ink_map: &InkMap,
    background: &[u8],
    region: Rect,
    min_side: u32,
    min_gutter: u32,
    faint: u8,
) -> Option<Vec<Rect>> {
    // Only pieces on paper: on a dark or coloured background (a fluorescence image, a gel) the
    // "solid pieces" would be its bands.
    if background.iter().any(|&v| v < PAPER_LEVEL) {
        return None;
    }
    // Cells of `f × f` pixels keep the flood fill cheap on large figures.
    let f = (region.width().max(region.height()) / 400 + 1).max(1);
    let grid = CellGrid {
        region,
        f,
        columns: region.width().div_ceil(f) as usize,
        rows: region.height().div_ceil(f) as usize,
    };
    let (mut inked, mut marked) = (
        vec![0u32; grid.columns * grid.rows],
        vec![0u32; grid.columns * grid.rows],
    );
    let w = ink_map.width as usize;
    for y in region.y0..region.y1 {
        let row = &ink_map.deviation[y as usize * w..][region.x0 as usize..region.x1 as usize];
        let cells = ((y - region.y0) / f) as usize * grid.columns;
        for (cell, block) in row.chunks(f as usize).enumerate() {
            for &deviation in block {
                inked[cells + cell] += u32::from(deviation > ink_map.tolerance);
                marked[cells + cell] += u32::from(deviation > faint);
            }
        }
    }
    let ink = grid.majority(&inked);
    let total_ink = ink.iter().filter(|&&i| i).count();
    if total_ink == 0 {
        return None;
    }
    let big = |rect: Rect| {
        rect.width().min(rect.height()) >= min_side.clamp(8, 32)
            && rect.area() * 100 >= region.area()
    };
    let mut solid_ink = 0usize;
    let mut solids: Vec<Rect> = Vec::new();
    let faint_components = OnceCell::new();
    let mut faint_cut: HashMap<usize, bool> = HashMap::new();
    let mut faint_solids: Vec<Rect> = Vec::new();
    let (components, labels) = grid.labelled_components(&ink);
    for (index, (rect, count, box_cells)) in components.into_iter().enumerate() {
        if !big(rect) {
            continue;
        }
        let own = || -> Vec<bool> { labels.iter().map(|&l| l as usize == index + 1).collect() };
        if count as f32 >= SOLID_SHARE * box_cells as f32 {
            solid_ink += count;
            solids.push(rect);
        } else if let Some(pieces) =
            butted_at_largest_steps(raster, ink_map, &grid, &own(), rect, count, big)
                .filter(|pieces| {
                    // Cut the quick way, a piece may hold a neighbour's corner of paper (a
                    // picture sliced by a cut along another's edge): then the cuts are searched.
                    let paper: usize = pieces
                        .iter()
                        .map(|(piece, inked)| grid.cells_of(*piece).saturating_sub(*inked))
                        .sum();
                    paper * UNFILLED_STEPS < count
                })
                .or_else(|| butted_pictures(raster, ink_map, &grid, &own(), rect, count, big))
        {
            solid_ink += pieces.iter().map(|(_, cells)| cells).sum::<usize>();
            solids.extend(pieces.into_iter().map(|(piece, _)| piece));
        } else {
            // Pale pictures (a blot on a light membrane) are ink only in patches beside their
            // bands: their whole extent is what their faint marks cover. The faint piece this
            // ink lies in is cut once, whichever of its pieces of ink comes first.
            let (faint_pieces, faint_labels) =
                faint_components.get_or_init(|| grid.labelled_components(&grid.majority(&marked)));
            let mut shared = vec![0usize; faint_pieces.len()];
            for (cell, &label) in labels.iter().enumerate() {
                if label as usize == index + 1 && faint_labels[cell] > 0 {
                    shared[faint_labels[cell] as usize - 1] += 1;
                }
            }
            let Some((faint, _)) = shared.iter().enumerate().max_by_key(|&(_, n)| *n) else {
                continue;
            };
            let cut = *faint_cut.entry(faint).or_insert_with(|| {
                let (faint_rect, faint_count, _) = faint_pieces[faint];
                let faint_own: Vec<bool> = faint_labels
                    .iter()
                    .map(|&l| l as usize == faint + 1)
                    .collect();
                let pieces = butted_pictures(
                    raster,
                    ink_map,
                    &grid,
                    &faint_own,
                    faint_rect,
                    faint_count,
                    big,
                );
                let cut = pieces.is_some();
                faint_solids.extend(pieces.into_iter().flatten().map(|(piece, _)| piece));
                cut
            });
            if cut {
                solid_ink += count;
            }
        }
    }
    // A faint piece's cut may take again a picture that is solid ink of its own: the ink's
    // piece is kept.
    let faint_solids: Vec<Rect> = faint_solids
        .into_iter()
        .filter(|piece| !solids.iter().any(|solid| solid.overlaps(piece)))
        .collect();
    solids.extend(faint_solids);
    if solid_ink * 2 < total_ink {
        return None;
    }
    match solids[..] {
        [] => return None,
        // A lone photograph: a panel only beside a drawing as large (see the caller).
        [lone] => return Some(vec![lone]),
        _ => {}
    }
    let faint_pieces: Vec<Rect> = grid
        .components(&grid.majority(&marked))
        .into_iter()
        .filter(|&(rect, count, box_cells)| big(rect) && count as f32 >= 0.85 * box_cells as f32)
        .map(|(rect, _, _)| rect)
        .collect();
    let mut parts = Vec::new();
    let mut absorbed = vec![false; solids.len()];
    for faint_piece in &faint_pieces {
        let inside: Vec<usize> = (0..solids.len())
            .filter(|&i| solids[i].overlaps(faint_piece))
            .collect();
        let covered: u64 = inside.iter().map(|&i| solids[i].area()).sum();
        if inside.is_empty() {
            // A pale strip stacked with darker ones.
            parts.push(*faint_piece);
        } else if inside.len() >= 2 && 2 * covered < faint_piece.area() {
            // Ink pieces spread over a faint one are the bands of one pale membrane: the
            // membrane is the panel. (Ink pieces covering most of a faint one are strips that
            // JPEG haze bridges across a narrow gutter: they stay apart.)
            parts.push(*faint_piece);
            for i in inside {
                absorbed[i] = true;
            }
        }
    }
    parts.extend(
        solids
            .into_iter()
            .zip(absorbed)
            .filter_map(|(solid, absorbed)| (!absorbed).then_some(solid)),
    );
    Some(joined_on_membrane(ink_map, parts, min_gutter, faint))
}

/// Deepest a piece of pictures butted in an L (or a step) is cut into rectangles.
const MAX_BUTT_CUTS: u32 = 3;
/// Largest steps of the ink's extent tried as cuts along each axis.
const BUTT_CUTS_TRIED: usize = 2;
/// Least seam a cut between butted pictures runs along: its sharpest line against the typical
/// line beside it (see [`ButtedPictures::seam_along`]). Seams between pictures measure 8 and
/// more; lines through a picture's inside, 1 to 2.
const MIN_BUTT_SEAM: f32 = 3.0;
/// Shortest stretch (pixels) along which pictures butted across a cut meet.
const MIN_BUTT_SEAM_PX: usize = 16;
/// Steps in which the paper inside the pieces of a cut is weighed, as shares of the piece cut:
/// a cut leaving less paper inside its pieces by one such step or more is the better.
const UNFILLED_STEPS: usize = 50;
/// Lines (grid cells) on each side of a cut over which the ink's extent is compared.
const BUTT_STEP_LINES: usize = 2;
/// A cut between pictures butted in an L lies where the ink's extent across steps by at least
/// this share of the piece: a picture's straight edge meeting paper.
const MIN_BUTT_STEP_SHARE: f32 = 0.25;
/// Share of a piece's ink the rectangles cut from it must hold for it to be pictures butted
/// together rather than a drawing whose strokes join (a chart's bars on its axis).
const BUTT_COVER_SHARE: f32 = 0.9;

/// Whether `rect`, a solid piece of ink cut from pictures butted together, is a picture of its
/// own (see [`butted_pictures`]): mostly ink, not one flat fill, not fading in at an edge, not
/// drawn.
fn is_lone_picture(raster: &Raster, ink_map: &InkMap, rect: Rect) -> bool {
    let sides = [Side::Left, Side::Right, Side::Top, Side::Bottom];
    ink_map.is_picture(rect)
        && ink_map.flat_share(rect) < MAX_STRIP_FLAT_SHARE
        && !sides.iter().any(|&side| ink_map.fades_in(rect, side))
        && !ClassifyConfig::default().drawn(&PixelStats::of(&raster.crop(rect.into())))
}

/// How many cells of each line `lines` (columns when `cols`, else rows) are inked across
/// `across`.
fn ink_extent(
    inked: &dyn Fn(usize, usize) -> bool,
    lines: std::ops::Range<usize>,
    across: std::ops::Range<usize>,
    cols: bool,
) -> Vec<usize> {
    lines
        .map(|i| {
            across
                .clone()
                .filter(|&j| if cols { inked(i, j) } else { inked(j, i) })
                .count()
        })
        .collect()
}

/// The rectangles of `component` (a connected piece of ink, `count` of the grid's cells, too
/// ragged to be one solid picture) when it is pictures butted in an L or a step with paper in
/// its corners, cut the quick way: where the ink's extent steps most, each side again, until
/// every piece is solid (each with its cell count). `None` unless two or more pictures hold
/// [`BUTT_COVER_SHARE`] of its ink, as [`butted_pictures`] asks, or when a piece is left that
/// is neither solid nor steppy enough to cut; [`butted_pictures`] then searches its cuts.
fn butted_at_largest_steps(
    raster: &Raster,
    ink_map: &InkMap,
    grid: &CellGrid,
    ink: &[bool],
    component: Rect,
    count: usize,
    big: impl Fn(Rect) -> bool + Copy,
) -> Option<Vec<(Rect, usize)>> {
    let to_pixels = |cells: [usize; 4]| grid.rect_of(cells);
    let mut pieces = Vec::new();
    let mut pending = vec![(grid.cells_in(component), 0u32)];
    while let Some(([c0, r0, c1, r1], depth)) = pending.pop() {
        let (columns, rows) = (c1 - c0, r1 - r0);
        let set = grid.cells_within(ink, [c0, r0, c1, r1]);
        for (cells, [x0, y0, x1, y1]) in grid_components(&set, columns, rows) {
            let within = [c0 + x0, r0 + y0, c0 + x1, r0 + y1];
            let rect = to_pixels(within);
            if !big(rect) {
                continue;
            }
            if cells as f32 >= SOLID_SHARE * ((x1 - x0) * (y1 - y0)) as f32 {
                if is_lone_picture(raster, ink_map, rect) {
                    pieces.push((rect, cells));
                }
                continue;
            }
            if depth >= MAX_BUTT_CUTS {
                return None;
            }
            let inked = |x: usize, y: usize| set[y * columns + x];
            // The extent of ink in each column and row of this piece, and where it steps most.
            let steps = |lines: std::ops::Range<usize>, across: std::ops::Range<usize>, cols| {
                let extent = ink_extent(&inked, lines.clone(), across.clone(), cols);
                (1..extent.len())
                    .map(|k| (extent[k].abs_diff(extent[k - 1]), lines.start + k))
                    .max()
                    .map(|(step, at)| (step as f32 / across.len() as f32, at))
            };
            let by_columns = steps(x0..x1, y0..y1, true);
            let by_rows = steps(y0..y1, x0..x1, false);
            let (share, at, cols) = match (by_columns, by_rows) {
                (Some((a, at)), Some((b, _))) if a >= b => (a, at, true),
                (_, Some((b, at))) => (b, at, false),
                (Some((a, at)), None) => (a, at, true),
                (None, None) => return None,
            };
            if share < MIN_BUTT_STEP_SHARE {
                return None;
            }
            let (first, second) = cells_either_side(
                [c0 + x0, r0 + y0, c0 + x1, r0 + y1],
                if cols { c0 + at } else { r0 + at },
                cols,
            );
            pending.push((first, depth + 1));
            pending.push((second, depth + 1));
        }
    }
    let covered: usize = pieces.iter().map(|(_, cells)| cells).sum();
    (pieces.len() >= 2 && covered as f32 >= BUTT_COVER_SHARE * count as f32).then_some(pieces)
}

/// The rectangles of `component` (a connected piece of ink, `count` of the grid's cells, too
/// ragged to be one solid picture) when it is pictures butted in an L or a step with paper in
/// its corners: cut where the ink's extent steps, or across such a step along the edge of the
/// ink beside it, each side again, until every piece is solid (each with its cell count). A cut
/// runs along a seam between pictures ([`MIN_BUTT_SEAM`]) or paper, never through a picture's
/// inside. Of the cuts tried, the one kept leaves pieces that hold [`BUTT_COVER_SHARE`] of the
/// ink, then the least paper inside them (a piece solid enough may still hold a neighbour's
/// corner of paper), then the fewest pieces, then runs along the sharpest seam. `None` unless
/// two or more pictures hold [`BUTT_COVER_SHARE`] of its ink: mostly ink, not one flat fill (a
/// chart's bars), starting at their edges (bands that JPEG haze joins on a pale membrane fade
/// in), and not drawn (a diagram's boxes, however JPEG speckled their fills). `ink` holds the
/// component's cells and no other piece's.
fn butted_pictures(
    raster: &Raster,
    ink_map: &InkMap,
    grid: &CellGrid,
    ink: &[bool],
    component: Rect,
    count: usize,
    big: impl Fn(Rect) -> bool + Copy,
) -> Option<Vec<(Rect, usize)>> {
    let butted = ButtedPictures {
        raster,
        ink_map,
        grid,
        ink,
        big: &big,
        pictures: RefCell::new(HashMap::new()),
        cuts: RefCell::new(HashMap::new()),
    };
    let pieces = butted.cut(grid.cells_in(component), 0);
    let covered: usize = pieces.iter().map(|(_, cells)| cells).sum();
    (pieces.len() >= 2 && covered as f32 >= BUTT_COVER_SHARE * count as f32).then_some(pieces)
}

/// What [`butted_pictures`] cuts: the grid's ink cells of one component.
struct ButtedPictures<'a> {
    raster: &'a Raster,
    ink_map: &'a InkMap,
    grid: &'a CellGrid,
    ink: &'a [bool],
    big: &'a dyn Fn(Rect) -> bool,
    /// [`ButtedPictures::is_lone_picture`] of each solid piece looked at: cuts tried in
    /// another order reach the same pieces.
    pictures: RefCell<HashMap<Rect, bool>>,
    /// [`ButtedPictures::cut`] of each box and depth looked at.
    cuts: RefCell<HashMap<CutAt, Vec<Picture>>>,
}

/// The two boxes of grid cells `[c0, r0, c1, r1]` either side of line `at` of the grid (a
/// column when `cols`, else a row).
fn cells_either_side(
    [c0, r0, c1, r1]: [usize; 4],
    at: usize,
    cols: bool,
) -> ([usize; 4], [usize; 4]) {
    if cols {
        ([c0, r0, at, r1], [at, r0, c1, r1])
    } else {
        ([c0, r0, c1, at], [c0, at, c1, r1])
    }
}

/// A picture cut from a piece of ink, with its count of ink cells.
type Picture = (Rect, usize);
/// A box of grid cells `[c0, r0, c1, r1]` reached after a number of cuts.
type CutAt = ([usize; 4], u32);

impl ButtedPictures<'_> {
    fn to_pixels(&self, cells: [usize; 4]) -> Rect {
        self.grid.rect_of(cells)
    }

    /// [`is_lone_picture`], once per piece.
    fn is_lone_picture(&self, rect: Rect) -> bool {
        if let Some(&known) = self.pictures.borrow().get(&rect) {
            return known;
        }
        let picture = is_lone_picture(self.raster, self.ink_map, rect);
        self.pictures.borrow_mut().insert(rect, picture);
        picture
    }

    /// How sharply the pixels change across a cut at `at` (a line of cells of the piece
    /// `[x0, y0, x1, y1]`, in cells of the set whose first cell is `[c0, r0]` of the grid;
    /// columns when `cols`) where ink lies on both sides of it: the strongest line within two
    /// cells of the cut, over the longest stretch of such ink, against the typical line there
    /// (infinite where paper parts the two sides all along; 0 where they meet along less than
    /// [`MIN_BUTT_SEAM_PX`]). A seam between two butted pictures stands out; a line through
    /// one picture's inside does not.
    fn seam_along(
        &self,
        inked: &dyn Fn(usize, usize) -> bool,
        [c0, r0]: [usize; 2],
        [x0, y0, x1, y1]: [usize; 4],
        at: usize,
        cols: bool,
    ) -> f32 {
        let across = if cols { y0..y1 } else { x0..x1 };
        let both = |j: usize| {
            if cols {
                inked(at - 1, j) && inked(at, j)
            } else {
                inked(j, at - 1) && inked(j, at)
            }
        };
        // The longest run of lines with ink on both sides.
        let (mut run, mut longest) = ((across.start, across.start), (across.start, across.start));
        for j in across.clone() {
            if both(j) {
                if run.1 != j {
                    run = (j, j);
                }
                run.1 = j + 1;
                if run.1 - run.0 > longest.1 - longest.0 {
                    longest = run;
                }
            }
        }
        if longest.1 == longest.0 {
            return f32::INFINITY;
        }
        let f = self.grid.f as usize;
        // Pictures butted share an edge as long as a side of theirs; shapes joined by a stroke
        // (a diagram's boxes and arrows) touch along its width only.
        if (longest.1 - longest.0) * f < MIN_BUTT_SEAM_PX {
            return 0.0;
        }
        let line = |cell: usize| cell * f;
        let (region, piece) = (
            self.grid.region,
            self.to_pixels([c0 + x0, r0 + y0, c0 + x1, r0 + y1]),
        );
        let near = |cell: usize, lo: u32, hi: u32| {
            let middle = line(cell) as u32;
            (
                middle.saturating_sub(2 * f as u32).max(lo),
                (middle + 2 * f as u32).min(hi),
            )
        };
        let rect = if cols {
            let (from, to) = near(c0 + at, piece.x0 - region.x0, piece.x1 - region.x0);
            Rect {
                x0: region.x0 + from,
                x1: region.x0 + to,
                y0: region.y0 + line(r0 + longest.0) as u32,
                y1: (region.y0 + line(r0 + longest.1) as u32).min(region.y1),
            }
        } else {
            let (from, to) = near(r0 + at, piece.y0 - region.y0, piece.y1 - region.y0);
            Rect {
                x0: region.x0 + line(c0 + longest.0) as u32,
                x1: (region.x0 + line(c0 + longest.1) as u32).min(region.x1),
                y0: region.y0 + from,
                y1: region.y0 + to,
            }
        };
        if rect.width() < 3 || rect.height() < 3 {
            return 0.0;
        }
        let axis = if cols { Axis::Cols } else { Axis::Rows };
        let mut strengths = seam_strengths(self.raster, rect, axis, 0.5);
        strengths.remove(0);
        let strongest = strengths.iter().copied().max().unwrap_or(0);
        strengths.sort_unstable();
        let typical = strengths[strengths.len() / 2];
        strongest as f32 / (typical + 1) as f32
    }

    /// The pictures within cells `[c0, r0, c1, r1]` of the grid, after `depth` cuts. A piece
    /// neither solid nor cut into solid ones is left out: the share of ink the pictures cover
    /// weighs it.
    fn cut(&self, cells: [usize; 4], depth: u32) -> Vec<(Rect, usize)> {
        if let Some(known) = self.cuts.borrow().get(&(cells, depth)) {
            return known.clone();
        }
        let pieces = self.cut_anew(cells, depth);
        self.cuts
            .borrow_mut()
            .insert((cells, depth), pieces.clone());
        pieces
    }

    fn cut_anew(&self, [c0, r0, c1, r1]: [usize; 4], depth: u32) -> Vec<(Rect, usize)> {
        let (columns, rows) = (c1 - c0, r1 - r0);
        let set = self.grid.cells_within(self.ink, [c0, r0, c1, r1]);
        let mut pieces = Vec::new();
        for (cells, [x0, y0, x1, y1]) in grid_components(&set, columns, rows) {
            let within = [c0 + x0, r0 + y0, c0 + x1, r0 + y1];
            let rect = self.to_pixels(within);
            if !(self.big)(rect) {
                continue;
            }
            if cells as f32 >= SOLID_SHARE * ((x1 - x0) * (y1 - y0)) as f32 {
                if self.is_lone_picture(rect) {
                    pieces.push((rect, cells));
                }
                continue;
            }
            if depth >= MAX_BUTT_CUTS {
                // Neither solid nor cut: not a picture, which the share covered weighs.
                continue;
            }
            let inked = |x: usize, y: usize| set[y * columns + x];
            // The extent of ink in each column and row of this piece, and where it steps most.
            let steps = |lines: std::ops::Range<usize>, across: std::ops::Range<usize>, cols| {
                let extent = ink_extent(&inked, lines.clone(), across.clone(), cols);
                // A step over a few lines: edges of pictures side by side need not line up
                // to the cell.
                let step = |k: usize| {
                    let before = extent[k.saturating_sub(BUTT_STEP_LINES)..k].iter().copied();
                    let after = extent[k..(k + BUTT_STEP_LINES).min(extent.len())]
                        .iter()
                        .copied();
                    let (low, high) = (before.clone().min(), after.clone().min());
                    let (top, peak) = (before.max(), after.max());
                    match (low, high, top, peak) {
                        (Some(low), Some(high), Some(top), Some(peak)) => {
                            high.saturating_sub(top).max(low.saturating_sub(peak))
                        }
                        _ => 0,
                    }
                };
                let shares: Vec<usize> = (0..extent.len())
                    .map(|k| if k == 0 { 0 } else { step(k) })
                    .collect();
                let mut steps: Vec<(f32, usize, bool)> = (1..extent.len())
                    .filter(|&k| {
                        // The strongest of neighbouring steps only.
                        let near = k.saturating_sub(BUTT_STEP_LINES)
                            ..(k + BUTT_STEP_LINES + 1).min(extent.len());
                        near.clone()
                            .all(|j| shares[j] < shares[k] || (shares[j] == shares[k] && j >= k))
                    })
                    .map(|k| {
                        (
                            shares[k] as f32 / across.len() as f32,
                            lines.start + k,
                            cols,
                        )
                    })
                    .filter(|&(share, _, _)| share >= MIN_BUTT_STEP_SHARE)
                    .collect();
                steps.sort_by(|a, b| b.0.total_cmp(&a.0));
                steps.truncate(BUTT_CUTS_TRIED);
                // A step is a corner of the pictures: the cut across it, along the edge of the
                // ink on the step's short side, is tried too (a picture beside a wider one
                // whose other end steps the other way leaves the extent as it was).
                let corners: Vec<(f32, usize, bool)> = steps
                    .iter()
                    .flat_map(|&(share, at, _)| {
                        let k = at - lines.start;
                        let before = k.saturating_sub(BUTT_STEP_LINES)..k;
                        let after = k..(k + BUTT_STEP_LINES).min(extent.len());
                        let short = if extent[before.clone()].iter().sum::<usize>()
                            < extent[after.clone()].iter().sum::<usize>()
                        {
                            before
                        } else {
                            after
                        };
                        let inked_across: Vec<usize> = across
                            .clone()
                            .filter(|&j| {
                                short.clone().any(|i| {
                                    let i = lines.start + i;
                                    if cols { inked(i, j) } else { inked(j, i) }
                                })
                            })
                            .collect();
                        let ends = match (inked_across.first(), inked_across.last()) {
                            (Some(&first), Some(&last)) => vec![first, last + 1],
                            _ => Vec::new(),
                        };
                        ends.into_iter()
                            .filter(|&end| end > across.start && end < across.end)
                            .map(move |end| (share, end, !cols))
                    })
                    .collect();
                steps.extend(corners);
                steps
            };
            let mut cuts = steps(x0..x1, y0..y1, true);
            cuts.extend(steps(y0..y1, x0..x1, false));
            // The larger step first: it wins a tie.
            cuts.sort_by(|a, b| b.0.total_cmp(&a.0));
            let mut best: Option<(Vec<(Rect, usize)>, f32)> = None;
            for (_, at, cols) in cuts {
                let (first, second) = cells_either_side(
                    [c0 + x0, r0 + y0, c0 + x1, r0 + y1],
                    if cols { c0 + at } else { r0 + at },
                    cols,
                );
                // Butted pictures meet at a seam (or paper): a cut through a picture's inside
                // slices it, and of cuts leaving as many pieces the sharper seam is the better.
                let seam = self.seam_along(&inked, [c0, r0], [x0, y0, x1, y1], at, cols);
                if seam < MIN_BUTT_SEAM {
                    continue;
                }
                let mut a = self.cut(first, depth + 1);
                a.extend(self.cut(second, depth + 1));
                let enough = |pieces: &[(Rect, usize)]| {
                    pieces.iter().map(|(_, cells)| cells).sum::<usize>() as f32
                        >= BUTT_COVER_SHARE * cells as f32
                };
                // Paper a piece's box holds beyond its ink, in steps of a share of the whole:
                // a piece solid enough may still hold another picture's corner of paper.
                let unfilled = |pieces: &[(Rect, usize)]| {
                    let paper: usize = pieces
                        .iter()
                        .map(|(rect, inked)| self.grid.cells_of(*rect).saturating_sub(*inked))
                        .sum();
                    paper * UNFILLED_STEPS / cells.max(1)
                };
                let better = match &best {
                    None => true,
                    Some((held, held_seam)) => {
                        let key = |pieces: &[(Rect, usize)]| {
                            (
                                enough(pieces),
                                std::cmp::Reverse(unfilled(pieces)),
                                std::cmp::Reverse(pieces.len()),
                            )
                        };
                        key(&a) > key(held) || (key(&a) == key(held) && seam > *held_seam)
                    }
                };
                if better {
                    best = Some((a, seam));
                }
            }
            pieces.extend(best.map(|(cut, _)| cut).unwrap_or_default());
        }
        pieces
    }
}

/// Pixels around a solid piece taken with it when what it leaves is split on its own.
const EDGE_PX: usize = 2;

/// Narrowest space between two pieces that can tell a membrane from JPEG haze, in pixels.
const MIN_MEMBRANE_GAP_PX: u32 = 8;

/// `parts` with pieces that lie on one pale membrane joined: two pieces side by side (or one
/// above the other) over mostly the same rows (columns) of both, two gutters apart or more,
/// with most of the space between them faintly marked (`faint`) rather than paper or both
/// fading into it. Those are the bands of one blot whose membrane is too light to count as
/// ink; each band alone would match its neighbours. Pieces closer than that are strips or
/// photographs that JPEG haze bridges, and a small piece beside a large one is a picture of
/// its own: they stay apart, as do pieces with paper between them.
fn joined_on_membrane(
    ink_map: &InkMap,
    mut parts: Vec<Rect>,
    min_gutter: u32,
    faint: u8,
) -> Vec<Rect> {
    let w = ink_map.width as usize;
    // JPEG haze fills a gap of a gutter or two between pictures: only wider gaps tell.
    let min_gap = (2 * min_gutter).max(MIN_MEMBRANE_GAP_PX);
    let on_membrane = |between: Rect| {
        let marked: u64 = (between.y0..between.y1)
            .map(|y| {
                ink_map.deviation[y as usize * w..][between.x0 as usize..between.x1 as usize]
                    .iter()
                    .filter(|&&d| d > faint)
                    .count() as u64
            })
            .sum();
        2 * marked > between.area()
    };
    // The space between `a` and `b` when they face each other across `min_gap` or more, and
    // whether both fade into it (bands blurred into a membrane as white as the paper).
    let between = |a: &Rect, b: &Rect| -> Option<(Rect, bool)> {
        let (first, second) = if a.x1 <= b.x0 { (a, b) } else { (b, a) };
        let rows = (a.y0.max(b.y0), a.y1.min(b.y1));
        if second.x0 >= first.x1 + min_gap
            && 2 * (rows.1.saturating_sub(rows.0)) >= a.height().max(b.height())
        {
            let soft =
                ink_map.fades_in(*first, Side::Right) && ink_map.fades_in(*second, Side::Left);
            return Some((
                Rect {
                    x0: first.x1,
                    y0: rows.0,
                    x1: second.x0,
                    y1: rows.1,
                },
                soft,
            ));
        }
        let (first, second) = if a.y1 <= b.y0 { (a, b) } else { (b, a) };
        let cols = (a.x0.max(b.x0), a.x1.min(b.x1));
        if second.y0 >= first.y1 + min_gap
            && 2 * (cols.1.saturating_sub(cols.0)) >= a.width().max(b.width())
        {
            let soft =
                ink_map.fades_in(*first, Side::Bottom) && ink_map.fades_in(*second, Side::Top);
            return Some((
                Rect {
                    x0: cols.0,
                    y0: first.y1,
                    x1: cols.1,
                    y1: second.y0,
                },
                soft,
            ));
        }
        None
    };
    loop {
        let pair = (0..parts.len()).find_map(|i| {
            (i + 1..parts.len()).find_map(|j| {
                let (space, soft) = between(&parts[i], &parts[j])?;
                // Another piece in the way: the two are not neighbours.
                let blocked = parts
                    .iter()
                    .enumerate()
                    .any(|(k, p)| k != i && k != j && p.overlaps(&space));
                (!blocked && (soft || on_membrane(space))).then_some((i, j))
            })
        });
        let Some((i, j)) = pair else {
            return parts;
        };
        let b = parts.swap_remove(j);
        parts[i] = parts[i].union(&b);
    }
}

/// `panels` with each run of lanes joined into the one blot or gel they are: three or more
/// pieces side by side, each at least [`LANE_ASPECT`] times taller than wide, over the same rows
/// (top and bottom within [`LANE_ALIGN_SHARE`] of their height) and at most a lane's width
/// apart. Light columns between a gel's lanes look like gutters, and lanes alike would match
/// each other. Strips stacked on top of each other are wide and short: they stay apart.
fn joined_lanes(panels: Vec<Rect>) -> Vec<Rect> {
    let is_lane = |r: &Rect| r.height() >= LANE_ASPECT * r.width();
    let (mut lanes, mut others): (Vec<Rect>, Vec<Rect>) = panels.into_iter().partition(is_lane);
    lanes.sort_by_key(|r| (r.x0, r.y0));
    let next_to = |run: &[Rect], r: &Rect| {
        let last = run[run.len() - 1];
        let slack = (LANE_ALIGN_SHARE * last.height().min(r.height()) as f32) as u32;
        r.x0 >= last.x1
            && r.x0 - last.x1 <= last.width().max(r.width())
            && r.y0.abs_diff(last.y0) <= slack
            && r.y1.abs_diff(last.y1) <= slack
    };
    let mut runs: Vec<Vec<Rect>> = Vec::new();
    for lane in lanes {
        match runs.iter_mut().find(|run| next_to(run, &lane)) {
            Some(run) => run.push(lane),
            None => runs.push(vec![lane]),
        }
    }
    for run in runs {
        if run.len() >= 3 {
            others.push(run.iter().skip(1).fold(run[0], |joined, r| joined.union(r)));
        } else {
            others.extend(run);
        }
    }
    others
}

/// How many times taller than wide a piece thinner than `min_panel_side_pt` must be to be a
/// strip turned a quarter: a blot's smeared lanes, cut apart at the light columns between them,
/// are two or three times taller than wide, and every one of them would match the others.
const MIN_UPRIGHT_STRIP_ASPECT: f32 = 3.0;

/// How many times taller than wide a panel is to count as a lane.
const LANE_ASPECT: u32 = 3;
/// How far (a share of their height) the tops and bottoms of lanes side by side may differ.
const LANE_ALIGN_SHARE: f32 = 0.05;

/// Text beside a picture that tells where its panels begin, in the picture's pixels.
#[derive(Debug, Clone, Default)]
struct Labels {
    /// Panel letters at the top of butted pictures.
    letters: Vec<BBox>,
    /// Row labels beside stacked strips.
    rows: Vec<BBox>,
}

impl Labels {
    /// The labels shifted by `(dx, dy)` then scaled by `(sx, sy)`.
    fn moved(&self, dx: f32, dy: f32, sx: f32, sy: f32) -> Labels {
        let map = |boxes: &[BBox]| -> Vec<BBox> {
            boxes
                .iter()
                .map(|l| {
                    BBox::new(
                        (l.x0 + dx) * sx,
                        (l.y0 + dy) * sy,
                        (l.x1 + dx) * sx,
                        (l.y1 + dy) * sy,
                    )
                })
                .collect()
        };
        Labels {
            letters: map(&self.letters),
            rows: map(&self.rows),
        }
    }
}

/// Ink components (8-connected, bounding boxes) of `r`, ignoring specks under 4 pixels.
fn ink_components(ink: &InkMap, r: Rect) -> Vec<Rect> {
    let (w, h) = (r.width() as usize, r.height() as usize);
    let stride = ink.width as usize;
    let is_ink = |x: usize, y: usize| {
        ink.deviation[(r.y0 as usize + y) * stride + r.x0 as usize + x] > ink.tolerance
    };
    let mut seen = vec![false; w * h];
    let mut components = Vec::new();
    let mut stack = Vec::new();
    for start in 0..w * h {
        if seen[start] || !is_ink(start % w, start / w) {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let (mut x0, mut y0, mut x1, mut y1, mut pixels) = (w, h, 0, 0, 0usize);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1));
            pixels += 1;
            for ny in y.saturating_sub(1)..(y + 2).min(h) {
                for nx in x.saturating_sub(1)..(x + 2).min(w) {
                    let j = ny * w + nx;
                    if !seen[j] && is_ink(nx, ny) {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        if pixels >= 4 {
            components.push(Rect {
                x0: r.x0 + x0 as u32,
                y0: r.y0 + y0 as u32,
                x1: r.x0 + x1 as u32,
                y1: r.y0 + y1 as u32,
            });
        }
    }
    components
}

/// Which stretch of each line [`seam_strengths`] measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SeamSpan {
    /// All of it.
    Whole,
    /// All of it but the page white at its ends, where the line and the one before it are both
    /// paper: pictures of unequal heights set side by side leave paper below the shorter ones,
    /// where their seam cannot show. Only when what is left is at least [`MIN_SEAM_SPAN_SHARE`]
    /// of the line: a band's edge on a white membrane holds only along the band.
    WithinPictures,
}

/// Share of a line that the pictures beside a seam must span for the paper at its ends to be
/// left out of it.
const MIN_SEAM_SPAN_SHARE: f32 = 0.5;

/// How much every line of `panel` along `axis` (columns for `Axis::Cols`, rows for `Axis::Rows`)
/// differs from the line before it over `share` of its length (of the stretch `span` says): the
/// `1 - share` quantile of the largest channel difference (0 for its first line). At a share of
/// 0.9, a seam between two pictures differs everywhere; a band's or a lane's edge only where the
/// band is. The pixels are read once in memory order however the lines run.
fn seam_strengths(raster: &Raster, panel: Rect, axis: Axis, share: f32) -> Vec<u64> {
    seam_strengths_over(raster, panel, axis, [(share, SeamSpan::Whole)])
        .into_iter()
        .map(|[strength]| strength)
        .collect()
}

/// [`seam_strengths`] for each of `measures` (a share of the stretch of each line a span says),
/// from one pass over the pixels.
fn seam_strengths_over<const N: usize>(
    raster: &Raster,
    panel: Rect,
    axis: Axis,
    measures: [(f32, SeamSpan); N],
) -> Vec<[u64; N]> {
    let (w, channels) = (raster.width as usize, usize::from(raster.channels.max(1)));
    let (columns, rows) = (panel.width() as usize, panel.height() as usize);
    let (lines, len) = match axis {
        Axis::Rows => (rows, columns),
        Axis::Cols => (columns, rows),
    };
    if lines == 0 || len == 0 {
        return vec![[0; N]; lines];
    }
    let row = |y: usize| {
        let first = ((panel.y0 as usize + y) * w + panel.x0 as usize) * channels;
        &raster.data[first..first + columns * channels]
    };
    let trim_paper = measures
        .iter()
        .any(|&(_, span)| span == SeamSpan::WithinPictures);
    // pictures[line * len + n]: whether pixel n of the line or of the line before is not page
    // white (only looked at with `trim_paper`).
    let mut pictures = vec![false; if trim_paper { lines * len } else { 0 }];
    let (mut white, mut white_before) = (vec![false; columns], vec![false; columns]);
    // differences[line * len + n]: pixel n of the line against the same pixel of the line before.
    let mut differences = vec![0u8; lines * len];
    for y in 0..rows {
        if trim_paper {
            std::mem::swap(&mut white, &mut white_before);
            for (flag, pixel) in white.iter_mut().zip(row(y).chunks_exact(channels)) {
                *flag = pixel.iter().all(|&v| v >= PAGE_WHITE);
            }
        }
        match axis {
            Axis::Rows if y > 0 => {
                let out = &mut differences[y * len..(y + 1) * len];
                pixel_deviations(row(y), row(y - 1), channels, |n, d| out[n] = d);
                if trim_paper {
                    for (n, picture) in pictures[y * len..(y + 1) * len].iter_mut().enumerate() {
                        *picture = !(white[n] && white_before[n]);
                    }
                }
            }
            Axis::Cols => {
                let pixels = row(y);
                pixel_deviations(
                    &pixels[channels..],
                    &pixels[..pixels.len() - channels],
                    channels,
                    |x, d| differences[(x + 1) * len + y] = d,
                );
                if trim_paper {
                    for x in 1..columns {
                        pictures[x * len + y] = !(white[x] && white[x - 1]);
                    }
                }
            }
            Axis::Rows => {}
        }
    }
    let quantile = |counts: &[u32; 256], measured: usize, share: f32| {
        let k = (((1.0 - share) * measured as f32) as usize).min(measured - 1);
        u64::from(kth_smallest(counts, k))
    };
    let mut strengths = vec![[0; N]; lines];
    for (line, (strength, differences)) in strengths
        .iter_mut()
        .zip(differences.chunks_exact(len))
        .enumerate()
        .skip(1)
    {
        let mut counts = [0u32; 256];
        for &d in differences {
            counts[usize::from(d)] += 1;
        }
        let within = if trim_paper {
            within_paper_ends(&pictures[line * len..(line + 1) * len])
        } else {
            0..len
        };
        let trimmed = within.len() < len && within.len() as f32 >= MIN_SEAM_SPAN_SHARE * len as f32;
        let mut within_counts = [0u32; 256];
        if trimmed {
            for &d in &differences[within.clone()] {
                within_counts[usize::from(d)] += 1;
            }
        }
        for (strength, (share, span)) in strength.iter_mut().zip(measures) {
            *strength = match span {
                SeamSpan::WithinPictures if trimmed => {
                    quantile(&within_counts, within.len(), share)
                }
                _ => quantile(&counts, len, share),
            };
        }
    }
    strengths
}

/// At most one pixel in this many of a line's paper ends may be picture (JPEG noise on the
/// paper, a neighbouring frame's antialiased corner).
const PAPER_END_NOISE: usize = 8;

/// The stretch of a line between its paper ends: the longest runs at its start and at its end
/// where at most one pixel in [`PAPER_END_NOISE`] is `picture`.
fn within_paper_ends(picture: &[bool]) -> std::ops::Range<usize> {
    let len = picture.len();
    let (mut start, mut seen) = (0, 0);
    for (n, &p) in picture.iter().enumerate() {
        seen += usize::from(p);
        if seen * PAPER_END_NOISE <= n + 1 {
            start = n + 1;
        }
    }
    let (mut end, mut seen) = (len, 0);
    for (n, &p) in picture.iter().enumerate().rev() {
        seen += usize::from(p);
        if seen * PAPER_END_NOISE <= len - n {
            end = n;
        }
    }
    start..end.max(start)
}

/// The panel's typical line-to-line change: the median of [`seam_strengths`] past the first line.
fn typical_step(strengths: &[u64]) -> u64 {
    let mut steps: Vec<u64> = strengths.iter().skip(1).copied().collect();
    steps.sort_unstable();
    steps.get(steps.len() / 2).copied().unwrap_or(0)
}

/// Whether a line that differs from the one before it by `strength` (as [`seam_strengths`]
/// measures at a share of 0.9) is a seam between two pictures in a panel whose typical line
/// differs by `typical`.
fn is_seam(strength: u64, typical: u64) -> bool {
    strength >= (SEAM_CONTRAST * typical).max(MIN_SEAM_LEVELS)
}

/// The largest channel difference of every pixel of `a` against the same pixel of `b` (pixels
/// of `channels` bytes), handed to `out` with the pixel's index. Gray and RGB, the rasters' usual
/// layouts, get loops of a fixed pixel size: this runs over every pixel of every figure.
#[inline(always)]
fn pixel_deviations(a: &[u8], b: &[u8], channels: usize, mut out: impl FnMut(usize, u8)) {
    match channels {
        3 => {
            for (n, (p, q)) in a.chunks_exact(3).zip(b.chunks_exact(3)).enumerate() {
                out(
                    n,
                    p[0].abs_diff(q[0])
                        .max(p[1].abs_diff(q[1]))
                        .max(p[2].abs_diff(q[2])),
                );
            }
        }
        1 => {
            for (n, (&p, &q)) in a.iter().zip(b).enumerate() {
                out(n, p.abs_diff(q));
            }
        }
        _ => {
            for (n, (p, q)) in a
                .chunks_exact(channels)
                .zip(b.chunks_exact(channels))
                .enumerate()
            {
                out(n, deviation(p, q));
            }
        }
    }
}

/// The `k`-th smallest (from 0) of the bytes `counts` tallies.
fn kth_smallest(counts: &[u32; 256], k: usize) -> u8 {
    let mut seen = 0;
    for (value, &count) in counts.iter().enumerate() {
        seen += count as usize;
        if seen > k {
            return value as u8;
        }
    }
    u8::MAX
}

/// A line between two butted pictures differs from the line before it by at least this many
/// levels along [`SEAM_SHARE`] of its length …
const BUTT_SEAM_LEVELS: u64 = 32;
/// … and the edges of a hairline parting them (a thin line lighter than both sides) by this many.
const HAIRLINE_LEVELS: u64 = 24;
/// Share of its length along which a seam between pictures differs: all of it but specks (a
/// band's edge, even one crossing every lane, stops at the gaps between lanes).
const SEAM_SHARE: f32 = 0.95;
/// Share of its length along which a hairline's edge differs when a letter drawn inside the
/// picture beside it hides the rest: the other edge must hold along [`SEAM_SHARE`].
const HIDDEN_SEAM_SHARE: f32 = 0.75;
/// Thinnest piece (pixels) a seam may leave on either side: anything thinner is an edge's
/// ringing or a label row, not a picture.
const MIN_SEAM_PIECE_PX: u32 = 12;
/// Share of a flat line's pixels within [`LIGHT_TOLERANCE`] of its median colour.
const FLAT_LINE_SHARE: f32 = 0.97;
/// A solid piece inside a drawing at least this many times its area is a piece of the drawing.
const DRAWING_PIECE_AREA_RATIO: u64 = 4;
/// A panel of a figure on paper at least this share ink is a picture that seams may part; one
/// with less is a drawing or a chart, whose straight edges are strokes.
const PICTURE_INK_SHARE: f32 = 0.5;
/// A piece parted off by seams whose lines are at least this share flat page white is a margin
/// (with perhaps a label in it): dropped.
const BLANK_SHARE: f32 = 0.5;

/// `panel`, a solid picture, parted where pictures stacked (`Axis::Rows`) or set side by side
/// (`Axis::Cols`) without a gutter meet: at a hairline, up to [`MAX_FRAME_PX`] lines lighter than
/// both its sides and differing sharply from them along [`SEAM_SHARE`] of its length (the white a
/// layout leaves between blot strips, however it was resampled), or at a one-line step that
/// differs everywhere and far more than the lines beside it (two pictures butted). The edge of a
/// band, a lane or a cell is neither: it holds only where the band is, and it ramps over several
/// lines. A thin line darker than either side is drawn (a box marking a region): it parts
/// nothing, unless page white lies on one side (the frame of a picture) or a hairline follows it
/// (framed pictures laid a hairline apart). A hairline is measured where the pictures beside it
/// are ([`SeamSpan::WithinPictures`]: side by side, pictures of unequal heights leave it running
/// on as paper), and one of its edges may hold along only [`HIDDEN_SEAM_SHARE`] of that (a panel
/// letter drawn in white inside the picture against it) when it stands out from the lines on
/// either side ([`SEAM_CONTRAST`] times their typical change, which a texture raises). Lines under
/// a piece of [`MIN_SEAM_PIECE_PX`] stay with their neighbour; the hairlines themselves, and
/// pieces mostly of page white beside a picture (a margin, a label), are dropped.
fn parted_at_seams(raster: &Raster, panel: Rect, axis: Axis) -> Vec<Rect> {
    let (start, end) = match axis {
        Axis::Rows => (panel.y0, panel.y1),
        Axis::Cols => (panel.x0, panel.x1),
    };
    if end - start < 2 * MIN_SEAM_PIECE_PX {
        return vec![panel];
    }
    let len = (end - start) as usize;
    // strengths[i]: line start + i against the one before it (0 for the first line), along all
    // of it, then where the pictures are, then along a part a letter may leave.
    let strengths = seam_strengths_over(
        raster,
        panel,
        axis,
        [
            (SEAM_SHARE, SeamSpan::Whole),
            (SEAM_SHARE, SeamSpan::WithinPictures),
            (HIDDEN_SEAM_SHARE, SeamSpan::WithinPictures),
        ],
    );
    let strength: Vec<u64> = strengths.iter().map(|&[whole, ..]| whole).collect();
    // Lines are looked at only beside edges and within pieces: most never are.
    let looks: Vec<OnceCell<LineLook>> = (0..len).map(|_| OnceCell::new()).collect();
    let look = |i: usize| looks[i].get_or_init(|| line_look(raster, panel, axis, start + i as u32));
    // Edges stand out from the picture's typical line-to-line change (a texture's is high).
    let mut sorted = strength[1..].to_vec();
    sorted.sort_unstable();
    let typical = sorted[sorted.len() / 2];
    let least_edge = HAIRLINE_LEVELS.max(SEAM_CONTRAST * typical);
    let edge = |i: usize| strength[i] >= least_edge;
    // Edges between pictures of unequal lengths, measured where the pictures are, and those
    // hidden along part of it besides (by a letter drawn inside a picture, as light as the
    // line beside it). Only hairlines are looked for with them: a drawing's strokes and a
    // logo's fills make such edges too.
    let edge_within = |i: usize| strengths[i][1] >= least_edge;
    let partly_hidden_edge = |i: usize| strengths[i][2] >= least_edge;
    let mean_between =
        |i: usize, j: usize| (i..j).map(|k| look(k).mean).sum::<f32>() / (j - i) as f32;
    // How much the lines beside lines `i..j` typically change, where the pictures are: a
    // textured picture's lines are each lighter than the one before half the time.
    let typical_beside = |i: usize, j: usize| {
        let reach = MIN_SEAM_PIECE_PX as usize;
        let mut beside: Vec<u64> = (i.saturating_sub(reach)..i)
            .chain(j + 1..(j + 1 + reach).min(len))
            .map(|k| strengths[k][1])
            .collect();
        beside.sort_unstable();
        beside.get(beside.len() / 2).copied().unwrap_or(0)
    };
    // Where a hairline opened by edge `i` closes, with either of its edges partly hidden.
    let hairline_from = |i: usize| {
        if !partly_hidden_edge(i) {
            return None;
        }
        (i + 1..(i + 1 + MAX_FRAME_PX as usize).min(len))
            .find(|&j| partly_hidden_edge(j))
            .filter(|&j| {
                let mean = mean_between(i, j);
                let sharpest = strengths[i][1].max(strengths[j][1]);
                (edge_within(i) || edge_within(j))
                    && sharpest >= SEAM_CONTRAST * typical_beside(i, j)
                    && mean > look(i - 1).mean
                    && mean > look(j).mean
            })
    };
    let mut boundaries = Vec::new();
    let mut hairlines = Vec::new();
    let mut i = 1;
    while i < len {
        if let Some(j) = hairline_from(i) {
            boundaries.extend([i, j]);
            hairlines.push((i, j));
            i = j + 1;
            continue;
        }
        if !edge(i) {
            i += 1;
            continue;
        }
        let closing = (i + 1..(i + 1 + MAX_FRAME_PX as usize).min(len)).find(|&j| edge(j));
        if let Some(j) = closing {
            // A thin line between two edges: a hairline when lighter than both sides.
            let mean = mean_between(i, j);
            if mean > look(i - 1).mean && mean > look(j).mean {
                boundaries.extend([i, j]);
                hairlines.push((i, j));
            } else if let Some(k) = (j..(j + RINGING_PX).min(len)).find(|&k| look(k).paper) {
                // A drawn line with paper just after it (past its antialiasing): the frame of
                // the picture before it.
                boundaries.push(k);
            } else if let Some(k) = (i.saturating_sub(RINGING_PX)..i)
                .rev()
                .find(|&k| look(k).paper)
            {
                boundaries.push(k + 1);
            } else if let Some(k) = hairline_from(j) {
                // A drawn line with no paper beside it (a picture's frame), and a hairline
                // between it and the next picture.
                boundaries.extend([j, k]);
                hairlines.push((j, k));
                i = k + 1;
                continue;
            }
            i = j + 1;
            continue;
        }
        let limit = strength[i] / SEAM_CONTRAST;
        let weak_beside = strength[i - 1] <= limit && (i + 1 >= len || strength[i + 1] <= limit);
        if strength[i] >= BUTT_SEAM_LEVELS.max(SEAM_CONTRAST * typical) && weak_beside {
            boundaries.push(i);
        }
        i += 1;
    }
    boundaries.sort_unstable();
    boundaries.dedup();
    // Pieces between boundaries: hairlines are dropped, thin pieces joined to the next.
    let mut pieces: Vec<(usize, usize)> = Vec::new();
    let mut from = 0;
    for to in boundaries.into_iter().chain(std::iter::once(len)) {
        if hairlines.contains(&(from, to)) {
            from = to;
            continue;
        }
        if to - from < MIN_SEAM_PIECE_PX as usize {
            continue;
        }
        pieces.push((from, to));
        from = to;
    }
    // A last piece too thin to stand alone joins the one before it.
    if let Some(last) = pieces.last_mut() {
        last.1 = len;
    }
    if pieces.len() < 2 {
        return vec![panel];
    }
    let blank = |&(a, b): &(usize, usize)| {
        (a..b).filter(|&k| look(k).paper).count() as f32 >= BLANK_SHARE * (b - a) as f32
    };
    // Page white between pictures is a picture's own light interior, not a margin.
    let first_picture = pieces.iter().position(|piece| !blank(piece));
    let last_picture = pieces.iter().rposition(|piece| !blank(piece));
    let blank_inside = match (first_picture, last_picture) {
        (Some(first), Some(last)) => pieces[first..last].iter().any(blank),
        _ => true,
    };
    if blank_inside {
        return vec![panel];
    }
    pieces
        .into_iter()
        .filter(|piece| !blank(piece))
        .map(|(a, b)| {
            let (a, b) = (start + a as u32, start + b as u32);
            match axis {
                Axis::Rows => Rect {
                    y0: a,
                    y1: b,
                    ..panel
                },
                Axis::Cols => Rect {
                    x0: a,
                    x1: b,
                    ..panel
                },
            }
        })
        .collect()
}

/// `panel` parted at its seams, rows then columns; lanes parted by the light columns between them
/// are joined back into their blot. On paper (`ink` given, with the narrowest gutter), a piece a
/// seam parted off that has a margin of paper at least a gutter wide is trimmed to its ink and
/// parted again: pictures butted in an L (two side by side, a third beside both) part only once
/// the third is off and the paper it left beside the two is trimmed away.
fn parted_at_all_seams(raster: &Raster, ink: Option<(&InkMap, u32)>, panel: Rect) -> Vec<Rect> {
    let mut pieces = Vec::new();
    part_at_seams_within(raster, ink, panel, MAX_SEAM_DEPTH, &mut pieces);
    joined_lanes(pieces)
}

/// How many times a piece parted off by seams is parted again.
const MAX_SEAM_DEPTH: u32 = 3;

fn part_at_seams_within(
    raster: &Raster,
    ink: Option<(&InkMap, u32)>,
    panel: Rect,
    depth: u32,
    out: &mut Vec<Rect>,
) {
    let pieces: Vec<Rect> = parted_at_seams(raster, panel, Axis::Rows)
        .into_iter()
        .flat_map(|piece| parted_at_seams(raster, piece, Axis::Cols))
        .collect();
    let Some((ink, min_gutter)) = ink.filter(|_| pieces.len() >= 2 && depth > 0) else {
        out.extend(pieces);
        return;
    };
    for piece in pieces {
        let trimmed = ink.trim(piece).unwrap_or(piece);
        let margin = (trimmed.x0 - piece.x0)
            .max(trimmed.y0 - piece.y0)
            .max(piece.x1 - trimmed.x1)
            .max(piece.y1 - trimmed.y1);
        let picture = ink.is_picture(trimmed);
        if margin >= min_gutter && picture {
            part_at_seams_within(raster, Some((ink, min_gutter)), trimmed, depth - 1, out);
        } else {
            out.push(piece);
        }
    }
}

/// How one line of a picture looks.
struct LineLook {
    /// Mean level over its pixels and channels.
    mean: f32,
    /// One flat colour of page white: nearly all its pixels within [`LIGHT_TOLERANCE`] of their
    /// median, which is at least [`LIGHT`].
    paper: bool,
}

/// How line `at` of `panel` looks.
fn line_look(raster: &Raster, panel: Rect, axis: Axis, at: u32) -> LineLook {
    let (w, channels) = (raster.width as usize, usize::from(raster.channels.max(1)));
    let pixel = |x: u32, y: u32| (y as usize * w + x as usize) * channels;
    let (first, step, len) = match axis {
        Axis::Rows => (pixel(panel.x0, at), channels, panel.width() as usize),
        Axis::Cols => (pixel(at, panel.y0), w * channels, panel.height() as usize),
    };
    if len == 0 || channels > 4 {
        return LineLook {
            mean: 0.0,
            paper: false,
        };
    }
    let line = (0..len).map(|n| &raster.data[first + n * step..first + n * step + channels]);
    // Per-channel counts of each level: the median without sorting copies of the line.
    let mut counts = [[0u32; 256]; 4];
    let mut total = 0u64;
    for pixel in line.clone() {
        for (c, &v) in pixel.iter().enumerate() {
            counts[c][usize::from(v)] += 1;
            total += u64::from(v);
        }
    }
    let median: Vec<u8> = counts[..channels]
        .iter()
        .map(|counts| kth_smallest(counts, len / 2))
        .collect();
    let close = line
        .filter(|p| deviation(p, &median) <= LIGHT_TOLERANCE)
        .count();
    LineLook {
        mean: total as f32 / (len * channels) as f32,
        paper: close as f32 >= FLAT_LINE_SHARE * len as f32 && median.iter().all(|&v| v >= LIGHT),
    }
}

/// `panel` parted between the strips its row labels name: blot strips stacked closer than a
/// gutter, each with its protein name (or marker) set as text beside it. Two or more labels beside
/// the panel, centred on it at least a label's height apart, part it at the sharpest seam between
/// each two; every strip must be at least half a label tall. `panel` alone otherwise.
fn parted_at_row_labels(
    raster: &Raster,
    ink: Option<&InkMap>,
    panel: Rect,
    row_labels: &[BBox],
) -> Vec<Rect> {
    let whole = vec![panel];
    // Label centres and heights, top to bottom; labels on both sides of one strip are one.
    let mut rows: Vec<(f32, f32)> = Vec::new();
    let mut beside: Vec<&BBox> = row_labels
        .iter()
        .filter(|l| {
            let centre = (l.y0 + l.y1) / 2.0;
            // Right beside the panel: no other picture between them.
            let reach = 3.0 * l.height();
            let right = l.x0 >= panel.x1 as f32 - 1.0 && l.x0 <= panel.x1 as f32 + reach;
            let left = l.x1 <= panel.x0 as f32 + 1.0 && l.x1 >= panel.x0 as f32 - reach;
            (right || left) && centre > panel.y0 as f32 && centre < panel.y1 as f32
        })
        .collect();
    beside.sort_by(|a, b| (a.y0 + a.y1).total_cmp(&(b.y0 + b.y1)));
    for l in beside {
        let (centre, height) = ((l.y0 + l.y1) / 2.0, l.height().max(1.0));
        match rows.last_mut() {
            Some(last) if centre - last.0 < height.max(last.1) => {}
            _ => rows.push((centre, height)),
        }
    }
    if rows.len() < 2 {
        return whole;
    }
    // Strips are pictures: most rows of the panel are mostly ink (a chart's are not).
    if let Some(ink) = ink {
        let solid_rows = ink
            .profile(panel, Axis::Rows)
            .iter()
            .filter(|&&n| n * 2 >= panel.width())
            .count();
        if (solid_rows as f32) < 0.8 * panel.height() as f32 {
            return whole;
        }
    }
    // A cut needs a seam: a row far sharper than the panel's typical row.
    let strengths = seam_strengths(raster, panel, Axis::Rows, 0.9);
    let strength_at = |y: u32| strengths[(y - panel.y0) as usize];
    let typical = typical_step(&strengths);
    let mut cuts = vec![panel.y0];
    for pair in rows.windows(2) {
        let (upper, lower) = (pair[0], pair[1]);
        let from = ((upper.0 + upper.1 / 2.0) as u32).max(panel.y0 + 1);
        let to = ((lower.0 - lower.1 / 2.0) as u32).min(panel.y1 - 1);
        if from >= to {
            return whole;
        }
        let (strength, seam) = (from..=to)
            .map(|y| (strength_at(y), y))
            .max()
            .unwrap_or((0, from));
        if !is_seam(strength, typical) {
            return whole;
        }
        cuts.push(seam);
    }
    cuts.push(panel.y1);
    let min_height = rows.iter().map(|r| r.1).fold(f32::MAX, f32::min) / 2.0;
    cells_between(ink, panel, Axis::Rows, &cuts, |part| {
        part.height() as f32 >= min_height.max(4.0)
    })
    .unwrap_or(whole)
}

/// The cells of `panel` between consecutive `cuts` (rows for `Axis::Rows`, columns otherwise),
/// each trimmed to its ink when there is an ink map; `None` when a cell is empty or not `kept`.
fn cells_between(
    ink: Option<&InkMap>,
    panel: Rect,
    axis: Axis,
    cuts: &[u32],
    kept: impl Fn(Rect) -> bool,
) -> Option<Vec<Rect>> {
    cuts.windows(2)
        .map(|pair| {
            let cell = match axis {
                Axis::Rows => Rect {
                    y0: pair[0],
                    y1: pair[1],
                    ..panel
                },
                Axis::Cols => Rect {
                    x0: pair[0],
                    x1: pair[1],
                    ..panel
                },
            };
            let part = match ink {
                Some(ink) => ink.trim(cell),
                None => Some(cell),
            };
            part.filter(|&part| kept(part))
        })
        .collect()
}

/// `panel` parted at the panel letters set in a row above it: pictures butted together without a
/// gutter (a row of micrographs, blots side by side) that each carry their own letter, "A", "B",
/// …, at their top-left corner. Only a row holding nothing but two or more glyph-sized marks,
/// the first at the panel's left edge and the others at least a panel's width apart, parts it
/// (the lane labels of a blot are words and numbers, closely spaced); each cut goes to the
/// sharpest seam near its letter's left edge. A letter drawn in the picture, not set as text, is
/// any glyph-sized mark: it parts only at a seam far sharper than the panel's typical column, as
/// pictures butted together have (lane labels drawn over a blot's lanes stand over the lanes
/// themselves). `panel` alone when there is no such row.
fn parted_at_letters(
    raster: &Raster,
    ink: Option<&InkMap>,
    panel: Rect,
    min_side: f32,
    letters: &[BBox],
) -> Vec<Rect> {
    let whole = vec![panel];
    let label_height = ((panel.height() as f32 * LETTER_ROW_SHARE) as u32).min(panel.y0);
    // (mark, drawn): drawn marks come from the ink above the panel, the others are set as text.
    // The letters sit in the inked rows nearest above the panel: the band stops at the blank row
    // above them, so that the row of pictures before this one, when the gap between the rows is
    // narrower than the band, does not join them. The band also reaches left of the panel, whose
    // pale margin may have been trimmed from under its letter: a mark within its own height of
    // the left edge counts as at it, as a letter set as text does.
    let mut components: Vec<(Rect, bool)> = if let Some(ink) = ink.filter(|_| label_height >= 6) {
        let mut band = Rect {
            x0: panel.x0.saturating_sub(label_height / 2),
            y0: panel.y0 - label_height,
            x1: panel.x1,
            y1: panel.y0,
        };
        let mut rows = ink.profile(band, Axis::Rows);
        // Rows inked across most of the band just above the panel are its own edge, which a
        // trim left out.
        while rows.len() > 1 && rows.last().is_some_and(|&n| 2 * n >= band.width()) {
            rows.pop();
            band.y1 -= 1;
        }
        if let Some(last_inked) = rows.iter().rposition(|&n| n > 0)
            && let Some(blank) = rows[..last_inked].iter().rposition(|&n| n == 0)
        {
            band.y0 += blank as u32 + 1;
        }
        ink_components(ink, band)
            .into_iter()
            .filter(|c| c.x0 + c.height() >= panel.x0)
            .map(|c| {
                let x0 = c.x0.max(panel.x0);
                let x1 = c.x1.max(x0 + 1);
                (Rect { x0, x1, ..c }, true)
            })
            .collect()
    } else {
        Vec::new()
    };
    // Letters set as text: above the panel's top edge or inside its top part.
    components.extend(
        letters
            .iter()
            .filter(|l| {
                let height = l.height().max(1.0);
                l.x0 >= panel.x0 as f32 - height
                    && l.x0 < panel.x1 as f32
                    && l.y1 >= panel.y0 as f32 - 2.0 * height
                    && l.y0 <= panel.y0 as f32 + LETTER_ROW_SHARE * panel.height() as f32
            })
            .map(|l| {
                // Above the raster, a letter keeps its size: only its place along the panel counts.
                let x0 = (l.x0.max(0.0) as u32).max(panel.x0);
                let y0 = l.y0.max(0.0) as u32;
                let mark = Rect {
                    x0,
                    y0,
                    x1: x0 + l.width().ceil().max(1.0) as u32,
                    y1: y0 + l.height().ceil().max(1.0) as u32,
                };
                (mark, false)
            }),
    );
    // Glyphs of one label ("Aa", "i") merge when closer than a glyph's height.
    let mut labels: Vec<(Rect, bool)> = Vec::new();
    components.sort_by_key(|c| c.0.x0);
    for (c, drawn) in components {
        match labels.last_mut() {
            Some((last, last_drawn)) if c.x0 <= last.x1 + c.height().max(last.height()) / 2 => {
                *last = last.union(&c);
                *last_drawn |= drawn;
            }
            _ => labels.push((c, drawn)),
        }
    }
    let min_pitch = min_side.max(LETTER_PITCH_SHARE * panel.height() as f32);
    let glyph_like = |(l, _): &(Rect, bool)| l.height() >= 4 && l.width() <= 2 * l.height();
    if labels.len() < 2
        || !labels.iter().all(glyph_like)
        || (labels[0].0.x0 - panel.x0) as f32 > min_pitch / 2.0
        || labels
            .windows(2)
            .any(|pair| ((pair[1].0.x0 - pair[0].0.x0) as f32) < min_pitch)
        || ((panel.x1 - labels[labels.len() - 1].0.x0) as f32) < min_pitch
    {
        return whole;
    }
    // The seam: the column differing most from its left neighbour, near the letter.
    let strengths = seam_strengths(raster, panel, Axis::Cols, 0.9);
    let strength_at = |x: u32| strengths[(x - panel.x0) as usize];
    let typical = typical_step(&strengths);
    let mut cuts = vec![panel.x0];
    for (label, drawn) in &labels[1..] {
        let reach = label.width().max(2);
        let (strength, seam) = (label.x0.saturating_sub(reach).max(panel.x0 + 1)
            ..(label.x0 + reach).min(panel.x1))
            .map(|x| (strength_at(x), x))
            .max()
            .unwrap_or((0, label.x0));
        if *drawn && !is_seam(strength, typical) {
            return whole;
        }
        cuts.push(seam);
    }
    cuts.push(panel.x1);
    cells_between(ink, panel, Axis::Cols, &cuts, |part| {
        part.width().min(part.height()) as f32 >= min_side
    })
    .unwrap_or(whole)
}

/// `region` in cells of `f × f` pixels, row-major.
struct CellGrid {
    region: Rect,
    f: u32,
    columns: usize,
    rows: usize,
}

impl CellGrid {
    /// The cells `[c0, r0, c1, r1]` (ends exclusive) that `r` lies in.
    fn cells_in(&self, r: Rect) -> [usize; 4] {
        let (region, f) = (self.region, self.f);
        [
            ((r.x0 - region.x0) / f) as usize,
            ((r.y0 - region.y0) / f) as usize,
            (r.x1 - region.x0).div_ceil(f) as usize,
            (r.y1 - region.y0).div_ceil(f) as usize,
        ]
    }

    /// The pixels of cells `[c0, r0, c1, r1]`, within the region.
    fn rect_of(&self, [c0, r0, c1, r1]: [usize; 4]) -> Rect {
        let (region, f) = (self.region, self.f);
        Rect {
            x0: region.x0 + c0 as u32 * f,
            y0: region.y0 + r0 as u32 * f,
            x1: (region.x0 + c1 as u32 * f).min(region.x1),
            y1: (region.y0 + r1 as u32 * f).min(region.y1),
        }
    }

    /// Which of cells `[c0, r0, c1, r1]` are set in `set` (one flag per cell of the grid), row
    /// by row.
    fn cells_within(&self, set: &[bool], [c0, r0, c1, r1]: [usize; 4]) -> Vec<bool> {
        (r0..r1)
            .flat_map(|y| (c0..c1).map(move |x| (x, y)))
            .map(|(x, y)| set[y * self.columns + x])
            .collect()
    }

    /// How many cells `rect` (a rectangle of whole cells) spans.
    fn cells_of(&self, rect: Rect) -> usize {
        (rect.width().div_ceil(self.f) * rect.height().div_ceil(self.f)) as usize
    }

    /// Which cells have more than half their pixels counted in `counts`.
    fn majority(&self, counts: &[u32]) -> Vec<bool> {
        let r = self.region;
        (0..self.columns * self.rows)
            .map(|cell| {
                let (cx, cy) = ((cell % self.columns) as u32, (cell / self.columns) as u32);
                let cell_w = (r.x0 + (cx + 1) * self.f).min(r.x1) - (r.x0 + cx * self.f);
                let cell_h = (r.y0 + (cy + 1) * self.f).min(r.y1) - (r.y0 + cy * self.f);
                counts[cell] * 2 > cell_w * cell_h
            })
            .collect()
    }

    /// The 4-connected components of set cells: their box in pixels, their cell count and the
    /// cell count of their box.
    fn components(&self, set: &[bool]) -> Vec<(Rect, usize, usize)> {
        self.labelled_components(set).0
    }

    /// [`CellGrid::components`], with each cell's component (its index plus one, 0 for none).
    fn labelled_components(&self, set: &[bool]) -> (Vec<(Rect, usize, usize)>, Vec<u32>) {
        let (f, region) = (self.f, self.region);
        let (components, labels) = labelled_grid_components(set, self.columns, self.rows);
        let components = components
            .into_iter()
            .map(|(count, [x0, y0, x1, y1])| {
                let rect = Rect {
                    x0: region.x0 + x0 as u32 * f,
                    y0: region.y0 + y0 as u32 * f,
                    x1: (region.x0 + x1 as u32 * f).min(region.x1),
                    y1: (region.y0 + y1 as u32 * f).min(region.y1),
                };
                (rect, count, (x1 - x0) * (y1 - y0))
            })
            .collect();
        (components, labels)
    }
}

/// The 4-connected components of the set cells of a grid `columns` wide and `rows` high, in the
/// order their first cells come row by row: each one's cell count and bounds `[c0, r0, c1, r1]`
/// in cells (ends exclusive).
pub(crate) fn grid_components(
    set: &[bool],
    columns: usize,
    rows: usize,
) -> Vec<(usize, [usize; 4])> {
    labelled_grid_components(set, columns, rows).0
}

/// [`grid_components`], with each cell's component: its index in the list plus one, 0 for a cell
/// not set.
fn labelled_grid_components(
    set: &[bool],
    columns: usize,
    rows: usize,
) -> (Vec<(usize, [usize; 4])>, Vec<u32>) {
    let mut seen = vec![0u32; set.len()];
    let mut stack = Vec::new();
    let mut found = Vec::new();
    for start in 0..set.len() {
        if !set[start] || seen[start] != 0 {
            continue;
        }
        let label = found.len() as u32 + 1;
        seen[start] = label;
        stack.push(start);
        let (mut x0, mut y0, mut x1, mut y1, mut count) = (usize::MAX, usize::MAX, 0, 0, 0usize);
        while let Some(cell) = stack.pop() {
            let (x, y) = (cell % columns, cell / columns);
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1));
            count += 1;
            let neighbours = [
                (x > 0).then(|| cell - 1),
                (x + 1 < columns).then(|| cell + 1),
                (y > 0).then(|| cell - columns),
                (y + 1 < rows).then(|| cell + columns),
            ];
            for next in neighbours.into_iter().flatten() {
                if set[next] && seen[next] == 0 {
                    seen[next] = label;
                    stack.push(next);
                }
            }
        }
        found.push((count, [x0, y0, x1, y1]));
    }
    (found, seen)
}

/// The largest difference between a pixel and a colour over their channels.
fn deviation(pixel: &[u8], color: &[u8]) -> u8 {
    pixel
        .iter()
        .zip(color)
        .map(|(&a, &b)| a.abs_diff(b))
        .max()
        .unwrap_or(0)
}

/// Which pixels are ink, as a summed-area table: `sums[y * (w + 1) + x]` is the ink in the
/// rectangle `0..x × 0..y`.
struct InkMap {
    width: u32,
    /// How far each pixel is from the background (the largest channel difference), row-major.
    deviation: Vec<u8>,
    tolerance: u8,
    sums: Vec<u32>,
}

impl InkMap {
    fn new(raster: &Raster, background: &[u8], tolerance: u8) -> InkMap {
        let (w, h) = (raster.width as usize, raster.height as usize);
        let channels = usize::from(raster.channels.max(1));
        let stride = w + 1;
        let mut sums = vec![0u32; stride * (h + 1)];
        let mut deviations = vec![0u8; w * h];
        for (y, row) in raster.data.chunks_exact(w * channels).take(h).enumerate() {
            let out = &mut deviations[y * w..(y + 1) * w];
            match (channels, background) {
                (3, &[r, g, b]) => {
                    for (d, p) in out.iter_mut().zip(row.chunks_exact(3)) {
                        *d = p[0].abs_diff(r).max(p[1].abs_diff(g)).max(p[2].abs_diff(b));
                    }
                }
                (1, &[v]) => {
                    for (d, &p) in out.iter_mut().zip(row) {
                        *d = p.abs_diff(v);
                    }
                }
                _ => {
                    for (d, p) in out.iter_mut().zip(row.chunks_exact(channels)) {
                        *d = deviation(p, background);
                    }
                }
            }
            let mut in_row = 0u32;
            let (above, here) = sums.split_at_mut((y + 1) * stride);
            let above = &above[y * stride..];
            for (x, &d) in out.iter().enumerate() {
                in_row += u32::from(d > tolerance);
                here[x + 1] = above[x + 1] + in_row;
            }
        }
        InkMap {
            width: raster.width,
            deviation: deviations,
            tolerance,
            sums,
        }
    }

    /// The map with the pixels inside `boxes` taken as background.
    fn without(&self, boxes: &[Rect]) -> InkMap {
        let w = self.width as usize;
        let h = self.deviation.len() / w.max(1);
        let mut deviation = self.deviation.clone();
        // A piece's edge pixels can fall a cell outside its box: those go too.
        for b in boxes {
            let (x0, x1) = (
                (b.x0 as usize).saturating_sub(EDGE_PX),
                (b.x1 as usize + EDGE_PX).min(w),
            );
            for y in (b.y0 as usize).saturating_sub(EDGE_PX)..(b.y1 as usize + EDGE_PX).min(h) {
                deviation[y * w + x0..y * w + x1].fill(0);
            }
        }
        let stride = w + 1;
        let mut sums = vec![0u32; stride * (h + 1)];
        for y in 0..h {
            let mut in_row = 0u32;
            for x in 0..w {
                in_row += u32::from(deviation[y * w + x] > self.tolerance);
                sums[(y + 1) * stride + x + 1] = sums[y * stride + x + 1] + in_row;
            }
        }
        InkMap {
            width: self.width,
            deviation,
            tolerance: self.tolerance,
            sums,
        }
    }

    fn at(&self, x: u32, y: u32) -> u32 {
        self.sums[y as usize * (self.width as usize + 1) + x as usize]
    }

    /// Share of `r` within [`FLAT_TOLERANCE`] of its commonest deviation, in runs along rows of
    /// at least [`FLAT_RUN_PX`]: one flat fill, as a drawn box has and a photograph does not.
    fn flat_share(&self, r: Rect) -> f32 {
        let w = self.width as usize;
        let rows = || {
            (r.y0..r.y1)
                .map(move |y| &self.deviation[y as usize * w..][r.x0 as usize..r.x1 as usize])
        };
        let mut histogram = [0u32; 256];
        rows()
            .flatten()
            .for_each(|&d| histogram[usize::from(d)] += 1);
        let mode = (0..=255u8)
            .max_by_key(|&d| histogram[usize::from(d)])
            .unwrap_or(0);
        let flat: usize = rows()
            .map(|row| {
                row.chunk_by(|a, b| {
                    a.abs_diff(mode) <= FLAT_TOLERANCE && b.abs_diff(mode) <= FLAT_TOLERANCE
                })
                .filter(|run| run.len() >= FLAT_RUN_PX && run[0].abs_diff(mode) <= FLAT_TOLERANCE)
                .map(<[u8]>::len)
                .sum::<usize>()
            })
            .sum();
        flat as f32 / r.area().max(1) as f32
    }

    /// Ink pixels in `r`.
    fn count(&self, r: Rect) -> u32 {
        (self.at(r.x1, r.y1) - self.at(r.x0, r.y1)) - (self.at(r.x1, r.y0) - self.at(r.x0, r.y0))
    }

    /// Whether `r` is a picture rather than a drawing: at least [`PICTURE_INK_SHARE`] ink.
    fn is_picture(&self, r: Rect) -> bool {
        self.count(r) as f32 >= PICTURE_INK_SHARE * r.area() as f32
    }

    /// Ink in each row (`Axis::Rows`) or column of `r`.
    fn profile(&self, r: Rect, axis: Axis) -> Vec<u32> {
        match axis {
            Axis::Rows => (r.y0..r.y1)
                .map(|y| {
                    self.count(Rect {
                        y0: y,
                        y1: y + 1,
                        ..r
                    })
                })
                .collect(),
            Axis::Cols => (r.x0..r.x1)
                .map(|x| {
                    self.count(Rect {
                        x0: x,
                        x1: x + 1,
                        ..r
                    })
                })
                .collect(),
        }
    }

    /// `r` without labels sticking out of its sides (a panel letter, a lane label or a marker
    /// tick set closer than a gutter, kept with the panel by JPEG ringing across the gap): when
    /// most of `r` is a solid picture (rows and columns at least [`BODY_INK`] ink), lines outside
    /// that body holding little ink ([`LABEL_INK`]) are dropped, as long as they are a small part
    /// ([`MAX_LABEL_SHARE`]) of the panel. Failing that, each side sheds what [`label_lines`]
    /// finds there on its own: a picture whose far edge fades out keeps that edge and still sheds
    /// the marker label at its other side.
    fn without_labels(&self, r: Rect) -> Rect {
        let body = |axis: Axis| -> Option<(u32, u32)> {
            let (across, start) = match axis {
                Axis::Rows => (r.width(), r.y0),
                Axis::Cols => (r.height(), r.x0),
            };
            let profile = self.profile(r, axis);
            let full = |&n: &u32| n as f32 >= BODY_INK * across as f32;
            let first = profile.iter().position(full)?;
            let last = profile.iter().rposition(full)?;
            let solid = profile[first..=last].iter().filter(|n| full(n)).count();
            if (solid as f32) < 0.9 * (last + 1 - first) as f32 {
                return None;
            }
            // Labels at both sides (or one), past the ringing next to the body, together a small
            // part of the panel: cut at the body.
            let sparse = |n: &u32| (*n as f32) < LABEL_INK * across as f32;
            let outside_sparse = profile[..first].iter().rev().skip(RINGING_PX).all(sparse)
                && profile[last + 1..].iter().skip(RINGING_PX).all(sparse);
            let small = (profile.len() - (last + 1 - first)) as f32
                <= MAX_LABEL_SHARE * profile.len() as f32;
            if outside_sparse && small {
                return Some((start + first as u32, start + last as u32 + 1));
            }
            // Lines `from..to` of `r` (relative to its edge) when they hold one or two marker
            // labels, not a column of tick labels along a chart's axis: how many to shed.
            let along = match axis {
                Axis::Rows => Axis::Cols,
                Axis::Cols => Axis::Rows,
            };
            let markers = |from: usize, to: usize| {
                if from == to {
                    return 0;
                }
                let (start, end) = (from as u32, to as u32);
                let zone = cut(r, Gutter { axis, start, end }).2;
                let labels = ink_runs(&self.profile(zone, along), RINGING_PX);
                if labels <= MAX_MARKER_LABELS {
                    to - from
                } else {
                    0
                }
            };
            let length = profile.len();
            let before: Vec<u32> = profile[..first].iter().rev().copied().collect();
            let cut_before = markers(0, label_lines(&before, length, across));
            let cut_after = markers(
                length - label_lines(&profile[last + 1..], length, across),
                length,
            );
            Some((
                start + cut_before as u32,
                start + (length - cut_after) as u32,
            ))
        };
        let mut trimmed = r;
        if let Some((y0, y1)) = body(Axis::Rows) {
            (trimmed.y0, trimmed.y1) = (y0, y1);
        }
        if let Some((x0, x1)) = body(Axis::Cols) {
            (trimmed.x0, trimmed.x1) = (x0, x1);
        }
        trimmed
    }

    /// Whether the ink of `r` fades in at its `side` rather than starting there: the first ink
    /// pixels met going in from that side (within [`EDGE_DEPTH`] pixels) are barely past the
    /// tolerance, and [`RAMP_PX`] further in the ink is much darker. A panel's border starts at
    /// its full contrast, however light (a pale membrane cropped square); a blot's lane or band
    /// fades in from the membrane.
    fn fades_in(&self, r: Rect, side: Side) -> bool {
        let w = self.width as usize;
        let (mut first_sum, mut inner_sum, mut lines) = (0u32, 0u32, 0u32);
        let (span, extent) = match side {
            Side::Left | Side::Right => (r.y0..r.y1, r.width()),
            Side::Top | Side::Bottom => (r.x0..r.x1, r.height()),
        };
        let at = |line: u32, step: u32| {
            let (x, y) = match side {
                Side::Left => (r.x0 + step, line),
                Side::Right => (r.x1 - 1 - step, line),
                Side::Top => (line, r.y0 + step),
                Side::Bottom => (line, r.y1 - 1 - step),
            };
            self.deviation[y as usize * w + x as usize]
        };
        for line in span {
            let first = (0..extent.min(EDGE_DEPTH)).find(|&step| at(line, step) > self.tolerance);
            if let Some(step) = first.filter(|&step| step + RAMP_PX < extent) {
                first_sum += u32::from(at(line, step));
                inner_sum += u32::from(at(line, step + RAMP_PX));
                lines += 1;
            }
        }
        let lines = lines.max(1) as f32;
        let (first, inner) = (first_sum as f32 / lines, inner_sum as f32 / lines);
        first < f32::from(self.tolerance) + f32::from(SOFT_EDGE_MARGIN) && inner > 1.5 * first
    }

    /// `r` shrunk to the bounding box of its ink, if it has any.
    fn trim(&self, r: Rect) -> Option<Rect> {
        if r.width() == 0 || r.height() == 0 || self.count(r) == 0 {
            return None;
        }
        let rows = self.profile(r, Axis::Rows);
        let cols = self.profile(r, Axis::Cols);
        let first = |p: &[u32]| p.iter().position(|&n| n > 0).unwrap_or(0) as u32;
        let last = |p: &[u32]| p.iter().rposition(|&n| n > 0).map_or(0, |i| i + 1) as u32;
        Some(Rect {
            x0: r.x0 + first(&cols),
            y0: r.y0 + first(&rows),
            x1: r.x0 + last(&cols),
            y1: r.y0 + last(&rows),
        })
    }
}

/// How many lines at the outer end of `outward` (the ink counts of the lines beside a solid
/// picture, from its body out to the panel's edge, each line `across` pixels long, of a panel
/// `length` lines long) are a label to shed on that side alone: those past the picture's own
/// fading edge (lines of at least [`LABEL_INK`] ink, going out) when they hold little ink, hold
/// an empty line (between a marker's number and its tick, or the tick and the picture; a pale
/// picture edge has none), and are a small part of the panel ([`MAX_LABEL_SHARE`];
/// [`MAX_FAINT_LABEL_SHARE`] when each line is nearly empty, as a marker label beside a strip
/// turned upright is); else none.
fn label_lines(outward: &[u32], length: usize, across: u32) -> usize {
    let sparse = |n: &u32| (*n as f32) < LABEL_INK * across as f32;
    let faint = |n: &u32| (*n as f32) < FAINT_LABEL_INK * across as f32;
    let share = |lines: usize| lines as f32 / length.max(1) as f32;
    let edge = outward.iter().position(sparse).unwrap_or(outward.len());
    let past = &outward[edge..];
    let sheds = past.contains(&0)
        && past.iter().all(sparse)
        && (share(past.len()) <= MAX_LABEL_SHARE
            || (share(past.len()) <= MAX_FAINT_LABEL_SHARE && past.iter().all(faint)));
    if sheds { past.len() } else { 0 }
}

/// How many runs of lines holding ink `profile` has, runs at most `bridge` empty lines apart
/// counting as one.
fn ink_runs(profile: &[u32], bridge: usize) -> usize {
    let mut runs = 0;
    let mut last_ink: Option<usize> = None;
    for (i, &n) in profile.iter().enumerate() {
        if n == 0 {
            continue;
        }
        if last_ink.is_none_or(|last| i - last > bridge + 1) {
            runs += 1;
        }
        last_ink = Some(i);
    }
    runs
}

/// Which way a gutter runs: a band of rows (a horizontal cut) or of columns (a vertical cut).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Axis {
    Rows,
    Cols,
}

/// A side of a rectangle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Left,
    Right,
    Top,
    Bottom,
}

/// A gutter of a region: rows (or columns) `start..end`, relative to the region's edge.
#[derive(Debug, Clone, Copy)]
struct Gutter {
    axis: Axis,
    start: u32,
    end: u32,
}

/// What splitting a region gave: its panels and what it dropped.
#[derive(Debug, Clone, Default)]
struct Outcome {
    panels: Vec<Rect>,
    dropped_ink: u64,
    dropped_pieces: u32,
    /// Whether a dropped piece is solid and large (a blot strip too thin to be a panel on its
    /// own): no cut may drop it, whatever its share of the ink.
    dropped_solid: bool,
}

/// The recursive cutter of one figure.
struct Splitter<'a> {
    ink: &'a InkMap,
    config: &'a PanelsConfig,
    /// How far from the background a gutter's clean line may be (see
    /// `PanelsConfig::gutter_flat_tolerance`).
    clean_tolerance: u8,
    min_gutter: u32,
    min_side: f32,
    memo: HashMap<Rect, Outcome>,
    evaluated: usize,
}

impl Splitter<'_> {
    /// The panels of `region` (trimmed to its ink first).
    fn segment(&mut self, region: Rect) -> Outcome {
        let Some(r) = self.ink.trim(region) else {
            return Outcome::default();
        };
        if let Some(done) = self.memo.get(&r) {
            return done.clone();
        }
        self.evaluated += 1;
        let ink = u64::from(self.ink.count(r));
        let tries = match self.evaluated {
            n if n > 10 * REGION_BUDGET => 0,
            n if n > REGION_BUDGET => 1,
            _ => CUTS_TRIED,
        };
        let mut kept = None;
        let gutters: Vec<Gutter> = self
            .gutters(r)
            .into_iter()
            .filter(|&g| !self.soft_cut(r, g))
            .take(tries)
            .collect();
        for gutter in gutters {
            let (a, b, lane) = cut(r, gutter);
            let first = self.segment(a);
            let second = self.segment(b);
            let dropped_ink =
                first.dropped_ink + second.dropped_ink + u64::from(self.ink.count(lane));
            let has_panels = !(first.panels.is_empty() && second.panels.is_empty());
            let small_drop =
                dropped_ink as f64 <= f64::from(self.config.max_dropped_ink_share) * ink as f64;
            if has_panels && small_drop && !first.dropped_solid && !second.dropped_solid {
                let mut panels = first.panels;
                panels.extend(second.panels);
                kept = Some(Outcome {
                    panels,
                    dropped_ink,
                    dropped_pieces: first.dropped_pieces + second.dropped_pieces,
                    dropped_solid: false,
                });
                break;
            }
        }
        let outcome = kept.unwrap_or_else(|| {
            if self.is_panel(r) {
                Outcome {
                    panels: vec![r],
                    ..Outcome::default()
                }
            } else {
                // Nearly all ink: a membrane, not strokes of text.
                let solid = ink as f32 >= SOLID_SHARE * r.area() as f32
                    && 2.0 * r.area() as f32 >= self.min_side * self.min_side;
                Outcome {
                    panels: Vec::new(),
                    dropped_ink: ink,
                    dropped_pieces: 1,
                    dropped_solid: solid,
                }
            }
        });
        self.memo.insert(r, outcome.clone());
        outcome
    }

    /// Whether both sides of a cut fade into the gutter rather than start at it: then the
    /// "gutter" is the membrane between two lanes (or rows of bands) of one blot.
    fn soft_cut(&self, r: Rect, gutter: Gutter) -> bool {
        let (a, b, _) = cut(r, gutter);
        let (facing_a, facing_b) = match gutter.axis {
            Axis::Rows => (Side::Bottom, Side::Top),
            Axis::Cols => (Side::Right, Side::Left),
        };
        let soft = |piece: Rect, side: Side| {
            self.ink
                .trim(piece)
                .is_some_and(|p| self.ink.fades_in(p, side))
        };
        soft(a, facing_a) && soft(b, facing_b)
    }

    /// Ink pixels a gutter line of `length` pixels may hold: one (a hairline crossing it, a speck)
    /// or the configured share of its length, whichever is more.
    fn allowance(&self, length: u32) -> u32 {
        ((self.config.gutter_noise_share * length as f32) as u32).max(1)
    }

    /// Whether a row (or column) holding `ink` pixels out of `length` is empty enough for a gutter.
    fn is_empty(&self, ink: u32, length: u32) -> bool {
        ink <= self.allowance(length)
    }

    /// The gutters of a trimmed region in both directions, widest first (the more central first
    /// among equals).
    fn gutters(&self, r: Rect) -> Vec<Gutter> {
        let mut gutters = Vec::new();
        for axis in [Axis::Rows, Axis::Cols] {
            let (across, along) = match axis {
                Axis::Rows => (r.width(), r.height()),
                Axis::Cols => (r.height(), r.width()),
            };
            if along < self.min_gutter + 2 {
                continue;
            }
            let empty: Vec<bool> = self
                .ink
                .profile(r, axis)
                .iter()
                .map(|&n| self.is_empty(n, across))
                .collect();
            let mut runs: Vec<(u32, u32)> = Vec::new();
            let mut i = 0;
            while i < empty.len() {
                if !empty[i] {
                    i += 1;
                    continue;
                }
                let start = i;
                while i < empty.len() && empty[i] {
                    i += 1;
                }
                match runs.last_mut() {
                    // A hairline (or a speck) along the gutter: bridge it.
                    Some(last) if start as u32 - last.1 <= self.config.max_hairline_px => {
                        last.1 = i as u32
                    }
                    _ => runs.push((start as u32, i as u32)),
                }
            }
            gutters.extend(
                runs.into_iter()
                    .filter(|&(start, end)| {
                        start > 0 && end < along && end - start >= self.min_gutter
                    })
                    .map(|(start, end)| Gutter { axis, start, end })
                    .filter(|&gutter| self.has_clean_line(r, gutter) && !self.crossed(r, gutter)),
            );
        }
        let off_centre = |g: &Gutter| {
            let along = if g.axis == Axis::Rows {
                r.height()
            } else {
                r.width()
            };
            (i64::from(g.start + g.end) - i64::from(along)).unsigned_abs()
        };
        gutters.sort_by_key(|g| (std::cmp::Reverse(g.end - g.start), off_centre(g)));
        gutters
    }

    /// Whether a line runs across the whole gutter (a chart's axis, thin enough to pass for
    /// noise in a row as wide as the figure): ink on [`GUTTER_CROSSING_SHARE`] of its lines in
    /// one place is the panel going on, not specks.
    fn crossed(&self, r: Rect, gutter: Gutter) -> bool {
        let width = gutter.end - gutter.start;
        // Across a gutter a few pixels wide, haze and ringing join two pictures as well.
        if width < CROSSED_GUTTER_MIN_GUTTERS * self.min_gutter {
            return false;
        }
        let needed = (GUTTER_CROSSING_SHARE * width as f32).ceil() as u32;
        let line = |at: u32| match gutter.axis {
            Axis::Rows => Rect {
                x0: at,
                x1: at + 1,
                y0: r.y0 + gutter.start,
                y1: r.y0 + gutter.end,
            },
            Axis::Cols => Rect {
                x0: r.x0 + gutter.start,
                x1: r.x0 + gutter.end,
                y0: at,
                y1: at + 1,
            },
        };
        // A frame drawn around the region runs across every gutter inside it: only lines
        // away from its edges count.
        let across = match gutter.axis {
            Axis::Rows => r.x0 + MAX_FRAME_PX..r.x1.saturating_sub(MAX_FRAME_PX),
            Axis::Cols => r.y0 + MAX_FRAME_PX..r.y1.saturating_sub(MAX_FRAME_PX),
        };
        across
            .into_iter()
            .any(|at| self.ink.count(line(at)) >= needed)
    }

    /// Whether one line of the gutter, trying the middle ones first, is the figure's background
    /// itself rather than a light part of a panel (a shaded box, a pale membrane).
    fn has_clean_line(&self, r: Rect, gutter: Gutter) -> bool {
        let (across, length) = match gutter.axis {
            Axis::Rows => (r.x0..r.x1, r.width()),
            Axis::Cols => (r.y0..r.y1, r.height()),
        };
        let allowed = self.allowance(length) as usize;
        // From the middle outwards: middle, one after, one before, two after, …
        let middle = (gutter.start + gutter.end) / 2;
        let lines = (0..gutter.end - gutter.start).map(|i| {
            let step = i.div_ceil(2);
            if i % 2 == 1 {
                middle + step
            } else {
                middle - step
            }
        });
        let lines = lines.filter(|&line| (gutter.start..gutter.end).contains(&line));
        let w = self.ink.width as usize;
        lines.take(MAX_CLEAN_LINES_TRIED).any(|offset| {
            let stains = across
                .clone()
                .filter(|&i| {
                    let (x, y) = match gutter.axis {
                        Axis::Rows => (i, r.y0 + offset),
                        Axis::Cols => (r.x0 + offset, i),
                    };
                    self.ink.deviation[y as usize * w + x as usize] > self.clean_tolerance
                })
                .take(allowed + 1)
                .count();
            stains <= allowed
        })
    }

    /// Whether a trimmed region that will not be cut further is a panel worth screening.
    fn is_panel(&self, r: Rect) -> bool {
        let (w, h) = (r.width() as f32, r.height() as f32);
        let ink = self.ink.count(r) as f32;
        // A blot strip (one protein's row of bands) is solid and long: the share of the figure
        // that keeps letters and labels out does not apply to it, only the absolute minimum.
        let strip = || {
            w.min(h) >= self.config.min_panel_side_px as f32
                && w.max(h) >= self.min_side.max(STRIP_ASPECT * w.min(h))
                && ink >= SOLID_SHARE * r.area() as f32
                && self.ink.flat_share(r) < MAX_STRIP_FLAT_SHARE
        };
        if (w < self.min_side || h < self.min_side) && !strip() {
            return false;
        }
        if w.max(h) > self.config.max_sparse_aspect * w.min(h) && ink < 0.5 * r.area() as f32 {
            return false;
        }
        let fill = |axis: Axis, across: u32| {
            let profile = self.ink.profile(r, axis);
            profile
                .iter()
                .filter(|&&n| !self.is_empty(n, across))
                .count() as f32
                / profile.len() as f32
        };
        fill(Axis::Rows, r.width()) >= self.config.min_panel_fill
            && fill(Axis::Cols, r.height()) >= self.config.min_panel_fill
    }
}

/// The two sides of `r` on either side of `gutter`, and the gutter itself.
fn cut(r: Rect, gutter: Gutter) -> (Rect, Rect, Rect) {
    match gutter.axis {
        Axis::Rows => (
            Rect {
                y1: r.y0 + gutter.start,
                ..r
            },
            Rect {
                y0: r.y0 + gutter.end,
                ..r
            },
            Rect {
                y0: r.y0 + gutter.start,
                y1: r.y0 + gutter.end,
                ..r
            },
        ),
        Axis::Cols => (
            Rect {
                x1: r.x0 + gutter.start,
                ..r
            },
            Rect {
                x0: r.x0 + gutter.end,
                ..r
            },
            Rect {
                x0: r.x0 + gutter.start,
                x1: r.x0 + gutter.end,
                ..r
            },
        ),
    }
}

/// Rows top to bottom, each left to right: a box joins the current row when it overlaps the
/// row's first box vertically by at least half the shorter height.
fn reading_order(mut boxes: Vec<Rect>) -> Vec<Rect> {
    boxes.sort_by_key(|b| (b.y0, b.x0));
    let mut rows: Vec<Vec<Rect>> = Vec::new();
    for b in boxes {
        match rows.last_mut() {
            Some(row)
                if {
                    let first = row[0];
                    let overlap = first.y1.min(b.y1).saturating_sub(first.y0.max(b.y0));
                    2 * overlap >= first.height().min(b.height())
                } =>
            {
                row.push(b)
            }
            _ => rows.push(vec![b]),
        }
    }
    rows.into_iter()
        .flat_map(|mut row| {
            row.sort_by_key(|b| (b.x0, b.y0));
            row
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use image::{Rgb, RgbImage};

    use super::*;
    use crate::units::{
        BBox, DocumentId, DocumentInfo, DocumentJob, FigurePart, FigureSource, PageMeta, PixelBox,
    };

    /// The shared real-data folder (see its README.md).
    const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data");

    fn data_dir(sub: &str) -> PathBuf {
        let dir = Path::new(DATA).join(sub);
        assert!(
            dir.is_dir(),
            "test data missing: {} is not a folder; these tests need the shared real-data \
             folder at {DATA} (see its README.md)",
            dir.display()
        );
        dir
    }

    fn pngs(dir: &Path) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
            .map(|entry| entry.expect("directory entry").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "png"))
            .collect();
        files.sort();
        files
    }

    fn load(path: &Path) -> Raster {
        let image = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Raster::from_rgb(image.to_rgb8())
    }

    fn panels() -> Panels {
        Panels::new(PanelsConfig::default()).expect("the default config is valid")
    }

    /// splitmix64: deterministic content without a dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: u32) -> u32 {
            (self.next() % u64::from(n.max(1))) as u32
        }

        fn level(&mut self, lo: u8, hi: u8) -> u8 {
            lo + self.below(u32::from(hi - lo) + 1) as u8
        }
    }

    /// What fills a generated panel.
    #[derive(Debug, Clone, Copy)]
    enum Content {
        /// Colour noise, dark to mid.
        Noise,
        /// A blot: a mid-gray membrane, lanes, dark bands with soft edges, lighter gaps between
        /// lanes.
        Blot,
        /// A colour gradient.
        Gradient,
        /// A textured ring around a large near-white interior.
        LightInside,
        /// A framed plot: a dark frame, a white interior, a curve and a few dots.
        Plot,
    }

    const CONTENTS: [Content; 5] = [
        Content::Noise,
        Content::Blot,
        Content::Gradient,
        Content::LightInside,
        Content::Plot,
    ];

    fn fill(image: &mut RgbImage, b: PixelBox, color: [u8; 3]) {
        for y in b.y0..b.y1 {
            for x in b.x0..b.x1 {
                image.put_pixel(x, y, Rgb(color));
            }
        }
    }

    fn paint(image: &mut RgbImage, b: PixelBox, content: Content, rng: &mut Rng) {
        let (w, h) = (b.width(), b.height());
        match content {
            Content::Noise => {
                for y in b.y0..b.y1 {
                    for x in b.x0..b.x1 {
                        let p = [rng.level(0, 200), rng.level(0, 200), rng.level(0, 200)];
                        image.put_pixel(x, y, Rgb(p));
                    }
                }
            }
            Content::Blot => {
                let lanes = 4 + rng.below(3);
                let lane_w = w / lanes;
                let bands: Vec<(u32, u32)> = (0..3 + rng.below(2))
                    .map(|i| (h * (2 * i + 1) / 9 + rng.below(6), 5 + rng.below(6)))
                    .collect();
                for y in 0..h {
                    for x in 0..w {
                        let in_gap = x % lane_w < 4 || x % lane_w >= lane_w - 4;
                        let membrane = if in_gap { 222 } else { 208 };
                        let mut v = f32::from(rng.level(membrane - 6, membrane + 6));
                        for &(top, thick) in &bands {
                            let d = (y as f32 - (top + thick / 2) as f32).abs();
                            let core = thick as f32 / 2.0;
                            if !in_gap && d < core + 3.0 {
                                let strength = if d <= core {
                                    1.0
                                } else {
                                    (core + 3.0 - d) / 3.0
                                };
                                v -= strength * 150.0;
                            }
                        }
                        let v = v.clamp(0.0, 255.0) as u8;
                        image.put_pixel(b.x0 + x, b.y0 + y, Rgb([v, v, v]));
                    }
                }
            }
            Content::Gradient => {
                for y in 0..h {
                    for x in 0..w {
                        let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
                        let p = [
                            (20.0 + 180.0 * fx) as u8,
                            (40.0 + 130.0 * fy) as u8,
                            (120.0 - 60.0 * fx + 40.0 * fy) as u8,
                        ];
                        image.put_pixel(b.x0 + x, b.y0 + y, Rgb(p));
                    }
                }
            }
            Content::LightInside => {
                for y in b.y0..b.y1 {
                    for x in b.x0..b.x1 {
                        let v = rng.level(70, 160);
                        image.put_pixel(x, y, Rgb([v, v.saturating_add(20), v]));
                    }
                }
                let ring = (w.min(h) / 8).max(8);
                let inner = PixelBox::new(b.x0 + ring, b.y0 + ring, b.x1 - ring, b.y1 - ring);
                fill(image, inner, [250, 250, 250]);
            }
            Content::Plot => {
                fill(image, b, [255, 255, 255]);
                let dark = [40, 40, 40];
                fill(image, PixelBox::new(b.x0, b.y0, b.x1, b.y0 + 2), dark);
                fill(image, PixelBox::new(b.x0, b.y1 - 2, b.x1, b.y1), dark);
                fill(image, PixelBox::new(b.x0, b.y0, b.x0 + 2, b.y1), dark);
                fill(image, PixelBox::new(b.x1 - 2, b.y0, b.x1, b.y1), dark);
                for x in 6..w - 6 {
                    let t = x as f32 / w as f32 * std::f32::consts::TAU;
                    let y = (h as f32 * (0.5 - 0.3 * t.sin())) as u32;
                    fill(
                        image,
                        PixelBox::new(b.x0 + x, b.y0 + y, b.x0 + x + 1, b.y0 + y + 2),
                        [20, 40, 160],
                    );
                }
                for _ in 0..12 {
                    let (x, y) = (8 + rng.below(w - 20), 8 + rng.below(h - 20));
                    fill(
                        image,
                        PixelBox::new(b.x0 + x, b.y0 + y, b.x0 + x + 5, b.y0 + y + 5),
                        [200, 30, 30],
                    );
                }
            }
        }
    }

    /// A panel letter: an 8×10 "A"-like glyph, top-left corner at (x, y).
    fn letter(image: &mut RgbImage, x: u32, y: u32) {
        let ink = [15, 15, 15];
        fill(image, PixelBox::new(x + 2, y, x + 6, y + 2), ink);
        fill(image, PixelBox::new(x, y + 2, x + 2, y + 10), ink);
        fill(image, PixelBox::new(x + 6, y + 2, x + 8, y + 10), ink);
        fill(image, PixelBox::new(x, y + 5, x + 8, y + 7), ink);
    }

    /// A line of "words" (runs of small letter-like glyphs, about half ink) starting at (x, y),
    /// `width` pixels long.
    fn text_line(image: &mut RgbImage, x: u32, y: u32, width: u32, rng: &mut Rng) {
        let ink = [30, 30, 30];
        let mut at = x;
        while at + 30 < x + width {
            for _ in 0..2 + rng.below(5) {
                let top = y + rng.below(2);
                fill(image, PixelBox::new(at, top, at + 5, top + 2), ink);
                fill(image, PixelBox::new(at, top, at + 2, top + 8), ink);
                fill(image, PixelBox::new(at + 3, top + 4, at + 5, top + 8), ink);
                at += 7;
            }
            at += 6;
        }
    }

    const MARGIN: u32 = 30;

    /// A layout: figure size and the panel boxes in reading order.
    fn layout_of(name: &str, g: u32) -> (u32, u32, Vec<PixelBox>) {
        let at = |x: u32, y: u32, w: u32, h: u32| PixelBox::new(x, y, x + w, y + h);
        let m = MARGIN;
        match name {
            "grid 2x2" => {
                let (w, h) = (180, 140);
                let boxes = vec![
                    at(m, m, w, h),
                    at(m + w + g, m, w, h),
                    at(m, m + h + g, w, h),
                    at(m + w + g, m + h + g, w, h),
                ];
                (2 * m + 2 * w + g, 2 * m + 2 * h + g, boxes)
            }
            "row 3x1" => {
                let (w, h) = (150, 190);
                let boxes = (0..3).map(|i| at(m + i * (w + g), m, w, h)).collect();
                (2 * m + 3 * w + 2 * g, 2 * m + h, boxes)
            }
            "column 1x3" => {
                let (w, h) = (320, 100);
                let boxes = (0..3).map(|i| at(m, m + i * (h + g), w, h)).collect();
                (2 * m + w, 2 * m + 3 * h + 2 * g, boxes)
            }
            "tall left, two stacked right" => {
                let (lw, rw, rh) = (200, 230, 120);
                let boxes = vec![
                    at(m, m, lw, 2 * rh + g),
                    at(m + lw + g, m, rw, rh),
                    at(m + lw + g, m + rh + g, rw, rh),
                ];
                (2 * m + lw + g + rw, 2 * m + 2 * rh + g, boxes)
            }
            other => panic!("no layout {other}"),
        }
    }

    /// Draws a compound figure: white page, panels, letters above the panels where a gutter (or
    /// the margin) has room, optionally a caption line, page-white noise and specks.
    fn compose(name: &str, g: u32, seed: u64, extras: bool) -> (Raster, Vec<PixelBox>) {
        let (w, h, boxes) = layout_of(name, g);
        let caption = if extras { 24 } else { 0 };
        let mut rng = Rng(seed);
        let mut image = RgbImage::from_pixel(w, h + caption, Rgb([255, 255, 255]));
        for (i, &b) in boxes.iter().enumerate() {
            let content = CONTENTS[(i + seed as usize) % CONTENTS.len()];
            paint(&mut image, b, content, &mut rng);
            let room = if b.y0 == MARGIN { MARGIN } else { g };
            if room >= 24 {
                letter(&mut image, b.x0, b.y0 - 15);
            }
        }
        if extras {
            text_line(&mut image, MARGIN, h, w - 2 * MARGIN, &mut rng);
            // Page-white that is not quite flat, and a few specks.
            for p in image.pixels_mut() {
                if p.0 == [255, 255, 255] && rng.below(3) == 0 {
                    p.0 = [254, 254, 254];
                }
            }
            for _ in 0..4 {
                let (x, y) = (rng.below(w), rng.below(MARGIN / 2));
                image.put_pixel(x, y, Rgb([0, 0, 0]));
            }
        }
        (Raster::from_rgb(image), boxes)
    }

    /// Every expected box is matched one-to-one with IoU ≥ 0.9, in order, and nothing else is
    /// found.
    fn assert_found(found: &[PixelBox], expected: &[PixelBox], what: &str) {
        let page = |b: &PixelBox| BBox::new(b.x0 as f32, b.y0 as f32, b.x1 as f32, b.y1 as f32);
        assert_eq!(
            found.len(),
            expected.len(),
            "{what}: found {found:?}, expected {expected:?}"
        );
        for (i, (f, e)) in found.iter().zip(expected).enumerate() {
            let iou = page(f).iou(&page(e));
            assert!(
                iou >= 0.9,
                "{what}: panel {i} is {f:?}, expected {e:?} (IoU {iou:.3}); all: {found:?}"
            );
        }
    }

    #[test]
    fn generated_compound_figures_are_split_into_their_panels() {
        let splitter = panels();
        let layouts = [
            "grid 2x2",
            "row 3x1",
            "column 1x3",
            "tall left, two stacked right",
        ];
        for (l, name) in layouts.into_iter().enumerate() {
            for (k, gutter) in [4, 6, 9, 14, 20, 24, 30].into_iter().enumerate() {
                for extras in [false, true] {
                    let seed = (l * 10 + k) as u64;
                    let (raster, expected) = compose(name, gutter, seed, extras);
                    let layout = splitter.layout(&raster);
                    let what = format!("{name}, gutter {gutter} px, seed {seed}, extras {extras}");
                    if let Some(dir) = std::env::var_os("PANELSCOPE_PANELS_OVERLAYS") {
                        let name = format!("generated-{l}-{gutter}-{extras}.png");
                        save_overlay(&raster, &layout.boxes, &Path::new(&dir).join(name));
                    }
                    assert!(!layout.full_bleed, "{what}: taken for a full-bleed picture");
                    assert_found(&layout.boxes, &expected, &what);
                }
            }
        }
    }

    #[test]
    fn panel_letters_and_caption_lines_are_dropped() {
        let (raster, expected) = compose("grid 2x2", 30, 7, true);
        let layout = panels().layout(&raster);
        assert_found(&layout.boxes, &expected, "2x2 with letters and a caption");
        // Four letters (one per panel) and the caption's words, at least.
        assert!(
            layout.fragments_dropped >= 5,
            "dropped {}",
            layout.fragments_dropped
        );
    }

    #[test]
    fn a_single_panel_figure_stays_whole() {
        for (i, content) in CONTENTS.into_iter().enumerate() {
            let mut rng = Rng(i as u64);
            let mut image = RgbImage::from_pixel(400, 300, Rgb([255, 255, 255]));
            let b = PixelBox::new(40, 40, 360, 270);
            paint(&mut image, b, content, &mut rng);
            let layout = panels().layout(&Raster::from_rgb(image));
            assert_found(&layout.boxes, &[b], &format!("one {content:?} panel"));
        }
        // A panel with its letter set closer than a gutter: one panel covering the picture, the
        // letter left out.
        let mut image = RgbImage::from_pixel(400, 300, Rgb([255, 255, 255]));
        paint(
            &mut image,
            PixelBox::new(40, 40, 360, 270),
            Content::Blot,
            &mut Rng(9),
        );
        letter(&mut image, 40, 25);
        let layout = panels().layout(&Raster::from_rgb(image));
        assert_eq!(layout.boxes, vec![PixelBox::new(40, 40, 360, 270)]);
    }

    #[test]
    fn paper_taken_in_past_a_dark_picture_is_shed_but_a_light_margin_stays() {
        // A micrograph whose crop was rounded out by a line of page white below and to its right.
        let dark = RgbImage::from_fn(60, 50, |x, y| {
            if x == 59 || y == 49 {
                Rgb([255, 255, 255])
            } else {
                Rgb([20 + ((x * 7 + y * 3) % 11) as u8, 10, 30])
            }
        });
        let whole = PixelBox::new(0, 0, 60, 50);
        assert_eq!(
            without_paper_edges(&Raster::from_rgb(dark), whole),
            PixelBox::new(0, 0, 59, 49)
        );
        // A blot's membrane is as light at its edge as the line inside: nothing is shed.
        let light = RgbImage::from_fn(60, 50, |x, y| {
            if (20..40).contains(&x) && (20..26).contains(&y) {
                Rgb([40, 40, 40])
            } else {
                Rgb([252, 252, 252])
            }
        });
        assert_eq!(without_paper_edges(&Raster::from_rgb(light), whole), whole);
    }

    #[test]
    fn a_frame_drawn_around_a_picture_is_left_out_of_its_panel() {
        // A plot's axes run along its edges: framed, they are one thicker line, left alone.
        for (i, content) in CONTENTS.into_iter().enumerate() {
            if matches!(content, Content::Plot) {
                continue;
            }
            let picture = PixelBox::new(40, 40, 360, 270);
            let figure = |framed: bool| {
                let mut image = RgbImage::from_pixel(400, 300, Rgb([255, 255, 255]));
                paint(&mut image, picture, content, &mut Rng(i as u64));
                if framed {
                    for (x, y, pixel) in image.enumerate_pixels_mut() {
                        let inside = (40..360).contains(&x) && (40..270).contains(&y);
                        if (37..363).contains(&x) && (37..273).contains(&y) && !inside {
                            *pixel = Rgb([35, 35, 35]);
                        }
                    }
                }
                Figure::new(
                    FigureSource::Detected,
                    BBox::new(0.0, 0.0, 200.0, 150.0),
                    PixelBox::new(0, 0, 400, 300),
                    Raster::from_rgb(image),
                )
            };
            let (bare, _) = panels().split(&figure(false));
            let (framed, _) = panels().split(&figure(true));
            let boxes = |found: &[Panel]| found.iter().map(|p| p.pixel_box).collect::<Vec<_>>();
            assert_eq!(boxes(&framed), boxes(&bare), "{content:?}");
            assert_found(&boxes(&framed), &[picture], &format!("framed {content:?}"));
        }
    }

    #[test]
    fn a_full_bleed_picture_is_one_panel_covering_it() {
        let mut image = RgbImage::new(300, 200);
        paint(
            &mut image,
            PixelBox::new(0, 0, 300, 200),
            Content::Blot,
            &mut Rng(3),
        );
        let layout = panels().layout(&Raster::from_rgb(image));
        assert!(layout.full_bleed);
        assert_eq!(layout.boxes, vec![PixelBox::new(0, 0, 300, 200)]);
    }

    #[test]
    fn panels_cropped_tight_are_split_at_white_gutters() {
        // No margin: the panels touch the figure's edges, only the gutters are page white.
        let boxes = [
            PixelBox::new(0, 0, 200, 150),
            PixelBox::new(210, 0, 400, 150),
            PixelBox::new(0, 160, 200, 300),
            PixelBox::new(210, 160, 400, 300),
        ];
        let mut image = RgbImage::from_pixel(400, 300, Rgb([255, 255, 255]));
        let mut rng = Rng(5);
        for (&b, content) in boxes.iter().zip([
            Content::Noise,
            Content::Blot,
            Content::Gradient,
            Content::Noise,
        ]) {
            paint(&mut image, b, content, &mut rng);
        }
        let layout = panels().layout(&Raster::from_rgb(image));
        assert!(!layout.full_bleed);
        assert_found(&layout.boxes, &boxes, "2x2 cropped tight");
    }

    #[test]
    fn uniform_and_nearly_empty_figures_have_no_panel() {
        for color in [[255, 255, 255], [128, 128, 128], [0, 0, 0], [250, 240, 200]] {
            let image = RgbImage::from_pixel(300, 200, Rgb(color));
            let layout = panels().layout(&Raster::from_rgb(image));
            assert!(layout.boxes.is_empty(), "{color:?}: {layout:?}");
        }
        // A lone panel letter is too small to screen.
        let mut image = RgbImage::from_pixel(300, 200, Rgb([255, 255, 255]));
        letter(&mut image, 100, 100);
        assert!(panels().layout(&Raster::from_rgb(image)).boxes.is_empty());
        // No pixels at all.
        let empty = Raster {
            width: 0,
            height: 0,
            channels: 3,
            data: Vec::new(),
        };
        assert!(panels().layout(&empty).boxes.is_empty());
    }

    #[test]
    fn a_plot_with_large_internal_whitespace_stays_one_panel() {
        // Axes on two sides only (no frame), sparse bars and dots, tick labels, a title: rows and
        // columns of whitespace run through it, but it is one panel.
        let mut image = RgbImage::from_pixel(500, 400, Rgb([255, 255, 255]));
        let mut rng = Rng(11);
        let dark = [30, 30, 30];
        fill(&mut image, PixelBox::new(80, 60, 82, 340), dark); // y axis
        fill(&mut image, PixelBox::new(80, 338, 460, 340), dark); // x axis
        for i in 0..5 {
            let y = 60 + i * 70;
            fill(&mut image, PixelBox::new(74, y, 80, y + 1), dark); // tick
            text_line(&mut image, 40, y - 4, 32, &mut rng); // tick label
        }
        for (i, height) in [120, 60, 200, 30].into_iter().enumerate() {
            let x = 120 + i as u32 * 90;
            fill(
                &mut image,
                PixelBox::new(x, 338 - height, x + 30, 338),
                [0, 0, 0],
            );
        }
        for _ in 0..6 {
            let (x, y) = (100 + rng.below(340), 70 + rng.below(100));
            fill(&mut image, PixelBox::new(x, y, x + 6, y + 6), [200, 30, 30]);
        }
        text_line(&mut image, 200, 30, 120, &mut rng); // title
        text_line(&mut image, 200, 355, 150, &mut rng); // x label
        let layout = panels().layout(&Raster::from_rgb(image));
        assert_eq!(layout.boxes.len(), 1, "{layout:?}");
        let found = layout.boxes[0];
        let plot = PixelBox::new(74, 60, 460, 340);
        assert!(
            found.x0 <= plot.x0
                && found.y0 <= plot.y0
                && found.x1 >= plot.x1
                && found.y1 >= plot.y1,
            "{found:?} does not cover the plot {plot:?}"
        );
    }

    /// `photos` painted as photographs, and a chart's axes 2 px thick along the left and bottom
    /// of `plot`.
    fn photographs_beside_axes(
        image: &mut RgbImage,
        photos: &[PixelBox],
        plot: PixelBox,
        rng: &mut Rng,
    ) {
        for &photo in photos {
            paint(image, photo, Content::Noise, rng);
        }
        let dark = [30, 30, 30];
        fill(
            image,
            PixelBox::new(plot.x0, plot.y0, plot.x0 + 2, plot.y1),
            dark,
        );
        fill(
            image,
            PixelBox::new(plot.x0, plot.y1 - 2, plot.x1, plot.y1),
            dark,
        );
    }

    #[test]
    fn a_chart_beside_photographs_a_thin_gutter_apart_is_a_panel_too() {
        // Three photographs and a chart, each 3 px from the next: too close for a gutter, so
        // the photographs are taken as the solid pieces, and the chart they leave is one more.
        let mut image = RgbImage::from_pixel(900, 400, Rgb([255, 255, 255]));
        let mut rng = Rng(5);
        let photos = [
            PixelBox::new(10, 40, 190, 200),
            PixelBox::new(193, 40, 373, 200),
            PixelBox::new(376, 40, 556, 200),
        ];
        photographs_beside_axes(
            &mut image,
            &photos,
            PixelBox::new(600, 20, 890, 360),
            &mut rng,
        );
        for i in 0..5 {
            let y = 20 + i * 80;
            text_line(&mut image, 559, y, 36, &mut rng); // tick label
        }
        for _ in 0..12 {
            let (x, y) = (620 + rng.below(250), 40 + rng.below(300));
            fill(&mut image, PixelBox::new(x, y, x + 8, y + 8), [200, 30, 30]);
        }
        let layout = panels().layout(&Raster::from_rgb(image));
        assert_eq!(layout.boxes.len(), 4, "{layout:?}");
        assert_found(&layout.boxes[..3], &photos, "photographs");
        let chart = layout.boxes[3];
        assert!(
            chart.x0 <= 600 && chart.x1 >= 890 && chart.y0 <= 20 && chart.y1 >= 360,
            "{chart:?} does not cover the chart"
        );
    }

    /// A scatter chart over `plot`: its axes (see [`photographs_beside_axes`]) and red dots.
    fn scatter(image: &mut RgbImage, plot: PixelBox, rng: &mut Rng) {
        photographs_beside_axes(image, &[], plot, rng);
        for _ in 0..10 {
            let x = plot.x0 + 10 + rng.below(plot.width() - 20);
            let y = plot.y0 + 4 + rng.below(plot.height() - 20);
            fill(image, PixelBox::new(x, y, x + 8, y + 8), [200, 30, 30]);
        }
    }

    #[test]
    fn a_chart_butted_to_one_photograph_shorter_than_it_is_a_panel_of_its_own() {
        // One photograph 3 px from a chart, shorter than it: the photograph is the only solid
        // piece, and the chart it leaves is a panel beside it.
        let mut image = RgbImage::from_pixel(520, 280, Rgb([255, 255, 255]));
        let mut rng = Rng(31);
        let (chart, photo) = (
            PixelBox::new(10, 10, 300, 270),
            PixelBox::new(303, 10, 500, 170),
        );
        scatter(&mut image, chart, &mut rng);
        paint(&mut image, photo, Content::Noise, &mut rng);
        let layout = panels().layout(&Raster::from_rgb(image));
        assert_eq!(layout.boxes.len(), 2, "{layout:?}");
        assert_found(&layout.boxes[1..], &[photo], "photograph");
        let found = layout.boxes[0];
        assert!(
            found.x0 <= chart.x0 && found.x1 <= photo.x0 && found.y1 >= chart.y1 - 2,
            "{found:?} is not the chart alone"
        );
    }

    #[test]
    fn charts_around_photographs_in_an_l_are_each_a_panel() {
        // Photographs in two corners, each 3 px from the charts beside it; the chart under the
        // top one reaches under the chart beside it too. The whole layout: every photograph and
        // chart is a panel of its own. (Here the splitter finds the gutters between the charts
        // by itself; how a piece overlapping a photograph is cut is the next test's.)
        let mut image = RgbImage::from_pixel(848, 455, Rgb([255, 255, 255]));
        let mut rng = Rng(37);
        let photos = [
            PixelBox::new(566, 4, 844, 226),
            PixelBox::new(4, 229, 282, 451),
        ];
        for photo in photos {
            paint(&mut image, photo, Content::Noise, &mut rng);
        }
        let charts = [
            PixelBox::new(12, 16, 271, 217),
            PixelBox::new(295, 16, 563, 217),
            PixelBox::new(285, 229, 513, 451),
            PixelBox::new(524, 238, 784, 442),
        ];
        for chart in charts {
            scatter(&mut image, chart, &mut rng);
        }
        let layout = panels().layout(&Raster::from_rgb(image));
        let mut want = photos.to_vec();
        want.extend(charts);
        let want = reading_order(want.into_iter().map(Rect::from).collect());
        assert_found(
            &layout.boxes,
            &want.into_iter().map(PixelBox::from).collect::<Vec<_>>(),
            "photographs and charts",
        );
    }

    #[test]
    fn what_a_photograph_leaves_of_a_piece_is_cut_where_no_chart_crosses() {
        // A piece of what the photographs left takes in a chart beside the top photograph and a
        // chart reaching under it. Cut along the photograph's side, the lower chart would be
        // two; along its lower edge, every chart is in one part.
        let mut image = RgbImage::from_pixel(848, 455, Rgb([255, 255, 255]));
        let mut rng = Rng(43);
        let photo = PixelBox::new(566, 4, 844, 226);
        paint(&mut image, photo, Content::Noise, &mut rng);
        let charts = [
            PixelBox::new(295, 16, 563, 217),
            PixelBox::new(285, 229, 513, 451),
            PixelBox::new(524, 238, 784, 442),
        ];
        for chart in charts {
            scatter(&mut image, chart, &mut rng);
        }
        let raster = Raster::from_rgb(image);
        let photo = Rect::from(photo);
        let rest = InkMap::new(&raster, &[255, 255, 255], 20).without(&[photo]);
        let piece = Rect::from(PixelBox::new(285, 16, 784, 451));
        let parts = clear_of(&rest, piece, &[photo]);
        assert_eq!(parts.len(), 2, "{parts:?}");
        for chart in charts.map(Rect::from) {
            assert!(
                parts.iter().any(|p| p.contains(&chart)),
                "{chart:?} is cut: {parts:?}"
            );
        }
    }

    #[test]
    fn a_chart_whose_axis_alone_crosses_a_gap_is_not_cut_there() {
        // In a figure 1900 px wide, a row holding three pixels of ink passes for an empty one.
        // A chart's y axis, 3 px wide, alone spans a gap between its dots and tick labels: the
        // gap is no gutter.
        let mut image = RgbImage::from_pixel(1900, 500, Rgb([255, 255, 255]));
        let mut rng = Rng(47);
        let photo = PixelBox::new(420, 10, 1880, 250);
        paint(&mut image, photo, Content::Noise, &mut rng);
        let chart = PixelBox::new(20, 100, 400, 480);
        for y in [110, 200, 290, 380, 470] {
            fill(&mut image, PixelBox::new(20, y, 34, y + 6), [30, 30, 30]); // tick label
        }
        fill(&mut image, PixelBox::new(40, 100, 43, 480), [30, 30, 30]);
        fill(&mut image, PixelBox::new(40, 477, 400, 480), [30, 30, 30]);
        for (x, y) in [
            (100, 100),
            (200, 150),
            (300, 230),
            (150, 320),
            (250, 400),
            (390, 460),
        ] {
            fill(
                &mut image,
                PixelBox::new(x, y, x + 10, y + 10),
                [200, 30, 30],
            );
        }
        let layout = panels().layout(&Raster::from_rgb(image));
        assert_found(&layout.boxes, &[chart, photo], "chart and photograph");
    }

    #[test]
    fn a_lone_band_on_its_pale_membrane_is_the_whole_picture_and_on_paper_the_band() {
        // A band placed as an image of its own with the membrane's grey around it: the grey is
        // the picture's. On white, what is around the band is paper.
        for (ground, whole) in [(222u8, true), (255, false)] {
            let mut image = RgbImage::from_pixel(220, 100, Rgb([ground; 3]));
            let band = PixelBox::new(20, 35, 200, 70);
            fill(&mut image, band, [60, 60, 60]);
            let layout = panels().layout(&Raster::from_rgb(image));
            let want = if whole {
                PixelBox::new(0, 0, 220, 100)
            } else {
                band
            };
            assert_eq!(layout.boxes, [want], "ground {ground}");
        }
    }

    #[test]
    fn a_frame_around_a_flat_dark_ground_stays_wherever_the_first_band_lies() {
        // A 2-px grey frame around a fluorescence image's flat black: what a trim takes must not
        // depend on how near the edge its first band lies, or two copies of it differ by that.
        for band_top in [5, 40] {
            let mut image = RgbImage::from_pixel(200, 160, Rgb([18, 18, 18]));
            let mut rng = Rng(41);
            for p in image.pixels_mut() {
                let v = rng.level(14, 22);
                p.0 = [v; 3];
            }
            for side in [
                PixelBox::new(0, 0, 200, 2),
                PixelBox::new(0, 158, 200, 160),
                PixelBox::new(0, 0, 2, 160),
                PixelBox::new(198, 0, 200, 160),
            ] {
                fill(&mut image, side, [35, 35, 35]);
            }
            fill(
                &mut image,
                PixelBox::new(20, band_top, 180, band_top + 20),
                [200, 200, 200],
            );
            let raster = Raster::from_rgb(image);
            let area = PixelBox::new(0, 0, 200, 160);
            assert_eq!(without_frame(&raster, area), area, "band at {band_top}");
        }
    }

    #[test]
    fn a_chart_a_third_of_the_photographs_beside_it_is_a_panel_whatever_their_letters() {
        // A chart a third the size of the photographs either side of it, 3 px from each: too
        // close for a gutter. The letter heading the second photograph stands beside the chart's
        // top, so what the photographs leave reaches into the second one's columns. The chart
        // is a panel, without the letter.
        let mut image = RgbImage::from_pixel(820, 320, Rgb([255, 255, 255]));
        let mut rng = Rng(23);
        let photos = [
            PixelBox::new(10, 60, 250, 300),
            PixelBox::new(560, 60, 800, 300),
        ];
        photographs_beside_axes(
            &mut image,
            &photos,
            PixelBox::new(253, 20, 557, 120),
            &mut rng,
        );
        for i in 0..4 {
            let (x, y) = (280 + 70 * i, 100 - 20 * i);
            fill(&mut image, PixelBox::new(x, y, x + 8, y + 8), [40, 60, 200]);
        }
        fill(&mut image, PixelBox::new(549, 26, 557, 34), [40, 60, 200]); // 3 px from the letter
        fill(&mut image, PixelBox::new(560, 24, 576, 48), [30, 30, 30]); // the second photograph's letter
        let layout = panels().layout(&Raster::from_rgb(image));
        assert_eq!(layout.boxes.len(), 3, "{layout:?}");
        let chart = layout.boxes[1];
        assert!(
            chart.x0 == 253 && chart.x1 == 557 && chart.y0 == 20 && chart.y1 == 120,
            "{chart:?} is not the chart alone"
        );
        assert_found(&[layout.boxes[0], layout.boxes[2]], &photos, "photographs");
    }

    #[test]
    fn a_diagram_of_filled_boxes_above_a_blot_is_a_panel_of_its_own() {
        // Two strips 3 px apart, and under them a diagram on a pale fill whose boxes are filled
        // in colour, butted to the blot below it: its largest box is a solid piece, but a piece
        // of the diagram, which is the panel.
        let mut image = RgbImage::from_pixel(900, 760, Rgb([255, 255, 255]));
        let mut rng = Rng(17);
        let strips = [
            PixelBox::new(100, 20, 800, 200),
            PixelBox::new(100, 203, 800, 360),
        ];
        for strip in strips {
            paint(&mut image, strip, Content::Blot, &mut rng);
        }
        let diagram = PixelBox::new(100, 420, 530, 632);
        fill(&mut image, diagram, [248, 248, 248]);
        let dark = [60, 60, 60];
        let boxes = [
            (PixelBox::new(120, 440, 210, 470), [250, 200, 210]),
            (PixelBox::new(250, 520, 390, 556), [200, 230, 200]),
            (PixelBox::new(410, 440, 500, 470), [250, 230, 200]),
            (PixelBox::new(130, 590, 230, 616), [220, 220, 220]),
            (PixelBox::new(400, 590, 500, 616), [200, 220, 250]),
        ];
        for (b, color) in boxes {
            fill(&mut image, b, dark);
            fill(
                &mut image,
                PixelBox::new(b.x0 + 2, b.y0 + 2, b.x1 - 2, b.y1 - 2),
                color,
            );
            text_line(
                &mut image,
                b.x0 + 8,
                (b.y0 + b.y1) / 2 - 4,
                b.x1 - b.x0 - 10,
                &mut rng,
            );
        }
        fill(&mut image, PixelBox::new(165, 470, 167, 590), dark); // arrows
        fill(&mut image, PixelBox::new(319, 470, 321, 520), dark);
        fill(&mut image, PixelBox::new(455, 470, 457, 590), dark);
        let blot = PixelBox::new(100, 632, 800, 740);
        paint(&mut image, blot, Content::Blot, &mut rng);
        let layout = panels().layout(&Raster::from_rgb(image));
        // A fill this pale is paper to the splitter: the panel is what is drawn on it.
        let drawn = PixelBox::new(120, 440, 500, 616);
        assert_found(
            &layout.boxes,
            &[strips[0], strips[1], drawn, blot],
            "panels",
        );
    }

    #[test]
    fn a_blot_strip_thinner_than_the_share_rule_is_a_panel() {
        // A column of labelled strips in a figure 700 px high: its panels need 56 px a side, but
        // the strip 40 px high (one protein's row of bands) is a panel still.
        let mut image = RgbImage::from_pixel(900, 700, Rgb([255, 255, 255]));
        let mut rng = Rng(11);
        let strips = [
            PixelBox::new(100, 20, 700, 120),
            PixelBox::new(100, 150, 400, 190),
            PixelBox::new(100, 220, 700, 320),
            PixelBox::new(100, 350, 700, 450),
            PixelBox::new(100, 480, 700, 580),
        ];
        for strip in strips {
            paint(&mut image, strip, Content::Blot, &mut rng);
            let middle = (strip.y0 + strip.y1) / 2 - 4;
            text_line(&mut image, 30, middle, 60, &mut rng);
            text_line(&mut image, strip.x1 + 20, middle, 110, &mut rng);
        }
        let layout = panels().layout(&Raster::from_rgb(image));
        assert_found(&layout.boxes, &strips, "strips");
    }

    #[test]
    fn a_strip_thinner_than_a_panel_is_one_unless_a_lone_band_or_lettering() {
        // Placed as images of their own at a few pixels a point: a row of lanes 24 px tall, a
        // lone band as tall, and a row of panel letters on paper.
        let mut rng = Rng(31);
        let mut lanes = RgbImage::from_pixel(200, 24, Rgb([255, 255, 255]));
        paint(
            &mut lanes,
            PixelBox::new(0, 0, 200, 24),
            Content::Blot,
            &mut rng,
        );
        let found = panels().layout(&Raster::from_rgb(lanes)).boxes;
        assert_eq!(found, vec![PixelBox::new(0, 0, 200, 24)]);

        let mut band = RgbImage::from_pixel(60, 24, Rgb([255, 255, 255]));
        paint(
            &mut band,
            PixelBox::new(0, 0, 60, 24),
            Content::Blot,
            &mut rng,
        );
        assert_eq!(panels().layout(&Raster::from_rgb(band)).boxes, vec![]);

        let mut letters = RgbImage::from_pixel(400, 24, Rgb([255, 255, 255]));
        for x in [4, 200] {
            fill(&mut letters, PixelBox::new(x, 4, x + 12, 20), [20, 20, 20]);
        }
        assert_eq!(panels().layout(&Raster::from_rgb(letters)).boxes, vec![]);
    }

    #[test]
    fn ink_runs_bridge_short_gaps_only() {
        assert_eq!(ink_runs(&[0, 0, 0], 3), 0);
        // A marker's number and its tick, a column apart: one label.
        assert_eq!(ink_runs(&[0, 4, 6, 0, 2, 2, 0, 0], 3), 1);
        // Tick labels along an axis, far apart: one run each.
        let axis = [
            [3, 5, 3].as_slice(),
            &[0; 20],
            &[4, 4],
            &[0; 20],
            &[2, 6, 1],
        ]
        .concat();
        assert_eq!(ink_runs(&axis, 3), 3);
    }

    #[test]
    fn a_marker_label_touching_a_strip_is_left_out_whatever_the_strip_s_far_edge() {
        // A molecular-weight marker ("26 —") whose tick comes closer to the strip than a gutter
        // (two pixels, as in the synthetic catalog's renders): beside a strip turned upright it
        // is a third of the panel's width; beside a wide strip whose right end fades to the
        // paper, it still goes while the faded end stays.
        let mut rng = Rng(5);
        let mut upright = RgbImage::from_pixel(300, 500, Rgb([255, 255, 255]));
        let tall = PixelBox::new(90, 40, 140, 460);
        paint(&mut upright, tall, Content::Blot, &mut rng);
        text_line(&mut upright, 52, 246, 20, &mut rng);
        fill(&mut upright, PixelBox::new(74, 249, 88, 251), [15, 15, 15]);
        // The strip's edge lanes are paler than its middle, as a membrane's often are.
        for x in tall.x0..tall.x0 + 8 {
            for y in (tall.y0..tall.y1).step_by(6) {
                upright.put_pixel(x, y, Rgb([252, 252, 252]));
            }
        }
        let layout = panels().layout(&Raster::from_rgb(upright));
        assert_found(&layout.boxes, &[tall], "upright strip");
        assert!(layout.boxes[0].x0 >= tall.x0 - 2, "{:?}", layout.boxes);

        let mut wide = RgbImage::from_pixel(700, 200, Rgb([255, 255, 255]));
        let strip = PixelBox::new(110, 40, 640, 160);
        paint(&mut wide, strip, Content::Blot, &mut rng);
        for x in 560..strip.x1 {
            let paper = (x - 560) as f32 / (strip.x1 - 560) as f32;
            for y in strip.y0..strip.y1 {
                let pixel = wide.get_pixel_mut(x, y);
                for channel in pixel.0.iter_mut() {
                    *channel = (*channel as f32 * (1.0 - paper) + 255.0 * paper) as u8;
                }
            }
        }
        text_line(&mut wide, 40, 96, 50, &mut rng);
        fill(&mut wide, PixelBox::new(94, 99, 108, 101), [15, 15, 15]);
        let layout = panels().layout(&Raster::from_rgb(wide));
        assert_eq!(layout.boxes.len(), 1, "{:?}", layout.boxes);
        let found = layout.boxes[0];
        assert!(
            (strip.x0 - 2..=strip.x0 + 2).contains(&found.x0) && found.x1 >= 600,
            "{found:?}, expected about {strip:?}"
        );
    }

    #[test]
    fn a_drawn_label_box_is_one_flat_fill_and_a_blot_strip_is_not() {
        // The node of a pathway diagram is as long and as solid as a strip; its fill is what
        // keeps it from passing as one.
        let mut image = RgbImage::from_pixel(500, 100, Rgb([255, 255, 255]));
        let mut rng = Rng(12);
        let strip = PixelBox::new(10, 10, 410, 50);
        paint(&mut image, strip, Content::Blot, &mut rng);
        let node = PixelBox::new(10, 55, 410, 95);
        fill(&mut image, node, [250, 200, 210]);
        fill(&mut image, PixelBox::new(10, 55, 410, 57), [40, 40, 40]);
        fill(&mut image, PixelBox::new(10, 93, 410, 95), [40, 40, 40]);
        text_line(&mut image, 150, 67, 120, &mut rng);
        let ink = InkMap::new(&Raster::from_rgb(image), &[255, 255, 255], 20);
        let rect = Rect::from;
        let (strip_flat, node_flat) = (ink.flat_share(rect(strip)), ink.flat_share(rect(node)));
        assert!(strip_flat < MAX_STRIP_FLAT_SHARE, "strip: {strip_flat}");
        assert!(node_flat >= MAX_STRIP_FLAT_SHARE, "node: {node_flat}");
    }

    #[test]
    fn a_blot_on_white_with_soft_lanes_stays_one_panel() {
        // A blot whose membrane is page white: lanes fade in and out, and the white between them
        // looks like gutters.
        let mut image = RgbImage::from_pixel(420, 260, Rgb([255, 255, 255]));
        for lane in 0..5u32 {
            let (x0, x1) = (30 + lane * 75, 30 + lane * 75 + 55);
            for y in 20..240u32 {
                for x in x0..x1 {
                    // A membrane fading in over 10 px from each lane edge, and two bands.
                    let edge = (x - x0).min(x1 - 1 - x).min(10) as f32 / 10.0;
                    let band = [80u32, 170]
                        .iter()
                        .map(|&c| (1.0 - (y as f32 - c as f32).abs() / 8.0).max(0.0))
                        .fold(0.0f32, f32::max);
                    let v = 255.0 - edge * (40.0 + 170.0 * band);
                    let v = v.clamp(0.0, 255.0) as u8;
                    image.put_pixel(x, y, Rgb([v, v, v]));
                }
            }
        }
        let layout = panels().layout(&Raster::from_rgb(image));
        assert_eq!(layout.boxes.len(), 1, "{layout:?}");
    }

    #[test]
    fn a_blot_whose_lanes_are_set_apart_by_thin_light_columns_stays_one_panel() {
        // Grey lanes with hard edges, 10 px of white between them, each with two bands: pieces
        // side by side over the same rows, each far taller than wide, are lanes, not panels.
        let mut image = RgbImage::from_pixel(540, 300, Rgb([255, 255, 255]));
        for lane in 0..10u32 {
            let (x0, x1) = (20 + lane * 50, 20 + lane * 50 + 40);
            for y in 20..280u32 {
                for x in x0..x1 {
                    let band = [70u32 + lane * 3, 180]
                        .iter()
                        .map(|&c| (1.0 - (y as f32 - c as f32).abs() / 9.0).max(0.0))
                        .fold(0.0f32, f32::max);
                    let v = (200.0 - 150.0 * band).clamp(0.0, 255.0) as u8;
                    image.put_pixel(x, y, Rgb([v, v, v]));
                }
            }
        }
        let layout = panels().layout(&Raster::from_rgb(image));
        assert_eq!(layout.boxes, vec![PixelBox::new(20, 20, 510, 280)]);
    }

    /// Two of the 319 are DALL·E pictures "of blots" crossed from edge to edge by bands of pure
    /// white: exactly what panels cropped tight look like (the white bands are taken for the
    /// page between them), so they come out as 3 strips each. One real crop has a membrane as
    /// white as a page (248–255) and a blank band from edge to edge between its lanes: it is
    /// parted there, as two panels cropped tight around a recompressed white gutter would be
    /// (the price of finding those). Two more DALL·E pictures are collages: four red blocks
    /// over four more with a ruled line from edge to edge between the two rows, and a grey blot
    /// butted against a brown photograph at a straight edge; they are parted there, as stacked
    /// strips and butted pictures are. Every other real crop stays whole.
    const BLOTS_THAT_LOOK_COMPOUND: [&str; 5] = [
        "polimi_dall_e__img_000017_patch_001_western_blots_with_detailed_background_3.png",
        "polimi_dall_e__img_000017_patch_042_western_blots_with_detailed_background_3.png",
        "polimi_dall_e__google_000006_patch_035_western_blots_with_detailed_background_2.png",
        "polimi_dall_e__img_000003_patch_027_western_blots_with_detailed_background_2.png",
        "polimi__lf_64x64_google_000091_patch_000.png",
    ];

    #[test]
    fn real_blots_stay_whole() {
        let files = pngs(&data_dir("blots/polimi"));
        assert!(
            files.len() >= 300,
            "expected the 319 polimi blots, found {}",
            files.len()
        );
        let splitter = panels();
        let (mut whole, mut wrong) = (0, Vec::new());
        for path in &files {
            let count = splitter.layout(&load(path)).boxes.len();
            let name = path.file_name().expect("file name").to_string_lossy();
            if count == 1 {
                whole += 1;
            } else if !BLOTS_THAT_LOOK_COMPOUND.contains(&name.as_ref()) {
                wrong.push(format!("{name} → {count} panels"));
            }
        }
        println!("{whole} of {} real blots stayed one panel", files.len());
        assert!(
            wrong.is_empty(),
            "{} of {} real blots did not stay one panel:\n{}",
            wrong.len(),
            files.len(),
            wrong.join("\n")
        );
    }

    /// How much line `at` of `panel` differs from the line before it over `share` of its length:
    /// the `1 - share` quantile of the largest channel difference (the reference that
    /// [`seam_strengths`] must equal).
    fn seam_strength_over(raster: &Raster, panel: Rect, axis: Axis, at: u32, share: f32) -> u64 {
        let (w, channels) = (raster.width as usize, usize::from(raster.channels.max(1)));
        let pixel = |x: u32, y: u32| (y as usize * w + x as usize) * channels;
        let (this, before, step, len) = match axis {
            Axis::Cols => (
                pixel(at, panel.y0),
                pixel(at - 1, panel.y0),
                w * channels,
                panel.height() as usize,
            ),
            Axis::Rows => (
                pixel(panel.x0, at),
                pixel(panel.x0, at - 1),
                channels,
                panel.width() as usize,
            ),
        };
        if len == 0 {
            return 0;
        }
        // Differences are bytes: counting them finds the quantile without sorting a copy.
        let mut counts = [0u32; 256];
        for n in 0..len {
            let (a, b) = (this + n * step, before + n * step);
            counts[usize::from(deviation(
                &raster.data[a..a + channels],
                &raster.data[b..b + channels],
            ))] += 1;
        }
        let k = (((1.0 - share) * len as f32) as usize).min(len - 1);
        u64::from(kth_smallest(&counts, k))
    }

    #[test]
    fn seam_strengths_of_all_lines_equal_each_line_alone() {
        let files = pngs(&data_dir("blots/polimi"));
        for path in files.iter().step_by(40) {
            let raster = load(path);
            let (w, h) = (raster.width, raster.height);
            let inner = Rect {
                x0: w / 7,
                y0: h / 5,
                x1: w - w / 9,
                y1: h - h / 6,
            };
            for (axis, start) in [(Axis::Rows, inner.y0), (Axis::Cols, inner.x0)] {
                let all = seam_strengths(&raster, inner, axis, SEAM_SHARE);
                let alone: Vec<u64> = (0..all.len() as u32)
                    .map(|i| match i {
                        0 => 0,
                        _ => seam_strength_over(&raster, inner, axis, start + i, SEAM_SHARE),
                    })
                    .collect();
                assert_eq!(all, alone, "{} along {axis:?}", path.display());
            }
        }
    }

    /// Set `PANELSCOPE_PANELS_OVERLAYS=<dir>` to get each figure with its panel boxes drawn.
    #[test]
    fn real_compound_figures_are_split() {
        let files = pngs(&data_dir("figures/figure-separator"));
        assert_eq!(files.len(), 7, "expected the 7 figure-separator figures");
        let overlays = std::env::var_os("PANELSCOPE_PANELS_OVERLAYS").map(PathBuf::from);
        let splitter = panels();
        let mut report = Vec::new();
        for path in &files {
            let raster = load(path);
            let layout = splitter.layout(&raster);
            let name = path
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .to_string();
            report.push((name.clone(), layout.boxes.len()));
            if let Some(dir) = &overlays {
                save_overlay(&raster, &layout.boxes, &dir.join(&name));
            }
        }
        println!("panels per figure: {report:?}");
        for (name, count) in &report {
            assert!(*count >= 2, "{name}: {count} panel(s); all: {report:?}");
        }
    }

    /// Writes `raster` with `boxes` drawn on it (3 px outlines, colours cycling in reading order).
    fn save_overlay(raster: &Raster, boxes: &[PixelBox], path: &Path) {
        let mut image = raster.to_rgb();
        for (i, b) in boxes.iter().enumerate() {
            let color = [[230, 0, 0], [0, 160, 0], [0, 0, 230], [200, 0, 200]][i % 4];
            outline(&mut image, *b, color);
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("overlay folder");
        }
        image
            .save(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }

    fn outline(image: &mut RgbImage, b: PixelBox, color: [u8; 3]) {
        let (w, h) = image.dimensions();
        for t in 0..3 {
            for x in b.x0..b.x1.min(w) {
                for y in [b.y0 + t, b.y1.saturating_sub(1 + t)] {
                    if y < h {
                        image.put_pixel(x, y, Rgb(color));
                    }
                }
            }
            for y in b.y0..b.y1.min(h) {
                for x in [b.x0 + t, b.x1.saturating_sub(1 + t)] {
                    if x < w {
                        image.put_pixel(x, y, Rgb(color));
                    }
                }
            }
        }
    }

    #[test]
    fn reading_order_is_rows_top_to_bottom_then_left_to_right() {
        let r = |x0, y0, x1, y1| Rect { x0, y0, x1, y1 };
        // One tall panel on the left, two stacked on the right.
        let tall_left = vec![r(50, 52, 100, 100), r(0, 0, 40, 100), r(50, 0, 100, 48)];
        assert_eq!(
            reading_order(tall_left),
            vec![r(0, 0, 40, 100), r(50, 0, 100, 48), r(50, 52, 100, 100)]
        );
        // Two stacked on the left, one tall on the right: the tall one belongs to the first row.
        let tall_right = vec![r(0, 52, 48, 100), r(52, 0, 100, 100), r(0, 0, 48, 48)];
        assert_eq!(
            reading_order(tall_right),
            vec![r(0, 0, 48, 48), r(52, 0, 100, 100), r(0, 52, 48, 100)]
        );
        // A grid whose second column starts a little higher is still read row by row.
        let grid = vec![
            r(60, 0, 100, 40),
            r(0, 3, 40, 43),
            r(60, 50, 100, 90),
            r(0, 53, 40, 93),
        ];
        assert_eq!(
            reading_order(grid),
            vec![
                r(0, 3, 40, 43),
                r(60, 0, 100, 40),
                r(0, 53, 40, 93),
                r(60, 50, 100, 90)
            ]
        );
    }

    fn meta(index: u32) -> PageMeta {
        let id = DocumentId::of_bytes(b"%PDF-1.7 panels test");
        let path: Arc<Path> = Arc::from(Path::new("/papers/test.pdf"));
        let job = DocumentJob {
            id,
            path: path.to_path_buf(),
            size: 20,
            position: 0,
        };
        let document = Arc::new(DocumentInfo {
            job,
            pages: 3,
            title: None,
            pages_screened: 3,
            deadline_unix_ms: 0,
        });
        PageMeta {
            document,
            doc: id,
            path,
            index,
            pages_screened: 3,
            width_pt: 612.0,
            height_pt: 792.0,
            dpi: 144.0,
            width_px: 1224,
            height_px: 1584,
            text_chars: 0,
        }
    }

    #[test]
    fn panels_carry_page_space_boxes_and_their_pixels() {
        let (raster, expected) = compose("grid 2x2", 20, 1, false);
        // The raster is drawn at 2 px per point from (100, 200) on the page.
        let bbox = BBox::new(
            100.0,
            200.0,
            100.0 + raster.width as f32 / 2.0,
            200.0 + raster.height as f32 / 2.0,
        );
        let pixel_box = PixelBox::new(200, 400, 200 + raster.width, 400 + raster.height);
        let figure = Figure::new(FigureSource::Embedded, bbox, pixel_box, raster);
        let (found, _) = panels().split(&figure);
        assert_eq!(found.len(), 4);
        for (panel, want) in found.iter().zip(&expected) {
            assert_eq!(panel.pixel_box, *want);
            let page = BBox::new(
                100.0 + want.x0 as f32 / 2.0,
                200.0 + want.y0 as f32 / 2.0,
                100.0 + want.x1 as f32 / 2.0,
                200.0 + want.y1 as f32 / 2.0,
            );
            assert!(
                panel.bbox.iou(&page) > 0.999,
                "{:?} vs {page:?}",
                panel.bbox
            );
            assert_eq!(
                (panel.raster.width, panel.raster.height),
                (want.width(), want.height())
            );
            assert_eq!(panel.raster, figure.raster.crop(*want));
        }
    }

    #[test]
    fn the_stage_answers_every_page_once_even_without_figures() {
        let (raster, _) = compose("row 3x1", 12, 0, false);
        let (bbox, pixel_box) = (
            BBox::new(0.0, 0.0, raster.width as f32, raster.height as f32),
            PixelBox::new(0, 0, raster.width, raster.height),
        );
        let figure = Figure {
            caption: Some("Figure 1. Three panels.".to_string()),
            ..Figure::new(FigureSource::Detected, bbox, pixel_box, raster)
        };
        let pages = vec![
            PageFigures {
                meta: meta(0),
                figures: Vec::new(),
            },
            PageFigures {
                meta: meta(1),
                figures: vec![figure.clone()],
            },
        ];
        let mut stage = PanelsConfig::default()
            .build(&BuildContext::detached("panels"))
            .expect("default config builds");
        let results = stage.process(&pages);
        assert_eq!(results.len(), 2);
        let outputs: Vec<PagePanels> = results
            .into_iter()
            .map(|result| match result {
                Ok(Outputs::One(page)) => page,
                other => panic!("expected one output per page, got {other:?}"),
            })
            .collect();
        assert_eq!(outputs[0].meta, pages[0].meta);
        assert!(outputs[0].figures.is_empty());
        assert_eq!(outputs[1].figures.len(), 1);
        assert_eq!(outputs[1].figures[0].figure, figure);
        assert_eq!(outputs[1].figures[0].panels.len(), 3);
        let short = pages[1].meta.doc.short();
        assert_eq!(stage.describe(&pages[1]), format!("doc {short} page 2"));
        assert_eq!(stage.key(&pages[1]), Some(pages[1].meta.doc.to_hex()));
    }

    #[test]
    fn config_round_trips_through_toml() {
        let config = PanelsConfig {
            ink_tolerance: 30,
            min_gutter_px: 6,
            min_panel_fill: 0.4,
            ..PanelsConfig::default()
        };
        let text = toml::to_string(&config).expect("serializes");
        assert_eq!(
            toml::from_str::<PanelsConfig>(&text).expect("parses"),
            config
        );
        // Missing fields take their defaults; unknown ones are refused.
        let partial: PanelsConfig = toml::from_str("min_gutter_px = 8").expect("parses");
        assert_eq!(
            partial,
            PanelsConfig {
                min_gutter_px: 8,
                ..PanelsConfig::default()
            }
        );
        let typo = toml::from_str::<PanelsConfig>("min_gutter = 8").unwrap_err();
        assert!(typo.to_string().contains("min_gutter"), "{typo}");
    }

    #[test]
    fn build_refuses_a_bad_config_naming_the_field() {
        let cases = [
            (
                PanelsConfig {
                    min_panel_fill: 1.5,
                    ..Default::default()
                },
                "panels.min_panel_fill",
            ),
            (
                PanelsConfig {
                    flat_border_share: f32::NAN,
                    ..Default::default()
                },
                "panels.flat_border_share",
            ),
            (
                PanelsConfig {
                    min_gutter_px: 0,
                    ..Default::default()
                },
                "panels.min_gutter_px",
            ),
            (
                PanelsConfig {
                    min_panel_side_px: 0,
                    ..Default::default()
                },
                "panels.min_panel_side_px",
            ),
            (
                PanelsConfig {
                    ink_tolerance: 255,
                    ..Default::default()
                },
                "panels.ink_tolerance",
            ),
            (
                PanelsConfig {
                    gutter_flat_tolerance: 30,
                    ..Default::default()
                },
                "panels.gutter_flat_tolerance",
            ),
            (
                PanelsConfig {
                    max_sparse_aspect: 0.5,
                    ..Default::default()
                },
                "panels.max_sparse_aspect",
            ),
            (
                PanelsConfig {
                    max_dropped_ink_share: -0.1,
                    ..Default::default()
                },
                "panels.max_dropped_ink_share",
            ),
        ];
        for (config, field) in cases {
            let error = match config.build(&BuildContext::detached("panels")) {
                Ok(_) => panic!("{field}: a bad value was accepted"),
                Err(error) => error,
            };
            assert!(error.message.contains(field), "{field}: {}", error.message);
            assert!(!error.is_retryable());
        }
    }

    /// Draws a frame `thick` pixels wide just inside `b`.
    fn frame(image: &mut RgbImage, b: PixelBox, thick: u32) {
        fill(
            image,
            PixelBox::new(b.x0, b.y0, b.x1, b.y0 + thick),
            [0, 0, 0],
        );
        fill(
            image,
            PixelBox::new(b.x0, b.y1 - thick, b.x1, b.y1),
            [0, 0, 0],
        );
        fill(
            image,
            PixelBox::new(b.x0, b.y0, b.x0 + thick, b.y1),
            [0, 0, 0],
        );
        fill(
            image,
            PixelBox::new(b.x1 - thick, b.y0, b.x1, b.y1),
            [0, 0, 0],
        );
    }

    #[test]
    fn touching_panels_are_parted_at_their_frames() {
        let expected = [
            PixelBox::new(0, 0, 240, 300),
            PixelBox::new(240, 0, 420, 150),
            PixelBox::new(240, 150, 420, 300),
        ];
        let mut rng = Rng(7);
        let mut image = RgbImage::from_pixel(420, 300, Rgb([255, 255, 255]));
        for (&b, content) in expected
            .iter()
            .zip([Content::Blot, Content::Gradient, Content::Noise])
        {
            paint(&mut image, b, content, &mut rng);
            frame(&mut image, b, 2);
        }
        let found = panels().layout(&Raster::from_rgb(image)).boxes;
        assert_found(&found, &expected, "framed panels without gutters");
    }

    #[test]
    fn touching_framed_panels_with_paper_around_them_are_parted_at_their_frames() {
        // The same grid set with a margin of paper around it: its frame lines run across the
        // grid, not across the paper.
        let margin = 18;
        let expected = [
            PixelBox::new(margin, margin, margin + 240, margin + 300),
            PixelBox::new(margin + 240, margin, margin + 420, margin + 150),
            PixelBox::new(margin + 240, margin + 150, margin + 420, margin + 300),
        ];
        let mut rng = Rng(7);
        let mut image = RgbImage::from_pixel(420 + 2 * margin, 300 + 2 * margin, Rgb([255; 3]));
        for (&b, content) in expected
            .iter()
            .zip([Content::Blot, Content::Gradient, Content::Noise])
        {
            paint(&mut image, b, content, &mut rng);
            frame(&mut image, b, 2);
        }
        let found = panels().layout(&Raster::from_rgb(image)).boxes;
        assert_found(&found, &expected, "framed panels without gutters");
    }

    #[test]
    fn a_drawing_is_not_parted_at_its_rules() {
        // A table drawn in vectors: grey header cells ruled in black. Its rules are its own, not
        // the frames of separate pictures.
        let mut image = RgbImage::from_pixel(420, 120, Rgb([255, 255, 255]));
        let cells = [
            PixelBox::new(0, 0, 140, 40),
            PixelBox::new(140, 0, 280, 40),
            PixelBox::new(280, 0, 420, 40),
            PixelBox::new(0, 40, 140, 120),
            PixelBox::new(140, 40, 280, 120),
            PixelBox::new(280, 40, 420, 120),
        ];
        for (i, &b) in cells.iter().enumerate() {
            fill(
                &mut image,
                b,
                if i < 3 {
                    [200, 200, 200]
                } else {
                    [255, 255, 255]
                },
            );
            frame(&mut image, b, 1);
        }
        let raster = Raster::from_rgb(image);
        let figure = |source| {
            let (bbox, pixel_box) = (
                BBox::new(0.0, 0.0, 210.0, 60.0),
                PixelBox::new(0, 0, 420, 120),
            );
            Figure::new(source, bbox, pixel_box, raster.clone())
        };
        // Taken for framed pictures, its cells would be panels, were a drawing's pieces not kept
        // together.
        let pieces = Panels::new(PanelsConfig {
            drawings_whole: false,
            ..PanelsConfig::default()
        })
        .expect("valid");
        let (as_picture, _) = pieces.split(&figure(FigureSource::Embedded));
        assert!(as_picture.len() > 1, "{as_picture:?}");
        let (as_picture, _) = panels().split(&figure(FigureSource::Embedded));
        assert_eq!(as_picture.len(), 1, "{as_picture:?}");
        let (as_drawing, _) = pieces.split(&figure(FigureSource::Detected));
        assert_eq!(
            as_drawing.len(),
            1,
            "{:?}",
            as_drawing.iter().map(|p| p.bbox).collect::<Vec<_>>()
        );
    }

    #[test]
    fn photographs_butted_in_an_l_are_solid_pieces_and_bars_on_an_axis_are_not() {
        // A tall micrograph with two small ones butted to its left side at the top and paper
        // under them: one piece of ink, too ragged to be one solid picture.
        let mut image = RgbImage::from_pixel(944, 845, Rgb([255, 255, 255]));
        let mut rng = Rng(17);
        let pictures = [
            PixelBox::new(13, 13, 147, 89),
            PixelBox::new(147, 13, 277, 124),
            PixelBox::new(277, 13, 931, 832),
        ];
        // A fluorescence image (cells on black) and a stained section (pink shading), as the
        // pictures of such a figure are.
        for (k, b) in pictures.iter().enumerate() {
            for y in b.y0..b.y1 {
                for x in b.x0..b.x1 {
                    let grain = rng.below(7) as u8;
                    let pixel = if k == 1 {
                        let shade =
                            200.0 + 30.0 * ((x as f32 / 9.0).sin() * (y as f32 / 13.0).cos());
                        [shade as u8 + grain / 2, 150 + grain, 190]
                    } else {
                        let cell = ((x / 40 + y / 40) % 3 == 0) && (x % 40 > 8) && (y % 40 > 8);
                        if cell {
                            [20, 150 + grain * 8, 60]
                        } else {
                            [grain, grain, grain]
                        }
                    };
                    image.put_pixel(x, y, Rgb(pixel));
                }
            }
        }
        let solid_pieces = |image: RgbImage| {
            let raster = Raster::from_rgb(image);
            let config = PanelsConfig::default();
            let ink = InkMap::new(&raster, &[255, 255, 255], config.ink_tolerance);
            let region = ink.trim(Rect::from(PixelBox::new(0, 0, raster.width, raster.height)));
            solid_parts(
                &raster,
                &ink,
                &[255, 255, 255],
                region.expect("ink"),
                config.min_panel_side_px,
                min_gutter(&raster, &config),
                config.gutter_flat_tolerance,
            )
        };
        let page = |b: &Rect| BBox::new(b.x0 as f32, b.y0 as f32, b.x1 as f32, b.y1 as f32);
        let tall = page(&Rect::from(pictures[2]));
        let pieces = solid_pieces(image).expect("pictures butted in an L are solid pieces");
        assert!(
            pieces.iter().any(|piece| page(piece).iou(&tall) >= 0.95),
            "the tall micrograph is not a piece of its own: {pieces:?}"
        );
        // Two flat bars side by side on their axis are a piece of ink as ragged, cut into
        // rectangles as readily: but flat fills, a chart's, not pictures.
        let mut image = RgbImage::from_pixel(600, 500, Rgb([255, 255, 255]));
        fill(&mut image, PixelBox::new(40, 470, 560, 476), [0, 0, 0]);
        fill(&mut image, PixelBox::new(40, 20, 46, 476), [0, 0, 0]);
        for (x0, top) in [(46, 300), (176, 120)] {
            fill(
                &mut image,
                PixelBox::new(x0, top, x0 + 130, 470),
                [60, 90, 200],
            );
        }
        assert_eq!(solid_pieces(image), None);
    }

    #[test]
    fn pale_blots_butted_in_a_step_are_cut_along_their_seam_not_through_one() {
        // A dark micrograph at the top left, a pale blot beside it reaching twice as low, and
        // a pale blot as wide under them both, offset left: paper under the micrograph and
        // right of the lower blot. The pale membranes are ink only in patches beside their
        // bands, faint marks all over, and the extent of ink across the rows steps nowhere: the cut between the blots runs where
        // the ink's columns end, along the seam, and neither blot is sliced.
        let mut image = RgbImage::from_pixel(800, 912, Rgb([255, 255, 255]));
        let mut rng = Rng(29);
        let micrograph = PixelBox::new(6, 6, 236, 152);
        let upper = PixelBox::new(236, 6, 792, 456);
        let lower = PixelBox::new(6, 456, 562, 906);
        for y in micrograph.y0..micrograph.y1 {
            for x in micrograph.x0..micrograph.x1 {
                let grain = rng.below(9) as u8;
                let cell = (x / 30 + y / 30) % 3 == 0 && x % 30 > 6 && y % 30 > 6;
                let pixel = if cell {
                    [30, 160 + grain * 6, 70]
                } else {
                    [grain, grain, grain]
                };
                image.put_pixel(x, y, Rgb(pixel));
            }
        }
        // Two real blots on pale membranes, drawn at the size of their places.
        let polimi = data_dir("blots/polimi");
        for (blot, file, exposure) in [
            (upper, "polimi__lf_64x64_google_000040_patch_000.png", 0.94),
            (lower, "polimi__lf_64x64_img_000003_patch_000.png", 0.86),
        ] {
            let mut picture = image::open(polimi.join(file))
                .expect("a real blot")
                .to_rgb8();
            // Each scanned a little darker, its own way: the membranes pale grays, not the
            // paper's white.
            for pixel in picture.pixels_mut() {
                pixel.0 = pixel.0.map(|level| (f32::from(level) * exposure) as u8);
            }
            let picture = image::imageops::resize(
                &picture,
                blot.x1 - blot.x0,
                blot.y1 - blot.y0,
                image::imageops::FilterType::CatmullRom,
            );
            image::imageops::replace(&mut image, &picture, blot.x0.into(), blot.y0.into());
        }
        let raster = Raster::from_rgb(image);
        let config = PanelsConfig::default();
        let ink = InkMap::new(&raster, &[255, 255, 255], config.ink_tolerance);
        let region = ink.trim(Rect::from(PixelBox::new(0, 0, raster.width, raster.height)));
        let pieces = solid_parts(
            &raster,
            &ink,
            &[255, 255, 255],
            region.expect("ink"),
            config.min_panel_side_px,
            min_gutter(&raster, &config),
            config.gutter_flat_tolerance,
        )
        .expect("pictures butted in a step are solid pieces");
        let page = |b: Rect| BBox::new(b.x0 as f32, b.y0 as f32, b.x1 as f32, b.y1 as f32);
        for blot in [upper, lower] {
            let blot = page(Rect::from(blot));
            assert!(
                pieces.iter().any(|&piece| page(piece).iou(&blot) >= 0.95),
                "the blot {blot:?} is not a piece of its own: {pieces:?}"
            );
        }
    }

    #[test]
    fn charts_framed_one_by_one_in_a_row_are_each_a_panel() {
        // Four charts, each in its own frame, 2 px apart: drawings all, whose pieces would be
        // joined into one drawing, but each frame boxes a panel of its own.
        let mut image = RgbImage::from_pixel(808, 180, Rgb([255, 255, 255]));
        let mut rng = Rng(5);
        let charts: Vec<PixelBox> = (0..4)
            .map(|k| PixelBox::new(k * 202, 0, k * 202 + 200, 180))
            .collect();
        for &chart in &charts {
            paint(&mut image, chart, Content::Plot, &mut rng);
        }
        let figure = Figure::new(
            FigureSource::Embedded,
            BBox::new(0.0, 0.0, 404.0, 90.0),
            PixelBox::new(0, 0, 808, 180),
            Raster::from_rgb(image),
        );
        let (found, _) = panels().split(&figure);
        let boxes: Vec<PixelBox> = found.iter().map(|p| p.pixel_box).collect();
        assert_found(&boxes, &charts, "charts framed one by one");
    }

    /// A diagram as drawing software draws it: two chains of three labelled boxes (pastel fills,
    /// 1 px outlines, a word each), each box's arrow stopping a few pixels short of the next box.
    fn diagram() -> Raster {
        let mut image = RgbImage::from_pixel(460, 260, Rgb([255, 255, 255]));
        let mut rng = Rng(7);
        let fills = [[200, 230, 200], [250, 220, 180], [240, 190, 210]];
        for x0 in [40, 300] {
            for (row, y0) in [20u32, 115, 210].into_iter().enumerate() {
                let node = PixelBox::new(x0, y0, x0 + 120, y0 + 28);
                fill(&mut image, node, fills[row]);
                frame(&mut image, node, 1);
                text_line(&mut image, x0 + 12, y0 + 10, 96, &mut rng);
                if row < 2 {
                    let (x, top, tip) = (x0 + 60, y0 + 28, y0 + 95 - 6);
                    fill(
                        &mut image,
                        PixelBox::new(x - 1, top, x + 1, tip),
                        [20, 20, 20],
                    );
                    for d in 0..5 {
                        let y = tip - 5 + d;
                        fill(
                            &mut image,
                            PixelBox::new(x - 5 + d, y, x + 5 - d, y + 1),
                            [20, 20, 20],
                        );
                    }
                }
            }
        }
        Raster::from_rgb(image)
    }

    #[test]
    fn a_diagram_stays_one_panel_unless_panel_letters_part_it() {
        let raster = diagram();
        let (bbox, pixel_box) = (
            BBox::new(0.0, 0.0, 460.0, 260.0),
            PixelBox::new(0, 0, 460, 260),
        );
        let figure = Figure::new(FigureSource::Embedded, bbox, pixel_box, raster.clone());
        let boxes = |panels: Vec<Panel>| panels.iter().map(|p| p.pixel_box).collect::<Vec<_>>();

        // Found on the page render: the drawing's strokes.
        let detected = Figure::new(FigureSource::Detected, bbox, pixel_box, raster);
        let (whole, _) = panels().split(&detected);
        assert_found(
            &boxes(whole),
            &[PixelBox::new(40, 20, 420, 238)],
            "a diagram of two chains",
        );
        // Placed as an image: the image, paper and all, as its author placed it.
        let (placed, _) = panels().split(&figure);
        assert_found(&boxes(placed), &[pixel_box], "a diagram placed as an image");
        // Its boxes and arrows, apart, would each be matched to every box drawn alike.
        let pieces = Panels::new(PanelsConfig {
            drawings_whole: false,
            ..PanelsConfig::default()
        })
        .expect("valid")
        .split(&figure)
        .0;
        assert!(pieces.len() >= 2, "{:?}", boxes(pieces));
        // Two panels, each with its letter set as text above it.
        let lettered = Figure {
            letters: vec![
                BBox::new(40.0, 4.0, 48.0, 14.0),
                BBox::new(300.0, 4.0, 308.0, 14.0),
            ],
            ..figure
        };
        let (parted, _) = panels().split(&lettered);
        assert!(parted.len() >= 2, "{:?}", boxes(parted));
        // The same two chains with their letters drawn in the picture: one panel each.
        let mut image = diagram().to_rgb();
        letter(&mut image, 40, 4);
        letter(&mut image, 300, 4);
        let drawn = Figure::new(
            FigureSource::Embedded,
            bbox,
            pixel_box,
            Raster::from_rgb(image),
        );
        let (two, _) = panels().split(&drawn);
        assert_found(
            &boxes(two),
            &[
                PixelBox::new(40, 20, 160, 238),
                PixelBox::new(300, 20, 420, 238),
            ],
            "two chains under drawn letters",
        );
    }

    #[test]
    fn a_dark_picture_is_not_parted_at_its_dark_columns() {
        // A fluorescence-like picture: black, with a few bright cells; its empty columns are dark
        // on both sides, so they are background, not frames.
        let mut image = RgbImage::from_pixel(300, 200, Rgb([0, 0, 0]));
        for (x, y) in [(40, 50), (150, 120), (250, 60)] {
            fill(
                &mut image,
                PixelBox::new(x, y, x + 20, y + 16),
                [40, 230, 60],
            );
        }
        let layout = panels().layout(&Raster::from_rgb(image));
        assert_eq!(layout.boxes.len(), 1, "{:?}", layout.boxes);
    }

    #[test]
    fn recompressed_gutters_between_panels_cropped_tight_still_part_them() {
        // Panels touch the figure's edges; the gutters are page white with JPEG-like ringing of a
        // few levels, so no line of them is exactly flat.
        let g = 8;
        let expected = [
            PixelBox::new(0, 0, 150, 120),
            PixelBox::new(150 + g, 0, 300 + g, 120),
            PixelBox::new(0, 120 + g, 150, 240 + g),
            PixelBox::new(150 + g, 120 + g, 300 + g, 240 + g),
        ];
        let mut rng = Rng(11);
        let mut image = RgbImage::from_pixel(300 + g, 240 + g, Rgb([255, 255, 255]));
        for p in image.pixels_mut() {
            let v = 255 - rng.below(4) as u8;
            p.0 = [v, 255 - rng.below(4) as u8, v];
        }
        for (i, &b) in expected.iter().enumerate() {
            let content = [Content::Blot, Content::Gradient][i % 2];
            paint(&mut image, b, content, &mut rng);
        }
        let found = panels().layout(&Raster::from_rgb(image)).boxes;
        assert_found(&found, &expected, "noisy gutters, no margins");
    }

    #[test]
    fn gutters_rung_by_a_resampled_jpeg_between_panels_cropped_tight_still_part_them() {
        // A 2 x 4 grid of blots touching the figure's edges, 8 px gutters of page white rung as
        // a JPEG drawn at another scale leaves them: a third of their pixels up to 14 levels
        // off white, only the middle line of each within a few levels.
        let g = 8;
        let (w, h) = (120, 100);
        let expected: Vec<PixelBox> = (0..2)
            .flat_map(|row| {
                (0..4).map(move |col| {
                    let (x, y) = (col * (w + g), row * (h + g));
                    PixelBox::new(x, y, x + w, y + h)
                })
            })
            .collect();
        let mut rng = Rng(23);
        let (width, height) = (4 * w + 3 * g, 2 * h + g);
        let mut image = RgbImage::new(width, height);
        let middle = |at: u32, step: u32| at % (step + g) == step + g / 2;
        for (x, y, pixel) in image.enumerate_pixels_mut() {
            let clean = middle(x, w) || middle(y, h);
            let off = if clean || rng.below(3) > 0 {
                rng.below(4)
            } else {
                rng.below(15)
            } as u8;
            pixel.0 = [255 - off; 3];
        }
        for (i, &b) in expected.iter().enumerate() {
            paint(
                &mut image,
                b,
                [Content::Blot, Content::Gradient][i % 2],
                &mut rng,
            );
        }
        let found = panels().layout(&Raster::from_rgb(image));
        assert!(!found.full_bleed, "taken for one full-bleed picture");
        assert_found(&found.boxes, &expected, "rung gutters, no margins");
    }

    #[test]
    fn pictures_butted_in_an_l_on_paper_are_each_a_panel() {
        // Two blots side by side with no gutter (the right one's membrane darker along the
        // seam), page white below them, and a taller blot butted against both on the right.
        let mut rng = Rng(43);
        let mut image = RgbImage::from_pixel(520, 260, Rgb([255, 255, 255]));
        let (left, middle, right) = (
            PixelBox::new(0, 0, 160, 110),
            PixelBox::new(160, 0, 320, 110),
            PixelBox::new(320, 0, 520, 260),
        );
        for b in [left, middle, right] {
            paint(&mut image, b, Content::Blot, &mut rng);
        }
        for (b, darker) in [(middle, 50u8), (right, 100)] {
            for y in b.y0..b.y1 {
                for x in b.x0..b.x1 {
                    let Rgb([v, _, _]) = *image.get_pixel(x, y);
                    let v = v.saturating_sub(darker);
                    image.put_pixel(x, y, Rgb([v, v, v]));
                }
            }
        }
        let found = panels().layout(&Raster::from_rgb(image));
        assert_found(&found.boxes, &[left, middle, right], "blots butted in an L");
    }

    #[test]
    fn letters_closer_than_a_panel_apart_do_not_part_a_picture() {
        // A blot whose lanes carry one-letter labels ("a" … "f") a lane (60 px) apart, less than
        // half the picture's height: lane labels, not panel letters.
        let mut image = RgbImage::from_pixel(600, 200, Rgb([0, 0, 0]));
        for y in 0..200u32 {
            for x in 0..600u32 {
                let v = (120 + (x * 31 + y * 17) % 60) as u8;
                image.put_pixel(x, y, Rgb([v, v, v]));
            }
        }
        let raster = Raster::from_rgb(image);
        let lanes: Vec<BBox> = (0..6)
            .map(|k| {
                let x = 10.0 + 60.0 * k as f32;
                BBox::new(x, -30.0, x + 14.0, -8.0)
            })
            .collect();
        let lanes = Labels {
            letters: lanes,
            rows: Vec::new(),
        };
        let whole = layout(&raster, &PanelsConfig::default(), true, &lanes);
        assert_eq!(whole.boxes, vec![PixelBox::new(0, 0, 600, 200)]);
        // The same picture with three letters two panels' heights apart is parted at them.
        let letters: Vec<BBox> = (0..3)
            .map(|k| {
                let x = 200.0 * k as f32;
                BBox::new(x, -30.0, x + 14.0, -8.0)
            })
            .collect();
        let letters = Labels {
            letters,
            rows: Vec::new(),
        };
        let parted = layout(&raster, &PanelsConfig::default(), true, &letters);
        assert_eq!(parted.boxes.len(), 3, "{parted:?}");
    }

    /// A strip 80 px tall (rows 88–168) cut from the `k`-th third of the real polimi membranes.
    fn membrane_strip(k: usize) -> RgbImage {
        let files = pngs(&data_dir("blots/polimi"));
        let membrane = load(&files[k * files.len() / 3]);
        let (w, channels) = (membrane.width, usize::from(membrane.channels));
        RgbImage::from_fn(w, 80, |x, y| {
            let at = ((88 + y as usize) * w as usize + x as usize) * channels;
            let v = &membrane.data[at..at + channels];
            if channels >= 3 {
                Rgb([v[0], v[1], v[2]])
            } else {
                Rgb([v[0]; 3])
            }
        })
    }

    #[test]
    fn marks_drawn_over_a_real_blot_s_lanes_part_nothing_but_letters_over_butted_blots_do() {
        // Strips 80 px tall cut from real membranes, on paper, with glyphs drawn just above them.
        let on_paper = |pictures: &[RgbImage], marks: &[u32]| {
            let width: u32 = pictures.iter().map(RgbImage::width).sum();
            let mut page = RgbImage::from_pixel(width + 60, 150, Rgb([255, 255, 255]));
            let mut x = 30;
            for picture in pictures {
                image::imageops::replace(&mut page, picture, i64::from(x), 40);
                x += picture.width();
            }
            for &mark in marks {
                letter(&mut page, 30 + mark, 22);
            }
            layout(
                &Raster::from_rgb(page),
                &PanelsConfig::default(),
                true,
                &Labels::default(),
            )
        };
        // One membrane with a glyph over every lane, 50 px apart: lane labels ("0", "1", "3" …),
        // however far apart, stand over lanes, where no seam is.
        let membrane = membrane_strip(0);
        let lanes = on_paper(std::slice::from_ref(&membrane), &[4, 54, 104, 154, 204]);
        assert_eq!(lanes.boxes.len(), 1, "{lanes:?}");
        // Three membranes butted, each with its letter at its top-left corner: parted at the seams.
        let butted = [membrane_strip(0), membrane_strip(1), membrane_strip(2)];
        let lefts: Vec<u32> = butted
            .iter()
            .scan(0, |x, picture| {
                let left = *x;
                *x += picture.width();
                Some(left)
            })
            .collect();
        let marks: Vec<u32> = lefts.iter().map(|left| left + 2).collect();
        let parted = on_paper(&butted, &marks);
        let expected: Vec<PixelBox> = butted
            .iter()
            .zip(&lefts)
            .map(|(picture, left)| PixelBox::new(30 + left, 40, 30 + left + picture.width(), 120))
            .collect();
        assert_found(
            &parted.boxes,
            &expected,
            "three butted membranes under drawn letters",
        );
    }

    #[test]
    fn letters_close_under_the_row_above_part_butted_blots_even_left_of_their_edge() {
        // Three real membranes butted, under a picture that spans the row above and ends 4 px
        // above their letters: a band of a third of their height would reach into it. The first
        // letter stands just left of its membrane, as where a pale margin was trimmed away.
        let membranes: Vec<RgbImage> = (0..3).map(membrane_strip).collect();
        let width: u32 = membranes.iter().map(RgbImage::width).sum();
        let mut page = RgbImage::from_pixel(width + 60, 240, Rgb([255, 255, 255]));
        let above = PixelBox::new(30, 10, 30 + width, 108);
        paint(&mut page, above, Content::Noise, &mut Rng(5));
        let mut expected = vec![above];
        let mut x = 30;
        for (k, membrane) in membranes.iter().enumerate() {
            image::imageops::replace(&mut page, membrane, i64::from(x), 126);
            letter(&mut page, if k == 0 { x - 10 } else { x + 2 }, 112);
            expected.push(PixelBox::new(x, 126, x + membrane.width(), 206));
            x += membrane.width();
        }
        let found = layout(
            &Raster::from_rgb(page),
            &PanelsConfig::default(),
            true,
            &Labels::default(),
        );
        assert_found(
            &found.boxes,
            &expected,
            "butted membranes close under a row",
        );
    }

    #[test]
    fn a_part_of_a_full_bleed_picture_is_split_at_its_own_margins() {
        // Two pictures butted under the letters A and B: on the left a blot strip above white
        // space, on the right a gel whose bright lanes stand on its own black margins. The left
        // part is the strip alone; the gel keeps its margins (they are no paper).
        let mut image = RgbImage::from_pixel(600, 200, Rgb([255, 255, 255]));
        for y in 0..200u32 {
            for x in 0..600u32 {
                let v = if x < 400 && y < 80 {
                    (60 + (x * 31 + y * 17) % 50) as u8
                } else if (420..580).contains(&x) && (30..170).contains(&y) {
                    (150 + (x * 7 + y * 13) % 70) as u8
                } else if x >= 400 {
                    8
                } else {
                    continue;
                };
                image.put_pixel(x, y, Rgb([v, v, v]));
            }
        }
        let raster = Raster::from_rgb(image);
        let letters = Labels {
            letters: vec![
                BBox::new(0.0, -30.0, 14.0, -8.0),
                BBox::new(400.0, -30.0, 414.0, -8.0),
            ],
            rows: Vec::new(),
        };
        let found = layout(&raster, &PanelsConfig::default(), true, &letters);
        assert!(found.full_bleed, "{found:?}");
        assert_eq!(
            found.boxes,
            vec![
                PixelBox::new(0, 0, 400, 80),
                PixelBox::new(400, 0, 600, 200)
            ]
        );
    }

    /// A `side` × `side` slot of page white with a picture of noise over `picture`.
    fn noise_on_white(side: u32, picture: PixelBox, seed: u64) -> RgbImage {
        let mut image = RgbImage::from_pixel(side, side, Rgb([255, 255, 255]));
        paint(&mut image, picture, Content::Noise, &mut Rng(seed));
        image
    }

    #[test]
    fn a_letterboxed_picture_sheds_the_white_below_it_but_a_white_membrane_keeps_its_own() {
        // A slot 200×200 px: a picture 120 px high, then page white. Its edge steps from the
        // white along all its width: the white is the slot's, not the picture's.
        let slot = PixelBox::new(0, 0, 200, 200);
        let image = noise_on_white(200, PixelBox::new(0, 0, 200, 120), 31);
        assert_eq!(
            without_letterbox(&Raster::from_rgb(image), slot, 4),
            PixelBox::new(0, 0, 200, 120)
        );
        // A blot on a white membrane that fades into the margin below its bands: no edge, and
        // the white stays (a copy whose white an edit dimmed keeps it too).
        let mut blot = RgbImage::from_pixel(200, 200, Rgb([255, 255, 255]));
        for (x, y, pixel) in blot.enumerate_pixels_mut() {
            let band = (x % 50) >= 10 && (40..60).contains(&y);
            let fade = if y < 120 { 255 - (120 - y) / 4 } else { 255 };
            let v = if band { 60 } else { fade as u8 };
            *pixel = Rgb([v, v, v]);
        }
        assert_eq!(without_letterbox(&Raster::from_rgb(blot), slot, 4), slot);
    }

    #[test]
    fn a_picture_shorter_and_narrower_than_its_slot_sheds_the_white_of_the_l_and_its_ringing() {
        // A micrograph 150×120 px in the top left of a 200×200 px slot of a gutterless grid: page
        // white to its right and under it, so neither edge steps along the whole slot. A JPEG
        // left near-white ringing beside the picture's edges and along the slot's outer rows.
        let slot = PixelBox::new(0, 0, 200, 200);
        let mut image = noise_on_white(200, PixelBox::new(0, 0, 150, 120), 7);
        for (x, y, pixel) in image.enumerate_pixels_mut() {
            let ringing = (x, y) == (150, y.min(119))
                || (y == 120 && x < 150 && x % 3 == 0)
                || (y == 199 && x % 2 == 0)
                || x == 199;
            if ringing && (x >= 150 || y >= 120) {
                *pixel = Rgb([246, 250, 244]);
            }
        }
        assert_eq!(
            without_letterbox(&Raster::from_rgb(image), slot, 4),
            PixelBox::new(0, 0, 150, 120)
        );
    }

    #[test]
    fn stacked_strips_are_parted_between_their_row_labels_at_seams_only() {
        // Four blot strips butted on top of each other, each its own membrane shade, with its
        // protein name beside it; then one membrane with names beside it but no seam.
        let picture = |shade: &dyn Fn(u32) -> u32| {
            let mut image = RgbImage::new(400, 160);
            for y in 0..160u32 {
                for x in 0..400u32 {
                    let band = if (x % 80) > 15 && (y % 40).abs_diff(20) < 6 {
                        70
                    } else {
                        0
                    };
                    let v = (shade(y) + (x * 7 + y * 13) % 9).saturating_sub(band) as u8;
                    image.put_pixel(x, y, Rgb([v, v, v]));
                }
            }
            Raster::from_rgb(image)
        };
        let names = Labels {
            letters: Vec::new(),
            rows: (0..4)
                .map(|k| {
                    let y = 40.0 * k as f32 + 14.0;
                    BBox::new(406.0, y, 450.0, y + 12.0)
                })
                .collect(),
        };
        let strips = picture(&|y| [200, 150, 215, 170][(y / 40) as usize]);
        let parted = layout(&strips, &PanelsConfig::default(), true, &names);
        let expected: Vec<PixelBox> = (0..4)
            .map(|k| PixelBox::new(0, 40 * k, 400, 40 * (k + 1)))
            .collect();
        assert_eq!(parted.boxes, expected);
        let one = picture(&|_| 200);
        let whole = layout(&one, &PanelsConfig::default(), true, &names);
        assert_eq!(whole.boxes, vec![PixelBox::new(0, 0, 400, 160)]);
    }

    #[test]
    fn a_pale_membrane_is_one_panel_with_its_bands() {
        // A blot on a membrane a few levels off white (below the ink tolerance) above a
        // photograph: its dark bands are solid pieces of ink, but the membrane is the panel.
        let mut image = RgbImage::from_pixel(900, 520, Rgb([255, 255, 255]));
        let membrane = PixelBox::new(20, 20, 860, 300);
        for y in membrane.y0..membrane.y1 {
            for x in membrane.x0..membrane.x1 {
                // Two rows of flat-topped bands, four lanes.
                let lane = ((x - membrane.x0) % 215) as f32 - 107.0;
                let in_band = [60.0f32, 240.0]
                    .iter()
                    .any(|&c| lane.abs() < 80.0 && (y as f32 - c).abs() < 25.0);
                let v = if in_band { 60 } else { 243 };
                image.put_pixel(x, y, Rgb([v, v, v]));
            }
        }
        let photograph = PixelBox::new(20, 330, 400, 500);
        for y in photograph.y0..photograph.y1 {
            for x in photograph.x0..photograph.x1 {
                let v = (40 + (x * 7 + y * 13) % 150) as u8;
                image.put_pixel(x, y, Rgb([v, v / 2, v]));
            }
        }
        let layout = panels().layout(&Raster::from_rgb(image));
        assert_found(&layout.boxes, &[membrane, photograph], "pale membrane");
    }

    #[test]
    fn blurred_bands_on_a_membrane_nearly_white_are_one_panel() {
        // An agarose gel beside a photograph, as in papers: a row of blurred bands with about
        // 14 px of membrane between them, the membrane a few levels off white (below the ink
        // tolerance). Each band is a solid piece of ink, and no gutter runs between them.
        for membrane_level in [246.0f32, 250.0] {
            let mut image = RgbImage::from_pixel(760, 200, Rgb([255, 255, 255]));
            let gel = PixelBox::new(10, 10, 460, 150);
            let mut bands = PixelBox::new(u32::MAX, u32::MAX, 0, 0);
            for y in gel.y0..gel.y1 {
                for x in gel.x0..gel.x1 {
                    let lane = (x - gel.x0) as f32 % 50.0 - 25.0;
                    let lane_index = (x - gel.x0) / 50;
                    let centre = 75.0 + (lane_index % 3) as f32 * 4.0;
                    // A flat-topped blob about 36 px wide and 60 px tall per lane (9 lanes),
                    // its edges blurred.
                    let density =
                        (-(lane / 15.0).powi(4) - ((y as f32 - centre) / 26.0).powi(4)).exp();
                    let v = (membrane_level - 220.0 * density).clamp(0.0, 255.0);
                    if v < 235.0 {
                        bands = PixelBox::new(
                            bands.x0.min(x),
                            bands.y0.min(y),
                            bands.x1.max(x + 1),
                            bands.y1.max(y + 1),
                        );
                    }
                    let v = v as u8;
                    image.put_pixel(x, y, Rgb([v, v, v]));
                }
            }
            let photograph = PixelBox::new(490, 10, 750, 190);
            for y in photograph.y0..photograph.y1 {
                for x in photograph.x0..photograph.x1 {
                    let v = (60 + (x * 7 + y * 13) % 120) as u8;
                    image.put_pixel(x, y, Rgb([v, v, v]));
                }
            }
            let layout = panels().layout(&Raster::from_rgb(image));
            assert_found(
                &layout.boxes,
                &[bands, photograph],
                &format!("bands on a membrane at {membrane_level}"),
            );
        }
    }

    #[test]
    fn stacked_strips_are_panels_when_pale_or_thin() {
        // Four outlined blot strips 4 px apart (narrower than a gutter) at 4 px per point: a
        // pale membrane whose bands are its only ink, and a strip 10 pt high.
        let mut image = RgbImage::from_pixel(1200, 880, Rgb([255, 255, 255]));
        let strips = [
            (80u32, 200u32, 150u8, 60u8),
            (204, 244, 160, 70),
            (248, 368, 243, 200),
            (372, 492, 150, 60),
        ];
        for &(y0, y1, membrane, band) in &strips {
            for y in y0..y1 {
                for x in 120..1080u32 {
                    let outline = !(122..1078).contains(&x) || y < y0 + 2 || y >= y1 - 2;
                    // Bands as blots have them: soft ellipses, one per lane.
                    let (dx, dy) = (
                        (((x - 120) % 160) as f32 - 80.0) / 50.0,
                        (y as f32 - (y0 + y1) as f32 / 2.0) / ((y1 - y0) as f32 / 4.0),
                    );
                    let weight = (1.0 - (dx * dx + dy * dy)).clamp(0.0, 1.0);
                    let v = if outline {
                        180
                    } else {
                        (f32::from(membrane) - weight * f32::from(membrane - band)) as u8
                    };
                    image.put_pixel(x, y, Rgb([v, v, v]));
                }
            }
        }
        let raster = Raster::from_rgb(image);
        let pixel_box = PixelBox::new(0, 0, raster.width, raster.height);
        let bbox = BBox::new(0.0, 0.0, 300.0, 220.0);
        let figure = Figure::new(FigureSource::Embedded, bbox, pixel_box, raster);
        let (found, _) = panels().split(&figure);
        let boxes: Vec<PixelBox> = found.iter().map(|p| p.pixel_box).collect();
        let expected: Vec<PixelBox> = strips
            .iter()
            .map(|&(y0, y1, _, _)| PixelBox::new(120, y0, 1080, y1))
            .collect();
        assert_found(&boxes, &expected, "stacked strips");
    }

    /// A figure at 4 px per point, white, with a dark smear (a saturated band smeared down its
    /// lane) filling each of `lanes` (pixel boxes).
    fn smeared_lanes(size: (u32, u32), lanes: &[PixelBox]) -> Figure {
        let mut image = RgbImage::from_pixel(size.0, size.1, Rgb([255, 255, 255]));
        for lane in lanes {
            for y in lane.y0..lane.y1 {
                for x in lane.x0..lane.x1 {
                    let (dx, dy) = (
                        (x - lane.x0) as f32 / lane.width() as f32 - 0.5,
                        (y - lane.y0) as f32 / lane.height() as f32 - 0.5,
                    );
                    let v = (70.0 + 300.0 * (dx * dx + dy * dy)).min(230.0) as u8;
                    image.put_pixel(x, y, Rgb([v, v, v]));
                }
            }
        }
        let raster = Raster::from_rgb(image);
        let pixel_box = PixelBox::new(0, 0, raster.width, raster.height);
        let bbox = BBox::new(0.0, 0.0, size.0 as f32 / 4.0, size.1 as f32 / 4.0);
        Figure::new(FigureSource::Embedded, bbox, pixel_box, raster)
    }

    #[test]
    fn smeared_lanes_cut_apart_are_not_strips_but_a_strip_turned_a_quarter_is() {
        // Five lanes 14 pt wide and 30 pt tall, 3 pt of white between them: each would match
        // the others.
        let lanes: Vec<PixelBox> = (0..5)
            .map(|i| PixelBox::new(40 + i * 68, 40, 96 + i * 68, 160))
            .collect();
        let (found, _) = panels().split(&smeared_lanes((460, 200), &lanes));
        assert!(
            found
                .iter()
                .all(|p| p.bbox.width().min(p.bbox.height()) >= 16.0),
            "{:?}",
            found.iter().map(|p| p.bbox).collect::<Vec<_>>()
        );
        // A strip 12 pt wide and 60 pt tall: one protein's row of bands, turned.
        let strip = PixelBox::new(40, 40, 88, 280);
        let (found, _) = panels().split(&smeared_lanes((128, 320), &[strip]));
        let boxes: Vec<PixelBox> = found.iter().map(|p| p.pixel_box).collect();
        assert_found(&boxes, &[strip], "a strip turned a quarter");
    }

    /// A fluorescent blot as scanned, starting at `x0` in `image`: a dark membrane (level 10),
    /// `lanes` lighter lanes (40) of 40 px at a 60 px pitch over rows 10–230 with bright bands,
    /// and between them a faint glow (35), or, before the lanes listed in `dark_gaps`, the
    /// membrane's dark 2–3 levels off.
    fn fluorescent_blot(image: &mut RgbImage, x0: u32, lanes: u32, dark_gaps: &[u32]) {
        for lane in 0..lanes {
            let lane_x = x0 + 20 + lane * 60;
            for y in 10..230 {
                for x in lane_x - 20..lane_x + 40 {
                    let in_lane = x >= lane_x;
                    let band = in_lane && (y % 50) >= 20 && (y % 50) < 30;
                    let green = match (band, in_lane) {
                        (true, _) => 200,
                        (false, true) => 40,
                        _ if lane == 0 => 10,
                        _ if dark_gaps.contains(&lane) => 12 + (x % 2) as u8,
                        _ => 35,
                    };
                    image.put_pixel(x, y, Rgb([10, green, 10]));
                }
            }
        }
    }

    #[test]
    fn a_fluorescent_blot_stays_whole_and_a_black_canvas_still_parts_its_panels() {
        // Seven lanes on a scanned dark membrane, two of the gaps between them as dark as the
        // membrane but for a few levels: they are not gutters.
        let mut blot = RgbImage::from_pixel(460, 240, Rgb([10, 10, 10]));
        fluorescent_blot(&mut blot, 0, 7, &[5, 6]);
        let boxes = panels().layout(&Raster::from_rgb(blot)).boxes;
        assert_eq!(boxes.len(), 1, "{boxes:?}");
        // Two blots laid out by software on a black canvas, 60 px of its exact black between.
        let mut canvas = RgbImage::from_pixel(960, 240, Rgb([10, 10, 10]));
        fluorescent_blot(&mut canvas, 0, 7, &[]);
        fluorescent_blot(&mut canvas, 500, 7, &[]);
        let boxes = panels().layout(&Raster::from_rgb(canvas)).boxes;
        assert_eq!(boxes.len(), 2, "{boxes:?}");
    }

    #[test]
    fn a_dark_picture_keeps_its_dark_margins() {
        // A gel on its dark membrane (13), its bands (200) in rows 60–170 only, 40 px from
        // either side: the margins are the gel's, and a copy turned or cut so that its bands
        // reach its border is a panel covering it whole, so this one must be too.
        let gel = RgbImage::from_fn(300, 240, |x, y| {
            let band = (40..260).contains(&x)
                && x % 40 >= 8
                && [60, 115, 160].iter().any(|&b| (b..b + 10).contains(&y));
            if band {
                Rgb([200, 200, 200])
            } else {
                Rgb([13, 13, 13])
            }
        });
        let boxes = panels().layout(&Raster::from_rgb(gel)).boxes;
        assert_found(
            &boxes,
            &[PixelBox::new(0, 0, 300, 240)],
            "a gel with dark margins",
        );
    }

    #[test]
    fn a_figure_drawn_from_separate_images_is_split_at_their_edges() {
        // Two blots placed one pixel apart: too close for a gutter, but each is its own image.
        let mut rng = Rng(3);
        let mut left = RgbImage::new(200, 100);
        paint(
            &mut left,
            PixelBox::new(0, 0, 200, 100),
            Content::Blot,
            &mut rng,
        );
        let mut right = RgbImage::new(200, 100);
        paint(
            &mut right,
            PixelBox::new(0, 0, 200, 100),
            Content::Blot,
            &mut rng,
        );
        let mut whole = RgbImage::from_pixel(401, 100, Rgb([255, 255, 255]));
        image::imageops::replace(&mut whole, &left, 0, 0);
        image::imageops::replace(&mut whole, &right, 201, 0);
        // Drawn at 2 px per point from (50, 80) on the page.
        let part_boxes = [
            BBox::new(50.0, 80.0, 150.0, 130.0),
            BBox::new(150.5, 80.0, 250.5, 130.0),
        ];
        let (bbox, pixel_box) = (
            BBox::new(50.0, 80.0, 250.5, 130.0),
            PixelBox::new(100, 160, 501, 260),
        );
        let figure = Figure {
            parts: vec![
                FigurePart {
                    bbox: part_boxes[0],
                    raster: Some(Raster::from_rgb(left.clone())),
                },
                FigurePart {
                    bbox: part_boxes[1],
                    raster: None,
                },
            ],
            ..Figure::new(
                FigureSource::Embedded,
                bbox,
                pixel_box,
                Raster::from_rgb(whole),
            )
        };
        let (found, _) = panels().split(&figure);
        assert_eq!(found.len(), 2, "{found:?}");
        for (panel, want) in found.iter().zip(&part_boxes) {
            assert!(panel.bbox.iou(want) > 0.95, "{:?} vs {want:?}", panel.bbox);
        }
        assert_eq!(found[0].raster, Raster::from_rgb(left));
    }

    #[test]
    fn butted_strips_are_parted_at_white_hairlines_and_sharp_seams() {
        // Three blots stacked without a gutter: the first two parted by a 1 px line of white,
        // the last butted on, its membrane darker than the one above all along the seam.
        let mut rng = Rng(31);
        let mut image = RgbImage::new(320, 250);
        paint(
            &mut image,
            PixelBox::new(0, 0, 320, 80),
            Content::Blot,
            &mut rng,
        );
        fill(&mut image, PixelBox::new(0, 80, 320, 81), [255, 255, 255]);
        paint(
            &mut image,
            PixelBox::new(0, 81, 320, 160),
            Content::Blot,
            &mut rng,
        );
        paint(
            &mut image,
            PixelBox::new(0, 160, 320, 250),
            Content::Blot,
            &mut rng,
        );
        for y in 160..250 {
            for x in 0..320 {
                let Rgb([v, _, _]) = *image.get_pixel(x, y);
                let v = v.saturating_sub(60);
                image.put_pixel(x, y, Rgb([v, v, v]));
            }
        }
        let found = layout(
            &Raster::from_rgb(image),
            &PanelsConfig::default(),
            true,
            &Labels::default(),
        );
        assert!(found.full_bleed, "{found:?}");
        assert_eq!(
            found.boxes,
            vec![
                PixelBox::new(0, 0, 320, 80),
                PixelBox::new(0, 81, 320, 160),
                PixelBox::new(0, 160, 320, 250),
            ]
        );
    }

    #[test]
    fn a_line_is_measured_between_its_paper_ends_whatever_specks_they_hold() {
        // 10 pixels of paper with a speck, 20 of picture, 12 of paper with one speck.
        let mut picture = vec![false; 42];
        picture[4] = true;
        picture[10..30].iter_mut().for_each(|p| *p = true);
        picture[36] = true;
        let within = within_paper_ends(&picture);
        // A speck in eight may lie in a paper end, and so may the picture's first pixel or two.
        assert!(within.start >= 9 && within.start <= 11, "{within:?}");
        assert!(within.end >= 28 && within.end <= 30, "{within:?}");
        // All picture, or all paper: nothing to leave out, or nothing left.
        assert_eq!(within_paper_ends(&[true; 16]), 0..16);
        assert!(within_paper_ends(&[false; 16]).is_empty());
    }

    #[test]
    fn pictures_of_unequal_heights_parted_by_hairlines_are_parted_whatever_their_letters() {
        // On a page, four pictures side by side with a light hairline between each two, their
        // tops aligned and their bottoms not: the hairlines between the shorter ones run on as
        // page white. The first (the tallest) and the third are framed in black, so that a frame
        // borders the hairline after them; the second is dark, with its panel letter in white
        // against the hairline before it.
        let mut rng = Rng(43);
        let mut image = RgbImage::from_pixel(660, 200, Rgb([255, 255, 255]));
        let pictures = [
            PixelBox::new(20, 20, 170, 170),
            PixelBox::new(171, 20, 321, 110),
            PixelBox::new(322, 20, 472, 120),
            PixelBox::new(473, 20, 623, 170),
        ];
        let contents = [
            Content::Blot,
            Content::Gradient,
            Content::Blot,
            Content::Gradient,
        ];
        for (picture, content) in pictures.into_iter().zip(contents) {
            paint(&mut image, picture, content, &mut rng);
        }
        // Each hairline page white, as long as the longer picture beside it, with the specks of
        // a JPEG's ringing: not one flat colour.
        for pair in pictures.windows(2) {
            for y in 20..pair[0].y1.max(pair[1].y1) {
                let level = if y % 10 == 0 { 236 } else { 250 };
                fill(
                    &mut image,
                    PixelBox::new(pair[0].x1, y, pair[1].x0, y + 1),
                    [level; 3],
                );
            }
        }
        for framed in [pictures[0], pictures[2]] {
            frame(&mut image, framed, 2);
        }
        // A white "E", a sixth of the picture tall, from its left edge.
        let white = [255, 255, 255];
        fill(&mut image, PixelBox::new(171, 24, 175, 40), white);
        for y in [24, 30, 36] {
            fill(&mut image, PixelBox::new(171, y, 185, y + 4), white);
        }
        let row = Rect {
            x0: 20,
            y0: 20,
            x1: 623,
            y1: 170,
        };
        let parts = parted_at_seams(&Raster::from_rgb(image), row, Axis::Cols);
        let columns: Vec<(u32, u32)> = parts.iter().map(|part| (part.x0, part.x1)).collect();
        assert_eq!(columns, pictures.map(|p| (p.x0, p.x1)).to_vec());
    }

    #[test]
    fn pictures_butted_inside_a_figure_on_paper_are_parted_but_a_chart_is_not() {
        // On a page: two blots stacked with no gutter, the lower membrane darker all along the
        // seam, and beside them, across a gutter, a framed plot whose frame and curve are strokes.
        let mut rng = Rng(41);
        let mut image = RgbImage::from_pixel(560, 260, Rgb([255, 255, 255]));
        paint(
            &mut image,
            PixelBox::new(20, 20, 300, 120),
            Content::Blot,
            &mut rng,
        );
        paint(
            &mut image,
            PixelBox::new(20, 120, 300, 240),
            Content::Blot,
            &mut rng,
        );
        for y in 120..240 {
            for x in 20..300 {
                let Rgb([v, _, _]) = *image.get_pixel(x, y);
                let v = v.saturating_sub(60);
                image.put_pixel(x, y, Rgb([v, v, v]));
            }
        }
        paint(
            &mut image,
            PixelBox::new(340, 20, 540, 240),
            Content::Plot,
            &mut rng,
        );
        let found = layout(
            &Raster::from_rgb(image),
            &PanelsConfig::default(),
            true,
            &Labels::default(),
        );
        assert!(!found.full_bleed);
        assert_found(
            &found.boxes,
            &[
                PixelBox::new(20, 20, 300, 120),
                PixelBox::new(340, 20, 540, 240),
                PixelBox::new(20, 120, 300, 240),
            ],
            "butted blots beside a plot",
        );
    }

    #[test]
    fn lines_drawn_across_a_picture_part_nothing_but_its_frame_sheds_the_margin() {
        // A blot crossed from top to bottom by two red lines marking a region: one picture.
        let mut rng = Rng(37);
        let mut image = RgbImage::new(300, 150);
        paint(
            &mut image,
            PixelBox::new(0, 0, 300, 150),
            Content::Blot,
            &mut rng,
        );
        for x in [100, 180] {
            fill(&mut image, PixelBox::new(x, 0, x + 2, 150), [190, 40, 50]);
        }
        let raster = Raster::from_rgb(image.clone());
        let marked = layout(&raster, &PanelsConfig::default(), true, &Labels::default());
        assert_eq!(marked.boxes, vec![PixelBox::new(0, 0, 300, 150)]);
        // The same blot framed in black, with a strip of page white beside the frame holding a
        // label: the picture is the framed blot alone.
        let mut framed = RgbImage::from_pixel(420, 150, Rgb([255, 255, 255]));
        image::imageops::replace(&mut framed, &image, 0, 0);
        fill(&mut framed, PixelBox::new(300, 0, 302, 150), [30, 30, 30]);
        letter(&mut framed, 340, 60);
        let whole = Rect {
            x0: 0,
            y0: 0,
            x1: 420,
            y1: 150,
        };
        let parts = parted_at_seams(&Raster::from_rgb(framed), whole, Axis::Cols);
        assert_eq!(parts, vec![Rect { x1: 302, ..whole }]);
    }
}
