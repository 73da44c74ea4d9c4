//! Inference convolutions on the CPU: patches gathered a whole output row at a time and one
//! single-threaded matrix product per image, on the calling thread.
//!
//! candle's CPU `conv2d` gathers its patches one value at a time through a tiled scatter that
//! cost the learned embedder four times its matrix products, and hands every operator to the
//! shared thread pool, where the pipeline's embed workers (one per core already) spun waiting
//! for each other. Tensors that track gradients (training) keep candle's differentiable
//! convolution; everything else on the CPU in f32 runs here.

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Module, Shape, Tensor};
use candle_nn::{Conv2d, Conv2dConfig};

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

    fn runs_here(&self, xs: &Tensor) -> bool {
        let weight = self.conv.weight();
        let config = self.conv.config();
        xs.device().is_cpu()
            && xs.dtype() == DType::F32
            && weight.dtype() == DType::F32
            && xs.rank() == 4
            && config.groups == 1
            && config.dilation == 1
            && !xs.track_op()
            && !weight.track_op()
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
        let (Some((input_start, input_end)), Some((kernel_start, kernel_end))) = (
            input_layout.contiguous_offsets(),
            kernel_layout.contiguous_offsets(),
        ) else {
            candle_core::bail!("{}: inputs must be contiguous", self.name());
        };
        let input = &input.as_slice::<f32>()?[input_start..input_end];
        let kernel = &kernel.as_slice::<f32>()?[kernel_start..kernel_end];
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
    use candle_core::{Device, Module, Tensor};
    use candle_nn::Conv2dConfig;

    use super::InferenceConv2d;

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
            let expected = input
                .conv2d(&weight, padding, stride, 1, 1)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            let ours = InferenceConv2d::new(weight, config);
            assert!(ours.runs_here(&input));
            let got = ours
                .forward(&input)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            assert_eq!(got.len(), expected.len(), "k{kernel} s{stride} p{padding}");
            let worst = got
                .iter()
                .zip(&expected)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                worst < 1e-4,
                "k{kernel} s{stride} p{padding}: off by {worst}"
            );
        }
    }
}
