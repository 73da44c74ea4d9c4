//! ConvNeXt (v1), with timm's tensor names so `convnext_tiny`, `convnext_atto` and their kin load
//! unchanged.
//!
//! - 📝 Liu et al., [A ConvNet for the 2020s](https://arxiv.org/abs/2201.03545).
//! - 💻 timm: [`timm/models/convnext.py`](https://github.com/huggingface/pytorch-image-models/blob/main/timm/models/convnext.py).
//! - ✅ `models/tests/parity.rs` checks features and logits against timm for both MLP layouts and
//!   the tensor names of [`Config::tiny`] and [`Config::atto`] against timm's.
//!
//! Written here rather than reusing `candle_transformers::models::convnext`, which has the same
//! tensor names but private config fields (no custom widths, so neither small test models nor a
//! narrower embedder), pooled features without timm's `head.norm`, and optional tensors (`gamma`)
//! detected by swallowing load errors, so a checkpoint missing them would load silently wrong.
//!
//! Inputs are `(batch, 3, height, width)` images normalised as the checkpoint expects (ImageNet
//! mean and standard deviation for timm's ConvNeXt weights).

use candle_core::{Module, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, LayerNorm, Linear, VarBuilder};

use crate::{BackboneOutput, ModelError};

/// The name [`ModelError::InvalidConfig`] reports.
const MODEL_NAME: &str = "convnext";

/// timm's `LayerNorm` and `LayerNorm2d` epsilon.
const LAYER_NORM_EPS: f64 = 1e-6;

/// The MLP widens each block to four times its width (timm `mlp_ratio=4`).
const MLP_RATIO: usize = 4;

/// Width of the stem's non-overlapping patches, also its stride (timm `patch_size=4`).
const PATCH_SIZE: usize = 4;

/// Kernel of the depthwise convolution in every block.
const DEPTHWISE_KERNEL: usize = 7;

/// Shape of a ConvNeXt; field names follow timm's `ConvNeXt.__init__` arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Blocks per stage.
    pub depths: [usize; 4],
    /// Width of each stage.
    pub dims: [usize; 4],
    /// Whether the block MLPs are stored as 1×1 convolutions, `(out, in, 1, 1)`, as timm's small
    /// models (atto to nano) have them, rather than linear layers, `(out, in)`. The arithmetic is
    /// the same; only the checkpoint's shapes differ.
    pub conv_mlp: bool,
    /// Whether blocks scale their output by a learned per-channel `gamma` (timm's layer scale,
    /// on in every timm preset).
    pub layer_scale: bool,
    /// Classes of the `head.fc` classifier, or `None` for a headless backbone that loads no
    /// `head.fc` tensors (`head.norm` is part of the pooled features and always loads).
    pub num_classes: Option<usize>,
}

impl Config {
    /// timm `convnext_atto`: 3.4 M parameters without head, 320 features.
    pub fn atto() -> Self {
        Self {
            depths: [2, 2, 6, 2],
            dims: [40, 80, 160, 320],
            conv_mlp: true,
            layer_scale: true,
            num_classes: None,
        }
    }

    /// timm `convnext_femto`: 384 features.
    pub fn femto() -> Self {
        Self {
            dims: [48, 96, 192, 384],
            ..Self::atto()
        }
    }

    /// timm `convnext_pico`: 512 features.
    pub fn pico() -> Self {
        Self {
            dims: [64, 128, 256, 512],
            ..Self::atto()
        }
    }

    /// timm `convnext_nano`: 640 features.
    pub fn nano() -> Self {
        Self {
            depths: [2, 2, 8, 2],
            dims: [80, 160, 320, 640],
            ..Self::atto()
        }
    }

    /// timm `convnext_tiny`: 768 features. Without a head; set [`Config::num_classes`] to the
    /// checkpoint's (1000 for ImageNet-1k) to load the classifier too.
    pub fn tiny() -> Self {
        Self {
            depths: [3, 3, 9, 3],
            dims: [96, 192, 384, 768],
            conv_mlp: false,
            layer_scale: true,
            num_classes: None,
        }
    }

    /// Length of the pooled feature vector.
    pub fn feature_dim(&self) -> usize {
        self.dims[3]
    }

    fn validate(&self) -> Result<(), ModelError> {
        let invalid = |reason: String| ModelError::InvalidConfig {
            model: MODEL_NAME,
            reason,
        };
        if let Some(stage) = self.dims.iter().position(|&dim| dim == 0) {
            return Err(invalid(format!("stage {stage} has width 0")));
        }
        Ok(())
    }
}

/// timm `LayerNorm2d`: a LayerNorm over the channels of an NCHW tensor.
#[derive(Debug, Clone)]
struct LayerNorm2d(LayerNorm);

impl LayerNorm2d {
    fn load(channels: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        candle_nn::layer_norm(channels, LAYER_NORM_EPS, vb).map(Self)
    }
}

impl Module for LayerNorm2d {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        xs.permute((0, 2, 3, 1))?
            .contiguous()?
            .apply(&self.0)?
            .permute((0, 3, 1, 2))
    }
}

/// A fully connected layer stored either as `Linear` or as a 1×1 `Conv2d` ([`Config::conv_mlp`]),
/// run as a linear layer over the channels of an NHWC tensor either way.
fn pointwise(
    in_dim: usize,
    out_dim: usize,
    conv_mlp: bool,
    vb: VarBuilder,
) -> candle_core::Result<Linear> {
    let weight = if conv_mlp {
        vb.get((out_dim, in_dim, 1, 1), "weight")?
            .reshape((out_dim, in_dim))?
    } else {
        vb.get((out_dim, in_dim), "weight")?
    };
    Ok(Linear::new(weight, Some(vb.get(out_dim, "bias")?)))
}

/// timm `ConvNeXtBlock`: 7×7 depthwise convolution, LayerNorm, a 4× GELU MLP, layer scale, and
/// the residual.
#[derive(Debug, Clone)]
struct Block {
    conv_dw: Conv2d,
    norm: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    gamma: Option<Tensor>,
    span: tracing::Span,
}

impl Block {
    fn load(dim: usize, cfg: &Config, vb: VarBuilder) -> candle_core::Result<Self> {
        let conv_dw = candle_nn::conv2d(
            dim,
            dim,
            DEPTHWISE_KERNEL,
            Conv2dConfig {
                padding: DEPTHWISE_KERNEL / 2,
                groups: dim,
                ..Default::default()
            },
            vb.pp("conv_dw"),
        )?;
        let hidden = MLP_RATIO * dim;
        Ok(Self {
            conv_dw,
            norm: candle_nn::layer_norm(dim, LAYER_NORM_EPS, vb.pp("norm"))?,
            fc1: pointwise(dim, hidden, cfg.conv_mlp, vb.pp("mlp.fc1"))?,
            fc2: pointwise(hidden, dim, cfg.conv_mlp, vb.pp("mlp.fc2"))?,
            gamma: cfg.layer_scale.then(|| vb.get(dim, "gamma")).transpose()?,
            span: tracing::trace_span!("convnext_block", prefix = vb.prefix()),
        })
    }
}

impl Module for Block {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let _entered = self.span.enter();
        // Norm, MLP and layer scale all act per pixel on the channels: run them channels-last,
        // one matmul over every pixel of the batch.
        let ys = self
            .conv_dw
            .forward(xs)?
            .permute((0, 2, 3, 1))?
            .contiguous()?;
        let ys = self.norm.forward(&ys)?;
        let ys = self.fc1.forward(&ys)?.gelu_erf()?;
        let ys = self.fc2.forward(&ys)?;
        let ys = match &self.gamma {
            Some(gamma) => ys.broadcast_mul(gamma)?,
            None => ys,
        };
        ys.permute((0, 3, 1, 2))? + xs
    }
}

/// A stage's entry when it changes width or resolution: LayerNorm2d then a 2×2 stride-2
/// convolution (`stages.{s}.downsample.{0,1}`).
#[derive(Debug, Clone)]
struct Downsample {
    norm: LayerNorm2d,
    conv: Conv2d,
}

impl Module for Downsample {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        self.conv.forward(&self.norm.forward(xs)?)
    }
}

/// A loaded ConvNeXt.
#[derive(Debug, Clone)]
pub struct ConvNeXt {
    stem_conv: Conv2d,
    stem_norm: LayerNorm2d,
    downsamples: [Option<Downsample>; 4],
    stages: [Vec<Block>; 4],
    head_norm: LayerNorm,
    head_fc: Option<Linear>,
    feature_dim: usize,
}

impl ConvNeXt {
    /// Builds the model from timm-named tensors (`stem.0.weight`, `stages.{s}.downsample.1.weight`,
    /// `stages.{s}.blocks.{b}.mlp.fc1.weight`, `head.norm.weight`, `head.fc.weight`, ...).
    /// Tensors missing or misshapen fail the load; tensors the config does not use (`head.fc`
    /// when [`Config::num_classes`] is `None`) are left unread.
    pub fn load(vb: VarBuilder, cfg: &Config) -> Result<Self, ModelError> {
        cfg.validate()?;
        let stem_conv = candle_nn::conv2d(
            3,
            cfg.dims[0],
            PATCH_SIZE,
            Conv2dConfig {
                stride: PATCH_SIZE,
                ..Default::default()
            },
            vb.pp("stem.0"),
        )?;
        let stem_norm = LayerNorm2d::load(cfg.dims[0], vb.pp("stem.1"))?;

        let mut downsamples: [Option<Downsample>; 4] = Default::default();
        let mut stages: [Vec<Block>; 4] = Default::default();
        for stage in 0..4 {
            let stage_vb = vb.pp(format!("stages.{stage}"));
            let dim = cfg.dims[stage];
            // Stage 0 keeps the stem's width and resolution, so timm gives it no downsample.
            if stage > 0 {
                let in_dim = cfg.dims[stage - 1];
                let down_vb = stage_vb.pp("downsample");
                downsamples[stage] = Some(Downsample {
                    norm: LayerNorm2d::load(in_dim, down_vb.pp(0))?,
                    conv: candle_nn::conv2d(
                        in_dim,
                        dim,
                        2,
                        Conv2dConfig {
                            stride: 2,
                            ..Default::default()
                        },
                        down_vb.pp(1),
                    )?,
                });
            }
            let blocks_vb = stage_vb.pp("blocks");
            stages[stage] = (0..cfg.depths[stage])
                .map(|block| Block::load(dim, cfg, blocks_vb.pp(block)))
                .collect::<candle_core::Result<_>>()?;
        }

        let feature_dim = cfg.feature_dim();
        let head_vb = vb.pp("head");
        let head_norm = candle_nn::layer_norm(feature_dim, LAYER_NORM_EPS, head_vb.pp("norm"))?;
        let head_fc = cfg
            .num_classes
            .map(|classes| candle_nn::linear(feature_dim, classes, head_vb.pp("fc")))
            .transpose()?;

        Ok(Self {
            stem_conv,
            stem_norm,
            downsamples,
            stages,
            head_norm,
            head_fc,
            feature_dim,
        })
    }

    /// Pooled features and, when loaded with a head, logits.
    pub fn forward(&self, images: &Tensor) -> Result<BackboneOutput, ModelError> {
        let features = self.features(images)?;
        let logits = self
            .head_fc
            .as_ref()
            .map(|fc| fc.forward(&features))
            .transpose()?;
        Ok(BackboneOutput { features, logits })
    }

    /// Pooled features `(batch, feature_dim)` only, skipping any classifier: global average
    /// pool, then `head.norm`, as timm's `forward_head(pre_logits=True)`.
    pub fn features(&self, images: &Tensor) -> Result<Tensor, ModelError> {
        let mut xs = self.stem_norm.forward(&self.stem_conv.forward(images)?)?;
        for (downsample, blocks) in self.downsamples.iter().zip(&self.stages) {
            if let Some(downsample) = downsample {
                xs = downsample.forward(&xs)?;
            }
            for block in blocks {
                xs = block.forward(&xs)?;
            }
        }
        Ok(self.head_norm.forward(&xs.mean((2, 3))?)?)
    }

    /// Length of the pooled feature vector.
    pub fn feature_dim(&self) -> usize {
        self.feature_dim
    }
}
