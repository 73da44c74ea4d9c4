//! figures: finds the figures on a rendered page: embedded raster images (tiles merged, nearby
//! images grouped into one compound figure) and regions of the rendered page that are drawn
//! rather than embedded, each with the caption nearest to it, the panel letters ("A", "(b)") set
//! as text at its top and the row labels (protein names) beside it, which tell the panels stage
//! where butted pictures and stacked strips begin.

use panelscope_engine::{BuildContext, ItemResult, Outputs, Stage, StageConfig, StageError};
use serde::{Deserialize, Serialize};

use crate::units::{
    BBox, Figure, FigurePart, FigureSource, PageFigures, Raster, RenderedPage, TextSpan,
};

/// Settings of the figures stage, read from `[figures]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FiguresConfig {
    /// Smallest figure side, in points; smaller regions are logos, icons or rules.
    pub min_side_pt: f32,
    /// Smallest figure area, in square points.
    pub min_area_pt2: f32,
    /// Smallest short side, in points, of embedded images laid out as a strip (at least
    /// [`STRIP_ASPECT`] times longer than wide, and mostly off the paper on the page render) to
    /// be a figure below `min_side_pt`: a row of blot bands placed on its own.
    pub min_strip_side_pt: f32,
    /// Images closer than this (points) that overlap or share a whole edge are tiles of one
    /// picture and are merged. Tiles abut; panels set flush as images of their own leave a
    /// hairline between them.
    pub tile_gap_pt: f32,
    /// Images closer than this (points) are panels of one compound figure.
    pub figure_gap_pt: f32,
    /// Also look for drawn (vector) figures and figures of many small images on the page render.
    pub detect_drawn: bool,
    /// Grid cell of the page analysis, in points.
    pub cell_pt: f32,
    /// Drawn strokes closer than this (points) belong to one figure.
    pub join_gap_pt: f32,
    /// How much darker than the page background a pixel must be to count as ink (0–255).
    pub ink_threshold: u8,
    /// A drawn region whose area is more than this share text is a table or text block, not a figure.
    pub max_text_share: f32,
    /// How far (points) from a figure its caption may start.
    pub caption_distance_pt: f32,
    /// Longest caption kept, in characters.
    pub caption_max_chars: usize,
}

impl Default for FiguresConfig {
    fn default() -> Self {
        Self {
            min_side_pt: 24.0,
            min_area_pt2: 2_000.0,
            min_strip_side_pt: 8.0,
            tile_gap_pt: 0.3,
            figure_gap_pt: 10.0,
            detect_drawn: true,
            cell_pt: 2.0,
            join_gap_pt: 8.0,
            ink_threshold: 40,
            max_text_share: 0.3,
            caption_distance_pt: 120.0,
            caption_max_chars: 600,
        }
    }
}

impl FiguresConfig {
    fn validate(&self) -> Result<(), String> {
        let positive = [
            ("min_side_pt", self.min_side_pt),
            ("min_strip_side_pt", self.min_strip_side_pt),
            ("cell_pt", self.cell_pt),
            ("caption_distance_pt", self.caption_distance_pt),
        ];
        for (name, value) in positive {
            if value.is_nan() || value <= 0.0 {
                return Err(format!("figures.{name} must be positive (got {value})"));
            }
        }
        if self.tile_gap_pt < 0.0 || self.figure_gap_pt < self.tile_gap_pt {
            return Err(
                "figures.figure_gap_pt must be at least figures.tile_gap_pt, both non-negative"
                    .to_string(),
            );
        }
        if !(0.0..=1.0).contains(&self.max_text_share) {
            return Err(format!(
                "figures.max_text_share must be in [0, 1] (got {})",
                self.max_text_share
            ));
        }
        Ok(())
    }
}

impl StageConfig for FiguresConfig {
    type Stage = Figures;

    fn build(&self, _cx: &BuildContext) -> Result<Figures, StageError> {
        self.validate().map_err(StageError::input)?;
        Ok(Figures {
            config: self.clone(),
        })
    }
}

/// How many times longer than wide a group of embedded images is to be a strip.
pub const STRIP_ASPECT: f32 = 3.0;
/// Share of a strip's pixels that must be off the paper (a membrane, a gel) for it to be a
/// picture: lettering set as an image is mostly paper.
const MIN_STRIP_PICTURE_SHARE: f32 = 0.5;

/// The figures stage.
pub struct Figures {
    config: FiguresConfig,
}

impl Figures {
    /// A stage with `config` (validated).
    pub fn new(config: FiguresConfig) -> Result<Self, String> {
        config.validate()?;
        Ok(Self { config })
    }

    /// The figures of one page.
    pub fn detect(&self, page: &RenderedPage) -> Vec<Figure> {
        let cfg = &self.config;
        let scale = page.meta.pixels_per_point();
        let mut figures: Vec<Figure> = Vec::new();

        // 1. Embedded images: tiles of one picture first, then pictures close enough to be panels
        //    of one compound figure.
        let boxes: Vec<BBox> = page.embedded.iter().map(|image| image.bbox).collect();
        let tiles = cluster(&boxes, cfg.tile_gap_pt, one_picture);
        let groups: Vec<BBox> = tiles
            .iter()
            .map(|members| union_of(members.iter().map(|&i| boxes[i])))
            .collect();
        for members in cluster(&groups, cfg.figure_gap_pt, |_, _| true) {
            let bbox = union_of(members.iter().map(|&g| groups[g]));
            if !self.big_enough(&bbox) && !self.picture_strip(page, &bbox, scale) {
                continue;
            }
            // One picture drawn from one image: keep its native pixels; otherwise crop the render.
            let native = match members.as_slice() {
                [only] if tiles[*only].len() == 1 => page.embedded[tiles[*only][0]].raster.clone(),
                _ => None,
            };
            let mut figure = self.figure(page, FigureSource::Embedded, bbox, native, scale);
            if members.len() >= 2 {
                figure.parts = members
                    .iter()
                    .map(|&g| FigurePart {
                        bbox: groups[g],
                        raster: match tiles[g].as_slice() {
                            [image] => page.embedded[*image].raster.clone(),
                            _ => None,
                        },
                    })
                    .collect();
            }
            figures.push(figure);
        }

        // 2. Drawn figures: ink on the render that is neither text nor an embedded figure.
        if cfg.detect_drawn && !page.image.is_empty() {
            // Embedded images too small to be figures (logos, icons) are not drawn figures either.
            let taken: Vec<BBox> = figures
                .iter()
                .map(|f| f.bbox.expand(cfg.join_gap_pt))
                .chain(boxes.iter().map(|b| b.expand(1.0)))
                .collect();
            for bbox in self.drawn_regions(page, &taken) {
                let mut figure = self.figure(page, FigureSource::Detected, bbox, None, scale);
                figure.pictures = boxes
                    .iter()
                    .filter_map(|image| image.intersection(&bbox))
                    .collect();
                figures.push(figure);
            }
        }

        figures.sort_by(|a, b| {
            (a.bbox.y0, a.bbox.x0)
                .partial_cmp(&(b.bbox.y0, b.bbox.x0))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        let captions = captions(&page.text, &figures, cfg);
        for (figure, caption) in figures.iter_mut().zip(captions) {
            figure.caption = caption;
            figure.letters = panel_letters(&page.text, &figure.bbox);
            figure.row_labels = row_labels(&page.text, &figure.bbox);
            if figure.source != FigureSource::Embedded {
                figure.words = words_inside(&page.text, &figure.bbox);
            }
        }
        figures
    }

    fn big_enough(&self, bbox: &BBox) -> bool {
        bbox.width() >= self.config.min_side_pt
            && bbox.height() >= self.config.min_side_pt
            && bbox.area() >= self.config.min_area_pt2
    }

    /// Whether embedded images over `bbox` are a strip of picture large enough to screen: not
    /// lettering set as an image (an axis title, a row of panel letters).
    fn picture_strip(&self, page: &RenderedPage, bbox: &BBox, scale: f32) -> bool {
        let (short, long) = (
            bbox.width().min(bbox.height()),
            bbox.width().max(bbox.height()),
        );
        let strip = short >= self.config.min_strip_side_pt
            && long >= STRIP_ASPECT * short
            && bbox.area() >= self.config.min_area_pt2;
        strip && {
            let pixel_box = bbox.to_pixels(scale, page.image.width, page.image.height);
            let render = page.image.crop(pixel_box);
            let channels = usize::from(render.channels.max(1));
            let paper = 255 - self.config.ink_threshold / 2;
            let marked = render
                .data
                .chunks_exact(channels)
                .filter(|pixel| pixel.iter().any(|&v| v < paper))
                .count();
            let pixels = render.width as usize * render.height as usize;
            pixels > 0 && marked as f32 >= MIN_STRIP_PICTURE_SHARE * pixels as f32
        }
    }

    fn figure(
        &self,
        page: &RenderedPage,
        source: FigureSource,
        bbox: BBox,
        native: Option<Raster>,
        scale: f32,
    ) -> Figure {
        let pixel_box = bbox.to_pixels(scale, page.image.width, page.image.height);
        let raster = native.unwrap_or_else(|| page.image.crop(pixel_box));
        Figure::new(source, bbox, pixel_box, raster)
    }

    /// Regions of ink on the page render that no text span and no embedded figure explains.
    fn drawn_regions(&self, page: &RenderedPage, taken: &[BBox]) -> Vec<BBox> {
        let cfg = &self.config;
        let grid = InkGrid::of(
            &page.image,
            page.meta.pixels_per_point() * cfg.cell_pt,
            cfg.ink_threshold,
        );
        let mut ink = grid.cells.clone();
        let cell_pt = page.meta.width_pt / grid.columns as f32;
        let cell_pt_y = page.meta.height_pt / grid.rows as f32;
        let clear = |ink: &mut Vec<bool>, bbox: &BBox| {
            let c0 = (bbox.x0 / cell_pt).floor().max(0.0) as usize;
            let r0 = (bbox.y0 / cell_pt_y).floor().max(0.0) as usize;
            let c1 = ((bbox.x1 / cell_pt).ceil() as usize).min(grid.columns);
            let r1 = ((bbox.y1 / cell_pt_y).ceil() as usize).min(grid.rows);
            for r in r0..r1 {
                ink[r * grid.columns + c0.min(c1)..r * grid.columns + c1].fill(false);
            }
        };
        for span in &page.text {
            clear(&mut ink, &span.bbox.expand(0.5));
        }
        for bbox in taken {
            clear(&mut ink, bbox);
        }
        let join = (cfg.join_gap_pt / cfg.cell_pt).ceil() as usize;
        let mut regions = Vec::new();
        for (c0, r0, c1, r1) in components(&ink, grid.columns, grid.rows, join) {
            let bbox = BBox::new(
                c0 as f32 * cell_pt,
                r0 as f32 * cell_pt_y,
                c1 as f32 * cell_pt,
                r1 as f32 * cell_pt_y,
            )
            .clamp_to(page.meta.width_pt, page.meta.height_pt);
            if !self.big_enough(&bbox) || is_banner(&bbox) {
                continue;
            }
            let text_area: f32 = page
                .text
                .iter()
                .filter_map(|span| span.bbox.intersection(&bbox))
                .map(|b| b.area())
                .sum();
            if text_area / bbox.area() > cfg.max_text_share {
                continue;
            }
            // Labels just outside the strokes (axis titles, panel letters) belong to the figure.
            let with_labels = page
                .text
                .iter()
                .filter(|span| {
                    span.bbox.area() < bbox.area() * 0.2
                        && span.bbox.intersection(&bbox.expand(cfg.cell_pt)).is_some()
                })
                .fold(bbox, |acc, span| acc.union(&span.bbox));
            regions.push(with_labels);
        }
        regions
    }
}

impl Stage for Figures {
    type In = RenderedPage;
    type Out = PageFigures;

    fn process(&mut self, batch: &[RenderedPage]) -> Vec<ItemResult<PageFigures>> {
        batch
            .iter()
            .map(|page| {
                let figures = self.detect(page);
                metrics::counter!("panelscope_figures_found_total").increment(figures.len() as u64);
                Ok(Outputs::One(PageFigures {
                    meta: page.meta.clone(),
                    figures,
                }))
            })
            .collect()
    }

    fn describe(&self, page: &RenderedPage) -> String {
        format!("{} page {}", page.meta.path.display(), page.meta.index + 1)
    }

    fn key(&self, page: &RenderedPage) -> Option<String> {
        Some(page.meta.doc.to_hex())
    }

    fn sequence(&self, page: &RenderedPage) -> Option<u64> {
        Some(page.meta.document.job.position)
    }
}

/// A short, wide (or narrow, tall) strip: a page header rule, a separator, a colour bar; not a
/// figure.
fn is_banner(bbox: &BBox) -> bool {
    let (short, long) = (
        bbox.width().min(bbox.height()),
        bbox.width().max(bbox.height()),
    );
    short < 48.0 && long > 8.0 * short
}

fn union_of(mut boxes: impl Iterator<Item = BBox>) -> BBox {
    let first = boxes.next().unwrap_or_default();
    boxes.fold(first, |acc, b| acc.union(&b))
}

/// Groups boxes that lie within `gap` of each other and are `joinable` (transitively); each group
/// lists indices.
fn cluster(boxes: &[BBox], gap: f32, joinable: impl Fn(&BBox, &BBox) -> bool) -> Vec<Vec<usize>> {
    let mut parent: Vec<usize> = (0..boxes.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for (i, first) in boxes.iter().enumerate() {
        let grown = first.expand(gap / 2.0);
        for (j, second) in boxes.iter().enumerate().skip(i + 1) {
            if grown.intersection(&second.expand(gap / 2.0)).is_some() && joinable(first, second) {
                let (a, b) = (root(&mut parent, i), root(&mut parent, j));
                parent[a] = b;
            }
        }
    }
    let mut groups: std::collections::BTreeMap<usize, Vec<usize>> =
        std::collections::BTreeMap::new();
    for i in 0..boxes.len() {
        let r = root(&mut parent, i);
        groups.entry(r).or_default().push(i);
    }
    groups.into_values().collect()
}

/// How far (points) the edges of two tiles of one picture may stray from each other.
const TILE_ALIGN_PT: f32 = 0.5;

/// Whether two images close together are pieces of one picture: they overlap (the layers of a
/// scanned page, an image and its mask), or they share a whole edge, as the tiles a picture was
/// cut into do. Stacked strips of different widths, or a small picture beside a large one, are
/// pictures of their own however close they sit.
fn one_picture(a: &BBox, b: &BBox) -> bool {
    let near = |u: f32, v: f32| (u - v).abs() <= TILE_ALIGN_PT;
    a.intersection(b)
        .is_some_and(|shared| shared.area() > TILE_OVERLAP_PT2)
        || (near(a.x0, b.x0) && near(a.x1, b.x1))
        || (near(a.y0, b.y0) && near(a.y1, b.y1))
}

/// Area (square points) two images must share to overlap rather than touch.
const TILE_OVERLAP_PT2: f32 = 1.0;

/// The page render reduced to a grid of cells that hold ink (pixels clearly darker or more
/// colourful than the white page).
struct InkGrid {
    columns: usize,
    rows: usize,
    cells: Vec<bool>,
}

impl InkGrid {
    fn of(image: &Raster, cell_px: f32, threshold: u8) -> Self {
        let cell = cell_px.round().max(1.0) as usize;
        let (width, height) = (image.width as usize, image.height as usize);
        let columns = width.div_ceil(cell).max(1);
        let rows = height.div_ceil(cell).max(1);
        let mut cells = vec![false; columns * rows];
        let channels = usize::from(image.channels);
        let floor = 255u8.saturating_sub(threshold);
        let row_bytes = width * channels;
        // The rows of one band of cells are min-reduced element-wise first (which vectorises),
        // and the band's cells read once from that: a per-row, per-cell reduction over chunks of
        // a few bytes cost as much as rendering the page.
        let mut band_min = vec![u8::MAX; row_bytes];
        for (band, rows_of_band) in image.data.chunks(row_bytes * cell).take(rows).enumerate() {
            band_min.fill(u8::MAX);
            for row in rows_of_band.chunks_exact(row_bytes) {
                for (m, &v) in band_min.iter_mut().zip(row) {
                    *m = (*m).min(v);
                }
            }
            let cells_row = &mut cells[band * columns..(band + 1) * columns];
            for (c, chunk) in band_min.chunks(cell * channels).enumerate() {
                cells_row[c] = chunk.iter().fold(u8::MAX, |m, &v| m.min(v)) < floor;
            }
        }
        Self {
            columns,
            rows,
            cells,
        }
    }
}

/// Bounding boxes `(c0, r0, c1, r1)` (cells, end exclusive) of groups of ink cells, where cells
/// within `join` cells of each other belong to one group.
fn components(
    ink: &[bool],
    columns: usize,
    rows: usize,
    join: usize,
) -> Vec<(usize, usize, usize, usize)> {
    let mut label = vec![usize::MAX; ink.len()];
    let mut boxes = Vec::new();
    let mut stack = Vec::new();
    for start in 0..ink.len() {
        if !ink[start] || label[start] != usize::MAX {
            continue;
        }
        let id = boxes.len();
        let (mut c0, mut r0, mut c1, mut r1) = (usize::MAX, usize::MAX, 0, 0);
        label[start] = id;
        stack.push(start);
        while let Some(cell) = stack.pop() {
            let (r, c) = (cell / columns, cell % columns);
            c0 = c0.min(c);
            r0 = r0.min(r);
            c1 = c1.max(c + 1);
            r1 = r1.max(r + 1);
            for nr in r.saturating_sub(join)..(r + join + 1).min(rows) {
                for nc in c.saturating_sub(join)..(c + join + 1).min(columns) {
                    let next = nr * columns + nc;
                    if ink[next] && label[next] == usize::MAX {
                        label[next] = id;
                        stack.push(next);
                    }
                }
            }
        }
        boxes.push((c0, r0, c1, r1));
    }
    boxes
}

/// Whether a text run is a panel letter: one letter, maybe in parentheses or followed by a
/// period ("A", "b", "(c)", "D.").
pub fn is_panel_letter(text: &str) -> bool {
    let text = text.trim();
    let text = text
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .unwrap_or(text);
    let text = text.strip_suffix('.').unwrap_or(text);
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic()) && chars.next().is_none()
}

/// The panel letters of a figure: letter runs inside its top part or just above it (within two
/// letter heights), horizontally within it, left to right.
fn panel_letters(text: &[TextSpan], figure: &BBox) -> Vec<BBox> {
    let mut letters: Vec<BBox> = text
        .iter()
        .filter(|span| is_panel_letter(&span.text))
        .map(|span| span.bbox)
        .filter(|b| {
            let height = b.height().max(1.0);
            b.x0 >= figure.x0 - height
                && b.x1 <= figure.x1 + height
                && b.y1 >= figure.y0 - 2.0 * height
                && b.y0 <= figure.y0 + figure.height() / 2.0
        })
        .collect();
    letters.sort_by(|a, b| a.x0.total_cmp(&b.x0));
    letters
}

/// Where the text of a figure drawn on the page lies: the spans whose centres are inside it.
fn words_inside(text: &[TextSpan], figure: &BBox) -> Vec<BBox> {
    text.iter()
        .filter(|span| !span.text.trim().is_empty())
        .map(|span| span.bbox)
        .filter(|b| {
            let (x, y) = ((b.x0 + b.x1) / 2.0, (b.y0 + b.y1) / 2.0);
            (figure.x0..=figure.x1).contains(&x) && (figure.y0..=figure.y1).contains(&y)
        })
        .collect()
}

/// Farthest (points) a row label may reach from the figure's side.
const ROW_LABEL_REACH_PT: f32 = 60.0;
/// Longest row label (characters): a protein name or a marker, never a line of prose.
const ROW_LABEL_MAX_CHARS: usize = 20;

/// The row labels of a figure: short runs lying wholly in a narrow band beside it (right or left)
/// and vertically within it. A neighbouring column's prose runs far wider than the band.
fn row_labels(text: &[TextSpan], figure: &BBox) -> Vec<BBox> {
    text.iter()
        .filter(|span| {
            let b = &span.bbox;
            let chars = span.text.trim().chars().count();
            let centre = (b.y0 + b.y1) / 2.0;
            let right = b.x0 >= figure.x1 - 1.0 && b.x1 <= figure.x1 + ROW_LABEL_REACH_PT;
            let left = b.x1 <= figure.x0 + 1.0 && b.x0 >= figure.x0 - ROW_LABEL_REACH_PT;
            // Axis ticks and markers are numbers; a strip's label names a protein.
            let named = span.text.chars().any(|c| c.is_alphabetic());
            (1..=ROW_LABEL_MAX_CHARS).contains(&chars)
                && named
                && (right || left)
                && centre > figure.y0
                && centre < figure.y1
        })
        .map(|span| span.bbox)
        .collect()
}

/// Whether a text run starts a figure caption ("Figure 3", "Fig. 3B", "FIGURE 3", "Fig 3").
pub fn is_caption_start(text: &str) -> bool {
    let text = text.trim_start();
    let lower = text.to_ascii_lowercase();
    let rest = ["figure", "fig.", "fig"]
        .iter()
        .find(|prefix| lower.starts_with(*prefix))
        .map(|prefix| &text[prefix.len()..]);
    match rest {
        Some(rest) => {
            let rest = rest.trim_start_matches([' ', '.', '\u{a0}']);
            rest.chars().next().is_some_and(|c| {
                c.is_ascii_digit()
                    || (c.is_ascii_uppercase()
                        && rest.len() > 1
                        && rest.as_bytes()[1].is_ascii_digit())
            })
        }
        None => false,
    }
}

/// The caption of each figure: the nearest caption start below it (or above, when none is below)
/// that overlaps it horizontally, followed by the lines of its paragraph.
fn captions(text: &[TextSpan], figures: &[Figure], cfg: &FiguresConfig) -> Vec<Option<String>> {
    let starts: Vec<usize> = (0..text.len())
        .filter(|&i| is_caption_start(&text[i].text))
        .collect();
    let mut used = vec![false; text.len()];
    figures
        .iter()
        .map(|figure| {
            let b = figure.bbox;
            let overlaps = |span: &TextSpan| span.bbox.x1 > b.x0 && span.bbox.x0 < b.x1;
            let distance = |span: &TextSpan| {
                if span.bbox.y0 >= b.y1 - 2.0 {
                    Some(span.bbox.y0 - b.y1)
                } else if span.bbox.y1 <= b.y0 + 2.0 {
                    // Captions above a figure are less common: make them lose ties.
                    Some(b.y0 - span.bbox.y1 + cfg.caption_distance_pt / 4.0)
                } else {
                    None
                }
            };
            let best = starts
                .iter()
                .filter(|&&i| !used[i] && overlaps(&text[i]))
                .filter_map(|&i| distance(&text[i]).map(|d| (d, i)))
                .filter(|(d, _)| *d <= cfg.caption_distance_pt)
                .min_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal))?;
            used[best.1] = true;
            Some(paragraph(text, best.1, cfg.caption_max_chars))
        })
        .collect()
}

/// The text of the paragraph that starts at span `start`: following spans in the same column,
/// each beginning within about a line of the previous one.
fn paragraph(text: &[TextSpan], start: usize, max_chars: usize) -> String {
    let first = &text[start].bbox;
    let line_height = first.height().max(4.0);
    let mut caption = text[start].text.clone();
    let mut last = *first;
    let mut followers: Vec<&TextSpan> = text
        .iter()
        .filter(|span| {
            span.bbox.y0 > first.y0 + line_height * 0.5
                && span.bbox.x1 > first.x0 - 2.0
                && span.bbox.x0 < first.x0 + first.width().max(200.0)
        })
        .collect();
    followers.sort_by(|a, b| {
        (a.bbox.y0, a.bbox.x0)
            .partial_cmp(&(b.bbox.y0, b.bbox.x0))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    for span in followers {
        if span.bbox.y0 - last.y1 > line_height * 0.9
            || caption.len() >= max_chars
            || is_caption_start(&span.text)
        {
            break;
        }
        caption.push(' ');
        caption.push_str(&span.text);
        last = span.bbox;
    }
    if caption.len() > max_chars {
        let cut = caption
            .char_indices()
            .nth(max_chars)
            .map_or(caption.len(), |(i, _)| i);
        caption.truncate(cut);
        caption.push('…');
    }
    caption
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_labels_are_short_names_right_beside_a_figure() {
        let figure = BBox::new(100.0, 100.0, 300.0, 200.0);
        let span = |text: &str, x0: f32, y0: f32, x1: f32| TextSpan {
            text: text.to_string(),
            bbox: BBox::new(x0, y0, x1, y0 + 10.0),
        };
        let text = [
            span("GAPDH", 304.0, 120.0, 330.0),
            span("β-actin", 304.0, 150.0, 334.0),
            span("120", 80.0, 120.0, 96.0),
            span("Cells were lysed in RIPA buffer and", 310.0, 170.0, 520.0),
            span("p53", 304.0, 230.0, 320.0),
            span("Bax", 60.0, 140.0, 98.0),
        ];
        let found = row_labels(&text, &figure);
        assert_eq!(found, vec![text[0].bbox, text[1].bbox, text[5].bbox]);
    }

    #[test]
    fn panel_letters_are_single_letters_however_dressed() {
        for text in ["A", "b", "(c)", "D.", " E "] {
            assert!(is_panel_letter(text), "{text}");
        }
        for text in ["AB", "12", "(1)", "WT", "", "Fig."] {
            assert!(!is_panel_letter(text), "{text}");
        }
    }

    #[test]
    fn caption_starts() {
        for yes in [
            "Figure 3. Western blot",
            "Fig. 2B shows",
            "FIGURE 10",
            "Fig 4",
            "Figure S1",
        ] {
            assert!(is_caption_start(yes), "{yes}");
        }
        for no in [
            "Figures show",
            "fig tree",
            "Configure 3",
            "Figure",
            "In Figure 3 we",
        ] {
            assert!(!is_caption_start(no), "{no}");
        }
    }

    #[test]
    fn clusters_join_transitively() {
        let boxes = [
            BBox::new(0.0, 0.0, 10.0, 10.0),
            BBox::new(11.0, 0.0, 20.0, 10.0),
            BBox::new(21.0, 0.0, 30.0, 10.0),
            BBox::new(100.0, 0.0, 110.0, 10.0),
        ];
        assert_eq!(
            cluster(&boxes, 2.0, |_, _| true),
            vec![vec![0, 1, 2], vec![3]]
        );
        assert_eq!(cluster(&boxes, 0.5, |_, _| true).len(), 4);
    }

    #[test]
    fn only_overlapping_images_or_images_sharing_an_edge_are_one_picture() {
        // A picture cut into two strips, then a strip of another width stacked under it a
        // hairline apart, a small picture beside the first strip, a scanned page's two layers
        // drawn over each other, and two panels of one width set flush with a hairline between.
        let boxes = [
            BBox::new(0.0, 0.0, 100.0, 20.0),
            BBox::new(0.0, 20.0, 100.0, 40.0),
            BBox::new(0.0, 40.2, 70.0, 60.0),
            BBox::new(100.2, 0.0, 130.0, 15.0),
            BBox::new(200.0, 0.0, 400.0, 300.0),
            BBox::new(220.0, 40.0, 380.0, 120.0),
            BBox::new(0.0, 100.0, 100.0, 140.0),
            BBox::new(0.0, 140.7, 100.0, 180.0),
        ];
        assert_eq!(
            cluster(&boxes, FiguresConfig::default().tile_gap_pt, one_picture),
            vec![vec![0, 1], vec![2], vec![3], vec![4, 5], vec![6], vec![7]]
        );
    }

    #[test]
    fn components_respect_the_join_distance() {
        let (columns, rows) = (10, 3);
        let mut ink = vec![false; columns * rows];
        ink[0] = true;
        ink[3] = true;
        ink[9] = true;
        assert_eq!(
            components(&ink, columns, rows, 3),
            vec![(0, 0, 4, 1), (9, 0, 10, 1)]
        );
        assert_eq!(components(&ink, columns, rows, 2).len(), 3);
    }

    #[test]
    fn toml_round_trip() {
        let config = FiguresConfig {
            figure_gap_pt: 14.0,
            ..FiguresConfig::default()
        };
        let text = toml::to_string(&config).unwrap();
        assert_eq!(toml::from_str::<FiguresConfig>(&text).unwrap(), config);
    }
}
