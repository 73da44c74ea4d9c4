//! `panelscope compare`: two image files judged as the match stage judges two panels. A real
//! blot crop of ../shared/data against a mirrored, shrunk JPEG of itself written here, against a
//! crop of another membrane, and against a file that is no image.

use std::path::{Path, PathBuf};
use std::process::Command;

mod support;

use support::temp_dir;

/// Two real blot crops of different membranes; `None` when ../shared/data is absent.
fn real_blots() -> Option<(PathBuf, PathBuf)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/blots/polimi");
    let first = dir.join("polimi_cleanup__google_000006_patch_003_clipdrop-cleanup.png");
    let second = dir.join("polimi_cleanup__google_000093_patch_007_clipdrop-cleanup.png");
    if !(first.is_file() && second.is_file()) {
        eprintln!("{} is absent: nothing to check", dir.display());
        return None;
    }
    Some((first, second))
}

/// `panelscope compare FIRST SECOND` (default settings): its parsed output when it succeeds, or
/// its error output when it fails.
fn compare(first: &Path, second: &Path) -> Result<serde_json::Value, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_panelscope"))
        .arg("compare")
        .args([first, second])
        .output()
        .unwrap();
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).expect("one JSON object"))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn a_mirrored_smaller_jpeg_of_a_real_blot_is_verified_and_another_membrane_is_not() {
    let Some((blot, other)) = real_blots() else {
        return;
    };
    let dir = temp_dir("compare");
    let original = image::open(&blot).unwrap().to_rgb8();
    let (w, h) = original.dimensions();
    let copy = image::imageops::flip_horizontal(&image::imageops::resize(
        &original,
        w * 7 / 10,
        h * 7 / 10,
        image::imageops::FilterType::Triangle,
    ));
    let copy_path = dir.join("copy.jpg");
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 70)
        .encode_image(&copy)
        .unwrap();
    std::fs::write(&copy_path, bytes).unwrap();

    let found = compare(&blot, &copy_path).unwrap();
    let relation = &found["relation"];
    assert_eq!(relation["verified"], true, "{found}");
    assert_eq!(relation["dihedral"], "flip_horizontal", "{found}");
    let scale = relation["scale"].as_f64().unwrap();
    assert!((scale - 0.7).abs() < 0.05, "{found}");
    assert!(found["model"].as_str().unwrap().starts_with("classical"));
    assert_eq!(
        found["classes"].as_array().map(Vec::len),
        Some(2),
        "{found}"
    );

    let different = compare(&blot, &other).unwrap();
    assert_eq!(different["relation"]["verified"], false, "{different}");
}

#[test]
fn a_file_that_is_no_image_is_named_in_the_error() {
    let dir = temp_dir("compare-not-an-image");
    let text = dir.join("notes.png");
    std::fs::write(&text, "not a picture").unwrap();
    let error = compare(&text, &text).unwrap_err();
    assert!(
        error.contains("notes.png") && error.contains("not an image"),
        "{error}"
    );
}
