//! Evidence bundles: for every match, the two panels side by side with the matched regions drawn,
//! where the aligned panels differ, each page with its panel marked, the captions, the similarity
//! and the transform, as files and a static `index.html` that opens from disk in any browser.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use image::{Rgb, RgbImage};
use panelscope_engine::{GraphBuilder, NodeConfig, testing};
use panelscope_stages::index::PanelCache;
use panelscope_stages::render::RenderConfig;
use panelscope_stages::store::Store;
use panelscope_stages::units::{
    BBox, DocumentId, DocumentInfo, DocumentJob, MatchRecord, PageJob, PanelPlace, Raster,
};

use crate::config::Settings;

const PANEL_COLOUR: Rgb<u8> = Rgb([220, 30, 30]);
const REGION_COLOUR: Rgb<u8> = Rgb([20, 90, 230]);
/// Resolution of the page thumbnails in the bundles.
const PAGE_DPI: f32 = 60.0;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn draw_rect(
    image: &mut RgbImage,
    x0: f32,
    y0: f32,
    x1: f32,
    y1: f32,
    colour: Rgb<u8>,
    thickness: u32,
) {
    let (w, h) = image.dimensions();
    if w == 0 || h == 0 {
        return;
    }
    let clamp = |v: f32, max: u32| (v.max(0.0) as u32).min(max - 1);
    let (x0, y0, x1, y1) = (clamp(x0, w), clamp(y0, h), clamp(x1, w), clamp(y1, h));
    for t in 0..thickness {
        let (ax, ay, bx, by) = (x0 + t, y0 + t, x1.saturating_sub(t), y1.saturating_sub(t));
        if ax > bx || ay > by {
            break;
        }
        for x in ax..=bx {
            image.put_pixel(x, ay, colour);
            image.put_pixel(x, by, colour);
        }
        for y in ay..=by {
            image.put_pixel(ax, y, colour);
            image.put_pixel(bx, y, colour);
        }
    }
}

/// The two panels side by side, same height, the matched region outlined on each.
fn side_by_side(a: &Raster, b: &Raster, m: &MatchRecord) -> RgbImage {
    let height = 240u32;
    let scaled = |r: &Raster| {
        let image = r.to_rgb();
        let width = ((image.width() as f32 * height as f32 / image.height().max(1) as f32).round()
            as u32)
            .max(1);
        image::imageops::resize(&image, width, height, image::imageops::FilterType::Triangle)
    };
    let (mut left, mut right) = (scaled(a), scaled(b));
    for (image, region) in [
        (&mut left, m.transform.region_a),
        (&mut right, m.transform.region_b),
    ] {
        let (w, h) = (image.width() as f32, image.height() as f32);
        draw_rect(
            image,
            region[0] * w,
            region[1] * h,
            region[2] * w - 1.0,
            region[3] * h - 1.0,
            REGION_COLOUR,
            3,
        );
    }
    let gap = 16;
    let mut canvas = RgbImage::from_pixel(
        left.width() + gap + right.width(),
        height,
        Rgb([255, 255, 255]),
    );
    image::imageops::replace(&mut canvas, &left, 0, 0);
    image::imageops::replace(&mut canvas, &right, i64::from(left.width() + gap), 0);
    canvas
}

/// Height of the difference map.
const DIFFERENCE_HEIGHT: u32 = 240;
/// Levels (after the second panel's brightness and contrast are fitted to the first's) from
/// which a pixel is shown as differing: above a recompression's loss and a scan's grain.
const DIFFERENCE_LEVELS: f32 = 24.0;

/// Where two matched panels differ: the first panel's matched region in grey, red where the
/// second, aligned onto it (its region cut out, flipped or turned as the match says, its
/// brightness and contrast fitted), differs from it. `None` for pairs turned by a small angle,
/// whose alignment this map would not reproduce.
fn difference_map(a: &Raster, b: &Raster, m: &MatchRecord) -> Option<RgbImage> {
    let t = &m.transform;
    if t.rotation_deg.abs() > 0.05 {
        return None;
    }
    let dihedral = panelscope_models::Dihedral::ALL
        .into_iter()
        .find(|d| d.name() == t.dihedral)?;
    let cut = |raster: &Raster, region: [f32; 4]| {
        let gray = raster.to_gray();
        let (w, h) = (gray.width() as f32, gray.height() as f32);
        let (x0, y0) = ((region[0] * w) as u32, (region[1] * h) as u32);
        let (x1, y1) = (
            ((region[2] * w).ceil() as u32).min(gray.width()),
            ((region[3] * h).ceil() as u32).min(gray.height()),
        );
        (x1 > x0 + 1 && y1 > y0 + 1)
            .then(|| image::imageops::crop_imm(&gray, x0, y0, x1 - x0, y1 - y0).to_image())
    };
    let first = cut(a, t.region_a)?;
    let second = dihedral.apply(&cut(b, t.region_b)?);
    let width = ((first.width() as f32 * DIFFERENCE_HEIGHT as f32 / first.height() as f32).round()
        as u32)
        .max(1);
    let resized = |image: &image::GrayImage| {
        image::imageops::resize(
            image,
            width,
            DIFFERENCE_HEIGHT,
            image::imageops::FilterType::Triangle,
        )
    };
    let (first, second) = (resized(&first), resized(&second));
    let values = |image: &image::GrayImage| -> Vec<f32> {
        image.pixels().map(|p| f32::from(p.0[0])).collect()
    };
    let (x, y) = (values(&second), values(&first));
    // The second panel's levels fitted to the first's (least squares): a contrast or brightness
    // change is not a difference.
    let n = x.len().max(1) as f32;
    let (mean_x, mean_y) = (x.iter().sum::<f32>() / n, y.iter().sum::<f32>() / n);
    let (mut covariance, mut variance) = (0f32, 0f32);
    for (xi, yi) in x.iter().zip(&y) {
        covariance += (xi - mean_x) * (yi - mean_y);
        variance += (xi - mean_x) * (xi - mean_x);
    }
    let slope = if variance > 0.0 {
        covariance / variance
    } else {
        0.0
    };
    let difference: Vec<f32> = x
        .iter()
        .zip(&y)
        .map(|(xi, yi)| (mean_y + slope * (xi - mean_x) - yi).abs())
        .collect();
    // Averaged over 3×3 so that single-pixel grain and edge jitter do not light up.
    let (w, h) = (width as usize, DIFFERENCE_HEIGHT as usize);
    let smoothed = |cx: usize, cy: usize| {
        let (mut sum, mut count) = (0f32, 0f32);
        for yy in cy.saturating_sub(1)..(cy + 2).min(h) {
            for xx in cx.saturating_sub(1)..(cx + 2).min(w) {
                sum += difference[yy * w + xx];
                count += 1.0;
            }
        }
        sum / count
    };
    Some(RgbImage::from_fn(width, DIFFERENCE_HEIGHT, |px, py| {
        let level = f32::from(first.get_pixel(px, py).0[0]);
        let strength = ((smoothed(px as usize, py as usize) - DIFFERENCE_LEVELS)
            / DIFFERENCE_LEVELS)
            .clamp(0.0, 1.0);
        let grey = level * 0.6 + 100.0;
        Rgb([
            (grey + (255.0 - grey) * strength) as u8,
            (grey * (1.0 - strength)) as u8,
            (grey * (1.0 - strength)) as u8,
        ])
    }))
}

/// A page thumbnail with the panel (red) and its matched region (blue) drawn.
fn marked_page(page: &RgbImage, place: &PanelPlace, region: [f32; 4], dpi: f32) -> RgbImage {
    let mut image = page.clone();
    let s = dpi / 72.0;
    let b = place.bbox;
    draw_rect(
        &mut image,
        b.x0 * s,
        b.y0 * s,
        b.x1 * s,
        b.y1 * s,
        PANEL_COLOUR,
        3,
    );
    let (w, h) = (b.width(), b.height());
    let r = BBox::new(
        b.x0 + region[0] * w,
        b.y0 + region[1] * h,
        b.x0 + region[2] * w,
        b.y0 + region[3] * h,
    );
    if region != [0.0, 0.0, 1.0, 1.0] {
        draw_rect(
            &mut image,
            r.x0 * s,
            r.y0 * s,
            r.x1 * s,
            r.y1 * s,
            REGION_COLOUR,
            2,
        );
    }
    image
}

/// Renders the listed pages at [`PAGE_DPI`] in worker processes.
async fn render_pages(
    settings: &Settings,
    store: &Store,
    pages: &BTreeSet<(DocumentId, String, u32)>,
    program: &Path,
) -> Result<HashMap<(DocumentId, u32), RgbImage>> {
    let render = RenderConfig {
        dpi: PAGE_DPI,
        skip_text_only_pages: false,
        ..settings.render.clone()
    }
    .resolved()
    .map_err(anyhow::Error::msg)?;
    let mut jobs = Vec::new();
    for (doc, path, page) in pages {
        let (size, count) = match store.document_facts(doc)? {
            Some((_, size, count)) => (size, count),
            None => (std::fs::metadata(path).map(|m| m.len()).unwrap_or(0), *page),
        };
        let job = DocumentJob {
            id: *doc,
            path: PathBuf::from(path),
            size,
            position: 0,
        };
        let info = DocumentInfo {
            job,
            pages: count.max(*page),
            title: None,
            pages_screened: count.max(*page),
            deadline_unix_ms: u64::MAX,
        };
        jobs.push(PageJob {
            document: Arc::new(info),
            index: page - 1,
        });
    }
    let dead = Arc::new(panelscope_engine::CollectedDeadLetters::default());
    let mut graph = GraphBuilder::new("evidence-pages");
    graph.dead_letters(dead.clone());
    let source = graph.source("pages", jobs);
    let rendered = graph.stage(
        "render",
        source,
        render.render_pool(program),
        NodeConfig::default().with_capacity(4),
    );
    let (sink, collected) = testing::collect();
    graph.sink("collect", rendered, sink, NodeConfig::workers(1));
    graph.build()?.run().await?;
    for letter in dead.letters() {
        tracing::warn!(item = %letter.item, error = %letter.error, "A page of the evidence could not be rendered.");
    }
    let pages = collected
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .drain(..)
        .map(|p| ((p.meta.doc, p.meta.index + 1), p.image.to_rgb()))
        .collect();
    Ok(pages)
}

/// Writes one bundle per match and `index.html` into `out`; returns the index's path.
pub async fn write(
    settings: &Settings,
    store: &Store,
    cache: &PanelCache,
    matches: &[MatchRecord],
    out: &Path,
    program: &Path,
) -> Result<PathBuf> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let needed: BTreeSet<(DocumentId, String, u32)> = matches
        .iter()
        .flat_map(|m| [&m.a, &m.b])
        .map(|p| (p.doc, p.path.clone(), p.page))
        .collect();
    let pages = render_pages(settings, store, &needed, program).await?;

    let mut html = String::from(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>panelscope evidence</title>\n<style>\
         body{font-family:system-ui,sans-serif;margin:2rem;max-width:1200px}\
         .match{border:1px solid #ccc;border-radius:6px;padding:1rem;margin:1.5rem 0}\
         .pages{display:flex;gap:1rem;flex-wrap:wrap}.pages figure{margin:0}\
         .pages img{max-height:360px;border:1px solid #ddd}.pair{max-width:100%}\
         table{border-collapse:collapse}td,th{padding:2px 8px;text-align:left;vertical-align:top}\
         .caption{color:#444;font-size:.9rem;max-width:560px}</style></head><body>\n",
    );
    let _ = writeln!(
        html,
        "<h1>panelscope evidence</h1><p>{} match(es). Red: the panel; blue: the matched region. \
         A match is evidence for a person to weigh, not a finding.</p>",
        matches.len()
    );
    for (n, m) in matches.iter().enumerate() {
        let name = format!("match-{:04}", n + 1);
        let dir = out.join(&name);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let thumb = |place: &PanelPlace| cache.get(place.id, store).map(|c| (*c.thumb).clone());
        let (Some(a), Some(b)) = (thumb(&m.a), thumb(&m.b)) else {
            tracing::warn!(
                a = m.a.id,
                b = m.b.id,
                "Panel pixels missing; the bundle has no crops."
            );
            continue;
        };
        let save = |image: &RgbImage, file: &str| -> Result<()> {
            let path = dir.join(file);
            image
                .save(&path)
                .with_context(|| format!("cannot write {}", path.display()))
        };
        save(&a.to_rgb(), "a.png")?;
        save(&b.to_rgb(), "b.png")?;
        save(&side_by_side(&a, &b, m), "pair.png")?;
        let difference = difference_map(&a, &b, m);
        if let Some(map) = &difference {
            save(map, "difference.png")?;
        }
        for (place, region, file) in [
            (&m.a, m.transform.region_a, "page-a.png"),
            (&m.b, m.transform.region_b, "page-b.png"),
        ] {
            if let Some(page) = pages.get(&(place.doc, place.page)) {
                save(&marked_page(page, place, region, PAGE_DPI), file)?;
            }
        }
        let caption_a = store.panel_caption(m.a.id)?;
        let caption_b = store.panel_caption(m.b.id)?;
        let mut record = crate::matches::to_json(m);
        record["a"]["caption"] = caption_a.clone().into();
        record["b"]["caption"] = caption_b.clone().into();
        std::fs::write(dir.join("match.json"), serde_json::to_vec_pretty(&record)?)?;

        let t = &m.transform;
        let side = |label: &str, place: &PanelPlace, caption: &Option<String>| {
            let b = place.bbox;
            format!(
                "<tr><th>{label}</th><td>{} — page {}, [{:.0}, {:.0}, {:.0}, {:.0}] pt · {}<div class=\"caption\">{}</div></td></tr>",
                escape(&place.path),
                place.page,
                b.x0,
                b.y0,
                b.x1,
                b.y1,
                place.class.map_or("unclassified", |c| c.as_str()),
                escape(caption.as_deref().unwrap_or("(no caption found)"))
            )
        };
        let _ = writeln!(
            html,
            "<section class=\"match\" id=\"{name}\" data-match=\"{}\"><h2>Match {}: {} · similarity {:.3} · {}</h2>\
             <img class=\"pair\" src=\"{name}/pair.png\" alt=\"the two panels side by side\">{}\
             <table>{}{}<tr><th>relation</th><td>{}, rotated {:+.1}°, scale {:.2}, correlation {:.3} (detail {:.3}){}{}</td></tr></table>\
             <div class=\"pages\"><figure><img src=\"{name}/page-a.png\" alt=\"page of the first panel\"><figcaption>first panel on its page</figcaption></figure>\
             <figure><img src=\"{name}/page-b.png\" alt=\"page of the second panel\"><figcaption>second panel on its page</figcaption></figure></div>\
             <p><a href=\"{name}/match.json\">match.json</a></p></section>",
            n + 1,
            n + 1,
            escape(&m.kind.replace('_', " ")),
            m.similarity,
            if m.verified {
                "verified"
            } else {
                "not verified"
            },
            if difference.is_some() {
                format!(
                    "<figure class=\"difference\"><img src=\"{name}/difference.png\" alt=\"where the aligned panels differ\">\
                     <figcaption>the first panel's matched region; red where the second, aligned onto it with its brightness and contrast fitted, differs</figcaption></figure>"
                )
            } else {
                String::new()
            },
            side("first", &m.a, &caption_a),
            side("second", &m.b, &caption_b),
            escape(&t.dihedral.replace('_', " ")),
            t.rotation_deg,
            t.scale,
            t.correlation,
            t.detail_correlation,
            if t.edited {
                format!(
                    "; one picture with part of it changed: they share their grain, and {:.0}% of the area (the changed part) differs",
                    t.left_out_share * 100.0
                )
            } else if t.left_out_share > 0.0 {
                format!(
                    "; {:.0}% of the area differs in one place alone (a label or mark) and was left out",
                    t.left_out_share * 100.0
                )
            } else {
                String::new()
            },
            if t.within {
                format!(
                    "; a part of the panel ({:.0}% of it) is repeated elsewhere in it: the two parts outlined share their grain",
                    region_area(&t.region_a) * 100.0
                )
            } else if t.partial {
                format!(
                    "; they share a part only: {:.0}% of the first panel and {:.0}% of the second",
                    region_area(&t.region_a) * 100.0,
                    region_area(&t.region_b) * 100.0
                )
            } else {
                String::new()
            }
        );
    }
    html.push_str("</body></html>\n");
    let index = out.join("index.html");
    std::fs::write(&index, html).with_context(|| format!("cannot write {}", index.display()))?;
    Ok(index)
}

/// The share of a panel that a region (`[x0, y0, x1, y1]` in shares of its sides) covers.
fn region_area(r: &[f32; 4]) -> f32 {
    (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::matches::tests::record;

    fn relation(dihedral: &str, rotation_deg: f32) -> serde_json::Value {
        serde_json::json!({
            "dihedral": dihedral, "rotation_deg": rotation_deg, "scale": 1.0,
            "region_a": [0.0, 0.0, 1.0, 1.0], "region_b": [0.0, 0.0, 1.0, 1.0],
            "correlation": 0.95, "rank_correlation": 0.95, "detail_correlation": 0.9,
            "fine_correlation": 0.8, "left_out_share": 0.1, "edited": true, "verified": true
        })
    }

    #[test]
    fn the_difference_map_marks_the_changed_band_and_nothing_else() {
        // A band on a membrane, erased on the copy, which is also flipped and darker.
        let original = image::GrayImage::from_fn(120, 80, |x, y| {
            let band = (20..60).contains(&x) && (30..45).contains(&y);
            image::Luma([if band {
                40
            } else {
                200 + ((x * 7 + y * 13) % 9) as u8
            }])
        });
        let mut copy = original.clone();
        for (x, y, pixel) in copy.enumerate_pixels_mut() {
            if (20..60).contains(&x) && (30..45).contains(&y) {
                pixel.0[0] = 200;
            }
            pixel.0[0] = (f32::from(pixel.0[0]) * 0.8) as u8;
        }
        let flipped = image::imageops::flip_horizontal(&copy);
        let map = difference_map(
            &Raster::from_gray(original),
            &Raster::from_gray(flipped),
            &record(relation("flip_horizontal", 0.0)),
        )
        .expect("an unturned pair has a map");
        let red = |x: u32, y: u32| {
            let p = map.get_pixel(x, y).0;
            p[0] > 200 && p[1] < 100
        };
        let (sx, sy) = (map.width() as f32 / 120.0, map.height() as f32 / 80.0);
        let at = |x: f32, y: f32| ((x * sx) as u32, (y * sy) as u32);
        let (bx, by) = at(40.0, 37.0);
        assert!(red(bx, by), "the erased band is not marked");
        for (x, y) in [(5.0, 5.0), (100.0, 60.0), (80.0, 37.0), (40.0, 70.0)] {
            let (px, py) = at(x, y);
            assert!(!red(px, py), "({x}, {y}) is marked but did not change");
        }
        // A pair turned by a few degrees is not mapped: the map would not align it.
        assert!(
            difference_map(
                &Raster::from_gray(image::GrayImage::new(50, 50)),
                &Raster::from_gray(image::GrayImage::new(50, 50)),
                &record(relation("identity", 3.0)),
            )
            .is_none()
        );
    }
}
