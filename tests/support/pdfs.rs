//! Paper-like PDFs with known content, written by `panelscope::pdfgen` for the intake tests.

use image::{DynamicImage, Rgb, RgbImage};
use panelscope::pdfgen::{Font, ImageEncoding, PdfDoc};
use panelscope_stages::units::BBox;

/// A small deterministic generator (SplitMix64), so fixtures never depend on a crate's RNG.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }

    pub fn range(&mut self, low: u32, high: u32) -> u32 {
        low + (self.next() % u64::from(high - low)) as u32
    }
}

/// A Western-blot-like image: gray background with a gradient, lanes of dark bands, noise.
pub fn blot(seed: u64, width: u32, height: u32) -> RgbImage {
    let mut rng = Rng::new(seed);
    let lanes = rng.range(4, 10);
    let rows = rng.range(1, 4);
    let base = 200.0 + rng.unit() * 30.0;
    let mut bands = Vec::new();
    for lane in 0..lanes {
        for row in 0..rows {
            let cx = (lane as f32 + 0.5) / lanes as f32 * width as f32;
            let cy = (row as f32 + 0.5) / rows as f32 * height as f32
                + (rng.unit() - 0.5) * height as f32 * 0.1;
            let half_w = width as f32 / lanes as f32 * (0.3 + rng.unit() * 0.12);
            let half_h = height as f32 / rows as f32 * (0.08 + rng.unit() * 0.1);
            let depth = 60.0 + rng.unit() * 140.0;
            bands.push((cx, cy, half_w, half_h, depth));
        }
    }
    RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32, y as f32);
        let mut v = base - 25.0 * fy / height as f32;
        for &(cx, cy, hw, hh, depth) in &bands {
            let dx = ((fx - cx) / hw).abs();
            let dy = ((fy - cy) / hh).abs();
            if dx < 1.0 && dy < 1.5 {
                v -= depth * (1.0 - dx * dx).max(0.0) * (-dy * dy).exp();
            }
        }
        let noise = ((x.wrapping_mul(73_856_093) ^ y.wrapping_mul(19_349_663) ^ seed as u32) % 13)
            as f32
            - 6.0;
        let g = (v + noise).clamp(0.0, 255.0) as u8;
        Rgb([g, g, g])
    })
}

/// A compound figure: panels laid out in `cells` (fractions of the figure) with white gutters.
/// Returns the image and each panel's pixel box.
pub fn compound(
    seed: u64,
    width: u32,
    height: u32,
    cells: &[(f32, f32, f32, f32)],
) -> (RgbImage, Vec<(u32, u32, u32, u32)>) {
    let mut image = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
    let mut boxes = Vec::new();
    for (k, &(fx0, fy0, fx1, fy1)) in cells.iter().enumerate() {
        let (x0, y0) = ((fx0 * width as f32) as u32, (fy0 * height as f32) as u32);
        let (x1, y1) = ((fx1 * width as f32) as u32, (fy1 * height as f32) as u32);
        let panel = blot(seed * 31 + k as u64, x1 - x0, y1 - y0);
        image::imageops::replace(&mut image, &panel, i64::from(x0), i64::from(y0));
        boxes.push((x0, y0, x1, y1));
    }
    (image, boxes)
}

/// Where a figure of a generated paper is, in page space.
#[derive(Debug, Clone)]
pub struct PlacedFigure {
    pub page: u32,
    pub bbox: BBox,
    /// Page-space boxes of its panels.
    pub panels: Vec<BBox>,
}

const LOREM: &str = "Cells were lysed in RIPA buffer and proteins separated by SDS-PAGE before transfer to nitrocellulose membranes and incubation with primary antibodies overnight at four degrees.";

/// Writes paragraphs of body text between `top` and `bottom`.
fn paragraphs(page: &mut panelscope::pdfgen::PdfPage, top: f32, bottom: f32) {
    let mut y = top;
    while y < bottom {
        page.text(72.0, y, 10.0, Font::TimesRoman, &LOREM[..90]);
        y += 13.0;
    }
}

/// A paper of `pages` US-letter pages; every page holds text, and pages with an odd index a
/// figure (one embedded image, a 2x2 compound blot figure) with a "Figure n." caption below it.
pub fn paper(seed: u64, pages: u32) -> (Vec<u8>, Vec<PlacedFigure>) {
    let mut doc = PdfDoc::new();
    doc.title(&format!("Generated paper {seed}"));
    let mut figures = Vec::new();
    let cells = [
        (0.0, 0.0, 0.48, 0.47),
        (0.52, 0.0, 1.0, 0.47),
        (0.0, 0.53, 0.48, 1.0),
        (0.52, 0.53, 1.0, 1.0),
    ];
    for index in 0..pages {
        let figure = if index % 2 == 1 {
            let (image, boxes) = compound(seed * 100 + u64::from(index), 600, 400, &cells);
            let id = doc
                .add_image(&DynamicImage::ImageRgb8(image), ImageEncoding::Flate)
                .unwrap();
            let bbox = BBox::new(108.0, 300.0, 408.0, 500.0);
            let scale = (bbox.width() / 600.0, bbox.height() / 400.0);
            let panels = boxes
                .iter()
                .map(|&(x0, y0, x1, y1)| {
                    BBox::new(
                        bbox.x0 + x0 as f32 * scale.0,
                        bbox.y0 + y0 as f32 * scale.1,
                        bbox.x0 + x1 as f32 * scale.0,
                        bbox.y0 + y1 as f32 * scale.1,
                    )
                })
                .collect();
            Some((
                id,
                PlacedFigure {
                    page: index,
                    bbox,
                    panels,
                },
            ))
        } else {
            None
        };
        let page = doc.add_page(612.0, 792.0);
        page.text(
            72.0,
            60.0,
            14.0,
            Font::HelveticaBold,
            &format!("Generated paper {seed}, page {}", index + 1),
        );
        match figure {
            Some((id, placed)) => {
                paragraphs(page, 90.0, 280.0);
                page.image(placed.bbox, id);
                page.text(
                    72.0,
                    520.0,
                    9.0,
                    Font::Helvetica,
                    &format!(
                        "Figure {}. Western blots of generated lysates.",
                        index / 2 + 1
                    ),
                );
                paragraphs(page, 550.0, 740.0);
                figures.push(placed);
            }
            None => paragraphs(page, 90.0, 740.0),
        }
    }
    (doc.to_bytes().unwrap(), figures)
}
