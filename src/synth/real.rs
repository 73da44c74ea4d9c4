//! Real images to draw panels from (the `../shared/data` layout): Western-blot crops from the
//! polimi set, tiny band crops from bowenjo, and panels cut out of real compound figures.
//!
//! Several polimi files are edits of one original crop or were cut from one original blot
//! (`ground-truth/polimi_same_source.json`), so a catalog takes at most one file per such group:
//! otherwise it would hold duplicates nobody planted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use image::RgbImage;

use super::rng::Rng;

/// Where a real image comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RealKind {
    /// A 256–512 px crop of a real Western blot.
    Blot,
    /// A tiny crop of one band row.
    BandCrop,
    /// A panel cut out of a real compound figure (charts, micrographs, diagrams, blots).
    FigurePanel,
}

/// One real image usable as a panel source.
#[derive(Debug, Clone)]
pub(crate) struct RealImage {
    /// The file.
    pub path: PathBuf,
    /// The file relative to the data folder, for the truth's parameters.
    pub name: String,
    /// Its kind.
    pub kind: RealKind,
    /// The part of the file that is the panel: `(x0, y0, x1, y1)` pixels (the whole file for
    /// blots and band crops).
    pub region: (u32, u32, u32, u32),
    /// The group of files it must not share a catalog with (its host blot), for polimi files.
    pub host: String,
}

impl RealImage {
    /// Its size in pixels.
    pub(crate) fn size(&self) -> (u32, u32) {
        (self.region.2 - self.region.0, self.region.3 - self.region.1)
    }

    /// Loads its pixels.
    pub(crate) fn load(&self) -> Result<RgbImage> {
        let image = image::open(&self.path)
            .with_context(|| format!("cannot read real image {}", self.path.display()))?;
        let (x0, y0, x1, y1) = self.region;
        Ok(image::imageops::crop_imm(&image.to_rgb8(), x0, y0, x1 - x0, y1 - y0).to_image())
    }
}

/// The real images one catalog may use, each at most once.
#[derive(Debug, Clone, Default)]
pub(crate) struct RealCatalog {
    /// Usable images, in a stable order.
    pub images: Vec<RealImage>,
}

impl RealCatalog {
    /// Collects the usable images under `dir`; nothing when `dir` is `None` or missing.
    pub(crate) fn load(dir: Option<&Path>, seed: u64) -> Result<RealCatalog> {
        let Some(dir) = dir else {
            return Ok(RealCatalog::default());
        };
        if !dir.is_dir() {
            tracing::warn!(dir = %dir.display(), "Real image folder is missing; using procedural panels only.");
            return Ok(RealCatalog::default());
        }
        let mut rng = Rng::derive(seed, 0x4EA1);
        let mut images = polimi_blots(dir, &mut rng)?;
        images.extend(band_crops(dir)?);
        images.extend(figure_panels(dir)?);
        Ok(RealCatalog { images })
    }
}

/// File names (sorted) in `dir` with one of `extensions`; empty when the folder is missing.
fn files(dir: &Path, extensions: &[&str]) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry?.path();
        let matches = path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
            extensions
                .iter()
                .any(|wanted| e.eq_ignore_ascii_case(wanted))
        });
        if matches && path.is_file() {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

fn relative_name(data: &Path, path: &Path) -> String {
    path.strip_prefix(data)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

/// One polimi blot per host group: groups from `same_host` and `same_crop` are merged, and a file
/// in neither is its own group.
fn polimi_blots(data: &Path, rng: &mut Rng) -> Result<Vec<RealImage>> {
    let paths = files(&data.join("blots/polimi"), &["png", "jpg", "jpeg"])?;
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let groups_file = data.join("ground-truth/polimi_same_source.json");
    let mut group_of: BTreeMap<String, String> = BTreeMap::new();
    if groups_file.is_file() {
        let text = std::fs::read_to_string(&groups_file)
            .with_context(|| format!("cannot read {}", groups_file.display()))?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", groups_file.display()))?;
        // Union of both groupings: a same-crop group always lies inside one host, but if the
        // file ever disagreed, merging keeps every related file out of the same catalog.
        let mut parent: BTreeMap<String, String> = BTreeMap::new();
        fn root(parent: &BTreeMap<String, String>, file: &str) -> String {
            let mut current = file.to_string();
            while let Some(next) = parent.get(&current) {
                if *next == current {
                    break;
                }
                current = next.clone();
            }
            current
        }
        for key in ["same_host", "same_crop"] {
            let Some(groups) = json.get(key).and_then(|g| g.as_object()) else {
                continue;
            };
            for members in groups.values() {
                let names: Vec<String> = members
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|m| m.as_str().map(str::to_string))
                    .collect();
                let Some(first) = names.first() else { continue };
                let first_root = root(&parent, first);
                parent
                    .entry(first_root.clone())
                    .or_insert_with(|| first_root.clone());
                for name in &names[1..] {
                    let other = root(&parent, name);
                    if other != first_root {
                        parent.insert(other, first_root.clone());
                    }
                }
            }
        }
        for file in parent.keys().cloned().collect::<Vec<_>>() {
            let group = root(&parent, &file);
            group_of.insert(file, group);
        }
    } else {
        tracing::warn!(file = %groups_file.display(), "No polimi grouping found; treating every polimi file as its own blot.");
    }
    let mut by_group: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for path in paths {
        let name = relative_name(data, &path);
        let group = group_of.get(&name).cloned().unwrap_or_else(|| name.clone());
        by_group.entry(group).or_default().push(path);
    }
    let mut chosen = Vec::new();
    for (group, members) in by_group {
        let path = rng.pick(&members).clone();
        let (width, height) = image::image_dimensions(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        chosen.push(RealImage {
            name: relative_name(data, &path),
            path,
            kind: RealKind::Blot,
            region: (0, 0, width, height),
            host: group,
        });
    }
    Ok(chosen)
}

fn band_crops(data: &Path) -> Result<Vec<RealImage>> {
    let mut crops = Vec::new();
    for path in files(&data.join("blots/bowenjo"), &["png", "jpg", "jpeg"])? {
        let (width, height) = image::image_dimensions(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let name = relative_name(data, &path);
        crops.push(RealImage {
            host: name.clone(),
            name,
            path,
            kind: RealKind::BandCrop,
            region: (0, 0, width, height),
        });
    }
    Ok(crops)
}

/// Panels cut out of the real compound figures by recursive white-gutter cuts (an XY-cut).
pub(crate) fn figure_panels(data: &Path) -> Result<Vec<RealImage>> {
    let mut panels = Vec::new();
    for path in files(
        &data.join("figures/figure-separator"),
        &["png", "jpg", "jpeg"],
    )? {
        let image = image::open(&path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .to_rgb8();
        let name = relative_name(data, &path);
        for (index, region) in xy_cut(&image).into_iter().enumerate() {
            panels.push(RealImage {
                name: format!("{name}#panel{index}"),
                path: path.clone(),
                kind: RealKind::FigurePanel,
                region,
                host: name.clone(),
            });
        }
    }
    Ok(panels)
}

/// A pixel that is not (near) white background.
fn inked(image: &RgbImage, x: u32, y: u32) -> bool {
    image.get_pixel(x, y).0.iter().any(|&c| c < 225)
}

/// Splits a figure at white gutters, horizontally and vertically in turn, and keeps leaves big
/// and inked enough to be panels (labels and stray text fall out as small leaves).
pub(crate) fn xy_cut(image: &RgbImage) -> Vec<(u32, u32, u32, u32)> {
    let mut leaves = Vec::new();
    cut(image, (0, 0, image.width(), image.height()), 0, &mut leaves);
    leaves
        .into_iter()
        .filter(|&(x0, y0, x1, y1)| {
            let (w, h) = (x1 - x0, y1 - y0);
            let ink = (y0..y1)
                .map(|y| (x0..x1).filter(|&x| inked(image, x, y)).count())
                .sum::<usize>();
            w >= 80
                && h >= 60
                && (w as f32 / h as f32) < 8.0
                && (h as f32 / w as f32) < 8.0
                && ink as f32 >= 0.04 * (w * h) as f32
        })
        .collect()
}

fn trim(image: &RgbImage, (x0, y0, x1, y1): (u32, u32, u32, u32)) -> Option<(u32, u32, u32, u32)> {
    let rows: Vec<u32> = (y0..y1)
        .filter(|&y| (x0..x1).any(|x| inked(image, x, y)))
        .collect();
    let columns: Vec<u32> = (x0..x1)
        .filter(|&x| (y0..y1).any(|y| inked(image, x, y)))
        .collect();
    Some((
        *columns.first()?,
        *rows.first()?,
        columns.last()? + 1,
        rows.last()? + 1,
    ))
}

fn cut(
    image: &RgbImage,
    region: (u32, u32, u32, u32),
    depth: u32,
    leaves: &mut Vec<(u32, u32, u32, u32)>,
) {
    let Some(region) = trim(image, region) else {
        return;
    };
    if depth >= 8 {
        leaves.push(region);
        return;
    }
    let (x0, y0, x1, y1) = region;
    let min_gap = 5;
    for horizontal in [true, false] {
        let (along, across) = if horizontal {
            (y0..y1, x0..x1)
        } else {
            (x0..x1, y0..y1)
        };
        let empty: Vec<bool> = along
            .clone()
            .map(|a| {
                let ink = across
                    .clone()
                    .filter(|&b| {
                        if horizontal {
                            inked(image, b, a)
                        } else {
                            inked(image, a, b)
                        }
                    })
                    .count();
                ink as f32 <= 0.004 * across.len() as f32
            })
            .collect();
        let mut pieces = Vec::new();
        let mut start = 0usize;
        let mut run = 0usize;
        for (offset, &is_empty) in empty.iter().enumerate() {
            if is_empty {
                run += 1;
                continue;
            }
            if run >= min_gap && offset - run > start {
                pieces.push((start, offset - run));
                start = offset;
            } else if run >= min_gap {
                start = offset;
            }
            run = 0;
        }
        pieces.push((start, empty.len() - run));
        if pieces.len() > 1 {
            for (from, to) in pieces {
                let from = from as u32;
                let to = to as u32;
                let piece = if horizontal {
                    (x0, y0 + from, x1, y0 + to)
                } else {
                    (x0 + from, y0, x0 + to, y1)
                };
                cut(image, piece, depth + 1, leaves);
            }
            return;
        }
    }
    leaves.push(region);
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn xy_cut_finds_two_panels_across_a_gutter() {
        let mut image = RgbImage::from_pixel(300, 120, Rgb([255, 255, 255]));
        for y in 10..110 {
            for x in (10..140).chain(160..290) {
                image.put_pixel(x, y, Rgb([((x * 7 + y) % 200) as u8, 90, 90]));
            }
        }
        assert_eq!(
            xy_cut(&image),
            vec![(10, 10, 140, 110), (160, 10, 290, 110)]
        );
    }
}
