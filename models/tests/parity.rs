//! Parity with timm: the candle ResNetV2 and ConvNeXt load timm-named weights, use every one of
//! them, and reproduce timm's pooled features and logits; the full-size presets ask for exactly
//! the tensors timm's models have. Fixtures, and how to regenerate them:
//! `tests/fixtures/make_fixtures.py`.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder};
use panelscope_models::{BackboneOutput, ConvNeXt, ModelError, ResNetV2, convnext, resnetv2};

/// Largest absolute difference allowed between candle's output and timm's (float64) reference.
const TOLERANCE: f32 = 1e-4;

/// Classes of the heads in the small fixtures (`NUM_CLASSES` in make_fixtures.py).
const FIXTURE_CLASSES: usize = 10;

/// Tensors in a fixture that are not weights.
const NON_WEIGHTS: [&str; 3] = ["input", "expected", "expected_logits"];

/// Generates a CPU test and, in CUDA builds, a CUDA test from one `fn(&Device)` (candle's
/// `test_device!`).
macro_rules! test_device {
    ($check:ident, $cpu:ident, $cuda:ident) => {
        #[test]
        fn $cpu() {
            $check(&Device::Cpu);
        }

        #[cfg(feature = "cuda")]
        #[test]
        fn $cuda() {
            $check(&Device::new_cuda(0).expect("a CUDA device"));
        }
    };
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Names and shapes a model asked its `VarBuilder` for.
type Requests = Arc<Mutex<BTreeMap<String, Vec<usize>>>>;

/// A `VarBuilder` backend that records every request. With `stored` tensors it serves those and
/// fails on a missing name or a wrong shape; without, it serves zeros of whatever shape is asked,
/// to list the names a config would need.
struct RecordingBackend {
    stored: Option<HashMap<String, Tensor>>,
    requests: Requests,
}

impl RecordingBackend {
    fn var_builder(
        stored: Option<HashMap<String, Tensor>>,
        device: &Device,
    ) -> (VarBuilder<'static>, Requests) {
        let requests = Requests::default();
        let backend = Self {
            stored,
            requests: requests.clone(),
        };
        let vb = VarBuilder::from_backend(Box::new(backend), DType::F32, device.clone());
        (vb, requests)
    }
}

impl SimpleBackend for RecordingBackend {
    fn get(
        &self,
        shape: Shape,
        name: &str,
        _init: Init,
        dtype: DType,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        self.requests
            .lock()
            .unwrap()
            .insert(name.to_string(), shape.dims().to_vec());
        if self.stored.is_none() {
            return Tensor::zeros(shape, dtype, device);
        }
        let tensor = self.get_unchecked(name, dtype, device)?;
        if tensor.shape() != &shape {
            candle_core::bail!("{name}: stored {:?}, asked for {shape:?}", tensor.shape());
        }
        Ok(tensor)
    }

    fn get_unchecked(
        &self,
        name: &str,
        dtype: DType,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        let tensor = self
            .stored
            .as_ref()
            .and_then(|stored| stored.get(name))
            .ok_or_else(|| candle_core::Error::CannotFindTensor {
                path: name.to_string(),
            })?;
        tensor.to_dtype(dtype)?.to_device(device)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.stored
            .as_ref()
            .is_some_and(|stored| stored.contains_key(name))
    }
}

fn max_abs_diff(actual: &Tensor, expected: &Tensor) -> f32 {
    assert_eq!(actual.shape(), expected.shape());
    (actual.to_device(&Device::Cpu).unwrap() - expected)
        .and_then(|diff| diff.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>())
        .unwrap()
}

/// Loads a fixture's weights into a model through `run` (which loads and runs it on the
/// images), checks that every stored weight was read, and compares features and logits with
/// timm's. Returns the largest differences, features then logits.
fn check_parity(
    fixture_name: &str,
    device: &Device,
    run: impl Fn(VarBuilder, &Tensor) -> Result<BackboneOutput, ModelError>,
) -> (f32, f32) {
    let mut stored = candle_core::safetensors::load(fixture(fixture_name), &Device::Cpu)
        .unwrap_or_else(|e| panic!("{fixture_name}: {e}; see make_fixtures.py"));
    let [images, expected, expected_logits] =
        NON_WEIGHTS.map(|name| stored.remove(name).expect(name));
    let weight_names: Vec<String> = stored.keys().cloned().collect();

    let (vb, requests) = RecordingBackend::var_builder(Some(stored), device);
    let output = run(vb, &images.to_device(device).unwrap()).unwrap();

    let requests = requests.lock().unwrap();
    let unread: Vec<&String> = weight_names
        .iter()
        .filter(|name| !requests.contains_key(*name))
        .collect();
    assert!(
        unread.is_empty(),
        "{fixture_name}: weights never read: {unread:?}"
    );

    let features_diff = max_abs_diff(&output.features, &expected);
    let logits = output.logits.expect("fixture configs have a head");
    let logits_diff = max_abs_diff(&logits, &expected_logits);
    println!(
        "{fixture_name} on {device:?}: max |features - timm| = {features_diff:.3e}, max |logits - timm| = {logits_diff:.3e}"
    );
    assert!(
        features_diff <= TOLERANCE,
        "{fixture_name}: features differ from timm by {features_diff}"
    );
    assert!(
        logits_diff <= TOLERANCE,
        "{fixture_name}: logits differ from timm by {logits_diff}"
    );
    (features_diff, logits_diff)
}

/// The names and shapes in a `<timm model>.names.txt` fixture.
fn timm_names(model: &str) -> BTreeMap<String, Vec<usize>> {
    let path = fixture(&format!("{model}.names.txt"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; see make_fixtures.py", path.display()));
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| {
            let (name, dims) = line.split_once('\t').expect("name<TAB>shape");
            let dims = dims.split(',').map(|d| d.parse().unwrap()).collect();
            (name.to_string(), dims)
        })
        .collect()
}

/// The names and shapes `load` asks for.
fn requested_names(
    load: impl FnOnce(VarBuilder) -> Result<usize, ModelError>,
) -> (BTreeMap<String, Vec<usize>>, usize) {
    let (vb, requests) = RecordingBackend::var_builder(None, &Device::Cpu);
    let feature_dim = load(vb).unwrap();
    let requests = requests.lock().unwrap().clone();
    (requests, feature_dim)
}

fn assert_same_names(model: &str, ours: &BTreeMap<String, Vec<usize>>) {
    let timm = timm_names(model);
    let missing: Vec<_> = timm.keys().filter(|k| !ours.contains_key(*k)).collect();
    let extra: Vec<_> = ours.keys().filter(|k| !timm.contains_key(*k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{model}: timm tensors never read: {missing:?}; read but not in timm: {extra:?}"
    );
    for (name, shape) in &timm {
        assert_eq!(&ours[name], shape, "{model}: shape of {name}");
    }
}

fn small_resnetv2_config() -> resnetv2::Config {
    resnetv2::Config {
        layers: [2, 1, 1, 1],
        channels: [128; 4],
        stem_channels: 32,
        width_factor: 1,
        norm_groups: 32,
        std_conv_eps: 1e-8,
        num_classes: Some(FIXTURE_CLASSES),
    }
}

fn small_convnext_config(conv_mlp: bool) -> convnext::Config {
    convnext::Config {
        depths: [1, 1, 2, 1],
        dims: [16, 24, 32, 48],
        conv_mlp,
        layer_scale: true,
        num_classes: Some(FIXTURE_CLASSES),
    }
}

fn resnetv2_matches_timm(device: &Device) {
    let cfg = small_resnetv2_config();
    check_parity("resnetv2_bit_small.safetensors", device, |vb, images| {
        ResNetV2::load(vb, &cfg)?.forward(images)
    });
}
test_device!(
    resnetv2_matches_timm,
    resnetv2_matches_timm_cpu,
    resnetv2_matches_timm_cuda
);

fn convnext_linear_mlp_matches_timm(device: &Device) {
    let cfg = small_convnext_config(false);
    check_parity(
        "convnext_linear_mlp_small.safetensors",
        device,
        |vb, images| ConvNeXt::load(vb, &cfg)?.forward(images),
    );
}
test_device!(
    convnext_linear_mlp_matches_timm,
    convnext_linear_mlp_matches_timm_cpu,
    convnext_linear_mlp_matches_timm_cuda
);

fn convnext_conv_mlp_matches_timm(device: &Device) {
    let cfg = small_convnext_config(true);
    check_parity(
        "convnext_conv_mlp_small.safetensors",
        device,
        |vb, images| ConvNeXt::load(vb, &cfg)?.forward(images),
    );
}
test_device!(
    convnext_conv_mlp_matches_timm,
    convnext_conv_mlp_matches_timm_cpu,
    convnext_conv_mlp_matches_timm_cuda
);

#[test]
fn a_headless_backbone_gives_the_same_features_and_no_logits() {
    let stored =
        candle_core::safetensors::load(fixture("resnetv2_bit_small.safetensors"), &Device::Cpu)
            .unwrap();
    let images = stored["input"].clone();
    let expected = stored["expected"].clone();
    let cfg = resnetv2::Config {
        num_classes: None,
        ..small_resnetv2_config()
    };
    let (vb, requests) = RecordingBackend::var_builder(Some(stored), &Device::Cpu);
    let output = ResNetV2::load(vb, &cfg).unwrap().forward(&images).unwrap();
    assert!(output.logits.is_none());
    assert!(max_abs_diff(&output.features, &expected) <= TOLERANCE);
    assert!(
        !requests
            .lock()
            .unwrap()
            .keys()
            .any(|k| k.starts_with("head.")),
        "a headless load must not read the head"
    );
}

#[test]
fn a_missing_weight_fails_the_load() {
    let mut stored = candle_core::safetensors::load(
        fixture("convnext_conv_mlp_small.safetensors"),
        &Device::Cpu,
    )
    .unwrap();
    stored.remove("stages.2.blocks.1.gamma").unwrap();
    let (vb, _) = RecordingBackend::var_builder(Some(stored), &Device::Cpu);
    let err = ConvNeXt::load(vb, &small_convnext_config(true)).unwrap_err();
    assert!(err.to_string().contains("stages.2.blocks.1.gamma"), "{err}");
}

#[test]
fn resnetv2_50x1_reads_exactly_timms_tensors() {
    let cfg = resnetv2::Config {
        num_classes: Some(1000),
        ..resnetv2::Config::r50x1()
    };
    let (ours, feature_dim) =
        requested_names(|vb| ResNetV2::load(vb, &cfg).map(|m| m.feature_dim()));
    assert_same_names("resnetv2_50x1_bit", &ours);
    assert_eq!(feature_dim, 2048);
}

#[test]
fn convnext_tiny_reads_exactly_timms_tensors() {
    let cfg = convnext::Config {
        num_classes: Some(1000),
        ..convnext::Config::tiny()
    };
    let (ours, feature_dim) =
        requested_names(|vb| ConvNeXt::load(vb, &cfg).map(|m| m.feature_dim()));
    assert_same_names("convnext_tiny", &ours);
    assert_eq!(feature_dim, 768);
}

#[test]
fn convnext_atto_reads_exactly_timms_tensors() {
    let cfg = convnext::Config {
        num_classes: Some(1000),
        ..convnext::Config::atto()
    };
    let (ours, feature_dim) =
        requested_names(|vb| ConvNeXt::load(vb, &cfg).map(|m| m.feature_dim()));
    assert_same_names("convnext_atto", &ours);
    assert_eq!(feature_dim, 320);
}
