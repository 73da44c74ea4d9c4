//! Strongly edited views of a panel, the positives of the contrastive loss: a random chain of
//! the edits `panelscope synth` plants (crop, rescale, flips and quarter turns, small rotation,
//! contrast, brightness, gamma, noise, blur, JPEG), with stronger odds than a catalog, plus edits
//! the catalog does not plant: occlusion by a box or a burnt-in label, a pasted strip of another
//! panel (splice-like), an added margin, and inversion of the levels.

use anyhow::Result;
use image::{DynamicImage, GrayImage, Rgb, RgbImage};

use crate::synth::edits::{self, EditStep};
use crate::synth::font::{self, Align};
use crate::synth::rng::Rng;
use crate::truth::Edit;

/// One edit family and how often a view gets it.
struct Odds {
    name: &'static str,
    probability: f32,
}

/// The edits in the order a view applies them (geometry, content, levels, losses of saving),
/// with their odds; the model card prints this table.
const ODDS: [Odds; 15] = [
    Odds {
        name: "crop (50–90% of the area)",
        probability: 0.6,
    },
    Odds {
        name: "rescale (0.5–0.8× or 1.25–2×)",
        probability: 0.35,
    },
    // Rare on purpose: queries are searched in all eight dihedral views, so the model need not
    // be invariant to them; a little exposure keeps turned copies from being far-fetched.
    Odds {
        name: "flip or quarter turn (one of the 7 non-identity dihedral transforms; the query's dihedral views do the rest)",
        probability: 0.1,
    },
    Odds {
        name: "small rotation (1–5°)",
        probability: 0.2,
    },
    Odds {
        name: "added margin (2–10% per side, background or white)",
        probability: 0.15,
    },
    Odds {
        name: "occluding box (5–20% of the area; background, white or black)",
        probability: 0.15,
    },
    Odds {
        name: "burnt-in label (A–F, WT, KO, β-actin, …)",
        probability: 0.2,
    },
    Odds {
        name: "pasted strip of another panel (10–30% of the height or width)",
        probability: 0.15,
    },
    Odds {
        name: "contrast (0.55–0.8× or 1.25–1.7×)",
        probability: 0.4,
    },
    Odds {
        name: "brightness (±18–45 levels)",
        probability: 0.4,
    },
    Odds {
        name: "gamma (0.5–0.75 or 1.35–2)",
        probability: 0.4,
    },
    Odds {
        name: "inverted levels",
        probability: 0.05,
    },
    Odds {
        name: "noise (σ 4–14 levels)",
        probability: 0.25,
    },
    Odds {
        name: "blur (σ 0.8–2.2 px)",
        probability: 0.25,
    },
    Odds {
        name: "JPEG (quality 10–40)",
        probability: 0.3,
    },
];

/// Labels authors burn into panels.
const LABELS: [&str; 12] = [
    "A", "B", "C", "D", "E", "F", "WT", "KO", "Ctrl", "GAPDH", "β-actin", "kDa",
];

/// The table of edits and odds, as Markdown rows.
pub(crate) fn odds_table() -> String {
    let mut table = String::from("| edit | share of views |\n|---|---|\n");
    for odds in &ODDS {
        table.push_str(&format!(
            "| {} | {:.0}% |\n",
            odds.name,
            odds.probability * 100.0
        ));
    }
    table
}

/// A strongly edited gray view of `source`; `donor` is another panel a strip may be pasted from.
pub(crate) fn strong_view(source: &RgbImage, donor: &RgbImage, rng: &mut Rng) -> Result<GrayImage> {
    let mut happens = [false; ODDS.len()];
    for (flag, odds) in happens.iter_mut().zip(&ODDS) {
        *flag = rng.chance(odds.probability);
    }
    let mut image = source.clone();
    let size = |image: &RgbImage| image.dimensions();
    if happens[0] {
        image = EditStep::random(Edit::Crop, size(&image), rng).apply(image)?;
    }
    if happens[1] {
        image = EditStep::random(Edit::Rescale, size(&image), rng).apply(image)?;
    }
    if happens[2] {
        let turns = [
            Edit::FlipHorizontal,
            Edit::FlipVertical,
            Edit::Rotate90,
            Edit::Rotate180,
            Edit::Rotate270,
        ];
        // Transpose and anti-transpose are a flip after a quarter turn.
        let choice = rng.below(7);
        if choice < 5 {
            image = EditStep::random(turns[choice], size(&image), rng).apply(image)?;
        } else {
            image = EditStep::Rotate90.apply(image)?;
            let flip = if choice == 5 {
                EditStep::FlipHorizontal
            } else {
                EditStep::FlipVertical
            };
            image = flip.apply(image)?;
        }
    }
    if happens[3] {
        image = EditStep::random(Edit::SmallRotation, size(&image), rng).apply(image)?;
    }
    if happens[4] {
        image = add_margin(&image, rng);
    }
    if happens[5] {
        occlude(&mut image, rng);
    }
    if happens[6] {
        label(&mut image, rng);
    }
    if happens[7] {
        paste_strip(&mut image, donor, rng);
    }
    for (index, edit) in [
        (8, Edit::Contrast),
        (9, Edit::Brightness),
        (10, Edit::Gamma),
    ] {
        if happens[index] {
            image = EditStep::random(edit, size(&image), rng).apply(image)?;
        }
    }
    if happens[11] {
        image.pixels_mut().for_each(|p| p.0 = p.0.map(|v| 255 - v));
    }
    for (index, edit) in [(12, Edit::Noise), (13, Edit::Blur), (14, Edit::Jpeg)] {
        if happens[index] {
            image = EditStep::random(edit, size(&image), rng).apply(image)?;
        }
    }
    Ok(DynamicImage::ImageRgb8(image).to_luma8())
}

/// A fill colour: the panel's background, white or black.
fn fill(image: &RgbImage, rng: &mut Rng) -> [u8; 3] {
    match rng.below(3) {
        0 => edits::border_colour(image),
        1 => [255, 255, 255],
        _ => [0, 0, 0],
    }
}

/// The panel inside a margin, as a detector that keeps some gutter crops it.
fn add_margin(image: &RgbImage, rng: &mut Rng) -> RgbImage {
    let (width, height) = image.dimensions();
    let colour = if rng.chance(0.5) {
        edits::border_colour(image)
    } else {
        [255, 255, 255]
    };
    let mut side = |extent: u32| (extent as f32 * rng.uniform(0.02, 0.1)) as u32;
    let (left, right, top, bottom) = (side(width), side(width), side(height), side(height));
    let mut out = RgbImage::from_pixel(width + left + right, height + top + bottom, Rgb(colour));
    image::imageops::replace(&mut out, image, i64::from(left), i64::from(top));
    out
}

/// A filled box over part of the panel.
fn occlude(image: &mut RgbImage, rng: &mut Rng) {
    let (width, height) = image.dimensions();
    let area = rng.uniform(0.05, 0.2);
    let aspect = rng.uniform(0.5, 2.0);
    let box_width = ((area * aspect).sqrt() * width as f32).clamp(1.0, width as f32) as u32;
    let box_height = ((area / aspect).sqrt() * height as f32).clamp(1.0, height as f32) as u32;
    let x0 = rng.between(0, width - box_width);
    let y0 = rng.between(0, height - box_height);
    let colour = Rgb(fill(image, rng));
    for y in y0..y0 + box_height {
        for x in x0..x0 + box_width {
            image.put_pixel(x, y, colour);
        }
    }
}

/// A label drawn near a corner.
fn label(image: &mut RgbImage, rng: &mut Rng) {
    let (width, height) = image.dimensions();
    let text = *rng.pick(&LABELS);
    let text_height = (height as f32 * rng.uniform(0.08, 0.2)).max(5.0);
    let colour = if rng.chance(0.5) {
        [0, 0, 0]
    } else {
        [255, 255, 255]
    };
    let right = rng.chance(0.3);
    let x = if right {
        width as f32 * rng.uniform(0.8, 0.97)
    } else {
        width as f32 * rng.uniform(0.03, 0.2)
    };
    let top = if rng.chance(0.7) {
        height as f32 * rng.uniform(0.02, 0.1)
    } else {
        height as f32 * rng.uniform(0.7, 0.85)
    };
    let align = if right { Align::Right } else { Align::Left };
    font::draw_text(image, x, top, text_height, colour, align, text);
}

/// A strip of `donor`, resized to span the panel, pasted over a band of it: what a spliced blot
/// looks like from the panel's side.
fn paste_strip(image: &mut RgbImage, donor: &RgbImage, rng: &mut Rng) {
    let (width, height) = image.dimensions();
    let horizontal = rng.chance(0.75);
    let share = rng.uniform(0.1, 0.3);
    let (strip_width, strip_height) = if horizontal {
        (width, ((height as f32 * share) as u32).max(1))
    } else {
        (((width as f32 * share) as u32).max(1), height)
    };
    let piece = image::imageops::resize(
        donor,
        strip_width,
        strip_height,
        image::imageops::FilterType::Triangle,
    );
    let (x, y) = if horizontal {
        (0, rng.between(0, height - strip_height))
    } else {
        (rng.between(0, width - strip_width), 0)
    };
    image::imageops::replace(image, &piece, i64::from(x), i64::from(y));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_are_reproducible_and_differ_from_each_other() {
        let source = RgbImage::from_fn(120, 80, |x, y| Rgb([(x * 2) as u8, (y * 3) as u8, 90]));
        let donor = RgbImage::from_pixel(50, 50, Rgb([10, 200, 30]));
        let first = strong_view(&source, &donor, &mut Rng::new(9)).unwrap();
        let again = strong_view(&source, &donor, &mut Rng::new(9)).unwrap();
        assert_eq!(first, again);
        let mut rng = Rng::new(10);
        let views: Vec<GrayImage> = (0..20)
            .map(|_| strong_view(&source, &donor, &mut rng).unwrap())
            .collect();
        assert!(views.iter().all(|v| v.width() > 0 && v.height() > 0));
        assert!(views.windows(2).any(|w| w[0] != w[1]));
    }
}
