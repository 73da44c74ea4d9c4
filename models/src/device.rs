//! Which device a model runs on: the GPU when there is one and the build supports it, else the CPU.

use std::str::FromStr;

use candle_core::Device;

use crate::ModelError;

/// What the configuration asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DevicePreference {
    /// CUDA device 0 when this build has CUDA and a GPU is present, the CPU otherwise.
    #[default]
    Auto,
    /// Always the CPU.
    Cpu,
    /// This CUDA device, or an error.
    Cuda(usize),
}

impl FromStr for DevicePreference {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda(0)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Self::Cuda)
                .ok_or_else(|| {
                    format!("unknown device `{other}`: expected auto, cpu, cuda or cuda:N")
                }),
        }
    }
}

/// Whether this binary was built with the `cuda` feature.
pub const CUDA_COMPILED: bool = cfg!(feature = "cuda");

/// Opens the device `preference` names.
pub fn select_device(preference: DevicePreference) -> Result<Device, ModelError> {
    match preference {
        DevicePreference::Cpu => Ok(Device::Cpu),
        DevicePreference::Auto if CUDA_COMPILED => Ok(Device::cuda_if_available(0)?),
        DevicePreference::Auto => Ok(Device::Cpu),
        DevicePreference::Cuda(_) if !CUDA_COMPILED => Err(ModelError::CudaNotCompiled),
        DevicePreference::Cuda(ordinal) => Ok(Device::new_cuda(ordinal)?),
    }
}

/// `device` in words for a report: "the CPU", or "CUDA device N (its name)" where the driver
/// names it. candle's own `Debug` shows an internal id, not the ordinal a user passes.
pub fn describe_device(device: &Device) -> String {
    match device {
        Device::Cuda(_) => cuda_name(device),
        Device::Metal(_) => "Metal".to_string(),
        Device::Cpu => "the CPU".to_string(),
    }
}

#[cfg(feature = "cuda")]
fn cuda_name(device: &Device) -> String {
    if let Device::Cuda(cuda) = device {
        let context = cuda.cuda_stream().context().clone();
        let ordinal = context.ordinal();
        return match context.name() {
            Ok(name) => format!("CUDA device {ordinal} ({name})"),
            Err(_) => format!("CUDA device {ordinal}"),
        };
    }
    "CUDA".to_string()
}

#[cfg(not(feature = "cuda"))]
fn cuda_name(_device: &Device) -> String {
    "CUDA".to_string()
}

/// Keeps memory freed on a CUDA `device` in the driver's stream-ordered pool, for the next
/// allocation, instead of handing it back to the driver at every synchronisation (the pool's
/// default). Nothing on the CPU. `benches/gpu_embed.rs` measures it: on an H200 it changed the
/// channels-last pass by less than run-to-run noise (R50x1 f16, 256 panels: 7867 -> 7923
/// panels/s), so the embedder does not call it.
pub fn keep_freed_memory(device: &Device) -> Result<(), ModelError> {
    #[cfg(feature = "cuda")]
    if let Device::Cuda(cuda) = device {
        use candle_core::cuda_backend::cudarc::driver::{result, sys};
        let stream = cuda.cuda_stream();
        let context = stream.context();
        let failed = |error: candle_core::cuda_backend::cudarc::driver::DriverError| {
            ModelError::Candle(candle_core::Error::wrap(error))
        };
        context.bind_to_thread().map_err(failed)?;
        let mut threshold = u64::MAX;
        // SAFETY: the device comes from a live context, and the release threshold is a u64.
        unsafe {
            let pool = result::device::get_default_mem_pool(context.cu_device()).map_err(failed)?;
            result::mem_pool::set_attribute(
                pool,
                sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
                (&mut threshold as *mut u64).cast(),
            )
            .map_err(failed)?;
        }
    }
    let _ = device;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_spelling() {
        assert_eq!("auto".parse(), Ok(DevicePreference::Auto));
        assert_eq!("cpu".parse(), Ok(DevicePreference::Cpu));
        assert_eq!("cuda".parse(), Ok(DevicePreference::Cuda(0)));
        assert_eq!("cuda:3".parse(), Ok(DevicePreference::Cuda(3)));
        assert!(
            "gpu"
                .parse::<DevicePreference>()
                .unwrap_err()
                .contains("expected auto, cpu")
        );
    }

    #[test]
    fn cpu_always_works_and_auto_falls_back_to_it() {
        assert!(select_device(DevicePreference::Cpu).unwrap().is_cpu());
        if !CUDA_COMPILED {
            assert!(select_device(DevicePreference::Auto).unwrap().is_cpu());
            let error = select_device(DevicePreference::Cuda(0))
                .unwrap_err()
                .to_string();
            assert!(error.contains("--features cuda"), "{error}");
        }
    }
}
