//! The units that flow between stages (DESIGN.md §3): documents, pages, figures, panels, with
//! every region in page space (PDF points, origin at the page's top-left corner, y down).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use image::{GrayImage, RgbImage};
use serde::{Deserialize, Serialize};

/// A document's identity: the blake3 of its bytes, so the same file at two paths is one document.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DocumentId(pub [u8; 32]);

impl DocumentId {
    /// The id of a document with these bytes.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }

    /// Lower-case hex, as stored and printed.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The first 12 hex digits, for logs.
    pub fn short(&self) -> String {
        self.to_hex()[..12].to_string()
    }
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocumentId({})", self.short())
    }
}

impl FromStr for DocumentId {
    type Err = String;

    fn from_str(hex: &str) -> Result<Self, String> {
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("`{hex}` is not a 64-digit hex document id"));
        }
        let mut id = [0u8; 32];
        for (i, byte) in id.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
        }
        Ok(Self(id))
    }
}

/// A rectangle in page space: PDF points (1/72 inch) from the page's top-left corner, y down.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct BBox {
    /// Left edge.
    pub x0: f32,
    /// Top edge.
    pub y0: f32,
    /// Right edge.
    pub x1: f32,
    /// Bottom edge.
    pub y1: f32,
}

impl BBox {
    /// A box from its edges (normalised so that x0 ≤ x1 and y0 ≤ y1).
    pub fn new(x0: f32, y0: f32, x1: f32, y1: f32) -> Self {
        Self {
            x0: x0.min(x1),
            y0: y0.min(y1),
            x1: x0.max(x1),
            y1: y0.max(y1),
        }
    }

    /// Width.
    pub fn width(&self) -> f32 {
        self.x1 - self.x0
    }

    /// Height.
    pub fn height(&self) -> f32 {
        self.y1 - self.y0
    }

    /// Area (0 for degenerate boxes).
    pub fn area(&self) -> f32 {
        self.width().max(0.0) * self.height().max(0.0)
    }

    /// The centre point.
    pub fn center(&self) -> (f32, f32) {
        ((self.x0 + self.x1) / 2.0, (self.y0 + self.y1) / 2.0)
    }

    /// The overlap of two boxes, if any.
    pub fn intersection(&self, other: &BBox) -> Option<BBox> {
        let b = BBox {
            x0: self.x0.max(other.x0),
            y0: self.y0.max(other.y0),
            x1: self.x1.min(other.x1),
            y1: self.y1.min(other.y1),
        };
        (b.x0 < b.x1 && b.y0 < b.y1).then_some(b)
    }

    /// The smallest box holding both.
    pub fn union(&self, other: &BBox) -> BBox {
        BBox {
            x0: self.x0.min(other.x0),
            y0: self.y0.min(other.y0),
            x1: self.x1.max(other.x1),
            y1: self.y1.max(other.y1),
        }
    }

    /// Intersection over union, 0 when disjoint.
    pub fn iou(&self, other: &BBox) -> f32 {
        let inter = self.intersection(other).map_or(0.0, |b| b.area());
        let union = self.area() + other.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }

    /// Whether the point lies inside (edges included).
    pub fn contains_point(&self, x: f32, y: f32) -> bool {
        x >= self.x0 && x <= self.x1 && y >= self.y0 && y <= self.y1
    }

    /// The box grown by `margin` on every side.
    pub fn expand(&self, margin: f32) -> BBox {
        BBox {
            x0: self.x0 - margin,
            y0: self.y0 - margin,
            x1: self.x1 + margin,
            y1: self.y1 + margin,
        }
    }

    /// The box clipped to `[0, width] × [0, height]`.
    pub fn clamp_to(&self, width: f32, height: f32) -> BBox {
        BBox {
            x0: self.x0.clamp(0.0, width),
            y0: self.y0.clamp(0.0, height),
            x1: self.x1.clamp(0.0, width),
            y1: self.y1.clamp(0.0, height),
        }
    }

    /// The pixels this box covers in an image drawn at `pixels_per_point`, clipped to the image.
    pub fn to_pixels(&self, pixels_per_point: f32, width: u32, height: u32) -> PixelBox {
        let clamp = |v: f32, max: u32| (v.max(0.0) as u32).min(max);
        PixelBox {
            x0: clamp((self.x0 * pixels_per_point).floor(), width),
            y0: clamp((self.y0 * pixels_per_point).floor(), height),
            x1: clamp((self.x1 * pixels_per_point).ceil(), width),
            y1: clamp((self.y1 * pixels_per_point).ceil(), height),
        }
    }

    /// `[x0, y0, x1, y1]`, the JSON convention of every output.
    pub fn to_array(&self) -> [f32; 4] {
        [self.x0, self.y0, self.x1, self.y1]
    }
}

/// A rectangle in an image's pixels: columns `x0..x1`, rows `y0..y1` (end exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct PixelBox {
    /// First column.
    pub x0: u32,
    /// First row.
    pub y0: u32,
    /// One past the last column.
    pub x1: u32,
    /// One past the last row.
    pub y1: u32,
}

impl PixelBox {
    /// A box from its edges.
    pub fn new(x0: u32, y0: u32, x1: u32, y1: u32) -> Self {
        Self { x0, y0, x1, y1 }
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.x1.saturating_sub(self.x0)
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.y1.saturating_sub(self.y0)
    }

    /// Pixel count.
    pub fn area(&self) -> u64 {
        u64::from(self.width()) * u64::from(self.height())
    }

    /// Whether it holds no pixel.
    pub fn is_empty(&self) -> bool {
        self.width() == 0 || self.height() == 0
    }

    /// The same region as a box in page space, given where the image's (0, 0) pixel sits on the
    /// page (`origin`, points) and the image's scale.
    pub fn to_page(
        &self,
        origin: (f32, f32),
        pixels_per_point_x: f32,
        pixels_per_point_y: f32,
    ) -> BBox {
        BBox {
            x0: origin.0 + self.x0 as f32 / pixels_per_point_x,
            y0: origin.1 + self.y0 as f32 / pixels_per_point_y,
            x1: origin.0 + self.x1 as f32 / pixels_per_point_x,
            y1: origin.1 + self.y1 as f32 / pixels_per_point_y,
        }
    }
}

/// Pixels: 8-bit gray (1 channel) or RGB (3 channels), row-major, tightly packed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Raster {
    /// Columns.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// 1 (gray) or 3 (RGB).
    pub channels: u8,
    /// `width × height × channels` bytes.
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

impl fmt::Debug for Raster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Raster({}x{}x{})",
            self.width, self.height, self.channels
        )
    }
}

impl Raster {
    /// No pixels: the raster of a page that was not rasterised.
    pub fn empty() -> Self {
        Self {
            width: 0,
            height: 0,
            channels: 3,
            data: Vec::new(),
        }
    }

    /// The channels of the pixel at (`x`, `y`), which must lie inside the raster.
    pub fn pixel(&self, x: u32, y: u32) -> &[u8] {
        let channels = usize::from(self.channels.max(1));
        let at = (y as usize * self.width as usize + x as usize) * channels;
        &self.data[at..at + channels]
    }

    /// Whether it holds no pixel.
    pub fn is_empty(&self) -> bool {
        self.width == 0 || self.height == 0
    }

    /// An RGB raster.
    pub fn from_rgb(image: RgbImage) -> Self {
        let (width, height) = image.dimensions();
        Self {
            width,
            height,
            channels: 3,
            data: image.into_raw(),
        }
    }

    /// A gray raster.
    pub fn from_gray(image: GrayImage) -> Self {
        let (width, height) = image.dimensions();
        Self {
            width,
            height,
            channels: 1,
            data: image.into_raw(),
        }
    }

    /// The pixels as an RGB image (gray is expanded).
    pub fn to_rgb(&self) -> RgbImage {
        match self.channels {
            3 => RgbImage::from_raw(self.width, self.height, self.data.clone())
                .expect("raster size matches its data"),
            _ => image::DynamicImage::ImageLuma8(self.to_gray()).to_rgb8(),
        }
    }

    /// The pixels as a gray image (RGB is converted with the Rec. 601 luma weights).
    pub fn to_gray(&self) -> GrayImage {
        match self.channels {
            1 => GrayImage::from_raw(self.width, self.height, self.data.clone())
                .expect("raster size matches its data"),
            _ => {
                let gray: Vec<u8> = self
                    .data
                    .chunks_exact(3)
                    .map(|p| {
                        ((u32::from(p[0]) * 299
                            + u32::from(p[1]) * 587
                            + u32::from(p[2]) * 114
                            + 500)
                            / 1000) as u8
                    })
                    .collect();
                GrayImage::from_raw(self.width, self.height, gray)
                    .expect("raster size matches its data")
            }
        }
    }

    /// The mean of each `factor × factor` block (the last partial row and column of blocks are
    /// dropped): an exact area average for integer factors, in integer arithmetic that
    /// vectorises, where a general resampler spends floating point on every input pixel.
    pub fn box_shrink(&self, factor: u32) -> Raster {
        let factor = factor.max(1);
        let (width, height) = (self.width / factor, self.height / factor);
        if factor == 1 || width == 0 || height == 0 {
            return self.clone();
        }
        let channels = usize::from(self.channels.max(1));
        let (k, in_row) = (factor as usize, self.width as usize * channels);
        let used = width as usize * k * channels;
        let out_row = width as usize * channels;
        let mut column_sums = vec![0u32; used];
        let mut data = Vec::with_capacity(out_row * height as usize);
        let (count, half) = (factor * factor, factor * factor / 2);
        for band in self.data.chunks_exact(in_row * k).take(height as usize) {
            column_sums.fill(0);
            for row in band.chunks_exact(in_row) {
                for (sum, &v) in column_sums.iter_mut().zip(&row[..used]) {
                    *sum += u32::from(v);
                }
            }
            for block in column_sums.chunks_exact(k * channels) {
                for c in 0..channels {
                    let total: u32 = block.iter().skip(c).step_by(channels).sum();
                    data.push(((total + half) / count) as u8);
                }
            }
        }
        Raster {
            width,
            height,
            channels: self.channels,
            data,
        }
    }

    /// The region `area` (clipped to the raster) as a new raster.
    pub fn crop(&self, area: PixelBox) -> Raster {
        let x0 = area.x0.min(self.width);
        let y0 = area.y0.min(self.height);
        let x1 = area.x1.min(self.width).max(x0);
        let y1 = area.y1.min(self.height).max(y0);
        let channels = usize::from(self.channels);
        let row_bytes = (x1 - x0) as usize * channels;
        let mut data = Vec::with_capacity(row_bytes * (y1 - y0) as usize);
        for y in y0..y1 {
            let start = (y as usize * self.width as usize + x0 as usize) * channels;
            data.extend_from_slice(&self.data[start..start + row_bytes]);
        }
        Raster {
            width: x1 - x0,
            height: y1 - y0,
            channels: self.channels,
            data,
        }
    }
}

/// A document found by the scan, not yet opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentJob {
    /// blake3 of the bytes.
    pub id: DocumentId,
    /// Where it was found (the first path, when it was found at several).
    pub path: PathBuf,
    /// Bytes.
    pub size: u64,
    /// Its place in this run's catalog: the order reorder buffers restore, so that a run's
    /// results do not depend on which document finished rendering first.
    #[serde(default)]
    pub position: u64,
}

/// What opening a document told us.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentInfo {
    /// The document.
    pub job: DocumentJob,
    /// Pages in the file.
    pub pages: u32,
    /// Title from the metadata, when present.
    pub title: Option<String>,
    /// Pages that will be screened (fewer than `pages` when the page cap applies).
    pub pages_screened: u32,
    /// When the document's time budget runs out, in milliseconds since the Unix epoch.
    pub deadline_unix_ms: u64,
}

/// One page to render.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageJob {
    /// The document (shared by all its pages).
    pub document: Arc<DocumentInfo>,
    /// 0-based page index.
    pub index: u32,
}

/// A run of text on a page with its box.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextSpan {
    /// The text.
    pub text: String,
    /// Where it is.
    pub bbox: BBox,
}

/// A raster image object embedded in the page, as the PDF places it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddedImage {
    /// Where the image is drawn, in page space.
    pub bbox: BBox,
    /// Its native pixel size.
    pub pixel_width: u32,
    /// Its native pixel size.
    pub pixel_height: u32,
    /// Its pixels as drawn (masks, colour spaces and orientation applied), when they could be
    /// decoded; downscaled when larger than the configured cap.
    pub raster: Option<Raster>,
}

/// Facts about a page that travel with its figures after the page pixels are gone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageMeta {
    /// The document's facts (shared by all its pages).
    pub document: Arc<DocumentInfo>,
    /// The document.
    pub doc: DocumentId,
    /// Its path.
    pub path: Arc<std::path::Path>,
    /// 0-based page index.
    pub index: u32,
    /// Pages of the document being screened.
    pub pages_screened: u32,
    /// Page width in points.
    pub width_pt: f32,
    /// Page height in points.
    pub height_pt: f32,
    /// Render resolution.
    pub dpi: f32,
    /// Rendered width in pixels.
    pub width_px: u32,
    /// Rendered height in pixels.
    pub height_px: u32,
    /// Characters of text on the page.
    pub text_chars: u32,
}

impl PageMeta {
    /// Pixels per point of the page render.
    pub fn pixels_per_point(&self) -> f32 {
        self.dpi / 72.0
    }
}

/// A rendered page with what the PDF says is on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenderedPage {
    /// Page facts.
    pub meta: PageMeta,
    /// The page rendered at `meta.dpi`, RGB.
    pub image: Raster,
    /// Raster image objects.
    pub embedded: Vec<EmbeddedImage>,
    /// Text runs.
    pub text: Vec<TextSpan>,
}

/// Where a figure was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FigureSource {
    /// One embedded raster image object, or several tiles merged.
    Embedded,
    /// A region of the rendered page (vector drawings, many small images).
    Detected,
}

impl FigureSource {
    /// The label stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            FigureSource::Embedded => "embedded",
            FigureSource::Detected => "detected",
        }
    }
}

/// A figure on a page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    /// How it was found.
    pub source: FigureSource,
    /// Where, in page space.
    pub bbox: BBox,
    /// Where, in the page render's pixels.
    pub pixel_box: PixelBox,
    /// The caption nearest to it ("Figure 3. …"), when one was found.
    pub caption: Option<String>,
    /// The figure's pixels: the embedded image at its native resolution, or the page render's crop.
    pub raster: Raster,
    /// The separate pictures a compound figure is drawn from (one embedded image, or one group of
    /// tiles, each), when there are at least two: journals that place one image per panel tell
    /// the panels' edges exactly, gutters or not.
    #[serde(default)]
    pub parts: Vec<FigurePart>,
    /// Panel letters ("A", "b", "(c)") set as text at the figure's top or just above it, in page
    /// space: where pictures butted together without a gutter begin.
    #[serde(default)]
    pub letters: Vec<BBox>,
    /// Row labels (protein names, markers) set as text just beside the figure, in page space:
    /// where stacked strips without a gutter between them lie.
    #[serde(default)]
    pub row_labels: Vec<BBox>,
    /// Where raster images are drawn inside a figure found on the render (page space): the rest
    /// of it is vector drawing and text. Empty for figures of embedded images, which are all
    /// raster.
    #[serde(default)]
    pub pictures: Vec<BBox>,
    /// Where text of the page's text layer lies inside a figure found on the render (page
    /// space): a drawn panel that is nothing but words (a diagram's node, a table's cell) is
    /// told by it. Empty for figures of embedded images, whose text is pixels.
    #[serde(default)]
    pub words: Vec<BBox>,
}

impl Figure {
    /// A figure of `raster` drawn over `bbox` (`pixel_box` on the page render), before its
    /// caption, parts and labels are known.
    pub fn new(source: FigureSource, bbox: BBox, pixel_box: PixelBox, raster: Raster) -> Self {
        Self {
            source,
            bbox,
            pixel_box,
            caption: None,
            raster,
            parts: Vec::new(),
            letters: Vec::new(),
            row_labels: Vec::new(),
            pictures: Vec::new(),
            words: Vec::new(),
        }
    }
}

/// One picture of a compound figure drawn from several.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FigurePart {
    /// Where, in page space.
    pub bbox: BBox,
    /// Its native pixels, when it is a single decoded image; otherwise the figure's are cropped.
    pub raster: Option<Raster>,
}

/// A panel of a figure (the whole figure when it is not compound).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Panel {
    /// Where, in page space.
    pub bbox: BBox,
    /// Where, in the figure raster's pixels.
    pub pixel_box: PixelBox,
    /// The panel's pixels.
    pub raster: Raster,
    /// What it shows, once the classify stage has looked at it.
    #[serde(default)]
    pub class: Option<PanelClass>,
}

/// What a panel shows: the screened kinds of scientific image, or anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PanelClass {
    /// A Western blot: dark bands on a light membrane, in lanes.
    Blot,
    /// An electrophoresis gel shown as stained: light bands on a dark ground.
    Gel,
    /// A micrograph or other continuous-tone picture of a specimen (fluorescence, histology,
    /// electron microscopy, photographs).
    Microscopy,
    /// A drawn graphic: a chart, diagram, table, text, logo or icon.
    Other,
}

impl PanelClass {
    /// Every class, in the order reports list them.
    pub const ALL: [PanelClass; 4] = [
        PanelClass::Blot,
        PanelClass::Gel,
        PanelClass::Microscopy,
        PanelClass::Other,
    ];

    /// The label stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            PanelClass::Blot => "blot",
            PanelClass::Gel => "gel",
            PanelClass::Microscopy => "microscopy",
            PanelClass::Other => "other",
        }
    }
}

impl std::str::FromStr for PanelClass {
    type Err = String;

    fn from_str(label: &str) -> Result<Self, String> {
        PanelClass::ALL
            .into_iter()
            .find(|class| class.as_str() == label)
            .ok_or_else(|| format!("`{label}` is not a panel class (blot, gel, microscopy, other)"))
    }
}

/// A figure and the panels it was split into.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FigurePanels {
    /// The figure.
    pub figure: Figure,
    /// Its panels, in reading order.
    pub panels: Vec<Panel>,
}

/// A page after figure detection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageFigures {
    /// Page facts.
    pub meta: PageMeta,
    /// Its figures.
    pub figures: Vec<Figure>,
}

/// A page after panel splitting: what the store records for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PagePanels {
    /// Page facts.
    pub meta: PageMeta,
    /// Its figures with their panels.
    pub figures: Vec<FigurePanels>,
}

/// A page as the store keeps it: boxes, captions, sizes and hashes, no pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct PageRecord {
    /// Page facts.
    pub meta: PageMeta,
    /// Its figures, in reading order.
    pub figures: Vec<FigureRecord>,
}

/// A figure as the store keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct FigureRecord {
    /// How it was found.
    pub source: FigureSource,
    /// Page space.
    pub bbox: BBox,
    /// Page-render pixels.
    pub pixel_box: PixelBox,
    /// Size of its own pixels.
    pub raster_width: u32,
    /// Size of its own pixels.
    pub raster_height: u32,
    /// Its caption.
    pub caption: Option<String>,
    /// Its panels, in reading order.
    pub panels: Vec<PanelRecord>,
}

/// A panel as the store keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct PanelRecord {
    /// Page space.
    pub bbox: BBox,
    /// Pixel size.
    pub width_px: u32,
    /// Pixel size.
    pub height_px: u32,
    /// blake3 of its pixels, hex.
    pub pixels: String,
    /// Its perceptual hash.
    pub phash: crate::phash::PHash,
}

impl PageRecord {
    /// The record of a page: each panel's pixels hashed exactly, and perceptually through its
    /// thumbnail (`thumbs`, in figure then panel order), which is as good for a 32-pixel hash and
    /// far cheaper than the full raster.
    pub fn of(page: &PagePanels, thumbs: &[&Raster], hasher: &crate::phash::PHasher) -> PageRecord {
        let mut thumbs = thumbs.iter();
        PageRecord {
            meta: page.meta.clone(),
            figures: page
                .figures
                .iter()
                .map(|entry| FigureRecord {
                    source: entry.figure.source,
                    bbox: entry.figure.bbox,
                    pixel_box: entry.figure.pixel_box,
                    raster_width: entry.figure.raster.width,
                    raster_height: entry.figure.raster.height,
                    caption: entry.figure.caption.clone(),
                    panels: entry
                        .panels
                        .iter()
                        .map(|panel| PanelRecord {
                            bbox: panel.bbox,
                            width_px: panel.raster.width,
                            height_px: panel.raster.height,
                            pixels: blake3::hash(&panel.raster.data).to_hex().to_string(),
                            phash: hasher.hash(thumbs.next().copied().unwrap_or(&panel.raster)),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// A panel on its way to the index: its identity, where it is, and its pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct PanelItem {
    /// The panel's id in the store (assigned when its document is assembled).
    pub id: i64,
    /// 0-based page index.
    pub page: u32,
    /// 1-based ordinal of its figure on the page.
    pub figure: u32,
    /// 1-based ordinal within the figure.
    pub ordinal: u32,
    /// Page space.
    pub bbox: BBox,
    /// Its full pixels (dropped after embedding).
    pub raster: Option<Raster>,
    /// A copy at most `THUMB_SIDE` pixels on its longest side, kept for verification and evidence.
    pub thumb: Raster,
    /// Its full pixels in gray, kept past embedding for pictures up to
    /// [`crate::verify::SHARED_PART_MAX_SIDE`] pixels a side: parts spliced from one picture
    /// into another are searched at the scale both were drawn at (at half of it, both halved,
    /// beside a picture longer than [`crate::verify::SHARED_PART_FULL_RESOLUTION_SIDE`]).
    pub gray: Option<image::GrayImage>,
    /// Nearly uniform (blank, a flat colour), or words of the page's text layer alone (a
    /// diagram's node drawn on the page): never matched.
    pub uniform: bool,
    /// Share of its area drawn by raster images (1 for panels of embedded images; less where
    /// vector drawing and text make it up).
    pub picture_share: f32,
    /// What it shows (`None` until the classify stage, and for panels recorded before it).
    pub class: Option<PanelClass>,
}

/// Longest side of the panel thumbnails the store keeps.
pub const THUMB_SIDE: u32 = 384;

/// A document whose pages have all arrived, ready to embed.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentPanels {
    /// The document.
    pub info: Arc<DocumentInfo>,
    /// Its pages, in order, as the store records them.
    pub pages: Vec<PageRecord>,
    /// Its panels, in page and reading order; `pages[..].figures[..].panels` line up with them.
    pub panels: Vec<PanelItem>,
}

/// The vectors of one panel under the current model.
#[derive(Debug, Clone, PartialEq)]
pub struct PanelVectors {
    /// What the index holds: the panel in each of the embedder's indexed views (as it is first;
    /// see `Embedder::indexed_views`), then its indexed windows (as they are).
    pub indexed: Vec<(panelscope_models::Dihedral, Vec<f32>)>,
    /// How many of `indexed` are views of the whole panel; the rest are windows of it.
    pub indexed_views: usize,
    /// The panel in each of the embedder's query views (what queries use).
    pub views: Vec<(panelscope_models::Dihedral, Vec<f32>)>,
    /// Sub-windows of the panel as it is (queries for the panels that are crops of it).
    pub windows: Vec<Vec<f32>>,
    /// The panel turned by a few degrees (queries for slightly rotated copies of it).
    pub tilts: Vec<Vec<f32>>,
}

impl PanelVectors {
    /// The indexed vectors end to end, as the store keeps them.
    pub fn indexed_concatenated(&self) -> Vec<f32> {
        self.indexed
            .iter()
            .flat_map(|(_, v)| v.iter().copied())
            .collect()
    }
}

/// A document with its panels embedded.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentEmbedded {
    /// The document and its panels.
    pub document: DocumentPanels,
    /// One entry per panel, `None` for uniform panels (not indexed).
    pub vectors: Vec<Option<PanelVectors>>,
    /// The keys of its blots and gels in the index of parts, one entry per panel (`None` for
    /// the others); empty until the index stage keys them.
    pub parts: Vec<Option<Arc<crate::parts::PartKeys>>>,
}

impl DocumentEmbedded {
    /// Where the document was read from, as stages describe it.
    pub fn describe(&self) -> String {
        self.document.info.job.path.display().to_string()
    }

    /// The document's id, as stages key it.
    pub fn key(&self) -> String {
        self.document.info.job.id.to_hex()
    }

    /// The document's place in the catalog, as stages number it.
    pub fn position(&self) -> u64 {
        self.document.info.job.position
    }
}

/// Where a panel is, for matches and evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PanelPlace {
    /// Panel id.
    pub id: i64,
    /// Document.
    pub doc: DocumentId,
    /// The document's path.
    pub path: String,
    /// 1-based page.
    pub page: u32,
    /// Page space.
    pub bbox: BBox,
    /// What it shows, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<PanelClass>,
}

/// A pair the index found similar enough to verify: `older` was indexed before `newer` (or both
/// are of the same document, `older` first).
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The panel indexed first.
    pub older: PanelPlace,
    /// The panel of the document being ingested.
    pub newer: i64,
    /// Cosine similarity of their vectors (best dihedral view).
    pub similarity: f32,
    /// The view of `newer` that matched: the transform that aligns `newer` with `older`.
    pub view: panelscope_models::Dihedral,
    /// Set when either panel is boilerplate (it recurs across so many documents, or was found
    /// to be a copy of boilerplate before).
    pub boilerplate: bool,
}

/// A document with the candidate pairs its panels take part in.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentCandidates {
    /// The document, its panels and vectors.
    pub embedded: DocumentEmbedded,
    /// Pairs to verify.
    pub candidates: Vec<Candidate>,
    /// Pictures of earlier documents that the index of parts proposes for the search for
    /// shared parts with one of this document's.
    pub part_candidates: Vec<PartCandidate>,
    /// Panels of this document recognised as boilerplate (same order as its panels).
    pub boilerplate: Vec<bool>,
}

/// A picture of an earlier document that a new picture's part keys meet at one shift.
#[derive(Debug, Clone, PartialEq)]
pub struct PartCandidate {
    /// The earlier picture.
    pub older: PanelPlace,
    /// The new picture's panel id.
    pub newer: i64,
    /// The shift at which its keys met the older picture's: where the older picture's part lies in the new one, new = older + shift
    /// (pixels of both).
    pub shift: [f32; 2],
}

impl DocumentCandidates {
    /// Where the document was read from.
    pub fn path(&self) -> &std::path::Path {
        &self.embedded.document.info.job.path
    }
}

/// A verified (or refused) pair, as the store and the match stream carry it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchRecord {
    /// The panel indexed first.
    pub a: PanelPlace,
    /// The other.
    pub b: PanelPlace,
    /// Vector similarity (for a part of a panel repeated within it, the two parts' correlation).
    pub similarity: f32,
    /// Whether geometric verification confirmed it.
    pub verified: bool,
    /// `intra_document` or `cross_document`.
    pub kind: String,
    /// How `b` relates to `a`.
    pub transform: crate::verify::Relation,
    /// Why it is kept out of the match stream, when it is (e.g. `boilerplate`).
    pub suppressed: Option<String>,
}

/// A document ready to record: everything in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentMatched {
    /// The document, its panels and vectors.
    pub embedded: DocumentEmbedded,
    /// Panels recognised as boilerplate.
    pub boilerplate: Vec<bool>,
    /// Its matches.
    pub matches: Vec<MatchRecord>,
}

impl DocumentMatched {
    /// Where the document was read from.
    pub fn path(&self) -> &std::path::Path {
        &self.embedded.document.info.job.path
    }

    /// The matches a reviewer sees: verified, and not boilerplate.
    pub fn streamed_matches(&self) -> Vec<MatchRecord> {
        self.matches
            .iter()
            .filter(|m| m.verified && m.suppressed.is_none())
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_id_round_trips_through_hex() {
        let id = DocumentId::of_bytes(b"%PDF-1.7");
        assert_eq!(id.to_hex().parse::<DocumentId>().unwrap(), id);
        assert!("xyz".parse::<DocumentId>().is_err());
    }

    #[test]
    fn iou_of_boxes() {
        let a = BBox::new(0.0, 0.0, 10.0, 10.0);
        assert_eq!(a.iou(&a), 1.0);
        assert_eq!(a.iou(&BBox::new(20.0, 20.0, 30.0, 30.0)), 0.0);
        assert!((a.iou(&BBox::new(5.0, 0.0, 15.0, 10.0)) - 1.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn box_shrink_averages_blocks() {
        let raster = Raster {
            width: 5,
            height: 4,
            channels: 1,
            data: (0..20).collect(),
        };
        let small = raster.box_shrink(2);
        assert_eq!((small.width, small.height), (2, 2));
        // Blocks {0,1,5,6}, {2,3,7,8}, {10,11,15,16}, {12,13,17,18}; the fifth column is dropped.
        assert_eq!(small.data, vec![3, 5, 13, 15]);
        let rgb = Raster::from_rgb(RgbImage::from_fn(4, 2, |x, _| {
            image::Rgb([x as u8 * 10, 100, 200 - x as u8])
        }));
        let small = rgb.box_shrink(2);
        assert_eq!(small.data, vec![5, 100, 200, 25, 100, 198]);
    }

    #[test]
    fn crop_takes_the_right_pixels() {
        let mut image = RgbImage::new(4, 3);
        image.put_pixel(2, 1, image::Rgb([9, 8, 7]));
        let raster = Raster::from_rgb(image);
        let crop = raster.crop(PixelBox::new(2, 1, 4, 3));
        assert_eq!((crop.width, crop.height), (2, 2));
        assert_eq!(&crop.data[..3], &[9, 8, 7]);
        assert_eq!(
            raster.crop(PixelBox::new(3, 2, 10, 10)).width,
            1,
            "crops are clipped"
        );
    }

    #[test]
    fn page_space_and_pixels_agree() {
        let b = BBox::new(72.0, 36.0, 144.0, 72.0);
        let px = b.to_pixels(2.0, 1000, 1000);
        assert_eq!(px, PixelBox::new(144, 72, 288, 144));
        assert_eq!(px.to_page((0.0, 0.0), 2.0, 2.0), b);
    }
}
