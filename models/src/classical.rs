//! A classical copy-detection descriptor: no weights, no GPU. The panel becomes a 48×48 gray
//! thumbnail whose intensities are replaced by their ranks, levels a few apart ranking alike (so
//! a monotonic change of contrast, brightness or gamma leaves it nearly unchanged, and a flat
//! background's grain does not spread over the range), then two parts are concatenated: the
//! rank image smoothed to 16×16 (layout) and 4×4 cells of 8-bin gradient-orientation histograms
//! (structure).
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
            "classical-v1 side={SIDE} layout={LAYOUT} cells={CELLS} bins={BINS} w={STRUCTURE_WEIGHT} \
             tolerance={RANK_TOLERANCE_SHARE}/{RANK_TOLERANCE_MIN_LEVELS}"
        );
        let hash = blake3::hash(spec.as_bytes()).to_hex();
        Self {
            fingerprint: ModelFingerprint(format!("classical-v1-{}", &hash[..12])),
        }
    }
}

/// Levels within which two pixels rank as one, as a share of the thumbnail's range (1st to 99th
/// percentile), and at least [`RANK_TOLERANCE_MIN_LEVELS`].
const RANK_TOLERANCE_SHARE: f32 = 0.04;
const RANK_TOLERANCE_MIN_LEVELS: f32 = 1.5;

/// Each level's rank in [0, 1]: the share of pixels below it, where a pixel within the tolerance
/// of the level counts in part (its share falling linearly across the tolerance either way).
/// Plain ranks spread a flat background's few levels of noise or JPEG blocking across most of
/// the range when the background is most of the picture (a micrograph's black, a blot's paper),
/// so two copies differing only in that noise describe differently; within the tolerance such
/// levels rank alike. Still monotonic, so contrast, brightness and gamma leave it nearly unchanged.
fn soft_ranks(histogram: &[u32; 256]) -> [f32; 256] {
    let total: u32 = histogram.iter().sum();
    let mut rank = [0f32; 256];
    if total == 0 {
        return rank;
    }
    let percentile = |share: f32| {
        let wanted = ((share * total as f32).ceil() as u32).max(1);
        let mut seen = 0;
        histogram
            .iter()
            .position(|&n| {
                seen += n;
                seen >= wanted
            })
            .unwrap_or(255) as f32
    };
    let range = percentile(0.99) - percentile(0.01);
    let tolerance = (range * RANK_TOLERANCE_SHARE).max(RANK_TOLERANCE_MIN_LEVELS);
    let reach = tolerance.ceil() as usize;
    for (level, slot) in rank.iter_mut().enumerate() {
        let below: u32 = histogram[..level.saturating_sub(reach)].iter().sum();
        let mut counted = below as f32;
        for (other, &count) in histogram
            .iter()
            .enumerate()
            .take((level + reach + 1).min(256))
            .skip(level.saturating_sub(reach))
        {
            let offset = (level as f32 - other as f32) / tolerance;
            counted += count as f32 * ((offset + 1.0) / 2.0).clamp(0.0, 1.0);
        }
        *slot = counted / total as f32;
    }
    rank
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
    let mut histogram = [0u32; 256];
    small.pixels().for_each(|p| histogram[p.0[0] as usize] += 1);
    let rank = soft_ranks(&histogram);
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

    /// Shrinks each panel once and turns the small square, not the panel.
    fn embed_views_many(
        &self,
        images: &[GrayImage],
        views: &[Dihedral],
    ) -> Result<Vec<Vec<Vec<f32>>>, ModelError> {
        Ok(images
            .iter()
            .map(|image| {
                let values = thumbnail(image);
                views
                    .iter()
                    .map(|d| describe(&d.apply_square(&values, SIDE as usize)))
                    .collect()
            })
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

    /// A fluorescence-like picture: bright nuclei on a black floor, with `noise` levels of
    /// grain either way on the floor.
    fn nuclei(noise: u32) -> GrayImage {
        let centres = [
            (40, 30),
            (120, 50),
            (200, 40),
            (70, 110),
            (160, 130),
            (230, 150),
        ];
        GrayImage::from_fn(260, 180, |x, y| {
            let nucleus = centres.iter().any(|&(cx, cy)| {
                let (dx, dy) = (x as i32 - cx, y as i32 - cy);
                dx * dx * 4 + dy * dy * 9 < 500
            });
            let grain = if noise == 0 {
                0
            } else {
                let mut h = (u64::from(y) << 32 | u64::from(x)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                h ^= h >> 31;
                (h.wrapping_mul(0xBF58_476D_1CE4_E5B9) >> 40) as u32 % (2 * noise + 1)
            };
            Luma([if nucleus { 170 } else { 8 + grain as u8 }])
        })
    }

    #[test]
    fn a_copy_whose_black_floor_lost_its_grain_stays_close() {
        // One copy re-encoded smooth, the other with the camera's grain: plain ranks spread
        // that grain over most of the range, since the floor is most of the picture (cosine
        // 0.69 with them, under the index's `min_similarity` of 0.86; 0.91 with soft ranks).
        let embedder = ClassicalEmbedder::default();
        let v = embedder.embed(&[nuclei(4), nuclei(0)]).unwrap();
        assert!(dot(&v[0], &v[1]) > 0.88, "{}", dot(&v[0], &v[1]));
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
