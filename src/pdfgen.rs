//! Writes small, deterministic PDFs in code: pages of text, vector shapes and raster images at
//! known positions, for the PDF intake's tests, the synthetic catalog and the README example.
//!
//! Every position is in page space, as everywhere in panelscope: PDF points (1/72 inch) from the
//! page's top-left corner, y growing down. The writer flips to PDF's bottom-left origin itself.
//!
//! The output is a pure function of the calls made: no dates, no random salts, and a file `/ID`
//! derived from a blake3 of the unencrypted file, so a test can compare bytes and a catalog can be
//! regenerated exactly.
//!
//! Images are stored the way journals store them: one image XObject per [`PdfDoc::add_image`],
//! drawn with a `cm` that stretches it over a box. Placing one [`ImageId`] twice draws the same
//! object twice, which is what an exact-copy duplicate often looks like inside a real PDF.
//!
//! ```
//! use panelscope::pdfgen::{Font, ImageEncoding, PdfDoc};
//! use panelscope_stages::units::BBox;
//!
//! let mut doc = PdfDoc::new();
//! doc.title("A tiny paper");
//! let blot = image::DynamicImage::new_luma8(64, 48);
//! let blot = doc.add_image(&blot, ImageEncoding::Flate)?;
//! doc.add_page(612.0, 792.0)
//!     .text(72.0, 90.0, 18.0, Font::HelveticaBold, "Results")
//!     .image(BBox::new(72.0, 120.0, 264.0, 264.0), blot)
//!     .text(72.0, 280.0, 9.0, Font::TimesRoman, "Figure 1. A western blot.");
//! let pdf = doc.to_bytes()?;
//! assert!(pdf.starts_with(b"%PDF-1.7"));
//! # Ok::<(), panelscope::pdfgen::PdfGenError>(())
//! ```

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use image::{DynamicImage, ExtendedColorType, ImageEncoder};
use lopdf::encryption::{EncryptionState, EncryptionVersion, Permissions};
use lopdf::xref::XrefType;
use lopdf::{Dictionary, Document, Object, ObjectId, Stream, StringFormat};
use panelscope_stages::units::BBox;

/// What can go wrong while building or writing a PDF.
#[must_use]
#[derive(Debug, thiserror::Error)]
pub enum PdfGenError {
    /// A page side is zero, negative or not a number.
    #[error("page {page} is {width_pt} x {height_pt} pt; both sides must be finite and positive")]
    InvalidPageSize {
        /// Zero-based page index.
        page: usize,
        /// The width asked for.
        width_pt: f32,
        /// The height asked for.
        height_pt: f32,
    },
    /// Something drawn on the page had a NaN or infinite coordinate, size or line width.
    #[error("page {page} draws at a non-finite coordinate, size or width")]
    NonFiniteNumber {
        /// Zero-based page index.
        page: usize,
    },
    /// A page places an [`ImageId`] that another [`PdfDoc`] handed out.
    #[error("page {page} places image {image}, which this document does not hold")]
    UnknownImage {
        /// Zero-based page index.
        page: usize,
        /// The image's index in the document that issued it.
        image: usize,
    },
    /// An image without pixels cannot be an image XObject.
    #[error("an image of {width} x {height} pixels has nothing to embed")]
    EmptyImage {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// The JPEG encoder refused the image (JPEG sides are limited to 65535 pixels).
    #[error("could not encode a {width} x {height} image as JPEG")]
    JpegEncoding {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// The encoder's reason.
        #[source]
        source: image::ImageError,
    },
    /// zlib compression failed (only on allocation failure in practice).
    #[error("could not Flate-compress image pixels")]
    FlateEncoding(#[source] std::io::Error),
    /// lopdf could not set up or apply the standard security handler, for example because a
    /// password has characters outside Latin-1.
    #[error("could not encrypt the document")]
    Encryption(#[source] lopdf::Error),
    /// Serialising the document into memory failed.
    #[error("could not serialise the document")]
    Serialise(#[source] std::io::Error),
    /// The file could not be written.
    #[error("could not write {path}")]
    Write {
        /// Where the PDF was going.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// One of the standard-14 fonts every PDF reader has built in, so nothing is embedded.
///
/// Text is written in WinAnsiEncoding (Windows-1252), the usual choice for these fonts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Font {
    /// Helvetica: body text and figure labels.
    Helvetica,
    /// Helvetica-Bold: headings and panel letters.
    HelveticaBold,
    /// Times-Roman: serif body text and captions.
    TimesRoman,
}

impl Font {
    /// The PostScript name readers look the font up by.
    fn base_font(self) -> &'static str {
        match self {
            Font::Helvetica => "Helvetica",
            Font::HelveticaBold => "Helvetica-Bold",
            Font::TimesRoman => "Times-Roman",
        }
    }

    /// The name under `/Resources /Font`; fixed per font so content streams never depend on the
    /// order fonts were first used in.
    fn resource_name(self) -> &'static str {
        match self {
            Font::Helvetica => "F1",
            Font::HelveticaBold => "F2",
            Font::TimesRoman => "F3",
        }
    }

    /// Advance widths in 1/1000 em for WinAnsi codes 32..=255.
    fn widths(self) -> &'static [u16; 224] {
        match self {
            Font::Helvetica => &HELVETICA_WIDTHS,
            Font::HelveticaBold => &HELVETICA_BOLD_WIDTHS,
            Font::TimesRoman => &TIMES_ROMAN_WIDTHS,
        }
    }
}

/// How an image's pixels are stored in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageEncoding {
    /// Baseline JPEG bytes, stored as they are under `/DCTDecode`, like most photographs and
    /// many journal figures. `quality` runs from 1 to 100 (clamped).
    Jpeg {
        /// The encoder's quality setting.
        quality: u8,
    },
    /// Raw 8-bit pixels compressed under `/FlateDecode`: lossless, like PNG-sourced figures.
    Flate,
}

/// An image added to one [`PdfDoc`]; it can be placed any number of times on any of its pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageId(usize);

impl ImageId {
    /// The name under `/Resources /XObject`, fixed per image like [`Font::resource_name`].
    fn resource_name(self) -> String {
        format!("Im{}", self.0 + 1)
    }
}

/// An image already encoded for its XObject stream.
#[derive(Clone)]
struct EncodedImage {
    width: u32,
    height: u32,
    color_space: &'static str,
    filter: &'static str,
    data: Vec<u8>,
}

impl std::fmt::Debug for EncodedImage {
    /// Shows the stream's length, not its (possibly megabytes of) bytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncodedImage")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("color_space", &self.color_space)
            .field("filter", &self.filter)
            .field("data_len", &self.data.len())
            .finish()
    }
}

/// A page being drawn; obtained from [`PdfDoc::add_page`]. Methods chain and draw in call order,
/// later drawings on top.
#[derive(Debug, Clone)]
pub struct PdfPage {
    width_pt: f32,
    height_pt: f32,
    /// The content stream so far, ASCII only. Writing into a `String` cannot fail, hence the
    /// `let _ = write!(..)` below.
    content: String,
    fonts: BTreeSet<Font>,
    images: BTreeSet<ImageId>,
    has_non_finite_number: bool,
}

impl PdfPage {
    fn new(width_pt: f32, height_pt: f32) -> Self {
        Self {
            width_pt,
            height_pt,
            content: String::new(),
            fonts: BTreeSet::new(),
            images: BTreeSet::new(),
            has_non_finite_number: false,
        }
    }

    /// The page's width in points.
    pub fn width_pt(&self) -> f32 {
        self.width_pt
    }

    /// The page's height in points.
    pub fn height_pt(&self) -> f32 {
        self.height_pt
    }

    /// Writes `text` in black on one line, starting at `x` with its baseline at `baseline_y`
    /// (page space), `size` points high.
    ///
    /// Characters outside Windows-1252 (and control characters) become `?`; use [`text_width`]
    /// to measure a line before placing it.
    pub fn text(
        &mut self,
        x: f32,
        baseline_y: f32,
        size: f32,
        font: Font,
        text: &str,
    ) -> &mut Self {
        self.fonts.insert(font);
        let (x, y) = (self.number(x), self.number(self.pdf_y(baseline_y)));
        let size = self.number(size);
        let literal = pdf_string_literal(&win_ansi_bytes(text));
        let name = font.resource_name();
        let _ = writeln!(
            self.content,
            "BT /{name} {size} Tf {x} {y} Td {literal} Tj ET"
        );
        self
    }

    /// Draws `image` stretched to exactly fill `bbox`, its first pixel row at the box's top.
    pub fn image(&mut self, bbox: BBox, image: ImageId) -> &mut Self {
        self.images.insert(image);
        let (x, y, width, height) = self.pdf_rect(bbox);
        let name = image.resource_name();
        let _ = writeln!(
            self.content,
            "q {width} 0 0 {height} {x} {y} cm /{name} Do Q"
        );
        self
    }

    /// Draws a rectangle, filled with `fill` and/or outlined with `stroke` (colour and line
    /// width in points). With neither it draws nothing visible.
    pub fn rect(
        &mut self,
        bbox: BBox,
        fill: Option<[u8; 3]>,
        stroke: Option<([u8; 3], f32)>,
    ) -> &mut Self {
        let (x, y, width, height) = self.pdf_rect(bbox);
        let mut operators = String::from("q ");
        if let Some(color) = fill {
            let _ = write!(operators, "{} rg ", pdf_color(color));
        }
        if let Some((color, line_width)) = stroke {
            let line_width = self.number(line_width);
            let _ = write!(operators, "{} RG {line_width} w ", pdf_color(color));
        }
        let paint = match (fill, stroke) {
            (Some(_), Some(_)) => "B",
            (Some(_), None) => "f",
            (None, Some(_)) => "S",
            (None, None) => "n",
        };
        let _ = writeln!(
            self.content,
            "{operators}{x} {y} {width} {height} re {paint} Q"
        );
        self
    }

    /// Draws a straight line between two page-space points.
    pub fn line(
        &mut self,
        from: (f32, f32),
        to: (f32, f32),
        width: f32,
        color: [u8; 3],
    ) -> &mut Self {
        let (from_x, from_y) = (self.number(from.0), self.number(self.pdf_y(from.1)));
        let (to_x, to_y) = (self.number(to.0), self.number(self.pdf_y(to.1)));
        let width = self.number(width);
        let color = pdf_color(color);
        let _ = writeln!(
            self.content,
            "q {color} RG {width} w {from_x} {from_y} m {to_x} {to_y} l S Q"
        );
        self
    }

    /// A page-space y as PDF's bottom-left-origin y.
    fn pdf_y(&self, page_y: f32) -> f64 {
        f64::from(self.height_pt) - f64::from(page_y)
    }

    /// A page-space box as PDF's `x y width height`, each already formatted.
    fn pdf_rect(&mut self, bbox: BBox) -> (String, String, String, String) {
        let bottom = self.pdf_y(bbox.y1);
        (
            self.number(bbox.x0),
            self.number(bottom),
            self.number(f64::from(bbox.x1) - f64::from(bbox.x0)),
            self.number(f64::from(bbox.y1) - f64::from(bbox.y0)),
        )
    }

    /// Formats a content-stream number, remembering a non-finite one so that
    /// [`PdfDoc::to_bytes`] can refuse the page instead of writing a broken stream.
    fn number(&mut self, value: impl Into<f64>) -> String {
        let value = value.into();
        if !value.is_finite() {
            self.has_non_finite_number = true;
            return "0".to_string();
        }
        format_number(value)
    }
}

/// The user and owner passwords of the standard security handler.
#[derive(Clone)]
struct Passwords {
    user: String,
    owner: String,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passwords(***)")
    }
}

/// A PDF being built: images first (they are shared by pages), then pages, then bytes.
#[derive(Debug, Clone, Default)]
pub struct PdfDoc {
    title: Option<String>,
    images: Vec<EncodedImage>,
    pages: Vec<PdfPage>,
    passwords: Option<Passwords>,
}

impl PdfDoc {
    /// An empty document.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the `/Info /Title`.
    pub fn title(&mut self, title: &str) -> &mut Self {
        self.title = Some(title.to_string());
        self
    }

    /// Encodes `image` once as an image XObject that pages can then place any number of times.
    ///
    /// Gray images (with or without alpha) become `/DeviceGray`, all others `/DeviceRGB`, 8 bits
    /// per component. Alpha is dropped, not composited, and 16-bit samples are cut to 8 bits.
    pub fn add_image(
        &mut self,
        image: &DynamicImage,
        encoding: ImageEncoding,
    ) -> Result<ImageId, PdfGenError> {
        let (width, height) = (image.width(), image.height());
        if width == 0 || height == 0 {
            return Err(PdfGenError::EmptyImage { width, height });
        }
        let (pixels, color_type, color_space) = if image.color().has_color() {
            (
                image.to_rgb8().into_raw(),
                ExtendedColorType::Rgb8,
                "DeviceRGB",
            )
        } else {
            (
                image.to_luma8().into_raw(),
                ExtendedColorType::L8,
                "DeviceGray",
            )
        };
        let (filter, data) = match encoding {
            ImageEncoding::Jpeg { quality } => {
                let mut jpeg = Vec::new();
                image::codecs::jpeg::JpegEncoder::new_with_quality(
                    &mut jpeg,
                    quality.clamp(1, 100),
                )
                .write_image(&pixels, width, height, color_type)
                .map_err(|source| PdfGenError::JpegEncoding {
                    width,
                    height,
                    source,
                })?;
                ("DCTDecode", jpeg)
            }
            ImageEncoding::Flate => ("FlateDecode", zlib(&pixels)?),
        };
        self.images.push(EncodedImage {
            width,
            height,
            color_space,
            filter,
            data,
        });
        Ok(ImageId(self.images.len() - 1))
    }

    /// Appends a page of `width_pt` x `height_pt` points and returns it for drawing.
    ///
    /// Any size is written as asked, including sides beyond the 14 400 pt that PDF 1.7 readers
    /// are only required to support, so that the intake's guard against huge pages can be tested.
    pub fn add_page(&mut self, width_pt: f32, height_pt: f32) -> &mut PdfPage {
        self.pages.push(PdfPage::new(width_pt, height_pt));
        self.pages.last_mut().expect("a page was just pushed")
    }

    /// The pages added so far, for drawing on one again.
    pub fn pages_mut(&mut self) -> &mut [PdfPage] {
        &mut self.pages
    }

    /// Encrypts the file with the standard security handler (RC4, 128-bit key, revision 3), so
    /// readers need `user_password` or `owner_password` to open it. An empty user password
    /// opens without asking, as in real files that only restrict permissions.
    pub fn encrypt(&mut self, user_password: &str, owner_password: &str) -> &mut Self {
        self.passwords = Some(Passwords {
            user: user_password.to_string(),
            owner: owner_password.to_string(),
        });
        self
    }

    /// The finished PDF. The same calls give byte-identical output.
    pub fn to_bytes(&self) -> Result<Vec<u8>, PdfGenError> {
        let mut document = self.build()?;
        // The /ID hashes the unencrypted file, so it is stable and still tells documents apart.
        let plain = serialise(&mut document)?;
        let file_id = blake3::hash(&plain).as_bytes()[..16].to_vec();
        document.trailer.set(
            "ID",
            vec![
                Object::String(file_id.clone(), StringFormat::Hexadecimal),
                Object::String(file_id, StringFormat::Hexadecimal),
            ],
        );
        if let Some(passwords) = &self.passwords {
            encrypt(&mut document, passwords)?;
        }
        serialise(&mut document)
    }

    /// Writes [`to_bytes`](Self::to_bytes) to `path`.
    pub fn write_to(&self, path: &Path) -> Result<(), PdfGenError> {
        let bytes = self.to_bytes()?;
        std::fs::write(path, bytes).map_err(|source| PdfGenError::Write {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Checks every page, then lays the objects out in a fixed order: catalog, page tree, info,
    /// fonts, images, then each page with its content stream.
    fn build(&self) -> Result<Document, PdfGenError> {
        for (index, page) in self.pages.iter().enumerate() {
            let valid_side = |side: f32| side.is_finite() && side > 0.0;
            if !valid_side(page.width_pt) || !valid_side(page.height_pt) {
                return Err(PdfGenError::InvalidPageSize {
                    page: index,
                    width_pt: page.width_pt,
                    height_pt: page.height_pt,
                });
            }
            if page.has_non_finite_number {
                return Err(PdfGenError::NonFiniteNumber { page: index });
            }
            if let Some(unknown) = page.images.iter().find(|id| id.0 >= self.images.len()) {
                return Err(PdfGenError::UnknownImage {
                    page: index,
                    image: unknown.0,
                });
            }
        }

        let mut document = Document::with_version("1.7");
        // A classic xref table at the end, as most journal PDFs have; truncating the file then
        // loses it, which is the damage the intake's tests want to provoke.
        document.reference_table.cross_reference_type = XrefType::CrossReferenceTable;
        let catalog_id = document.new_object_id();
        let pages_id = document.new_object_id();
        let info_id = document.new_object_id();

        let used_fonts: BTreeSet<Font> = self
            .pages
            .iter()
            .flat_map(|page| page.fonts.iter().copied())
            .collect();
        let font_ids: Vec<(Font, ObjectId)> = used_fonts
            .into_iter()
            .map(|font| (font, document.add_object(font_dictionary(font))))
            .collect();
        let image_ids: Vec<ObjectId> = self
            .images
            .iter()
            .map(|image| document.add_object(image_stream(image)))
            .collect();

        let mut page_ids = Vec::with_capacity(self.pages.len());
        for page in &self.pages {
            let content = Stream::new(Dictionary::new(), page.content.clone().into_bytes());
            let content_id = document.add_object(content);
            let fonts: Dictionary = font_ids
                .iter()
                .filter(|(font, _)| page.fonts.contains(font))
                .map(|(font, id)| (font.resource_name(), Object::Reference(*id)))
                .collect();
            let images: Dictionary = page
                .images
                .iter()
                .map(|image| (image.resource_name(), Object::Reference(image_ids[image.0])))
                .collect();
            let mut resources = Dictionary::new();
            if !fonts.is_empty() {
                resources.set("Font", fonts);
            }
            if !images.is_empty() {
                resources.set("XObject", images);
            }
            let media_box: Vec<Object> = vec![
                Object::Integer(0),
                Object::Integer(0),
                page.width_pt.into(),
                page.height_pt.into(),
            ];
            let page_dictionary = Dictionary::from_iter([
                ("Type", Object::from("Page")),
                ("Parent", pages_id.into()),
                ("MediaBox", media_box.into()),
                ("Resources", resources.into()),
                ("Contents", content_id.into()),
            ]);
            page_ids.push(document.add_object(page_dictionary));
        }

        let kids: Vec<Object> = page_ids.iter().map(|&id| id.into()).collect();
        let page_count = kids.len() as i64;
        let pages = Dictionary::from_iter([
            ("Type", Object::from("Pages")),
            ("Kids", kids.into()),
            ("Count", page_count.into()),
        ]);
        document.objects.insert(pages_id, pages.into());
        let catalog = Dictionary::from_iter([
            ("Type", Object::from("Catalog")),
            ("Pages", pages_id.into()),
        ]);
        document.objects.insert(catalog_id, catalog.into());
        let mut info = Dictionary::new();
        info.set("Producer", Object::string_literal("panelscope pdfgen"));
        if let Some(title) = &self.title {
            info.set("Title", lopdf::text_string(title));
        }
        document.objects.insert(info_id, info.into());
        document.trailer.set("Root", catalog_id);
        document.trailer.set("Info", info_id);
        Ok(document)
    }
}

/// The resource dictionary of a standard-14 font.
///
/// The `/Widths` repeat the AFM advances that [`text_width`] sums. Without them every reader
/// advances by its own substitute font, and pdfium's differs from Adobe's for a few non-ASCII
/// glyphs (the euro sign, the guillemets, ...), so lines would end where nobody measured them.
fn font_dictionary(font: Font) -> Dictionary {
    let widths: Vec<Object> = font
        .widths()
        .iter()
        .map(|&width| Object::Integer(i64::from(width)))
        .collect();
    Dictionary::from_iter([
        ("Type", Object::from("Font")),
        ("Subtype", "Type1".into()),
        ("BaseFont", font.base_font().into()),
        ("Encoding", "WinAnsiEncoding".into()),
        ("FirstChar", Object::Integer(32)),
        ("LastChar", Object::Integer(255)),
        ("Widths", widths.into()),
    ])
}

/// The image XObject stream for an encoded image.
fn image_stream(image: &EncodedImage) -> Stream {
    let dictionary = Dictionary::from_iter([
        ("Type", Object::from("XObject")),
        ("Subtype", "Image".into()),
        ("Width", i64::from(image.width).into()),
        ("Height", i64::from(image.height).into()),
        ("ColorSpace", image.color_space.into()),
        ("BitsPerComponent", Object::Integer(8)),
        ("Filter", image.filter.into()),
    ]);
    // Already compressed: lopdf must not compress it again.
    Stream::new(dictionary, image.data.clone()).with_compression(false)
}

/// Applies RC4-128 (revision 3) encryption to every string and stream in `document`.
fn encrypt(document: &mut Document, passwords: &Passwords) -> Result<(), PdfGenError> {
    let state = EncryptionState::try_from(EncryptionVersion::V2 {
        document: &*document,
        owner_password: &passwords.owner,
        user_password: &passwords.user,
        key_length: 128,
        permissions: Permissions::all(),
    })
    .map_err(PdfGenError::Encryption)?;
    document.encrypt(&state).map_err(PdfGenError::Encryption)?;
    // Revision 3 pads /U with 16 arbitrary bytes that readers ignore; lopdf makes them random,
    // which would make two builds differ, so zero them.
    let encrypt_id = document
        .trailer
        .get(b"Encrypt")
        .and_then(Object::as_reference)
        .map_err(PdfGenError::Encryption)?;
    let dictionary = document
        .get_object_mut(encrypt_id)
        .and_then(Object::as_dict_mut)
        .map_err(PdfGenError::Encryption)?;
    if let Ok(Object::String(user_value, _)) = dictionary.get_mut(b"U")
        && user_value.len() == 32
    {
        user_value[16..].fill(0);
    }
    Ok(())
}

/// The document as file bytes.
fn serialise(document: &mut Document) -> Result<Vec<u8>, PdfGenError> {
    let mut bytes = Vec::new();
    document
        .save_to(&mut bytes)
        .map_err(PdfGenError::Serialise)?;
    Ok(bytes)
}

/// zlib-wraps `bytes` as `/FlateDecode` expects.
fn zlib(bytes: &[u8]) -> Result<Vec<u8>, PdfGenError> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder
        .write_all(bytes)
        .map_err(PdfGenError::FlateEncoding)?;
    encoder.finish().map_err(PdfGenError::FlateEncoding)
}

/// The width in points of `text` set in `font` at `size`, exactly as a reader advances it: the
/// Adobe AFM widths of every WinAnsi character (also written into each font's `/Widths`), after
/// the same `?` substitution as [`PdfPage::text`]. No kerning, as the content stream applies none.
pub fn text_width(font: Font, size: f32, text: &str) -> f32 {
    let widths = font.widths();
    let thousandths: u32 = win_ansi_bytes(text)
        .into_iter()
        .map(|code| u32::from(widths[usize::from(code) - 32]))
        .sum();
    thousandths as f32 * size / 1000.0
}

/// `text` in WinAnsiEncoding, every unmappable character as `?`. Only codes 32..=255 that
/// WinAnsi defines come out, so every byte has a width in the tables below.
fn win_ansi_bytes(text: &str) -> Vec<u8> {
    text.chars()
        .map(|character| match character {
            ' '..='~' | '\u{a0}'..='\u{ff}' => character as u8,
            other => win_ansi_extra(other).unwrap_or(b'?'),
        })
        .collect()
}

/// The Windows-1252 code of a character it places in 0x80..=0x9F, where it departs from Latin-1.
fn win_ansi_extra(character: char) -> Option<u8> {
    Some(match character {
        '€' => 0x80,
        '‚' => 0x82,
        'ƒ' => 0x83,
        '„' => 0x84,
        '…' => 0x85,
        '†' => 0x86,
        '‡' => 0x87,
        'ˆ' => 0x88,
        '‰' => 0x89,
        'Š' => 0x8a,
        '‹' => 0x8b,
        'Œ' => 0x8c,
        'Ž' => 0x8e,
        '‘' => 0x91,
        '’' => 0x92,
        '“' => 0x93,
        '”' => 0x94,
        '•' => 0x95,
        '–' => 0x96,
        '—' => 0x97,
        '˜' => 0x98,
        '™' => 0x99,
        'š' => 0x9a,
        '›' => 0x9b,
        'œ' => 0x9c,
        'ž' => 0x9e,
        'Ÿ' => 0x9f,
        _ => return None,
    })
}

/// A PDF literal string for `bytes`, kept ASCII so content streams stay readable: `( ) \` are
/// escaped and bytes above 126 written as octal escapes.
fn pdf_string_literal(bytes: &[u8]) -> String {
    let mut literal = String::with_capacity(bytes.len() + 2);
    literal.push('(');
    for &byte in bytes {
        match byte {
            b'(' | b')' | b'\\' => {
                literal.push('\\');
                literal.push(byte as char);
            }
            32..=126 => literal.push(byte as char),
            _ => {
                let _ = write!(literal, "\\{byte:03o}");
            }
        }
    }
    literal.push(')');
    literal
}

/// An sRGB byte triple as PDF colour operands (`r g b`, each 0..=1).
fn pdf_color([red, green, blue]: [u8; 3]) -> String {
    let channel = |value: u8| format_number(f64::from(value) / 255.0);
    format!("{} {} {}", channel(red), channel(green), channel(blue))
}

/// A finite number with at most four decimals and no trailing zeros: 0.1 µm is far below
/// anything the intake measures, and short numbers keep content streams readable.
fn format_number(value: f64) -> String {
    let mut text = format!("{value:.4}");
    if text.contains('.') {
        let trimmed = text.trim_end_matches('0').trim_end_matches('.').len();
        text.truncate(trimmed);
    }
    if text == "-0" { "0".to_string() } else { text }
}

// Advance widths (1/1000 em) of WinAnsi codes 32..=255, from the Adobe Core14 AFM files, looked
// up by glyph name. Codes WinAnsi leaves undefined (127, 129, 141, 143, 144, 157) are 0 and never
// written; 160 (no-break space) and 173 (soft hyphen) use the space and hyphen glyphs.

#[rustfmt::skip]
const HELVETICA_WIDTHS: [u16; 224] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, 0,
    556, 0, 222, 556, 333, 1000, 556, 556, 333, 1000, 667, 333, 1000, 0, 611, 0,
    0, 222, 222, 333, 333, 350, 556, 1000, 333, 1000, 500, 333, 944, 0, 500, 667,
    278, 333, 556, 556, 556, 556, 260, 556, 333, 737, 370, 556, 584, 333, 737, 333,
    400, 584, 333, 333, 333, 556, 537, 278, 333, 333, 365, 556, 834, 834, 834, 611,
    667, 667, 667, 667, 667, 667, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278,
    722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611,
    556, 556, 556, 556, 556, 556, 889, 500, 556, 556, 556, 556, 278, 278, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 584, 611, 556, 556, 556, 556, 500, 556, 500,
];

#[rustfmt::skip]
const HELVETICA_BOLD_WIDTHS: [u16; 224] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611,
    975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556,
    333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611,
    611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584, 0,
    556, 0, 278, 556, 500, 1000, 556, 556, 333, 1000, 667, 333, 1000, 0, 611, 0,
    0, 278, 278, 500, 500, 350, 556, 1000, 333, 1000, 556, 333, 944, 0, 500, 667,
    278, 333, 556, 556, 556, 556, 280, 556, 333, 737, 370, 556, 584, 333, 737, 333,
    400, 584, 333, 333, 333, 611, 556, 278, 333, 333, 365, 556, 834, 834, 834, 611,
    722, 722, 722, 722, 722, 722, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278,
    722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611,
    556, 556, 556, 556, 556, 556, 889, 556, 556, 556, 556, 556, 278, 278, 278, 278,
    611, 611, 611, 611, 611, 611, 611, 584, 611, 611, 611, 611, 611, 556, 611, 556,
];

#[rustfmt::skip]
const TIMES_ROMAN_WIDTHS: [u16; 224] = [
    250, 333, 408, 500, 500, 833, 778, 180, 333, 333, 500, 564, 250, 333, 250, 278,
    500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 278, 278, 564, 564, 564, 444,
    921, 722, 667, 667, 722, 611, 556, 722, 722, 333, 389, 722, 611, 889, 722, 722,
    556, 722, 667, 556, 611, 722, 722, 944, 722, 722, 611, 333, 278, 333, 469, 500,
    333, 444, 500, 444, 500, 444, 333, 500, 500, 278, 278, 500, 278, 778, 500, 500,
    500, 500, 333, 389, 278, 500, 500, 722, 500, 500, 444, 480, 200, 480, 541, 0,
    500, 0, 333, 500, 444, 1000, 500, 500, 333, 1000, 556, 333, 889, 0, 611, 0,
    0, 333, 333, 444, 444, 350, 500, 1000, 333, 980, 389, 333, 722, 0, 444, 722,
    250, 333, 500, 500, 500, 500, 200, 500, 333, 760, 276, 500, 564, 333, 760, 333,
    400, 564, 300, 300, 333, 500, 453, 250, 333, 300, 310, 500, 750, 750, 750, 444,
    722, 722, 722, 722, 722, 722, 889, 667, 611, 611, 611, 611, 333, 333, 333, 333,
    722, 722, 722, 722, 722, 722, 722, 564, 722, 722, 722, 722, 722, 722, 556, 500,
    444, 444, 444, 444, 444, 444, 667, 444, 444, 444, 444, 444, 278, 278, 278, 278,
    500, 500, 500, 500, 500, 500, 500, 564, 500, 500, 500, 500, 500, 500, 500, 500,
];
