//! Times the render stage's work in one process over a list of PDFs: pages/s with and without
//! decoding embedded images, to see where a page's time goes.
//!
//! Run: `cargo run --release -p panelscope-stages --example rendertime -- LIST.txt [no-images]`

use std::sync::Arc;
use std::time::Instant;

use panelscope_stages::render::{Pdf, RenderConfig};
use panelscope_stages::units::{DocumentId, DocumentJob};

fn main() -> Result<(), String> {
    let list = std::env::args()
        .nth(1)
        .ok_or("usage: rendertime LIST.txt [no-images]")?;
    let variants: &[(&str, f32)] = if std::env::args().nth(2).as_deref() == Some("no-images") {
        &[("without image pixels", f32::MAX)]
    } else {
        &[("with image pixels", 24.0)]
    };
    let files: Vec<String> = std::fs::read_to_string(list)
        .map_err(|e| e.to_string())?
        .lines()
        .map(String::from)
        .collect();
    for &(label, min_side) in variants {
        let config = RenderConfig {
            min_image_side_pt: min_side,
            ..RenderConfig::default()
        }
        .resolved()?;
        let mut pdf = Pdf::bind(&config.pdfium_library)?;
        let (mut pages, mut bytes, started) = (0, 0usize, Instant::now());
        for file in &files {
            let data = std::fs::read(file).map_err(|e| e.to_string())?;
            let job = DocumentJob {
                id: DocumentId::of_bytes(&data),
                path: file.into(),
                size: data.len() as u64,
            };
            let Ok(info) = pdf.probe(&job, &config, u64::MAX) else {
                continue;
            };
            let info = Arc::new(info);
            for index in 0..info.pages_screened {
                let page = pdf
                    .render(&info, index, &config)
                    .map_err(|e| e.to_string())?;
                bytes += postcard::to_allocvec(&page)
                    .map_err(|e| e.to_string())?
                    .len();
                pages += 1;
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "{label}: {pages} pages in {seconds:.2}s = {:.1} pages/s, {:.1} MB serialised per page",
            pages as f64 / seconds,
            bytes as f64 / pages as f64 / 1e6
        );
    }
    Ok(())
}
