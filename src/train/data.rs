//! Training panels for `panelscope train`: procedural blots, gels, micrographs, charts and
//! diagrams drawn from the synth generators (seeded, with look-alike siblings), and real panels
//! from `../shared/data` (polimi and bowenjo blots, panels cut from real figures, page figures
//! and images embedded in the real PDFs), split into training and held-out sets by source host.
//!
//! A host is the thing two panels must not both come from to count as different: the original
//! blot of a polimi crop (its files are crops and edits of one blot), a figure, a page, a PDF.
//! Hosts that an evaluation catalog (`panelscope synth --seed S --docs N`) draws from are never
//! trained on: they go to the held-out set, so the model never sees the evaluation's panels.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use image::imageops::{self, FilterType};
use image::{DynamicImage, GrayImage, RgbImage};

use crate::synth::distractors::{self, ChartKind, MicrographStyle};
use crate::synth::panels::{self, BlotStyle, GelStyle};
use crate::synth::plan::{self, PanelContent, Source};
use crate::synth::real::{RealCatalog, xy_cut};
use crate::synth::rng::{Rng, mix};

/// Real images are kept at most this long on their longer side: the model sees 64 px, and
/// edits (crops, rescales) stay cheap.
const MAX_REAL_SIDE: u32 = 384;

/// Real panels smaller than this (either side, pixels) are labels and icons, not panels.
const MIN_REAL_SIDE: u32 = 24;

/// Images embedded in a PDF smaller than this (either side) are logos and glyphs.
const MIN_PDF_IMAGE_SIDE: u32 = 64;

/// Most images taken from one PDF, so one long paper does not dominate the real data.
const MAX_IMAGES_PER_PDF: usize = 60;

/// Largest decoded size of one embedded PDF image (bytes): a guard against decompression bombs.
const MAX_PDF_IMAGE_BYTES: usize = 64 << 20;

/// What a procedural panel is drawn as.
#[derive(Debug, Clone)]
pub(crate) enum Procedural {
    /// A membrane or a one-row strip.
    Blot(Arc<BlotStyle>),
    /// A DNA gel.
    Gel(Arc<GelStyle>),
    /// A microscope image.
    Micrograph(Arc<MicrographStyle>),
    /// A chart.
    Chart(ChartKind),
    /// A pathway diagram.
    Diagram,
}

/// One procedural panel: its look, specimen seed and size.
#[derive(Debug, Clone)]
pub(crate) struct ProceduralSpec {
    pub look: Procedural,
    pub seed: u64,
    pub size: (u32, u32),
}

impl ProceduralSpec {
    /// A random panel, drawn in the proportions of the synth catalog's figures (blots first).
    pub(crate) fn random(rng: &mut Rng) -> Self {
        let class = rng.weighted(&[0.28, 0.24, 0.16, 0.14, 0.1, 0.08]);
        let width = rng.uniform(140.0, 340.0);
        let aspect = if class == 1 {
            rng.uniform(3.0, 6.0)
        } else {
            rng.uniform(1.0, 1.6)
        };
        let look = match class {
            0 => Procedural::Blot(Arc::new(BlotStyle::membrane(rng))),
            1 => {
                let lanes = rng.between(3, 10);
                let (margin, fill) = (rng.uniform(0.02, 0.08), rng.uniform(0.55, 0.85));
                Procedural::Blot(Arc::new(BlotStyle::strip(rng, lanes, margin, fill)))
            }
            2 => Procedural::Gel(Arc::new(GelStyle::random(rng))),
            3 => Procedural::Micrograph(Arc::new(MicrographStyle::random(rng))),
            4 => Procedural::Chart(ChartKind::random(rng)),
            _ => Procedural::Diagram,
        };
        // Rotated quarter-turn layouts exist too (vertical strips, portrait gels).
        let (w, h) = (width as u32, (width / aspect) as u32);
        let size = if rng.chance(0.1) { (h, w) } else { (w, h) };
        Self {
            look,
            seed: rng.next_u64(),
            size: (size.0.max(24), size.1.max(24)),
        }
    }

    /// A look-alike: the same style (lanes, exposure, stain) with another specimen, as the
    /// synth catalog's hard negatives are made. The hardest negatives a copy detector meets.
    pub(crate) fn sibling(&self, rng: &mut Rng) -> Self {
        Self {
            look: self.look.clone(),
            seed: rng.next_u64(),
            size: self.size,
        }
    }

    /// Its pixels.
    pub(crate) fn render(&self) -> RgbImage {
        let (width, height) = self.size;
        match &self.look {
            Procedural::Blot(style) => panels::blot(style, self.seed, width, height),
            Procedural::Gel(style) => panels::gel(style, self.seed, width, height),
            Procedural::Micrograph(style) => {
                distractors::micrograph(style, self.seed, width, height)
            }
            Procedural::Chart(kind) => distractors::chart(*kind, self.seed, width, height),
            Procedural::Diagram => distractors::diagram(self.seed, width, height),
        }
    }
}

/// Where a real panel comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum RealKind {
    /// A polimi Western-blot crop.
    PolimiBlot,
    /// A bowenjo band crop.
    BandCrop,
    /// A panel of a figure-separator compound figure.
    FigurePanel,
    /// A panel of a figure on a PubLayNet page.
    PagePanel,
    /// A panel of an image embedded in a real PDF.
    PdfPanel,
}

impl RealKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            RealKind::PolimiBlot => "polimi blot crops",
            RealKind::BandCrop => "bowenjo band crops",
            RealKind::FigurePanel => "figure-separator panels",
            RealKind::PagePanel => "PubLayNet figure panels",
            RealKind::PdfPanel => "panels of images in real PDFs",
        }
    }
}

/// One real panel, loaded.
#[derive(Debug, Clone)]
pub(crate) struct RealPanel {
    pub kind: RealKind,
    /// See the module documentation.
    pub host: String,
    /// The polimi `same_crop` group: files that are edits of one crop (real duplicates).
    pub same_crop: Option<String>,
    pub pixels: Arc<RgbImage>,
}

/// The host of a file under the data folder (`name` relative to it, without `#panel`): a polimi
/// crop's original blot (`google_000004`, `img_000040`), otherwise the file itself.
pub(crate) fn host_of(name: &str) -> String {
    let file = name.split('#').next().unwrap_or(name);
    if file.starts_with("blots/polimi/") {
        for prefix in ["google_", "img_"] {
            if let Some(start) = file.find(prefix) {
                let digits: String = file[start + prefix.len()..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                if !digits.is_empty() {
                    return format!("polimi:{prefix}{digits}");
                }
            }
        }
    }
    file.to_string()
}

/// Every real panel under `dir`, in a stable order.
pub(crate) fn load_real(dir: &Path) -> Result<Vec<RealPanel>> {
    let mut found = Vec::new();
    let same_crop = same_crop_groups(dir)?;
    for path in files(&dir.join("blots/polimi"), &["png", "jpg", "jpeg"])? {
        let name = relative(dir, &path);
        found.push(RealPanel {
            host: host_of(&name),
            same_crop: same_crop.get(&name).cloned(),
            kind: RealKind::PolimiBlot,
            pixels: Arc::new(shrink(open_rgb(&path)?)),
        });
    }
    for path in files(&dir.join("blots/bowenjo"), &["png", "jpg", "jpeg"])? {
        let name = relative(dir, &path);
        found.push(RealPanel {
            host: host_of(&name),
            same_crop: None,
            kind: RealKind::BandCrop,
            pixels: Arc::new(open_rgb(&path)?),
        });
    }
    for path in files(
        &dir.join("figures/figure-separator"),
        &["png", "jpg", "jpeg"],
    )? {
        let name = relative(dir, &path);
        found.extend(cut_panels(&open_rgb(&path)?, &name, RealKind::FigurePanel));
    }
    found.extend(page_figure_panels(dir)?);
    for folder in ["pdfs-bio", "pdfs"] {
        for path in files(&dir.join(folder), &["pdf"])? {
            let name = relative(dir, &path);
            for (index, image) in pdf_images(&path).into_iter().enumerate() {
                found.extend(cut_panels(
                    &image,
                    &format!("{name}#image{index}"),
                    RealKind::PdfPanel,
                ));
            }
        }
    }
    Ok(found)
}

/// The real hosts the catalog `panelscope synth --seed seed --docs docs --real-images dir` draws
/// its panels from.
pub(crate) fn catalog_hosts(dir: &Path, seed: u64, docs: u32) -> Result<BTreeSet<String>> {
    let real = RealCatalog::load(Some(dir), seed)?;
    let plan = plan::plan(seed, docs as usize, &real)?;
    Ok(plan
        .panels
        .iter()
        .filter_map(|panel| match &panel.content {
            PanelContent::Original(Source::Real { image, .. }) => {
                Some(host_of(&real.images[*image].name))
            }
            _ => None,
        })
        .collect())
}

/// Panels cut from a figure by the synth's XY-cut, each its own panel of the figure's host.
fn cut_panels(figure: &RgbImage, name: &str, kind: RealKind) -> Vec<RealPanel> {
    let figure = shrink_to(figure.clone(), 1024);
    let host = host_of(name);
    xy_cut(&figure)
        .into_iter()
        .filter_map(|(x0, y0, x1, y1)| {
            let (width, height) = (x1 - x0, y1 - y0);
            if width < MIN_REAL_SIDE || height < MIN_REAL_SIDE {
                return None;
            }
            let pixels = imageops::crop_imm(&figure, x0, y0, width, height).to_image();
            informative(&pixels).then(|| RealPanel {
                kind,
                host: host.clone(),
                same_crop: None,
                pixels: Arc::new(shrink(pixels)),
            })
        })
        .collect()
}

/// Panels of the figures marked on the PubLayNet pages (`samples.json`, category "figure").
fn page_figure_panels(dir: &Path) -> Result<Vec<RealPanel>> {
    let folder = dir.join("figures/publaynet");
    let Some(json) = json_if_present(&folder.join("samples.json"))? else {
        return Ok(Vec::new());
    };
    let figure_category = json["categories"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == "figure")
        .and_then(|c| c["id"].as_i64());
    let files: BTreeMap<i64, String> = json["images"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| Some((i["id"].as_i64()?, i["file_name"].as_str()?.to_string())))
        .collect();
    let mut panels = Vec::new();
    for (index, annotation) in json["annotations"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        if annotation["category_id"].as_i64() != figure_category {
            continue;
        }
        let Some(file) = annotation["image_id"]
            .as_i64()
            .and_then(|id| files.get(&id))
        else {
            continue;
        };
        let bbox: Vec<f64> = annotation["bbox"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_f64())
            .collect();
        let [x, y, w, h] = bbox[..] else { continue };
        let page = open_rgb(&folder.join(file))?;
        let (x0, y0) = (x.max(0.0) as u32, y.max(0.0) as u32);
        let (x1, y1) = (
            ((x + w) as u32).min(page.width()),
            ((y + h) as u32).min(page.height()),
        );
        if x1 <= x0 + MIN_REAL_SIDE || y1 <= y0 + MIN_REAL_SIDE {
            continue;
        }
        let figure = imageops::crop_imm(&page, x0, y0, x1 - x0, y1 - y0).to_image();
        // Pages are the host: figures on one page share captions and styles.
        let name = format!("figures/publaynet/{file}#figure{index}");
        panels.extend(cut_panels(&figure, &name, RealKind::PagePanel));
    }
    Ok(panels)
}

/// Raster images embedded in a PDF that decode without a colour-management step: JPEG streams,
/// and 8-bit gray or RGB Flate streams. Anything unreadable is skipped: this is training data,
/// not intake.
fn pdf_images(path: &Path) -> Vec<RgbImage> {
    let Ok(document) = lopdf::Document::load(path) else {
        return Vec::new();
    };
    let mut images = Vec::new();
    for object in document.objects.values() {
        if images.len() >= MAX_IMAGES_PER_PDF {
            break;
        }
        let lopdf::Object::Stream(stream) = object else {
            continue;
        };
        let is_image = stream
            .dict
            .get(b"Subtype")
            .and_then(lopdf::Object::as_name)
            .is_ok_and(|name| name == b"Image");
        let number = |key: &[u8]| stream.dict.get(key).and_then(lopdf::Object::as_i64).ok();
        let (Some(width), Some(height)) = (number(b"Width"), number(b"Height")) else {
            continue;
        };
        if !is_image
            || width < i64::from(MIN_PDF_IMAGE_SIDE)
            || height < i64::from(MIN_PDF_IMAGE_SIDE)
        {
            continue;
        }
        let (width, height) = (width as u32, height as u32);
        let indexed_or_cmyk = match stream.dict.get(b"ColorSpace") {
            Ok(lopdf::Object::Name(name)) => name == b"DeviceCMYK",
            Ok(lopdf::Object::Array(items)) => items
                .first()
                .and_then(|first| first.as_name().ok())
                .is_some_and(|name| name == b"Indexed" || name == b"DeviceN"),
            _ => false,
        };
        let filters = stream.filters().unwrap_or_default();
        let decoded = if filters == [b"DCTDecode".as_slice()] {
            image::load_from_memory(&stream.content)
                .ok()
                .map(|image| image.to_rgb8())
        } else if !indexed_or_cmyk
            && number(b"BitsPerComponent") == Some(8)
            && filters.iter().all(|f| *f == b"FlateDecode")
        {
            stream
                .decompressed_content_with_limit(MAX_PDF_IMAGE_BYTES)
                .ok()
                .and_then(|bytes| {
                    let pixels = (width * height) as usize;
                    if bytes.len() == pixels {
                        GrayImage::from_raw(width, height, bytes)
                            .map(|gray| DynamicImage::ImageLuma8(gray).to_rgb8())
                    } else if bytes.len() == pixels * 3 {
                        RgbImage::from_raw(width, height, bytes)
                    } else {
                        None
                    }
                })
        } else {
            None
        };
        if let Some(image) = decoded.filter(|image| image.dimensions() == (width, height)) {
            images.push(image);
        }
    }
    images
}

/// Whether a panel has content worth learning: not a flat fill or a blank margin.
fn informative(image: &RgbImage) -> bool {
    let gray = DynamicImage::ImageRgb8(image.clone()).to_luma8();
    let count = gray.pixels().len().max(1) as f32;
    let mean = gray.pixels().map(|p| f32::from(p.0[0])).sum::<f32>() / count;
    let variance = gray
        .pixels()
        .map(|p| (f32::from(p.0[0]) - mean).powi(2))
        .sum::<f32>()
        / count;
    variance.sqrt() > 6.0
}

/// The JSON in `file`, or `None` when there is no such file (the data set is optional).
fn json_if_present(file: &Path) -> Result<Option<serde_json::Value>> {
    if !file.is_file() {
        return Ok(None);
    }
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    serde_json::from_str(&text)
        .map(Some)
        .with_context(|| format!("{} is not JSON", file.display()))
}

/// The `same_crop` group of each polimi file.
fn same_crop_groups(dir: &Path) -> Result<BTreeMap<String, String>> {
    let Some(json) = json_if_present(&dir.join("ground-truth/polimi_same_source.json"))? else {
        return Ok(BTreeMap::new());
    };
    let mut groups = BTreeMap::new();
    for (group, members) in json["same_crop"].as_object().into_iter().flatten() {
        for member in members.as_array().into_iter().flatten() {
            if let Some(member) = member.as_str() {
                groups.insert(member.to_string(), group.clone());
            }
        }
    }
    Ok(groups)
}

fn shrink(image: RgbImage) -> RgbImage {
    shrink_to(image, MAX_REAL_SIDE)
}

fn shrink_to(image: RgbImage, side: u32) -> RgbImage {
    let (width, height) = image.dimensions();
    let longest = width.max(height);
    if longest <= side {
        return image;
    }
    let scale = side as f32 / longest as f32;
    imageops::resize(
        &image,
        ((width as f32 * scale) as u32).max(1),
        ((height as f32 * scale) as u32).max(1),
        FilterType::Triangle,
    )
}

fn open_rgb(path: &Path) -> Result<RgbImage> {
    Ok(image::open(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .to_rgb8())
}

fn relative(dir: &Path, path: &Path) -> String {
    path.strip_prefix(dir)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

/// Files in `dir` (sorted) with one of `extensions`; none when the folder is missing.
fn files(dir: &Path, extensions: &[&str]) -> Result<Vec<std::path::PathBuf>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry?.path();
        let wanted = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| extensions.iter().any(|x| e.eq_ignore_ascii_case(x)));
        if wanted && path.is_file() {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

/// Splits real panels by host: hosts in `excluded` (the evaluation catalogs') and a seeded
/// `held_out_share` of the others are held out; returns (training, held-out).
pub(crate) fn split_by_host(
    panels: Vec<RealPanel>,
    excluded: &BTreeSet<String>,
    held_out_share: f32,
    seed: u64,
) -> (Vec<RealPanel>, Vec<RealPanel>) {
    let held_out = |host: &str| {
        excluded.contains(host) || {
            let hash = mix(
                seed,
                u64::from_le_bytes(
                    blake3::hash(host.as_bytes()).as_bytes()[..8]
                        .try_into()
                        .expect("eight bytes"),
                ),
            );
            ((hash >> 40) as f32) / ((1u64 << 24) as f32) < held_out_share
        }
    };
    panels.into_iter().partition(|panel| !held_out(&panel.host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polimi_crops_of_one_blot_share_a_host() {
        assert_eq!(
            host_of("blots/polimi/polimi_cleanup__google_000004_patch_006_clipdrop-cleanup.png"),
            "polimi:google_000004"
        );
        assert_eq!(
            host_of("blots/polimi/polimi__lf_64x64_img_000040_patch_000.png"),
            "polimi:img_000040"
        );
        assert_ne!(
            host_of("blots/polimi/polimi__lf_64x64_google_000040_patch_000.png"),
            host_of("blots/polimi/polimi__lf_64x64_img_000040_patch_000.png")
        );
        assert_eq!(
            host_of("figures/figure-separator/PM11906265-Figure3-1.png#panel2"),
            "figures/figure-separator/PM11906265-Figure3-1.png"
        );
    }

    #[test]
    fn procedural_panels_and_their_siblings_differ_but_share_a_size() {
        let mut rng = Rng::new(4);
        let spec = ProceduralSpec::random(&mut rng);
        let sibling = spec.sibling(&mut rng);
        let (a, b) = (spec.render(), sibling.render());
        assert_eq!(a.dimensions(), b.dimensions());
        assert_ne!(a, b);
        assert_eq!(a, spec.render(), "rendering is a pure function of the spec");
    }
}
