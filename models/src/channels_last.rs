//! ResNetV2 inference in channels-last layout `(batch, height, width, channels)` for the GPU: 1×1
//! convolutions as plain matrix products, k×k convolutions as one patch gather and one matrix
//! product, GroupNorm with its ReLU as group sums then a normalising pass, and BiT's stem pool as
//! one kernel.
//!
//! candle's CUDA `conv2d` gathers patches into channels-last columns, multiplies, and then copies
//! the result back to channels-first: two whole-tensor copies per convolution, even for a 1×1
//! kernel that needs none. Its GroupNorm is about ten whole-tensor operators plus the ReLU. Kept
//! channels-last end to end, a pre-activation bottleneck is:
//! - `norm1`: group sums, then a normalising pass (its output feeds two products);
//! - `conv1`: one cuBLAS product;
//! - `norm2` + `conv2`: group sums, then a patch gather that normalises what it copies (the
//!   normalised tensor is never written), then one product;
//! - `norm3`: group sums, then a normalising pass;
//! - `conv3` and the residual sum: one product that accumulates into the shortcut (β = 1);
//! - a strided shortcut projection: one batched product reading the kept pixels in place.
//!
//! The kernels are CUDA C compiled once per process with NVRTC, moving 16 bytes per load where
//! the channels allow; each operator has a CPU twin so that the layout and the arithmetic are
//! tested on machines without a GPU. `benches/gpu_embed.rs` measures each step against PyTorch
//! (`benches/gpu.md`).
//!
//! With the `cudnn` feature, [`ChannelsLastResNetV2::with_cudnn`] can hand k×k convolutions to
//! cuDNN's channels-last convolution instead. Measured on an H200 with cuDNN's heuristic choice
//! of algorithm, that was slower than the gather and cuBLAS in f16, so it is not the default.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use candle_core::{
    CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, InplaceOp3, Layout, Shape, Tensor,
};

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
    fn op(&self) -> GroupNormReluOp {
        GroupNormReluOp {
            groups: self.groups,
            eps: self.eps,
        }
    }

    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        xs.contiguous()?
            .apply_op3_no_bwd(&self.weight, &self.bias, &self.op())
    }
}

/// A k×k convolution: the kernel as `(k·k·in, out)` in the gather's column order, and with the
/// `cudnn` feature the filter `(out, k, k, in)` that cuDNN convolves channels-last inputs with.
#[derive(Debug, Clone)]
struct PatchConv {
    kernel: Tensor,
    filter: Option<Tensor>,
    size: usize,
    stride: usize,
    padding: usize,
}

impl PatchConv {
    /// Convolves `xs`, or with `norm` its GroupNorm'd and rectified self: on a GPU the gather
    /// then normalises what it copies, so the normalised tensor is never written out.
    fn forward(
        &self,
        xs: &Tensor,
        norm: Option<&GroupNormReluNhwc>,
        steps: &mut Steps,
    ) -> candle_core::Result<Tensor> {
        if let Some(filter) = &self.filter
            && xs.device().is_cuda()
        {
            let xs = match norm {
                Some(norm) => steps.run("group norm + relu", || norm.forward(xs))?,
                None => xs.clone(),
            };
            return steps.run("k×k convolution (cuDNN)", || {
                xs.contiguous()?.apply_op2_no_bwd(
                    filter,
                    &CudnnConvNhwc {
                        stride: self.stride,
                        padding: self.padding,
                    },
                )
            });
        }
        let (batch, height, width, _) = xs.dims4()?;
        let out_h = (height + 2 * self.padding - self.size) / self.stride + 1;
        let out_w = (width + 2 * self.padding - self.size) / self.stride + 1;
        let outputs = self.kernel.dim(1)?;
        let gather = Im2ColNhwc {
            size: self.size,
            stride: self.stride,
            padding: self.padding,
        };
        let columns = match norm {
            Some(norm) => steps.run("group norm + relu + k×k patch gather", || {
                xs.contiguous()?.apply_op3_no_bwd(
                    &norm.weight,
                    &norm.bias,
                    &NormalisedIm2ColNhwc {
                        norm: norm.op(),
                        gather,
                    },
                )
            })?,
            None => steps.run("k×k patch gather", || {
                xs.contiguous()?.apply_op1_no_bwd(&gather)
            })?,
        };
        steps.run("k×k convolution (GEMM)", || {
            columns
                .matmul(&self.kernel)?
                .reshape((batch, out_h, out_w, outputs))
        })
    }
}

/// Whether this build convolves through cuDNN (the `cudnn` feature).
pub const CUDNN_COMPILED: bool = cfg!(feature = "cudnn");

/// A k×k convolution of a channels-last input `(b, h, w, in)` with a filter `(out, k, k, in)`
/// through cuDNN, giving `(b, out_h, out_w, out)`. The algorithm is cuDNN's first choice for the
/// shape, asked once per shape; the workspace is kept and grown, not allocated per call.
#[cfg_attr(not(feature = "cudnn"), allow(dead_code))]
struct CudnnConvNhwc {
    stride: usize,
    padding: usize,
}

#[cfg_attr(not(feature = "cudnn"), allow(dead_code))]
impl CudnnConvNhwc {
    fn output_shape(&self, input: &Layout, filter: &Layout) -> candle_core::Result<Shape> {
        let (batch, height, width, channels) = input.shape().dims4()?;
        let (outputs, size, _, filter_channels) = filter.shape().dims4()?;
        if channels != filter_channels || height + 2 * self.padding < size {
            candle_core::bail!(
                "cudnn-conv-nhwc: input {:?}, filter {:?}",
                input.shape(),
                filter.shape()
            );
        }
        let out = |extent: usize| (extent + 2 * self.padding - size) / self.stride + 1;
        Ok(Shape::from((batch, out(height), out(width), outputs)))
    }
}

impl CustomOp2 for CudnnConvNhwc {
    fn name(&self) -> &'static str {
        "cudnn-conv-nhwc"
    }

    fn cpu_fwd(
        &self,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        candle_core::bail!("cudnn-conv-nhwc runs on CUDA devices only")
    }

    #[cfg(feature = "cudnn")]
    fn cuda_fwd(
        &self,
        input: &candle_core::CudaStorage,
        input_layout: &Layout,
        filter: &candle_core::CudaStorage,
        filter_layout: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let shape = self.output_shape(input_layout, filter_layout)?;
        let storage = cudnn_conv::convolve(
            (input, input_layout),
            (filter, filter_layout),
            self.stride,
            self.padding,
            &shape,
        )?;
        Ok((storage, shape))
    }
}

/// The cuDNN calls of [`CudnnConvNhwc`].
#[cfg(feature = "cudnn")]
mod cudnn_conv {
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::sync::Arc;

    use candle_core::backend::BackendStorage;
    use candle_core::cuda_backend::cudarc::cudnn::sys::{
        cudnnConvolutionFwdAlgo_t, cudnnConvolutionMode_t, cudnnTensorFormat_t,
    };
    use candle_core::cuda_backend::cudarc::cudnn::{ConvForward, Cudnn, CudnnDataType};
    use candle_core::cuda_backend::cudarc::driver::{CudaSlice, DeviceRepr};
    use candle_core::cuda_backend::{CudaStorageSlice, DeviceId};
    use candle_core::{CudaDevice, CudaStorage, Layout, Shape};

    /// A convolution's shape: input dims, filter dims, stride, padding, element size.
    type ShapeKey = ([usize; 4], [usize; 4], usize, usize, usize);

    // cuDNN handles are neither Send nor Sync: one per thread and device, as candle keeps its own.
    thread_local! {
        static HANDLES: RefCell<HashMap<DeviceId, Arc<Cudnn>>> = RefCell::new(HashMap::new());
        static ALGORITHMS: RefCell<HashMap<ShapeKey, (cudnnConvolutionFwdAlgo_t, usize)>> =
            RefCell::new(HashMap::new());
        static WORKSPACES: RefCell<HashMap<DeviceId, CudaSlice<u8>>> = RefCell::new(HashMap::new());
    }

    fn handle(device: &CudaDevice) -> candle_core::Result<Arc<Cudnn>> {
        HANDLES.with(|handles| {
            if let Some(handle) = handles.borrow().get(&device.id()) {
                return Ok(handle.clone());
            }
            let handle = Cudnn::new(device.cuda_stream())?;
            handles.borrow_mut().insert(device.id(), handle.clone());
            Ok(handle)
        })
    }

    fn dims(layout: &Layout) -> candle_core::Result<[usize; 4]> {
        let (a, b, c, d) = layout.shape().dims4()?;
        Ok([a, b, c, d])
    }

    fn int(value: usize) -> i32 {
        i32::try_from(value).unwrap_or(i32::MAX)
    }

    /// Runs the convolution in `T` with f32 accumulation.
    fn run<T: CudnnDataType + DeviceRepr + num_one::One>(
        device: &CudaDevice,
        input: &CudaSlice<T>,
        input_layout: &Layout,
        filter: &CudaSlice<T>,
        filter_layout: &Layout,
        (stride, padding): (usize, usize),
        shape: &Shape,
    ) -> candle_core::Result<CudaSlice<T>> {
        let cudnn = handle(device)?;
        let [batch, height, width, channels] = dims(input_layout)?;
        let [outputs, size, _, _] = dims(filter_layout)?;
        let (_, out_h, out_w, _) = shape.dims4()?;
        let nhwc = cudnnTensorFormat_t::CUDNN_TENSOR_NHWC;
        // Descriptors take (n, c, h, w) whatever the format.
        let x = cudnn.create_4d_tensor::<T>(nhwc, [batch, channels, height, width].map(int))?;
        let w = cudnn.create_4d_filter::<T>(nhwc, [outputs, channels, size, size].map(int))?;
        let y = cudnn.create_4d_tensor::<T>(nhwc, [batch, outputs, out_h, out_w].map(int))?;
        let conv = cudnn.create_conv2d::<f32>(
            [int(padding); 2],
            [int(stride); 2],
            [1, 1],
            cudnnConvolutionMode_t::CUDNN_CROSS_CORRELATION,
        )?;
        let op = ConvForward {
            conv: &conv,
            x: &x,
            w: &w,
            y: &y,
        };
        let key = (
            dims(input_layout)?,
            dims(filter_layout)?,
            stride,
            padding,
            std::mem::size_of::<T>(),
        );
        let cached = ALGORITHMS.with(|a| a.borrow().get(&key).copied());
        let (algorithm, workspace_bytes) = match cached {
            Some(found) => found,
            None => {
                let algorithm = op.pick_algorithm()?;
                let found = (algorithm, op.get_workspace_size(algorithm)?);
                ALGORITHMS.with(|a| a.borrow_mut().insert(key, found));
                found
            }
        };
        let (start, end) = input_layout.contiguous_offsets().ok_or_else(|| {
            candle_core::Error::Msg("cudnn-conv-nhwc: input not contiguous".into())
        })?;
        let input = input.slice(start..end);
        let (start, end) = filter_layout.contiguous_offsets().ok_or_else(|| {
            candle_core::Error::Msg("cudnn-conv-nhwc: filter not contiguous".into())
        })?;
        let filter = filter.slice(start..end);
        // SAFETY: every element is written by the convolution below.
        let mut output = unsafe { device.alloc::<T>(shape.elem_count())? };
        WORKSPACES.with(|workspaces| -> candle_core::Result<()> {
            let mut workspaces = workspaces.borrow_mut();
            let fits = workspaces
                .get(&device.id())
                .is_some_and(|w| w.len() >= workspace_bytes.max(1));
            if !fits {
                // SAFETY: cuDNN writes its workspace before reading it.
                let grown = unsafe { device.alloc::<u8>(workspace_bytes.max(1))? };
                workspaces.insert(device.id(), grown);
            }
            let workspace = workspaces.get_mut(&device.id()).expect("inserted above");
            // SAFETY: the descriptors above describe these buffers: contiguous channels-last
            // input and output in T, and the (out, k, k, in) filter.
            unsafe {
                op.launch(
                    algorithm,
                    Some(workspace),
                    (T::one(), T::zero()),
                    &input,
                    &filter,
                    &mut output,
                )
            }?;
            Ok(())
        })?;
        Ok(output)
    }

    /// Convolves a channels-last input with an `(out, k, k, in)` filter.
    pub(super) fn convolve(
        (input, input_layout): (&CudaStorage, &Layout),
        (filter, filter_layout): (&CudaStorage, &Layout),
        stride: usize,
        padding: usize,
        shape: &Shape,
    ) -> candle_core::Result<CudaStorage> {
        let device = input.device().clone();
        let geometry = (stride, padding);
        let slice =
            match (&input.slice, &filter.slice) {
                (CudaStorageSlice::F32(x), CudaStorageSlice::F32(w)) => CudaStorageSlice::F32(run(
                    &device,
                    x,
                    input_layout,
                    w,
                    filter_layout,
                    geometry,
                    shape,
                )?),
                (CudaStorageSlice::F16(x), CudaStorageSlice::F16(w)) => CudaStorageSlice::F16(run(
                    &device,
                    x,
                    input_layout,
                    w,
                    filter_layout,
                    geometry,
                    shape,
                )?),
                (CudaStorageSlice::BF16(x), CudaStorageSlice::BF16(w)) => CudaStorageSlice::BF16(
                    run(&device, x, input_layout, w, filter_layout, geometry, shape)?,
                ),
                _ => candle_core::bail!(
                    "cudnn-conv-nhwc: input and filter must share f32, f16 or bf16"
                ),
            };
        Ok(CudaStorage { slice, device })
    }

    /// The scaling constants cuDNN is launched with, in each element type.
    mod num_one {
        pub trait One {
            fn one() -> Self;
            fn zero() -> Self;
        }
        impl One for f32 {
            fn one() -> Self {
                1.0
            }
            fn zero() -> Self {
                0.0
            }
        }
        impl One for half::f16 {
            fn one() -> Self {
                half::f16::ONE
            }
            fn zero() -> Self {
                half::f16::ZERO
            }
        }
        impl One for half::bf16 {
            fn one() -> Self {
                half::bf16::ONE
            }
            fn zero() -> Self {
                half::bf16::ZERO
            }
        }
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
    /// `dtype`, k×k convolutions through the patch gather and cuBLAS.
    pub fn new(model: &ResNetV2, dtype: DType) -> candle_core::Result<Self> {
        Self::with_cudnn(model, dtype, false)
    }

    /// [`ChannelsLastResNetV2::new`], choosing whether k×k convolutions on a GPU use cuDNN (when
    /// the `cudnn` feature is compiled in) or the patch gather and cuBLAS.
    pub fn with_cudnn(
        model: &ResNetV2,
        dtype: DType,
        use_cudnn: bool,
    ) -> candle_core::Result<Self> {
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
            let size = weight.dim(3)?;
            // cuDNN's implicit GEMM needs no gathered copy; 1×1 kernels are plain matrix
            // products either way.
            let filter = (CUDNN_COMPILED && use_cudnn && size > 1 && weight.device().is_cuda())
                .then(|| weight.permute((0, 2, 3, 1))?.to_dtype(dtype)?.contiguous())
                .transpose()?;
            Ok::<_, candle_core::Error>(PatchConv {
                kernel: patch_kernel(weight, dtype)?,
                filter,
                size,
                stride: config.stride,
                padding: config.padding,
            })
        };
        // A 1×1 kernel multiplies the pixels as they lie: its matrix alone.
        let matrix = |layer: &crate::cpu_inference::InferenceConv2d| {
            patch_kernel(layer.parameters().0, dtype)
        };
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
        self.run(images, &mut Steps { times: None })
    }

    /// Runs [`ChannelsLastResNetV2::feature_map`] with the device synchronised around every
    /// operator and returns the time spent per kind of operator, largest first: where a pass's
    /// time goes (the synchronisation itself makes the pass slower).
    pub fn profile(&self, images: &Tensor) -> candle_core::Result<Vec<(&'static str, Duration)>> {
        let mut steps = Steps {
            times: Some((images.device().clone(), HashMap::new())),
        };
        self.run(images, &mut steps)?;
        let mut times: Vec<_> = steps
            .times
            .map(|(_, t)| t)
            .unwrap_or_default()
            .into_iter()
            .collect();
        times.sort_by_key(|&(_, time)| std::cmp::Reverse(time));
        Ok(times)
    }

    fn run(&self, images: &Tensor, steps: &mut Steps) -> candle_core::Result<Tensor> {
        let dtype = self.stem.kernel.dtype();
        let xs = steps.run("input to channels-last", || {
            images.to_dtype(dtype)?.permute((0, 2, 3, 1))?.contiguous()
        })?;
        let xs = self.stem.forward(&xs, None, steps)?;
        // BiT's fixed stem: zero padding, then a 3×3 max pool of stride 2 without padding.
        let xs = steps.run("stem max pool", || {
            xs.contiguous()?.apply_op1_no_bwd(&StemMaxPoolNhwc)
        })?;
        let xs = self.blocks.iter().try_fold(xs, |xs, block| {
            let preact = steps.run("group norm + relu", || block.norm1.forward(&xs))?;
            // The block's sum accumulates into the shortcut: the identity shortcut is the block's
            // input, read by nothing after `norm1`, so it is summed into in place.
            let sum = match &block.downsample {
                Some((projection, stride)) => one_by_one(&preact, projection, *stride, steps)?,
                None => xs,
            };
            let ys = one_by_one(&preact, &block.conv1, 1, steps)?;
            let ys = block.conv2.forward(&ys, Some(&block.norm2), steps)?;
            let ys = steps.run("group norm + relu", || block.norm3.forward(&ys))?;
            steps.run("1x1 convolution + residual (GEMM)", || {
                sum.inplace_op3(&ys, &block.conv3, &AccumulateProduct)?;
                Ok(sum)
            })
        })?;
        steps.run("group norm + relu", || self.norm.forward(&xs))
    }
}

/// Runs the operators of a pass, timing each kind when profiling.
struct Steps {
    times: Option<(candle_core::Device, HashMap<&'static str, Duration>)>,
}

impl Steps {
    fn run<T>(
        &mut self,
        name: &'static str,
        operator: impl FnOnce() -> candle_core::Result<T>,
    ) -> candle_core::Result<T> {
        let Some((device, times)) = &mut self.times else {
            return operator();
        };
        device.synchronize()?;
        let start = Instant::now();
        let out = operator()?;
        device.synchronize()?;
        *times.entry(name).or_default() += start.elapsed();
        Ok(out)
    }
}

/// A 1×1 convolution of stride `stride` as one matrix product.
fn one_by_one(
    xs: &Tensor,
    matrix: &Tensor,
    stride: usize,
    steps: &mut Steps,
) -> candle_core::Result<Tensor> {
    let strided = StridedProduct { stride };
    if stride > 1 && strided.applies_to(xs) {
        return steps.run("strided 1x1 convolution (GEMM)", || {
            xs.contiguous()?.apply_op2_no_bwd(matrix, &strided)
        });
    }
    let xs = if stride == 1 {
        xs.clone()
    } else {
        steps.run("strided shortcut pixels", || subsample(xs, stride))?
    };
    let (batch, height, width, _) = xs.dims4()?;
    steps.run("1x1 convolution (GEMM)", || {
        xs.flatten_to(2)?
            .matmul(matrix)?
            .reshape((batch, height, width, matrix.dim(1)?))
    })
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

#[cfg(feature = "cuda")]
impl GroupNormReluOp {
    /// The kernels' view of an input `dims` with these weights and biases.
    fn shape(
        &self,
        dims: &[usize],
        weight: &Layout,
        bias: &Layout,
    ) -> candle_core::Result<kernels::GroupNormShape> {
        self.check(dims, weight.shape().elem_count(), bias.shape().elem_count())?;
        Ok(kernels::GroupNormShape {
            batch: dims[0],
            pixels: dims[1] * dims[2],
            channels: dims[3],
            groups: self.groups,
            eps: self.eps as f32,
        })
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
        let storage = kernels::group_norm_relu(
            kernels::Operands {
                input: (input, input_layout),
                weight: (weight, weight_layout),
                bias: (bias, bias_layout),
            },
            self.shape(input_layout.shape().dims(), weight_layout, bias_layout)?,
        )?;
        Ok((storage, input_layout.shape().clone()))
    }
}

/// BiT's stem pool over `(batch, height, width, channels)`: zero padding of one pixel, then a
/// 3×3 max pool of stride 2 (the zeros take part: the stem's output is not rectified yet).
struct StemMaxPoolNhwc;

impl StemMaxPoolNhwc {
    fn output_dims(dims: &[usize]) -> candle_core::Result<[usize; 4]> {
        let [batch, height, width, channels] = dims else {
            candle_core::bail!("stem-max-pool-nhwc: input {dims:?} is not 4-d");
        };
        if *height == 0 || *width == 0 {
            candle_core::bail!("stem-max-pool-nhwc: empty input {dims:?}");
        }
        // (extent + 2 - 3) / 2 + 1
        Ok([*batch, (height - 1) / 2 + 1, (width - 1) / 2 + 1, *channels])
    }
}

impl CustomOp1 for StemMaxPoolNhwc {
    fn name(&self) -> &'static str {
        "stem-max-pool-nhwc"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let values = cpu_values(self.name(), storage, layout)?;
        let dims = layout.shape().dims();
        let [batch, out_h, out_w, channels] = Self::output_dims(dims)?;
        let (height, width) = (dims[1], dims[2]);
        let mut output = vec![0f32; batch * out_h * out_w * channels];
        for (row, out) in output.chunks_exact_mut(channels).enumerate() {
            let x = row % out_w;
            let y = (row / out_w) % out_h;
            let image = row / (out_w * out_h);
            out.fill(f32::NEG_INFINITY);
            for ky in 0..3 {
                for kx in 0..3 {
                    let (iy, ix) = ((2 * y + ky).checked_sub(1), (2 * x + kx).checked_sub(1));
                    match (iy, ix) {
                        (Some(iy), Some(ix)) if iy < height && ix < width => {
                            let at = ((image * height + iy) * width + ix) * channels;
                            for (o, &v) in out.iter_mut().zip(&values[at..at + channels]) {
                                *o = o.max(v);
                            }
                        }
                        // A padding zero.
                        _ => out.iter_mut().for_each(|o| *o = o.max(0.0)),
                    }
                }
            }
        }
        Ok((
            CpuStorage::F32(output),
            Shape::from(&[batch, out_h, out_w, channels][..]),
        ))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        storage: &candle_core::CudaStorage,
        layout: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let dims = layout.shape().dims();
        let out = Self::output_dims(dims)?;
        let storage = kernels::stem_max_pool(storage, layout, [dims[1], dims[2]], out)?;
        Ok((storage, Shape::from(&out[..])))
    }
}

/// `sum += xs · matrix` in place, `xs` `(batch, h, w, inner)` and `sum` `(batch, h, w, out)`:
/// a bottleneck's last 1×1 convolution and its residual sum as one cuBLAS product (β = 1), so
/// the sum costs no pass of its own.
struct AccumulateProduct;

impl AccumulateProduct {
    /// `(rows, inner, out)` of the product, or an error naming the shapes.
    fn dims(sum: &Layout, xs: &Layout, matrix: &Layout) -> candle_core::Result<[usize; 3]> {
        let (sum_dims, xs_dims) = (sum.shape().dims(), xs.shape().dims());
        match (
            matrix.shape().dims(),
            sum_dims.split_last(),
            xs_dims.split_last(),
        ) {
            (&[inner, out], Some((&sum_out, sum_rows)), Some((&xs_inner, xs_rows)))
                if sum_out == out && xs_inner == inner && sum_rows == xs_rows =>
            {
                Ok([sum_rows.iter().product(), inner, out])
            }
            _ => candle_core::bail!(
                "accumulate-product: {sum_dims:?} += {xs_dims:?} · {:?}",
                matrix.shape().dims()
            ),
        }
    }
}

impl InplaceOp3 for AccumulateProduct {
    fn name(&self) -> &'static str {
        "accumulate-product"
    }

    fn cpu_fwd(
        &self,
        sum: &mut CpuStorage,
        sum_layout: &Layout,
        xs: &CpuStorage,
        xs_layout: &Layout,
        matrix: &CpuStorage,
        matrix_layout: &Layout,
    ) -> candle_core::Result<()> {
        let [rows, inner, out] = Self::dims(sum_layout, xs_layout, matrix_layout)?;
        let device = candle_core::Device::Cpu;
        let xs = Tensor::from_slice(
            cpu_values(self.name(), xs, xs_layout)?,
            (rows, inner),
            &device,
        )?;
        let matrix = Tensor::from_slice(
            cpu_values(self.name(), matrix, matrix_layout)?,
            (inner, out),
            &device,
        )?;
        let product = xs.matmul(&matrix)?.flatten_all()?.to_vec1::<f32>()?;
        let Some((start, end)) = sum_layout.contiguous_offsets() else {
            candle_core::bail!("accumulate-product: the sum must be contiguous");
        };
        let CpuStorage::F32(values) = sum else {
            candle_core::bail!("accumulate-product: the CPU version takes f32 only");
        };
        values[start..end]
            .iter_mut()
            .zip(product)
            .for_each(|(value, term)| *value += term);
        Ok(())
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        sum: &mut candle_core::CudaStorage,
        sum_layout: &Layout,
        xs: &candle_core::CudaStorage,
        xs_layout: &Layout,
        matrix: &candle_core::CudaStorage,
        matrix_layout: &Layout,
    ) -> candle_core::Result<()> {
        let dims = Self::dims(sum_layout, xs_layout, matrix_layout)?;
        kernels::accumulate_product(
            (sum, sum_layout),
            (xs, xs_layout),
            (matrix, matrix_layout),
            dims,
        )
    }
}

/// A 1×1 convolution of stride `stride` whose input's height and width divide by the stride: on
/// a GPU one batched cuBLAS product that reads the kept pixels in place (see
/// [`kernels::strided_product`]) instead of a strided copy and then a product.
struct StridedProduct {
    stride: usize,
}

impl StridedProduct {
    fn geometry(
        &self,
        xs: &Layout,
        matrix: &Layout,
    ) -> candle_core::Result<kernels::StridedGeometry> {
        let (batch, height, width, channels) = xs.shape().dims4()?;
        let (inner, outputs) = matrix.shape().dims2()?;
        if inner != channels || height % self.stride != 0 || width % self.stride != 0 {
            candle_core::bail!(
                "strided-product: {:?} · {:?} at stride {}",
                xs.shape().dims(),
                matrix.shape().dims(),
                self.stride
            );
        }
        Ok(kernels::StridedGeometry {
            batch,
            width,
            channels,
            stride: self.stride,
            out_h: height / self.stride,
            out_w: width / self.stride,
            outputs,
        })
    }

    fn applies_to(&self, xs: &Tensor) -> bool {
        xs.dims4().is_ok_and(|(_, height, width, _)| {
            height % self.stride == 0 && width % self.stride == 0
        })
    }
}

impl CustomOp2 for StridedProduct {
    fn name(&self) -> &'static str {
        "strided-product"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xs_layout: &Layout,
        matrix: &CpuStorage,
        matrix_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = self.geometry(xs_layout, matrix_layout)?;
        let device = candle_core::Device::Cpu;
        let xs = Tensor::from_slice(
            cpu_values(self.name(), xs, xs_layout)?,
            xs_layout.shape(),
            &device,
        )?;
        let matrix = Tensor::from_slice(
            cpu_values(self.name(), matrix, matrix_layout)?,
            matrix_layout.shape(),
            &device,
        )?;
        let product = subsample(&xs, self.stride)?
            .flatten_to(2)?
            .matmul(&matrix)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        Ok((
            CpuStorage::F32(product),
            Shape::from((g.batch, g.out_h, g.out_w, g.outputs)),
        ))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        xs: &candle_core::CudaStorage,
        xs_layout: &Layout,
        matrix: &candle_core::CudaStorage,
        matrix_layout: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let g = self.geometry(xs_layout, matrix_layout)?;
        let storage = kernels::strided_product((xs, xs_layout), (matrix, matrix_layout), &g)?;
        Ok((storage, Shape::from((g.batch, g.out_h, g.out_w, g.outputs))))
    }
}

/// GroupNorm + ReLU, then the k×k patch gather of the result, as one operator: on a GPU the
/// gather normalises what it copies (see [`kernels::normalised_im2col`]).
struct NormalisedIm2ColNhwc {
    norm: GroupNormReluOp,
    gather: Im2ColNhwc,
}

impl CustomOp3 for NormalisedIm2ColNhwc {
    fn name(&self) -> &'static str {
        "normalised-im2col-nhwc"
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
        let (normalised, shape) = self.norm.cpu_fwd(
            input,
            input_layout,
            weight,
            weight_layout,
            bias,
            bias_layout,
        )?;
        self.gather.cpu_fwd(&normalised, &Layout::contiguous(shape))
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
        let norm = self.norm.shape(dims, weight_layout, bias_layout)?;
        let patches = self.gather.geometry(dims)?;
        let columns = patches.size * patches.size * patches.channels;
        let storage = kernels::normalised_im2col(
            kernels::Operands {
                input: (input, input_layout),
                weight: (weight, weight_layout),
                bias: (bias, bias_layout),
            },
            norm,
            &patches,
        )?;
        Ok((storage, Shape::from((patches.rows(), columns))))
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

    /// The shape of a strided 1×1 convolution over `(batch, height, width, channels)` into
    /// `outputs` channels.
    #[cfg_attr(not(feature = "cuda"), allow(dead_code))]
    pub(super) struct StridedGeometry {
        pub batch: usize,
        pub width: usize,
        pub channels: usize,
        pub stride: usize,
        pub out_h: usize,
        pub out_w: usize,
        pub outputs: usize,
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
        use candle_core::cuda_backend::cudarc::cublas::sys::cublasOperation_t;
        use candle_core::cuda_backend::cudarc::cublas::{
            CudaBlas, Gemm, GemmConfig, StridedBatchedConfig,
        };
        use candle_core::cuda_backend::cudarc::driver::{
            CudaSlice, CudaView, CudaViewMut, DeviceRepr, LaunchConfig, PushKernelArg,
        };
        use candle_core::cuda_backend::{CudaDType, CudaStorageSlice, WrapErr};
        use candle_core::{CudaStorage, Layout};

        use super::{PatchShape, StridedGeometry};

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

#define MAX_GROUPS 128

// N adjacent channels of one pixel, moved as one aligned load or store (16 bytes when N > 1).
template <typename T, int N> struct alignas(sizeof(T) * N) Pack { T v[N]; };
// A channel's normalisation in one image: y = max(0, x * scale + shift).
struct alignas(8) Affine { float scale, shift; };

// The GroupNorm kernels' threads: `vectors` packs per pixel times `lanes` pixels at once. Thread t
// keeps pack t % vectors of its pixels (so it keeps its channels), and a block covers `rows`
// pixels of one image.
struct Tile {
    int image, first, last, lanes, v, lane;
    __device__ Tile(int pixels, int vectors, int rows) {
        int chunks = (pixels + rows - 1) / rows;
        image = blockIdx.x / chunks;
        first = (blockIdx.x % chunks) * rows;
        last = min(first + rows, pixels);
        lanes = blockDim.x / vectors;
        v = threadIdx.x % vectors;
        lane = threadIdx.x / vectors;
    }
};

// Pass 1: per (image, group) sums of values and squares. Each thread sums its N channels over its
// pixels, folds them into the block's group totals (shared memory), and the block adds those into
// `stats` (double: many blocks add into one group).
template <typename T, int N>
__device__ void group_stats(const T* x, double* stats, int pixels, int vectors, int per_group,
                            int groups, int rows) {
    __shared__ float sums[MAX_GROUPS], squares[MAX_GROUPS];
    Tile tile(pixels, vectors, rows);
    for (int g = threadIdx.x; g < groups; g += blockDim.x) { sums[g] = 0.0f; squares[g] = 0.0f; }
    __syncthreads();
    float s[N], q[N];
#pragma unroll
    for (int j = 0; j < N; ++j) { s[j] = 0.0f; q[j] = 0.0f; }
    const Pack<T, N>* in = (const Pack<T, N>*)x + (unsigned)tile.image * pixels * vectors + tile.v;
    for (int p = tile.first + tile.lane; p < tile.last; p += tile.lanes) {
        Pack<T, N> pack = in[(unsigned)p * vectors];
#pragma unroll
        for (int j = 0; j < N; ++j) { float f = load(pack.v, j); s[j] += f; q[j] += f * f; }
    }
    int first_channel = tile.v * N, g = first_channel / per_group;
    float group_sum = 0.0f, group_square = 0.0f;
#pragma unroll
    for (int j = 0; j < N; ++j) {
        int gj = (first_channel + j) / per_group;
        if (gj != g) {
            atomicAdd(&sums[g], group_sum); atomicAdd(&squares[g], group_square);
            group_sum = 0.0f; group_square = 0.0f; g = gj;
        }
        group_sum += s[j]; group_square += q[j];
    }
    atomicAdd(&sums[g], group_sum); atomicAdd(&squares[g], group_square);
    __syncthreads();
    for (int k = threadIdx.x; k < groups; k += blockDim.x) {
        atomicAdd(&stats[2 * (tile.image * groups + k)], (double)sums[k]);
        atomicAdd(&stats[2 * (tile.image * groups + k) + 1], (double)squares[k]);
    }
}

// Each (image, channel)'s scale and shift from the group sums, GroupNorm's weight and bias.
template <typename T>
__device__ void group_affine(const double* stats, const T* weight, const T* bias, Affine* affine,
                             int batch, int channels, int per_group, int groups, int pixels,
                             float eps) {
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (unsigned)batch * channels) return;
    int c = i % channels, image = i / channels, g = c / per_group;
    double count = (double)pixels * per_group;
    double mean = stats[2 * (image * groups + g)] / count;
    double variance = stats[2 * (image * groups + g) + 1] / count - mean * mean;
    float scale = rsqrtf((float)(variance > 0.0 ? variance : 0.0) + eps) * load(weight, c);
    affine[i].scale = scale;
    affine[i].shift = load(bias, c) - (float)mean * scale;
}

template <typename T, int N>
__device__ void load_affine(const Affine* affine, int image, int vectors, int v, float* scale,
                            float* shift) {
    const Affine* a = affine + ((unsigned)image * vectors + v) * N;
#pragma unroll
    for (int j = 0; j < N; ++j) { scale[j] = a[j].scale; shift[j] = a[j].shift; }
}

template <typename T, int N>
__device__ Pack<T, N> normalise(Pack<T, N> pack, const float* scale, const float* shift) {
    Pack<T, N> out;
#pragma unroll
    for (int j = 0; j < N; ++j) {
        float f = load(pack.v, j) * scale[j] + shift[j];
        store(out.v, j, f > 0.0f ? f : 0.0f);
    }
    return out;
}

// Pass 2: normalise, scale, shift, rectify.
template <typename T, int N>
__device__ void group_apply(const T* x, T* y, const Affine* affine, int pixels, int vectors,
                            int rows) {
    Tile tile(pixels, vectors, rows);
    float scale[N], shift[N];
    load_affine<T, N>(affine, tile.image, vectors, tile.v, scale, shift);
    unsigned base = (unsigned)tile.image * pixels * vectors + tile.v;
    const Pack<T, N>* in = (const Pack<T, N>*)x + base;
    Pack<T, N>* out = (Pack<T, N>*)y + base;
    for (int p = tile.first + tile.lane; p < tile.last; p += tile.lanes)
        out[(unsigned)p * vectors] = normalise<T, N>(in[(unsigned)p * vectors], scale, shift);
}

// The k*k patch gather of the normalised, rectified input: a thread takes one pack of one output
// pixel and writes it for every tap (zeros outside the image: the convolution pads its
// normalised input), so the normalised tensor is never written out.
template <typename T, int N>
__device__ void im2col_normalised(const T* x, T* out, const Affine* affine, int height, int width,
                                  int vectors, int size, int stride, int padding, int out_h,
                                  int out_w, unsigned rows) {
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= rows * vectors) return;
    int v = i % vectors;
    unsigned row = i / vectors;
    int ox = row % out_w, oy = (row / out_w) % out_h, n = row / (out_w * out_h);
    float scale[N], shift[N];
    load_affine<T, N>(affine, n, vectors, v, scale, shift);
    const Pack<T, N>* in = (const Pack<T, N>*)x + (unsigned)n * height * width * vectors + v;
    Pack<T, N>* o = (Pack<T, N>*)out + row * size * size * vectors + v;
    Pack<T, N> zero;
#pragma unroll
    for (int j = 0; j < N; ++j) store(zero.v, j, 0.0f);
    for (int ky = 0; ky < size; ++ky) {
        int iy = oy * stride - padding + ky;
        for (int kx = 0; kx < size; ++kx) {
            int ix = ox * stride - padding + kx;
            bool inside = iy >= 0 && iy < height && ix >= 0 && ix < width;
            o[(ky * size + kx) * vectors] =
                inside ? normalise<T, N>(in[((unsigned)iy * width + ix) * vectors], scale, shift)
                       : zero;
        }
    }
}

// The k*k patch gather: thread i writes the i-th vector of the output, `vectors` elements of V
// per tap (16-byte vectors when a pixel's channels fill whole vectors); zeros outside the image.
template <typename V>
__device__ void im2col(const V* x, V* out, int height, int width, int vectors, int size,
                       int stride, int padding, int out_h, int out_w, unsigned count) {
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= count) return;
    unsigned per_row = size * size * vectors, row = i / per_row;
    int within = i % per_row, v = within % vectors, tap = within / vectors;
    int ox = row % out_w, oy = (row / out_w) % out_h, n = row / (out_w * out_h);
    int iy = oy * stride - padding + tap / size, ix = ox * stride - padding + tap % size;
    V value{};
    if (iy >= 0 && iy < height && ix >= 0 && ix < width)
        value = x[(((unsigned)n * height + iy) * width + ix) * vectors + v];
    out[i] = value;
}

#define GROUP_NORM(SUFFIX, T, N) \
extern "C" __global__ void group_stats_nhwc_##SUFFIX##_v##N(const T* x, double* stats, int pixels, \
        int vectors, int per_group, int groups, int rows) { \
    group_stats<T, N>(x, stats, pixels, vectors, per_group, groups, rows); } \
extern "C" __global__ void group_apply_nhwc_##SUFFIX##_v##N(const T* x, T* y, const Affine* affine, \
        int pixels, int vectors, int rows) { group_apply<T, N>(x, y, affine, pixels, vectors, rows); } \
extern "C" __global__ void im2col_normalised_nhwc_##SUFFIX##_v##N(const T* x, T* out, \
        const Affine* affine, int height, int width, int vectors, int size, int stride, int padding, \
        int out_h, int out_w, unsigned rows) { \
    im2col_normalised<T, N>(x, out, affine, height, width, vectors, size, stride, padding, out_h, \
                            out_w, rows); }
#define GROUP_AFFINE(SUFFIX, T) \
extern "C" __global__ void group_affine_##SUFFIX(const double* stats, const T* weight, const T* bias, \
        Affine* affine, int batch, int channels, int per_group, int groups, int pixels, float eps) { \
    group_affine<T>(stats, weight, bias, affine, batch, channels, per_group, groups, pixels, eps); }
GROUP_NORM(f32, float, 4)
GROUP_NORM(f32, float, 1)
GROUP_NORM(f16, f16, 8)
GROUP_NORM(f16, f16, 1)
GROUP_NORM(bf16, bf16, 8)
GROUP_NORM(bf16, bf16, 1)
GROUP_AFFINE(f32, float)
GROUP_AFFINE(f16, f16)
GROUP_AFFINE(bf16, bf16)

#define IM2COL(NAME, V) \
extern "C" __global__ void NAME(const V* x, V* out, int height, int width, int vectors, \
        int size, int stride, int padding, int out_h, int out_w, unsigned count) { \
    im2col<V>(x, out, height, width, vectors, size, stride, padding, out_h, out_w, count); }
IM2COL(im2col_nhwc_v16, v16)
IM2COL(im2col_nhwc_v4, unsigned int)
IM2COL(im2col_nhwc_v2, unsigned short)

// One block per output pixel, threads over channels; taps outside the image are padding zeros.
template <typename T>
__device__ void stem_max_pool(const T* x, T* y, int height, int width, int channels,
                              int out_h, int out_w) {
    unsigned row = blockIdx.x;
    int ox = row % out_w, oy = (row / out_w) % out_h, n = row / (out_w * out_h);
    for (int c = threadIdx.x; c < channels; c += blockDim.x) {
        float best = -3.0e38f;
        for (int ky = 0; ky < 3; ++ky) {
            for (int kx = 0; kx < 3; ++kx) {
                int iy = 2 * oy + ky - 1, ix = 2 * ox + kx - 1;
                float v = 0.0f;
                if (iy >= 0 && iy < height && ix >= 0 && ix < width)
                    v = load(x, (((unsigned)n * height + iy) * width + ix) * channels + c);
                best = v > best ? v : best;
            }
        }
        store(y, row * channels + c, best);
    }
}

#define STEM_POOL(SUFFIX, T) \
extern "C" __global__ void stem_max_pool_nhwc_##SUFFIX(const T* x, T* y, int height, int width, \
        int channels, int out_h, int out_w) { \
    stem_max_pool<T>(x, y, height, width, channels, out_h, out_w); }
STEM_POOL(f32, float)
STEM_POOL(f16, f16)
STEM_POOL(bf16, bf16)
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

        /// Threads the GroupNorm kernels aim for per block.
        const NORM_THREADS: usize = 256;
        /// Pixels each GroupNorm thread covers per block.
        const PIXELS_PER_THREAD: usize = 8;
        /// The kernels' `MAX_GROUPS`, and the most packs of a pixel one block takes.
        const MAX_GROUPS: usize = 128;
        const MAX_PACKS: usize = 1024;

        /// Fails unless the kernels' 32-bit indices reach `elements`.
        fn fits_u32(elements: usize, what: &str) -> candle_core::Result<()> {
            if elements > u32::MAX as usize {
                candle_core::bail!(
                    "{what}: {elements} elements exceed the kernels' 32-bit indices; use smaller batches"
                )
            }
            Ok(())
        }

        /// The suffix naming a dtype's kernels.
        fn suffix(storage: &CudaStorage) -> candle_core::Result<&'static str> {
            Ok(match &storage.slice {
                CudaStorageSlice::F32(_) => "f32",
                CudaStorageSlice::F16(_) => "f16",
                CudaStorageSlice::BF16(_) => "bf16",
                _ => candle_core::bail!("channels-last kernels: f32, f16 or bf16 only"),
            })
        }

        /// Channels moved per load: 16 bytes' worth when the channels and the tensor's offset
        /// allow it, else one.
        fn pack_width(storage: &CudaStorage, layout: &Layout, channels: usize) -> usize {
            let width = 16 / storage.dtype().size_in_bytes();
            if channels % width == 0 && layout.start_offset() % width == 0 {
                width
            } else {
                1
            }
        }

        /// The contiguous view of an operand in the element type `T` the launch dispatched on.
        fn view<'a, T: CudaDType>(
            operand: (&'a CudaStorage, &Layout),
            what: &str,
        ) -> candle_core::Result<CudaView<'a, T>> {
            contiguous(T::as_cuda_slice(operand.0)?, operand.1, what)
        }

        /// Calls `$launch::<T>(args)` with `T` the element type of `$dtype`.
        macro_rules! by_dtype {
            ($dtype:expr, $what:expr, $launch:ident($($arg:expr),*)) => {
                match $dtype {
                    candle_core::DType::F32 => $launch::<f32>($($arg),*),
                    candle_core::DType::F16 => $launch::<half::f16>($($arg),*),
                    candle_core::DType::BF16 => $launch::<half::bf16>($($arg),*),
                    other => candle_core::bail!("{}: f32, f16 or bf16 only, not {other:?}", $what),
                }
            };
        }

        /// A GroupNorm's launch geometry: threads cover `vectors` packs of a pixel times some
        /// pixels, a block `rows` pixels of one image.
        struct NormTiles {
            width: usize,
            vectors: i32,
            rows: i32,
            config: LaunchConfig,
        }

        impl NormTiles {
            fn new(
                operands: &Operands<'_>,
                shape: &GroupNormShape,
                what: &str,
            ) -> candle_core::Result<Self> {
                fits_u32(shape.batch * shape.pixels * shape.channels, what)?;
                let (input, layout) = operands.input;
                let width = pack_width(input, layout, shape.channels);
                let vectors = shape.channels / width;
                if vectors > MAX_PACKS || shape.groups > MAX_GROUPS {
                    candle_core::bail!(
                        "{what}: at most {MAX_PACKS} loads per pixel in {MAX_GROUPS} groups, not {vectors} in {}",
                        shape.groups
                    );
                }
                let lanes = (NORM_THREADS / vectors).max(1);
                let rows = lanes * PIXELS_PER_THREAD;
                let blocks = shape.batch * shape.pixels.div_ceil(rows);
                Ok(Self {
                    width,
                    vectors: as_i32(vectors)?,
                    rows: as_i32(rows)?,
                    config: LaunchConfig {
                        grid_dim: (as_i32(blocks)? as u32, 1, 1),
                        block_dim: ((vectors * lanes) as u32, 1, 1),
                        shared_mem_bytes: 0,
                    },
                })
            }
        }

        /// Every (image, channel)'s GroupNorm scale and shift, `(batch, channels, 2)` f32: the
        /// group sums of the input, then each channel's affine map.
        fn group_affine<T: CudaDType + DeviceRepr>(
            operands: &Operands<'_>,
            shape: &GroupNormShape,
            tiles: &NormTiles,
            what: &str,
        ) -> candle_core::Result<CudaSlice<f32>> {
            let device = operands.input.0.device();
            let suffix = suffix(operands.input.0)?;
            let stats = device.alloc_zeros::<f64>(2 * shape.batch * shape.groups)?;
            // SAFETY: the second kernel below writes every element.
            let affine = unsafe { device.alloc::<f32>(2 * shape.batch * shape.channels)? };
            let per_group = as_i32(shape.channels / shape.groups)?;
            let (pixels, groups) = (as_i32(shape.pixels)?, as_i32(shape.groups)?);
            let (batch, channels) = (as_i32(shape.batch)?, as_i32(shape.channels)?);
            let input = view::<T>(operands.input, what)?;
            let (weight, bias) = (
                view::<T>(operands.weight, what)?,
                view::<T>(operands.bias, what)?,
            );
            let func = device.get_or_load_custom_func(
                &format!("group_stats_nhwc_{suffix}_v{}", tiles.width),
                MODULE,
                ptx()?,
            )?;
            let mut builder = func.builder();
            builder.arg(&input).arg(&stats);
            builder.arg(&pixels).arg(&tiles.vectors).arg(&per_group);
            builder.arg(&groups).arg(&tiles.rows);
            // SAFETY: the arguments match the kernel's signature.
            unsafe { builder.launch(tiles.config) }.w()?;
            let func = device.get_or_load_custom_func(
                &format!("group_affine_{suffix}"),
                MODULE,
                ptx()?,
            )?;
            let config = LaunchConfig {
                grid_dim: (
                    as_i32((shape.batch * shape.channels).div_ceil(256))? as u32,
                    1,
                    1,
                ),
                block_dim: (256, 1, 1),
                shared_mem_bytes: 0,
            };
            let mut builder = func.builder();
            builder.arg(&stats).arg(&weight).arg(&bias).arg(&affine);
            builder
                .arg(&batch)
                .arg(&channels)
                .arg(&per_group)
                .arg(&groups);
            builder.arg(&pixels).arg(&shape.eps);
            // SAFETY: the arguments match the kernel's signature.
            unsafe { builder.launch(config) }.w()?;
            Ok(affine)
        }

        /// Launches the fused GroupNorm + ReLU: group sums, each channel's affine map, then
        /// normalisation.
        pub fn group_norm_relu(
            operands: Operands<'_>,
            shape: GroupNormShape,
        ) -> candle_core::Result<CudaStorage> {
            const WHAT: &str = "group-norm-relu-nhwc";
            fn launch<T: CudaDType + DeviceRepr>(
                operands: &Operands<'_>,
                shape: &GroupNormShape,
            ) -> candle_core::Result<CudaStorage> {
                let device = operands.input.0.device();
                let tiles = NormTiles::new(operands, shape, WHAT)?;
                let affine = group_affine::<T>(operands, shape, &tiles, WHAT)?;
                let name = format!(
                    "group_apply_nhwc_{}_v{}",
                    suffix(operands.input.0)?,
                    tiles.width
                );
                let func = device.get_or_load_custom_func(&name, MODULE, ptx()?)?;
                let input = view::<T>(operands.input, WHAT)?;
                // SAFETY: every element is written by the kernel below.
                let y = unsafe { device.alloc::<T>(shape.batch * shape.pixels * shape.channels)? };
                let pixels = as_i32(shape.pixels)?;
                let mut builder = func.builder();
                builder.arg(&input).arg(&y).arg(&affine);
                builder.arg(&pixels).arg(&tiles.vectors).arg(&tiles.rows);
                // SAFETY: the arguments match the kernel's signature.
                unsafe { builder.launch(tiles.config) }.w()?;
                Ok(T::wrap_cuda_slice(y, device.clone()))
            }
            by_dtype!(operands.input.0.dtype(), WHAT, launch(&operands, &shape))
        }

        /// Launches the patch gather of the GroupNorm'd and rectified input: group sums, each
        /// channel's affine map, then a gather that normalises what it copies (one thread per
        /// pack of an output pixel, through every tap).
        pub fn normalised_im2col(
            operands: Operands<'_>,
            norm: GroupNormShape,
            patches: &PatchShape,
        ) -> candle_core::Result<CudaStorage> {
            const WHAT: &str = "normalised-im2col-nhwc";
            fn launch<T: CudaDType + DeviceRepr>(
                operands: &Operands<'_>,
                norm: &GroupNormShape,
                patches: &PatchShape,
            ) -> candle_core::Result<CudaStorage> {
                let device = operands.input.0.device();
                let tiles = NormTiles::new(operands, norm, WHAT)?;
                let affine = group_affine::<T>(operands, norm, &tiles, WHAT)?;
                let taps = patches.size * patches.size;
                let vectors = patches.channels / tiles.width;
                fits_u32(patches.rows() * taps * vectors, WHAT)?;
                let config = LaunchConfig {
                    grid_dim: (
                        as_i32((patches.rows() * vectors).div_ceil(256))? as u32,
                        1,
                        1,
                    ),
                    block_dim: (256, 1, 1),
                    shared_mem_bytes: 0,
                };
                let name = format!(
                    "im2col_normalised_nhwc_{}_v{}",
                    suffix(operands.input.0)?,
                    tiles.width
                );
                let func = device.get_or_load_custom_func(&name, MODULE, ptx()?)?;
                let args = [
                    patches.height,
                    patches.width,
                    vectors,
                    patches.size,
                    patches.stride,
                    patches.padding,
                    patches.out_h,
                    patches.out_w,
                ]
                .map(as_i32)
                .into_iter()
                .collect::<candle_core::Result<Vec<i32>>>()?;
                let rows = patches.rows() as u32;
                let input = view::<T>(operands.input, WHAT)?;
                // SAFETY: every element is written by the kernel below.
                let out = unsafe { device.alloc::<T>(patches.rows() * taps * patches.channels)? };
                let mut builder = func.builder();
                builder.arg(&input).arg(&out).arg(&affine);
                for value in &args {
                    builder.arg(value);
                }
                builder.arg(&rows);
                // SAFETY: the arguments match the kernel's signature.
                unsafe { builder.launch(config) }.w()?;
                Ok(T::wrap_cuda_slice(out, device.clone()))
            }
            by_dtype!(
                operands.input.0.dtype(),
                WHAT,
                launch(&operands, &norm, patches)
            )
        }

        /// Launches the patch gather: one thread per output vector, copying each tap's channels
        /// in the widest vectors (16, 4 or 2 bytes) that divide a pixel and its alignment.
        pub fn im2col(
            storage: &CudaStorage,
            layout: &Layout,
            shape: &PatchShape,
        ) -> candle_core::Result<CudaStorage> {
            const WHAT: &str = "im2col-nhwc";
            fn launch<T: CudaDType + DeviceRepr>(
                storage: &CudaStorage,
                layout: &Layout,
                shape: &PatchShape,
            ) -> candle_core::Result<CudaStorage> {
                let device = storage.device();
                let element_bytes = std::mem::size_of::<T>();
                let pixel_bytes = shape.channels * element_bytes;
                let offset_bytes = layout.start_offset() * element_bytes;
                let vector_bytes = [16, 4, 2]
                    .into_iter()
                    .find(|v| pixel_bytes % v == 0 && offset_bytes % v == 0)
                    .unwrap_or(element_bytes);
                let vectors = pixel_bytes / vector_bytes;
                let count = shape.rows() * shape.size * shape.size * vectors;
                fits_u32(count, WHAT)?;
                fits_u32(
                    layout.shape().elem_count() * element_bytes / vector_bytes,
                    WHAT,
                )?;
                let name = match vector_bytes {
                    16 => "im2col_nhwc_v16",
                    4 => "im2col_nhwc_v4",
                    2 => "im2col_nhwc_v2",
                    other => candle_core::bail!("{WHAT}: {other}-byte elements"),
                };
                let config = LaunchConfig {
                    grid_dim: (as_i32(count.div_ceil(256))? as u32, 1, 1),
                    block_dim: (256, 1, 1),
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
                let input = view::<T>((storage, layout), WHAT)?;
                let elements = shape.rows() * shape.size * shape.size * shape.channels;
                // SAFETY: every element is written by the kernel below.
                let out = unsafe { device.alloc::<T>(elements)? };
                let mut builder = func.builder();
                builder.arg(&input).arg(&out);
                for value in &args {
                    builder.arg(value);
                }
                let count = count as u32;
                builder.arg(&count);
                // SAFETY: the arguments match the kernel's signature; the kernel copies bits.
                unsafe { builder.launch(config) }.w()?;
                Ok(T::wrap_cuda_slice(out, device.clone()))
            }
            by_dtype!(storage.dtype(), WHAT, launch(storage, layout, shape))
        }

        /// A column-major cuBLAS product `c = a · b (+ c)`, batched with element strides
        /// (`stride_a` 0: every batch multiplies the same `a`), accumulating in f32.
        struct Product {
            m: usize,
            n: usize,
            k: usize,
            ld: [usize; 3],
            batch: usize,
            strides: [usize; 3],
            accumulate: bool,
        }

        impl Product {
            fn run<T: DeviceRepr + candle_core::WithDType>(
                &self,
                blas: &CudaBlas,
                a: &CudaView<'_, T>,
                b: &CudaView<'_, T>,
                c: &mut CudaViewMut<'_, T>,
            ) -> candle_core::Result<()>
            where
                CudaBlas: Gemm<T>,
            {
                let long = |value: usize| {
                    i64::try_from(value)
                        .map_err(|_| candle_core::Error::Msg(format!("{value} exceeds i64")))
                };
                let config = StridedBatchedConfig {
                    gemm: GemmConfig {
                        transa: cublasOperation_t::CUBLAS_OP_N,
                        transb: cublasOperation_t::CUBLAS_OP_N,
                        m: as_i32(self.m)?,
                        n: as_i32(self.n)?,
                        k: as_i32(self.k)?,
                        alpha: T::from_f64(1.0),
                        lda: as_i32(self.ld[0])?,
                        ldb: as_i32(self.ld[1])?,
                        beta: T::from_f64(if self.accumulate { 1.0 } else { 0.0 }),
                        ldc: as_i32(self.ld[2])?,
                    },
                    batch_size: as_i32(self.batch)?,
                    stride_a: long(self.strides[0])?,
                    stride_b: long(self.strides[1])?,
                    stride_c: long(self.strides[2])?,
                };
                // SAFETY: the callers derive the sizes and strides from the operands' shapes.
                unsafe { blas.gemm_strided_batched(config, a, b, c) }.w()
            }
        }

        /// `sum += xs · matrix` through cuBLAS (β = 1): row-major `(rows, out) += (rows, inner) ·
        /// (inner, out)` is column-major `sumᵀ += matrixᵀ · xsᵀ`.
        pub fn accumulate_product(
            sum: (&mut CudaStorage, &Layout),
            xs: (&CudaStorage, &Layout),
            matrix: (&CudaStorage, &Layout),
            dims: [usize; 3],
        ) -> candle_core::Result<()> {
            const WHAT: &str = "accumulate-product";
            fn launch<T: CudaDType + DeviceRepr + candle_core::WithDType>(
                sum: (&mut CudaStorage, &Layout),
                xs: (&CudaStorage, &Layout),
                matrix: (&CudaStorage, &Layout),
                [rows, inner, out]: [usize; 3],
            ) -> candle_core::Result<()>
            where
                CudaBlas: Gemm<T>,
            {
                let blas = sum.0.device().cublas_handle();
                let Some((start, end)) = sum.1.contiguous_offsets() else {
                    candle_core::bail!("{WHAT}: the sum must be contiguous");
                };
                let mut target = T::as_cuda_slice_mut(sum.0)?.slice_mut(start..end);
                let product = Product {
                    m: out,
                    n: rows,
                    k: inner,
                    ld: [out, inner, out],
                    batch: 1,
                    strides: [0, 0, 0],
                    accumulate: true,
                };
                let (xs, matrix) = (view::<T>(xs, WHAT)?, view::<T>(matrix, WHAT)?);
                product.run(&blas, &matrix, &xs, &mut target)
            }
            by_dtype!(sum.0.dtype(), WHAT, launch(sum, xs, matrix, dims))
        }

        /// A strided 1×1 convolution as one batched product, reading the kept pixels where they
        /// lie: batch `(image, output row)` starts `stride` input rows after the last, and its
        /// pixels are `stride · channels` elements apart (`ldb`). Needs the height to divide by
        /// the stride, so that the batches are evenly spaced.
        pub fn strided_product(
            xs: (&CudaStorage, &Layout),
            matrix: (&CudaStorage, &Layout),
            geometry: &StridedGeometry,
        ) -> candle_core::Result<CudaStorage> {
            const WHAT: &str = "strided-product";
            fn launch<T: CudaDType + DeviceRepr + candle_core::WithDType>(
                xs: (&CudaStorage, &Layout),
                matrix: (&CudaStorage, &Layout),
                g: &StridedGeometry,
            ) -> candle_core::Result<CudaStorage>
            where
                CudaBlas: Gemm<T>,
            {
                let device = xs.0.device();
                let blas = device.cublas_handle();
                // SAFETY: the product below writes every element.
                let mut out =
                    unsafe { device.alloc::<T>(g.batch * g.out_h * g.out_w * g.outputs)? };
                let product = Product {
                    m: g.outputs,
                    n: g.out_w,
                    k: g.channels,
                    ld: [g.outputs, g.stride * g.channels, g.outputs],
                    batch: g.batch * g.out_h,
                    strides: [0, g.stride * g.width * g.channels, g.out_w * g.outputs],
                    accumulate: false,
                };
                let (xs, matrix) = (view::<T>(xs, WHAT)?, view::<T>(matrix, WHAT)?);
                product.run(&blas, &matrix, &xs, &mut out.slice_mut(..))?;
                Ok(T::wrap_cuda_slice(out, device.clone()))
            }
            by_dtype!(xs.0.dtype(), WHAT, launch(xs, matrix, geometry))
        }

        /// Launches BiT's stem pool: input `(h, w)`, output dims `out`.
        pub fn stem_max_pool(
            storage: &CudaStorage,
            layout: &Layout,
            [height, width]: [usize; 2],
            out: [usize; 4],
        ) -> candle_core::Result<CudaStorage> {
            const WHAT: &str = "stem-max-pool-nhwc";
            fn launch<T: CudaDType + DeviceRepr>(
                storage: &CudaStorage,
                layout: &Layout,
                [height, width]: [usize; 2],
                [batch, out_h, out_w, channels]: [usize; 4],
            ) -> candle_core::Result<CudaStorage> {
                let device = storage.device();
                fits_u32(layout.shape().elem_count(), WHAT)?;
                let rows = batch * out_h * out_w;
                let config = LaunchConfig {
                    grid_dim: (as_i32(rows)? as u32, 1, 1),
                    block_dim: (channels.next_multiple_of(32).min(256) as u32, 1, 1),
                    shared_mem_bytes: 0,
                };
                let args = [height, width, channels, out_h, out_w]
                    .map(as_i32)
                    .into_iter()
                    .collect::<candle_core::Result<Vec<i32>>>()?;
                let name = format!("stem_max_pool_nhwc_{}", suffix(storage)?);
                let func = device.get_or_load_custom_func(&name, MODULE, ptx()?)?;
                let input = view::<T>((storage, layout), WHAT)?;
                // SAFETY: every element is written by the kernel below.
                let pooled = unsafe { device.alloc::<T>(rows * channels)? };
                let mut builder = func.builder();
                builder.arg(&input).arg(&pooled);
                for value in &args {
                    builder.arg(value);
                }
                // SAFETY: the arguments match the kernel's signature.
                unsafe { builder.launch(config) }.w()?;
                Ok(T::wrap_cuda_slice(pooled, device.clone()))
            }
            by_dtype!(
                storage.dtype(),
                WHAT,
                launch(storage, layout, [height, width], out)
            )
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
            "group_stats_nhwc_f16_v8",
            "group_apply_nhwc_bf16_v1",
            "im2col_normalised_nhwc_f32_v4",
            "group_affine_f16",
            "im2col_nhwc_v16",
        ] {
            assert!(ptx.contains(kernel), "{kernel} missing");
        }
    }
    use candle_nn::{VarBuilder, VarMap};

    use super::*;

    /// The shipped embedder's backbone with random weights and non-trivial norms.
    fn model(device: &Device) -> ResNetV2 {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
        let cfg = crate::learned::Config::small().backbone;
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
        let difference = crate::max_abs_difference(&expected, &actual);
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
        let difference = crate::max_abs_difference(&expected, &actual);
        assert!(difference < 1e-5, "max difference {difference}");
    }
}
