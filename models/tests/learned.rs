//! The shipped learned embedder: its weights load, its vectors are unit length, of the stated
//! dimension and reproducible, and an edited copy of a blot stays nearer its source than other
//! blots do. Inputs are drawn here, so the test needs no data folder.

use std::path::PathBuf;

use candle_core::Device;
use image::imageops::{self, FilterType};
use image::{GrayImage, Luma};
use panelscope_models::{Dihedral, Embedder, LearnedEmbedder};

/// The weights `[embed] weights` names by default.
fn shipped() -> LearnedEmbedder {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("weights/panelscope-embed-small.safetensors");
    LearnedEmbedder::load(&path, &Device::Cpu).expect("the shipped weights load")
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A small deterministic generator, so the blots are the same on every run.
struct Lcg(u64);

impl Lcg {
    fn unit(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// A Western-blot-like panel: lanes of dark bands of seeded rows, widths and strengths on a
/// light, slightly uneven background with grain.
fn blot(seed: u64, width: u32, height: u32) -> GrayImage {
    let mut rng = Lcg(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xB107);
    let lanes = 4 + (rng.unit() * 8.0) as u32;
    let rows: Vec<f32> = (0..2 + (rng.unit() * 3.0) as usize)
        .map(|_| 0.15 + 0.7 * rng.unit())
        .collect();
    let bands: Vec<Vec<(f32, f32)>> = (0..lanes)
        .map(|_| {
            rows.iter()
                .map(|&row| (row + 0.03 * (rng.unit() - 0.5), rng.unit()))
                .collect()
        })
        .collect();
    let background = 200.0 + 40.0 * rng.unit();
    let mut grain = Lcg(seed ^ 0x6A1);
    GrayImage::from_fn(width, height, |x, y| {
        let (u, v) = (x as f32 / width as f32, y as f32 / height as f32);
        let lane = ((u * lanes as f32) as usize).min(lanes as usize - 1);
        let inside = (u * lanes as f32).fract();
        let mut ink = 0.0;
        if (0.15..0.85).contains(&inside) {
            for &(row, strength) in &bands[lane] {
                let d = (v - row) / 0.035;
                ink += 150.0 * strength * (-d * d).exp();
            }
        }
        let level = background - 15.0 * v - ink + 6.0 * (grain.unit() - 0.5);
        Luma([level.clamp(0.0, 255.0) as u8])
    })
}

/// What an author does to a reused blot: crop 80%, rescale, raise the gamma, flip.
fn edited(image: &GrayImage) -> GrayImage {
    let (width, height) = image.dimensions();
    let crop = imageops::crop_imm(
        image,
        width / 10,
        height / 12,
        width * 8 / 10,
        height * 5 / 6,
    )
    .to_image();
    let rescaled = imageops::resize(
        &crop,
        crop.width() * 3 / 4,
        crop.height() * 3 / 4,
        FilterType::CatmullRom,
    );
    let gamma = GrayImage::from_fn(rescaled.width(), rescaled.height(), |x, y| {
        let v = f32::from(rescaled.get_pixel(x, y).0[0]) / 255.0;
        Luma([(v.powf(1.5) * 255.0) as u8])
    });
    imageops::flip_horizontal(&gamma)
}

#[test]
fn vectors_are_unit_length_of_the_stated_dimension_and_reproducible() {
    let embedder = shipped();
    assert!(
        embedder.fingerprint().0.starts_with("learned-resnetv2-"),
        "{}",
        embedder.fingerprint()
    );
    let images = [blot(1, 240, 120), blot(2, 37, 300), GrayImage::new(3, 2)];
    let first = embedder.embed(&images).unwrap();
    let again = embedder.embed(&images).unwrap();
    assert_eq!(first, again);
    for vector in &first[..2] {
        assert_eq!(vector.len(), embedder.dimension());
        assert!((dot(vector, vector) - 1.0).abs() < 1e-3);
    }
    // One at a time or in a batch: the same vectors.
    let alone = embedder.embed(&images[..1]).unwrap();
    assert!(dot(&alone[0], &first[0]) > 0.9999);
    let views = embedder.embed_dihedral(&images[0]).unwrap();
    assert_eq!(views.len(), Dihedral::ALL.len());
}

#[test]
fn an_edited_copy_stays_nearer_its_source_than_other_blots() {
    let embedder = shipped();
    let sources: Vec<GrayImage> = (10..20).map(|seed| blot(seed, 260, 140)).collect();
    let gallery = embedder.embed(&sources).unwrap();
    let mut found = 0;
    let mut margin = 0.0;
    for (index, source) in sources.iter().enumerate() {
        // Flips are found by the dihedral query views, as in the pipeline.
        let views = embedder.embed_dihedral(&edited(source)).unwrap();
        let score = |entry: &Vec<f32>| {
            views
                .iter()
                .map(|view| dot(view, entry))
                .fold(f32::MIN, f32::max)
        };
        let own = score(&gallery[index]);
        let best_other = gallery
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != index)
            .map(|(_, entry)| score(entry))
            .fold(f32::MIN, f32::max);
        println!("blot {index}: source {own:.3}, best other {best_other:.3}");
        if own > best_other {
            found += 1;
        }
        margin += (own - best_other) / sources.len() as f32;
    }
    // The shipped model ranks 9 of 10 first (mean margin 0.22); a retrained one may differ a
    // little, a broken one by far.
    assert!(found >= 8, "{found} of 10 copies ranked their source first");
    assert!(margin > 0.1, "mean margin {margin}");
}
