//! Embedding throughput of candle against PyTorch eager on the same weights, panels and batch
//! sizes, in one run: the shipped learned embedder and a BiT R50x1, each through candle's own
//! layers (channels-first, as the CPU runs them) and through the channels-last path with fused
//! kernels (models/src/channels_last.rs), in f32 and f16, beside `benches/gpu_embed_torch.py`
//! (channels-first and channels-last, f32 and f16, cuDNN autotuned). Results: `benches/gpu.md`.
//!
//! ```text
//! cargo bench -p panelscope-models --bench gpu_embed -- [--device auto|cpu|cuda]
//!     [--models small,r50x1] [--batches 64,256] [--iters 20] [--warmup 3]
//!     [--panels ../shared/data/blots] [--weights FILE] [--torch PYTHON] [--out DIR]
//! ```
//!
//! For a GPU, build with `--features cuda` (or `cudnn`, which adds rows with cuDNN convolutions)
//! following ../shared/GPU.md. On a GPU the run also measures the channels-last pass with cuBLAS
//! allowed to reduce precision (TF32, f16 accumulation), again after freed memory is kept in
//! CUDA's pool, prints where a channels-last f16 pass spends its time per kind of operator, and
//! times the embed stage's own call (`LearnedEmbedder::embed`: preprocessing, upload, forward).
//!
//! Times are of the forward pass alone, inputs already on the device, after warm-up, with the
//! device synchronised before the clock stops. Every variant's vectors are compared with candle's
//! f32 channels-first ones (the smallest cosine over the batch), and so are PyTorch's, which
//! checks that both sides compute the same network.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::rc::Rc;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use image::GrayImage;
use panelscope_models::channels_last::{CUDNN_COMPILED, ChannelsLastResNetV2};
use panelscope_models::learned::{self, LearnedNet};
use panelscope_models::resnetv2::{self, ResNetV2};
use panelscope_models::{DevicePreference, select_device};

/// The R50x1's input side, as BiT is fine-tuned and as ../shared/GPU.md measured it.
const R50_SIDE: usize = 224;

struct Options {
    device: DevicePreference,
    models: Vec<String>,
    batches: Vec<usize>,
    iters: usize,
    warmup: usize,
    panels: PathBuf,
    weights: PathBuf,
    torch: Option<String>,
    out: PathBuf,
}

impl Options {
    fn parse() -> Result<Self, String> {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut options = Self {
            device: DevicePreference::Auto,
            models: vec!["small".into(), "r50x1".into()],
            batches: vec![64, 256],
            iters: 20,
            warmup: 3,
            panels: manifest.join("../../shared/data/blots"),
            weights: manifest.join("weights/panelscope-embed-small.safetensors"),
            torch: None,
            out: std::env::temp_dir().join("panelscope-gpu-embed"),
        };
        let mut args = std::env::args().skip(1);
        let list = |text: String| -> Vec<String> { text.split(',').map(str::to_string).collect() };
        while let Some(flag) = args.next() {
            let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
            match flag.as_str() {
                "--device" => options.device = value()?.parse()?,
                "--models" => options.models = list(value()?),
                "--batches" => {
                    options.batches = list(value()?)
                        .iter()
                        .map(|b| b.parse().map_err(|_| format!("bad batch size {b}")))
                        .collect::<Result<_, _>>()?
                }
                "--iters" => options.iters = value()?.parse().map_err(|_| "bad --iters")?,
                "--warmup" => options.warmup = value()?.parse().map_err(|_| "bad --warmup")?,
                "--panels" => options.panels = value()?.into(),
                "--weights" => options.weights = value()?.into(),
                "--torch" => options.torch = Some(value()?),
                "--out" => options.out = value()?.into(),
                // cargo bench passes --bench.
                _ => {}
            }
        }
        Ok(options)
    }
}

/// Gray panels: the images under `dir`, cycled to `count`, or seeded noise when there are none.
fn panels(dir: &Path, count: usize) -> Vec<GrayImage> {
    let mut files: Vec<PathBuf> = walk(dir)
        .into_iter()
        .filter(|p| {
            p.extension()
                .is_some_and(|e| matches!(e.to_str(), Some("png" | "jpg" | "jpeg")))
        })
        .collect();
    files.sort();
    let images: Vec<GrayImage> = files
        .iter()
        .take(count)
        .filter_map(|p| image::open(p).ok().map(|i| i.to_luma8()))
        .collect();
    if images.is_empty() {
        eprintln!(
            "no images under {}: using seeded noise panels",
            dir.display()
        );
        let mut state = 0x2545_f491_4f6c_dd1du64;
        return (0..count)
            .map(|_| {
                GrayImage::from_fn(96, 80, |_, _| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    image::Luma([(state >> 56) as u8])
                })
            })
            .collect();
    }
    eprintln!("{} real panels from {}", images.len(), dir.display());
    images.iter().cycle().take(count).cloned().collect()
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|e| {
            let path = e.path();
            if path.is_dir() {
                walk(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

/// BiT's input: the gray panel resized to 224² on three channels, scaled to [-1, 1].
fn r50_inputs(images: &[GrayImage]) -> candle_core::Result<Tensor> {
    let plane = R50_SIDE * R50_SIDE;
    let mut data = Vec::with_capacity(images.len() * 3 * plane);
    for image in images {
        let side = R50_SIDE as u32;
        let small =
            image::imageops::resize(image, side, side, image::imageops::FilterType::Triangle);
        let values: Vec<f32> = small
            .pixels()
            .map(|p| f32::from(p.0[0]) / 127.5 - 1.0)
            .collect();
        for _ in 0..3 {
            data.extend_from_slice(&values);
        }
    }
    Tensor::from_vec(data, (images.len(), 3, R50_SIDE, R50_SIDE), &Device::Cpu)
}

/// A forward pass from inputs to pooled vectors.
type Pass = dyn Fn(&Tensor) -> candle_core::Result<Tensor>;
/// A network under test.
type Forward = Box<Pass>;

struct Measured {
    panels_per_s: f64,
    min_cos: f32,
}

/// The smallest cosine between matching rows of `a` and `b`.
fn min_cosine(a: &Tensor, b: &Tensor) -> candle_core::Result<f32> {
    let a = a.to_dtype(DType::F32)?.to_device(&Device::Cpu)?;
    let b = b.to_dtype(DType::F32)?.to_device(&Device::Cpu)?;
    let dot = (&a * &b)?.sum(1)?;
    let norms = (a.sqr()?.sum(1)?.sqrt()? * b.sqr()?.sum(1)?.sqrt()?)?;
    (dot / norms)?.min(0)?.to_scalar::<f32>()
}

fn measure(
    forward: &Forward,
    inputs: &Tensor,
    reference: &Tensor,
    options: &Options,
) -> candle_core::Result<Measured> {
    let device = inputs.device();
    let mut out = forward(inputs)?;
    for _ in 1..options.warmup {
        out = forward(inputs)?;
    }
    let min_cos = min_cosine(&out, reference)?;
    device.synchronize()?;
    let start = Instant::now();
    for _ in 0..options.iters {
        forward(inputs)?;
    }
    device.synchronize()?;
    let seconds = start.elapsed().as_secs_f64();
    Ok(Measured {
        panels_per_s: (inputs.dim(0)? * options.iters) as f64 / seconds,
        min_cos,
    })
}

/// The embed stage's own call, `LearnedEmbedder::embed` on gray panels: preprocessing on this
/// thread, upload, forward passes of at most 64 panels, download.
fn measure_embedder(
    subject: &Subject,
    images: &[GrayImage],
    device: &Device,
    options: &Options,
) -> Result<Vec<Row>, String> {
    use panelscope_models::Embedder;
    let embedder = panelscope_models::LearnedEmbedder::load(&subject.weights, device)
        .map_err(|e| e.to_string())?;
    // The reference: candle's own layers in f32 on the CPU.
    let cpu_net = LearnedNet::load(
        weights(subject, DType::F32, &Device::Cpu)?,
        &learned_config(&subject.weights)?,
    )
    .map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    for &batch in &options.batches {
        let panels = &images[..batch];
        let run = || -> Result<Measured, String> {
            let mut vectors = Vec::new();
            for _ in 0..options.warmup.max(1) {
                vectors = embedder.embed(panels).map_err(|e| e.to_string())?;
            }
            let dim = vectors.first().map_or(0, Vec::len);
            let found = Tensor::from_vec(vectors.concat(), (batch, dim), &Device::Cpu)
                .map_err(|e| e.to_string())?;
            let start = Instant::now();
            for _ in 0..options.iters {
                embedder.embed(panels).map_err(|e| e.to_string())?;
            }
            let seconds = start.elapsed().as_secs_f64();
            let reference = subject
                .inputs
                .narrow(0, 0, batch)
                .map_err(|e| e.to_string())
                .and_then(|inputs| cpu_net.forward(&inputs).map_err(|e| e.to_string()))?;
            Ok(Measured {
                panels_per_s: (batch * options.iters) as f64 / seconds,
                min_cos: min_cosine(&found, &reference).map_err(|e| e.to_string())?,
            })
        };
        rows.push(Row {
            model: subject.name.clone(),
            engine: "candle",
            variant: "embed stage call (preprocess + upload + forward)".into(),
            batch,
            measured: run(),
        });
    }
    Ok(rows)
}

/// One row of the report.
struct Row {
    model: String,
    engine: &'static str,
    variant: String,
    batch: usize,
    measured: Result<Measured, String>,
}

/// A model's weights file (timm names) and how candle builds it in `dtype` on `device`.
struct Subject {
    name: String,
    weights: PathBuf,
    inputs: Tensor,
}

fn learned_config(weights: &Path) -> Result<learned::Config, String> {
    let bytes = std::fs::read(weights).map_err(|e| format!("{}: {e}", weights.display()))?;
    let (_, metadata) = safetensors::SafeTensors::read_metadata(&bytes)
        .map_err(|e| format!("{}: {e}", weights.display()))?;
    let text = metadata
        .metadata()
        .as_ref()
        .and_then(|m| m.get(learned::METADATA_KEY))
        .ok_or("no learned metadata")?
        .clone();
    learned::Config::from_metadata(&text).map_err(|e| e.to_string())
}

/// The weights of `subject` as `dtype` on `device`.
fn weights(
    subject: &Subject,
    dtype: DType,
    device: &Device,
) -> Result<VarBuilder<'static>, String> {
    // SAFETY: the file is not modified while mapped.
    unsafe { VarBuilder::from_mmaped_safetensors(&[&subject.weights], dtype, device) }
        .map_err(|e| e.to_string())
}

/// The candle variants of `subject` on `device`, each a forward pass to pooled vectors.
fn candle_variants(subject: &Subject, device: &Device) -> Result<Vec<(String, Forward)>, String> {
    let error = |e: &dyn std::fmt::Display| e.to_string();
    let mut variants: Vec<(String, Forward)> = Vec::new();
    // The CPU twins of the fused kernels take f32 only, and f16 is no CPU format.
    let dtypes: &[DType] = if device.is_cpu() {
        &[DType::F32]
    } else {
        &[DType::F32, DType::F16]
    };
    if subject.name == "small" {
        let config = learned_config(&subject.weights)?;
        for &dtype in dtypes {
            let net = LearnedNet::load(weights(subject, dtype, device)?, &config)
                .map_err(|e| error(&e))?;
            let channels_last = net.channels_last(dtype).map_err(|e| error(&e))?;
            let mut with_cudnn_variant: Option<(String, Forward)> = None;
            if CUDNN_COMPILED && !device.is_cpu() {
                let with_cudnn = net
                    .channels_last_with_cudnn(dtype, true)
                    .map_err(|e| error(&e))?;
                with_cudnn_variant = Some((
                    format!("channels-last cuDNN {}", dtype_name(dtype)),
                    Box::new(move |x: &Tensor| {
                        with_cudnn
                            .forward(x)
                            .map_err(|e| candle_core::Error::Msg(e.to_string()))
                    }),
                ));
            }
            let name = dtype_name(dtype);
            variants.push((
                format!("channels-first {name}"),
                Box::new(move |x: &Tensor| {
                    net.forward(&x.to_dtype(dtype)?)
                        .map_err(|e| candle_core::Error::Msg(e.to_string()))
                }),
            ));
            push_channels_last(
                &mut variants,
                dtype,
                device,
                Rc::new(move |x: &Tensor| {
                    channels_last
                        .forward(x)
                        .map_err(|e| candle_core::Error::Msg(e.to_string()))
                }),
            );
            variants.extend(with_cudnn_variant);
        }
    } else {
        let config = resnetv2::Config::r50x1();
        for &dtype in dtypes {
            let net =
                ResNetV2::load(weights(subject, dtype, device)?, &config).map_err(|e| error(&e))?;
            let channels_last = ChannelsLastResNetV2::new(&net, dtype).map_err(|e| error(&e))?;
            let mut with_cudnn_variant: Option<(String, Forward)> = None;
            if CUDNN_COMPILED && !device.is_cpu() {
                let with_cudnn =
                    ChannelsLastResNetV2::with_cudnn(&net, dtype, true).map_err(|e| error(&e))?;
                with_cudnn_variant = Some((
                    format!("channels-last cuDNN {}", dtype_name(dtype)),
                    Box::new(move |x: &Tensor| with_cudnn.feature_map(x)?.mean((1, 2))),
                ));
            }
            let name = dtype_name(dtype);
            variants.push((
                format!("channels-first {name}"),
                Box::new(move |x: &Tensor| {
                    net.features(&x.to_dtype(dtype)?)
                        .map_err(|e| candle_core::Error::Msg(e.to_string()))
                }),
            ));
            push_channels_last(
                &mut variants,
                dtype,
                device,
                Rc::new(move |x: &Tensor| channels_last.feature_map(x)?.mean((1, 2))),
            );
            variants.extend(with_cudnn_variant);
        }
    }
    Ok(variants)
}

/// Time per kind of operator of the channels-last f16 pass without cuDNN, after two warm-up
/// profiles.
fn profile(
    subject: &Subject,
    device: &Device,
    inputs: &Tensor,
) -> Result<Vec<(&'static str, std::time::Duration)>, String> {
    let error = |e: &dyn std::fmt::Display| e.to_string();
    let vb = weights(subject, DType::F16, device)?;
    let mut times = Vec::new();
    if subject.name == "small" {
        let config = learned_config(&subject.weights)?;
        let net = LearnedNet::load(vb, &config)
            .and_then(|net| net.channels_last_with_cudnn(DType::F16, false))
            .map_err(|e| error(&e))?;
        for _ in 0..3 {
            times = net.profile(inputs).map_err(|e| error(&e))?;
        }
    } else {
        let net = ResNetV2::load(vb, &resnetv2::Config::r50x1())
            .map_err(|e| error(&e))
            .and_then(|net| {
                ChannelsLastResNetV2::with_cudnn(&net, DType::F16, false).map_err(|e| error(&e))
            })?;
        for _ in 0..3 {
            times = net.profile(inputs).map_err(|e| error(&e))?;
        }
    }
    Ok(times)
}

/// The channels-last pass, and on a GPU the same pass with cuBLAS allowed to reduce precision
/// (TF32 for f32, as PyTorch's convolutions default to; f16 accumulation for f16).
fn push_channels_last(
    variants: &mut Vec<(String, Forward)>,
    dtype: DType,
    device: &Device,
    forward: Rc<Pass>,
) {
    let name = dtype_name(dtype);
    let plain = forward.clone();
    variants.push((
        format!("channels-last fused {name}"),
        Box::new(move |x: &Tensor| plain(x)),
    ));
    if device.is_cpu() {
        return;
    }
    let (label, set): (&str, fn(bool)) = if dtype == DType::F16 {
        (
            "f16-accumulating GEMMs",
            candle_core::cuda::set_gemm_reduced_precision_f16,
        )
    } else {
        (
            "TF32 GEMMs",
            candle_core::cuda::set_gemm_reduced_precision_f32,
        )
    };
    variants.push((
        format!("channels-last fused {name}, {label}"),
        Box::new(move |x: &Tensor| {
            set(true);
            let out = forward(x);
            set(false);
            out
        }),
    ));
}

fn dtype_name(dtype: DType) -> &'static str {
    match dtype {
        DType::F16 => "f16",
        DType::BF16 => "bf16",
        _ => "f32",
    }
}

/// Writes random R50x1 weights (timm names), the same file for candle and PyTorch: normal
/// convolution weights (standardised at load anyway) and norms near the identity.
fn write_r50_weights(path: &Path) -> Result<(), String> {
    let error = |e: candle_core::Error| e.to_string();
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    ResNetV2::load(vb, &resnetv2::Config::r50x1()).map_err(|e| e.to_string())?;
    for (name, var) in varmap.data().lock().map_err(|e| e.to_string())?.iter() {
        let shape = var.shape().clone();
        let value = if name.contains("norm") && name.ends_with("weight") {
            (Tensor::randn(0f32, 0.1, shape, &Device::Cpu).map_err(error)? + 1.0).map_err(error)?
        } else if name.contains("norm") {
            Tensor::randn(0f32, 0.1, shape, &Device::Cpu).map_err(error)?
        } else {
            Tensor::randn(0f32, 1.0, shape, &Device::Cpu).map_err(error)?
        };
        var.set(&value).map_err(error)?;
    }
    varmap.save(path).map_err(|e| e.to_string())
}

fn run() -> Result<(), String> {
    let options = Options::parse()?;
    let device = select_device(options.device).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&options.out).map_err(|e| e.to_string())?;
    let max_batch = options.batches.iter().copied().max().unwrap_or(64);
    let images = panels(&options.panels, max_batch);
    let mut rows = Vec::new();
    let mut exchange = HashMap::new();
    let mut weights = Vec::new();
    let mut profiles = Vec::new();
    let mut replays = Vec::new();
    let mut measured_variants = Vec::new();
    let mut subjects = Vec::new();
    for model in &options.models {
        let subject = match model.as_str() {
            "small" => {
                let config = learned_config(&options.weights)?;
                let inputs = learned::batch_tensor(&images, config.input_side, &Device::Cpu)
                    .map_err(|e| e.to_string())?;
                Subject {
                    name: model.clone(),
                    weights: options.weights.clone(),
                    inputs,
                }
            }
            "r50x1" => {
                let weights = options.out.join("r50x1.safetensors");
                write_r50_weights(&weights)?;
                Subject {
                    name: model.clone(),
                    weights,
                    inputs: r50_inputs(&images).map_err(|e| e.to_string())?,
                }
            }
            other => return Err(format!("unknown model {other}: small or r50x1")),
        };
        let variants = candle_variants(&subject, &device)?;
        let mut reference_all = None;
        for &batch in &options.batches {
            let inputs = subject
                .inputs
                .narrow(0, 0, batch)
                .and_then(|x| x.to_device(&device))
                .map_err(|e| e.to_string())?;
            // The reference: candle's own layers in f32.
            let reference = variants[0].1(&inputs).map_err(|e| e.to_string())?;
            replays.push((model.clone(), batch, inputs.clone(), reference.clone()));
            if batch == max_batch {
                reference_all = Some(
                    reference
                        .to_device(&Device::Cpu)
                        .map_err(|e| e.to_string())?,
                );
            }
            for (variant, forward) in &variants {
                eprintln!("candle {model} {variant} batch {batch}");
                // candle's messages carry a backtrace when RUST_BACKTRACE is set: keep the first line.
                let measured = measure(forward, &inputs, &reference, &options)
                    .map_err(|e| e.to_string().lines().next().unwrap_or_default().to_string());
                rows.push(Row {
                    model: model.clone(),
                    engine: "candle",
                    variant: variant.clone(),
                    batch,
                    measured,
                });
            }
        }
        exchange.insert(format!("{model}.inputs"), subject.inputs.clone());
        if let Some(reference) = reference_all {
            exchange.insert(format!("{model}.reference"), reference);
        }
        weights.push(format!("{model}={}", subject.weights.display()));
        measured_variants.push((model.clone(), variants));
        subjects.push(subject);
    }
    if !device.is_cpu() {
        // The step after the kernels: freed memory stays in CUDA's pool (the learned embedder
        // does this when it loads), measured on the same variant, then where its time goes.
        panelscope_models::device::keep_freed_memory(&device).map_err(|e| e.to_string())?;
        for (model, batch, inputs, reference) in &replays {
            let Some((_, forward)) = measured_variants
                .iter()
                .filter(|(m, _)| m == model)
                .flat_map(|(_, variants)| variants)
                .find(|(name, _)| name == "channels-last fused f16")
            else {
                continue;
            };
            eprintln!("candle {model} pool kept batch {batch}");
            rows.push(Row {
                model: model.clone(),
                engine: "candle",
                variant: "channels-last fused f16, freed memory kept in the pool".into(),
                batch: *batch,
                measured: measure(forward, inputs, reference, &options)
                    .map_err(|e| e.to_string().lines().next().unwrap_or_default().to_string()),
            });
        }
        for subject in &subjects {
            let inputs = subject
                .inputs
                .narrow(0, 0, max_batch)
                .and_then(|x| x.to_device(&device))
                .map_err(|e| e.to_string())?;
            profiles.push((
                subject.name.clone(),
                max_batch,
                profile(subject, &device, &inputs)?,
            ));
        }
    }
    if let Some(subject) = subjects.iter().find(|s| s.name == "small") {
        rows.extend(measure_embedder(subject, &images, &device, &options)?);
    }
    if let Some(python) = &options.torch {
        rows.extend(run_torch(python, &options, &device, &exchange, &weights)?);
    }
    report(&rows, &device);
    for (model, batch, times) in &profiles {
        let total: f64 = times.iter().map(|(_, t)| t.as_secs_f64()).sum();
        println!(
            "\n### Where a pass goes: {model}, channels-last fused f16, freed memory kept, batch {batch}\n"
        );
        println!(
            "Device synchronised around every operator ({:.1} ms in all).\n",
            total * 1e3
        );
        println!("| operators | ms | share |");
        println!("|---|---|---|");
        for (name, time) in times {
            let seconds = time.as_secs_f64();
            println!(
                "| {name} | {:.2} | {:.0}% |",
                seconds * 1e3,
                100.0 * seconds / total
            );
        }
    }
    Ok(())
}

/// Runs the PyTorch side on the same inputs and weights and reads its rows.
fn run_torch(
    python: &str,
    options: &Options,
    device: &Device,
    exchange: &HashMap<String, Tensor>,
    weights: &[String],
) -> Result<Vec<Row>, String> {
    let path = options.out.join("exchange.safetensors");
    candle_core::safetensors::save(exchange, &path).map_err(|e| e.to_string())?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../benches/gpu_embed_torch.py");
    let script = if script.exists() {
        script
    } else {
        PathBuf::from("benches/gpu_embed_torch.py")
    };
    let batches: Vec<String> = options.batches.iter().map(usize::to_string).collect();
    let output = Command::new(python)
        .arg(&script)
        .args(["--exchange", &path.display().to_string()])
        .args(["--weights", &weights.join(",")])
        .args(["--batches", &batches.join(",")])
        .args(["--iters", &options.iters.to_string()])
        .args(["--warmup", &options.warmup.to_string()])
        .args(["--device", if device.is_cpu() { "cpu" } else { "cuda" }])
        .output()
        .map_err(|e| format!("cannot run {python} {}: {e}", script.display()))?;
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    if !output.status.success() {
        return Err(format!("{} failed: {}", script.display(), output.status));
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.strip_prefix("ROW\t")?.split('\t').collect();
            let [model, variant, batch, rate, cos] = fields[..] else {
                return None;
            };
            Some(Row {
                model: model.to_string(),
                engine: "torch",
                variant: variant.to_string(),
                batch: batch.parse().ok()?,
                measured: match (rate.parse(), cos.parse()) {
                    (Ok(panels_per_s), Ok(min_cos)) => Ok(Measured {
                        panels_per_s,
                        min_cos,
                    }),
                    _ => Err(format!("{rate} {cos}")),
                },
            })
        })
        .collect())
}

fn report(rows: &[Row], device: &Device) {
    println!("\n## Embedding throughput on {device:?}\n");
    println!(
        "| model | batch | engine | variant | panels/s | vs best torch | min cos to candle f32 |"
    );
    println!("|---|---|---|---|---|---|---|");
    for row in rows {
        let best_torch = rows
            .iter()
            .filter(|r| r.engine == "torch" && r.model == row.model && r.batch == row.batch)
            .filter_map(|r| r.measured.as_ref().ok().map(|m| m.panels_per_s))
            .fold(None, |best: Option<f64>, v| {
                Some(best.map_or(v, |b| b.max(v)))
            });
        match &row.measured {
            Ok(m) => println!(
                "| {} | {} | {} | {} | {:.0} | {} | {:.5} |",
                row.model,
                row.batch,
                row.engine,
                row.variant,
                m.panels_per_s,
                best_torch.map_or("-".to_string(), |t| format!("{:.2}x", m.panels_per_s / t)),
                m.min_cos
            ),
            Err(e) => println!(
                "| {} | {} | {} | {} | failed: {} | | |",
                row.model,
                row.batch,
                row.engine,
                row.variant,
                e.replace('|', "/").replace('\n', " ")
            ),
        }
    }
}

fn main() {
    if let Err(error) = run() {
        eprintln!("gpu_embed: {error}");
        std::process::exit(1);
    }
}
