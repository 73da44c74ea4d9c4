//! ResNetV2's inference kernels on the CPU, on the calling thread: convolutions (patches
//! gathered a whole output row at a time, one single-threaded matrix product per image) and
//! GroupNorm with its ReLU (two passes over each group).
//!
//! candle's CPU `conv2d` gathers its patches one value at a time through a tiled scatter that
//! cost the learned embedder four times its matrix products, its GroupNorm is ten whole-tensor
//! operators, and it hands operators to the shared thread pool, where the pipeline's embed
//! workers (one per core already) spun waiting for each other. Tensors that track gradients
//! (training) keep candle's differentiable layers; everything else on the CPU in f32 runs here.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, DType, Layout, Module, Shape, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, GroupNorm, VarBuilder};

/// Whether `tensors` can take the CPU path: f32 on the CPU, tracking no gradient.
fn runs_here(tensors: &[&Tensor]) -> bool {
    tensors
        .iter()
        .all(|t| t.device().is_cpu() && t.dtype() == DType::F32 && !t.track_op())
}

/// The contiguous f32 values of an operand, or an error naming the operator.
fn values<'a>(
    operator: &str,
    storage: &'a CpuStorage,
    layout: &Layout,
) -> candle_core::Result<&'a [f32]> {
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("{operator}: operands must be contiguous");
    };
    Ok(&storage.as_slice::<f32>()?[start..end])
}

/// GroupNorm then ReLU (timm `GroupNormAct`), as candle computes it (biased variance, epsilon
/// inside the root) when gradients are tracked or the tensors are not f32 on the CPU.
#[derive(Debug, Clone)]
pub struct InferenceGroupNormRelu {
    norm: GroupNorm,
    weight: Tensor,
    bias: Tensor,
    groups: usize,
    eps: f64,
}

impl InferenceGroupNormRelu {
    /// Loads `weight` and `bias` of `channels` from `vb` (initialised to 1 and 0 when training
    /// from scratch, as `candle_nn::group_norm` does).
    pub fn load(
        groups: usize,
        channels: usize,
        eps: f64,
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        let weight = vb.get_with_hints(channels, "weight", candle_nn::Init::Const(1.))?;
        let bias = vb.get_with_hints(channels, "bias", candle_nn::Init::Const(0.))?;
        Ok(Self {
            norm: GroupNorm::new(weight.clone(), bias.clone(), channels, groups, eps)?,
            weight,
            bias,
            groups,
            eps,
        })
    }
}

impl InferenceGroupNormRelu {
    /// Weight, bias, groups and epsilon, for other layouts of the same layer.
    pub(crate) fn parameters(&self) -> (&Tensor, &Tensor, usize, f64) {
        (&self.weight, &self.bias, self.groups, self.eps)
    }
}

impl Module for InferenceGroupNormRelu {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        if xs.rank() < 3 || !runs_here(&[xs, &self.weight, &self.bias]) {
            return self.norm.forward(xs)?.relu();
        }
        let op = GroupNormRelu {
            groups: self.groups,
            eps: self.eps,
        };
        xs.contiguous()?
            .apply_op3_no_bwd(&self.weight.contiguous()?, &self.bias.contiguous()?, &op)
    }
}

/// The fused operator: input `(b, c, …)`, weight and bias `(c)`.
struct GroupNormRelu {
    groups: usize,
    eps: f64,
}

impl CustomOp3 for GroupNormRelu {
    fn name(&self) -> &'static str {
        "group-norm-relu"
    }

    fn cpu_fwd(
        &self,
        input: &CpuStorage,
        input_layout: &Layout,
        weight: &CpuStorage,
        weight_layout: &Layout,
        bias: &CpuStorage,
        bias_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let input_values = values(self.name(), input, input_layout)?;
        let weight = values(self.name(), weight, weight_layout)?;
        let bias = values(self.name(), bias, bias_layout)?;
        let dims = input_layout.shape().dims();
        let channels = dims[1];
        if weight.len() != channels || bias.len() != channels || channels % self.groups != 0 {
            candle_core::bail!(
                "{}: {channels} channels in {} groups, {} weights, {} biases",
                self.name(),
                self.groups,
                weight.len(),
                bias.len()
            );
        }
        let spatial: usize = dims[2..].iter().product();
        let per_group = channels / self.groups;
        let group_len = per_group * spatial;
        let mut output = vec![0f32; input_values.len()];
        for (group_index, (group, out)) in input_values
            .chunks_exact(group_len)
            .zip(output.chunks_exact_mut(group_len))
            .enumerate()
        {
            // Sums in f64: a group holds up to hundreds of thousands of values.
            let (sum, sum_sq) = group.iter().fold((0f64, 0f64), |(s, q), &v| {
                let v = f64::from(v);
                (s + v, q + v * v)
            });
            let mean = sum / group_len as f64;
            let variance = (sum_sq / group_len as f64 - mean * mean).max(0.0);
            let inverse = 1.0 / (variance + self.eps).sqrt();
            let first_channel = (group_index % self.groups) * per_group;
            for (k, (values, out)) in group
                .chunks_exact(spatial)
                .zip(out.chunks_exact_mut(spatial))
                .enumerate()
            {
                let channel = first_channel + k;
                let scale = (inverse * f64::from(weight[channel])) as f32;
                let shift =
                    (f64::from(bias[channel]) - mean * inverse * f64::from(weight[channel])) as f32;
                for (o, &v) in out.iter_mut().zip(values) {
                    *o = (v * scale + shift).max(0.0);
                }
            }
        }
        Ok((CpuStorage::F32(output), input_layout.shape().clone()))
    }
}

/// A convolution without bias (every ResNetV2 convolution) that runs inference on the CPU here
/// and anything else through candle.
#[derive(Debug, Clone)]
pub struct InferenceConv2d {
    conv: Conv2d,
}

impl InferenceConv2d {
    /// A convolution of `weight` `(out, in, kh, kw)`; `config.groups` and `config.dilation` must
    /// be 1 for the CPU path (other shapes go to candle).
    pub fn new(weight: Tensor, config: Conv2dConfig) -> Self {
        Self {
            conv: Conv2d::new(weight, None, config),
        }
    }

    /// The weight `(out, in, kh, kw)` and the configuration, for other layouts of the same
    /// layer.
    pub(crate) fn parameters(&self) -> (&Tensor, &Conv2dConfig) {
        (self.conv.weight(), self.conv.config())
    }

    fn runs_here(&self, xs: &Tensor) -> bool {
        let config = self.conv.config();
        xs.rank() == 4
            && config.groups == 1
            && config.dilation == 1
            && runs_here(&[xs, self.conv.weight()])
    }
}

impl Module for InferenceConv2d {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        if !self.runs_here(xs) {
            return self.conv.forward(xs);
        }
        let config = self.conv.config();
        let op = RowIm2ColConv {
            padding: config.padding,
            stride: config.stride,
        };
        xs.contiguous()?
            .apply_op2_no_bwd(&self.conv.weight().contiguous()?, &op)
    }
}

/// The convolution itself: input `(b, c, h, w)`, kernel `(o, c, kh, kw)`, both contiguous f32.
struct RowIm2ColConv {
    padding: usize,
    stride: usize,
}

impl RowIm2ColConv {
    fn extent(&self, input: usize, kernel: usize) -> usize {
        (input + 2 * self.padding).saturating_sub(kernel) / self.stride + 1
    }
}

impl CustomOp2 for RowIm2ColConv {
    fn name(&self) -> &'static str {
        "row-im2col-conv2d"
    }

    fn cpu_fwd(
        &self,
        input: &CpuStorage,
        input_layout: &Layout,
        kernel: &CpuStorage,
        kernel_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let input = values(self.name(), input, input_layout)?;
        let kernel = values(self.name(), kernel, kernel_layout)?;
        let (batch, channels, height, width) = input_layout.shape().dims4()?;
        let (outputs, kernel_channels, kernel_h, kernel_w) = kernel_layout.shape().dims4()?;
        if kernel_channels != channels {
            candle_core::bail!(
                "{}: {channels} input channels, a kernel for {kernel_channels}",
                self.name()
            );
        }
        let (out_h, out_w) = (self.extent(height, kernel_h), self.extent(width, kernel_w));
        let plane = out_h * out_w;
        let depth = channels * kernel_h * kernel_w;
        let mut output = vec![0f32; batch * outputs * plane];
        // A 1×1 kernel of stride 1 reads the image as it lies: no patches to gather.
        let gathers = !(kernel_h == 1 && kernel_w == 1 && self.stride == 1 && self.padding == 0);
        let mut patches = if gathers {
            vec![0f32; depth * plane]
        } else {
            Vec::new()
        };
        for image in 0..batch {
            let pixels = &input[image * channels * height * width..][..channels * height * width];
            let columns: &[f32] = if gathers {
                self.gather(
                    pixels,
                    (channels, height, width),
                    (kernel_h, kernel_w),
                    &mut patches,
                );
                &patches
            } else {
                pixels
            };
            let out = &mut output[image * outputs * plane..][..outputs * plane];
            // SAFETY: every pointer covers the matrix its strides describe: the kernel is
            // `outputs × depth`, the patches `depth × plane` and the output `outputs × plane`,
            // all row-major and within the slices above.
            unsafe {
                gemm::gemm(
                    outputs,
                    plane,
                    depth,
                    out.as_mut_ptr(),
                    1,
                    plane as isize,
                    false,
                    kernel.as_ptr(),
                    1,
                    depth as isize,
                    columns.as_ptr(),
                    1,
                    plane as isize,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
        }
        Ok((
            CpuStorage::F32(output),
            Shape::from((batch, outputs, out_h, out_w)),
        ))
    }
}

impl RowIm2ColConv {
    /// Writes the `(c·kh·kw) × (out_h·out_w)` patch matrix of one image into `patches`, a
    /// whole output row per kernel tap, zero where the kernel overhangs the padding.
    fn gather(
        &self,
        pixels: &[f32],
        (channels, height, width): (usize, usize, usize),
        (kernel_h, kernel_w): (usize, usize),
        patches: &mut [f32],
    ) {
        let (out_h, out_w) = (self.extent(height, kernel_h), self.extent(width, kernel_w));
        let (stride, padding) = (self.stride, self.padding);
        // Output columns whose tap `kx` lands inside the image: ox·stride + kx − padding ∈ [0, w).
        let inside = |kx: usize| {
            let first = padding.saturating_sub(kx).div_ceil(stride);
            let last = (width + padding)
                .saturating_sub(kx)
                .div_ceil(stride)
                .min(out_w);
            (first, last.max(first))
        };
        let mut row = 0;
        for channel in 0..channels {
            let plane = &pixels[channel * height * width..][..height * width];
            for ky in 0..kernel_h {
                for kx in 0..kernel_w {
                    let (first, last) = inside(kx);
                    let target = &mut patches[row * out_h * out_w..][..out_h * out_w];
                    for oy in 0..out_h {
                        let line = &mut target[oy * out_w..][..out_w];
                        let y = (oy * stride + ky).wrapping_sub(padding);
                        if y >= height || first == last {
                            line.fill(0.0);
                            continue;
                        }
                        line[..first].fill(0.0);
                        line[last..].fill(0.0);
                        let source = &plane[y * width..][..width];
                        let x0 = first * stride + kx - padding;
                        if stride == 1 {
                            line[first..last].copy_from_slice(&source[x0..x0 + (last - first)]);
                        } else {
                            for (value, x) in
                                line[first..last].iter_mut().zip((x0..).step_by(stride))
                            {
                                *value = source[x];
                            }
                        }
                    }
                    row += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Module, Tensor};
    use candle_nn::Conv2dConfig;

    use super::{InferenceConv2d, InferenceGroupNormRelu};

    fn worst_difference(a: &Tensor, b: &Tensor) -> f32 {
        let a = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let b = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max)
    }

    #[test]
    fn group_norm_relu_matches_candle_group_norm_then_relu() {
        let device = Device::Cpu;
        for (groups, channels, side) in [(4, 8, 5), (2, 6, 1), (1, 3, 7)] {
            // Off-centre, widely spread inputs: the variance must not lose them.
            let input = (Tensor::randn(0f32, 3.0, (3, channels, side, side), &device).unwrap()
                + 40.0)
                .unwrap();
            let mut tensors = std::collections::HashMap::new();
            tensors.insert(
                "weight".to_string(),
                Tensor::randn(1f32, 0.5, channels, &device).unwrap(),
            );
            tensors.insert(
                "bias".to_string(),
                Tensor::randn(0f32, 0.5, channels, &device).unwrap(),
            );
            let vb = candle_nn::VarBuilder::from_tensors(tensors.clone(), DType::F32, &device);
            let ours = InferenceGroupNormRelu::load(groups, channels, 1e-5, vb).unwrap();
            let reference = candle_nn::GroupNorm::new(
                tensors["weight"].clone(),
                tensors["bias"].clone(),
                channels,
                groups,
                1e-5,
            )
            .unwrap();
            let expected = reference.forward(&input).unwrap().relu().unwrap();
            let worst = worst_difference(&ours.forward(&input).unwrap(), &expected);
            assert!(
                worst < 1e-4,
                "{groups} groups of {channels}: off by {worst}"
            );
        }
    }

    #[test]
    fn matches_candle_convolution_for_every_kernel_stride_and_padding_resnetv2_uses() {
        let device = Device::Cpu;
        // (channels in, out, kernel, stride, padding, input side): the stem, the 3×3 of a block
        // with and without stride, a strided 1×1 projection, a plain 1×1, an odd side.
        for (cin, cout, kernel, stride, padding, side) in [
            (3, 8, 7, 2, 3, 32),
            (4, 6, 3, 1, 1, 9),
            (4, 6, 3, 2, 1, 9),
            (5, 7, 1, 2, 0, 11),
            (5, 7, 1, 1, 0, 8),
            (2, 3, 3, 2, 1, 7),
        ] {
            let input = Tensor::randn(0f32, 1.0, (2, cin, side, side), &device).unwrap();
            let weight = Tensor::randn(0f32, 1.0, (cout, cin, kernel, kernel), &device).unwrap();
            let config = Conv2dConfig {
                padding,
                stride,
                ..Default::default()
            };
            let expected = input.conv2d(&weight, padding, stride, 1, 1).unwrap();
            let ours = InferenceConv2d::new(weight, config);
            assert!(ours.runs_here(&input));
            let worst = worst_difference(&ours.forward(&input).unwrap(), &expected);
            assert!(
                worst < 1e-4,
                "k{kernel} s{stride} p{padding}: off by {worst}"
            );
        }
    }
}
