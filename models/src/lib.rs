//! panelscope's candle models and the device they run on. Knows nothing about PDFs or the engine.
//!
//! | module | owns |
//! |---|---|
//! | [`device`] | choosing CPU or CUDA, with errors that say how to get a GPU build |
//! | [`embedder`] | the `Embedder` contract, model fingerprints, the dihedral transforms |
//! | [`classical`] | the default embedder: a rank-normalised layout and gradient descriptor |

#![deny(missing_docs)]

pub mod classical;
pub mod device;
pub mod embedder;

pub use classical::ClassicalEmbedder;
pub use device::{DevicePreference, select_device};
pub use embedder::{Dihedral, Embedder, ModelFingerprint};

/// Why a model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A CUDA device was asked for, but this binary was built without the `cuda` feature.
    #[error(
        "a CUDA device was requested, but this panelscope was built without GPU support; rebuild with `cargo build --release --features cuda`"
    )]
    CudaNotCompiled,
    /// candle failed (device initialisation, a kernel, a shape mismatch).
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}
