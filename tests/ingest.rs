//! The PDF intake end to end, with real pdfium in real worker processes: deterministic rendering,
//! exact embedded-image bounds, panel boxes of a known compound figure and of butted pictures
//! parted at their letters, a folder of good and damaged PDFs, and a run killed with SIGKILL then
//! resumed.

mod support;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use panelscope::config::Settings;
use panelscope::ingest::screen_documents;
use panelscope_engine::{CollectedDeadLetters, GraphBuilder, NodeConfig, from_fn, testing};
use panelscope_stages::paginate::Paginate;
use panelscope_stages::render::RenderConfig;
use panelscope_stages::store::Store;
use panelscope_stages::units::{BBox, DocumentId, DocumentJob, PagePanels, Panel, RenderedPage};
use support::{pdfs, temp_dir};

const BIN: &str = env!("CARGO_BIN_EXE_panelscope");

fn job(path: &Path) -> DocumentJob {
    let bytes = std::fs::read(path).unwrap();
    DocumentJob {
        id: DocumentId::of_bytes(&bytes),
        path: path.to_path_buf(),
        size: bytes.len() as u64,
        position: 0,
    }
}

fn settings() -> Settings {
    Settings::load(None).unwrap()
}

/// Renders every page of `path` in fresh worker processes.
fn render_pages(path: &Path) -> Vec<RenderedPage> {
    render_pages_with(path, settings().render)
}

/// Renders every page of `path` in fresh worker processes, with `render` settings.
fn render_pages_with(path: &Path, render: RenderConfig) -> Vec<RenderedPage> {
    let render = render
        .resolved()
        .expect("pdfium is installed (run bash scripts/setup.sh)");
    let mut graph = GraphBuilder::new("render-test");
    let jobs = graph.source("jobs", [job(path)]);
    let infos = graph.stage(
        "probe",
        jobs,
        render.probe_pool(Path::new(BIN)),
        NodeConfig::workers(1),
    );
    let pages = graph.stage(
        "paginate",
        infos,
        from_fn(|_| Ok(Paginate)),
        NodeConfig::workers(1),
    );
    let rendered = graph.stage(
        "render",
        pages,
        render.render_pool(Path::new(BIN)),
        NodeConfig::workers(2),
    );
    let (sink, collected) = testing::collect();
    graph.sink("sink", rendered, sink, NodeConfig::workers(1));
    let summary = graph.build().unwrap().run_blocking().unwrap();
    assert_eq!(summary.dead(), 0, "{summary}");
    let mut pages = collected.lock().unwrap().clone();
    pages.sort_by_key(|p| p.meta.index);
    pages
}

/// Runs probe → … → panels over one PDF.
fn screen(path: &Path) -> Vec<PagePanels> {
    let settings = settings();
    let render = settings
        .render
        .resolved()
        .expect("pdfium is installed (run bash scripts/setup.sh)");
    let dead = Arc::new(CollectedDeadLetters::default());
    let mut graph = GraphBuilder::new("screen-test");
    graph.dead_letters(dead.clone());
    let jobs = graph.source("jobs", [job(path)]);
    let pages = screen_documents(
        &mut graph,
        jobs,
        &settings,
        &render,
        Path::new(BIN),
        Some(2),
    );
    let (sink, collected) = testing::collect();
    graph.sink("sink", pages, sink, NodeConfig::workers(1));
    graph.build().unwrap().run_blocking().unwrap();
    assert!(dead.letters().is_empty(), "{:?}", dead.letters());
    let mut pages = collected.lock().unwrap().clone();
    pages.sort_by_key(|p| p.meta.index);
    pages
}

#[test]
fn rendering_is_byte_identical_across_runs_and_processes() {
    let dir = temp_dir("determinism");
    let (bytes, _) = pdfs::paper(3, 2);
    let path = dir.join("paper.pdf");
    std::fs::write(&path, bytes).unwrap();
    // Text-only pages too: every page is rasterised here.
    let every_page = || RenderConfig {
        skip_text_only_pages: false,
        ..settings().render
    };
    let first = render_pages_with(&path, every_page());
    let second = render_pages_with(&path, every_page());
    assert_eq!(first.len(), 2);
    for (a, b) in first.iter().zip(&second) {
        assert_eq!(
            (a.image.width, a.image.height),
            (1275, 1650),
            "US letter at 150 dpi"
        );
        assert!(
            a.image == b.image,
            "page {} rendered differently",
            a.meta.index + 1
        );
        assert_eq!(a.embedded, b.embedded);
        assert_eq!(a.text, b.text);
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn text_only_pages_keep_their_text_and_size_but_are_not_rasterised_rules_and_all() {
    use panelscope::pdfgen::{Font, PdfDoc};
    let dir = temp_dir("text-only");
    let mut doc = PdfDoc::new();
    doc.add_page(612.0, 792.0).text(
        72.0,
        100.0,
        12.0,
        Font::Helvetica,
        "Only words on this page.",
    );
    doc.add_page(612.0, 792.0)
        .text(72.0, 100.0, 12.0, Font::Helvetica, "Words and a box.")
        .rect(BBox::new(72.0, 200.0, 300.0, 400.0), Some([0, 0, 0]), None);
    // A running header's rule and a small ruled table are text pages' own lines.
    let ruled = doc.add_page(612.0, 792.0);
    ruled
        .text(
            72.0,
            60.0,
            9.0,
            Font::Helvetica,
            "Journal of Tests (2026) 1:1-9",
        )
        .line((72.0, 66.0), (540.0, 66.0), 0.5, [0, 0, 0])
        .text(
            72.0,
            120.0,
            12.0,
            Font::Helvetica,
            "Table 1. Words in rows.",
        );
    for row in 0..5 {
        let y = 140.0 + 18.0 * row as f32;
        ruled.line((72.0, y), (400.0, y), 0.75, [0, 0, 0]);
    }
    // A histogram drawn of thin bars is a figure, however thin each bar.
    let histogram = doc.add_page(612.0, 792.0);
    for bar in 0..40 {
        let x = 100.0 + 3.0 * bar as f32;
        let top = 400.0 - 4.0 * ((bar * 7) % 23) as f32;
        histogram.line((x, 400.0), (x, top.min(390.0)), 2.0, [40, 40, 40]);
    }
    let path = dir.join("text-only.pdf");
    doc.write_to(&path).unwrap();

    let skipped = render_pages(&path);
    assert!(
        skipped[0].image.is_empty(),
        "a text-only page is not rasterised"
    );
    assert_eq!(
        (skipped[0].meta.width_px, skipped[0].meta.height_px),
        (1275, 1650)
    );
    assert_eq!(skipped[0].meta.dpi, 150.0);
    assert_eq!(skipped[0].text[0].text, "Only words on this page.");
    assert_eq!(
        (skipped[1].image.width, skipped[1].image.height),
        (1275, 1650)
    );
    assert!(
        skipped[2].image.is_empty(),
        "a page of text with a header rule and a ruled table is not rasterised"
    );
    assert_eq!(
        (skipped[3].image.width, skipped[3].image.height),
        (1275, 1650),
        "a chart of thin bars is"
    );

    let every = render_pages_with(
        &path,
        RenderConfig {
            skip_text_only_pages: false,
            ..settings().render
        },
    );
    assert_eq!((every[0].image.width, every[0].image.height), (1275, 1650));
    assert!(
        every[0].image.data.iter().any(|&v| v < 128),
        "the text is drawn when every page is rasterised"
    );
    assert_eq!(every[1].image, skipped[1].image);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn embedded_image_bounds_match_where_they_were_placed() {
    use panelscope::pdfgen::{ImageEncoding, PdfDoc};
    let dir = temp_dir("bounds");
    let mut doc = PdfDoc::new();
    let placed = [
        (
            BBox::new(50.0, 60.0, 250.0, 160.0),
            ImageEncoding::Flate,
            (400, 200),
        ),
        (
            BBox::new(300.5, 80.25, 560.0, 400.0),
            ImageEncoding::Jpeg { quality: 85 },
            (300, 370),
        ),
        (
            BBox::new(72.0, 500.0, 172.0, 740.0),
            ImageEncoding::Flate,
            (90, 216),
        ),
    ];
    let ids: Vec<_> = placed
        .iter()
        .enumerate()
        .map(|(k, (_, encoding, (w, h)))| {
            doc.add_image(
                &image::DynamicImage::ImageRgb8(pdfs::blot(k as u64, *w, *h)),
                *encoding,
            )
            .unwrap()
        })
        .collect();
    let page = doc.add_page(612.0, 792.0);
    for ((bbox, _, _), id) in placed.iter().zip(&ids) {
        page.image(*bbox, *id);
    }
    // A second page of another size holds the first image again.
    doc.add_page(400.0, 300.0)
        .image(BBox::new(10.0, 20.0, 110.0, 70.0), ids[0]);
    let path = dir.join("placed.pdf");
    doc.write_to(&path).unwrap();

    let pages = render_pages(&path);
    assert_eq!(pages.len(), 2);
    let close = |a: &BBox, b: &BBox| {
        [a.x0 - b.x0, a.y0 - b.y0, a.x1 - b.x1, a.y1 - b.y1]
            .iter()
            .all(|d| d.abs() < 0.05)
    };
    for (bbox, _, (w, h)) in &placed {
        let found = pages[0]
            .embedded
            .iter()
            .find(|image| close(&image.bbox, bbox));
        let found = found.unwrap_or_else(|| {
            panic!(
                "no image at {bbox:?}; found {:?}",
                pages[0].embedded.iter().map(|i| i.bbox).collect::<Vec<_>>()
            )
        });
        assert_eq!((found.pixel_width, found.pixel_height), (*w, *h));
        let raster = found
            .raster
            .as_ref()
            .expect("large images keep their pixels");
        assert_eq!((raster.width, raster.height), (*w, *h));
    }
    assert_eq!(
        (pages[1].meta.width_pt, pages[1].meta.height_pt),
        (400.0, 300.0)
    );
    assert!(close(
        &pages[1].embedded[0].bbox,
        &BBox::new(10.0, 20.0, 110.0, 70.0)
    ));
    std::fs::remove_dir_all(dir).unwrap();
}

/// The panels of `page`, one at each of `expected` (IoU 0.9 or more) and no other, in its order.
fn panels_at<'a>(page: &'a PagePanels, expected: &[BBox]) -> Vec<&'a Panel> {
    let panels: Vec<&Panel> = page.figures.iter().flat_map(|f| f.panels.iter()).collect();
    assert_eq!(
        panels.len(),
        expected.len(),
        "{:?}",
        panels.iter().map(|p| p.bbox).collect::<Vec<_>>()
    );
    expected
        .iter()
        .map(|place| {
            let best = *panels
                .iter()
                .max_by(|a, b| a.bbox.iou(place).total_cmp(&b.bbox.iou(place)))
                .unwrap();
            assert!(best.bbox.iou(place) >= 0.9, "{place:?}: {:?}", best.bbox);
            best
        })
        .collect()
}

#[test]
fn blot_strips_stacked_as_images_of_their_own_are_panels_at_their_native_pixels() {
    use panelscope::pdfgen::{ImageEncoding, PdfDoc};
    let dir = temp_dir("strips");
    let mut doc = PdfDoc::new();
    // A Western blot figure as journals often set it: one image per protein's strip, 80 x 11 pt,
    // stacked a hairline apart; the page render has about 23 px of each strip's height.
    let strips: Vec<BBox> = (0..4)
        .map(|k| {
            let y0 = 100.0 + k as f32 * 11.8;
            BBox::new(150.0, y0, 230.0, y0 + 11.0)
        })
        .collect();
    let ids: Vec<_> = (0..strips.len())
        .map(|k| {
            let image = image::DynamicImage::ImageRgb8(pdfs::blot(40 + k as u64, 284, 40));
            doc.add_image(&image, ImageEncoding::Flate).unwrap()
        })
        .collect();
    let page = doc.add_page(612.0, 792.0);
    for (bbox, id) in strips.iter().zip(&ids) {
        page.image(*bbox, *id);
    }
    let path = dir.join("strips.pdf");
    doc.write_to(&path).unwrap();

    let rendered = render_pages(&path);
    for image in &rendered[0].embedded {
        let raster = image.raster.as_ref().expect("a strip keeps its pixels");
        assert_eq!((raster.width, raster.height), (284, 40));
    }
    let pages = screen(&path);
    for best in panels_at(&pages[0], &strips) {
        assert!(
            best.raster.height >= 32,
            "{}x{}",
            best.raster.width,
            best.raster.height
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_lone_row_of_strips_thinner_than_a_figure_is_screened_at_its_few_native_pixels() {
    use panelscope::pdfgen::{ImageEncoding, PdfDoc};
    let dir = temp_dir("strip-row");
    let mut doc = PdfDoc::new();
    // Three strips side by side, 60 x 21 pt each, a point apart: the row is thinner than a
    // figure's smallest side, and each strip is 24 px tall at its native resolution, thinner
    // than a panel's smallest side in pixels. They are screened; lettering as thin is not.
    let strips: Vec<BBox> = (0..3)
        .map(|k| {
            let x0 = 150.0 + k as f32 * 61.0;
            BBox::new(x0, 100.0, x0 + 60.0, 121.0)
        })
        .collect();
    let ids: Vec<_> = (0..strips.len())
        .map(|k| {
            let image = image::DynamicImage::ImageRgb8(pdfs::blot(60 + k as u64, 180, 24));
            doc.add_image(&image, ImageEncoding::Flate).unwrap()
        })
        .collect();
    // A caption line set as an image of its own at 300 dpi: lettering, not a strip.
    let mut title = image::RgbImage::from_pixel(1250, 40, image::Rgb([255, 255, 255]));
    for x in (10..1200).step_by(40) {
        for (dx, dy) in (0..24).flat_map(|dx| (0..34).map(move |dy| (dx, dy))) {
            if dx < 4 || dy < 4 || dx == dy / 2 {
                title.put_pixel(x + dx, 3 + dy, image::Rgb([20, 20, 20]));
            }
        }
    }
    let title_id = doc
        .add_image(&image::DynamicImage::ImageRgb8(title), ImageEncoding::Flate)
        .unwrap();
    let page = doc.add_page(612.0, 792.0);
    for (bbox, id) in strips.iter().zip(&ids) {
        page.image(*bbox, *id);
    }
    page.image(BBox::new(100.0, 300.0, 400.0, 309.6), title_id);
    let path = dir.join("strip-row.pdf");
    doc.write_to(&path).unwrap();

    let pages = screen(&path);
    for best in panels_at(&pages[0], &strips) {
        assert_eq!((best.raster.width, best.raster.height), (180, 24));
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn compound_figure_panels_match_the_known_layout() {
    let dir = temp_dir("panels");
    let (bytes, figures) = pdfs::paper(11, 2);
    let path = dir.join("paper.pdf");
    std::fs::write(&path, bytes).unwrap();
    let pages = screen(&path);
    let expected = &figures[0];
    let page = &pages[expected.page as usize];
    assert_eq!(
        page.figures.len(),
        1,
        "one figure on page {}: {:?}",
        expected.page + 1,
        page.figures
            .iter()
            .map(|f| f.figure.bbox)
            .collect::<Vec<_>>()
    );
    let found = &page.figures[0];
    assert!(
        found.figure.bbox.iou(&expected.bbox) > 0.98,
        "{:?} vs {:?}",
        found.figure.bbox,
        expected.bbox
    );
    assert_eq!(
        found
            .figure
            .caption
            .as_deref()
            .map(|c| c.starts_with("Figure 1.")),
        Some(true),
        "{:?}",
        found.figure.caption
    );
    assert_eq!(
        found.panels.len(),
        expected.panels.len(),
        "{:?}",
        found.panels.iter().map(|p| p.bbox).collect::<Vec<_>>()
    );
    for want in &expected.panels {
        let best = found
            .panels
            .iter()
            .map(|p| p.bbox.iou(want))
            .fold(0.0, f32::max);
        assert!(best >= 0.9, "panel {want:?}: best IoU {best}");
    }
    assert!(
        pages[0].figures.is_empty(),
        "a text-only page has no figure"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn butted_pictures_are_parted_at_the_panel_letters_set_above_them() {
    use panelscope::pdfgen::{Font, ImageEncoding, PdfDoc};
    // Three blots butted into one image, no gutter between them; each carries its letter, set as
    // text above its top-left corner, as journals do.
    let dir = temp_dir("letters");
    let (cell_w, cell_h) = (240u32, 180u32);
    let mut strip = image::RgbImage::new(3 * cell_w, cell_h);
    for k in 0..3u32 {
        image::imageops::replace(
            &mut strip,
            &pdfs::blot(40 + u64::from(k), cell_w, cell_h),
            i64::from(k * cell_w),
            0,
        );
    }
    let mut doc = PdfDoc::new();
    let id = doc
        .add_image(
            &image::DynamicImage::ImageRgb8(strip),
            ImageEncoding::Jpeg { quality: 90 },
        )
        .unwrap();
    let (x0, y0, cell_pt) = (90.0f32, 200.0f32, 120.0f32);
    let page = doc.add_page(612.0, 792.0);
    page.image(BBox::new(x0, y0, x0 + 3.0 * cell_pt, y0 + 90.0), id);
    for (k, letter) in ["A", "B", "C"].iter().enumerate() {
        page.text(
            x0 + k as f32 * cell_pt,
            y0 - 3.0,
            11.0,
            Font::HelveticaBold,
            letter,
        );
    }
    page.text(72.0, 320.0, 9.0, Font::TimesRoman, "Figure 1. Three blots.");
    let path = dir.join("butted.pdf");
    doc.write_to(&path).unwrap();
    let pages = screen(&path);
    let panels: Vec<BBox> = pages[0]
        .figures
        .iter()
        .flat_map(|f| f.panels.iter().map(|p| p.bbox))
        .collect();
    assert_eq!(panels.len(), 3, "{panels:?}");
    for k in 0..3 {
        let left = x0 + k as f32 * cell_pt;
        let want = BBox::new(left, y0, left + cell_pt, y0 + 90.0);
        let best = panels.iter().map(|p| p.iou(&want)).fold(0.0, f32::max);
        assert!(best >= 0.9, "panel {want:?}: best IoU {best} in {panels:?}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

fn ingest(dir: &Path, data_dir: &Path) -> std::process::Output {
    Command::new(BIN)
        .arg("--data-dir")
        .arg(data_dir)
        .arg("ingest")
        .arg(dir)
        .output()
        .unwrap()
}

#[test]
fn a_folder_of_good_and_damaged_pdfs_ingests_the_good_and_dead_letters_the_bad() {
    use panelscope::pdfgen::{ImageEncoding, PdfDoc};
    let dir = temp_dir("catalog");
    let catalog = dir.join("catalog");
    std::fs::create_dir_all(catalog.join("nested")).unwrap();
    let good: Vec<Vec<u8>> = (0..3).map(|seed| pdfs::paper(seed, 3).0).collect();
    std::fs::write(catalog.join("good-0.pdf"), &good[0]).unwrap();
    std::fs::write(catalog.join("good-1.pdf"), &good[1]).unwrap();
    std::fs::write(catalog.join("nested/good-2.pdf"), &good[2]).unwrap();
    std::fs::write(catalog.join("nested/copy-of-good-0.pdf"), &good[0]).unwrap();
    std::fs::write(catalog.join("zero-bytes.pdf"), b"").unwrap();
    std::fs::write(catalog.join("truncated.pdf"), &good[1][..good[1].len() / 3]).unwrap();
    std::fs::write(
        catalog.join("not-a-pdf.pdf"),
        b"<html><body>nope</body></html>",
    )
    .unwrap();
    let mut encrypted = PdfDoc::new();
    encrypted.add_page(612.0, 792.0).text(
        72.0,
        72.0,
        12.0,
        panelscope::pdfgen::Font::Helvetica,
        "secret",
    );
    encrypted.encrypt("user-pw", "owner-pw");
    encrypted.write_to(&catalog.join("encrypted.pdf")).unwrap();
    let mut huge = PdfDoc::new();
    let blot = huge
        .add_image(
            &image::DynamicImage::ImageRgb8(pdfs::blot(9, 300, 200)),
            ImageEncoding::Flate,
        )
        .unwrap();
    huge.add_page(20000.0, 20000.0)
        .image(BBox::new(1000.0, 1000.0, 19000.0, 13000.0), blot);
    huge.write_to(&catalog.join("huge-page.pdf")).unwrap();

    let data = dir.join("data");
    let out = ingest(&catalog, &data);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("4 documents complete, 4 failed"),
        "{stdout}"
    );

    let store = Store::open(&data).unwrap();
    let status = |name: &str| -> (String, String) {
        store
            .read(|conn| {
                conn.query_row(
                    "SELECT status, COALESCE(error, '') FROM documents WHERE id IN (SELECT doc FROM paths WHERE path LIKE ?1)",
                    [format!("%/{name}")],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
            })
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    for name in [
        "good-0.pdf",
        "good-1.pdf",
        "nested/good-2.pdf",
        "nested/copy-of-good-0.pdf",
        "huge-page.pdf",
    ] {
        assert_eq!(status(name).0, "complete", "{name}");
    }
    for (name, reason) in [
        ("zero-bytes.pdf", "empty file"),
        ("truncated.pdf", "damaged or not a PDF (truncated"),
        ("not-a-pdf.pdf", "not a PDF: it is an HTML page"),
        ("encrypted.pdf", "encrypted"),
    ] {
        let (state, error) = status(name);
        assert_eq!(state, "failed", "{name}");
        assert!(error.contains(reason), "{name}: {error}");
        assert!(
            stdout.contains(name) && stdout.contains(reason),
            "the summary names {name}:\n{stdout}"
        );
    }
    let (documents, paths_of_good_0, pages, panels): (i64, i64, i64, i64) = store
        .read(|conn| {
            Ok((
                conn.query_row("SELECT COUNT(*) FROM documents", [], |r| r.get(0))?,
                conn.query_row(
                    "SELECT COUNT(*) FROM paths WHERE path LIKE '%good-0.pdf'",
                    [],
                    |r| r.get(0),
                )?,
                conn.query_row("SELECT COUNT(*) FROM pages", [], |r| r.get(0))?,
                conn.query_row("SELECT COUNT(*) FROM panels", [], |r| r.get(0))?,
            ))
        })
        .unwrap();
    assert_eq!(documents, 8, "the copy of good-0 is the same document");
    assert_eq!(paths_of_good_0, 2, "both paths of good-0 are recorded");
    assert_eq!(pages, 3 * 3 + 1);
    assert!(panels >= 3 * 4, "each good paper has a 2x2 compound figure");
    // The huge page was rendered under the pixel cap, not at 150 dpi.
    let huge_dpi: f64 = store
        .read(|c| {
            c.query_row("SELECT dpi FROM pages WHERE width_pt = 20000", [], |r| {
                r.get(0)
            })
        })
        .unwrap();
    assert!(huge_dpi < 30.0, "{huge_dpi}");

    // A rerun does no repeated work.
    let again = ingest(&catalog, &data);
    assert!(again.status.success());
    let stdout = String::from_utf8_lossy(&again.stdout);
    let probe_line = stdout
        .lines()
        .find(|l| l.starts_with("probe "))
        .unwrap_or_default()
        .to_string();
    assert!(
        probe_line.split_whitespace().nth(3) == Some("0"),
        "the rerun probed documents again: {stdout}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn sigkill_mid_ingest_then_rerun_records_every_document_exactly_once() {
    let dir = temp_dir("sigkill");
    let catalog = dir.join("catalog");
    std::fs::create_dir_all(&catalog).unwrap();
    let documents = 24;
    for seed in 0..documents {
        std::fs::write(
            catalog.join(format!("paper-{seed:02}.pdf")),
            pdfs::paper(100 + seed, 4).0,
        )
        .unwrap();
    }
    let data = dir.join("data");
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(&data)
        .args(["ingest", "--workers", "1"])
        .arg(&catalog)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let store_file = data.join("panelscope.sqlite");
    let deadline = Instant::now() + Duration::from_secs(300);
    let complete = || support::complete_documents(&store_file);
    while complete() < 3 {
        assert!(Instant::now() < deadline, "the first run recorded nothing");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the first run ended before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let after_kill = complete();
    assert!(
        after_kill < documents as i64,
        "the run finished before the kill"
    );

    let out = ingest(&catalog, &data);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store = Store::open(&data).unwrap();
    let (docs, complete, pages, distinct_pages, figures): (i64, i64, i64, i64, i64) = store
        .read(|c| {
            Ok((
                c.query_row("SELECT COUNT(*) FROM documents", [], |r| r.get(0))?,
                c.query_row(
                    "SELECT COUNT(*) FROM documents WHERE status = 'complete'",
                    [],
                    |r| r.get(0),
                )?,
                c.query_row("SELECT COUNT(*) FROM pages", [], |r| r.get(0))?,
                c.query_row(
                    "SELECT COUNT(DISTINCT doc || '/' || page) FROM pages",
                    [],
                    |r| r.get(0),
                )?,
                c.query_row("SELECT COUNT(*) FROM figures", [], |r| r.get(0))?,
            ))
        })
        .unwrap();
    assert_eq!((docs, complete), (documents as i64, documents as i64));
    assert_eq!(pages, documents as i64 * 4);
    assert_eq!(distinct_pages, pages);
    assert_eq!(
        figures,
        documents as i64 * 2,
        "two figures per 4-page paper, none twice"
    );
    // The rerun only screened what the first run had not recorded.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let probed: i64 = stdout
        .lines()
        .find(|l| l.starts_with("probe "))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert_eq!(probed, documents as i64 - after_kill, "{stdout}");
    std::fs::remove_dir_all(dir).unwrap();
}
