//! The learned copy-detection embedder: a narrow ResNetV2 ([`crate::resnetv2`]) over a small
//! gray thumbnail, a linear projection and L2 normalisation, trained self-supervised by
//! `panelscope train` so that edited copies of a panel land next to it and other panels far away.
//!
//! - 📝 Pizzi et al., [A Self-Supervised Descriptor for Image Copy Detection
//!   (SSCD)](https://arxiv.org/abs/2202.10261): InfoNCE over two edited views of every image plus
//!   a KoLeo (differential entropy) regulariser; the training recipe lives in `src/train/`.
//! - 💻 SSCD: [`sscd/train.py`](https://github.com/facebookresearch/sscd-copy-detection/blob/main/sscd/train.py).
//! - ✅ `models/tests/learned.rs` loads the shipped weights and checks that an edited blot stays
//!   nearer its source than another blot.
//!
//! Preprocessing (part of the model: the fingerprint covers it through the weights file's
//! metadata): the panel is resized to `side × side` ignoring its aspect ratio (a plain resize, no
//! letterbox, so every input pixel carries panel content; crops and rescales change the aspect
//! anyway). Two planes are made from it: the levels standardised to zero mean and unit deviation
//! (the deviation floored at [`MIN_DEVIATION`] levels so a near-flat panel's noise is not blown
//! up), which removes brightness and linear contrast, and the levels' ranks, which no gamma or
//! other monotonic level change alters (the classical descriptor's trick). The backbone, whose
//! timm layout expects RGB, reads them as (levels, ranks, levels). Its final feature map is pooled
//! twice, as a whole and over a 2×2 grid (mean pooling alone forgets the panel's layout), then
//! standardised over the channels, projected and L2-normalised.
//!
//! Weights are safetensors (f32 or f16) whose metadata key [`METADATA_KEY`] holds the
//! [`Config`], so a file is self-describing; the fingerprint is
//! `learned-resnetv2-<first 12 hex of the file's blake3>-mirrored` (the index holds each panel as
//! it is and mirrored).
//!
//! On the CPU, inference runs the backbone's convolutions and GroupNorms through
//! [`crate::cpu_inference`], each call on its thread's own one-thread pool: the embed stage
//! already runs a worker per core.
//!
//! ```text
//! panelscope train --out models/weights/panelscope-embed-small.safetensors
//! ```

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Linear, VarBuilder};
use image::GrayImage;
use image::imageops::FilterType;
use rayon::prelude::*;

use crate::ModelError;
use crate::channels_last::ChannelsLastResNetV2;
use crate::embedder::{AS_IS_AND_MIRRORED, Dihedral, Embedder, ModelFingerprint, TURNS};
use crate::resnetv2::{self, ResNetV2};

/// The safetensors metadata key holding the [`Config`] (see [`Config::to_metadata`]).
pub const METADATA_KEY: &str = "panelscope.learned";

/// Version of the metadata format and of the preprocessing it implies.
const FORMAT: &str = "learned-v3";

/// Smallest level deviation (gray levels, 0–255) a panel is divided by: flat panels keep their
/// faint noise faint.
pub const MIN_DEVIATION: f32 = 8.0;

/// Images per forward pass: bounds the activations' memory on any input count.
const EMBED_BATCH: usize = 64;

/// The backbone's dtype on a GPU; the head pools and projects in f32 (`benches/gpu_embed.rs`
/// compares the vectors with the f32 ones).
const GPU_DTYPE: DType = DType::F16;

/// The name [`ModelError::InvalidConfig`] reports.
const MODEL_NAME: &str = "learned";

/// Pooled feature vectors the projection reads: the global mean and a 2×2 grid of means.
const POOLED_PARTS: usize = 5;

/// Shape of a learned embedder: backbone, input side and vector length.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The backbone, headless ([`resnetv2::Config::num_classes`] is `None`).
    pub backbone: resnetv2::Config,
    /// Side (pixels) of the square gray input.
    pub input_side: usize,
    /// Length of the output vector.
    pub dim: usize,
}

impl Config {
    /// The shipped CPU embedder: a 5-block ResNetV2 of widths 32–256 (bottlenecks 8–64) over a
    /// 64 px input, 256-d vectors; 0.47 M parameters (most in the projection).
    pub fn small() -> Self {
        Self {
            backbone: resnetv2::Config {
                layers: [1, 1, 2, 1],
                channels: [32, 64, 128, 256],
                stem_channels: 16,
                width_factor: 1,
                norm_groups: 8,
                std_conv_eps: 1e-5,
                num_classes: None,
            },
            input_side: 64,
            dim: 256,
        }
    }

    /// A tiny one for tests: two-pixel-wide stages, 32 px input, 16-d vectors.
    pub fn tiny() -> Self {
        Self {
            backbone: resnetv2::Config {
                layers: [1, 1, 1, 1],
                channels: [32, 32, 32, 32],
                stem_channels: 16,
                width_factor: 1,
                norm_groups: 8,
                std_conv_eps: 1e-5,
                num_classes: None,
            },
            input_side: 32,
            dim: 16,
        }
    }

    /// The one-line description stored in the weights file's metadata, e.g. `format=learned-v3
    /// arch=resnetv2 side=64 dim=256 stem=16 channels=32,64,128,256 layers=1,1,2,1 width=1
    /// groups=8 eps=0.00001 norm=meanstd8+rank pool=mean+grid2 resize=stretch-triangle`.
    pub fn to_metadata(&self) -> String {
        let b = &self.backbone;
        let list = |values: &[usize]| {
            values
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        format!(
            "format={FORMAT} arch=resnetv2 side={} dim={} stem={} channels={} layers={} width={} groups={} eps={} norm=meanstd{}+rank pool=mean+grid2 resize=stretch-triangle",
            self.input_side,
            self.dim,
            b.stem_channels,
            list(&b.channels),
            list(&b.layers),
            b.width_factor,
            b.norm_groups,
            b.std_conv_eps,
            MIN_DEVIATION
        )
    }

    /// Parses [`Config::to_metadata`]'s output; any other format or preprocessing is an error,
    /// so weights are never run with preprocessing they were not trained with.
    pub fn from_metadata(text: &str) -> Result<Self, ModelError> {
        let invalid = |reason: String| ModelError::InvalidConfig {
            model: MODEL_NAME,
            reason,
        };
        let fields: HashMap<&str, &str> = text
            .split_whitespace()
            .filter_map(|pair| pair.split_once('='))
            .collect();
        let field = |key: &str| {
            fields
                .get(key)
                .copied()
                .ok_or_else(|| invalid(format!("metadata lacks `{key}`: {text}")))
        };
        let expect = |key: &str, wanted: &str| -> Result<(), ModelError> {
            let found = field(key)?;
            if found == wanted {
                Ok(())
            } else {
                Err(invalid(format!(
                    "`{key}` is `{found}`, this build understands `{wanted}`"
                )))
            }
        };
        expect("format", FORMAT)?;
        expect("arch", "resnetv2")?;
        expect("norm", &format!("meanstd{MIN_DEVIATION}+rank"))?;
        expect("pool", "mean+grid2")?;
        expect("resize", "stretch-triangle")?;
        let number = |key: &str| -> Result<usize, ModelError> {
            field(key)?
                .parse()
                .map_err(|_| invalid(format!("`{key}` is not a whole number")))
        };
        let four = |key: &str| -> Result<[usize; 4], ModelError> {
            let values = field(key)?
                .split(',')
                .map(str::parse)
                .collect::<Result<Vec<usize>, _>>()
                .map_err(|_| invalid(format!("`{key}` is not a list of whole numbers")))?;
            values
                .try_into()
                .map_err(|_| invalid(format!("`{key}` needs four values")))
        };
        let eps = field("eps")?
            .parse()
            .map_err(|_| invalid("`eps` is not a number".into()))?;
        let config = Self {
            backbone: resnetv2::Config {
                layers: four("layers")?,
                channels: four("channels")?,
                stem_channels: number("stem")?,
                width_factor: number("width")?,
                norm_groups: number("groups")?,
                std_conv_eps: eps,
                num_classes: None,
            },
            input_side: number("side")?,
            dim: number("dim")?,
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ModelError> {
        let invalid = |reason: String| ModelError::InvalidConfig {
            model: MODEL_NAME,
            reason,
        };
        // The stem and three strided stages shrink the input 32-fold.
        if self.input_side < 32 {
            return Err(invalid(format!(
                "input side {} is below 32",
                self.input_side
            )));
        }
        if self.dim == 0 {
            return Err(invalid("dim must be at least 1".into()));
        }
        if self.backbone.num_classes.is_some() {
            return Err(invalid("the backbone must be headless".into()));
        }
        Ok(())
    }
}

/// The network: backbone (`backbone.*`, timm ResNetV2 names), pooled features, projection
/// (`projection.weight`, `projection.bias`), L2 normalisation.
#[derive(Debug, Clone)]
pub struct LearnedNet {
    backbone: ResNetV2,
    projection: Linear,
}

impl LearnedNet {
    /// Builds the network from `vb`. ResNetV2 standardises its convolution weights here, so a
    /// network being trained must be loaded again after every optimiser step.
    pub fn load(vb: VarBuilder, cfg: &Config) -> Result<Self, ModelError> {
        cfg.validate()?;
        let backbone = ResNetV2::load(vb.pp("backbone"), &cfg.backbone)?;
        // The mean and the four grid cells' means.
        let projection = candle_nn::linear(
            POOLED_PARTS * backbone.feature_dim(),
            cfg.dim,
            vb.pp("projection"),
        )?;
        Ok(Self {
            backbone,
            projection,
        })
    }

    /// Unit vectors `(batch, dim)` of preprocessed images `(batch, PLANES, side, side)` (see
    /// [`batch_tensor`]).
    pub fn forward(&self, pixels: &Tensor) -> Result<Tensor, ModelError> {
        let map = self.backbone.feature_map(&backbone_input(pixels)?)?;
        head(&map, (2, 3), &self.projection)
    }

    /// The same network laid out for channels-last inference in `dtype` (see
    /// [`ChannelsLastResNetV2`]): the GPU path.
    pub fn channels_last(&self, dtype: DType) -> Result<ChannelsLastLearnedNet, ModelError> {
        self.channels_last_with_cudnn(dtype, false)
    }

    /// [`LearnedNet::channels_last`], choosing whether k×k convolutions use cuDNN when the
    /// `cudnn` feature is compiled in (see [`ChannelsLastResNetV2::with_cudnn`]).
    pub fn channels_last_with_cudnn(
        &self,
        dtype: DType,
        use_cudnn: bool,
    ) -> Result<ChannelsLastLearnedNet, ModelError> {
        Ok(ChannelsLastLearnedNet {
            backbone: ChannelsLastResNetV2::with_cudnn(&self.backbone, dtype, use_cudnn)?,
            projection: Linear::new(
                self.projection.weight().to_dtype(DType::F32)?,
                self.projection
                    .bias()
                    .map(|bias| bias.to_dtype(DType::F32))
                    .transpose()?,
            ),
        })
    }
}

/// [`LearnedNet`] in channels-last layout, made by [`LearnedNet::channels_last`].
#[derive(Debug, Clone)]
pub struct ChannelsLastLearnedNet {
    backbone: ChannelsLastResNetV2,
    projection: Linear,
}

impl ChannelsLastLearnedNet {
    /// Unit vectors `(batch, dim)` of preprocessed images `(batch, PLANES, side, side)`. The
    /// head pools and projects in f32 whatever the backbone's dtype: its map is small, and the
    /// standardisation sums over every channel.
    pub fn forward(&self, pixels: &Tensor) -> Result<Tensor, ModelError> {
        let map = self.backbone.feature_map(&backbone_input(pixels)?)?;
        head(&map.to_dtype(DType::F32)?, (1, 2), &self.projection)
    }

    /// The backbone's time per kind of operator (see [`ChannelsLastResNetV2::profile`]).
    pub fn profile(
        &self,
        pixels: &Tensor,
    ) -> Result<Vec<(&'static str, std::time::Duration)>, ModelError> {
        Ok(self.backbone.profile(&backbone_input(pixels)?)?)
    }
}

/// The backbone's three input channels: levels, ranks, levels.
fn backbone_input(pixels: &Tensor) -> Result<Tensor, ModelError> {
    let levels = pixels.narrow(1, 0, 1)?;
    Ok(Tensor::cat(
        &[&levels, &pixels.narrow(1, 1, 1)?, &levels],
        1,
    )?)
}

/// Pools the feature map, whose spatial dimensions are `(rows, columns)`, and projects it to unit
/// vectors.
fn head(
    map: &Tensor,
    (rows, columns): (usize, usize),
    projection: &Linear,
) -> Result<Tensor, ModelError> {
    // Mean pooling forgets where things are; the classical descriptor's strength is its layout
    // grid. Keep both: the mean and a 2×2 grid of means.
    let (height, width) = (map.dim(rows)?, map.dim(columns)?);
    let mut parts = vec![map.mean((rows, columns))?];
    for (y0, y1) in halves(height) {
        for (x0, x1) in halves(width) {
            parts.push(
                map.narrow(rows, y0, y1 - y0)?
                    .narrow(columns, x0, x1 - x0)?
                    .mean((rows, columns))?,
            );
        }
    }
    let features = Tensor::cat(&parts, 1)?;
    // Pooled ReLU features share a large positive mean; standardising them over the channels (a
    // LayerNorm without affine) takes that common direction out, else every panel starts with
    // nearly the same vector and contrastive training collapses.
    let centred = features.broadcast_sub(&features.mean_keepdim(1)?)?;
    let deviation = (centred.sqr()?.mean_keepdim(1)? + 1e-4)?.sqrt()?;
    let projected = projection.forward(&centred.broadcast_div(&deviation)?)?;
    let norm = (projected.sqr()?.sum_keepdim(1)? + 1e-8)?.sqrt()?;
    Ok(projected.broadcast_div(&norm)?)
}

/// The two halves `[0, n/2)` and `[n/2, n)` of an extent, or the whole twice when it is 1.
fn halves(extent: usize) -> [(usize, usize); 2] {
    if extent < 2 {
        [(0, extent), (0, extent)]
    } else {
        [(0, extent / 2), (extent / 2, extent)]
    }
}

/// Planes of the model input: standardised levels, then level ranks.
pub const PLANES: usize = 2;

/// The model input of one panel: two `side × side` planes, row-major, one after the other (see
/// the module documentation): standardised levels, and the levels' ranks scaled to zero mean and
/// unit deviation (ties share their mean rank), which no monotonic change of the levels (gamma,
/// contrast, brightness) alters.
pub fn preprocess(image: &GrayImage, side: usize) -> Vec<f32> {
    let side32 = side as u32;
    let small = if image.width() == 0 || image.height() == 0 {
        GrayImage::new(side32, side32)
    } else if image.width() >= side32 && image.height() >= side32 {
        // Box-averaging downscale: much faster than a filtered resize on page-sized panels.
        image::imageops::thumbnail(image, side32, side32)
    } else {
        image::imageops::resize(image, side32, side32, FilterType::Triangle)
    };
    let count = (side * side) as f32;
    let mean = small.pixels().map(|p| f32::from(p.0[0])).sum::<f32>() / count;
    let variance = small
        .pixels()
        .map(|p| (f32::from(p.0[0]) - mean).powi(2))
        .sum::<f32>()
        / count;
    let deviation = variance.sqrt().max(MIN_DEVIATION);
    let mut histogram = [0u32; 256];
    small
        .pixels()
        .for_each(|p| histogram[usize::from(p.0[0])] += 1);
    // A uniform rank in [0, 1] has deviation 1/sqrt(12).
    let mut rank = [0f32; 256];
    let mut below = 0u32;
    for (level, &n) in histogram.iter().enumerate() {
        let mid = (below as f32 + (n as f32 - 1.0) / 2.0) / (count - 1.0).max(1.0);
        rank[level] = (mid - 0.5) * 12f32.sqrt();
        below += n;
    }
    let mut planes = Vec::with_capacity(PLANES * side * side);
    planes.extend(
        small
            .pixels()
            .map(|p| (f32::from(p.0[0]) - mean) / deviation),
    );
    planes.extend(small.pixels().map(|p| rank[usize::from(p.0[0])]));
    planes
}

/// The batch tensor `(images, PLANES, side, side)` of [`preprocess`]ed images on `device`.
pub fn batch_tensor(
    images: &[GrayImage],
    side: usize,
    device: &Device,
) -> Result<Tensor, ModelError> {
    let mut data = Vec::with_capacity(images.len() * PLANES * side * side);
    for image in images {
        data.extend(preprocess(image, side));
    }
    Ok(Tensor::from_vec(
        data,
        (images.len(), PLANES, side, side),
        device,
    )?)
}

/// Applies `d` to a square `side × side` row-major buffer: the preprocessed panel's dihedral
/// view, the same as preprocessing the transformed panel (the resize ignores the aspect ratio, and
/// the level statistics do not depend on pixel order).
fn transform(values: &[f32], side: usize, d: Dihedral) -> Vec<f32> {
    values
        .chunks(side * side)
        .flat_map(|plane| d.apply_square(plane, side))
        .collect()
}

/// The safetensors bytes of `tensors` (named as [`LearnedNet::load`] reads them) stored as
/// `dtype`, with `config` in the metadata: what [`save`] writes and
/// [`LearnedEmbedder::from_bytes`] reads.
pub fn to_bytes(
    tensors: &HashMap<String, Tensor>,
    config: &Config,
    dtype: DType,
) -> Result<Vec<u8>, ModelError> {
    let converted = tensors
        .iter()
        .map(|(name, tensor)| {
            Ok((
                name.clone(),
                tensor.to_dtype(dtype)?.to_device(&Device::Cpu)?,
            ))
        })
        .collect::<Result<Vec<(String, Tensor)>, ModelError>>()?;
    let metadata = HashMap::from([(METADATA_KEY.to_string(), config.to_metadata())]);
    safetensors::serialize(converted, Some(metadata)).map_err(|error| ModelError::Weights {
        path: "<bytes>".to_string(),
        reason: error.to_string(),
    })
}

/// Writes [`to_bytes`] to `path`.
pub fn save(
    tensors: &HashMap<String, Tensor>,
    config: &Config,
    dtype: DType,
    path: &Path,
) -> Result<(), ModelError> {
    let bytes = to_bytes(tensors, config, dtype)?;
    std::fs::write(path, bytes).map_err(|error| ModelError::Weights {
        path: path.display().to_string(),
        reason: error.to_string(),
    })
}

/// The learned embedder, ready to embed.
pub struct LearnedEmbedder {
    net: LearnedNet,
    /// On a GPU: the same network channels-last in f16 (see [`crate::channels_last`]).
    gpu_net: Option<ChannelsLastLearnedNet>,
    /// Whether panels are preprocessed on every core (on a GPU) or on the calling thread.
    parallel_preprocessing: bool,
    config: Config,
    device: Device,
    fingerprint: ModelFingerprint,
}

impl LearnedEmbedder {
    /// Loads a weights file written by `panelscope train` onto `device`.
    pub fn load(path: &Path, device: &Device) -> Result<Self, ModelError> {
        let bytes = std::fs::read(path).map_err(|error| ModelError::Weights {
            path: path.display().to_string(),
            reason: error.to_string(),
        })?;
        Self::from_bytes(bytes, device).map_err(|error| match error {
            ModelError::Weights { reason, .. } => ModelError::Weights {
                path: path.display().to_string(),
                reason,
            },
            other => other,
        })
    }

    /// Loads weights from the bytes of a safetensors file.
    pub fn from_bytes(bytes: Vec<u8>, device: &Device) -> Result<Self, ModelError> {
        let not_weights = |reason: String| ModelError::Weights {
            path: "<bytes>".to_string(),
            reason,
        };
        let (_, metadata) = safetensors::SafeTensors::read_metadata(&bytes)
            .map_err(|error| not_weights(format!("not a safetensors file: {error}")))?;
        let description = metadata
            .metadata()
            .as_ref()
            .and_then(|m| m.get(METADATA_KEY))
            .ok_or_else(|| {
                not_weights(format!(
                    "no `{METADATA_KEY}` metadata: not written by `panelscope train`"
                ))
            })?
            .clone();
        let config = Config::from_metadata(&description)?;
        let hash = blake3::hash(&bytes).to_hex();
        // The index holds two vectors of each panel (see `indexed_views`): the suffix keeps an
        // index of one vector per panel, made before, from being read as one of these.
        let fingerprint = ModelFingerprint(format!("learned-resnetv2-{}-mirrored", &hash[..12]));
        let vb = VarBuilder::from_buffered_safetensors(bytes, DType::F32, device)?;
        let net = LearnedNet::load(vb, &config)?;
        let gpu_net = (!device.is_cpu())
            .then(|| net.channels_last(GPU_DTYPE))
            .transpose()?;
        Ok(Self {
            net,
            parallel_preprocessing: gpu_net.is_some(),
            gpu_net,
            config,
            device: device.clone(),
            fingerprint,
        })
    }

    /// The unit vectors of a preprocessed batch, as a tensor on the model's device. On a GPU the
    /// pass is only queued: nothing waits for it until the vectors are read. On the CPU it runs
    /// on the calling thread's own one-thread pool: the pipeline already runs one embed worker
    /// per core, and candle's operators, left on the shared pool, spend the cores spinning for
    /// each other's work.
    fn forward(&self, pixels: &Tensor) -> Result<Tensor, ModelError> {
        let run = || -> Result<Tensor, ModelError> {
            match &self.gpu_net {
                Some(net) => net.forward(pixels),
                None => self.net.forward(pixels),
            }
        };
        if !self.device.is_cpu() {
            return run();
        }
        thread_local! {
            static POOL: Option<rayon::ThreadPool> =
                rayon::ThreadPoolBuilder::new().num_threads(1).build().ok();
        }
        POOL.with(|pool| match pool {
            Some(pool) => pool.install(run),
            None => run(),
        })
    }

    /// The vectors of every view of every panel of `chunks`, one forward pass per chunk, in
    /// order. Each chunk is preprocessed before the previous chunk's vectors are waited for: on a
    /// GPU the preprocessing of one batch overlaps the pass of the one before.
    fn pipelined<'a>(
        &self,
        chunks: impl Iterator<Item = &'a [GrayImage]>,
        views: &[Dihedral],
    ) -> Result<Vec<Vec<f32>>, ModelError> {
        let mut vectors = Vec::new();
        let mut queued: Option<Tensor> = None;
        for chunk in chunks {
            let pixels = self.inputs(chunk, views)?;
            if let Some(pass) = queued.take() {
                vectors.extend(pass.to_vec2::<f32>()?);
            }
            queued = Some(self.forward(&pixels)?);
        }
        if let Some(pass) = queued {
            vectors.extend(pass.to_vec2::<f32>()?);
        }
        Ok(vectors)
    }

    /// The model's shape.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The batch of `images`, each preprocessed once and turned every way of `views`, on the
    /// model's device. On a GPU the forward pass outruns one thread's preprocessing many times
    /// over (benches/gpu.md: 5135 panels/s for the stage's call against 210215 for the pass), so
    /// the panels are preprocessed on every core; on the CPU the pipeline already runs one embed
    /// worker per core, and they stay on the calling thread.
    fn inputs(&self, images: &[GrayImage], views: &[Dihedral]) -> Result<Tensor, ModelError> {
        let side = self.config.input_side;
        let one = |image: &GrayImage| -> Vec<f32> {
            let values = preprocess(image, side);
            views
                .iter()
                .flat_map(|&d| transform(&values, side, d))
                .collect()
        };
        let per_image: Vec<Vec<f32>> = if self.parallel_preprocessing {
            images.par_iter().map(one).collect()
        } else {
            images.iter().map(one).collect()
        };
        Ok(Tensor::from_vec(
            per_image.concat(),
            (images.len() * views.len(), PLANES, side, side),
            &self.device,
        )?)
    }
}

impl Embedder for LearnedEmbedder {
    fn fingerprint(&self) -> &ModelFingerprint {
        &self.fingerprint
    }

    fn dimension(&self) -> usize {
        self.config.dim
    }

    fn prefers_batches(&self) -> bool {
        !self.device.is_cpu()
    }

    fn embed(&self, images: &[GrayImage]) -> Result<Vec<Vec<f32>>, ModelError> {
        self.pipelined(images.chunks(EMBED_BATCH), &[Dihedral::Identity])
    }

    /// A forward pass per view: the index holds the panel and its mirror image, and queries
    /// turn it four ways (five passes per panel, not eight).
    fn indexed_views(&self) -> &'static [Dihedral] {
        &AS_IS_AND_MIRRORED
    }

    fn query_views(&self) -> &'static [Dihedral] {
        &TURNS
    }

    /// Resizes each panel once and turns the small input every way of `views`, several panels
    /// per forward pass (`EMBED_BATCH` views at a time): a batch of a few views left the
    /// convolutions' matrix products too small to be efficient.
    fn embed_views_many(
        &self,
        images: &[GrayImage],
        views: &[Dihedral],
    ) -> Result<Vec<Vec<Vec<f32>>>, ModelError> {
        let per_image = views.len().max(1);
        let chunks = images.chunks((EMBED_BATCH / per_image).max(1));
        let mut vectors = self.pipelined(chunks, views)?.into_iter();
        Ok(images
            .iter()
            .map(|_| vectors.by_ref().take(views.len()).collect())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panels_preprocessed_on_every_core_give_the_same_vectors() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("weights/panelscope-embed-small.safetensors");
        let mut embedder = LearnedEmbedder::load(&path, &Device::Cpu).unwrap();
        let images: Vec<GrayImage> = (0..11u32)
            .map(|k| {
                GrayImage::from_fn(70 + 9 * k, 50 + 4 * k, |x, y| {
                    image::Luma([((x * (k + 2) + y * 7) % 253) as u8])
                })
            })
            .collect();
        let serial = (
            embedder.embed(&images).unwrap(),
            embedder.embed_views_many(&images, &Dihedral::ALL).unwrap(),
        );
        embedder.parallel_preprocessing = true;
        let parallel = (
            embedder.embed(&images).unwrap(),
            embedder.embed_views_many(&images, &Dihedral::ALL).unwrap(),
        );
        assert_eq!(serial, parallel);
    }

    #[test]
    fn batches_queued_behind_each_other_give_each_panel_its_own_vectors() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("weights/panelscope-embed-small.safetensors");
        let embedder = LearnedEmbedder::load(&path, &Device::Cpu).unwrap();
        // Three batches of EMBED_BATCH, the last one short; eight views of 19 panels fill three
        // batches of eight panels.
        let images: Vec<GrayImage> = (0..(2 * EMBED_BATCH as u32 + 5))
            .map(|k| {
                GrayImage::from_fn(40 + k % 13, 30 + k % 7, |x, y| {
                    image::Luma([((x * (k % 5 + 2) + y * (k % 3 + 5) + k) % 251) as u8])
                })
            })
            .collect();
        let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5);
        let all = embedder.embed(&images).unwrap();
        assert_eq!(all.len(), images.len());
        for (image, vector) in images.iter().zip(&all) {
            let alone = embedder.embed(std::slice::from_ref(image)).unwrap();
            assert!(close(&alone[0], vector));
        }
        let many = embedder
            .embed_views_many(&images[..19], &Dihedral::ALL)
            .unwrap();
        assert_eq!(many.len(), 19);
        for (image, views) in images.iter().zip(&many) {
            let alone = embedder.embed_dihedral(image).unwrap();
            assert_eq!(alone.len(), views.len());
            assert!(alone.iter().zip(views).all(|(a, b)| close(a, b)));
        }
    }

    #[test]
    fn the_shipped_model_gives_the_same_vectors_channels_last() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("weights/panelscope-embed-small.safetensors");
        let embedder = LearnedEmbedder::load(&path, &Device::Cpu).unwrap();
        let images: Vec<GrayImage> = (0..3u32)
            .map(|k| {
                GrayImage::from_fn(80 + 10 * k, 60, |x, y| {
                    image::Luma([((x * (k + 3) + y * y) % 251) as u8])
                })
            })
            .collect();
        let pixels = batch_tensor(&images, embedder.config.input_side, &Device::Cpu).unwrap();
        let expected = embedder.net.forward(&pixels).unwrap();
        let found = embedder
            .net
            .channels_last(DType::F32)
            .unwrap()
            .forward(&pixels)
            .unwrap();
        let worst = crate::max_abs_difference(&expected, &found);
        assert!(worst < 1e-5, "vectors differ by {worst}");
    }

    #[test]
    fn metadata_round_trips_and_foreign_preprocessing_is_refused() {
        for config in [Config::small(), Config::tiny()] {
            assert_eq!(
                Config::from_metadata(&config.to_metadata()).unwrap(),
                config
            );
        }
        let other = Config::small()
            .to_metadata()
            .replace("resize=stretch-triangle", "resize=letterbox");
        let error = Config::from_metadata(&other).unwrap_err().to_string();
        assert!(error.contains("`resize` is `letterbox`"), "{error}");
    }

    #[test]
    fn dihedral_views_of_the_input_match_preprocessed_transformed_panels() {
        // Non-square and larger than the input, so the resize is exercised too.
        let image = GrayImage::from_fn(90, 70, |x, y| image::Luma([(x + (y * y) / 40) as u8]));
        let values = preprocess(&image, 32);
        for d in Dihedral::ALL {
            let expected = preprocess(&d.apply(&image), 32);
            let found = transform(&values, 32, d);
            let worst = found
                .iter()
                .zip(&expected)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            // The box filter rounds rows and columns in its own order: a level at most.
            assert!(worst < 0.15, "{d:?}: {worst}");
        }
    }

    #[test]
    fn preprocessing_removes_brightness_and_contrast() {
        let image = GrayImage::from_fn(90, 50, |x, y| image::Luma([(x + y) as u8]));
        let brighter =
            GrayImage::from_fn(90, 50, |x, y| image::Luma([(20 + (x + y) * 3 / 2) as u8]));
        let a = preprocess(&image, 32);
        let b = preprocess(&brighter, 32);
        assert_eq!(a.len(), PLANES * 32 * 32);
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(worst < 0.05, "{worst}");
        let flat = preprocess(&GrayImage::from_pixel(10, 10, image::Luma([7])), 32);
        assert!(flat.iter().all(|v| *v == 0.0));
        // Ranks ignore a gamma change that standardisation alone would not.
        let gamma = GrayImage::from_fn(90, 50, |x, y| {
            let v = (x + y) as f32 / 255.0;
            image::Luma([(v.powf(0.5) * 255.0) as u8])
        });
        let c = preprocess(&gamma, 32);
        let plane = 32 * 32;
        let rank_gap = a[plane..]
            .iter()
            .zip(&c[plane..])
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(rank_gap < 0.1, "{rank_gap}");
    }
}
