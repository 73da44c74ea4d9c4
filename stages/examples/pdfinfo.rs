//! Prints what the render stage sees in a PDF: pages, sizes, rotation, image objects, text runs.
//!
//! Run: `cargo run -p panelscope-stages --example pdfinfo -- FILE.pdf [PAGES]`

use std::sync::Arc;

use panelscope_stages::render::{Pdf, RenderConfig};
use panelscope_stages::units::{DocumentId, DocumentJob};

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let path = std::path::PathBuf::from(args.next().ok_or("usage: pdfinfo FILE.pdf [PAGES]")?);
    let max_pages: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let config = RenderConfig::default().resolved()?;
    let mut pdf = Pdf::bind(&config.pdfium_library)?;
    let bytes = std::fs::read(&path).map_err(|e| e.to_string())?;
    let job = DocumentJob {
        id: DocumentId::of_bytes(&bytes),
        path: path.clone(),
        size: bytes.len() as u64,
    };
    let info = Arc::new(
        pdf.probe(&job, &config, u64::MAX)
            .map_err(|e| e.to_string())?,
    );
    println!(
        "{}: {} pages, title {:?}",
        path.display(),
        info.pages,
        info.title
    );
    for index in 0..info.pages.min(max_pages) {
        let started = std::time::Instant::now();
        let page = pdf
            .render(&info, index, &config)
            .map_err(|e| e.to_string())?;
        let m = &page.meta;
        println!(
            "page {}: {:.1} x {:.1} pt, {} x {} px at {:.1} dpi, {} text runs ({} chars), {} images, {:?}",
            index + 1,
            m.width_pt,
            m.height_pt,
            m.width_px,
            m.height_px,
            m.dpi,
            page.text.len(),
            m.text_chars,
            page.embedded.len(),
            started.elapsed()
        );
        for image in page.embedded.iter().take(12) {
            let b = image.bbox;
            println!(
                "  image {}x{} px at [{:.1}, {:.1}, {:.1}, {:.1}] raster {:?}",
                image.pixel_width, image.pixel_height, b.x0, b.y0, b.x1, b.y1, image.raster
            );
        }
        for span in page.text.iter().take(4) {
            println!(
                "  text [{:.1}, {:.1}, {:.1}, {:.1}] {:?}",
                span.bbox.x0, span.bbox.y0, span.bbox.x1, span.bbox.y1, span.text
            );
        }
    }
    Ok(())
}
