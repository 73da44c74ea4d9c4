//! ResNetV2 inference in channels-last layout `(batch, height, width, channels)` for the GPU: 1×1
//! convolutions as plain matrix products, 3×3 and stem convolutions as one patch gather and one
//! matrix product, and GroupNorm with its ReLU as one fused kernel.
//!
//! candle's CUDA `conv2d` gathers patches into channels-last columns, multiplies, and then copies
//! the result back to channels-first: two whole-tensor copies per convolution, even for a 1×1
//! kernel that needs none. Its GroupNorm is about ten whole-tensor operators plus the ReLU. Kept
//! channels-last end to end, a pre-activation bottleneck is two fused norm kernels, one gather
//! and three matrix products (cuBLAS). The kernels are CUDA C compiled once per process with
//! NVRTC; each has a CPU twin so that the layout and the arithmetic are tested on machines
//! without a GPU.

use candle_core::{CpuStorage, CustomOp1, CustomOp3, DType, Layout, Shape, Tensor};

use crate::resnetv2::ResNetV2;

/// One pre-activation bottleneck with its weights laid out for channels-last inputs.
#[derive(Debug, Clone)]
struct Block {
    /// The shortcut's strided 1×1 projection `(in, out)`, with its stride.
    downsample: Option<(Tensor, usize)>,
    norm1: GroupNormReluNhwc,
    conv1: Tensor,
    norm2: GroupNormReluNhwc,
    conv2: PatchConv,
    norm3: GroupNormReluNhwc,
    conv3: Tensor,
}

/// A loaded ResNetV2 ready for channels-last inference in one dtype.
#[derive(Debug, Clone)]
pub struct ChannelsLastResNetV2 {
    stem: PatchConv,
    blocks: Vec<Block>,
    norm: GroupNormReluNhwc,
}

/// GroupNorm's parameters for the fused kernel.
#[derive(Debug, Clone)]
struct GroupNormReluNhwc {
    weight: Tensor,
    bias: Tensor,
    groups: usize,
    eps: f64,
}

impl GroupNormReluNhwc {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        xs.contiguous()?.apply_op3_no_bwd(
            &self.weight,
            &self.bias,
            &GroupNormReluOp {
                groups: self.groups,
                eps: self.eps,
            },
        )
    }
}

/// A k×k convolution: the kernel as `(k·k·in, out)` in the gather's column order.
#[derive(Debug, Clone)]
struct PatchConv {
    kernel: Tensor,
    size: usize,
    stride: usize,
    padding: usize,
}

impl PatchConv {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let (batch, height, width, _) = xs.dims4()?;
        let out_h = (height + 2 * self.padding - self.size) / self.stride + 1;
        let out_w = (width + 2 * self.padding - self.size) / self.stride + 1;
        let outputs = self.kernel.dim(1)?;
        let columns = if self.size == 1 && self.padding == 0 {
            // A 1×1 kernel reads pixels as they lie (strided pixels for a stride).
            let xs = if self.stride == 1 {
                xs.clone()
            } else {
                subsample(xs, self.stride)?
            };
            xs.flatten_to(2)?
        } else {
            xs.contiguous()?.apply_op1_no_bwd(&Im2ColNhwc {
                size: self.size,
                stride: self.stride,
                padding: self.padding,
            })?
        };
        columns
            .matmul(&self.kernel)?
            .reshape((batch, out_h, out_w, outputs))
    }
}

/// Every `stride`-th pixel from the first, as a contiguous tensor.
fn subsample(xs: &Tensor, stride: usize) -> candle_core::Result<Tensor> {
    let (batch, height, width, channels) = xs.dims4()?;
    let (out_h, out_w) = (height.div_ceil(stride), width.div_ceil(stride));
    // Pad to a multiple of the stride, split each spatial axis into (out, stride), keep phase 0.
    let xs = xs
        .pad_with_zeros(1, 0, out_h * stride - height)?
        .pad_with_zeros(2, 0, out_w * stride - width)?
        .reshape((batch, out_h, stride, out_w, stride, channels))?;
    xs.narrow(2, 0, 1)?
        .narrow(4, 0, 1)?
        .reshape((batch, out_h, out_w, channels))?
        .contiguous()
}

/// `(out, in, k, k)` channels-first weights as the `(k·k·in, out)` matrix the gathered columns
/// multiply, in `dtype`.
fn patch_kernel(weight: &Tensor, dtype: DType) -> candle_core::Result<Tensor> {
    let (outputs, _, _, _) = weight.dims4()?;
    weight
        .permute((2, 3, 1, 0))?
        .reshape(((), outputs))?
        .to_dtype(dtype)?
        .contiguous()
}

impl ChannelsLastResNetV2 {
    /// Re-lays the (already standardised) weights of `model` for channels-last inference in
    /// `dtype`.
    pub fn new(model: &ResNetV2, dtype: DType) -> candle_core::Result<Self> {
        let norm = |layer: &crate::cpu_inference::InferenceGroupNormRelu| {
            let (weight, bias, groups, eps) = layer.parameters();
            Ok::<_, candle_core::Error>(GroupNormReluNhwc {
                weight: weight.to_dtype(dtype)?.contiguous()?,
                bias: bias.to_dtype(dtype)?.contiguous()?,
                groups,
                eps,
            })
        };
        let conv = |layer: &crate::cpu_inference::InferenceConv2d| {
            let (weight, config) = layer.parameters();
            Ok::<_, candle_core::Error>(PatchConv {
                kernel: patch_kernel(weight, dtype)?,
                size: weight.dim(3)?,
                stride: config.stride,
                padding: config.padding,
            })
        };
        let matrix = |layer: &crate::cpu_inference::InferenceConv2d| conv(layer).map(|c| c.kernel);
        let blocks = model
            .blocks()
            .map(|block| {
                Ok(Block {
                    downsample: block
                        .downsample
                        .as_ref()
                        .map(|d| Ok::<_, candle_core::Error>((matrix(d)?, d.parameters().1.stride)))
                        .transpose()?,
                    norm1: norm(&block.norm1)?,
                    conv1: matrix(&block.conv1)?,
                    norm2: norm(&block.norm2)?,
                    conv2: conv(&block.conv2)?,
                    norm3: norm(&block.norm3)?,
                    conv3: matrix(&block.conv3)?,
                })
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            stem: conv(model.stem())?,
            blocks,
            norm: norm(model.final_norm())?,
        })
    }

    /// The final normalised and rectified feature map `(batch, height / 32, width / 32,
    /// features)` of channels-first images `(batch, 3, height, width)` (any float dtype).
    pub fn feature_map(&self, images: &Tensor) -> candle_core::Result<Tensor> {
        let dtype = self.stem.kernel.dtype();
        let xs = images
            .to_dtype(dtype)?
            .permute((0, 2, 3, 1))?
            .contiguous()?;
        let xs = self.stem.forward(&xs)?;
        // BiT's fixed stem: zero padding, then a 3×3 max pool of stride 2 without padding.
        let xs = xs.pad_with_zeros(1, 1, 1)?.pad_with_zeros(2, 1, 1)?;
        let xs = crate::resnetv2::max_pool_3x3_stride_2_over(&xs, 1, 2)?;
        let xs = self.blocks.iter().try_fold(xs, |xs, block| {
            let preact = block.norm1.forward(&xs)?;
            let shortcut = match &block.downsample {
                Some((projection, stride)) => one_by_one(&preact, projection, *stride)?,
                None => xs,
            };
            let ys = one_by_one(&preact, &block.conv1, 1)?;
            let ys = block.conv2.forward(&block.norm2.forward(&ys)?)?;
            let ys = one_by_one(&block.norm3.forward(&ys)?, &block.conv3, 1)?;
            ys + shortcut
        })?;
        self.norm.forward(&xs)
    }
}

/// A 1×1 convolution of stride `stride` as one matrix product.
fn one_by_one(xs: &Tensor, matrix: &Tensor, stride: usize) -> candle_core::Result<Tensor> {
    let xs = if stride == 1 {
        xs.clone()
    } else {
        subsample(xs, stride)?
    };
    let (batch, height, width, _) = xs.dims4()?;
    xs.flatten_to(2)?
        .matmul(matrix)?
        .reshape((batch, height, width, matrix.dim(1)?))
}

/// The contiguous values of an operand of the CPU twins, or an error naming the operator.
fn cpu_values<'a>(
    operator: &str,
    storage: &'a CpuStorage,
    layout: &Layout,
) -> candle_core::Result<&'a [f32]> {
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("{operator}: operands must be contiguous");
    };
    match storage {
        CpuStorage::F32(values) => Ok(&values[start..end]),
        _ => candle_core::bail!("{operator}: the CPU version takes f32 only"),
    }
}

/// GroupNorm then ReLU over `(batch, height, width, channels)`: a group is `channels / groups`
/// adjacent channels at every pixel of one image.
struct GroupNormReluOp {
    groups: usize,
    eps: f64,
}

impl GroupNormReluOp {
    fn check(&self, dims: &[usize], weights: usize, biases: usize) -> candle_core::Result<()> {
        let channels = dims.last().copied().unwrap_or(0);
        if dims.len() != 4
            || weights != channels
            || biases != channels
            || channels % self.groups != 0
        {
            candle_core::bail!(
                "group-norm-relu-nhwc: input {dims:?} in {} groups, {weights} weights, {biases} biases",
                self.groups
            );
        }
        Ok(())
    }
}

impl CustomOp3 for GroupNormReluOp {
    fn name(&self) -> &'static str {
        "group-norm-relu-nhwc"
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
        let values = cpu_values(self.name(), input, input_layout)?;
        let weight = cpu_values(self.name(), weight, weight_layout)?;
        let bias = cpu_values(self.name(), bias, bias_layout)?;
        let dims = input_layout.shape().dims();
        self.check(dims, weight.len(), bias.len())?;
        let (batch, channels) = (dims[0], dims[3]);
        let pixels = dims[1] * dims[2];
        let per_group = channels / self.groups;
        let count = (pixels * per_group) as f64;
        let mut output = vec![0f32; values.len()];
        for image in 0..batch {
            let image_values = &values[image * pixels * channels..][..pixels * channels];
            let image_output = &mut output[image * pixels * channels..][..pixels * channels];
            for group in 0..self.groups {
                let first = group * per_group;
                let members = || {
                    image_values
                        .chunks_exact(channels)
                        .flat_map(move |pixel| &pixel[first..first + per_group])
                };
                let mean = members().map(|&v| f64::from(v)).sum::<f64>() / count;
                let variance = members()
                    .map(|&v| (f64::from(v) - mean).powi(2))
                    .sum::<f64>()
                    / count;
                let inverse = 1.0 / (variance + self.eps).sqrt();
                for (pixel_out, pixel) in image_output
                    .chunks_exact_mut(channels)
                    .zip(image_values.chunks_exact(channels))
                {
                    for channel in first..first + per_group {
                        let normalised = (f64::from(pixel[channel]) - mean) * inverse;
                        pixel_out[channel] = (normalised * f64::from(weight[channel])
                            + f64::from(bias[channel]))
                        .max(0.0) as f32;
                    }
                }
            }
        }
        Ok((CpuStorage::F32(output), input_layout.shape().clone()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        input: &candle_core::CudaStorage,
        input_layout: &Layout,
        weight: &candle_core::CudaStorage,
        weight_layout: &Layout,
        bias: &candle_core::CudaStorage,
        bias_layout: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let dims = input_layout.shape().dims();
        self.check(
            dims,
            weight_layout.shape().elem_count(),
            bias_layout.shape().elem_count(),
        )?;
        let (batch, channels) = (dims[0], dims[3]);
        let storage = kernels::group_norm_relu(
            kernels::Operands {
                input: (input, input_layout),
                weight: (weight, weight_layout),
                bias: (bias, bias_layout),
            },
            kernels::GroupNormShape {
                batch,
                pixels: dims[1] * dims[2],
                channels,
                groups: self.groups,
                eps: self.eps as f32,
            },
        )?;
        Ok((storage, input_layout.shape().clone()))
    }
}

/// Gathers the k×k patches of `(batch, height, width, channels)` into rows `(batch · out_h ·
/// out_w, k · k · channels)`, columns ordered (row of the kernel, column, channel); zeros outside
/// the image.
struct Im2ColNhwc {
    size: usize,
    stride: usize,
    padding: usize,
}

impl Im2ColNhwc {
    fn geometry(&self, dims: &[usize]) -> candle_core::Result<kernels::PatchShape> {
        let [batch, height, width, channels] = dims else {
            candle_core::bail!(
                "im2col-nhwc: input {dims:?} is not (batch, height, width, channels)"
            );
        };
        if height + 2 * self.padding < self.size || width + 2 * self.padding < self.size {
            candle_core::bail!(
                "im2col-nhwc: input {dims:?} is smaller than the {0}×{0} kernel",
                self.size
            );
        }
        Ok(kernels::PatchShape {
            batch: *batch,
            height: *height,
            width: *width,
            channels: *channels,
            size: self.size,
            stride: self.stride,
            padding: self.padding,
            out_h: (height + 2 * self.padding - self.size) / self.stride + 1,
            out_w: (width + 2 * self.padding - self.size) / self.stride + 1,
        })
    }
}

impl CustomOp1 for Im2ColNhwc {
    fn name(&self) -> &'static str {
        "im2col-nhwc"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let values = cpu_values(self.name(), storage, layout)?;
        let shape = self.geometry(layout.shape().dims())?;
        let columns = shape.size * shape.size * shape.channels;
        let mut output = vec![0f32; shape.rows() * columns];
        for (row, out) in output.chunks_exact_mut(columns).enumerate() {
            let x = row % shape.out_w;
            let y = (row / shape.out_w) % shape.out_h;
            let image = row / (shape.out_w * shape.out_h);
            for ky in 0..shape.size {
                for kx in 0..shape.size {
                    let (Some(iy), Some(ix)) = (
                        (y * shape.stride + ky).checked_sub(shape.padding),
                        (x * shape.stride + kx).checked_sub(shape.padding),
                    ) else {
                        continue;
                    };
                    if iy >= shape.height || ix >= shape.width {
                        continue;
                    }
                    let source = ((image * shape.height + iy) * shape.width + ix) * shape.channels;
                    let target = (ky * shape.size + kx) * shape.channels;
                    out[target..target + shape.channels]
                        .copy_from_slice(&values[source..source + shape.channels]);
                }
            }
        }
        Ok((
            CpuStorage::F32(output),
            Shape::from((shape.rows(), columns)),
        ))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        storage: &candle_core::CudaStorage,
        layout: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let shape = self.geometry(layout.shape().dims())?;
        let columns = shape.size * shape.size * shape.channels;
        let output = kernels::im2col(storage, layout, &shape)?;
        Ok((output, Shape::from((shape.rows(), columns))))
    }
}

/// The CUDA kernels and their launches.
mod kernels {
    /// The geometry of a patch gather.
    pub(super) struct PatchShape {
        pub batch: usize,
        pub height: usize,
        pub width: usize,
        pub channels: usize,
        pub size: usize,
        pub stride: usize,
        pub padding: usize,
        pub out_h: usize,
        pub out_w: usize,
    }

    impl PatchShape {
        /// Rows of the gathered matrix: one per output pixel.
        pub fn rows(&self) -> usize {
            self.batch * self.out_h * self.out_w
        }
    }

    #[cfg(feature = "cuda")]
    pub(super) use gpu::*;

    #[cfg(feature = "cuda")]
    mod gpu {
        use std::sync::OnceLock;

        use candle_core::backend::BackendStorage;
        use candle_core::cuda_backend::cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};
        use candle_core::cuda_backend::{CudaStorageSlice, WrapErr};
        use candle_core::{CudaDevice, CudaStorage, Layout};

        use super::PatchShape;

        /// The operands of the fused GroupNorm.
        pub struct Operands<'a> {
            pub input: (&'a CudaStorage, &'a Layout),
            pub weight: (&'a CudaStorage, &'a Layout),
            pub bias: (&'a CudaStorage, &'a Layout),
        }

        /// The shape the fused GroupNorm normalises.
        pub struct GroupNormShape {
            pub batch: usize,
            pub pixels: usize,
            pub channels: usize,
            pub groups: usize,
            pub eps: f32,
        }

        /// The module name candle caches the compiled kernels under.
        const MODULE: &str = "panelscope_channels_last";

        /// Half-precision values travel as their bits: NVRTC then needs no CUDA headers. Index
        /// arithmetic is 32-bit (the launches check the sizes): 64-bit division costs tens of
        /// instructions on a GPU.
        const SOURCE: &str = r#"
struct f16 { unsigned short bits; };
struct bf16 { unsigned short bits; };
struct alignas(16) v16 { unsigned int a, b, c, d; };

__device__ __forceinline__ float load(const float* p, unsigned i) { return p[i]; }
__device__ __forceinline__ float load(const f16* p, unsigned i) {
    float f; asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(p[i].bits)); return f;
}
__device__ __forceinline__ float load(const bf16* p, unsigned i) {
    return __uint_as_float(((unsigned int)p[i].bits) << 16);
}
__device__ __forceinline__ void store(float* p, unsigned i, float v) { p[i] = v; }
__device__ __forceinline__ void store(f16* p, unsigned i, float v) {
    unsigned short h; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(v)); p[i].bits = h;
}
__device__ __forceinline__ void store(bf16* p, unsigned i, float v) {
    unsigned int u = __float_as_uint(v);
    u += 0x7fffu + ((u >> 16) & 1u);
    p[i].bits = (unsigned short)(u >> 16);
}

#define MAX_CHANNELS_PER_THREAD 8
#define MAX_GROUPS 128

// Pass 1: per (image, group) sums of values and squares. A block reads `rows` pixels of one
// image, each thread whole channels (coalesced: adjacent threads, adjacent channels), and adds
// its partial sums into the block's group totals, then into `stats` (double: many blocks add).
template <typename T>
__device__ void group_stats(const T* x, double* stats, int pixels, int channels, int groups,
                            int rows) {
    __shared__ float sums[MAX_GROUPS], squares[MAX_GROUPS];
    int chunks = (pixels + rows - 1) / rows;
    int image = blockIdx.x / chunks, chunk = blockIdx.x % chunks;
    int first = chunk * rows, last = min(first + rows, pixels);
    for (int g = threadIdx.x; g < groups; g += blockDim.x) { sums[g] = 0.0f; squares[g] = 0.0f; }
    __syncthreads();
    float s[MAX_CHANNELS_PER_THREAD], q[MAX_CHANNELS_PER_THREAD];
    for (int k = 0; k < MAX_CHANNELS_PER_THREAD; ++k) { s[k] = 0.0f; q[k] = 0.0f; }
    const T* base = x + (unsigned)image * pixels * channels;
    for (int p = first; p < last; ++p) {
        const T* row = base + (unsigned)p * channels;
        for (int k = 0; k < MAX_CHANNELS_PER_THREAD; ++k) {
            int c = threadIdx.x + k * blockDim.x;
            if (c < channels) { float v = load(row, c); s[k] += v; q[k] += v * v; }
        }
    }
    int per_group = channels / groups;
    for (int k = 0; k < MAX_CHANNELS_PER_THREAD; ++k) {
        int c = threadIdx.x + k * blockDim.x;
        if (c < channels) { atomicAdd(&sums[c / per_group], s[k]); atomicAdd(&squares[c / per_group], q[k]); }
    }
    __syncthreads();
    for (int g = threadIdx.x; g < groups; g += blockDim.x) {
        atomicAdd(&stats[2 * (image * groups + g)], (double)sums[g]);
        atomicAdd(&stats[2 * (image * groups + g) + 1], (double)squares[g]);
    }
}

// Pass 2: normalise, scale, shift, rectify; a block does `rows` pixels of one image.
template <typename T>
__device__ void group_apply(const T* x, T* y, const T* weight, const T* bias, const double* stats,
                            int pixels, int channels, int groups, int rows, float eps) {
    __shared__ float means[MAX_GROUPS], inverses[MAX_GROUPS];
    int chunks = (pixels + rows - 1) / rows;
    int image = blockIdx.x / chunks, chunk = blockIdx.x % chunks;
    int first = chunk * rows, last = min(first + rows, pixels);
    int per_group = channels / groups;
    double count = (double)pixels * per_group;
    for (int g = threadIdx.x; g < groups; g += blockDim.x) {
        double mean = stats[2 * (image * groups + g)] / count;
        double variance = stats[2 * (image * groups + g) + 1] / count - mean * mean;
        means[g] = (float)mean;
        inverses[g] = rsqrtf((float)(variance > 0.0 ? variance : 0.0) + eps);
    }
    __syncthreads();
    for (int c = threadIdx.x; c < channels; c += blockDim.x) {
        int g = c / per_group;
        float scale = inverses[g] * load(weight, c);
        float shift = load(bias, c) - means[g] * scale;
        for (int p = first; p < last; ++p) {
            unsigned at = ((unsigned)image * pixels + p) * channels + c;
            float v = load(x, at) * scale + shift;
            store(y, at, v > 0.0f ? v : 0.0f);
        }
    }
}

// One block per output pixel: its threads copy the pixel's k*k taps, `vector` elements of V at a
// time (16-byte vectors when a pixel's channels fill whole vectors); zeros outside the image.
template <typename V>
__device__ void im2col(const V* x, V* out, int height, int width, int vectors, int size,
                       int stride, int padding, int out_h, int out_w) {
    unsigned row = blockIdx.x;
    int ox = row % out_w, oy = (row / out_w) % out_h, n = row / (out_w * out_h);
    int per_row = size * size * vectors;
    for (int i = threadIdx.x; i < per_row; i += blockDim.x) {
        int v = i % vectors, tap = i / vectors;
        int ky = tap / size, kx = tap % size;
        int iy = oy * stride - padding + ky, ix = ox * stride - padding + kx;
        V value{};
        if (iy >= 0 && iy < height && ix >= 0 && ix < width)
            value = x[(((unsigned)n * height + iy) * width + ix) * vectors + v];
        out[row * per_row + i] = value;
    }
}

#define GROUP_NORM(SUFFIX, T) \
extern "C" __global__ void group_stats_nhwc_##SUFFIX(const T* x, double* stats, int pixels, \
        int channels, int groups, int rows) { group_stats<T>(x, stats, pixels, channels, groups, rows); } \
extern "C" __global__ void group_apply_nhwc_##SUFFIX(const T* x, T* y, const T* w, const T* b, \
        const double* stats, int pixels, int channels, int groups, int rows, float eps) { \
    group_apply<T>(x, y, w, b, stats, pixels, channels, groups, rows, eps); }
GROUP_NORM(f32, float)
GROUP_NORM(f16, f16)
GROUP_NORM(bf16, bf16)

#define IM2COL(NAME, V) \
extern "C" __global__ void NAME(const V* x, V* out, int height, int width, int vectors, \
        int size, int stride, int padding, int out_h, int out_w) { \
    im2col<V>(x, out, height, width, vectors, size, stride, padding, out_h, out_w); }
IM2COL(im2col_nhwc_v16, v16)
IM2COL(im2col_nhwc_v4, unsigned int)
IM2COL(im2col_nhwc_v2, unsigned short)
"#;

        /// The PTX of [`SOURCE`], compiled on first use.
        #[cfg(test)]
        pub fn compiled_ptx() -> candle_core::Result<&'static str> {
            ptx()
        }

        fn ptx() -> candle_core::Result<&'static str> {
            static PTX: OnceLock<Result<String, String>> = OnceLock::new();
            PTX.get_or_init(|| {
                candle_core::cuda_backend::cudarc::nvrtc::compile_ptx(SOURCE)
                    .map(|ptx| ptx.to_src())
                    .map_err(|error| {
                        format!("NVRTC could not compile the channels-last kernels: {error:?}")
                    })
            })
            .as_deref()
            .map_err(|error| candle_core::Error::Msg(error.clone()))
        }

        fn contiguous<'a, T>(
            slice: &'a CudaSlice<T>,
            layout: &Layout,
            what: &str,
        ) -> candle_core::Result<candle_core::cuda_backend::cudarc::driver::CudaView<'a, T>>
        {
            match layout.contiguous_offsets() {
                Some((start, end)) => Ok(slice.slice(start..end)),
                None => candle_core::bail!("{what} must be contiguous"),
            }
        }

        fn as_i32(value: usize) -> candle_core::Result<i32> {
            i32::try_from(value)
                .map_err(|_| candle_core::Error::Msg(format!("{value} exceeds i32")))
        }

        /// Pixels a block of the GroupNorm kernels covers.
        const ROWS_PER_BLOCK: usize = 32;
        /// Threads of a GroupNorm block; each takes up to eight channels.
        const MAX_NORM_THREADS: usize = 256;
        /// The kernels' limits (`MAX_CHANNELS_PER_THREAD`, `MAX_GROUPS`).
        const MAX_CHANNELS: usize = MAX_NORM_THREADS * 8;
        const MAX_GROUPS: usize = 128;

        /// Fails unless the kernels' 32-bit indices reach `elements`.
        fn fits_u32(elements: usize, what: &str) -> candle_core::Result<()> {
            if elements > u32::MAX as usize {
                candle_core::bail!(
                    "{what}: {elements} elements exceed the kernels' 32-bit indices; use smaller batches"
                )
            }
            Ok(())
        }

        /// Launches the fused GroupNorm + ReLU: group sums, then normalisation.
        pub fn group_norm_relu(
            operands: Operands<'_>,
            shape: GroupNormShape,
        ) -> candle_core::Result<CudaStorage> {
            let device = operands.input.0.device().clone();
            let elements = shape.batch * shape.pixels * shape.channels;
            fits_u32(elements, "group-norm-relu-nhwc")?;
            if shape.channels > MAX_CHANNELS || shape.groups > MAX_GROUPS {
                candle_core::bail!(
                    "group-norm-relu-nhwc: at most {MAX_CHANNELS} channels in {MAX_GROUPS} groups, not {} in {}",
                    shape.channels,
                    shape.groups
                );
            }
            let chunks = shape.pixels.div_ceil(ROWS_PER_BLOCK);
            let threads = shape.channels.next_multiple_of(32).min(MAX_NORM_THREADS) as u32;
            let config = LaunchConfig {
                grid_dim: (as_i32(shape.batch * chunks)? as u32, 1, 1),
                block_dim: (threads, 1, 1),
                shared_mem_bytes: 0,
            };
            let stats = device.alloc_zeros::<f64>(2 * shape.batch * shape.groups)?;
            let (pixels, channels, groups, rows) = (
                as_i32(shape.pixels)?,
                as_i32(shape.channels)?,
                as_i32(shape.groups)?,
                as_i32(ROWS_PER_BLOCK)?,
            );
            macro_rules! launch {
                ($variant:ident, $ty:ty, $suffix:literal, $x:expr, $w:expr, $b:expr) => {{
                    let x = contiguous($x, operands.input.1, "group-norm-relu-nhwc input")?;
                    let w = contiguous($w, operands.weight.1, "group-norm-relu-nhwc weight")?;
                    let b = contiguous($b, operands.bias.1, "group-norm-relu-nhwc bias")?;
                    let func = device.get_or_load_custom_func(
                        concat!("group_stats_nhwc_", $suffix),
                        MODULE,
                        ptx()?,
                    )?;
                    let mut builder = func.builder();
                    builder.arg(&x).arg(&stats);
                    builder.arg(&pixels).arg(&channels).arg(&groups).arg(&rows);
                    // SAFETY: the arguments match the kernel's signature.
                    unsafe { builder.launch(config) }.w()?;
                    // SAFETY: every element is written by the kernel below.
                    let y = unsafe { device.alloc::<$ty>(elements)? };
                    let func = device.get_or_load_custom_func(
                        concat!("group_apply_nhwc_", $suffix),
                        MODULE,
                        ptx()?,
                    )?;
                    let mut builder = func.builder();
                    builder.arg(&x).arg(&y).arg(&w).arg(&b).arg(&stats);
                    builder.arg(&pixels).arg(&channels).arg(&groups).arg(&rows);
                    builder.arg(&shape.eps);
                    // SAFETY: the arguments match the kernel's signature.
                    unsafe { builder.launch(config) }.w()?;
                    CudaStorageSlice::$variant(y)
                }};
            }
            let slice = match (
                &operands.input.0.slice,
                &operands.weight.0.slice,
                &operands.bias.0.slice,
            ) {
                (CudaStorageSlice::F32(x), CudaStorageSlice::F32(w), CudaStorageSlice::F32(b)) => {
                    launch!(F32, f32, "f32", x, w, b)
                }
                (CudaStorageSlice::F16(x), CudaStorageSlice::F16(w), CudaStorageSlice::F16(b)) => {
                    launch!(F16, half::f16, "f16", x, w, b)
                }
                (
                    CudaStorageSlice::BF16(x),
                    CudaStorageSlice::BF16(w),
                    CudaStorageSlice::BF16(b),
                ) => launch!(BF16, half::bf16, "bf16", x, w, b),
                _ => candle_core::bail!(
                    "group-norm-relu-nhwc: input, weight and bias must share one of f32, f16, bf16"
                ),
            };
            Ok(CudaStorage { slice, device })
        }

        /// Launches the patch gather: one block per output pixel, copying each tap's channels in
        /// the widest vectors (16, 4 or 2 bytes) that divide a pixel and its alignment.
        pub fn im2col(
            storage: &CudaStorage,
            layout: &Layout,
            shape: &PatchShape,
        ) -> candle_core::Result<CudaStorage> {
            let device: CudaDevice = storage.device().clone();
            let elements = shape.rows() * shape.size * shape.size * shape.channels;
            let element_bytes = storage.dtype().size_in_bytes();
            let pixel_bytes = shape.channels * element_bytes;
            let offset_bytes = layout.start_offset() * element_bytes;
            let vector_bytes = [16, 4, 2]
                .into_iter()
                .find(|v| pixel_bytes % v == 0 && offset_bytes % v == 0)
                .unwrap_or(element_bytes);
            let vectors = pixel_bytes / vector_bytes;
            let per_row = shape.size * shape.size * vectors;
            fits_u32(shape.rows() * per_row, "im2col-nhwc")?;
            fits_u32(
                layout.shape().elem_count() * element_bytes / vector_bytes,
                "im2col-nhwc",
            )?;
            let name = match vector_bytes {
                16 => "im2col_nhwc_v16",
                4 => "im2col_nhwc_v4",
                2 => "im2col_nhwc_v2",
                other => candle_core::bail!("im2col-nhwc: {other}-byte elements"),
            };
            let config = LaunchConfig {
                grid_dim: (as_i32(shape.rows())? as u32, 1, 1),
                block_dim: (per_row.next_multiple_of(32).min(256) as u32, 1, 1),
                shared_mem_bytes: 0,
            };
            let args = [
                shape.height,
                shape.width,
                vectors,
                shape.size,
                shape.stride,
                shape.padding,
                shape.out_h,
                shape.out_w,
            ]
            .map(as_i32)
            .into_iter()
            .collect::<candle_core::Result<Vec<i32>>>()?;
            let func = device.get_or_load_custom_func(name, MODULE, ptx()?)?;
            macro_rules! launch {
                ($variant:ident, $ty:ty, $x:expr) => {{
                    let x = contiguous($x, layout, "im2col-nhwc input")?;
                    // SAFETY: every element is written by the kernel below.
                    let out = unsafe { device.alloc::<$ty>(elements)? };
                    let mut builder = func.builder();
                    builder.arg(&x).arg(&out);
                    for value in &args {
                        builder.arg(value);
                    }
                    // SAFETY: the arguments match the kernel's signature; the kernel copies bits.
                    unsafe { builder.launch(config) }.w()?;
                    CudaStorageSlice::$variant(out)
                }};
            }
            let slice = match &storage.slice {
                CudaStorageSlice::F32(x) => launch!(F32, f32, x),
                CudaStorageSlice::F16(x) => launch!(F16, half::f16, x),
                CudaStorageSlice::BF16(x) => launch!(BF16, half::bf16, x),
                _ => candle_core::bail!("im2col-nhwc: f32, f16 or bf16 only"),
            };
            Ok(CudaStorage { slice, device })
        }
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Module};

    /// NVRTC needs no GPU: a `--features cuda` build checks the kernels' source here.
    #[cfg(feature = "cuda")]
    #[test]
    fn kernels_compile_with_nvrtc() {
        let ptx = super::kernels::compiled_ptx().unwrap();
        for kernel in [
            "group_stats_nhwc_f16",
            "group_apply_nhwc_bf16",
            "im2col_nhwc_v16",
        ] {
            assert!(ptx.contains(kernel), "{kernel} missing");
        }
    }
    use candle_nn::{VarBuilder, VarMap};

    use super::*;
    use crate::resnetv2::Config;

    /// A narrow ResNetV2 with seeded random weights and non-trivial norms.
    fn model(device: &Device) -> ResNetV2 {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
        let cfg = Config {
            layers: [1, 1, 2, 1],
            channels: [32, 64, 128, 256],
            stem_channels: 16,
            width_factor: 1,
            norm_groups: 8,
            std_conv_eps: 1e-5,
            num_classes: None,
        };
        let net = ResNetV2::load(vb, &cfg).unwrap();
        // Norm weights start at 1 and biases at 0: perturb them so that a channel mix-up shows.
        for (name, var) in varmap.data().lock().unwrap().iter() {
            if name.contains("norm") {
                let noise = Tensor::randn(0f32, 0.3, var.shape(), device).unwrap();
                var.set(&(var.as_tensor() + noise).unwrap().detach())
                    .unwrap();
            }
        }
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
        drop(net);
        ResNetV2::load(vb, &cfg).unwrap()
    }

    #[test]
    fn channels_last_features_match_channels_first() {
        let device = Device::Cpu;
        let net = model(&device);
        let plan = ChannelsLastResNetV2::new(&net, DType::F32).unwrap();
        // 70 is not a multiple of 32: the strided 1×1 shortcuts see odd sizes.
        let images = Tensor::randn(0f32, 1.0, (3, 3, 70, 70), &device).unwrap();
        let expected = net.feature_map(&images.detach()).unwrap();
        let actual = plan
            .feature_map(&images)
            .unwrap()
            .permute((0, 3, 1, 2))
            .unwrap();
        let difference = (expected.clone() - actual)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let scale = expected
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(scale > 0.1, "degenerate features {scale}");
        assert!(
            difference < 1e-4 * scale.max(1.0),
            "max difference {difference}"
        );
    }

    #[test]
    fn fused_group_norm_matches_candle_group_norm() {
        let device = Device::Cpu;
        let xs = Tensor::randn(1f32, 2.0, (2, 5, 3, 12), &device).unwrap();
        let weight = Tensor::randn(0f32, 1.0, 12, &device).unwrap();
        let bias = Tensor::randn(0f32, 1.0, 12, &device).unwrap();
        let norm = GroupNormReluNhwc {
            weight: weight.clone(),
            bias: bias.clone(),
            groups: 4,
            eps: 1e-5,
        };
        let candle = candle_nn::GroupNorm::new(weight, bias, 12, 4, 1e-5).unwrap();
        let expected = candle
            .forward(&xs.permute((0, 3, 1, 2)).unwrap().contiguous().unwrap())
            .unwrap()
            .relu()
            .unwrap();
        let actual = norm.forward(&xs).unwrap().permute((0, 3, 1, 2)).unwrap();
        let difference = (expected - actual)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(difference < 1e-5, "max difference {difference}");
    }
}
