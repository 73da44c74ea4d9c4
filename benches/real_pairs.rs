//! Candidates and verification on real duplicates made by people, panel against panel (no PDFs):
//! every pair of the 319 polimi blot crops of ../shared/data. Pairs of one `same_crop` group
//! (different edits of one real crop) are the duplicates; hand edits (Cleanup, GIMP) are counted
//! apart from DALL·E outpaintings, which keep a strip of the crop in one corner and generate the
//! rest. Pairs cut from different blots (`same_host` groups) are the negatives; crops of one
//! blot that are not one crop may overlap, so they are counted apart and never as wrong. A pair
//! is a candidate when the classical descriptors reach `COSINE` (the index's nearest-neighbour
//! bar), and is then verified as the match stage would.
//!
//! Then each crop against itself (`verify_within`): as it is (nothing is copied within a real crop
//! but by a hand edit: a repeat found is wrong unless both its parts lie in the region the crop's
//! polimi mask marks edited, a clone tool's patches), and with a part copied within it (the most varied window of
//! 30% × 25% of the left half, pasted into the right half), which must be found where it was put.
//!
//! Then each crop with the next crop of another blot (`verify_shared_parts`, at one scale): as they
//! are (they share nothing, so any shared part found is wrong), and with a band-sized strip of the
//! first (its most varied window of 30% × 12.5%) pasted into the second, which must be found in
//! both where it was cut and where it was put.
//!
//! Then the micrographs among the panels of the real compound figures (those the classifier calls
//! microscopy, as the match stage searches them), enlarged twice as a journal's figure file would
//! be: each field shown twice as two overlapping crops (its left and right two thirds; its
//! top-left and bottom-right 70%), each through a JPEG of its own, must be found sharing their
//! overlap where it is (`verify_shared_parts_among`, for overlapping fields only); every two
//! different fields of one figure (one stain, one magnification) must share nothing.
//!
//! Run: `cargo bench --bench real_pairs` (needs ../shared/data; about a minute on 2 cores).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use image::GrayImage;
use panelscope::synth::edits::{
    CopiedWithin, OverlappingFields, Spliced, copied_within, marked_share, overlapping_fields,
    spliced,
};
use panelscope::synth::real_figure_panels;
use panelscope_models::{ClassicalEmbedder, Dihedral, Embedder};
use panelscope_stages::classify::ClassifyConfig;
use panelscope_stages::units::{PanelClass, Raster};
use panelscope_stages::verify::{
    SharedParts, VerifyConfig, verify, verify_shared_parts, verify_shared_parts_among,
    verify_within,
};
use rayon::prelude::*;

/// Cosine from which a pair is verified: `[index] min_nearest_similarity`.
const COSINE: f32 = 0.5;

fn shared_data() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    assert!(
        dir.join("ground-truth/polimi_same_source.json").is_file(),
        "{} is missing: this bench reads the real blots there",
        dir.display()
    );
    dir
}

/// The group of `kind` each file belongs to, by its path under ../shared/data.
fn groups(truth: &serde_json::Value, kind: &str) -> BTreeMap<String, String> {
    let mut group_of = BTreeMap::new();
    for (group, members) in truth[kind].as_object().expect("ground truth groups") {
        for member in members.as_array().expect("a group's files") {
            group_of.insert(member.as_str().expect("a file").to_string(), group.clone());
        }
    }
    group_of
}

#[derive(Default)]
struct Count {
    pairs: usize,
    candidates: usize,
    verified: usize,
}

fn main() {
    let data = shared_data();
    let truth: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(data.join("ground-truth/polimi_same_source.json")).unwrap(),
    )
    .unwrap();
    let (crop_of, host_of) = (groups(&truth, "same_crop"), groups(&truth, "same_host"));
    let mut files: Vec<String> = std::fs::read_dir(data.join("blots/polimi"))
        .unwrap()
        .flatten()
        .map(|e| format!("blots/polimi/{}", e.file_name().to_string_lossy()))
        .filter(|f| f.ends_with(".png") || f.ends_with(".jpg"))
        .collect();
    files.sort();
    let images: Vec<GrayImage> = files
        .iter()
        .map(|f| image::open(data.join(f)).unwrap().to_luma8())
        .collect();
    let vectors = ClassicalEmbedder::default().embed(&images).unwrap();
    let cosine = |i: usize, j: usize| -> f32 {
        vectors[i].iter().zip(&vectors[j]).map(|(x, y)| x * y).sum()
    };
    let same = |of: &BTreeMap<String, String>, i: usize, j: usize| {
        of.get(&files[i]).is_some() && of.get(&files[i]) == of.get(&files[j])
    };
    // Each pair's row: 0 hand edits of one crop, 1 with a DALL·E outpainting, 2 one blot, 3 two.
    let kind = |i: usize, j: usize| {
        if same(&crop_of, i, j) {
            if files[i].contains("dall_e") || files[j].contains("dall_e") {
                1
            } else {
                0
            }
        } else if same(&host_of, i, j) {
            2
        } else {
            3
        }
    };
    let pairs: Vec<(usize, usize)> = (0..files.len())
        .flat_map(|i| (i + 1..files.len()).map(move |j| (i, j)))
        .collect();
    let config = VerifyConfig::default();
    let judged: Vec<(usize, bool, bool)> = pairs
        .par_iter()
        .map(|&(i, j)| {
            let candidate = cosine(i, j) >= COSINE;
            let verified =
                candidate && verify(&images[i], &images[j], Dihedral::Identity, &config).verified;
            (kind(i, j), candidate, verified)
        })
        .collect();
    let mut counts: [Count; 4] = Default::default();
    let mut wrong = Vec::new();
    for (&(i, j), (row, candidate, verified)) in pairs.iter().zip(judged) {
        counts[row].pairs += 1;
        counts[row].candidates += usize::from(candidate);
        counts[row].verified += usize::from(verified);
        if row == 3 && verified {
            wrong.push((i, j));
        }
    }
    println!(
        "{} polimi crops, {} pairs; candidates from cosine {COSINE} (classical descriptor)",
        files.len(),
        pairs.len()
    );
    println!(
        "{:<58} {:>8} {:>11} {:>9}",
        "pairs", "count", "candidates", "verified"
    );
    let labels = [
        "two hand edits of one crop (duplicates)",
        "one crop, one side a DALL-E outpainting (duplicates)",
        "different crops of one blot (may overlap; not counted)",
        "crops of two different blots (negatives)",
    ];
    for (label, count) in labels.iter().zip(&counts) {
        println!(
            "{label:<58} {:>8} {:>11} {:>9}",
            count.pairs, count.candidates, count.verified
        );
    }
    for (i, j) in wrong {
        println!("  verified negative: {} and {}", files[i], files[j]);
    }
    let within: Vec<(Option<bool>, bool)> = images
        .par_iter()
        .enumerate()
        .map(|(k, image)| {
            // A repeat in a crop as it is must be its hand edit: a clone tool's two patches, both
            // in the region the dataset's mask marks edited.
            let as_is = verify_within(image, &config)
                .filter(|r| r.verified)
                .map(|r| {
                    let name = files[k].trim_start_matches("blots/polimi/");
                    image::open(data.join("blots/polimi-masks").join(name))
                        .map(|mask| mask.to_luma8())
                        .is_ok_and(|mask| {
                            marked_share(&mask, &r.region_a) >= 0.5
                                && marked_share(&mask, &r.region_b) >= 0.5
                        })
                });
            // A place in the right half that varies with the crop.
            let (w, h) = image.dimensions();
            let to = (
                0.5 + ((k as u32 * 11) % (w / 5)) as f32 / w as f32,
                ((k as u32 * 29 + h / 3) % (h * 3 / 4)) as f32 / h as f32,
            );
            let CopiedWithin {
                image: edited,
                source,
                copy,
            } = copied_within(image, to);
            let found = verify_within(&edited, &config).is_some_and(|r| {
                let at = |r: [f32; 4], (x, y): (f32, f32)| {
                    ((r[0] + r[2]) / 2.0 - x).hypot((r[1] + r[3]) / 2.0 - y) <= 0.06
                };
                r.verified
                    && ((at(r.region_a, source) && at(r.region_b, copy))
                        || (at(r.region_a, copy) && at(r.region_b, source)))
            });
            (as_is, found)
        })
        .collect();
    for (k, (as_is, _)) in within.iter().enumerate() {
        if let Some(in_edit) = as_is {
            let place = if *in_edit { "its hand edit" } else { "WRONG" };
            println!("  repeat in a crop as it is ({place}): {}", files[k]);
        }
    }
    println!(
        "{:<58} {:>8} {:>11} {:>9}",
        "each crop against itself", "crops", "", "repeats"
    );
    println!(
        "{:<58} {:>8} {:>11} {:>9}",
        "as it is, both parts in its hand edit (a clone tool's)",
        images.len(),
        "",
        within.iter().filter(|w| w.0 == Some(true)).count()
    );
    println!(
        "{:<58} {:>8} {:>11} {:>9}",
        "as it is, anywhere else (nothing copied there: wrong)",
        images.len(),
        "",
        within.iter().filter(|w| w.0 == Some(false)).count()
    );
    println!(
        "{:<58} {:>8} {:>11} {:>9}",
        "with a part copied within it (found where it was put)",
        images.len(),
        "",
        within.iter().filter(|w| w.1).count()
    );
    let shared: Vec<(bool, bool)> = (0..images.len())
        .into_par_iter()
        .filter_map(|k| {
            let next = (1..images.len())
                .map(|step| (k + step) % images.len())
                .find(|&j| kind(k.min(j), k.max(j)) == 3)?;
            let (donor, recipient) = (&images[k], &images[next]);
            let as_is = verify_shared_parts(&[donor, recipient], &config)
                .iter()
                .any(|(_, _, r)| r.verified);
            // A place that varies with the pair.
            let to = (
                ((k * 13) % 60) as f32 / 100.0,
                ((k * 7) % 80) as f32 / 100.0,
            );
            let Spliced {
                image: edited,
                strip,
                pasted,
            } = spliced(donor, recipient, to);
            let inside = |r: [f32; 4], outer: [f32; 4]| {
                let (x, y) = ((r[0] + r[2]) / 2.0, (r[1] + r[3]) / 2.0);
                x >= outer[0] && x <= outer[2] && y >= outer[1] && y <= outer[3]
            };
            let found = verify_shared_parts(&[donor, &edited], &config)
                .iter()
                .any(|(_, _, r)| {
                    r.verified && inside(r.region_a, strip) && inside(r.region_b, pasted)
                });
            Some((as_is, found))
        })
        .collect();
    println!(
        "{:<58} {:>8} {:>11} {:>9}",
        "each crop with the next crop of another blot", "pairs", "", "shared"
    );
    println!(
        "{:<58} {:>8} {:>11} {:>9}",
        "as they are (they share nothing: wrong)",
        shared.len(),
        "",
        shared.iter().filter(|s| s.0).count()
    );
    println!(
        "{:<58} {:>8} {:>11} {:>9}",
        "with a strip of one spliced into the other (found)",
        shared.len(),
        "",
        shared.iter().filter(|s| s.1).count()
    );
    overlapping_micrographs(&config);
}

/// The micrographs of the real figures, enlarged twice, with the figure each is from.
fn real_micrographs() -> Vec<(String, image::RgbImage)> {
    let classify = ClassifyConfig::default();
    real_figure_panels(&shared_data())
        .expect("the real figures")
        .into_iter()
        .filter(|(_, panel)| {
            panel.width().min(panel.height()) >= 64
                && classify.classify(&Raster::from_rgb(panel.clone()), 1.0)
                    == PanelClass::Microscopy
        })
        .map(|(name, panel)| {
            let figure = name.split('#').next().unwrap_or(&name).to_string();
            let enlarged = image::imageops::resize(
                &panel,
                panel.width() * 2,
                panel.height() * 2,
                image::imageops::FilterType::Lanczos3,
            );
            (figure, enlarged)
        })
        .collect()
}

/// `picture` in gray as a JPEG of quality 75 gives it back.
fn through_jpeg(picture: &image::RgbImage) -> GrayImage {
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 75)
        .encode_image(picture)
        .expect("a JPEG");
    image::load_from_memory(&bytes).expect("a JPEG").to_luma8()
}

/// Overlapping fields of one real micrograph found, and different fields of one figure not joined.
fn overlapping_micrographs(config: &VerifyConfig) {
    let micrographs = real_micrographs();
    let fields_only = |_: usize, _: usize| SharedParts::OverlappingFields;
    let found = |kept: (f32, f32)| {
        micrographs
            .par_iter()
            .filter(|(_, picture)| {
                let OverlappingFields {
                    first,
                    second,
                    in_first,
                    in_second,
                } = overlapping_fields(picture, kept);
                let (first, second) = (through_jpeg(&first), through_jpeg(&second));
                let inside = |r: [f32; 4], outer: [f32; 4]| {
                    let (x, y) = ((r[0] + r[2]) / 2.0, (r[1] + r[3]) / 2.0);
                    x >= outer[0] && x <= outer[2] && y >= outer[1] && y <= outer[3]
                };
                verify_shared_parts_among(&[&first, &second], fields_only, 1, config)
                    .found
                    .iter()
                    .any(|(_, _, r)| {
                        r.verified && inside(r.region_a, in_first) && inside(r.region_b, in_second)
                    })
            })
            .count()
    };
    let grays: Vec<GrayImage> = micrographs.iter().map(|(_, p)| through_jpeg(p)).collect();
    let pairs: Vec<(usize, usize)> = (0..grays.len())
        .flat_map(|i| (i + 1..grays.len()).map(move |j| (i, j)))
        .filter(|&(i, j)| micrographs[i].0 == micrographs[j].0)
        .collect();
    let joined = pairs
        .par_iter()
        .filter(|&&(i, j)| {
            verify_shared_parts_among(&[&grays[i], &grays[j]], fields_only, 1, config)
                .found
                .iter()
                .any(|(_, _, r)| r.verified)
        })
        .count();
    println!(
        "{:<58} {:>8} {:>11} {:>9}",
        "real micrographs, enlarged twice, each through a JPEG", "fields", "", "shared"
    );
    for (label, kept) in [
        (
            "its left and right two thirds (half of each)",
            (2.0 / 3.0, 1.0),
        ),
        (
            "its top-left and bottom-right 70% (a third of each)",
            (0.7, 0.7),
        ),
    ] {
        println!(
            "{:<58} {:>8} {:>11} {:>9}",
            label,
            micrographs.len(),
            "",
            found(kept)
        );
    }
    println!(
        "{:<58} {:>8} {:>11} {:>9}",
        "two different fields of one figure (wrong)",
        pairs.len(),
        "",
        joined
    );
}
