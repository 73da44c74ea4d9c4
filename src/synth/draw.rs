//! Raster drawing for synthetic figures: filled and stroked rectangles, anti-aliased lines, discs
//! and triangles on an `RgbImage`, clipped to the image. Coordinates are pixels, y down.

use image::{Rgb, RgbImage};

/// A colour as three sRGB bytes.
pub(crate) type Colour = [u8; 3];

/// Blends `colour` over the pixel at (x, y) with `coverage` in [0, 1]; outside the image it does
/// nothing, so callers may draw shapes that leave the canvas.
pub(crate) fn blend(image: &mut RgbImage, x: i64, y: i64, colour: Colour, coverage: f32) {
    if x < 0 || y < 0 || x >= i64::from(image.width()) || y >= i64::from(image.height()) {
        return;
    }
    let coverage = coverage.clamp(0.0, 1.0);
    if coverage <= 0.0 {
        return;
    }
    let pixel = image.get_pixel_mut(x as u32, y as u32);
    for (channel, &target) in pixel.0.iter_mut().zip(colour.iter()) {
        let mixed = f32::from(*channel) * (1.0 - coverage) + f32::from(target) * coverage;
        *channel = mixed.round().clamp(0.0, 255.0) as u8;
    }
}

/// The pixel range [low, high) of a span clipped to 0..limit.
fn clip(low: f32, high: f32, limit: u32) -> (u32, u32) {
    let low = low.floor().max(0.0).min(limit as f32) as u32;
    let high = high.ceil().max(0.0).min(limit as f32) as u32;
    (low, high)
}

/// Fills the pixels of [x0, x1) x [y0, y1).
pub(crate) fn fill_rect(image: &mut RgbImage, x0: f32, y0: f32, x1: f32, y1: f32, colour: Colour) {
    let (left, right) = clip(x0.round(), x1.round(), image.width());
    let (top, bottom) = clip(y0.round(), y1.round(), image.height());
    for y in top..bottom {
        for x in left..right {
            image.put_pixel(x, y, Rgb(colour));
        }
    }
}

/// Outlines [x0, x1) x [y0, y1) with a border `width` pixels thick, drawn inside the box.
pub(crate) fn stroke_rect(
    image: &mut RgbImage,
    (x0, y0, x1, y1): (f32, f32, f32, f32),
    width: f32,
    colour: Colour,
) {
    fill_rect(image, x0, y0, x1, y0 + width, colour);
    fill_rect(image, x0, y1 - width, x1, y1, colour);
    fill_rect(image, x0, y0, x0 + width, y1, colour);
    fill_rect(image, x1 - width, y0, x1, y1, colour);
}

/// An anti-aliased straight line `width` pixels wide with round caps.
pub(crate) fn line(
    image: &mut RgbImage,
    from: (f32, f32),
    to: (f32, f32),
    width: f32,
    colour: Colour,
) {
    let half = width / 2.0;
    let (left, right) = clip(
        from.0.min(to.0) - half - 1.0,
        from.0.max(to.0) + half + 1.0,
        image.width(),
    );
    let (top, bottom) = clip(
        from.1.min(to.1) - half - 1.0,
        from.1.max(to.1) + half + 1.0,
        image.height(),
    );
    let (dx, dy) = (to.0 - from.0, to.1 - from.1);
    let length_squared = (dx * dx + dy * dy).max(1e-6);
    for y in top..bottom {
        for x in left..right {
            let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
            let t = (((px - from.0) * dx + (py - from.1) * dy) / length_squared).clamp(0.0, 1.0);
            let (nearest_x, nearest_y) = (from.0 + t * dx, from.1 + t * dy);
            let distance = ((px - nearest_x).powi(2) + (py - nearest_y).powi(2)).sqrt();
            blend(
                image,
                i64::from(x),
                i64::from(y),
                colour,
                half + 0.5 - distance,
            );
        }
    }
}

/// A polyline through `points`.
pub(crate) fn polyline(image: &mut RgbImage, points: &[(f32, f32)], width: f32, colour: Colour) {
    for segment in points.windows(2) {
        line(image, segment[0], segment[1], width, colour);
    }
}

/// An anti-aliased filled disc.
pub(crate) fn disc(image: &mut RgbImage, centre: (f32, f32), radius: f32, colour: Colour) {
    let (left, right) = clip(
        centre.0 - radius - 1.0,
        centre.0 + radius + 1.0,
        image.width(),
    );
    let (top, bottom) = clip(
        centre.1 - radius - 1.0,
        centre.1 + radius + 1.0,
        image.height(),
    );
    for y in top..bottom {
        for x in left..right {
            let distance =
                ((x as f32 + 0.5 - centre.0).powi(2) + (y as f32 + 0.5 - centre.1).powi(2)).sqrt();
            blend(
                image,
                i64::from(x),
                i64::from(y),
                colour,
                radius + 0.5 - distance,
            );
        }
    }
}

/// A filled triangle (no anti-aliasing: arrowheads are small).
pub(crate) fn triangle(image: &mut RgbImage, corners: [(f32, f32); 3], colour: Colour) {
    let xs = corners.map(|c| c.0);
    let ys = corners.map(|c| c.1);
    let (left, right) = clip(
        xs.iter().copied().fold(f32::MAX, f32::min),
        xs.iter().copied().fold(f32::MIN, f32::max),
        image.width(),
    );
    let (top, bottom) = clip(
        ys.iter().copied().fold(f32::MAX, f32::min),
        ys.iter().copied().fold(f32::MIN, f32::max),
        image.height(),
    );
    let edge = |a: (f32, f32), b: (f32, f32), p: (f32, f32)| {
        (b.0 - a.0) * (p.1 - a.1) - (b.1 - a.1) * (p.0 - a.0)
    };
    for y in top..bottom {
        for x in left..right {
            let p = (x as f32 + 0.5, y as f32 + 0.5);
            let e0 = edge(corners[0], corners[1], p);
            let e1 = edge(corners[1], corners[2], p);
            let e2 = edge(corners[2], corners[0], p);
            if (e0 >= 0.0 && e1 >= 0.0 && e2 >= 0.0) || (e0 <= 0.0 && e1 <= 0.0 && e2 <= 0.0) {
                image.put_pixel(x, y, Rgb(colour));
            }
        }
    }
}

/// A line ending in an arrowhead at `to`.
pub(crate) fn arrow(
    image: &mut RgbImage,
    from: (f32, f32),
    to: (f32, f32),
    width: f32,
    colour: Colour,
) {
    let (dx, dy) = (to.0 - from.0, to.1 - from.1);
    let length = (dx * dx + dy * dy).sqrt().max(1e-3);
    let (ux, uy) = (dx / length, dy / length);
    let head = (width * 4.0).max(6.0);
    let base = (to.0 - ux * head, to.1 - uy * head);
    line(image, from, base, width, colour);
    let (nx, ny) = (-uy * head * 0.5, ux * head * 0.5);
    triangle(
        image,
        [to, (base.0 + nx, base.1 + ny), (base.0 - nx, base.1 - ny)],
        colour,
    );
}

/// The mean luminance (0–255) of a box of the image, for picking a readable label colour.
pub(crate) fn mean_luma(image: &RgbImage, x0: u32, y0: u32, x1: u32, y1: u32) -> f32 {
    let (x1, y1) = (x1.min(image.width()), y1.min(image.height()));
    let mut sum = 0.0f64;
    let mut count = 0u32;
    for y in y0..y1 {
        for x in x0..x1 {
            let [r, g, b] = image.get_pixel(x, y).0;
            sum += 0.299 * f64::from(r) + 0.587 * f64::from(g) + 0.114 * f64::from(b);
            count += 1;
        }
    }
    if count == 0 {
        255.0
    } else {
        (sum / f64::from(count)) as f32
    }
}
