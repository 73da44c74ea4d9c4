//! A classical copy-detection descriptor: no weights, no GPU. The panel becomes a 48×48 gray
//! thumbnail whose intensities are replaced by their ranks (so any monotonic change of contrast,
//! brightness or gamma leaves it unchanged), then two parts are concatenated: the rank image
//! smoothed to 16×16 (layout) and 4×4 cells of 8-bin gradient-orientation histograms (structure).
//! Robust to rescaling, JPEG, noise and photometric edits; flips and quarter turns are found by
//! querying the eight dihedral variants, which this descriptor computes from the thumbnail.

use image::GrayImage;

use crate::ModelError;
use crate::embedder::{Dihedral, Embedder, ModelFingerprint, l2_normalize};

/// Thumbnail side.
const SIDE: u32 = 48;
/// Layout grid side.
const LAYOUT: u32 = 16;
/// Histogram grid side and orientation bins.
const CELLS: u32 = 4;
const BINS: usize = 8;
/// Weight of the structure part relative to the layout part.
const STRUCTURE_WEIGHT: f32 = 1.0;

/// The classical descriptor.
pub struct ClassicalEmbedder {
    fingerprint: ModelFingerprint,
}

impl Default for ClassicalEmbedder {
    fn default() -> Self {
        let spec = format!(
            "classical-v1 side={SIDE} layout={LAYOUT} cells={CELLS} bins={BINS} w={STRUCTURE_WEIGHT}"
        );
        let hash = blake3::hash(spec.as_bytes()).to_hex();
        Self {
            fingerprint: ModelFingerprint(format!("classical-v1-{}", &hash[..12])),
        }
    }
}

/// The rank-normalised square thumbnail, values in [0, 1].
fn thumbnail(image: &GrayImage) -> Vec<f32> {
    let small = if image.width() == 0 || image.height() == 0 {
        GrayImage::new(SIDE, SIDE)
    } else if image.width() >= SIDE && image.height() >= SIDE {
        image::imageops::thumbnail(image, SIDE, SIDE)
    } else {
        image::imageops::resize(image, SIDE, SIDE, image::imageops::FilterType::Triangle)
    };
    // Ranks: ties share their mean rank, so a flat region stays flat.
    let mut histogram = [0u32; 256];
    small.pixels().for_each(|p| histogram[p.0[0] as usize] += 1);
    let total = (SIDE * SIDE) as f32;
    let mut below = 0u32;
    let mut rank = [0f32; 256];
    for (value, count) in histogram.iter().enumerate() {
        rank[value] = (below as f32 + (*count as f32 - 1.0) / 2.0) / (total - 1.0);
        below += count;
    }
    small.pixels().map(|p| rank[p.0[0] as usize]).collect()
}

/// The descriptor of a rank thumbnail.
fn describe(values: &[f32]) -> Vec<f32> {
    let n = SIDE as usize;
    let mean = values.iter().sum::<f32>() / values.len() as f32;
    let mut out = Vec::with_capacity((LAYOUT * LAYOUT) as usize + (CELLS * CELLS) as usize * BINS);

    // Layout: block means of the centred rank image.
    let block = n / LAYOUT as usize;
    for by in 0..LAYOUT as usize {
        for bx in 0..LAYOUT as usize {
            let mut sum = 0.0;
            for y in by * block..(by + 1) * block {
                for x in bx * block..(bx + 1) * block {
                    sum += values[y * n + x] - mean;
                }
            }
            out.push(sum / (block * block) as f32);
        }
    }
    let layout_end = out.len();
    l2_normalize(&mut out[..layout_end]);

    // Structure: gradient orientation histograms, magnitude-weighted, per cell.
    let cell = n / CELLS as usize;
    let mut histograms = vec![0f32; (CELLS * CELLS) as usize * BINS];
    for y in 1..n - 1 {
        for x in 1..n - 1 {
            let gx = values[y * n + x + 1] - values[y * n + x - 1];
            let gy = values[(y + 1) * n + x] - values[(y - 1) * n + x];
            let magnitude = (gx * gx + gy * gy).sqrt();
            if magnitude == 0.0 {
                continue;
            }
            // Unsigned orientation in [0, π).
            let angle = gy.atan2(gx).rem_euclid(std::f32::consts::PI);
            let bin = ((angle / std::f32::consts::PI * BINS as f32) as usize).min(BINS - 1);
            let c = (y / cell).min(CELLS as usize - 1) * CELLS as usize
                + (x / cell).min(CELLS as usize - 1);
            histograms[c * BINS + bin] += magnitude;
        }
    }
    l2_normalize(&mut histograms);
    out.extend(histograms.iter().map(|v| v * STRUCTURE_WEIGHT));
    l2_normalize(&mut out);
    out
}

impl Embedder for ClassicalEmbedder {
    fn fingerprint(&self) -> &ModelFingerprint {
        &self.fingerprint
    }

    fn dimension(&self) -> usize {
        (LAYOUT * LAYOUT) as usize + (CELLS * CELLS) as usize * BINS
    }

    fn embed(&self, images: &[GrayImage]) -> Result<Vec<Vec<f32>>, ModelError> {
        Ok(images
            .iter()
            .map(|image| describe(&thumbnail(image)))
            .collect())
    }

    fn embed_dihedral(&self, image: &GrayImage) -> Result<Vec<Vec<f32>>, ModelError> {
        let values = thumbnail(image);
        Ok(Dihedral::ALL
            .iter()
            .map(|d| describe(&d.apply_square(&values, SIDE as usize)))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Luma;

    fn dot(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    /// A blot-like test image: dark bands in lanes on a gradient, from a seed.
    fn blot(seed: u32, width: u32, height: u32) -> GrayImage {
        GrayImage::from_fn(width, height, |x, y| {
            let lane = x * 6 / width;
            let centre = (height / 4) + ((lane * 37 + seed * 11) % (height / 2));
            let dy = (y as i32 - centre as i32).unsigned_abs();
            let band = if dy < height / 12 && (x * 6) % width > width / 10 {
                120 - (lane * seed % 60)
            } else {
                0
            };
            Luma([(210 - y * 20 / height - band).clamp(0, 255) as u8])
        })
    }

    #[test]
    fn vectors_are_unit_length_and_of_the_stated_dimension() {
        let embedder = ClassicalEmbedder::default();
        let v = embedder.embed(&[blot(1, 120, 80)]).unwrap();
        assert_eq!(v[0].len(), embedder.dimension());
        assert!((dot(&v[0], &v[0]) - 1.0).abs() < 1e-4);
    }

    #[test]
    fn rescaled_and_gamma_changed_copies_stay_close_other_blots_do_not() {
        let embedder = ClassicalEmbedder::default();
        let original = blot(3, 240, 120);
        let rescaled =
            image::imageops::resize(&original, 150, 75, image::imageops::FilterType::Triangle);
        let gamma = GrayImage::from_fn(240, 120, |x, y| {
            let v = original.get_pixel(x, y).0[0] as f32 / 255.0;
            Luma([(v.powf(0.6) * 255.0) as u8])
        });
        let other = blot(8, 240, 120);
        let v = embedder.embed(&[original, rescaled, gamma, other]).unwrap();
        assert!(dot(&v[0], &v[1]) > 0.95, "rescale: {}", dot(&v[0], &v[1]));
        assert!(dot(&v[0], &v[2]) > 0.98, "gamma: {}", dot(&v[0], &v[2]));
        println!(
            "rescale {} gamma {} other {}",
            dot(&v[0], &v[1]),
            dot(&v[0], &v[2]),
            dot(&v[0], &v[3])
        );
        assert!(
            dot(&v[0], &v[3]) < dot(&v[0], &v[1]) - 0.05,
            "other: {}",
            dot(&v[0], &v[3])
        );
    }

    #[test]
    fn dihedral_views_find_a_flipped_or_turned_copy() {
        let embedder = ClassicalEmbedder::default();
        let original = blot(5, 200, 100);
        for d in Dihedral::ALL {
            let copy = d.apply(&original);
            let query = embedder.embed(&[copy]).unwrap().remove(0);
            let views = embedder.embed_dihedral(&original).unwrap();
            let k = Dihedral::ALL.iter().position(|x| *x == d).unwrap();
            assert!(
                dot(&views[k], &query) > 0.97,
                "{d:?}: {}",
                dot(&views[k], &query)
            );
        }
    }
}
