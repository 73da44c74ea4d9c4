//! panelscope's candle models and the device they run on. Knows nothing about PDFs or the engine.
//!
//! | module | owns |
//! |---|---|
//! | [`device`] | choosing CPU or CUDA, with errors that say how to get a GPU build |
//! | [`embedder`] | the `Embedder` contract, model fingerprints, the dihedral transforms |
//! | [`classical`] | the default embedder: a rank-normalised layout and gradient descriptor |
//! | [`backbone`] | what an image backbone returns: pooled features and optional logits |
//! | [`channels_last`] | ResNetV2 inference in channels-last layout with fused kernels, for the GPU |
//! | [`resnetv2`] | ResNetV2 as BiT uses it (`resnetv2_50x1_bit`), timm tensor names |
//! | [`convnext`] | ConvNeXt (`convnext_tiny`, `convnext_atto`, ...), timm tensor names |
//! | [`learned`] | the learned copy-detection embedder (a narrow ResNetV2), trained by `panelscope train` |
//! | [`resample`] | triangle-filter resizing with per-call taps, for the stages' many small resamples |

#![deny(missing_docs)]

pub mod backbone;
pub mod channels_last;
pub mod classical;
pub mod convnext;
pub mod cpu_inference;
pub mod device;
pub mod embedder;
pub mod learned;
pub mod resample;
pub mod resnetv2;

pub use backbone::BackboneOutput;
pub use classical::ClassicalEmbedder;
pub use convnext::ConvNeXt;
pub use device::{DevicePreference, describe_device, select_device};
pub use embedder::{Dihedral, Embedder, ModelFingerprint};
pub use learned::LearnedEmbedder;
pub use resnetv2::ResNetV2;

/// The largest absolute difference between two tensors of one shape.
#[cfg(test)]
pub(crate) fn max_abs_difference(a: &candle_core::Tensor, b: &candle_core::Tensor) -> f32 {
    (a - b)
        .and_then(|d| d.abs())
        .and_then(|d| d.max_all())
        .and_then(|d| d.to_scalar::<f32>())
        .expect("tensors of one shape, f32")
}

/// Why a model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A CUDA device was asked for, but this binary was built without the `cuda` feature.
    #[error(
        "a CUDA device was requested, but this panelscope was built without GPU support; rebuild with `cargo build --release --features cuda`"
    )]
    CudaNotCompiled,
    /// A model configuration that cannot be built, found before any weight is read.
    #[error("invalid {model} config: {reason}")]
    InvalidConfig {
        /// The architecture, e.g. `resnetv2`.
        model: &'static str,
        /// What is wrong, naming the offending field.
        reason: String,
    },
    /// A weights file that cannot be read or was not written for this model.
    #[error("cannot use weights {path}: {reason}")]
    Weights {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// candle failed (device initialisation, a kernel, a shape mismatch).
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}
