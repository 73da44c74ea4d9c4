//! The edits that turn a source panel into its planted copy: geometric (rescale, crop, flips,
//! rotations), photometric (contrast, brightness, gamma) and degrading (JPEG, noise, blur), each
//! with parameters drawn once at planning time so the copy is a pure function of the plan.

use anyhow::{Context, Result};
use image::codecs::jpeg::JpegEncoder;
use image::imageops::{self, FilterType};
use image::{DynamicImage, GrayImage, Rgb, RgbImage};
use serde_json::json;

use crate::truth::Edit;

use super::rng::Rng;

/// The resampling filter of a rescale (editors differ; recorded in the truth).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resampling {
    /// Bilinear.
    Triangle,
    /// Bicubic.
    CatmullRom,
    /// Lanczos with three lobes.
    Lanczos3,
}

impl Resampling {
    fn filter(self) -> FilterType {
        match self {
            Resampling::Triangle => FilterType::Triangle,
            Resampling::CatmullRom => FilterType::CatmullRom,
            Resampling::Lanczos3 => FilterType::Lanczos3,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Resampling::Triangle => "bilinear",
            Resampling::CatmullRom => "bicubic",
            Resampling::Lanczos3 => "lanczos3",
        }
    }
}

/// One edit with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum EditStep {
    /// Unchanged pixels.
    Exact,
    /// Resampled to `size`.
    Rescale {
        /// Target size in pixels.
        size: (u32, u32),
        /// The filter.
        filter: Resampling,
    },
    /// The box `(x0, y0, x1, y1)` of the input, in its pixels.
    Crop {
        /// The kept box.
        area: (u32, u32, u32, u32),
    },
    /// Mirrored left–right.
    FlipHorizontal,
    /// Mirrored top–bottom.
    FlipVertical,
    /// Turned 90° clockwise.
    Rotate90,
    /// Turned 180°.
    Rotate180,
    /// Turned 270° clockwise.
    Rotate270,
    /// Turned by `degrees` clockwise about the centre, same size, corners filled with the
    /// panel's background colour.
    SmallRotation {
        /// Angle, 1–5° either way.
        degrees: f32,
    },
    /// Levels stretched (factor above 1) or squeezed around the mean.
    Contrast {
        /// Multiplier of the distance to the mean.
        factor: f32,
    },
    /// Levels shifted.
    Brightness {
        /// Added to every channel.
        offset: f32,
    },
    /// Levels raised to a power.
    Gamma {
        /// The exponent applied to levels scaled to 0–1.
        gamma: f32,
    },
    /// Recompressed as JPEG.
    Jpeg {
        /// Encoder quality, 10–40.
        quality: u8,
    },
    /// Luminance noise added.
    Noise {
        /// Standard deviation in gray levels.
        sigma: f32,
        /// The noise's seed.
        seed: u64,
    },
    /// Gaussian blur.
    Blur {
        /// Standard deviation in pixels.
        sigma: f32,
    },
}

/// The largest side a rescaled copy may have, to keep figures (and PDFs) a sensible size.
const MAX_RESCALED_SIDE: f32 = 1000.0;

impl EditStep {
    /// Draws the parameters of `edit` for an input of `size`. `Splice` is not a pixel edit of a
    /// whole panel (see the planner) and falls back to an exact copy here.
    pub(crate) fn random(edit: Edit, size: (u32, u32), rng: &mut Rng) -> EditStep {
        let (width, height) = (size.0 as f32, size.1 as f32);
        let either = |rng: &mut Rng, low: (f32, f32), high: (f32, f32)| {
            if rng.chance(0.5) {
                rng.uniform(low.0, low.1)
            } else {
                rng.uniform(high.0, high.1)
            }
        };
        match edit {
            Edit::Exact | Edit::Splice => EditStep::Exact,
            Edit::Rescale => {
                let largest = MAX_RESCALED_SIDE / width.max(height);
                let factor = either(rng, (0.5, 0.8), (1.25, 2.0)).min(largest.max(0.5));
                let size = (
                    ((width * factor).round() as u32).max(8),
                    ((height * factor).round() as u32).max(8),
                );
                let filter = *rng.pick(&[
                    Resampling::Triangle,
                    Resampling::CatmullRom,
                    Resampling::Lanczos3,
                ]);
                EditStep::Rescale { size, filter }
            }
            Edit::Crop => {
                let kept = rng.uniform(0.5, 0.9);
                // Keep the aspect roughly, but let one side lose more than the other.
                let width_share = (kept.sqrt() * rng.uniform(0.85, 1.15)).clamp(kept, 1.0);
                let height_share = (kept / width_share).clamp(kept, 1.0);
                let crop_width = ((width * width_share).round() as u32).clamp(4, size.0);
                let crop_height = ((height * height_share).round() as u32).clamp(4, size.1);
                let x0 = rng.between(0, size.0 - crop_width);
                let y0 = rng.between(0, size.1 - crop_height);
                EditStep::Crop {
                    area: (x0, y0, x0 + crop_width, y0 + crop_height),
                }
            }
            Edit::FlipHorizontal => EditStep::FlipHorizontal,
            Edit::FlipVertical => EditStep::FlipVertical,
            Edit::Rotate90 => EditStep::Rotate90,
            Edit::Rotate180 => EditStep::Rotate180,
            Edit::Rotate270 => EditStep::Rotate270,
            Edit::SmallRotation => {
                let degrees = rng.uniform(1.0, 5.0);
                EditStep::SmallRotation {
                    degrees: if rng.chance(0.5) { degrees } else { -degrees },
                }
            }
            Edit::Contrast => EditStep::Contrast {
                factor: either(rng, (0.55, 0.8), (1.25, 1.7)),
            },
            Edit::Brightness => {
                let offset = rng.uniform(18.0, 45.0);
                EditStep::Brightness {
                    offset: if rng.chance(0.5) { offset } else { -offset },
                }
            }
            Edit::Gamma => EditStep::Gamma {
                gamma: either(rng, (0.5, 0.75), (1.35, 2.0)),
            },
            Edit::Jpeg => EditStep::Jpeg {
                quality: rng.between(10, 40) as u8,
            },
            Edit::Noise => EditStep::Noise {
                sigma: rng.uniform(4.0, 14.0),
                seed: rng.next_u64(),
            },
            Edit::Blur => EditStep::Blur {
                sigma: rng.uniform(0.8, 2.2),
            },
        }
    }

    /// The truth's name for this edit.
    pub(crate) fn edit(&self) -> Edit {
        match self {
            EditStep::Exact => Edit::Exact,
            EditStep::Rescale { .. } => Edit::Rescale,
            EditStep::Crop { .. } => Edit::Crop,
            EditStep::FlipHorizontal => Edit::FlipHorizontal,
            EditStep::FlipVertical => Edit::FlipVertical,
            EditStep::Rotate90 => Edit::Rotate90,
            EditStep::Rotate180 => Edit::Rotate180,
            EditStep::Rotate270 => Edit::Rotate270,
            EditStep::SmallRotation { .. } => Edit::SmallRotation,
            EditStep::Contrast { .. } => Edit::Contrast,
            EditStep::Brightness { .. } => Edit::Brightness,
            EditStep::Gamma { .. } => Edit::Gamma,
            EditStep::Jpeg { .. } => Edit::Jpeg,
            EditStep::Noise { .. } => Edit::Noise,
            EditStep::Blur { .. } => Edit::Blur,
        }
    }

    /// The output size for an input of `size`.
    pub(crate) fn output_size(&self, size: (u32, u32)) -> (u32, u32) {
        match self {
            EditStep::Rescale { size, .. } => *size,
            EditStep::Crop { area } => (area.2 - area.0, area.3 - area.1),
            EditStep::Rotate90 | EditStep::Rotate270 => (size.1, size.0),
            _ => size,
        }
    }

    /// The parameters as recorded in the truth.
    pub(crate) fn params(&self, input: (u32, u32)) -> serde_json::Value {
        match self {
            EditStep::Exact => json!({}),
            EditStep::Rescale { size, filter } => json!({
                "from_px": [input.0, input.1],
                "to_px": [size.0, size.1],
                "scale": round3(size.0 as f32 / input.0 as f32),
                "filter": filter.name(),
            }),
            EditStep::Crop { area } => json!({
                "box_px": [area.0, area.1, area.2, area.3],
                "of_px": [input.0, input.1],
                "kept_area": round3(((area.2 - area.0) * (area.3 - area.1)) as f32 / (input.0 * input.1) as f32),
            }),
            EditStep::FlipHorizontal
            | EditStep::FlipVertical
            | EditStep::Rotate90
            | EditStep::Rotate180
            | EditStep::Rotate270 => json!({}),
            EditStep::SmallRotation { degrees } => json!({ "degrees_clockwise": round3(*degrees) }),
            EditStep::Contrast { factor } => json!({ "factor": round3(*factor) }),
            EditStep::Brightness { offset } => json!({ "offset": round3(*offset) }),
            EditStep::Gamma { gamma } => json!({ "gamma": round3(*gamma) }),
            EditStep::Jpeg { quality } => json!({ "quality": quality }),
            EditStep::Noise { sigma, .. } => json!({ "sigma": round3(*sigma) }),
            EditStep::Blur { sigma } => json!({ "sigma": round3(*sigma) }),
        }
    }

    /// Applies the edit.
    pub(crate) fn apply(&self, image: RgbImage) -> Result<RgbImage> {
        Ok(match self {
            EditStep::Exact => image,
            EditStep::Rescale { size, filter } => {
                imageops::resize(&image, size.0, size.1, filter.filter())
            }
            EditStep::Crop { area } => {
                imageops::crop_imm(&image, area.0, area.1, area.2 - area.0, area.3 - area.1)
                    .to_image()
            }
            EditStep::FlipHorizontal => imageops::flip_horizontal(&image),
            EditStep::FlipVertical => imageops::flip_vertical(&image),
            EditStep::Rotate90 => imageops::rotate90(&image),
            EditStep::Rotate180 => imageops::rotate180(&image),
            EditStep::Rotate270 => imageops::rotate270(&image),
            EditStep::SmallRotation { degrees } => rotate_small(&image, *degrees),
            EditStep::Contrast { factor } => {
                let mean = mean_level(&image);
                map_levels(image, |v| mean + (v - mean) * factor)
            }
            EditStep::Brightness { offset } => map_levels(image, |v| v + offset),
            EditStep::Gamma { gamma } => map_levels(image, |v| 255.0 * (v / 255.0).powf(*gamma)),
            EditStep::Jpeg { quality } => recompress(&image, *quality)?,
            EditStep::Noise { sigma, seed } => add_noise(image, *sigma, *seed),
            EditStep::Blur { sigma } => imageops::blur(&image, *sigma),
        })
    }
}

/// `image` cropped as the catalog plants a crop edit (50–90% of its area kept, at a random
/// place), drawn from `seed`: for measuring crop retrieval outside a catalog
/// (`benches/crop_windows.rs`).
pub fn planted_crop(image: RgbImage, seed: u64) -> Result<RgbImage> {
    let mut rng = Rng::new(seed);
    EditStep::random(Edit::Crop, image.dimensions(), &mut rng).apply(image)
}

/// A part of a picture copied within it, as the tests and benches of the search for repeats make
/// one: the most varied window of 30% × 25% of the left half (bands more than bare membrane),
/// pasted as it is with its top-left corner at `to` (shares of the sides, in the right half).
pub struct CopiedWithin {
    /// The picture with the part pasted.
    pub image: GrayImage,
    /// The centre of the part copied, as shares of the picture's width and height.
    pub source: (f32, f32),
    /// The centre of its copy.
    pub copy: (f32, f32),
}

/// `image` with a part copied within it (see [`CopiedWithin`]).
pub fn copied_within(image: &GrayImage, to: (f32, f32)) -> CopiedWithin {
    let (w, h) = image.dimensions();
    let (cw, ch) = (w * 3 / 10, h / 4);
    let (from_x, from_y) = busiest_window(image, (cw, ch), w / 2);
    let (edited, (to_x, to_y)) = pasted(image, (from_x, from_y), (cw, ch), image, to);
    let centre = |x: u32, y: u32| {
        (
            (x as f32 + cw as f32 / 2.0) / w as f32,
            (y as f32 + ch as f32 / 2.0) / h as f32,
        )
    };
    CopiedWithin {
        image: edited,
        source: centre(from_x, from_y),
        copy: centre(to_x, to_y),
    }
}

/// `target` with the `(cw, ch)` window of `source` whose corner is `from` pasted at `to` (shares
/// of the target's sides, kept inside it), and the corner it was pasted at.
fn pasted(
    source: &GrayImage,
    (from_x, from_y): (u32, u32),
    (cw, ch): (u32, u32),
    target: &GrayImage,
    to: (f32, f32),
) -> (GrayImage, (u32, u32)) {
    let (w, h) = target.dimensions();
    let (to_x, to_y) = (
        ((to.0 * w as f32) as u32).min(w - cw),
        ((to.1 * h as f32) as u32).min(h - ch),
    );
    let mut image = target.clone();
    let part = imageops::crop_imm(source, from_x, from_y, cw, ch).to_image();
    imageops::replace(&mut image, &part, i64::from(to_x), i64::from(to_y));
    (image, (to_x, to_y))
}

/// The corner of the most varied `size` window of `image` (bands more than bare membrane) whose
/// left edge is before `left_of`, on a grid of 8 pixels.
fn busiest_window(image: &GrayImage, (cw, ch): (u32, u32), left_of: u32) -> (u32, u32) {
    let (_, h) = image.dimensions();
    let variance = |x: u32, y: u32| {
        let part = imageops::crop_imm(image, x, y, cw, ch).to_image();
        let n = (cw * ch).max(1) as f32;
        let mean = part.pixels().map(|p| f32::from(p.0[0])).sum::<f32>() / n;
        part.pixels()
            .map(|p| (f32::from(p.0[0]) - mean).powi(2))
            .sum::<f32>()
    };
    (0..left_of.saturating_sub(cw).max(1))
        .step_by(8)
        .flat_map(|x| {
            (0..h.saturating_sub(ch).max(1))
                .step_by(8)
                .map(move |y| (x, y))
        })
        .max_by(|p, q| variance(p.0, p.1).total_cmp(&variance(q.0, q.1)))
        .unwrap_or((0, 0))
}

/// A band-sized strip of one picture pasted into another, as the tests and benches of the search
/// for shared parts make one.
pub struct Spliced {
    /// The recipient with the strip pasted.
    pub image: GrayImage,
    /// The strip, as shares `[x0, y0, x1, y1]` of the donor's sides.
    pub strip: [f32; 4],
    /// Where it was pasted, as shares of the recipient's sides.
    pub pasted: [f32; 4],
}

/// `recipient` with the most varied window of 30% × 12.5% of `donor` (a band and its lanes
/// rather than bare membrane) pasted as it is, at the same pixel size, with its top-left corner
/// at `to` (shares of the recipient's sides).
pub fn spliced(donor: &GrayImage, recipient: &GrayImage, to: (f32, f32)) -> Spliced {
    let (w, h) = donor.dimensions();
    let (rw, rh) = recipient.dimensions();
    let (cw, ch) = ((w * 3 / 10).min(rw), (h / 8).max(1).min(rh));
    let (from_x, from_y) = busiest_window(donor, (cw, ch), w);
    let (image, (to_x, to_y)) = pasted(donor, (from_x, from_y), (cw, ch), recipient, to);
    let shares = |x: u32, y: u32, (w, h): (u32, u32)| {
        [
            x as f32 / w as f32,
            y as f32 / h as f32,
            (x + cw) as f32 / w as f32,
            (y + ch) as f32 / h as f32,
        ]
    };
    Spliced {
        image,
        strip: shares(from_x, from_y, (w, h)),
        pasted: shares(to_x, to_y, (rw, rh)),
    }
}

/// One field of view shown twice as two samples: two crops of a picture that overlap.
pub struct OverlappingFields {
    /// The picture's top-left crop.
    pub first: RgbImage,
    /// Its bottom-right crop.
    pub second: RgbImage,
    /// Where the two overlap, as shares `[x0, y0, x1, y1]` of the first crop's sides.
    pub in_first: [f32; 4],
    /// The same place, as shares of the second crop's sides.
    pub in_second: [f32; 4],
}

/// The top-left and bottom-right crops of `picture` that keep `kept` of its width and height
/// (each above a half, so that they overlap in the middle; 1 keeps a side whole).
pub fn overlapping_fields(picture: &RgbImage, kept: (f32, f32)) -> OverlappingFields {
    let (w, h) = picture.dimensions();
    let side = |length: u32, share: f32| {
        ((length as f32 * share.clamp(0.5, 1.0)).round() as u32).clamp(1, length)
    };
    let (cw, ch) = (side(w, kept.0), side(h, kept.1));
    let (x, y) = (w - cw, h - ch);
    // The overlap is [x, cw) × [y, ch) of the picture.
    let (share_x, share_y) = (x as f32 / cw as f32, y as f32 / ch as f32);
    OverlappingFields {
        first: imageops::crop_imm(picture, 0, 0, cw, ch).to_image(),
        second: imageops::crop_imm(picture, x, y, cw, ch).to_image(),
        in_first: [share_x, share_y, 1.0, 1.0],
        in_second: [0.0, 0.0, 1.0 - share_x, 1.0 - share_y],
    }
}

/// Applies `steps` in order.
pub(crate) fn apply_all(steps: &[EditStep], image: RgbImage) -> Result<RgbImage> {
    steps
        .iter()
        .try_fold(image, |image, step| step.apply(image))
}

/// The truth's parameters of a sequence: each edit's parameters under its name, in order.
pub(crate) fn params(steps: &[EditStep], size: (u32, u32)) -> serde_json::Value {
    let mut object = serde_json::Map::new();
    let mut input = size;
    for step in steps {
        object.insert(step.edit().name().to_string(), step.params(input));
        input = step.output_size(input);
    }
    serde_json::Value::Object(object)
}

/// Where an edit sits in a realistic editing session: geometry first, then levels, then the
/// losses of saving (noise, blur, JPEG last).
pub(crate) fn pipeline_rank(edit: Edit) -> u8 {
    match edit {
        Edit::Crop => 0,
        Edit::Rescale => 1,
        Edit::FlipHorizontal
        | Edit::FlipVertical
        | Edit::Rotate90
        | Edit::Rotate180
        | Edit::Rotate270 => 2,
        Edit::SmallRotation => 3,
        Edit::Contrast | Edit::Brightness | Edit::Gamma => 4,
        Edit::Noise | Edit::Blur => 5,
        Edit::Jpeg => 6,
        Edit::Exact | Edit::Splice => 7,
    }
}

fn round3(value: f32) -> f64 {
    (f64::from(value) * 1000.0).round() / 1000.0
}

fn mean_level(image: &RgbImage) -> f32 {
    let sum: u64 = image.pixels().flat_map(|p| p.0).map(u64::from).sum();
    sum as f32 / (image.pixels().len().max(1) * 3) as f32
}

fn map_levels(mut image: RgbImage, map: impl Fn(f32) -> f32) -> RgbImage {
    let table: Vec<u8> = (0..=255u8)
        .map(|v| map(f32::from(v)).round().clamp(0.0, 255.0) as u8)
        .collect();
    for pixel in image.pixels_mut() {
        pixel.0 = pixel.0.map(|v| table[usize::from(v)]);
    }
    image
}

/// True when every pixel is gray, so a grayscale panel can stay grayscale through JPEG.
pub(crate) fn is_gray(image: &RgbImage) -> bool {
    image.pixels().all(|p| p.0[0] == p.0[1] && p.0[1] == p.0[2])
}

fn recompress(image: &RgbImage, quality: u8) -> Result<RgbImage> {
    let mut bytes = Vec::new();
    let dynamic = if is_gray(image) {
        DynamicImage::ImageLuma8(DynamicImage::ImageRgb8(image.clone()).to_luma8())
    } else {
        DynamicImage::ImageRgb8(image.clone())
    };
    JpegEncoder::new_with_quality(&mut bytes, quality)
        .encode_image(&dynamic)
        .context("JPEG recompression failed")?;
    Ok(image::load_from_memory(&bytes)
        .context("cannot decode the recompressed JPEG")?
        .to_rgb8())
}

fn add_noise(mut image: RgbImage, sigma: f32, seed: u64) -> RgbImage {
    let mut rng = Rng::derive(seed, 0x0015E);
    for pixel in image.pixels_mut() {
        let noise = sigma * rng.gaussian();
        pixel.0 = pixel
            .0
            .map(|v| (f32::from(v) + noise).round().clamp(0.0, 255.0) as u8);
    }
    image
}

/// The median colour of the border pixels: what a panel's background looks like.
pub(crate) fn border_colour(image: &RgbImage) -> [u8; 3] {
    let (width, height) = image.dimensions();
    let mut channels: [Vec<u8>; 3] = Default::default();
    let mut push = |x: u32, y: u32| {
        let pixel = image.get_pixel(x, y).0;
        for (channel, values) in channels.iter_mut().enumerate() {
            values.push(pixel[channel]);
        }
    };
    for x in 0..width {
        push(x, 0);
        push(x, height - 1);
    }
    for y in 0..height {
        push(0, y);
        push(width - 1, y);
    }
    channels.map(|mut values| {
        values.sort_unstable();
        values[values.len() / 2]
    })
}

/// Rotation by a small angle with bilinear sampling, keeping the size; uncovered corners take
/// the panel's background colour, as an editor's "fill with background" does.
fn rotate_small(image: &RgbImage, degrees: f32) -> RgbImage {
    let (width, height) = image.dimensions();
    let fill = border_colour(image);
    let (sin, cos) = degrees.to_radians().sin_cos();
    let (cx, cy) = (width as f32 / 2.0, height as f32 / 2.0);
    let mut out = RgbImage::new(width, height);
    for y in 0..height {
        for x in 0..width {
            let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
            // Inverse map: where in the source this output pixel came from.
            let sx = cos * dx + sin * dy + cx - 0.5;
            let sy = -sin * dx + cos * dy + cy - 0.5;
            let value =
                if sx < -0.5 || sy < -0.5 || sx > width as f32 - 0.5 || sy > height as f32 - 0.5 {
                    fill
                } else {
                    bilinear(image, sx, sy)
                };
            out.put_pixel(x, y, Rgb(value));
        }
    }
    out
}

fn bilinear(image: &RgbImage, x: f32, y: f32) -> [u8; 3] {
    let (width, height) = image.dimensions();
    let x = x.clamp(0.0, (width - 1) as f32);
    let y = y.clamp(0.0, (height - 1) as f32);
    let (x0, y0) = (x.floor() as u32, y.floor() as u32);
    let (x1, y1) = ((x0 + 1).min(width - 1), (y0 + 1).min(height - 1));
    let (tx, ty) = (x - x0 as f32, y - y0 as f32);
    let at = |px: u32, py: u32| image.get_pixel(px, py).0.map(f32::from);
    let (a, b, c, d) = (at(x0, y0), at(x1, y0), at(x0, y1), at(x1, y1));
    [0, 1, 2].map(|k| {
        let top = a[k] * (1.0 - tx) + b[k] * tx;
        let bottom = c[k] * (1.0 - tx) + d[k] * tx;
        (top * (1.0 - ty) + bottom * ty).round().clamp(0.0, 255.0) as u8
    })
}

/// Share of `region` (shares of the picture's sides) that an edit `mask` of the picture marks
/// (white where the picture was edited, as the polimi masks of ../shared/data are).
pub fn marked_share(mask: &GrayImage, region: &[f32; 4]) -> f32 {
    let (w, h) = (mask.width() as f32, mask.height() as f32);
    let (x0, y0) = ((region[0] * w) as u32, (region[1] * h) as u32);
    let (x1, y1) = (
        ((region[2] * w).ceil() as u32).min(mask.width()),
        ((region[3] * h).ceil() as u32).min(mask.height()),
    );
    let pixels = (y0..y1).flat_map(|y| (x0..x1).map(move |x| (x, y)));
    let (marked, all) = pixels.fold((0u32, 0u32), |(marked, all), (x, y)| {
        (marked + u32::from(mask.get_pixel(x, y)[0] >= 128), all + 1)
    });
    marked as f32 / all.max(1) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp() -> RgbImage {
        RgbImage::from_fn(60, 40, |x, y| Rgb([(x * 4) as u8, (y * 6) as u8, 100]))
    }

    #[test]
    fn sizes_follow_each_edit() {
        let mut rng = Rng::new(1);
        for edit in [
            Edit::Rescale,
            Edit::Crop,
            Edit::Rotate90,
            Edit::SmallRotation,
            Edit::Jpeg,
            Edit::Blur,
        ] {
            let step = EditStep::random(edit, (60, 40), &mut rng);
            let out = step.apply(ramp()).unwrap();
            assert_eq!(out.dimensions(), step.output_size((60, 40)), "{edit:?}");
            assert_eq!(step.edit(), edit);
        }
    }

    #[test]
    fn crops_keep_half_to_nine_tenths_of_the_area() {
        let mut rng = Rng::new(2);
        for _ in 0..200 {
            let EditStep::Crop { area } = EditStep::random(Edit::Crop, (300, 200), &mut rng) else {
                unreachable!()
            };
            let kept = ((area.2 - area.0) * (area.3 - area.1)) as f32 / 60_000.0;
            assert!((0.45..=0.93).contains(&kept), "kept {kept}");
            assert!(area.2 <= 300 && area.3 <= 200);
        }
    }

    #[test]
    fn small_rotation_fills_corners_with_background() {
        let image = RgbImage::from_fn(80, 80, |x, y| {
            if (20..60).contains(&x) && (20..60).contains(&y) {
                Rgb([0, 0, 0])
            } else {
                Rgb([200, 200, 200])
            }
        });
        let out = rotate_small(&image, 4.0);
        assert_eq!(out.get_pixel(0, 0).0, [200, 200, 200]);
        assert_eq!(out.get_pixel(40, 40).0, [0, 0, 0]);
    }
}
