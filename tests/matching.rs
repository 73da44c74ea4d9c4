//! The whole job on a synthetic catalog with real pdfium, FAISS and SQLite: ingest finds matches,
//! `matches` prints them as JSON lines, `report` writes an HTML bundle that headless Chromium loads
//! with every match; a grown catalog only embeds its new documents; and after SIGKILLs at varied
//! moments the index and the store hold exactly the same vectors; `reindex` rebuilds a lost index;
//! and two runs of one catalog record the same matches, whichever document finished first.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;

use panelscope_stages::embed::EmbedConfig;
use panelscope_stages::index::{IndexConfig, ShardedIndex};
use panelscope_stages::parts::PartIndex;
use panelscope_stages::store::Store;
use support::temp_dir;

const BIN: &str = env!("CARGO_BIN_EXE_panelscope");

fn run(args: &[&str], data: &Path) -> String {
    support::panelscope(data, args)
}

/// The JSON lines `matches` prints, parsed.
fn json_lines(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A catalog with only procedural panels, so the test needs nothing outside the repository.
fn synth(out: &Path, docs: u32, seed: u32) {
    let out_s = out.to_str().unwrap();
    let status = Command::new(BIN)
        .args([
            "synth",
            "--out",
            out_s,
            "--docs",
            &docs.to_string(),
            "--seed",
            &seed.to_string(),
            "--real-images",
            "",
        ])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

/// Every stage line of an ingest summary: name → (in, out).
fn stage_counts(summary: &str, stage: &str) -> (u64, u64) {
    let line = summary
        .lines()
        .find(|l| l.split_whitespace().next() == Some(stage))
        .unwrap_or_else(|| panic!("no {stage} in\n{summary}"));
    let fields: Vec<&str> = line.split_whitespace().collect();
    (fields[3].parse().unwrap_or(0), fields[4].parse().unwrap())
}

fn chromium() -> PathBuf {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("Chromium is not installed: run `bash scripts/setup.sh` (Debian package chromium)")
}

#[test]
fn ingest_matches_and_an_html_report_a_browser_loads() {
    let dir = temp_dir("e2e");
    let catalog = dir.join("catalog");
    synth(&catalog, 16, 3);
    let data = dir.join("data");
    let summary = run(&["ingest", catalog.to_str().unwrap()], &data);
    assert_eq!(stage_counts(&summary, "record").0, 16, "{summary}");

    let matches = json_lines(&run(&["matches", "--verified"], &data));
    assert!(
        !matches.is_empty(),
        "a catalog with planted copies yields verified matches"
    );
    for m in &matches {
        for side in ["a", "b"] {
            let bbox = m[side]["bbox"].as_array().unwrap();
            assert_eq!(bbox.len(), 4);
            assert!(m[side]["page"].as_u64().unwrap() >= 1);
            assert_eq!(m[side]["doc"].as_str().unwrap().len(), 64);
            assert!(m[side]["path"].as_str().unwrap().ends_with(".pdf"));
            let class = m[side]["class"].as_str().unwrap_or("none");
            assert!(
                ["blot", "gel", "microscopy", "other"].contains(&class),
                "{m}"
            );
        }
        assert_eq!(m["verified"], true);
        assert!(["intra_document", "cross_document"].contains(&m["kind"].as_str().unwrap()));
        assert!(m["transform"]["dihedral"].is_string());
        assert!(m["transform"]["edited"].is_boolean() && m["transform"]["partial"].is_boolean());
    }

    let eval = run(
        &[
            "eval",
            "--truth",
            catalog.join("truth.json").to_str().unwrap(),
        ],
        &data,
    );
    assert!(
        eval.contains("panelscope") && eval.contains("phash"),
        "{eval}"
    );
    // The planted blots' panels were classified, none of them as a drawn graphic (the one label
    // that can keep a match out of the stream).
    let blot_row: Vec<f32> = eval
        .lines()
        .skip_while(|l| !l.starts_with("panel classes"))
        .find(|l| l.starts_with("blot "))
        .unwrap_or_else(|| panic!("no class table with a blot row:\n{eval}"))
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(blot_row[..4].iter().sum::<f32>() > 0.0, "{eval}");
    assert_eq!(blot_row[3], 0.0, "planted blots labelled other:\n{eval}");

    let report = dir.join("report");
    run(&["report", "--out", report.to_str().unwrap()], &data);
    let index = report.join("index.html");
    for n in 1..=matches.len() {
        let bundle = report.join(format!("match-{n:04}"));
        for file in ["pair.png", "page-a.png", "page-b.png", "match.json"] {
            assert!(
                bundle.join(file).is_file(),
                "{} is missing",
                bundle.join(file).display()
            );
        }
    }
    let profile = dir.join("chromium-profile");
    let dom = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--allow-file-access-from-files",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", index.display()))
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert_eq!(
        dom.matches("data-match=").count(),
        matches.len(),
        "the browser sees every match:\n{dom}"
    );
    assert!(dom.contains("panelscope evidence"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn two_runs_of_one_catalog_record_the_same_matches_whatever_finished_first() {
    let dir = temp_dir("same-twice");
    let catalog = dir.join("catalog");
    synth(&catalog, 24, 5);
    // One render worker finishes documents in catalog order; three finish them as they come.
    let listed = |workers: &str| {
        let data = dir.join(format!("data-{workers}"));
        run(
            &["ingest", "--workers", workers, catalog.to_str().unwrap()],
            &data,
        );
        run(&["matches", "--include-suppressed"], &data)
    };
    let (one, three) = (listed("1"), listed("3"));
    assert!(
        one.lines().count() > 10,
        "too few candidates to tell:\n{one}"
    );
    assert_eq!(one, three, "the recorded matches depend on timing");
}

#[test]
fn a_grown_catalog_only_embeds_and_indexes_the_new_documents() {
    let dir = temp_dir("grown");
    let all = dir.join("all");
    synth(&all, 12, 5);
    let catalog = dir.join("catalog");
    std::fs::create_dir_all(&catalog).unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&all)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "pdf"))
        .collect();
    files.sort();
    for file in &files[..8] {
        std::fs::copy(file, catalog.join(file.file_name().unwrap())).unwrap();
    }
    let data = dir.join("data");
    let first = run(&["ingest", catalog.to_str().unwrap()], &data);
    assert_eq!(stage_counts(&first, "embed").0, 8);
    for file in &files[8..] {
        std::fs::copy(file, catalog.join(file.file_name().unwrap())).unwrap();
    }
    let second = run(&["ingest", catalog.to_str().unwrap()], &data);
    assert_eq!(
        stage_counts(&second, "embed").0,
        4,
        "only the new documents are embedded:\n{second}"
    );
    assert_eq!(stage_counts(&second, "index").0, 4);
    assert_consistent(&data);

    // `reindex` rebuilds a lost index and re-embeds panels whose vectors are gone.
    let store_file = data.join("panelscope.sqlite");
    let (panels, dropped) = {
        let conn = rusqlite::Connection::open(&store_file).unwrap();
        let panels: i64 = conn
            .query_row("SELECT COUNT(*) FROM panels WHERE uniform = 0", [], |r| {
                r.get(0)
            })
            .unwrap();
        let dropped = conn
            .execute("DELETE FROM embeddings WHERE panel % 3 = 0", [])
            .unwrap();
        (panels, dropped)
    };
    assert!(dropped > 0);
    std::fs::remove_dir_all(data.join("index")).unwrap();
    let reindexed = run(&["reindex"], &data);
    assert!(
        reindexed.contains(&format!("{dropped} panels embedded"))
            && reindexed.contains(&format!("{panels} panels indexed")),
        "{reindexed}"
    );
    assert_consistent(&data);
    // Another count of indexed windows: every panel is embedded again, the index rebuilt with it.
    let no_windows = dir.join("no-indexed-windows.toml");
    std::fs::write(&no_windows, "[embed]\nindexed_window_sizes = []\n").unwrap();
    let reindexed = run(
        &["--config", no_windows.to_str().unwrap(), "reindex"],
        &data,
    );
    assert!(
        reindexed.contains(&format!("{panels} panels embedded"))
            && reindexed.contains(&format!("{panels} panels indexed ({panels} vectors)")),
        "{reindexed}"
    );
    assert_consistent(&data);
    std::fs::remove_dir_all(dir).unwrap();
}

/// A PDF of one page per image, each holding its image at its box under a line of text.
fn image_pdf(path: &Path, pages: &[(&image::RgbImage, panelscope_stages::units::BBox)]) {
    use panelscope::pdfgen::{ImageEncoding, PdfDoc};
    let mut doc = PdfDoc::new();
    for (n, (image, bbox)) in pages.iter().enumerate() {
        let id = doc
            .add_image(
                &image::DynamicImage::ImageRgb8((*image).clone()),
                ImageEncoding::Flate,
            )
            .unwrap();
        numbered_page(&mut doc, n + 1).image(*bbox, id);
    }
    doc.write_to(path).unwrap();
}

/// A new US-letter page of `doc` with its number at the top.
fn numbered_page(
    doc: &mut panelscope::pdfgen::PdfDoc,
    number: usize,
) -> &mut panelscope::pdfgen::PdfPage {
    let page = doc.add_page(612.0, 792.0);
    page.text(
        72.0,
        60.0,
        12.0,
        panelscope::pdfgen::Font::Helvetica,
        &format!("Page {number}"),
    );
    page
}

/// The verified matches of `data` as (path of a, path of b) file names, sorted within each pair.
fn verified_pairs(data: &Path) -> Vec<(String, String)> {
    let name = |m: &serde_json::Value, side: &str| {
        let path = m[side]["path"].as_str().unwrap();
        let page = m[side]["page"].as_u64().unwrap();
        format!(
            "{}#{page}",
            Path::new(path).file_name().unwrap().to_string_lossy()
        )
    };
    json_lines(&run(&["matches", "--verified"], data))
        .into_iter()
        .map(|m| {
            let (a, b) = (name(&m, "a"), name(&m, "b"));
            if a <= b { (a, b) } else { (b, a) }
        })
        .collect()
}

/// The real papers of ../shared/data/pdfs-bio share no figure, but four of them carry the same
/// publisher logo in their page headers: whichever paper shows it first, no match of it (nor of a
/// copy of it) reaches the stream, across papers or within one. Nor does any other pair: a
/// colour-scale legend and a slider bar drawn twice in one paper are near-blank.
#[test]
fn publisher_logos_of_real_papers_stay_out_of_the_match_stream() {
    let papers = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/pdfs-bio");
    assert!(papers.is_dir(), "{} is missing", papers.display());
    let dir = temp_dir("real-boilerplate");
    let data = dir.join("data");
    run(&["ingest", papers.to_str().unwrap()], &data);
    let matches = json_lines(&run(&["matches", "--verified"], &data));
    assert!(
        matches.is_empty(),
        "a reviewer would see {} matches between papers that share no figure:\n{}",
        matches.len(),
        matches
            .iter()
            .map(|m| m.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
    // They are kept, outside the stream.
    let all = run(&["matches", "--verified", "--include-suppressed"], &data);
    assert!(
        all.lines().count() > matches.len(),
        "the logo matches are not recorded:\n{all}"
    );
}

/// A real blot from ../shared/data (a 256-pixel grey patch).
fn real_blot() -> image::DynamicImage {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/blots/polimi/polimi__lf_64x64_google_000004_patch_000.png");
    image::open(&source)
        .unwrap_or_else(|e| panic!("{}: {e} (the shared real-data folder)", source.display()))
}

/// A fresh folder named after `name` holding two empty catalog folders, ingested in turn by
/// [`ingest_in_turn`]: returns (the folder, the first catalog, the second).
fn two_catalogs(name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let dir = temp_dir(name);
    let (first, second) = (dir.join("first"), dir.join("second"));
    std::fs::create_dir_all(&first).unwrap();
    std::fs::create_dir_all(&second).unwrap();
    (dir, first, second)
}

/// Ingests `catalogs` one after the other into `data`, with `config` overlaid when given.
fn ingest_in_turn(catalogs: &[&Path], config: Option<&Path>, data: &Path) {
    for catalog in catalogs {
        let mut args: Vec<&str> = Vec::new();
        if let Some(config) = config {
            args.extend(["--config", config.to_str().unwrap()]);
        }
        args.extend(["ingest", catalog.to_str().unwrap()]);
        run(&args, data);
    }
}

/// A real blot and a crop of it (three quarters of its width and height, off centre): the panel's
/// window queries find the crop whether the crop was indexed first (another document, an earlier
/// run) or comes after it on a later page of the same document; without windows or nearest
/// neighbours, neither is found.
#[test]
fn crops_are_found_from_the_panel_they_were_cut_from() {
    use panelscope_stages::units::BBox;
    let blot = real_blot().to_rgb8();
    let crop = image::imageops::crop_imm(&blot, 28, 36, 192, 192).to_image();
    let (dir, first, second) = two_catalogs("crops");
    let whole_box = BBox::new(120.0, 200.0, 360.0, 440.0);
    let crop_box = BBox::new(150.0, 220.0, 330.0, 400.0);
    image_pdf(&first.join("crop.pdf"), &[(&crop, crop_box)]);
    image_pdf(&second.join("whole.pdf"), &[(&blot, whole_box)]);
    image_pdf(
        &second.join("both.pdf"),
        &[(&blot, whole_box), (&crop, crop_box)],
    );

    // Nor are they found by the crop's nearest neighbours or the windows the index holds, with
    // them off (see
    // `crops_indexed_after_their_panel_are_found_by_its_indexed_windows_or_nearest_neighbours`),
    // nor by the search
    // of one document's pictures for parts they share, which finds the crop drawn at its pixels'
    // scale beside its panel whatever the candidates, nor by the index of parts, which finds it
    // in the other document the same way.
    let no_windows = dir.join("no-windows.toml");
    std::fs::write(
        &no_windows,
        "[embed]\nwindow_sizes = []\nindexed_window_sizes = []\n[index]\nnearest_candidates = 0\nsearch_parts = false\n[verify]\nsearch_shared_parts = false\n",
    )
    .unwrap();
    for (config, found) in [(None, true), (Some(&no_windows), false)] {
        let data = dir.join(if found { "data" } else { "data-no-windows" });
        ingest_in_turn(&[&first, &second], config.map(PathBuf::as_path), &data);
        let pairs = verified_pairs(&data);
        let wanted = [
            ("crop.pdf#1".to_string(), "whole.pdf#1".to_string()),
            ("both.pdf#1".to_string(), "both.pdf#2".to_string()),
        ];
        for pair in &wanted {
            assert_eq!(
                pairs.contains(pair),
                found,
                "{pair:?} among the verified pairs {pairs:?} (windows: {found})"
            );
        }
        // Each pair once.
        let mut unique = pairs.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), pairs.len(), "{pairs:?}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// A real stained brain section (../shared/data/figures/figure-separator: fibres a pixel or two
/// wide) and a crop of it below its lettering, shown larger on the next page: the crop is placed
/// by its content to a work pixel, which the fibres do not survive, and is then registered on
/// one pixel grid with the section, where they agree.
#[test]
fn a_crop_of_a_real_stained_section_shown_larger_is_found_where_it_was_cut() {
    use panelscope_stages::units::BBox;
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/figures/figure-separator/PM27563885-Figure4-1.png");
    let figure = image::open(&source)
        .unwrap_or_else(|e| panic!("{}: {e} (the shared real-data folder)", source.display()))
        .to_rgb8();
    let section = image::imageops::crop_imm(&figure, 74, 708, 210, 156).to_image();
    let crop = image::imageops::crop_imm(&section, 0, 24, 148, 132).to_image();
    let dir = temp_dir("stained-section");
    let catalog = dir.join("catalog");
    std::fs::create_dir_all(&catalog).unwrap();
    image_pdf(
        &catalog.join("sections.pdf"),
        &[
            (&section, BBox::new(100.0, 200.0, 226.0, 293.6)),
            (&crop, BBox::new(100.0, 200.0, 233.2, 318.8)),
        ],
    );
    let data = dir.join("data");
    run(&["ingest", catalog.to_str().unwrap()], &data);
    let matches = json_lines(&run(&["matches", "--verified"], &data));
    assert_eq!(matches.len(), 1, "{matches:?}");
    let m = &matches[0];
    let pages = [m["a"]["page"].as_u64(), m["b"]["page"].as_u64()];
    assert!(
        pages == [Some(1), Some(2)] || pages == [Some(2), Some(1)],
        "{m}"
    );
    // Where it was cut: the left 70% of the section below its lettering.
    let cut = if pages[0] == Some(1) {
        "region_a"
    } else {
        "region_b"
    };
    let region: Vec<f64> = m["transform"][cut]
        .as_array()
        .unwrap_or_else(|| panic!("no {cut} in {m}"))
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let expected = [0.0, 24.0 / 156.0, 148.0 / 210.0, 1.0];
    for (found, want) in region.iter().zip(expected) {
        assert!(
            (found - want).abs() < 0.02,
            "{region:?} against {expected:?}: {m}"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// A crop (four fifths of the width, seven eighths of the height) indexed after the panel it was
/// cut from (a later document) is reached by none of that panel's window queries, which ran before
/// it was indexed: it reaches a window the index holds of that panel, and it is also among the
/// crop's nearest neighbours, which verification then
/// relates to it. Either finds it, and so does the index of parts (the crop is drawn at its
/// pixels' scale, a part of the panel laid again); without all three it is not found.
#[test]
fn crops_indexed_after_their_panel_are_found_by_its_indexed_windows_or_nearest_neighbours() {
    use panelscope_stages::units::BBox;
    let blot = real_blot().to_rgb8();
    let crop = image::imageops::crop_imm(&blot, 24, 16, 208, 224).to_image();
    let (dir, first, second) = two_catalogs("later-crops");
    image_pdf(
        &first.join("whole.pdf"),
        &[(&blot, BBox::new(120.0, 200.0, 360.0, 440.0))],
    );
    image_pdf(
        &second.join("crop.pdf"),
        &[(&crop, BBox::new(150.0, 220.0, 315.0, 397.7))],
    );
    let no_nearest = dir.join("no-nearest.toml");
    std::fs::write(
        &no_nearest,
        "[index]
nearest_candidates = 0
",
    )
    .unwrap();
    let parts_only = dir.join("parts-only.toml");
    std::fs::write(
        &parts_only,
        "[embed]\nindexed_window_sizes = []\n[index]\nnearest_candidates = 0\n",
    )
    .unwrap();
    let neither = dir.join("neither.toml");
    std::fs::write(
        &neither,
        "[embed]\nindexed_window_sizes = []\n[index]\nnearest_candidates = 0\nsearch_parts = false\n",
    )
    .unwrap();
    let pair = ("crop.pdf#1".to_string(), "whole.pdf#1".to_string());
    for (name, config, found) in [
        ("data", None, true),
        ("data-no-nearest", Some(&no_nearest), true),
        ("data-parts-only", Some(&parts_only), true),
        ("data-neither", Some(&neither), false),
    ] {
        let data = dir.join(name);
        ingest_in_turn(&[&first, &second], config.map(PathBuf::as_path), &data);
        let pairs = verified_pairs(&data);
        assert_eq!(
            pairs.contains(&pair),
            found,
            "{pair:?} among the verified pairs {pairs:?} ({name})"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// The learned embedder's index holds each panel as it is and mirrored, and queries it in four
/// turns: a real blot is still found in all eight orientations, each with the flip or turn that
/// takes the copy back onto it.
#[test]
fn a_mirrored_index_finds_every_flip_and_turn_of_a_blot() {
    use panelscope_models::Dihedral;
    use panelscope_stages::units::BBox;
    let blot = real_blot().to_luma8();
    let dir = temp_dir("mirrored");
    let (first, second) = (dir.join("first"), dir.join("second"));
    std::fs::create_dir_all(&first).unwrap();
    std::fs::create_dir_all(&second).unwrap();
    let place = BBox::new(150.0, 220.0, 330.0, 400.0);
    let rgb = |gray: &image::GrayImage| image::DynamicImage::ImageLuma8(gray.clone()).to_rgb8();
    image_pdf(&first.join("original.pdf"), &[(&rgb(&blot), place)]);
    let turned: Vec<image::RgbImage> = Dihedral::ALL[1..]
        .iter()
        .map(|d| rgb(&d.apply(&blot)))
        .collect();
    let pages: Vec<_> = turned.iter().map(|image| (image, place)).collect();
    image_pdf(&second.join("copies.pdf"), &pages);
    let config = dir.join("learned.toml");
    std::fs::write(
        &config,
        "[embed]\nmodel = \"learned\"\n[index]\nmin_similarity = 0.7\n",
    )
    .unwrap();
    let data = dir.join("data");
    let config = config.to_str().unwrap();
    for folder in [&first, &second] {
        run(
            &["--config", config, "ingest", folder.to_str().unwrap()],
            &data,
        );
    }
    let matches = json_lines(&run(&["matches", "--verified"], &data));
    for (page, d) in Dihedral::ALL[1..].iter().enumerate() {
        let found = matches.iter().find(|m| {
            m["a"]["path"].as_str().unwrap().ends_with("original.pdf")
                && m["b"]["path"].as_str().unwrap().ends_with("copies.pdf")
                && m["b"]["page"].as_u64() == Some(page as u64 + 1)
        });
        let Some(found) = found else {
            panic!("the copy turned by {d:?} is not found: {matches:#?}");
        };
        assert_eq!(
            found["transform"]["dihedral"].as_str(),
            Some(d.inverse().name()),
            "{d:?}: {found}"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// The index in `data` opened as the ingest left it: vectors of the default embedder's dimension,
/// as many a panel as the store holds of `model` for each (its views and indexed windows).
fn stored_index(data: &Path, store: &Store, model: &str) -> ShardedIndex {
    let dimension = EmbedConfig::default().embedder().unwrap().dimension();
    let per_panel = store.embeddings(model).unwrap()[0].1.len() / dimension;
    ShardedIndex::open(
        &data.join("index"),
        model,
        dimension,
        per_panel,
        &IndexConfig::default(),
    )
    .unwrap()
}

/// The index holds exactly the vectors the store holds, each once.
fn assert_consistent(data: &Path) {
    let store = Store::open(data).unwrap();
    let model = store
        .read(|c| {
            c.query_row("SELECT model FROM embeddings LIMIT 1", [], |r| {
                r.get::<_, String>(0)
            })
        })
        .unwrap();
    let stored: std::collections::HashSet<i64> = store
        .embeddings(&model)
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let index = stored_index(data, &store, &model);
    assert_eq!(index.ids(), stored, "index and store disagree");
    assert_eq!(
        index.len(),
        stored.len() * index.per_panel(),
        "a vector is in the index twice"
    );
    // The index of parts, read back from its files, holds each keyed picture the store does
    // once, and nothing else.
    let search = IndexConfig {
        part_train_size: PART_TRAIN_SIZE,
        ..IndexConfig::default()
    }
    .part_search();
    let parts = PartIndex::open(&store, &search, Some(&data.join("index"))).unwrap();
    let mut held = parts.panels();
    held.sort_unstable();
    let mut keyed: Vec<i64> = store.keyed_panels().unwrap().into_keys().collect();
    keyed.sort_unstable();
    assert!(!keyed.is_empty());
    assert_eq!(held, keyed, "index of parts and store disagree");
}

/// Keys the index of parts of the kill test is trained on: few, so that it is saved (an index
/// not yet trained is built from the store instead).
const PART_TRAIN_SIZE: usize = 2000;

#[test]
fn after_sigkills_at_varied_moments_index_and_store_agree() {
    let dir = temp_dir("kills");
    let catalog = dir.join("catalog");
    synth(&catalog, 30, 9);
    let data = dir.join("data");
    // Saving the index after every document makes a kill between the index write and the store
    // commit likely: the index then holds vectors the store never recorded (the index of parts
    // too, trained on few keys so that it is saved from the first documents on).
    let config = dir.join("save-often.toml");
    std::fs::write(
        &config,
        format!("[index]\nsave_every = \"0s\"\npart_train_size = {PART_TRAIN_SIZE}\n"),
    )
    .unwrap();
    let store_file = data.join("panelscope.sqlite");
    let complete = || support::complete_documents(&store_file);
    // Kill after 2, 5 and 9 documents are recorded: mid-embedding, mid-index, mid-transaction,
    // whatever each moment happens to be.
    for target in [2, 5, 9] {
        let mut child = Command::new(BIN)
            .arg("--data-dir")
            .arg(&data)
            .arg("--config")
            .arg(&config)
            .args(["ingest", "--workers", "1"])
            .arg(&catalog)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(300);
        while complete() < target && child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "no progress");
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        child.wait().unwrap();
    }
    // What a killed run left behind is reconciled when the next run opens the index.
    let model = Store::open(&data)
        .unwrap()
        .read(|c| {
            c.query_row("SELECT model FROM embeddings LIMIT 1", [], |r| {
                r.get::<_, String>(0)
            })
        })
        .unwrap();
    let store = Store::open(&data).unwrap();
    let mut index = stored_index(&data, &store, &model);
    index.reconcile(&store).unwrap();
    drop(index);
    assert_consistent(&data);

    run(&["ingest", catalog.to_str().unwrap()], &data);
    assert_eq!(complete(), 30);
    let (panels, distinct): (i64, i64) = store
        .read(|c| {
            Ok((
                c.query_row("SELECT COUNT(*) FROM panels", [], |r| r.get(0))?,
                c.query_row(
                    "SELECT COUNT(DISTINCT doc || page || x0 || y0) FROM panels",
                    [],
                    |r| r.get(0),
                )?,
            ))
        })
        .unwrap();
    assert_eq!(panels, distinct, "a panel was recorded twice");
    assert_consistent(&data);
    std::fs::remove_dir_all(dir).unwrap();
}

/// A pictogram drawn over and over in one document (an infographic's person icon) is a design
/// element, not reuse: its matches are recorded, labelled `other`, and kept out of the stream,
/// while a real blot shown twice in the same document still reaches it (labelled a screened class:
/// this square crop has no lanes to tell a blot by, and is called a micrograph).
#[test]
fn an_icon_repeated_through_a_document_is_not_reuse_but_a_blot_shown_twice_is() {
    use panelscope_stages::units::BBox;
    let blot = real_blot().to_rgb8();
    // An infographic's roundel: flat rings of three colours, drawn without a grain.
    let icon = image::RgbImage::from_fn(300, 300, |x, y| {
        let r = ((x as f32 - 150.0).powi(2) + (y as f32 - 150.0).powi(2)).sqrt();
        [
            image::Rgb([236, 238, 240]),
            image::Rgb([70, 150, 215]),
            image::Rgb([200, 90, 40]),
        ][(r / 22.0) as usize % 3]
    });
    let dir = temp_dir("repeated-icon");
    let catalog = dir.join("catalog");
    std::fs::create_dir_all(&catalog).unwrap();
    let blot_box = BBox::new(120.0, 200.0, 360.0, 440.0);
    // At a different place on each page: not a page template.
    let mut pages: Vec<(&image::RgbImage, BBox)> = (0..5)
        .map(|k| {
            let shift = 60.0 * k as f32;
            (
                &icon,
                BBox::new(100.0 + shift, 150.0 + shift, 300.0 + shift, 350.0 + shift),
            )
        })
        .collect();
    pages.push((&blot, blot_box));
    pages.push((&blot, blot_box));
    image_pdf(&catalog.join("infographic.pdf"), &pages);
    let data = dir.join("data");
    run(&["ingest", catalog.to_str().unwrap()], &data);

    let streamed = json_lines(&run(&["matches", "--verified"], &data));
    assert_eq!(streamed.len(), 1, "{streamed:?}");
    for side in ["a", "b"] {
        let class = streamed[0][side]["class"].as_str().unwrap_or("none");
        assert!(
            ["blot", "gel", "microscopy"].contains(&class),
            "{}",
            streamed[0]
        );
    }
    let all = json_lines(&run(
        &["matches", "--verified", "--include-suppressed"],
        &data,
    ));
    let icons: Vec<_> = all.iter().filter(|m| m["a"]["class"] == "other").collect();
    // Five copies: every pair of them is a candidate, and none is streamed.
    assert!(
        icons.len() >= 4,
        "the icon's matches are not recorded: {all:?}"
    );
    for m in icons {
        assert_eq!(m["b"]["class"], "other", "{m}");
        assert_eq!(m["suppressed"], "repeated_graphic", "{m}");
    }
}

/// A pathway diagram's node, words in a box drawn on the page, shown on two pages beside the same
/// real blot: the words set twice in one font match pixel for pixel, but the store keeps the
/// nodes out of matching (they are lettering); the blot shown twice is the one match.
#[test]
fn words_boxed_on_the_page_twice_are_no_reuse_but_a_blot_shown_twice_is() {
    use panelscope::pdfgen::{Font, ImageEncoding, PdfDoc};
    use panelscope_stages::units::BBox;
    let dir = temp_dir("boxed-words");
    let catalog = dir.join("catalog");
    std::fs::create_dir_all(&catalog).unwrap();
    let mut doc = PdfDoc::new();
    let blot = doc.add_image(&real_blot(), ImageEncoding::Flate).unwrap();
    for (k, node_left) in [90.0f32, 300.0].into_iter().enumerate() {
        let page = numbered_page(&mut doc, k + 1);
        let node = BBox::new(node_left, 150.0, node_left + 170.0, 195.0);
        page.rect(node, Some([248, 205, 215]), Some(([20, 20, 20], 1.0)));
        page.text(
            node.x0 + 22.0,
            node.y0 + 29.0,
            20.0,
            Font::Helvetica,
            "Apoptosis",
        );
        page.image(BBox::new(180.0, 300.0, 420.0, 540.0), blot);
    }
    doc.write_to(&catalog.join("pathway.pdf")).unwrap();
    let data = dir.join("data");
    run(&["ingest", catalog.to_str().unwrap()], &data);

    let all = json_lines(&run(
        &["matches", "--verified", "--include-suppressed"],
        &data,
    ));
    assert_eq!(all.len(), 1, "{all:#?}");
    for side in ["a", "b"] {
        assert_eq!(all[0][side]["class"], "blot", "{}", all[0]);
    }
    // The nodes are panels of the store, kept out of matching.
    let kept_out = Store::open(&data)
        .unwrap()
        .read(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM panels WHERE uniform = 1 AND class = 'other'",
                [],
                |r| r.get::<_, i64>(0),
            )
        })
        .unwrap();
    assert_eq!(
        kept_out, 2,
        "the two nodes are not panels kept out of matching"
    );
}
