//! Real duplicates made by people: the polimi blot crops of ../shared/data that are two hand
//! edits of one crop (bands erased with Cleanup, retouched in GIMP), placed one per page in PDFs
//! written here, go through the whole job. The test prints how many of those pairs reach the
//! match stream and asserts that none of the matches joins crops of two different blots; it also
//! prints the matches between two different crops cut from one blot (which may overlap), and
//! checks that a part found repeated within a crop is its hand edit (a clone tool's two patches).
//! `cargo test --test real_duplicates -- --nocapture` shows the numbers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

mod support;

use panelscope::pdfgen::{ImageEncoding, PdfDoc};
use panelscope::synth::edits::{
    OverlappingFields, Spliced, copied_within, marked_share, overlapping_fields, spliced,
};
use panelscope_stages::units::BBox;
use support::temp_dir;

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
    let run = |args: &[&str]| support::panelscope(&data, args);
    run(&["ingest", catalog.to_str().unwrap()]);
    let wanted: BTreeSet<(String, String)> = pairs.into_iter().collect();
    let (mut found, mut joined, mut within) = (BTreeSet::new(), Vec::new(), Vec::new());
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
        } else if m["a"]["panel"] == m["b"]["panel"] {
            let region = |key: &str| -> [f32; 4] {
                serde_json::from_value(m["transform"][key].clone()).expect("a region")
            };
            within.push((a, region("region_a"), region("region_b"), m.to_string()));
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
    for (a, b) in wanted.difference(&found) {
        eprintln!("  missed: {a} ~ {b}");
    }
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
    // A repeat within a crop is the hand edit itself (a clone tool that patched two places from
    // one source): both its parts lie in the edited region the dataset's mask marks.
    eprintln!(
        "repeats within one crop, both parts in its hand-edited region: {}",
        within.len()
    );
    for (file, region_a, region_b, found) in &within {
        let mask = image::open(shared_data().join("blots/polimi-masks").join(file))
            .unwrap_or_else(|e| panic!("{file}'s mask: {e}"))
            .to_luma8();
        for region in [region_a, region_b] {
            assert!(
                marked_share(&mask, region) >= 0.5,
                "a repeat within {file} outside its edit: {found}"
            );
        }
    }
    // A floor well under what this build finds, so the test guards against losing the edited
    // copies rather than pinning a number.
    assert!(
        found.len() * 3 >= wanted.len() * 2,
        "only {} found",
        found.len()
    );
}

/// `doc` written as the one PDF of a catalog, ingested into a fresh data dir: the verified
/// matches, as `matches --verified` prints them.
fn verified_matches(label: &str, doc: &PdfDoc) -> Vec<serde_json::Value> {
    let dir = temp_dir(label);
    let catalog = dir.join("catalog");
    std::fs::create_dir_all(&catalog).unwrap();
    doc.write_to(&catalog.join(format!("{label}.pdf"))).unwrap();
    let data = dir.join("data");
    let run = |args: &[&str]| support::panelscope(&data, args);
    run(&["ingest", catalog.to_str().unwrap()]);
    run(&["matches", "--verified"])
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// The centre of a match's region `key` (`region_a` or `region_b`), as shares of its panel.
fn centre(found: &serde_json::Value, key: &str) -> (f64, f64) {
    let r: Vec<f64> = found["transform"][key]
        .as_array()
        .expect("a region")
        .iter()
        .map(|v| v.as_f64().expect("a number"))
        .collect();
    ((r[0] + r[2]) / 2.0, (r[1] + r[3]) / 2.0)
}

/// Whether the point `(x, y)` lies in `outer` (`[x0, y0, x1, y1]`, shares of a panel's sides).
fn centre_inside((x, y): (f64, f64), outer: [f32; 4]) -> bool {
    x >= f64::from(outer[0])
        && x <= f64::from(outer[2])
        && y >= f64::from(outer[1])
        && y <= f64::from(outer[3])
}

#[test]
fn a_part_copied_within_one_real_blot_reaches_the_match_stream_as_a_repeat() {
    let path = shared_data()
        .join("blots/polimi/polimi_cleanup__img_000025_patch_012_clipdrop-cleanup.png");
    let Ok(blot) = image::open(&path) else {
        eprintln!("{} is absent: nothing to check", path.display());
        return;
    };
    let blot = blot.to_luma8();
    let (w, h) = blot.dimensions();
    let copied = copied_within(&blot, (0.6, 0.55));

    // The edited blot on page 1, the blot as it was on page 2, drawn at 1.5 of its pixels per
    // pixel of the page as rendered (150 dpi), so the copy is found on resampled pixels.
    let mut doc = PdfDoc::new();
    let side = w as f32 * 1.5 * 72.0 / 150.0;
    for picture in [&copied.image, &blot] {
        let id = doc
            .add_image(
                &image::DynamicImage::ImageLuma8(picture.clone()),
                ImageEncoding::Flate,
            )
            .unwrap();
        let page = doc.add_page(612.0, 792.0);
        page.image(
            BBox::new(
                100.0,
                150.0,
                100.0 + side,
                150.0 + side * h as f32 / w as f32,
            ),
            id,
        );
    }
    let matches = verified_matches("repeat-within", &doc);
    let repeats: Vec<&serde_json::Value> = matches
        .iter()
        .filter(|m| m["transform"]["within"] == true)
        .collect();
    assert_eq!(repeats.len(), 1, "{matches:#?}");
    let repeat = repeats[0];
    assert_eq!(repeat["a"]["panel"], repeat["b"]["panel"]);
    assert_eq!(repeat["a"]["page"], 1, "the untouched blot repeats nothing");

    let near = |(x, y): (f64, f64), (u, v): (f64, f64)| (x - u).hypot(y - v) <= 0.06;
    let (a, b) = (centre(repeat, "region_a"), centre(repeat, "region_b"));
    let widen = |(x, y): (f32, f32)| (f64::from(x), f64::from(y));
    let (source, copy) = (widen(copied.source), widen(copied.copy));
    assert!(
        (near(a, source) && near(b, copy)) || (near(a, copy) && near(b, source)),
        "{repeat} is not the part at {source:?} and its copy at {copy:?}"
    );
}

/// One page of one figure: `donor` and `recipient` side by side, each its own image drawn at
/// `dpi` pixels per inch.
fn side_by_side_on_a_page(
    donor: &image::GrayImage,
    recipient: &image::GrayImage,
    dpi: f32,
) -> PdfDoc {
    let mut doc = PdfDoc::new();
    doc.add_page(612.0, 792.0);
    let mut ids = Vec::new();
    for picture in [donor, recipient] {
        ids.push(
            doc.add_image(
                &image::DynamicImage::ImageLuma8(picture.clone()),
                ImageEncoding::Flate,
            )
            .unwrap(),
        );
    }
    let side = |image: &image::GrayImage| {
        (
            image.width() as f32 * 72.0 / dpi,
            image.height() as f32 * 72.0 / dpi,
        )
    };
    let page = &mut doc.pages_mut()[0];
    let (dw, dh) = side(donor);
    let (rw, rh) = side(recipient);
    let left = 60.0;
    page.image(BBox::new(left, 150.0, left + dw, 150.0 + dh), ids[0]);
    page.image(
        BBox::new(left + dw + 24.0, 150.0, left + dw + 24.0 + rw, 150.0 + rh),
        ids[1],
    );
    doc
}

/// Asserts that `matches` is the one splice of `splice`'s strip from the picture drawn left
/// into the one drawn right, each found where it is.
fn assert_the_splice(matches: &[serde_json::Value], splice: &Spliced) {
    assert_eq!(matches.len(), 1, "{matches:#?}");
    let found = &matches[0];
    assert_ne!(found["a"]["panel"], found["b"]["panel"]);
    assert_eq!(found["transform"]["partial"], true, "{found}");
    assert_eq!(found["transform"]["within"], false, "{found}");
    let (strip, pasted) = if found["a"]["bbox"][0].as_f64() < found["b"]["bbox"][0].as_f64() {
        (centre(found, "region_a"), centre(found, "region_b"))
    } else {
        (centre(found, "region_b"), centre(found, "region_a"))
    };
    assert!(
        centre_inside(strip, splice.strip) && centre_inside(pasted, splice.pasted),
        "{found} is not the strip at {:?} pasted at {:?}",
        splice.strip,
        splice.pasted
    );
}

/// Real blot crops of different membranes, by file name.
const DIFFERENT_MEMBRANES: [&str; 6] = [
    "polimi_cleanup__google_000004_patch_006_clipdrop-cleanup.png",
    "polimi_cleanup__google_000006_patch_003_clipdrop-cleanup.png",
    "polimi_cleanup__google_000016_patch_002_clipdrop-cleanup.png",
    "polimi_cleanup__google_000040_patch_000_clipdrop-cleanup.png",
    "polimi_cleanup__google_000093_patch_007_clipdrop-cleanup.png",
    "polimi_cleanup__google_000130_patch_004_clipdrop-cleanup.png",
];

/// The crops `names` of ../shared/data in gray; `None` when it is absent.
fn real_blots(names: &[&str]) -> Option<Vec<image::GrayImage>> {
    let dir = shared_data().join("blots/polimi");
    let blots: Result<Vec<_>, _> = names
        .iter()
        .map(|name| image::open(dir.join(name)).map(|i| i.to_luma8()))
        .collect();
    if blots.is_err() {
        eprintln!("{} is absent: nothing to check", dir.display());
    }
    blots.ok()
}

#[test]
fn a_strip_of_one_real_blot_spliced_into_another_of_its_figure_reaches_the_match_stream() {
    let Some(blots) = real_blots(&DIFFERENT_MEMBRANES[..2]) else {
        return;
    };
    let splice = spliced(&blots[0], &blots[1], (0.35, 0.3));
    // Each drawn at its pixels' size on a page rendered at 150 dpi: the donor as it is, the
    // recipient with the donor's strip pasted in.
    let doc = side_by_side_on_a_page(&blots[0], &splice.image, 150.0);
    assert_the_splice(&verified_matches("splice", &doc), &splice);
}

#[test]
fn a_strip_of_a_real_blot_spliced_into_a_wide_strip_of_blots_reaches_the_match_stream() {
    let Some(blots) = real_blots(&DIFFERENT_MEMBRANES) else {
        return;
    };
    // Five real blots side by side, 1280 pixels long, as one strip scanned at 300 dpi: longer
    // than the pictures laid on each other at full resolution.
    let (w, h) = blots[1].dimensions();
    let mut wide = image::GrayImage::new(w * 5, h);
    for (k, blot) in blots[1..].iter().enumerate() {
        image::imageops::replace(&mut wide, blot, i64::from(w) * k as i64, 0);
    }
    let splice = spliced(&blots[0], &wide, (0.45, 0.3));
    let doc = side_by_side_on_a_page(&blots[0], &splice.image, 300.0);
    assert_the_splice(&verified_matches("splice-wide", &doc), &splice);
}

/// The twelve immunohistochemistry micrographs of a real compound figure of ../shared/data
/// (two columns, six rows; the gutters, axes and letters around them left out), each cut 3 px
/// inside its frame; `None` when the figure is absent.
fn real_micrographs() -> Option<Vec<image::RgbImage>> {
    let path = shared_data().join("figures/figure-separator/PM27563885-Figure4-1.png");
    let Ok(figure) = image::open(&path) else {
        eprintln!("{} is absent: nothing to check", path.display());
        return None;
    };
    let figure = figure.to_rgb8();
    let columns = [(73, 287), (296, 510)];
    let rows = [
        (27, 188),
        (197, 358),
        (368, 530),
        (538, 698),
        (706, 867),
        (877, 1037),
    ];
    Some(
        rows.iter()
            .flat_map(|&(y0, y1)| columns.iter().map(move |&(x0, x1)| (x0, y0, x1, y1)))
            .map(|(x0, y0, x1, y1)| {
                image::imageops::crop_imm(&figure, x0 + 3, y0 + 3, x1 - x0 - 6, y1 - y0 - 6)
                    .to_image()
            })
            .collect(),
    )
}

#[test]
fn overlapping_fields_of_one_real_micrograph_are_found_and_its_other_fields_are_not_joined() {
    let Some(micrographs) = real_micrographs() else {
        return;
    };
    // One field shown twice as two samples: its top-left and bottom-right 70% (their overlap
    // is a third of each), beside three other fields of the same stain, each its own image in
    // one figure (a JPEG of its own, so the two crops' pixels differ), enlarged twice as a
    // journal's figure file would be.
    let enlarged = |image: &image::RgbImage| {
        image::imageops::resize(
            image,
            image.width() * 2,
            image.height() * 2,
            image::imageops::FilterType::Lanczos3,
        )
    };
    let OverlappingFields {
        first,
        second,
        in_first,
        in_second,
    } = overlapping_fields(&enlarged(&micrographs[8]), (0.7, 0.7));
    let others: Vec<image::RgbImage> = [4, 6, 10]
        .iter()
        .map(|&k| enlarged(&micrographs[k]))
        .collect();

    let mut doc = PdfDoc::new();
    doc.add_page(612.0, 792.0);
    let mut placed = Vec::new();
    let mut place = |doc: &mut PdfDoc, picture: &image::RgbImage, x: f32, y: f32| {
        let id = doc
            .add_image(
                &image::DynamicImage::ImageRgb8(picture.clone()),
                ImageEncoding::Jpeg { quality: 75 },
            )
            .unwrap();
        // Drawn at 150 dpi: one pixel of the picture per pixel of the page as rendered.
        let bbox = BBox::new(
            x,
            y,
            x + picture.width() as f32 * 72.0 / 150.0,
            y + picture.height() as f32 * 72.0 / 150.0,
        );
        doc.pages_mut()[0].image(bbox, id);
        placed.push(bbox);
        bbox
    };
    let left = place(&mut doc, &first, 60.0, 100.0);
    place(&mut doc, &second, left.x1 + 8.0, 100.0);
    let mut x = 60.0;
    for other in &others {
        x = place(&mut doc, other, x, left.y1 + 8.0).x1 + 8.0;
    }

    let matches = verified_matches("overlapping-fields", &doc);
    for found in &matches {
        eprintln!("{found}");
    }
    assert_eq!(matches.len(), 1, "{matches:#?}");
    let found = &matches[0];
    assert_eq!(found["transform"]["partial"], true, "{found}");
    let at = |side: &str| {
        let b: Vec<f32> = found[side]["bbox"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        placed
            .iter()
            .position(|p| (p.x0 - b[0]).abs() < 3.0 && (p.y0 - b[1]).abs() < 3.0)
    };
    let (a, b) = (at("a"), at("b"));
    assert!(
        matches!((a, b), (Some(0), Some(1)) | (Some(1), Some(0))),
        "{found} does not join the two crops of one field"
    );
    let (in_a, in_b) = if a == Some(0) {
        (in_first, in_second)
    } else {
        (in_second, in_first)
    };
    assert!(
        centre_inside(centre(found, "region_a"), in_a)
            && centre_inside(centre(found, "region_b"), in_b),
        "{found} is not the overlap of the two crops"
    );
}
