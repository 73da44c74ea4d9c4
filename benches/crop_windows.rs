//! How often a panel's window queries find a crop of it, against the whole panel alone: random
//! crops of real blots (../shared/data/blots/polimi) keeping 50–90% of the area at a random place,
//! as `panelscope synth` plants them, embedded by the classical descriptor and by the learned
//! model; a crop counts as found when one of the panel's vectors reaches the index's similarity
//! threshold for that embedder. Beside it: how many other blots' vectors reach it too (each is a
//! candidate that verification must reject), and the embedding time per panel, in the same run.
//!
//! Run: `cargo bench --bench crop_windows` (needs ../shared/data).

use std::path::Path;
use std::time::Instant;

use image::GrayImage;
use panelscope_models::Embedder;
use panelscope_stages::embed::{EmbedConfig, window_crops};

/// SplitMix64, so the crops never depend on a crate's RNG.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn uniform(&mut self, low: f32, high: f32) -> f32 {
        low + (high - low) * (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// A crop as the synth's crop edit draws it: 50–90% of the area, one side losing more.
fn random_crop(image: &GrayImage, rng: &mut Rng) -> GrayImage {
    let (w, h) = (image.width() as f32, image.height() as f32);
    let kept = rng.uniform(0.5, 0.9);
    let width_share = (kept.sqrt() * rng.uniform(0.85, 1.15)).clamp(kept, 1.0);
    let height_share = (kept / width_share).clamp(kept, 1.0);
    let (cw, ch) = (
        ((w * width_share).round() as u32).clamp(4, image.width()),
        ((h * height_share).round() as u32).clamp(4, image.height()),
    );
    let x0 = (rng.uniform(0.0, 1.0) * (image.width() - cw) as f32) as u32;
    let y0 = (rng.uniform(0.0, 1.0) * (image.height() - ch) as f32) as u32;
    image::imageops::crop_imm(image, x0, y0, cw, ch).to_image()
}

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
    let mut rng = Rng(11);
    let crops: Vec<GrayImage> = panels.iter().map(|p| random_crop(p, &mut rng)).collect();
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
    for (model, threshold) in [("classical", index.min_similarity), ("learned", 0.80)] {
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
