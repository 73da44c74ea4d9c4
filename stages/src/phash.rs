//! The perceptual hash of a panel (pHash: DCT of a 32×32 gray thumbnail, low frequencies against
//! their median) — the baseline every other matcher is scored against.

use image::DynamicImage;
use image_hasher::{HashAlg, Hasher, HasherConfig};

use crate::units::Raster;

/// A 64-bit perceptual hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PHash(pub u64);

impl PHash {
    /// Bits that differ.
    pub fn distance(self, other: PHash) -> u32 {
        (self.0 ^ other.0).count_ones()
    }

    /// 1 − distance / 64.
    pub fn similarity(self, other: PHash) -> f32 {
        1.0 - self.distance(other) as f32 / 64.0
    }

    /// 16 hex digits, as stored.
    pub fn to_hex(self) -> String {
        format!("{:016x}", self.0)
    }

    /// Parses [`PHash::to_hex`].
    pub fn from_hex(hex: &str) -> Option<PHash> {
        u64::from_str_radix(hex, 16).ok().map(PHash)
    }
}

/// Computes pHashes (build once, reuse: the DCT tables are precomputed).
pub struct PHasher {
    hasher: Hasher,
}

impl Default for PHasher {
    fn default() -> Self {
        Self {
            hasher: HasherConfig::new()
                .hash_size(8, 8)
                .preproc_dct()
                .hash_alg(HashAlg::Median)
                .to_hasher(),
        }
    }
}

impl PHasher {
    /// The hash of a panel's pixels.
    pub fn hash(&self, raster: &Raster) -> PHash {
        let gray = DynamicImage::ImageLuma8(raster.to_gray());
        let hash = self.hasher.hash_image(&gray);
        let mut bits = [0u8; 8];
        let bytes = hash.as_bytes();
        bits[..bytes.len().min(8)].copy_from_slice(&bytes[..bytes.len().min(8)]);
        PHash(u64::from_be_bytes(bits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, Luma};

    fn pattern(seed: u32, width: u32, height: u32) -> Raster {
        Raster::from_gray(GrayImage::from_fn(width, height, |x, y| {
            let v = ((x / 7 + seed) * 37 + (y / 5) * 91 + (x * y / 40)) % 255;
            Luma([v as u8])
        }))
    }

    #[test]
    fn rescaled_copies_hash_close_and_others_far() {
        let hasher = PHasher::default();
        let original = pattern(1, 200, 120);
        let image = DynamicImage::ImageLuma8(original.to_gray());
        let half = Raster::from_gray(
            image
                .resize_exact(100, 60, image::imageops::FilterType::Triangle)
                .to_luma8(),
        );
        let other = pattern(9, 200, 120);
        let (a, b, c) = (
            hasher.hash(&original),
            hasher.hash(&half),
            hasher.hash(&other),
        );
        assert!(a.distance(b) <= 6, "rescale moved {} bits", a.distance(b));
        assert!(
            a.distance(c) >= 16,
            "different patterns only {} bits apart",
            a.distance(c)
        );
        assert_eq!(PHash::from_hex(&a.to_hex()), Some(a));
    }
}
