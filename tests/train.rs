//! `panelscope train` end to end, tiny: three steps of a tiny model on procedural panels write
//! weights that load as an embedder, and a model card beside them.

use std::process::Command;

use candle_core::Device;
use panelscope_models::{Embedder, LearnedEmbedder};

#[test]
fn three_steps_write_loadable_weights_and_a_model_card() {
    let dir = std::env::temp_dir().join(format!("panelscope-train-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let weights = dir.join("tiny.safetensors");
    let output = Command::new(env!("CARGO_BIN_EXE_panelscope"))
        .args(["train", "--out"])
        .arg(&weights)
        .args([
            "--steps",
            "3",
            "--batch",
            "4",
            "--preset",
            "tiny",
            "--real-data",
            "",
            "--held-out",
            "6",
            "--log-every",
            "1",
            "--eval-every",
            "2",
            "--device",
            "cpu",
        ])
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("step     3  loss"), "{stdout}");
    assert!(stdout.contains("held-out R@1 learned"), "{stdout}");

    let embedder = LearnedEmbedder::load(&weights, &Device::Cpu).unwrap();
    assert_eq!(embedder.dimension(), 16);
    let image = image::GrayImage::from_fn(50, 40, |x, y| image::Luma([(x * 5 + y) as u8]));
    let vector = embedder.embed(&[image]).unwrap().remove(0);
    let norm: f32 = vector.iter().map(|v| v * v).sum();
    assert!((norm - 1.0).abs() < 1e-3, "{norm}");

    let card = std::fs::read_to_string(weights.with_extension("md")).unwrap();
    assert!(card.contains(&embedder.fingerprint().0), "{card}");
    assert!(card.contains("--steps 3 --batch 4"), "{card}");
    std::fs::remove_dir_all(&dir).unwrap();
}
