//! `panelscope synth` end to end, on real files: the same seed writes byte-identical catalogs;
//! the truth matches the PDFs (ids, pages, boxes); a 48-document catalog plants every edit,
//! within and across documents, with hard negatives; and real pdfium finds an image object
//! wherever the truth says a planted panel is drawn. The generator also works without real
//! images.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use panelscope::synth::{self, SynthOptions, SynthSummary};
use panelscope::truth::{Edit, PairKind, Region, Truth};
use panelscope_stages::units::BBox;
use pdfium_render::prelude::*;

/// How far, in points, a truth box may stick out of the image object it lies in (rounding of
/// the truth's two decimals and of the content stream's four).
const TOLERANCE_PT: f32 = 1.0;

/// Documents in the shared catalog: enough for every edit to be planted (one pair per 1.75
/// documents, 17 kinds of pair per round).
const CATALOG_DOCUMENTS: u32 = 48;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("panelscope-synth-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The real images (`../shared/data`); tests that use them fail here when they are missing.
fn real_images() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    assert!(
        dir.join("blots/polimi").is_dir()
            && dir.join("ground-truth/polimi_same_source.json").is_file(),
        "the real image set is missing at {} (expected blots/polimi and ground-truth/polimi_same_source.json): \
         these tests plant copies of real blots and need it",
        dir.display()
    );
    dir
}

/// pdfium binds once per process, so every test shares one instance.
fn pdfium() -> &'static Pdfium {
    static PDFIUM: OnceLock<Pdfium> = OnceLock::new();
    PDFIUM.get_or_init(|| {
        let library = Path::new(env!("CARGO_MANIFEST_DIR")).join(".local/pdfium/libpdfium.so");
        assert!(
            library.is_file(),
            "pdfium is missing at {}: run `bash scripts/setup.sh` first",
            library.display()
        );
        let bindings = Pdfium::bind_to_library(&library)
            .unwrap_or_else(|error| panic!("cannot load {}: {error:?}", library.display()));
        Pdfium::new(bindings)
    })
}

/// A generated catalog shared by the tests that only read it.
struct Catalog {
    dir: PathBuf,
    truth: Truth,
    summary: SynthSummary,
}

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        // Kept under the target folder (no test outlives the others to delete it), under a
        // fixed name that each run regenerates in place.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("synth-catalog");
        let options = SynthOptions {
            out: dir.clone(),
            docs: CATALOG_DOCUMENTS,
            seed: 7,
            real_images: Some(real_images()),
        };
        let summary = synth::run(&options).expect("the catalog is generated");
        let truth = Truth::read(&dir.join("truth.json")).expect("truth.json reads back");
        Catalog {
            dir,
            truth,
            summary,
        }
    })
}

/// Every file of a folder with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&path).unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_same_seed_writes_byte_identical_catalogs() {
    let (first, second, other) = (temp_dir("seed-a"), temp_dir("seed-b"), temp_dir("seed-c"));
    let options = |out: &Path, seed: u64| SynthOptions {
        out: out.to_path_buf(),
        docs: 5,
        seed,
        real_images: Some(real_images()),
    };
    synth::run(&options(&first, 3)).unwrap();
    synth::run(&options(&second, 3)).unwrap();
    synth::run(&options(&other, 4)).unwrap();
    let (a, b, c) = (files(&first), files(&second), files(&other));
    assert_eq!(a.len(), 6, "five PDFs and truth.json: {:?}", a.keys());
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (name, bytes) in &a {
        assert!(
            *bytes == b[name],
            "{name} differs between two runs with one seed"
        );
    }
    assert!(
        a["doc-0001.pdf"] != c["doc-0001.pdf"],
        "another seed should write another catalog"
    );
    for dir in [first, second, other] {
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[test]
fn a_rerun_into_the_same_folder_leaves_only_this_catalog() {
    let dir = temp_dir("rerun");
    let options = |docs| SynthOptions {
        out: dir.clone(),
        docs,
        seed: 11,
        real_images: None,
    };
    synth::run(&options(4)).unwrap();
    synth::run(&options(2)).unwrap();
    let names: Vec<String> = files(&dir).into_keys().collect();
    assert_eq!(names, ["doc-0001.pdf", "doc-0002.pdf", "truth.json"]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn without_real_images_the_catalog_is_procedural_and_still_consistent() {
    for (name, real_images) in [
        ("none", None),
        (
            "missing",
            Some(PathBuf::from("/nonexistent/panelscope-data")),
        ),
    ] {
        let dir = temp_dir(name);
        let summary = synth::run(&SynthOptions {
            out: dir.clone(),
            docs: 4,
            seed: 5,
            real_images,
        })
        .unwrap();
        assert_eq!(summary.real_images_used, 0);
        let truth = Truth::read(&dir.join("truth.json")).unwrap();
        assert_truth_matches_files(&dir, &truth);
        for pair in &truth.pairs {
            let source = pair
                .params
                .get("source")
                .and_then(|s| s.as_str())
                .unwrap_or("");
            assert!(
                source.starts_with("procedural_"),
                "pair {} has source {source}",
                pair.id
            );
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}

/// A page's width and height in points.
type PageSize = (f32, f32);

/// Checks every document's id, page count and every region's file, id, page and box.
fn assert_truth_matches_files(dir: &Path, truth: &Truth) {
    let mut pages: BTreeMap<&str, (String, Vec<PageSize>)> = BTreeMap::new();
    let names: Vec<&str> = truth.documents.iter().map(|d| d.file.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "documents are listed in file-name order");
    for document in &truth.documents {
        let bytes = std::fs::read(dir.join(&document.file))
            .unwrap_or_else(|e| panic!("{}: {e}", document.file));
        assert_eq!(
            blake3::hash(&bytes).to_hex().to_string(),
            document.doc,
            "{}: id is not the blake3 of its bytes",
            document.file
        );
        assert!(
            bytes.len() < 1_200_000,
            "{} is {} bytes",
            document.file,
            bytes.len()
        );
        let pdf = pdfium().load_pdf_from_byte_slice(&bytes, None).unwrap();
        let sizes: Vec<PageSize> = pdf
            .pages()
            .iter()
            .map(|p| (p.width().value, p.height().value))
            .collect();
        assert_eq!(
            sizes.len() as u32,
            document.pages,
            "{}: page count",
            document.file
        );
        assert!(
            (4..=10).contains(&document.pages),
            "{} has {} pages",
            document.file,
            document.pages
        );
        pages.insert(document.file.as_str(), (document.doc.clone(), sizes));
    }
    let regions = truth
        .pairs
        .iter()
        .flat_map(|p| [&p.a, &p.b])
        .chain(truth.hard_negatives.iter().flat_map(|n| [&n.a, &n.b]));
    for region in regions {
        let (doc, sizes) = pages
            .get(region.file.as_str())
            .unwrap_or_else(|| panic!("{} is not a catalog document", region.file));
        assert_eq!(
            &region.doc, doc,
            "{}: region names another document id",
            region.file
        );
        assert!(
            region.page >= 1 && region.page as usize <= sizes.len(),
            "{} has no page {}",
            region.file,
            region.page
        );
        let (width, height) = sizes[region.page as usize - 1];
        let [x0, y0, x1, y1] = region.bbox;
        assert!(
            x0 >= 0.0 && y0 >= 0.0 && x1 <= width && y1 <= height && x0 < x1 && y0 < y1,
            "{}: box {:?} on a {width} x {height} page",
            region.file,
            region.bbox
        );
    }
}

#[test]
fn the_truth_matches_the_written_pdfs() {
    let catalog = catalog();
    assert_eq!(catalog.truth.documents.len() as u32, CATALOG_DOCUMENTS);
    assert_truth_matches_files(&catalog.dir, &catalog.truth);
    let ids: Vec<u32> = catalog.truth.pairs.iter().map(|p| p.id).collect();
    assert_eq!(
        ids,
        (1..=ids.len() as u32).collect::<Vec<_>>(),
        "pair ids run 1, 2, 3, …"
    );
    for pair in &catalog.truth.pairs {
        let same_document = pair.a.doc == pair.b.doc;
        assert_eq!(
            pair.kind == PairKind::IntraDocument,
            same_document,
            "pair {}: kind {:?}",
            pair.id,
            pair.kind
        );
        assert_ne!(
            (&pair.a.file, pair.a.page, pair.a.bbox),
            (&pair.b.file, pair.b.page, pair.b.bbox),
            "pair {} points twice at one region",
            pair.id
        );
    }
}

#[test]
fn every_edit_is_planted_within_and_across_documents() {
    let catalog = catalog();
    let truth = &catalog.truth;
    let single: BTreeSet<Edit> = truth
        .pairs
        .iter()
        .filter(|p| p.edits.len() == 1)
        .map(|p| p.edits[0])
        .collect();
    for edit in Edit::ALL {
        assert!(
            single.contains(&edit),
            "no pair plants {} on its own",
            edit.name()
        );
    }
    assert!(
        truth.pairs.iter().any(|p| p.edits.len() >= 2),
        "no combination of edits"
    );
    assert!(
        truth
            .pairs
            .iter()
            .any(|p| p.kind == PairKind::IntraDocument),
        "no pair within a document"
    );
    assert!(
        truth
            .pairs
            .iter()
            .any(|p| p.kind == PairKind::CrossDocument),
        "no pair across documents"
    );
    assert!(!truth.hard_negatives.is_empty(), "no hard negatives");
    // Roughly one pair per 1.5–2 documents, and a good share of documents with none.
    let per_pair = truth.documents.len() as f32 / truth.pairs.len() as f32;
    assert!(
        (1.4..=2.1).contains(&per_pair),
        "{} pairs for {} documents",
        truth.pairs.len(),
        truth.documents.len()
    );
    assert!(
        catalog.summary.documents_without_pairs * 5 >= truth.documents.len(),
        "only {} documents without pairs",
        catalog.summary.documents_without_pairs
    );
    assert!(
        catalog.summary.real_images_used > 0,
        "no real image was used"
    );
    for pair in truth.pairs.iter().filter(|p| p.edits.contains(&Edit::Crop)) {
        let kept = pair.params["crop"]["kept_area"].as_f64().unwrap();
        assert!(
            (0.45..=0.95).contains(&kept),
            "pair {} keeps {kept} of the area",
            pair.id
        );
        assert!(
            pair.params["crop"]["box_px"].is_array(),
            "pair {} records no crop box",
            pair.id
        );
    }
}

/// Image objects on each page of a PDF, in page space.
fn image_bounds(path: &Path) -> Vec<Vec<BBox>> {
    let document = pdfium().load_pdf_from_file(path, None).unwrap();
    document
        .pages()
        .iter()
        .map(|page| {
            let height = page.height().value;
            page.objects()
                .iter()
                .filter(|object| object.object_type() == PdfPageObjectType::Image)
                .map(|object| {
                    let bounds = object.bounds().unwrap();
                    BBox::new(
                        bounds.left().value,
                        height - bounds.top().value,
                        bounds.right().value,
                        height - bounds.bottom().value,
                    )
                })
                .collect()
        })
        .collect()
}

fn inside(region: &Region, image: &BBox) -> bool {
    let [x0, y0, x1, y1] = region.bbox;
    x0 >= image.x0 - TOLERANCE_PT
        && y0 >= image.y0 - TOLERANCE_PT
        && x1 <= image.x1 + TOLERANCE_PT
        && y1 <= image.y1 + TOLERANCE_PT
}

#[test]
fn planted_panels_are_embedded_images_where_the_truth_says() {
    let catalog = catalog();
    let mut bounds: BTreeMap<String, Vec<Vec<BBox>>> = BTreeMap::new();
    let mut per_panel = 0;
    for pair in &catalog.truth.pairs {
        for region in [&pair.a, &pair.b] {
            let pages = bounds
                .entry(region.file.clone())
                .or_insert_with(|| image_bounds(&catalog.dir.join(&region.file)));
            let images = &pages[region.page as usize - 1];
            // A splice's strip lies inside its panel's image too; any other region is a whole
            // panel: one image object of its own, or a part of a composite figure's image.
            let holder = images.iter().find(|image| inside(region, image));
            assert!(
                holder.is_some(),
                "pair {} ({:?}): no image object on {} page {} holds {:?}; images: {images:?}",
                pair.id,
                pair.edits,
                region.file,
                region.page,
                region.bbox
            );
            let exact = images.iter().any(|image| {
                let [x0, y0, x1, y1] = region.bbox;
                [x0 - image.x0, y0 - image.y0, x1 - image.x1, y1 - image.y1]
                    .iter()
                    .all(|d| d.abs() <= TOLERANCE_PT)
            });
            if exact {
                per_panel += 1;
            }
        }
    }
    assert!(
        per_panel > 0,
        "no planted panel is an image object of its own"
    );
    for negative in &catalog.truth.hard_negatives {
        for region in [&negative.a, &negative.b] {
            let pages = bounds
                .entry(region.file.clone())
                .or_insert_with(|| image_bounds(&catalog.dir.join(&region.file)));
            let images = &pages[region.page as usize - 1];
            assert!(
                images.iter().any(|image| inside(region, image)),
                "hard negative ({}): nothing drawn at {:?} on {} page {}",
                negative.reason,
                region.bbox,
                region.file,
                region.page
            );
        }
    }
}
