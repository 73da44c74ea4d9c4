//! The `Embedder` contract: a panel image in, an L2-normalised vector out, tagged with the
//! fingerprint of the model that made it, so vectors of different models never mix in an index.

use std::fmt;

use image::GrayImage;

use crate::ModelError;

/// Identifies a model exactly: hash of its weights (or algorithm and parameters), preprocessing
/// and input size. Stored with every vector.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModelFingerprint(pub String);

impl fmt::Display for ModelFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ModelFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ModelFingerprint({})", self.0)
    }
}

/// The eight symmetries of a square: the orientations a copied panel can be turned into by flips
/// and quarter turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dihedral {
    /// As is.
    Identity,
    /// Quarter turn clockwise.
    Rotate90,
    /// Half turn.
    Rotate180,
    /// Quarter turn counter-clockwise.
    Rotate270,
    /// Mirrored left–right.
    FlipHorizontal,
    /// Mirrored top–bottom.
    FlipVertical,
    /// Mirrored across the main diagonal.
    Transpose,
    /// Mirrored across the other diagonal.
    AntiTranspose,
}

impl Dihedral {
    /// A square `side × side` buffer of values transformed as [`Dihedral::apply`] transforms an
    /// image.
    pub fn apply_square(self, values: &[f32], side: usize) -> Vec<f32> {
        let n = side;
        let mut out = vec![0f32; n * n];
        for y in 0..n {
            for x in 0..n {
                // Where the output pixel (x, y) comes from.
                let (sx, sy) = match self {
                    Dihedral::Identity => (x, y),
                    Dihedral::Rotate90 => (y, n - 1 - x),
                    Dihedral::Rotate180 => (n - 1 - x, n - 1 - y),
                    Dihedral::Rotate270 => (n - 1 - y, x),
                    Dihedral::FlipHorizontal => (n - 1 - x, y),
                    Dihedral::FlipVertical => (x, n - 1 - y),
                    Dihedral::Transpose => (y, x),
                    Dihedral::AntiTranspose => (n - 1 - y, n - 1 - x),
                };
                out[y * n + x] = values[sy * n + sx];
            }
        }
        out
    }

    /// All eight, identity first.
    pub const ALL: [Dihedral; 8] = [
        Dihedral::Identity,
        Dihedral::Rotate90,
        Dihedral::Rotate180,
        Dihedral::Rotate270,
        Dihedral::FlipHorizontal,
        Dihedral::FlipVertical,
        Dihedral::Transpose,
        Dihedral::AntiTranspose,
    ];

    /// The snake_case name used in outputs.
    pub fn name(self) -> &'static str {
        match self {
            Dihedral::Identity => "identity",
            Dihedral::Rotate90 => "rotate90",
            Dihedral::Rotate180 => "rotate180",
            Dihedral::Rotate270 => "rotate270",
            Dihedral::FlipHorizontal => "flip_horizontal",
            Dihedral::FlipVertical => "flip_vertical",
            Dihedral::Transpose => "transpose",
            Dihedral::AntiTranspose => "anti_transpose",
        }
    }

    /// Whether it swaps width and height.
    pub fn swaps_axes(self) -> bool {
        matches!(
            self,
            Dihedral::Rotate90
                | Dihedral::Rotate270
                | Dihedral::Transpose
                | Dihedral::AntiTranspose
        )
    }

    /// Applies it to an image.
    pub fn apply(self, image: &GrayImage) -> GrayImage {
        use image::imageops::{flip_horizontal, flip_vertical, rotate90, rotate180, rotate270};
        match self {
            Dihedral::Identity => image.clone(),
            Dihedral::Rotate90 => rotate90(image),
            Dihedral::Rotate180 => rotate180(image),
            Dihedral::Rotate270 => rotate270(image),
            Dihedral::FlipHorizontal => flip_horizontal(image),
            Dihedral::FlipVertical => flip_vertical(image),
            Dihedral::Transpose => flip_horizontal(&rotate90(image)),
            Dihedral::AntiTranspose => flip_vertical(&rotate90(image)),
        }
    }

    /// The transform that undoes this one.
    pub fn inverse(self) -> Dihedral {
        match self {
            Dihedral::Rotate90 => Dihedral::Rotate270,
            Dihedral::Rotate270 => Dihedral::Rotate90,
            other => other,
        }
    }
}

/// Turns panels into vectors for similarity search.
pub trait Embedder: Send + Sync {
    /// The model's identity.
    fn fingerprint(&self) -> &ModelFingerprint;

    /// Vector length.
    fn dimension(&self) -> usize;

    /// Whether it runs best on large batches (an accelerator model) rather than spread over cores.
    fn prefers_batches(&self) -> bool {
        false
    }

    /// One L2-normalised vector per image, in order.
    fn embed(&self, images: &[GrayImage]) -> Result<Vec<Vec<f32>>, ModelError>;

    /// Vectors of the image under each of the eight [`Dihedral`] transforms (in
    /// [`Dihedral::ALL`] order), for queries that must find flipped or turned copies. The default
    /// transforms the image and embeds each; embedders that can do better override it.
    fn embed_dihedral(&self, image: &GrayImage) -> Result<Vec<Vec<f32>>, ModelError> {
        let views: Vec<GrayImage> = Dihedral::ALL.iter().map(|d| d.apply(image)).collect();
        self.embed(&views)
    }

    /// [`Embedder::embed_dihedral`] of each image, in order. The default embeds them one by one;
    /// network embedders run many images' views through one forward pass.
    fn embed_dihedral_many(&self, images: &[GrayImage]) -> Result<Vec<Vec<Vec<f32>>>, ModelError> {
        images
            .iter()
            .map(|image| self.embed_dihedral(image))
            .collect()
    }
}

/// Scales `vector` to unit length (a zero vector stays zero).
pub fn l2_normalize(vector: &mut [f32]) {
    let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|v| *v /= norm);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_transform_is_undone_by_its_inverse() {
        let image = GrayImage::from_fn(5, 3, |x, y| image::Luma([(x * 10 + y) as u8]));
        for d in Dihedral::ALL {
            let back = d.inverse().apply(&d.apply(&image));
            assert_eq!(back, image, "{d:?}");
            assert_eq!(d.apply(&image).width() == 3, d.swaps_axes(), "{d:?}");
        }
    }
}
