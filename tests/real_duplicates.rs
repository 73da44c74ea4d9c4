//! Real duplicates made by people: the polimi blot crops of ../shared/data that are two hand
//! edits of one crop (bands erased with Cleanup, retouched in GIMP), placed one per page in PDFs
//! written here, go through the whole job. The test prints how many of those pairs reach the
//! match stream and asserts that none of the matches joins crops of two different blots; it also
//! prints the matches between two different crops cut from one blot (which may overlap).
//! `cargo test --test real_duplicates -- --nocapture` shows the numbers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

mod support;

use panelscope::pdfgen::{ImageEncoding, PdfDoc};
use panelscope_stages::units::BBox;
use support::temp_dir;

const BIN: &str = env!("CARGO_BIN_EXE_panelscope");

fn shared_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data")
}

fn file_name(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_string()
}

/// Groups of `kind` in the ground truth, by file name.
fn groups(truth: &serde_json::Value, kind: &str) -> Vec<Vec<String>> {
    truth[kind]
        .as_object()
        .expect("ground truth groups")
        .values()
        .map(|members| {
            members
                .as_array()
                .expect("a group's files")
                .iter()
                .map(|m| file_name(m.as_str().expect("a file")))
                .collect()
        })
        .collect()
}

#[test]
fn hand_edited_copies_of_real_blots_are_found_and_no_two_blots_are_joined() {
    let truth_path = shared_data().join("ground-truth/polimi_same_source.json");
    let Ok(text) = std::fs::read_to_string(&truth_path) else {
        eprintln!("{} is absent: nothing to check", truth_path.display());
        return;
    };
    let truth: serde_json::Value = serde_json::from_str(&text).unwrap();
    let pairs: Vec<(String, String)> = groups(&truth, "same_crop")
        .into_iter()
        .filter(|g| g.len() == 2)
        .map(|mut g| {
            g.sort();
            (g[0].clone(), g[1].clone())
        })
        .collect();
    assert!(
        pairs.len() >= 20,
        "only {} pairs of two hand edits",
        pairs.len()
    );
    let host: BTreeMap<String, usize> = groups(&truth, "same_host")
        .into_iter()
        .enumerate()
        .flat_map(|(k, g)| g.into_iter().map(move |f| (f, k)))
        .collect();

    // One file per page; a pair's two files apart (every fifth file goes to the next document).
    let files: Vec<&String> = pairs
        .iter()
        .map(|p| &p.0)
        .chain(pairs.iter().map(|p| &p.1))
        .collect();
    let dir = temp_dir("real-duplicates");
    let catalog = dir.join("catalog");
    std::fs::create_dir_all(&catalog).unwrap();
    let mut place: BTreeMap<(String, u32), String> = BTreeMap::new();
    for (d, chunk) in files.chunks(5).enumerate() {
        let mut doc = PdfDoc::new();
        let name = format!("polimi-{d:02}.pdf");
        for (p, file) in chunk.iter().enumerate() {
            let image = image::open(shared_data().join("blots/polimi").join(file))
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            let (w, h) = (image.width() as f32, image.height() as f32);
            let id = doc.add_image(&image, ImageEncoding::Flate).unwrap();
            let page = doc.add_page(612.0, 792.0);
            page.image(BBox::new(150.0, 150.0, 450.0, 150.0 + 300.0 * h / w), id);
            place.insert((name.clone(), p as u32 + 1), (*file).clone());
        }
        doc.write_to(&catalog.join(&name)).unwrap();
    }

    let data = dir.join("data");
    let run = |args: &[&str]| {
        let out = Command::new(BIN)
            .arg("--data-dir")
            .arg(&data)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    run(&["ingest", catalog.to_str().unwrap()]);
    let wanted: BTreeSet<(String, String)> = pairs.into_iter().collect();
    let (mut found, mut joined) = (BTreeSet::new(), Vec::new());
    // Two crops cut from one blot: they may overlap, and a match laid part on part says so.
    let (mut same_blot, mut same_blot_partial) = (0, 0);
    for line in run(&["matches", "--verified"]).lines() {
        let m: serde_json::Value = serde_json::from_str(line).unwrap();
        let file = |side: &str| {
            let path = m[side]["path"].as_str().unwrap();
            let page = m[side]["page"].as_u64().unwrap() as u32;
            place[&(file_name(path), page)].clone()
        };
        let (a, b) = (file("a").min(file("b")), file("a").max(file("b")));
        if wanted.contains(&(a.clone(), b.clone())) {
            found.insert((a, b));
        } else if host.get(&a) != host.get(&b) {
            joined.push(format!("{a} ~ {b}: {m}"));
        } else {
            same_blot += 1;
            same_blot_partial += usize::from(m["transform"]["partial"] == true);
        }
    }
    eprintln!(
        "pairs of hand edits of one real blot crop found: {} of {}",
        found.len(),
        wanted.len()
    );
    eprintln!(
        "matches joining crops of two different blots: {}",
        joined.len()
    );
    eprintln!(
        "matches joining two crops cut from one blot: {same_blot}, {same_blot_partial} of them sharing a part only"
    );
    assert!(
        joined.is_empty(),
        "crops of different blots matched:\n{}",
        joined.join("\n")
    );
    // A floor well under what this build finds, so the test guards against losing the edited
    // copies rather than pinning a number.
    assert!(
        found.len() * 3 >= wanted.len() * 2,
        "only {} found",
        found.len()
    );
}
