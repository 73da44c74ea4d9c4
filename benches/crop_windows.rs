//! How often a panel's window queries find a crop of it, against the whole panel alone: random
//! crops of real blots (../shared/data/blots/polimi) keeping 50–90% of the area at a random place,
//! drawn by `panelscope synth`'s own crop edit, embedded by the classical descriptor and by the learned
//! model; a crop counts as found when one of the panel's vectors reaches the index's similarity
//! threshold for that embedder. Beside it: how many other blots' vectors reach it too (each is a
//! candidate that verification must reject), and the embedding time per panel, in the same run.
//!
//! Run: `cargo bench --bench crop_windows` (needs ../shared/data).

use std::path::Path;
use std::time::Instant;

use image::GrayImage;
use panelscope::synth::edits::planted_crop;
use panelscope_models::Embedder;
use panelscope_stages::embed::{EmbedConfig, window_crops};

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

struct Row {
    found: f32,
    others: f32,
    ms_per_panel: f64,
}

/// Each panel's vectors (whole, then its windows) against every crop.
fn score(
    embedder: &dyn Embedder,
    panels: &[GrayImage],
    crops: &[Vec<f32>],
    windows: &[[f32; 4]],
    threshold: f32,
) -> Row {
    let started = Instant::now();
    let vectors: Vec<Vec<Vec<f32>>> = panels
        .iter()
        .map(|panel| {
            let mut all = embedder.embed(std::slice::from_ref(panel)).unwrap();
            let cut = window_crops(panel, windows);
            if !cut.is_empty() {
                all.extend(embedder.embed(&cut).unwrap());
            }
            all
        })
        .collect();
    let ms_per_panel = started.elapsed().as_secs_f64() * 1000.0 / panels.len() as f64;
    let best = |i: usize, j: usize| {
        vectors[i]
            .iter()
            .map(|v| dot(v, &crops[j]))
            .fold(f32::MIN, f32::max)
    };
    let n = panels.len();
    let found = (0..n).filter(|&i| best(i, i) >= threshold).count();
    let others = (0..n)
        .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
        .filter(|&(i, j)| best(i, j) >= threshold)
        .count();
    Row {
        found: found as f32 / n as f32,
        others: others as f32 / n as f32,
        ms_per_panel,
    }
}

fn main() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/blots/polimi");
    let mut files: Vec<_> = std::fs::read_dir(&folder)
        .unwrap_or_else(|e| panic!("{}: {e} (this bench reads real blots)", folder.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    files.sort();
    let panels: Vec<GrayImage> = files
        .iter()
        .step_by(4)
        .map(|p| image::open(p).unwrap().to_luma8())
        .collect();
    let crops: Vec<GrayImage> = files
        .iter()
        .step_by(4)
        .enumerate()
        .map(|(k, p)| {
            let image = image::open(p).unwrap().to_rgb8();
            image::DynamicImage::ImageRgb8(planted_crop(image, 11 + k as u64).unwrap()).to_luma8()
        })
        .collect();
    println!(
        "{} real blots of {}, one random crop each (50-90% of the area)",
        panels.len(),
        folder.display()
    );
    println!(
        "{:<10} {:<40} {:>7} {:>6} {:>26} {:>16}",
        "embedder", "queries", "vectors", "found", "other blots reached", "ms/panel"
    );
    let index = panelscope_stages::index::IndexConfig::default();
    for (model, threshold) in [
        ("classical", index.min_window_similarity),
        ("learned", 0.70),
    ] {
        let base = EmbedConfig {
            model: model.to_string(),
            device: "cpu".to_string(),
            ..EmbedConfig::default()
        };
        let embedder = base.embedder().unwrap();
        let crop_vectors = embedder.embed(&crops).unwrap();
        let variants = [
            ("whole panel", Some(vec![])),
            ("default windows", None),
            ("0.75, 0.9 windows", Some(vec![0.75, 0.9])),
            ("0.8 windows", Some(vec![0.8])),
        ];
        let mut whole_ms = 0.0;
        for (name, sizes) in variants {
            let config = EmbedConfig {
                window_sizes: sizes,
                ..base.clone()
            };
            let windows = config.windows().unwrap();
            let row = score(&*embedder, &panels, &crop_vectors, &windows, threshold);
            if windows.is_empty() && whole_ms == 0.0 {
                whole_ms = row.ms_per_panel;
            }
            println!(
                "{:<10} {:<40} {:>7} {:>6.2} {:>20.2} /crop {:>9.2} ({:.1}x)",
                model,
                format!("{name} (similarity >= {threshold:.2})"),
                windows.len() + 1,
                row.found,
                row.others,
                row.ms_per_panel,
                row.ms_per_panel / whole_ms
            );
        }
    }
}
