//! Everything that touches pdfium: opening a document, rendering a page, reading its image
//! objects and text. Runs only inside worker processes.

use std::path::Path;

use image::RgbImage;
use pdfium_render::prelude::*;

use super::RenderConfig;
use crate::units::{
    BBox, DocumentId, DocumentInfo, DocumentJob, EmbeddedImage, PageMeta, Raster, RenderedPage,
    TextSpan,
};

/// Why a document or page could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    /// The file is empty.
    #[error("empty file (0 bytes)")]
    Empty,
    /// The file needs a password.
    #[error("encrypted: a password is required to open it")]
    Encrypted,
    /// The file is not a PDF pdfium can read.
    #[error("damaged or not a PDF ({0})")]
    Damaged(String),
    /// The file changed on disk after the scan hashed it.
    #[error("the file changed since it was scanned (its blake3 is now {0})")]
    Changed(String),
    /// The file could not be read.
    #[error("cannot read the file: {0}")]
    Io(#[from] std::io::Error),
    /// pdfium failed on a page.
    #[error("pdfium: {0}")]
    Pdfium(String),
}

impl PdfError {
    /// Whether the fault is the input's (dead-letter it) rather than the machine's.
    pub fn is_input_fault(&self) -> bool {
        !matches!(self, PdfError::Io(_))
    }
}

fn open_error(error: PdfiumError) -> PdfError {
    match error {
        PdfiumError::PdfiumLibraryInternalError(PdfiumInternalError::PasswordError) => {
            PdfError::Encrypted
        }
        PdfiumError::PdfiumLibraryInternalError(PdfiumInternalError::SecurityError) => {
            PdfError::Encrypted
        }
        PdfiumError::PdfiumLibraryInternalError(PdfiumInternalError::FormatError) => {
            PdfError::Damaged("pdfium: data format error".to_string())
        }
        other => PdfError::Damaged(format!("pdfium: {other}")),
    }
}

/// Bytes within which a PDF's header must start (ISO 32000-1, annex H) and its end-of-file
/// marker must lie.
const HEADER_WINDOW: usize = 1024;

/// What is visibly wrong with a file meant to be a PDF, in words a person can act on: another
/// kind of file saved under a `.pdf` name (an HTML page a scraper fetched instead of the paper,
/// an image, an archive), or a download cut short. `None` when nothing shows from outside.
fn visible_fault(bytes: &[u8]) -> Option<String> {
    let head = &bytes[..bytes.len().min(HEADER_WINDOW)];
    let Some(start) = find(head, b"%PDF-") else {
        let text = String::from_utf8_lossy(&head[..head.len().min(64)]).to_ascii_lowercase();
        let text = text.trim_start_matches('\u{feff}').trim_start();
        let kind = if text.starts_with("<!doctype html") || text.starts_with("<html") {
            "an HTML page"
        } else if text.starts_with("<?xml") || text.starts_with('<') {
            "an XML or HTML file"
        } else if head.starts_with(b"\x89PNG") {
            "a PNG image"
        } else if head.starts_with(b"\xff\xd8\xff") {
            "a JPEG image"
        } else if head.starts_with(b"PK\x03\x04") {
            "a ZIP archive (a DOCX, EPUB or zipped folder?)"
        } else if head.starts_with(b"\x1f\x8b") {
            "a gzip archive"
        } else {
            return Some(format!(
                "not a PDF: no %PDF- header in its first {HEADER_WINDOW} bytes"
            ));
        };
        return Some(format!("not a PDF: it is {kind}"));
    };
    // A linearized PDF states its own length in its first object.
    let declared = find(&head[start..], b"/Linearized").and_then(|at| {
        let rest = &head[start + at..];
        let from = find(rest, b"/L ")? + 3;
        let digits: String = rest[from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .map(|&b| char::from(b))
            .collect();
        digits.parse::<u64>().ok()
    });
    match declared {
        Some(length) if length > bytes.len() as u64 => Some(format!(
            "truncated: {} of the {length} bytes it declares",
            bytes.len()
        )),
        _ if find(
            &bytes[bytes.len().saturating_sub(HEADER_WINDOW)..],
            b"%%EOF",
        )
        .is_none() =>
        {
            Some("truncated: no %%EOF marker at its end".to_string())
        }
        _ => None,
    }
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn pdfium_error(error: PdfiumError) -> PdfError {
    PdfError::Pdfium(error.to_string())
}

/// A process's handle on pdfium and on the document it has open.
pub struct Pdf {
    pdfium: &'static Pdfium,
    open: Option<(DocumentId, PdfDocument<'static>)>,
}

impl Pdf {
    /// Binds the pdfium library at `library` (once per process).
    pub fn bind(library: &Path) -> Result<Self, String> {
        let bindings = Pdfium::bind_to_library(library)
            .map_err(|e| format!("cannot load the pdfium library {}: {e}", library.display()))?;
        // A worker process binds pdfium once and keeps it until it exits.
        let pdfium: &'static Pdfium = Box::leak(Box::new(Pdfium::new(bindings)));
        Ok(Self { pdfium, open: None })
    }

    /// Opens `path`, checks it is still the document the scan hashed, and keeps it open for the
    /// following pages.
    fn open(&mut self, id: DocumentId, path: &Path) -> Result<&PdfDocument<'static>, PdfError> {
        if self.open.as_ref().map(|(open, _)| *open) != Some(id) {
            self.open = None;
            let bytes = std::fs::read(path)?;
            if bytes.is_empty() {
                return Err(PdfError::Empty);
            }
            let actual = DocumentId::of_bytes(&bytes);
            if actual != id {
                return Err(PdfError::Changed(actual.short()));
            }
            // Read before pdfium takes the bytes: said only if it refuses them.
            let fault = visible_fault(&bytes);
            let document =
                self.pdfium
                    .load_pdf_from_byte_vec(bytes, None)
                    .map_err(|error| match (open_error(error), fault) {
                        (PdfError::Damaged(reason), Some(fault)) => {
                            PdfError::Damaged(format!("{fault}; {reason}"))
                        }
                        (error, _) => error,
                    })?;
            self.open = Some((id, document));
        }
        Ok(&self.open.as_ref().expect("just opened").1)
    }

    /// Opens a document and reads what the pipeline needs to plan its pages.
    pub fn probe(
        &mut self,
        job: &DocumentJob,
        config: &RenderConfig,
        deadline_unix_ms: u64,
    ) -> Result<DocumentInfo, PdfError> {
        let document = self.open(job.id, &job.path)?;
        let pages = u32::try_from(document.pages().len()).unwrap_or(0);
        if pages == 0 {
            return Err(PdfError::Damaged("the document has no pages".to_string()));
        }
        let title = document
            .metadata()
            .get(PdfDocumentMetadataTagType::Title)
            .map(|tag| tag.value().trim().to_string())
            .filter(|title| !title.is_empty());
        Ok(DocumentInfo {
            job: job.clone(),
            pages,
            title,
            pages_screened: pages.min(config.max_pages),
            deadline_unix_ms,
        })
    }

    /// Renders page `index` of the document and reads its images and text.
    pub fn render(
        &mut self,
        info: &std::sync::Arc<DocumentInfo>,
        index: u32,
        config: &RenderConfig,
    ) -> Result<RenderedPage, PdfError> {
        let document = self.open(info.job.id, &info.job.path)?;
        let page = document
            .pages()
            .get(index as PdfPageIndex)
            .map_err(pdfium_error)?;
        let space = PageSpace::of(&page)?;

        // Fit the configured resolution under the pixel cap.
        let mut dpi = config.dpi;
        let pixels_at = |dpi: f32| {
            f64::from(space.width * dpi / 72.0).ceil() * f64::from(space.height * dpi / 72.0).ceil()
        };
        if pixels_at(dpi) > config.max_page_pixels as f64 {
            dpi *= (config.max_page_pixels as f64 / pixels_at(dpi)).sqrt() as f32 * 0.999;
        }
        let width_px = ((space.width * dpi / 72.0).round() as i32).max(1);
        let height_px = ((space.height * dpi / 72.0).round() as i32).max(1);

        let mut embedded = Vec::new();
        let mut budget = config.max_page_image_pixels;
        let drawing = collect_images(
            page.objects().iter(),
            &Matrix::IDENTITY,
            &space,
            config,
            &mut budget,
            &mut embedded,
        );
        let image = if config.skip_text_only_pages
            && !drawing.may_hold_figures()
            && page.annotations().is_empty()
        {
            Raster::empty()
        } else {
            let render_config = PdfRenderConfig::new()
                .set_target_size(width_px, height_px)
                // 24-bit with red and blue swapped: pdfium writes RGB rows we can take as they are.
                .set_format(PdfBitmapFormat::BGR)
                .set_reverse_byte_order(true)
                // The buffer starts white (see `render_rgb`): pdfium's own clear would paint it again.
                .clear_before_rendering(false)
                .render_annotations(true)
                .render_form_data(true)
                .use_lcd_text_rendering(false);
            render_rgb(&page, &render_config, width_px, height_px)?
        };

        let text = page_text(&page, &space);
        let text_chars = text
            .iter()
            .map(|span| span.text.chars().count() as u32)
            .sum();
        let meta = PageMeta {
            document: std::sync::Arc::clone(info),
            doc: info.job.id,
            path: std::sync::Arc::from(info.job.path.as_path()),
            index,
            pages_screened: info.pages_screened,
            width_pt: space.width,
            height_pt: space.height,
            dpi: width_px as f32 / space.width * 72.0,
            width_px: width_px as u32,
            height_px: height_px as u32,
            text_chars,
        };
        Ok(RenderedPage {
            meta,
            image,
            embedded,
            text,
        })
    }
}

/// The page rendered as RGB rows without padding, into a buffer of our own: pdfium draws straight
/// into the raster that goes to the pipeline, where its own bitmap had to be copied out (and
/// cleared before that) for every page.
fn render_rgb(
    page: &PdfPage,
    config: &PdfRenderConfig,
    width: i32,
    height: i32,
) -> Result<Raster, PdfError> {
    let (columns, rows) = (width.max(0) as usize, height.max(0) as usize);
    let row = columns * 3;
    // pdfium's rows start on 4-byte boundaries.
    let stride = row.div_ceil(4) * 4;
    let mut data = vec![255u8; stride * rows];
    {
        let mut bitmap = PdfBitmap::from_bytes(width, height, PdfBitmapFormat::BGR, &mut data)
            .map_err(pdfium_error)?;
        page.render_into_bitmap_with_config(&mut bitmap, config)
            .map_err(pdfium_error)?;
    }
    if stride > row {
        for y in 1..rows {
            data.copy_within(y * stride..y * stride + row, y * row);
        }
    }
    data.truncate(row * rows);
    Ok(Raster {
        width: columns as u32,
        height: rows as u32,
        channels: 3,
        data,
    })
}

/// A decoded image bitmap as RGB, shrunk by the smallest whole factor that brings it under
/// `max_pixels` (each output pixel averages its `factor × factor` block). One pass over the
/// source; `None` for an empty or unknown bitmap.
fn bitmap_to_rgb(bitmap: &PdfBitmap, max_pixels: u64) -> Option<RgbImage> {
    let (width, height) = (
        bitmap.width().max(0) as usize,
        bitmap.height().max(0) as usize,
    );
    let channels = match bitmap.format().ok()? {
        PdfBitmapFormat::Gray => 1,
        PdfBitmapFormat::BGR => 3,
        PdfBitmapFormat::BGRx | PdfBitmapFormat::BGRA => 4,
    };
    if width == 0 || height == 0 {
        return None;
    }
    let bytes = bitmap.as_raw_bytes();
    let stride = bytes.len() / height;
    if stride < width * channels {
        return None;
    }
    let pixels = (width * height) as u64;
    let factor = if pixels > max_pixels {
        (pixels as f64 / max_pixels as f64).sqrt().ceil() as usize
    } else {
        1
    };
    let (out_w, out_h) = (width / factor, height / factor);
    if out_w == 0 || out_h == 0 {
        return None;
    }
    // Plain index loops per layout: an iterator chain per pixel cost a visible share of rendering
    // on pages of large photographs.
    let mut data = vec![0u8; out_w * out_h * 3];
    if factor == 1 {
        for (y, out) in data.chunks_exact_mut(width * 3).enumerate() {
            let row = &bytes[y * stride..y * stride + width * channels];
            if channels == 1 {
                for (pixel, &gray) in out.chunks_exact_mut(3).zip(row) {
                    pixel.fill(gray);
                }
            } else {
                for (pixel, source) in out.chunks_exact_mut(3).zip(row.chunks_exact(channels)) {
                    pixel[0] = source[2];
                    pixel[1] = source[1];
                    pixel[2] = source[0];
                }
            }
        }
    } else {
        let area = (factor * factor) as u32;
        let mut sums = vec![0u32; out_w * 3];
        for (oy, out) in data.chunks_exact_mut(out_w * 3).enumerate() {
            sums.fill(0);
            for y in oy * factor..(oy + 1) * factor {
                let row = &bytes[y * stride..y * stride + out_w * factor * channels];
                for (block, sum) in row
                    .chunks_exact(factor * channels)
                    .zip(sums.chunks_exact_mut(3))
                {
                    for source in block.chunks_exact(channels) {
                        if channels == 1 {
                            let gray = u32::from(source[0]);
                            sum[0] += gray;
                            sum[1] += gray;
                            sum[2] += gray;
                        } else {
                            sum[0] += u32::from(source[2]);
                            sum[1] += u32::from(source[1]);
                            sum[2] += u32::from(source[0]);
                        }
                    }
                }
            }
            for (pixel, sum) in out.iter_mut().zip(&sums) {
                *pixel = (sum / area) as u8;
            }
        }
    }
    RgbImage::from_raw(out_w as u32, out_h as u32, data)
}

/// Maps PDF user space (bottom-left origin, page rotation not applied) to page space as rendered
/// (top-left origin, y down, rotation applied).
struct PageSpace {
    left: f32,
    bottom: f32,
    /// Unrotated box size.
    box_width: f32,
    box_height: f32,
    rotation: PdfPageRenderRotation,
    /// Displayed size (after rotation).
    width: f32,
    height: f32,
}

impl PageSpace {
    fn of(page: &PdfPage) -> Result<Self, PdfError> {
        let size = page.page_size();
        let rotation = page.rotation().unwrap_or(PdfPageRenderRotation::None);
        let box_width = size.width().value.abs();
        let box_height = size.height().value.abs();
        if !(box_width > 0.0 && box_height > 0.0) {
            return Err(PdfError::Damaged(format!(
                "the page has an empty size ({box_width} x {box_height} pt)"
            )));
        }
        let (width, height) = match rotation {
            PdfPageRenderRotation::Degrees90 | PdfPageRenderRotation::Degrees270 => {
                (box_height, box_width)
            }
            _ => (box_width, box_height),
        };
        Ok(Self {
            left: size.left().value.min(size.right().value),
            bottom: size.bottom().value.min(size.top().value),
            box_width,
            box_height,
            rotation,
            width,
            height,
        })
    }

    /// A user-space point in page space.
    fn point(&self, x: f32, y: f32) -> (f32, f32) {
        let u = x - self.left;
        let v = self.box_height - (y - self.bottom);
        match self.rotation {
            PdfPageRenderRotation::None => (u, v),
            PdfPageRenderRotation::Degrees90 => (self.box_height - v, u),
            PdfPageRenderRotation::Degrees180 => (self.box_width - u, self.box_height - v),
            PdfPageRenderRotation::Degrees270 => (v, self.box_width - u),
        }
    }

    /// The page-space box around user-space corners.
    fn bbox(&self, corners: &[(f32, f32)]) -> BBox {
        let mapped: Vec<(f32, f32)> = corners.iter().map(|(x, y)| self.point(*x, *y)).collect();
        let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for (x, y) in mapped {
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
        BBox::new(x0, y0, x1, y1)
    }

    /// Whether a box is on the page at all.
    fn visible(&self, bbox: &BBox) -> bool {
        bbox.intersection(&BBox::new(0.0, 0.0, self.width, self.height))
            .is_some()
    }
}

/// An affine map `[a b c d e f]` in PDF's row-vector convention.
#[derive(Debug, Clone, Copy)]
struct Matrix([f32; 6]);

impl Matrix {
    const IDENTITY: Matrix = Matrix([1.0, 0.0, 0.0, 1.0, 0.0, 0.0]);

    fn of(matrix: &PdfMatrix) -> Self {
        Matrix([
            matrix.a(),
            matrix.b(),
            matrix.c(),
            matrix.d(),
            matrix.e(),
            matrix.f(),
        ])
    }

    fn apply(&self, (x, y): (f32, f32)) -> (f32, f32) {
        let [a, b, c, d, e, f] = self.0;
        (a * x + c * y + e, b * x + d * y + f)
    }

    /// `self` applied after `inner`.
    fn then(&self, inner: &Matrix) -> Matrix {
        let [a1, b1, c1, d1, e1, f1] = inner.0;
        let [a2, b2, c2, d2, e2, f2] = self.0;
        Matrix([
            a1 * a2 + b1 * c2,
            a1 * b2 + b1 * d2,
            c1 * a2 + d1 * c2,
            c1 * b2 + d1 * d2,
            e1 * a2 + f1 * c2 + e2,
            e1 * b2 + f1 * d2 + f2,
        ])
    }
}

/// Thickest path (points, across) that is a rule: a header's underline, a table's line.
const MAX_RULE_THICKNESS_PT: f32 = 3.0;
/// Shortest path (points, along) that is a rule; shorter thin paths are ticks, dashes, marks of
/// a drawing.
const MIN_RULE_LENGTH_PT: f32 = 10.0;
/// Most rules a page of text holds (under a running header, above footnotes, around a small
/// table); a page with more may be a chart drawn of thin bars.
const MAX_RULES_OF_TEXT_PAGE: u32 = 20;

/// What a page draws besides its text, as far as figures go.
#[derive(Debug, Default, Clone, Copy)]
struct Drawing {
    /// An image, a shading, a filled or drawn shape: something a figure is made of.
    pictures: bool,
    /// Straight rules: thin and long.
    rules: u32,
}

impl Drawing {
    /// Whether a figure may be on the page: its raster is needed.
    fn may_hold_figures(&self) -> bool {
        self.pictures || self.rules > MAX_RULES_OF_TEXT_PAGE
    }

    fn add(&mut self, other: Drawing) {
        self.pictures |= other.pictures;
        self.rules += other.rules;
    }
}

/// Whether a path whose box (in its own space) `outer` maps onto the page is a rule.
fn is_rule(bounds: &PdfQuadPoints, outer: &Matrix) -> bool {
    let corners = [
        (bounds.x1(), bounds.y1()),
        (bounds.x2(), bounds.y2()),
        (bounds.x3(), bounds.y3()),
        (bounds.x4(), bounds.y4()),
    ]
    .map(|(x, y)| outer.apply((x.value, y.value)));
    let extent = |pick: fn(&(f32, f32)) -> f32| {
        let values = corners.iter().map(pick);
        values.clone().fold(f32::MIN, f32::max) - values.fold(f32::MAX, f32::min)
    };
    let (width, height) = (extent(|c| c.0), extent(|c| c.1));
    width.min(height) <= MAX_RULE_THICKNESS_PT && width.max(height) >= MIN_RULE_LENGTH_PT
}

/// Walks page objects (into form XObjects) and records every image with its page-space box;
/// what the page draws besides text.
fn collect_images<'a>(
    objects: impl Iterator<Item = PdfPageObject<'a>>,
    outer: &Matrix,
    space: &PageSpace,
    config: &RenderConfig,
    budget: &mut u64,
    out: &mut Vec<EmbeddedImage>,
) -> Drawing {
    let mut drawing = Drawing::default();
    for object in objects {
        match &object {
            PdfPageObject::Text(_) => {}
            PdfPageObject::Image(image) => {
                drawing.pictures = true;
                let Ok(matrix) = image.matrix() else { continue };
                // An image fills the unit square of its own matrix.
                let full = outer.then(&Matrix::of(&matrix));
                let corners: Vec<(f32, f32)> = [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)]
                    .iter()
                    .map(|p| full.apply(*p))
                    .collect();
                let bbox = space.bbox(&corners);
                if !space.visible(&bbox) {
                    continue;
                }
                let bbox = bbox.clamp_to(space.width, space.height);
                let pixel_width = image.width().unwrap_or(0).max(0) as u32;
                let pixel_height = image.height().unwrap_or(0).max(0) as u32;
                let short = bbox.width().min(bbox.height());
                let large = short >= config.min_image_side_pt
                    || (short >= config.min_image_strip_side_pt
                        && bbox.area() >= config.min_image_side_pt * config.min_image_side_pt);
                let cost =
                    (u64::from(pixel_width) * u64::from(pixel_height)).min(config.max_image_pixels);
                // Past the page's budget, images keep their box and figures fall back to the render.
                let raster = if large && cost <= *budget {
                    *budget -= cost;
                    image_pixels(image, &full, space, config)
                } else {
                    None
                };
                out.push(EmbeddedImage {
                    bbox,
                    pixel_width,
                    pixel_height,
                    raster,
                });
            }
            PdfPageObject::XObjectForm(form) => {
                let Ok(matrix) = form.matrix() else {
                    drawing.pictures = true;
                    continue;
                };
                let inner = outer.then(&Matrix::of(&matrix));
                drawing.add(collect_images(
                    form.iter(),
                    &inner,
                    space,
                    config,
                    budget,
                    out,
                ));
            }
            PdfPageObject::Path(path) => match path.bounds() {
                Ok(bounds) if is_rule(&bounds, outer) => drawing.rules += 1,
                _ => drawing.pictures = true,
            },
            _ => drawing.pictures = true,
        }
    }
    drawing
}

/// An image object's pixels as they appear on the rendered page: decoded at native resolution,
/// then flipped or turned as its matrix and the page rotation place it, downscaled past the cap.
fn image_pixels(
    image: &PdfPageImageObject,
    full: &Matrix,
    space: &PageSpace,
    config: &RenderConfig,
) -> Option<Raster> {
    let bitmap = image.get_raw_bitmap().ok()?;
    let mut rgb = bitmap_to_rgb(&bitmap, config.max_image_pixels)?;
    // Where the image's own axes point on the page: image x runs along the matrix's first
    // column, image rows (top to bottom) run against the second.
    let origin = space.point(full.apply((0.0, 1.0)).0, full.apply((0.0, 1.0)).1);
    let along_x = space.point(full.apply((1.0, 1.0)).0, full.apply((1.0, 1.0)).1);
    let along_rows = space.point(full.apply((0.0, 0.0)).0, full.apply((0.0, 0.0)).1);
    let x_axis = (along_x.0 - origin.0, along_x.1 - origin.1);
    let row_axis = (along_rows.0 - origin.0, along_rows.1 - origin.1);
    if x_axis.0.abs() < x_axis.1.abs() {
        // Image columns run vertically on the page: transpose first.
        rgb = image::imageops::rotate90(&rgb);
        rgb = image::imageops::flip_horizontal(&rgb);
        let flip_h = row_axis.0 < 0.0;
        let flip_v = x_axis.1 < 0.0;
        if flip_h {
            rgb = image::imageops::flip_horizontal(&rgb);
        }
        if flip_v {
            rgb = image::imageops::flip_vertical(&rgb);
        }
    } else {
        if x_axis.0 < 0.0 {
            rgb = image::imageops::flip_horizontal(&rgb);
        }
        if row_axis.1 < 0.0 {
            rgb = image::imageops::flip_vertical(&rgb);
        }
    }
    Some(Raster::from_rgb(rgb))
}

/// Text runs with page-space boxes: characters joined into runs along a line, split at line
/// breaks and at gaps wider than about two characters. One pass over the characters: pdfium's own
/// segment API re-scans the page for every segment.
fn page_text(page: &PdfPage, space: &PageSpace) -> Vec<TextSpan> {
    let Ok(text) = page.text() else {
        return Vec::new();
    };
    let mut spans: Vec<TextSpan> = Vec::new();
    let mut current: Option<TextSpan> = None;
    let mut pending_space = false;
    let flush = |current: &mut Option<TextSpan>, spans: &mut Vec<TextSpan>| {
        if let Some(mut span) = current.take() {
            span.text.truncate(span.text.trim_end().len());
            if !span.text.is_empty() {
                spans.push(span);
            }
        }
    };
    for character in text.chars().iter() {
        let Some(c) = character.unicode_char() else {
            continue;
        };
        if c == '\n' || c == '\r' {
            flush(&mut current, &mut spans);
            pending_space = false;
            continue;
        }
        if c.is_whitespace() || c == '\u{0}' {
            pending_space = true;
            continue;
        }
        let Ok(bounds) = character.loose_bounds() else {
            continue;
        };
        let bbox = space.bbox(&[
            (bounds.left().value, bounds.bottom().value),
            (bounds.right().value, bounds.top().value),
        ]);
        let continues = current.as_ref().is_some_and(|span| {
            let height = bbox.height().max(span.bbox.height()).max(1.0);
            let same_line = bbox.y0.max(span.bbox.y0) < bbox.y1.min(span.bbox.y1) - 0.3 * height;
            let gap = bbox.x0 - span.bbox.x1;
            same_line && gap > -height && gap < 2.0 * height
        });
        if !continues {
            flush(&mut current, &mut spans);
            current = Some(TextSpan {
                text: String::new(),
                bbox,
            });
            pending_space = false;
        }
        let span = current.as_mut().expect("a span is open");
        if pending_space && !span.text.is_empty() {
            span.text.push(' ');
        }
        pending_space = false;
        span.text.push(c);
        span.bbox = span.bbox.union(&bbox);
    }
    flush(&mut current, &mut spans);
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_that_are_not_pdfs_or_cut_short_are_named_for_what_they_are() {
        let html = b"\n  <!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0//EN\"><html></html>";
        assert_eq!(
            visible_fault(html).as_deref(),
            Some("not a PDF: it is an HTML page")
        );
        assert_eq!(
            visible_fault(b"\x89PNG\r\n\x1a\n....").as_deref(),
            Some("not a PDF: it is a PNG image")
        );
        assert!(visible_fault(b"hello").unwrap().contains("no %PDF- header"));

        let whole = b"%PDF-1.6\n1 0 obj <</Linearized 1/L 57/O 3>> endobj\n%%EOF\n";
        assert_eq!(visible_fault(whole), None);
        let mut declared_longer = whole.to_vec();
        declared_longer.splice(35..37, b"900".iter().copied());
        assert_eq!(
            visible_fault(&declared_longer).as_deref(),
            Some("truncated: 58 of the 900 bytes it declares")
        );
        let cut = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n2 0 obj << /Len";
        assert_eq!(
            visible_fault(cut).as_deref(),
            Some("truncated: no %%EOF marker at its end")
        );
    }
}
