//! ResNetV2 as BiT uses it: pre-activation bottlenecks over weight-standardised convolutions and
//! GroupNorm, with timm's tensor names so `resnetv2_50x1_bit` checkpoints load unchanged.
//!
//! - 📝 Kolesnikov et al., [Big Transfer (BiT): General Visual Representation
//!   Learning](https://arxiv.org/abs/1912.11370), on top of He et al., [Identity Mappings in Deep
//!   Residual Networks](https://arxiv.org/abs/1603.05027) (the pre-activation block).
//! - 💻 timm: [`timm/models/resnetv2.py`](https://github.com/huggingface/pytorch-image-models/blob/main/timm/models/resnetv2.py),
//!   [`timm/layers/std_conv.py`](https://github.com/huggingface/pytorch-image-models/blob/main/timm/layers/std_conv.py).
//! - ✅ `models/tests/parity.rs` checks features and logits against timm and the tensor names of
//!   [`Config::r50x1`] against timm's `resnetv2_50x1_bit`.
//!
//! Inputs are `(batch, 3, height, width)` images normalised as the checkpoint expects (BiT:
//! mean = std = 0.5 per channel, see the checkpoint's timm `pretrained_cfg`).

use candle_core::{DType, Module, Tensor};
use candle_nn::{Conv2dConfig, Linear, VarBuilder};

use crate::cpu_inference::{InferenceConv2d, InferenceGroupNormRelu};
use crate::{BackboneOutput, ModelError};

/// The name [`ModelError::InvalidConfig`] reports.
const MODEL_NAME: &str = "resnetv2";

/// timm builds every GroupNorm with PyTorch's default epsilon.
const GROUP_NORM_EPS: f64 = 1e-5;

/// A bottleneck block narrows to a quarter of its output width (timm `bottle_ratio=0.25`).
const BOTTLENECK_RATIO: f64 = 0.25;

/// Shape of a ResNetV2; field names follow timm's `ResNetV2.__init__` arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Bottleneck blocks per stage.
    pub layers: [usize; 4],
    /// Output width of each stage before [`Config::width_factor`]; BiT: 256, 512, 1024, 2048.
    pub channels: [usize; 4],
    /// Width of the stem convolution before [`Config::width_factor`]; BiT: 64.
    pub stem_channels: usize,
    /// Multiplies every width: the `x1` of R50x1.
    pub width_factor: usize,
    /// Groups of every GroupNorm; BiT: 32. Must divide every width it normalises.
    pub norm_groups: usize,
    /// Epsilon of the weight standardisation; BiT checkpoints were trained with 1e-8 (timm's
    /// `StdConv2d` default of 1e-6 is for the non-BiT models).
    pub std_conv_eps: f64,
    /// Classes of the `head.fc` classifier, or `None` for a headless backbone that loads no head
    /// tensors.
    pub num_classes: Option<usize>,
}

impl Config {
    /// BiT R50x1, timm `resnetv2_50x1_bit`: 2048 features. Without a head; set
    /// [`Config::num_classes`] to the checkpoint's (21843 for `goog_in21k`, 1000 for the ImageNet
    /// fine-tunes) to load the classifier too.
    pub fn r50x1() -> Self {
        Self {
            layers: [3, 4, 6, 3],
            channels: [256, 512, 1024, 2048],
            stem_channels: 64,
            width_factor: 1,
            norm_groups: 32,
            std_conv_eps: 1e-8,
            num_classes: None,
        }
    }

    /// A BiT-style R26x1 (two blocks per stage, same widths as R50x1), half the blocks of
    /// [`Config::r50x1`], for a CPU embedder. timm publishes no BiT weights of this depth: it is
    /// for a model trained or distilled here.
    pub fn r26x1() -> Self {
        Self {
            layers: [2, 2, 2, 2],
            ..Self::r50x1()
        }
    }

    /// Length of the pooled feature vector.
    pub fn feature_dim(&self) -> usize {
        make_divisible((self.channels[3] * self.width_factor) as f64)
    }

    fn stem_width(&self) -> usize {
        make_divisible((self.stem_channels * self.width_factor) as f64)
    }

    fn stage_width(&self, stage: usize) -> usize {
        make_divisible((self.channels[stage] * self.width_factor) as f64)
    }

    /// Rejects shapes timm would build but candle's GroupNorm cannot run, before any tensor is
    /// read, so the error names the config rather than a layer.
    fn validate(&self) -> Result<(), ModelError> {
        let invalid = |reason: String| ModelError::InvalidConfig {
            model: MODEL_NAME,
            reason,
        };
        if self.norm_groups == 0 {
            return Err(invalid("norm_groups must be at least 1".into()));
        }
        if let Some(stage) = self.layers.iter().position(|&depth| depth == 0) {
            return Err(invalid(format!("stage {stage} has no blocks")));
        }
        let mut widths = vec![("stem", self.stem_width())];
        for stage in 0..4 {
            let width = self.stage_width(stage);
            widths.push(("stage output", width));
            widths.push(("bottleneck", bottleneck_width(width)));
        }
        match widths
            .iter()
            .find(|(_, width)| width % self.norm_groups != 0)
        {
            Some((role, width)) => Err(invalid(format!(
                "{role} width {width} is not a multiple of norm_groups {}",
                self.norm_groups
            ))),
            None => Ok(()),
        }
    }
}

/// timm's `make_div(v, 8)`: rounds a width to the nearest multiple of 8, never more than 10%
/// below the request.
fn make_divisible(width: f64) -> usize {
    const DIVISOR: usize = 8;
    let rounded = DIVISOR.max((width + (DIVISOR / 2) as f64) as usize / DIVISOR * DIVISOR);
    if (rounded as f64) < 0.9 * width {
        rounded + DIVISOR
    } else {
        rounded
    }
}

fn bottleneck_width(out_channels: usize) -> usize {
    make_divisible(out_channels as f64 * BOTTLENECK_RATIO)
}

/// timm `StdConv2d` with its default padding: the weights are standardised per output channel
/// (biased variance, as `F.batch_norm(training=True)` computes it) once here, because they do
/// not change at inference and timm's per-forward standardisation would be wasted work.
fn std_conv2d(
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    stride: usize,
    eps: f64,
    vb: VarBuilder,
) -> candle_core::Result<InferenceConv2d> {
    let weight = vb.get((out_channels, in_channels, kernel, kernel), "weight")?;
    let flat = weight.to_dtype(DType::F32)?.flatten_from(1)?;
    let centred = flat.broadcast_sub(&flat.mean_keepdim(1)?)?;
    let std = (centred.sqr()?.mean_keepdim(1)? + eps)?.sqrt()?;
    let standardised = centred
        .broadcast_div(&std)?
        .reshape(weight.shape())?
        .to_dtype(weight.dtype())?;
    let config = Conv2dConfig {
        // timm `get_padding(kernel, stride)`.
        padding: ((stride - 1) + (kernel - 1)) / 2,
        stride,
        ..Default::default()
    };
    Ok(InferenceConv2d::new(standardised, config))
}

/// timm `GroupNormAct`: GroupNorm then ReLU, the pre-activation in front of every convolution.
fn group_norm_relu(
    channels: usize,
    cfg: &Config,
    vb: VarBuilder,
) -> candle_core::Result<InferenceGroupNormRelu> {
    InferenceGroupNormRelu::load(cfg.norm_groups, channels, GROUP_NORM_EPS, vb)
}

/// timm `PreActBottleneck`: norm-act before each of 1×1, 3×3 (strided) and 1×1 convolutions. The
/// first block of a stage projects its shortcut from the pre-activated input
/// (`downsample.conv`, a bare strided 1×1 std-conv).
#[derive(Debug, Clone)]
pub(crate) struct PreActBottleneck {
    pub(crate) downsample: Option<InferenceConv2d>,
    pub(crate) norm1: InferenceGroupNormRelu,
    pub(crate) conv1: InferenceConv2d,
    pub(crate) norm2: InferenceGroupNormRelu,
    pub(crate) conv2: InferenceConv2d,
    pub(crate) norm3: InferenceGroupNormRelu,
    pub(crate) conv3: InferenceConv2d,
    span: tracing::Span,
}

impl PreActBottleneck {
    fn load(
        in_channels: usize,
        out_channels: usize,
        stride: usize,
        projects_shortcut: bool,
        cfg: &Config,
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        let mid = bottleneck_width(out_channels);
        let eps = cfg.std_conv_eps;
        let downsample = projects_shortcut
            .then(|| {
                std_conv2d(
                    in_channels,
                    out_channels,
                    1,
                    stride,
                    eps,
                    vb.pp("downsample.conv"),
                )
            })
            .transpose()?;
        Ok(Self {
            downsample,
            norm1: group_norm_relu(in_channels, cfg, vb.pp("norm1"))?,
            conv1: std_conv2d(in_channels, mid, 1, 1, eps, vb.pp("conv1"))?,
            norm2: group_norm_relu(mid, cfg, vb.pp("norm2"))?,
            conv2: std_conv2d(mid, mid, 3, stride, eps, vb.pp("conv2"))?,
            norm3: group_norm_relu(mid, cfg, vb.pp("norm3"))?,
            conv3: std_conv2d(mid, out_channels, 1, 1, eps, vb.pp("conv3"))?,
            span: tracing::trace_span!("resnetv2_block", prefix = vb.prefix()),
        })
    }
}

impl Module for PreActBottleneck {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let _entered = self.span.enter();
        let preact = self.norm1.forward(xs)?;
        let shortcut = match &self.downsample {
            Some(projection) => projection.forward(&preact)?,
            None => xs.clone(),
        };
        let ys = self.conv1.forward(&preact)?;
        let ys = self.conv2.forward(&self.norm2.forward(&ys)?)?;
        let ys = self.conv3.forward(&self.norm3.forward(&ys)?)?;
        ys + shortcut
    }
}

/// A 3×3 max pool of stride 2 without padding, as the maximum over three strided row views and
/// then three strided column views: the same values as `max_pool2d_with_stride(3, 2)`, but built
/// from ops candle can differentiate (its pooling backward needs kernel = stride), so the learned
/// embedder can train this backbone.
fn max_pool_3x3_stride_2(xs: &Tensor) -> candle_core::Result<Tensor> {
    max_pool_3x3_stride_2_over(xs, 2, 3)
}

/// [`max_pool_3x3_stride_2`] over the spatial dimensions `rows` and `columns` of any layout.
pub(crate) fn max_pool_3x3_stride_2_over(
    xs: &Tensor,
    rows: usize,
    columns: usize,
) -> candle_core::Result<Tensor> {
    /// Maximum over taps `offset, offset + 2, ...` (`out` of them) for `offset` in 0..3 along
    /// `dim`, through a view with an even extent reshaped into (out, 2) whose phase 0 is taken.
    fn pool(xs: &Tensor, dim: usize) -> candle_core::Result<Tensor> {
        let size = xs.dim(dim)?;
        let out = (size - 3) / 2 + 1;
        // Taps reach index 2 + 2 (out - 1) = 2 out <= size - 1; the even view of offset 2 needs
        // one more element, a zero that phase 0 never takes.
        let xs = xs.pad_with_zeros(dim, 0, 1)?;
        let mut dims = xs.dims().to_vec();
        let mut best: Option<Tensor> = None;
        for offset in 0..3 {
            dims[dim] = out;
            let mut split = dims.clone();
            split.insert(dim + 1, 2);
            let taps = xs
                .narrow(dim, offset, 2 * out)?
                .reshape(split)?
                .narrow(dim + 1, 0, 1)?
                .squeeze(dim + 1)?;
            best = Some(match best {
                Some(best) => best.maximum(&taps)?,
                None => taps,
            });
        }
        best.expect("three offsets").contiguous()
    }
    pool(&pool(xs, rows)?, columns)
}

/// A loaded ResNetV2.
#[derive(Debug, Clone)]
pub struct ResNetV2 {
    stem: InferenceConv2d,
    blocks: Vec<PreActBottleneck>,
    norm: InferenceGroupNormRelu,
    head: Option<Linear>,
    feature_dim: usize,
}

impl ResNetV2 {
    /// Builds the model from timm-named tensors (`stem.conv.weight`,
    /// `stages.{s}.blocks.{b}.conv1.weight`, `norm.weight`, `head.fc.weight`, ...). Tensors
    /// missing or misshapen fail the load; tensors the config does not use (a head when
    /// [`Config::num_classes`] is `None`) are left unread.
    pub fn load(vb: VarBuilder, cfg: &Config) -> Result<Self, ModelError> {
        cfg.validate()?;
        let stem_width = cfg.stem_width();
        let stem = std_conv2d(3, stem_width, 7, 2, cfg.std_conv_eps, vb.pp("stem.conv"))?;

        let mut blocks = Vec::with_capacity(cfg.layers.iter().sum());
        let mut in_channels = stem_width;
        for (stage, &depth) in cfg.layers.iter().enumerate() {
            let out_channels = cfg.stage_width(stage);
            let stage_vb = vb.pp(format!("stages.{stage}.blocks"));
            for block in 0..depth {
                let first = block == 0;
                let stride = if first && stage > 0 { 2 } else { 1 };
                blocks.push(PreActBottleneck::load(
                    in_channels,
                    out_channels,
                    stride,
                    first,
                    cfg,
                    stage_vb.pp(block),
                )?);
                in_channels = out_channels;
            }
        }

        let feature_dim = cfg.feature_dim();
        let norm = group_norm_relu(feature_dim, cfg, vb.pp("norm"))?;
        // timm's head is a 1×1 convolution (`ClassifierHead(use_conv=True)`); on pooled
        // features it is a linear layer over the same weights.
        let head = cfg
            .num_classes
            .map(|classes| -> candle_core::Result<Linear> {
                let fc = vb.pp("head.fc");
                let weight = fc.get((classes, feature_dim, 1, 1), "weight")?;
                let bias = fc.get(classes, "bias")?;
                Ok(Linear::new(
                    weight.reshape((classes, feature_dim))?,
                    Some(bias),
                ))
            })
            .transpose()?;

        Ok(Self {
            stem,
            blocks,
            norm,
            head,
            feature_dim,
        })
    }

    /// Pooled features and, when loaded with a head, logits.
    pub fn forward(&self, images: &Tensor) -> Result<BackboneOutput, ModelError> {
        let features = self.features(images)?;
        let logits = self
            .head
            .as_ref()
            .map(|head| head.forward(&features))
            .transpose()?;
        Ok(BackboneOutput { features, logits })
    }

    /// Pooled features `(batch, feature_dim)` only, skipping any head.
    pub fn features(&self, images: &Tensor) -> Result<Tensor, ModelError> {
        Ok(self.feature_map(images)?.mean((2, 3))?)
    }

    /// The final normalised and rectified feature map `(batch, feature_dim, height / 32,
    /// width / 32)` before pooling (timm's `forward_features` then `norm`), for heads that pool
    /// their own way.
    pub fn feature_map(&self, images: &Tensor) -> Result<Tensor, ModelError> {
        let xs = self.stem.forward(images)?;
        // BiT's "fixed" stem: pad with zeros, then pool without padding. The stem output is not
        // yet normalised or rectified, so zero padding can win the max where -inf would not.
        let xs = xs.pad_with_zeros(2, 1, 1)?.pad_with_zeros(3, 1, 1)?;
        let xs = max_pool_3x3_stride_2(&xs)?;
        let xs = self
            .blocks
            .iter()
            .try_fold(xs, |xs, block| block.forward(&xs))?;
        Ok(self.norm.forward(&xs)?)
    }

    /// Length of the pooled feature vector.
    pub fn feature_dim(&self) -> usize {
        self.feature_dim
    }

    pub(crate) fn stem(&self) -> &InferenceConv2d {
        &self.stem
    }

    pub(crate) fn blocks(&self) -> impl Iterator<Item = &PreActBottleneck> {
        self.blocks.iter()
    }

    pub(crate) fn final_norm(&self) -> &InferenceGroupNormRelu {
        &self.norm
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differentiable_pool_matches_candle_max_pool() {
        let device = candle_core::Device::Cpu;
        for (h, w) in [(10, 10), (11, 9), (3, 4)] {
            let xs = Tensor::randn(0f32, 1.0, (2, 3, h, w), &device).unwrap();
            let expected = xs.max_pool2d_with_stride(3, 2).unwrap();
            let found = max_pool_3x3_stride_2(&xs).unwrap();
            assert_eq!(found.dims(), expected.dims());
            let difference = crate::max_abs_difference(&found, &expected);
            assert_eq!(difference, 0.0);
        }
    }

    #[test]
    fn widths_round_like_timm_make_div() {
        assert_eq!(make_divisible(64.0), 64);
        assert_eq!(make_divisible(3.0), 8);
        assert_eq!(make_divisible(100.0), 104);
        assert_eq!(make_divisible(25.5), 24);
        assert_eq!(bottleneck_width(2048), 512);
        assert_eq!(Config::r50x1().feature_dim(), 2048);
    }

    #[test]
    fn a_width_group_norm_cannot_split_is_rejected() {
        let cfg = Config {
            channels: [256, 512, 1024, 2000],
            ..Config::r50x1()
        };
        let err = cfg.validate().unwrap_err();
        assert!(
            err.to_string()
                .contains("2000 is not a multiple of norm_groups 32"),
            "{err}"
        );
        assert!(Config::r50x1().validate().is_ok());
        assert!(Config::r26x1().validate().is_ok());
    }
}
