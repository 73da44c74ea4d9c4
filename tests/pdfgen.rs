//! Checks `panelscope::pdfgen` by reading its PDFs back with real pdfium (and lopdf for the file
//! structure): images and text land where page space says, pixels survive, huge pages keep their
//! size, output is byte-stable, encryption holds, and a reused image stays one XObject.

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{Context, Result, ensure};
use image::{DynamicImage, GrayImage, Rgb, RgbImage};
use panelscope::pdfgen::{self, Font, ImageEncoding, PdfDoc, PdfGenError};
use panelscope_stages::units::BBox;
use pdfium_render::prelude::*;

/// How far, in points, pdfium's geometry may stray from what was asked for.
const TOLERANCE_PT: f32 = 0.05;

/// pdfium binds once per process, so every test shares one instance.
fn pdfium() -> &'static Pdfium {
    static PDFIUM: OnceLock<Pdfium> = OnceLock::new();
    PDFIUM.get_or_init(|| {
        let library = Path::new(env!("CARGO_MANIFEST_DIR")).join(".local/pdfium/libpdfium.so");
        assert!(
            library.is_file(),
            "pdfium is missing at {}: run `bash scripts/setup.sh` first",
            library.display()
        );
        let bindings = Pdfium::bind_to_library(&library)
            .unwrap_or_else(|error| panic!("cannot load {}: {error:?}", library.display()));
        Pdfium::new(bindings)
    })
}

/// An image whose top half is `top` and bottom half `bottom`, so a vertical flip shows.
fn two_tone(width: u32, height: u32, top: [u8; 3], bottom: [u8; 3]) -> DynamicImage {
    let image = RgbImage::from_fn(width, height, |_, y| {
        Rgb(if y < height / 2 { top } else { bottom })
    });
    DynamicImage::ImageRgb8(image)
}

/// The mean of each RGB channel.
fn mean_rgb(image: &DynamicImage) -> [f64; 3] {
    let rgb = image.to_rgb8();
    let mut sums = [0.0; 3];
    for pixel in rgb.pixels() {
        for (sum, &channel) in sums.iter_mut().zip(pixel.0.iter()) {
            *sum += f64::from(channel);
        }
    }
    sums.map(|sum| sum / f64::from(rgb.width() * rgb.height()))
}

/// The average of two colours, as `mean_rgb` sees a two-tone image with even height.
fn halfway(top: [u8; 3], bottom: [u8; 3]) -> [f64; 3] {
    [0, 1, 2].map(|i| (f64::from(top[i]) + f64::from(bottom[i])) / 2.0)
}

fn assert_color_near(actual: [f64; 3], expected: [f64; 3], tolerance: f64, what: &str) {
    let close = actual
        .iter()
        .zip(expected)
        .all(|(a, e)| (a - e).abs() <= tolerance);
    assert!(
        close,
        "{what}: colour {actual:?}, expected {expected:?} ± {tolerance}"
    );
}

/// An object's bounds from pdfium, turned into page space (top-left origin, y down).
fn page_space_bounds(object: &PdfPageObject, page_height: f32) -> Result<BBox> {
    let bounds = object.bounds()?;
    Ok(BBox::new(
        bounds.left().value,
        page_height - bounds.top().value,
        bounds.right().value,
        page_height - bounds.bottom().value,
    ))
}

fn assert_bbox_near(actual: BBox, expected: BBox, what: &str) {
    let deltas = [
        actual.x0 - expected.x0,
        actual.y0 - expected.y0,
        actual.x1 - expected.x1,
        actual.y1 - expected.y1,
    ];
    assert!(
        deltas.iter().all(|delta| delta.abs() <= TOLERANCE_PT),
        "{what}: pdfium puts it at {actual:?}, asked for {expected:?}"
    );
}

/// The colour at a page-space point of a page rendered at `scale` pixels per point.
fn rendered_rgb(render: &RgbImage, scale: f32, x: f32, y: f32) -> [f64; 3] {
    let pixel = render.get_pixel((x * scale) as u32, (y * scale) as u32);
    pixel.0.map(f64::from)
}

#[test]
fn images_fill_their_boxes_right_side_up_and_keep_their_pixels() -> Result<()> {
    const RED: [u8; 3] = [220, 30, 30];
    const BLUE: [u8; 3] = [30, 30, 220];
    const GREEN: [u8; 3] = [30, 200, 60];
    const YELLOW: [u8; 3] = [240, 220, 40];
    let mut doc = PdfDoc::new();
    let flate_rgb = doc.add_image(&two_tone(120, 80, RED, BLUE), ImageEncoding::Flate)?;
    let jpeg_rgb = doc.add_image(
        &two_tone(96, 96, GREEN, YELLOW),
        ImageEncoding::Jpeg { quality: 90 },
    )?;
    let gray = DynamicImage::ImageLuma8(GrayImage::from_fn(64, 48, |x, _| {
        image::Luma([(x * 4) as u8])
    }));
    let flate_gray = doc.add_image(&gray, ImageEncoding::Flate)?;
    let jpeg_gray = doc.add_image(&gray, ImageEncoding::Jpeg { quality: 95 })?;

    // Fractional edges, a stretched aspect ratio and a box touching the page corner.
    let placements = [
        (flate_rgb, BBox::new(50.25, 60.5, 290.75, 220.125)),
        (jpeg_rgb, BBox::new(320.0, 60.0, 560.0, 300.0)),
        (flate_gray, BBox::new(100.5, 400.5, 164.5, 448.5)),
        (jpeg_gray, BBox::new(532.0, 732.0, 612.0, 792.0)),
    ];
    let page = doc.add_page(612.0, 792.0);
    for (image, bbox) in placements {
        page.image(bbox, image);
    }
    let bytes = doc.to_bytes()?;

    let document = pdfium().load_pdf_from_byte_slice(&bytes, None)?;
    let page = document.pages().get(0)?;
    let page_height = page.height().value;
    let images: Vec<PdfPageObject> = page
        .objects()
        .iter()
        .filter(|object| object.object_type() == PdfPageObjectType::Image)
        .collect();
    ensure!(
        images.len() == placements.len(),
        "pdfium sees {} images",
        images.len()
    );

    let expected_pixels = [(120, 80), (96, 96), (64, 48), (64, 48)];
    let expected_means = [
        halfway(RED, BLUE),
        halfway(GREEN, YELLOW),
        [126.0; 3],
        [126.0; 3],
    ];
    for (index, object) in images.iter().enumerate() {
        let what = format!("image {index}");
        assert_bbox_near(
            page_space_bounds(object, page_height)?,
            placements[index].1,
            &what,
        );
        let raw = object
            .as_image_object()
            .context("not an image")?
            .get_raw_image()?;
        assert_eq!(
            (raw.width(), raw.height()),
            expected_pixels[index],
            "{what}: pixel size"
        );
        assert_color_near(mean_rgb(&raw), expected_means[index], 4.0, &what);
    }

    // The first pixel row must be drawn at the box's top: sample a quarter in from each edge.
    let scale = 2.0;
    let render = page
        .render_with_config(&PdfRenderConfig::new().scale_page_by_factor(scale))?
        .as_image()?
        .to_rgb8();
    for (bbox, top, bottom) in [
        (placements[0].1, RED, BLUE),
        (placements[1].1, GREEN, YELLOW),
    ] {
        let x = (bbox.x0 + bbox.x1) / 2.0;
        let quarter = bbox.height() / 4.0;
        let top_color = rendered_rgb(&render, scale, x, bbox.y0 + quarter);
        let bottom_color = rendered_rgb(&render, scale, x, bbox.y1 - quarter);
        assert_color_near(
            top_color,
            top.map(f64::from),
            12.0,
            "top half of the render",
        );
        assert_color_near(bottom_color, bottom.map(f64::from), 12.0, "bottom half");
    }
    // The gray ramp runs left to right: dark at the left edge, light at the right.
    let gray_box = placements[2].1;
    let middle_y = (gray_box.y0 + gray_box.y1) / 2.0;
    let left = rendered_rgb(&render, scale, gray_box.x0 + 2.0, middle_y)[0];
    let right = rendered_rgb(&render, scale, gray_box.x1 - 2.0, middle_y)[0];
    ensure!(
        left < 30.0 && right > 220.0,
        "gray ramp renders {left} .. {right}"
    );
    Ok(())
}

/// One line of text as placed, and as pdfium should read it back.
struct Line {
    x: f32,
    baseline: f32,
    size: f32,
    font: Font,
    text: String,
    drawn: String,
}

impl Line {
    fn new(x: f32, baseline: f32, size: f32, font: Font, text: &str) -> Self {
        let (text, drawn) = (text.to_string(), text.to_string());
        Self {
            x,
            baseline,
            size,
            font,
            text,
            drawn,
        }
    }
}

/// Every character WinAnsi defines beyond ASCII, except the no-break space and soft hyphen,
/// which readers report as other characters.
fn win_ansi_beyond_ascii() -> String {
    let extras = "€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ";
    extras
        .chars()
        .chain(('\u{a1}'..='\u{ff}').filter(|&c| c != '\u{ad}'))
        .collect()
}

/// A few realistic lines, then every character WinAnsi defines in each font, 40 a line.
fn text_lines() -> Vec<Line> {
    let mut lines = vec![
        Line::new(
            72.0,
            100.0,
            12.0,
            Font::Helvetica,
            "Figure 1. (a) Western blot \\ control",
        ),
        Line::new(
            72.0,
            130.0,
            14.0,
            Font::HelveticaBold,
            "Results – naïve café, “Ab”",
        ),
        // Characters outside Windows-1252 become '?', both drawn and measured.
        Line {
            drawn: "Times: 50% of cells ??".to_string(),
            ..Line::new(
                72.5,
                160.25,
                10.0,
                Font::TimesRoman,
                "Times: 50% of cells 日本",
            )
        },
    ];
    let ascii: Vec<char> = (' '..='~').collect();
    let beyond_ascii: Vec<char> = win_ansi_beyond_ascii().chars().collect();
    let fonts = [Font::Helvetica, Font::HelveticaBold, Font::TimesRoman];
    for (font_index, font) in fonts.into_iter().enumerate() {
        let chunks = ascii.chunks(40).chain(beyond_ascii.chunks(40));
        for (chunk_index, chunk) in chunks.enumerate() {
            let baseline = 200.0 + 150.0 * font_index as f32 + 20.0 * chunk_index as f32;
            let text: String = chunk.iter().collect();
            lines.push(Line::new(36.0, baseline, 11.0, font, &text));
        }
    }
    lines
}

/// Checks that pdfium reads `lines` back in order, each character at its line's start plus the
/// [`pdfgen::text_width`] of the characters before it, on the line's baseline.
fn assert_characters_where_measured(bytes: &[u8], lines: &[Line]) -> Result<()> {
    let document = pdfium().load_pdf_from_byte_slice(bytes, None)?;
    let page = document.pages().get(0)?;
    let page_height = page.height().value;
    let text_page = page.text()?;
    let text_chars = text_page.chars();
    let chars: Vec<PdfPageTextChar> = text_chars
        .iter()
        .filter(|char| !char.is_generated().unwrap_or(false))
        .collect();
    let expected_count: usize = lines.iter().map(|line| line.drawn.chars().count()).sum();
    ensure!(
        chars.len() == expected_count,
        "pdfium sees {} chars",
        chars.len()
    );
    let mut chars = chars.iter();
    for line in lines {
        for (index, expected) in line.drawn.char_indices() {
            let char = chars.next().context("ran out of characters")?;
            assert_eq!(char.unicode_char(), Some(expected), "in `{}`", line.drawn);
            let (origin_x, origin_y) = char.origin()?;
            let (origin_x, origin_y) = (origin_x.value, page_height - origin_y.value);
            let expected_x =
                line.x + pdfgen::text_width(line.font, line.size, &line.drawn[..index]);
            assert!(
                (origin_x - expected_x).abs() <= TOLERANCE_PT
                    && (origin_y - line.baseline).abs() <= TOLERANCE_PT,
                "`{expected}` in `{}` at ({origin_x}, {origin_y}), expected ({expected_x}, {})",
                line.drawn,
                line.baseline
            );
        }
    }
    Ok(())
}

/// The PDF with `/FirstChar`, `/LastChar` and `/Widths` taken out of every font, so that pdfium
/// falls back on the metrics of its own built-in standard fonts.
fn without_font_widths(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut document = lopdf::Document::load_mem(bytes)?;
    for object in document.objects.values_mut() {
        if let Ok(dictionary) = object.as_dict_mut()
            && dictionary.has_type(b"Font")
        {
            for key in [&b"FirstChar"[..], b"LastChar", b"Widths"] {
                dictionary.remove(key);
            }
        }
    }
    let mut stripped = Vec::new();
    document.save_to(&mut stripped)?;
    Ok(stripped)
}

/// A one-page PDF holding `lines`.
fn pdf_with_lines(lines: &[Line]) -> Result<Vec<u8>, PdfGenError> {
    let mut doc = PdfDoc::new();
    let page = doc.add_page(612.0, 792.0);
    for line in lines {
        page.text(line.x, line.baseline, line.size, line.font, &line.text);
    }
    doc.to_bytes()
}

#[test]
fn text_is_extractable_and_advances_as_text_width_says() -> Result<()> {
    let lines = text_lines();
    let bytes = pdf_with_lines(&lines)?;
    let document = pdfium().load_pdf_from_byte_slice(&bytes, None)?;
    let all_text = document.pages().get(0)?.text()?.all();
    for line in &lines {
        ensure!(
            all_text.contains(&line.drawn),
            "`{}` not in {all_text:?}",
            line.drawn
        );
    }
    assert_characters_where_measured(&bytes, &lines)?;

    // Without /Widths pdfium advances by its built-in fonts, which agree with Adobe's ASCII
    // widths except Helvetica-Bold '@' (1072/1000 em against 975). Beyond ASCII they differ more
    // (the euro sign, guillemets, ...), which is why pdfgen writes /Widths.
    let ascii_lines: Vec<Line> = lines
        .into_iter()
        .filter(|line| line.text.is_ascii())
        .map(|line| match line.font {
            Font::HelveticaBold => {
                let text = line.text.replace('@', "");
                Line::new(line.x, line.baseline, line.size, line.font, &text)
            }
            _ => line,
        })
        .collect();
    let stripped = without_font_widths(&pdf_with_lines(&ascii_lines)?)?;
    assert_characters_where_measured(&stripped, &ascii_lines)
}

#[test]
fn shapes_are_drawn_where_asked() -> Result<()> {
    let panel = BBox::new(100.0, 200.0, 300.0, 350.0);
    let mut doc = PdfDoc::new();
    doc.add_page(400.0, 500.0)
        .rect(panel, Some([200, 40, 40]), None)
        .rect(
            BBox::new(20.0, 20.0, 80.0, 60.0),
            None,
            Some(([0, 0, 0], 1.0)),
        )
        .line((20.0, 450.0), (380.0, 450.0), 2.0, [0, 0, 255]);
    let bytes = doc.to_bytes()?;

    let document = pdfium().load_pdf_from_byte_slice(&bytes, None)?;
    let page = document.pages().get(0)?;
    let paths: Vec<PdfPageObject> = page
        .objects()
        .iter()
        .filter(|object| object.object_type() == PdfPageObjectType::Path)
        .collect();
    ensure!(paths.len() == 3, "pdfium sees {} paths", paths.len());
    assert_bbox_near(
        page_space_bounds(&paths[0], page.height().value)?,
        panel,
        "filled rect",
    );

    let render = page
        .render_with_config(&PdfRenderConfig::new().scale_page_by_factor(1.0))?
        .as_image()?
        .to_rgb8();
    assert_color_near(
        rendered_rgb(&render, 1.0, 200.0, 275.0),
        [200.0, 40.0, 40.0],
        2.0,
        "fill",
    );
    assert_color_near(
        rendered_rgb(&render, 1.0, 200.0, 450.0),
        [0.0, 0.0, 255.0],
        60.0,
        "line",
    );
    assert_color_near(
        rendered_rgb(&render, 1.0, 50.0, 40.0),
        [255.0; 3],
        2.0,
        "unfilled rect",
    );
    Ok(())
}

#[test]
fn page_sizes_are_kept_even_beyond_the_pdf_limit() -> Result<()> {
    let sizes = [(595.28, 841.89), (20000.0, 20000.0), (10.0, 10000.0)];
    let corner = BBox::new(19000.0, 19500.0, 19900.0, 19990.0);
    let mut doc = PdfDoc::new();
    let blot = doc.add_image(&two_tone(30, 20, [0; 3], [255; 3]), ImageEncoding::Flate)?;
    for (width, height) in sizes {
        doc.add_page(width, height);
    }
    doc.pages_mut()[1].image(corner, blot);
    let bytes = doc.to_bytes()?;

    let document = pdfium().load_pdf_from_byte_slice(&bytes, None)?;
    ensure!(document.pages().len() == 3);
    for (index, (width, height)) in sizes.into_iter().enumerate() {
        let page = document.pages().get(index as PdfPageIndex)?;
        let (got_width, got_height) = (page.width().value, page.height().value);
        ensure!(
            (got_width - width).abs() < 0.01 && (got_height - height).abs() < 0.01,
            "page {index}: pdfium says {got_width} x {got_height}, asked for {width} x {height}"
        );
    }
    let huge = document.pages().get(1)?;
    let image = huge
        .objects()
        .iter()
        .next()
        .context("no object on the huge page")?;
    assert_bbox_near(
        page_space_bounds(&image, huge.height().value)?,
        corner,
        "huge-page image",
    );
    Ok(())
}

/// A small paper-like document exercising every drawing call.
fn sample(title: &str, passwords: Option<(&str, &str)>) -> Result<Vec<u8>, PdfGenError> {
    let mut doc = PdfDoc::new();
    doc.title(title);
    let figure = doc.add_image(
        &two_tone(50, 40, [10, 20, 30], [200, 100, 0]),
        ImageEncoding::Flate,
    )?;
    let photo = doc.add_image(
        &two_tone(40, 40, [90, 90, 90], [180, 10, 10]),
        ImageEncoding::Jpeg { quality: 75 },
    )?;
    doc.add_page(612.0, 792.0)
        .text(
            72.0,
            72.0,
            16.0,
            Font::HelveticaBold,
            "Confidential results",
        )
        .image(BBox::new(72.0, 100.0, 272.0, 260.0), figure)
        .image(BBox::new(300.0, 100.0, 460.0, 260.0), photo)
        .rect(
            BBox::new(70.0, 98.0, 274.0, 262.0),
            None,
            Some(([0, 0, 0], 0.5)),
        )
        .line((72.0, 280.0), (540.0, 280.0), 0.75, [128, 128, 128])
        .text(72.0, 300.0, 9.0, Font::TimesRoman, "Figure 1. Two panels.");
    if let Some((user, owner)) = passwords {
        doc.encrypt(user, owner);
    }
    doc.to_bytes()
}

/// The first string of the trailer's /ID.
fn file_id(bytes: &[u8]) -> Result<Vec<u8>> {
    let document = lopdf::Document::load_mem(bytes)?;
    let ids = document.trailer.get(b"ID")?.as_array()?;
    Ok(ids[0].as_str()?.to_vec())
}

#[test]
fn the_same_calls_give_the_same_bytes() -> Result<()> {
    let first = sample("Paper A", None)?;
    ensure!(first == sample("Paper A", None)?, "two plain builds differ");
    let encrypted = sample("Paper A", Some(("reader", "editor")))?;
    ensure!(
        encrypted == sample("Paper A", Some(("reader", "editor")))?,
        "two encrypted builds differ"
    );
    let other = sample("Paper B", None)?;
    ensure!(other != first, "a different title gave the same bytes");
    ensure!(
        file_id(&other)? != file_id(&first)?,
        "a different document got the same /ID"
    );
    ensure!(file_id(&first)?.len() == 16);
    Ok(())
}

#[test]
fn an_encrypted_pdf_opens_only_with_a_password() -> Result<()> {
    let bytes = sample("Secret paper", Some(("reader", "editor")))?;
    ensure!(
        !bytes.windows(12).any(|window| window == b"Confidential"),
        "the text is readable in the file's bytes"
    );
    for password in [None, Some("wrong")] {
        let error = pdfium()
            .load_pdf_from_byte_slice(&bytes, password)
            .err()
            .with_context(|| format!("pdfium opened it with password {password:?}"))?;
        let message = format!("{error:?}");
        ensure!(message.contains("Password"), "unexpected error {message}");
    }
    for password in ["reader", "editor"] {
        let document = pdfium().load_pdf_from_byte_slice(&bytes, Some(password))?;
        let page = document.pages().get(0)?;
        let text = page.text()?.all();
        ensure!(
            text.contains("Confidential results"),
            "{password}: read {text:?}"
        );
        ensure!(
            document
                .metadata()
                .get(PdfDocumentMetadataTagType::Title)
                .is_some()
        );
    }

    // An empty user password only restricts permissions: readers open the file without asking.
    let open_to_all = sample("Open paper", Some(("", "editor")))?;
    let document = pdfium().load_pdf_from_byte_slice(&open_to_all, None)?;
    let text = document.pages().get(0)?.text()?.all();
    ensure!(text.contains("Confidential results"), "read {text:?}");
    Ok(())
}

#[test]
fn an_image_placed_twice_is_one_xobject_drawn_twice() -> Result<()> {
    let boxes = [
        BBox::new(50.0, 50.0, 250.0, 200.0),
        BBox::new(300.0, 400.0, 400.0, 475.0),
    ];
    let mut doc = PdfDoc::new();
    let panel = doc.add_image(
        &two_tone(64, 48, [0, 0, 0], [255, 255, 255]),
        ImageEncoding::Flate,
    )?;
    doc.add_page(612.0, 792.0)
        .image(boxes[0], panel)
        .image(boxes[1], panel);
    doc.add_page(612.0, 792.0).image(boxes[0], panel);
    let bytes = doc.to_bytes()?;

    let document = lopdf::Document::load_mem(&bytes)?;
    let pages: Vec<lopdf::ObjectId> = document.get_pages().into_values().collect();
    let mut xobject_ids = Vec::new();
    for (index, &page_id) in pages.iter().enumerate() {
        let resources = document
            .get_dictionary(page_id)?
            .get(b"Resources")?
            .as_dict()?;
        let xobjects = resources.get(b"XObject")?.as_dict()?;
        ensure!(
            xobjects.len() == 1,
            "page {index} has {} XObjects",
            xobjects.len()
        );
        let (name, reference) = xobjects.iter().next().context("no XObject")?;
        xobject_ids.push(reference.as_reference()?);
        let draws = document
            .get_and_decode_page_content(page_id)?
            .operations
            .iter()
            .filter(|operation| operation.operator == "Do")
            .filter(|operation| {
                operation.operands.first().and_then(|o| o.as_name().ok()) == Some(name)
            })
            .count();
        ensure!(
            draws == 2 - index,
            "page {index} draws the image {draws} times"
        );
    }
    ensure!(
        xobject_ids[0] == xobject_ids[1],
        "the pages hold different image objects"
    );
    let image_streams = document
        .objects
        .values()
        .filter(|object| {
            object
                .as_stream()
                .is_ok_and(|stream| stream.dict.has_type(b"XObject"))
        })
        .count();
    ensure!(
        image_streams == 1,
        "the file holds {image_streams} image objects"
    );

    let document = pdfium().load_pdf_from_byte_slice(&bytes, None)?;
    let page = document.pages().get(0)?;
    let images: Vec<PdfPageObject> = page.objects().iter().collect();
    ensure!(images.len() == 2, "pdfium sees {} objects", images.len());
    for (object, expected) in images.iter().zip(boxes) {
        assert_bbox_near(
            page_space_bounds(object, page.height().value)?,
            expected,
            "copy",
        );
    }
    Ok(())
}

#[test]
fn bad_input_is_refused_with_a_reason() -> Result<()> {
    let mut doc = PdfDoc::new();
    doc.add_page(0.0, 792.0);
    ensure!(matches!(
        doc.to_bytes(),
        Err(PdfGenError::InvalidPageSize { page: 0, .. })
    ));

    let mut doc = PdfDoc::new();
    doc.add_page(612.0, 792.0)
        .text(72.0, f32::NAN, 10.0, Font::Helvetica, "x");
    ensure!(matches!(
        doc.to_bytes(),
        Err(PdfGenError::NonFiniteNumber { page: 0 })
    ));

    let mut other = PdfDoc::new();
    other.add_image(&two_tone(4, 4, [0; 3], [0; 3]), ImageEncoding::Flate)?;
    let foreign = other.add_image(&two_tone(4, 4, [0; 3], [0; 3]), ImageEncoding::Flate)?;
    let mut doc = PdfDoc::new();
    doc.add_page(612.0, 792.0)
        .image(BBox::new(0.0, 0.0, 10.0, 10.0), foreign);
    ensure!(matches!(
        doc.to_bytes(),
        Err(PdfGenError::UnknownImage { page: 0, image: 1 })
    ));

    let empty = DynamicImage::new_rgb8(0, 10);
    ensure!(matches!(
        PdfDoc::new().add_image(&empty, ImageEncoding::Flate),
        Err(PdfGenError::EmptyImage {
            width: 0,
            height: 10
        })
    ));
    Ok(())
}

#[test]
fn write_to_writes_what_to_bytes_returns() -> Result<()> {
    let mut doc = PdfDoc::new();
    doc.add_page(200.0, 100.0)
        .text(10.0, 50.0, 12.0, Font::Helvetica, "hello");
    let path = std::env::temp_dir().join(format!("panelscope-pdfgen-{}.pdf", std::process::id()));
    doc.write_to(&path)?;
    let written = std::fs::read(&path)?;
    std::fs::remove_file(&path)?;
    ensure!(written == doc.to_bytes()?);
    Ok(())
}
