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

    /// The one transform that does this one and then `next`.
    pub fn then(self, next: Dihedral) -> Dihedral {
        // Where a 3×3 square of distinct values lands identifies the transform.
        let square: Vec<f32> = (0..9).map(|v| v as f32).collect();
        let both = next.apply_square(&self.apply_square(&square, 3), 3);
        Dihedral::ALL
            .into_iter()
            .find(|d| d.apply_square(&square, 3) == both)
            .expect("the eight symmetries of a square are closed under composition")
    }
}

/// The four turns: with a panel and its mirror image in the index, queries in these views find
/// copies in all eight orientations (a mirrored copy turned any way is the mirror image turned).
pub const TURNS: [Dihedral; 4] = [
    Dihedral::Identity,
    Dihedral::Rotate90,
    Dihedral::Rotate180,
    Dihedral::Rotate270,
];

/// A panel as it is and mirrored left–right: see [`TURNS`].
pub const AS_IS_AND_MIRRORED: [Dihedral; 2] = [Dihedral::Identity, Dihedral::FlipHorizontal];

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

    /// The orientations of each panel the index holds a vector of (the panel as it is first).
    /// With [`Embedder::query_views`] they must reach every orientation: for each of the eight
    /// transforms `d` there is a query view `q` and an indexed view `i` with `d = q` then `i`
    /// undone. The default indexes the panel as it is and queries all eight views; a network,
    /// for which each view is a forward pass, indexes [`AS_IS_AND_MIRRORED`] and queries
    /// [`TURNS`]: five passes per panel instead of eight.
    fn indexed_views(&self) -> &'static [Dihedral] {
        &[Dihedral::Identity]
    }

    /// The orientations each new panel is searched in: see [`Embedder::indexed_views`].
    fn query_views(&self) -> &'static [Dihedral] {
        &Dihedral::ALL
    }

    /// Vectors of each image under each of `views`, in order. The default transforms the images
    /// and embeds each; embedders that can do better override it.
    fn embed_views_many(
        &self,
        images: &[GrayImage],
        views: &[Dihedral],
    ) -> Result<Vec<Vec<Vec<f32>>>, ModelError> {
        images
            .iter()
            .map(|image| {
                let turned: Vec<GrayImage> = views.iter().map(|d| d.apply(image)).collect();
                self.embed(&turned)
            })
            .collect()
    }

    /// Vectors of the image under each of the eight [`Dihedral`] transforms (in
    /// [`Dihedral::ALL`] order).
    fn embed_dihedral(&self, image: &GrayImage) -> Result<Vec<Vec<f32>>, ModelError> {
        Ok(self
            .embed_views_many(std::slice::from_ref(image), &Dihedral::ALL)?
            .pop()
            .unwrap_or_default())
    }
}

/// Whether queries in `query` views against an index of `indexed` views reach a copy in every
/// orientation (see [`Embedder::indexed_views`]).
pub fn views_reach_every_orientation(indexed: &[Dihedral], query: &[Dihedral]) -> bool {
    Dihedral::ALL.iter().all(|&d| {
        query
            .iter()
            .any(|&q| indexed.iter().any(|&i| q.then(i.inverse()) == d))
    })
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

    #[test]
    fn composition_applies_one_transform_then_the_other() {
        let image = GrayImage::from_fn(5, 3, |x, y| image::Luma([(x * 10 + y) as u8]));
        for first in Dihedral::ALL {
            for next in Dihedral::ALL {
                assert_eq!(
                    first.then(next).apply(&image),
                    next.apply(&first.apply(&image)),
                    "{first:?} then {next:?}"
                );
            }
            assert_eq!(first.then(first.inverse()), Dihedral::Identity);
        }
    }

    #[test]
    fn turns_against_a_panel_and_its_mirror_reach_every_orientation() {
        assert!(views_reach_every_orientation(&AS_IS_AND_MIRRORED, &TURNS));
        assert!(views_reach_every_orientation(
            &[Dihedral::Identity],
            &Dihedral::ALL
        ));
        assert!(!views_reach_every_orientation(
            &[Dihedral::Identity],
            &TURNS
        ));
        assert!(!views_reach_every_orientation(
            &[Dihedral::Identity, Dihedral::Rotate180],
            &TURNS
        ));
    }
}
