//! resample: separable triangle-filter resizing of 8-bit images (gray or interleaved colour), the
//! filter `image`'s `Triangle` applies (support widened by the downscale factor, so shrinking
//! averages areas), with the taps of each axis computed once per call rather than per pixel.
//! Verification resizes every candidate dozens of times, where `image`'s resize spent most of
//! its time recomputing weights.

use image::{ImageBuffer, Pixel};

/// The taps of one output coordinate: the first input index and the normalised weights.
struct Taps {
    starts: Vec<usize>,
    lengths: Vec<usize>,
    weights: Vec<f32>,
}

impl Taps {
    fn new(input: usize, output: usize) -> Taps {
        let scale = input as f32 / output as f32;
        let support = scale.max(1.0);
        let mut taps = Taps {
            starts: Vec::with_capacity(output),
            lengths: Vec::with_capacity(output),
            weights: Vec::new(),
        };
        for o in 0..output {
            let centre = (o as f32 + 0.5) * scale;
            let first = ((centre - support).floor().max(0.0)) as usize;
            let last = ((centre + support).ceil() as usize).min(input);
            let from = taps.weights.len();
            let mut total = 0.0;
            for i in first..last {
                let w = (1.0 - ((i as f32 + 0.5 - centre) / support).abs()).max(0.0);
                taps.weights.push(w);
                total += w;
            }
            if total <= 0.0 {
                // Never for a sane size; the nearest input pixel then.
                taps.weights.truncate(from);
                let nearest = (centre as usize).min(input - 1);
                taps.starts.push(nearest);
                taps.lengths.push(1);
                taps.weights.push(1.0);
            } else {
                taps.weights[from..].iter_mut().for_each(|w| *w /= total);
                taps.starts.push(first);
                taps.lengths.push(last - first);
            }
        }
        taps
    }

    /// `(start, weights)` of every output coordinate, in order.
    fn iter(&self) -> impl Iterator<Item = (usize, &[f32])> {
        let mut offset = 0;
        self.starts
            .iter()
            .zip(&self.lengths)
            .map(move |(&start, &length)| {
                let weights = &self.weights[offset..offset + length];
                offset += length;
                (start, weights)
            })
    }
}

/// `data` (`width × height` pixels of `channels` interleaved bytes) resized to `new_width ×
/// new_height`.
pub fn resample_raw(
    data: &[u8],
    (width, height): (u32, u32),
    channels: usize,
    (new_width, new_height): (u32, u32),
) -> Vec<u8> {
    let (w, h, nw, nh) = (
        width as usize,
        height as usize,
        new_width.max(1) as usize,
        new_height.max(1) as usize,
    );
    assert_eq!(data.len(), w * h * channels, "image size matches its data");
    if w == 0 || h == 0 {
        return vec![0; nw * nh * channels];
    }
    if (w, h) == (nw, nh) {
        return data.to_vec();
    }
    // Horizontal pass into floats, then vertical into bytes.
    let columns = Taps::new(w, nw);
    let mut across = vec![0f32; h * nw * channels];
    let mut row_values = vec![0f32; w * channels];
    for (row, out) in data
        .chunks_exact(w * channels)
        .zip(across.chunks_exact_mut(nw * channels))
    {
        for (value, &byte) in row_values.iter_mut().zip(row) {
            *value = f32::from(byte);
        }
        if channels == 1 {
            for ((start, weights), value) in columns.iter().zip(out.iter_mut()) {
                *value = weights
                    .iter()
                    .zip(&row_values[start..start + weights.len()])
                    .map(|(w, v)| w * v)
                    .sum();
            }
            continue;
        }
        if channels == 3 {
            for ((start, weights), pixel) in columns.iter().zip(out.chunks_exact_mut(3)) {
                let source = &row_values[start * 3..(start + weights.len()) * 3];
                let (mut r, mut g, mut b) = (0f32, 0f32, 0f32);
                for (&weight, input) in weights.iter().zip(source.chunks_exact(3)) {
                    r += weight * input[0];
                    g += weight * input[1];
                    b += weight * input[2];
                }
                pixel.copy_from_slice(&[r, g, b]);
            }
            continue;
        }
        for ((start, weights), pixel) in columns.iter().zip(out.chunks_exact_mut(channels)) {
            let source = &row_values[start * channels..(start + weights.len()) * channels];
            for (&weight, input) in weights.iter().zip(source.chunks_exact(channels)) {
                for (value, &v) in pixel.iter_mut().zip(input) {
                    *value += weight * v;
                }
            }
        }
    }
    let rows = Taps::new(h, nh);
    let row_len = nw * channels;
    let mut out = vec![0u8; nh * row_len];
    let mut sums = vec![0f32; row_len];
    for ((start, weights), target) in rows.iter().zip(out.chunks_exact_mut(row_len)) {
        sums.fill(0.0);
        for (k, &weight) in weights.iter().enumerate() {
            let source = &across[(start + k) * row_len..(start + k + 1) * row_len];
            for (sum, &v) in sums.iter_mut().zip(source) {
                *sum += weight * v;
            }
        }
        for (byte, &sum) in target.iter_mut().zip(&sums) {
            *byte = (sum + 0.5).clamp(0.0, 255.0) as u8;
        }
    }
    out
}

/// `image` resized to `width × height` with the triangle filter.
pub fn resample<P: Pixel<Subpixel = u8>>(
    image: &ImageBuffer<P, Vec<u8>>,
    width: u32,
    height: u32,
) -> ImageBuffer<P, Vec<u8>> {
    let data = resample_raw(
        image.as_raw(),
        image.dimensions(),
        usize::from(P::CHANNEL_COUNT),
        (width, height),
    );
    ImageBuffer::from_raw(width.max(1), height.max(1), data).expect("size matches its data")
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::imageops::FilterType;
    use image::{GrayImage, Luma, RgbImage};

    fn texture(width: u32, height: u32) -> GrayImage {
        GrayImage::from_fn(width, height, |x, y| {
            Luma([((x * 7 + y * 13) % 97 + (x * y) % 41 + 60) as u8])
        })
    }

    #[test]
    fn agrees_with_image_triangle_within_a_level_or_two() {
        let source = texture(288, 188);
        for (w, h) in [(96, 63), (64, 42), (30, 20), (192, 125), (400, 260)] {
            let ours = resample(&source, w, h);
            let theirs = image::imageops::resize(&source, w, h, FilterType::Triangle);
            let worst = ours
                .pixels()
                .zip(theirs.pixels())
                .map(|(a, b)| a.0[0].abs_diff(b.0[0]))
                .max()
                .unwrap();
            let mean = ours
                .pixels()
                .zip(theirs.pixels())
                .map(|(a, b)| f64::from(a.0[0].abs_diff(b.0[0])))
                .sum::<f64>()
                / f64::from(w * h);
            assert!(
                mean < 1.0 && worst <= 12,
                "{w}x{h}: mean {mean}, worst {worst}"
            );
        }
    }

    #[test]
    fn flat_images_stay_flat_and_colour_channels_stay_apart() {
        let flat = RgbImage::from_pixel(50, 30, image::Rgb([10, 200, 90]));
        let small = resample(&flat, 17, 9);
        assert!(small.pixels().all(|p| p.0 == [10, 200, 90]));
        let same = resample(&flat, 50, 30);
        assert_eq!(same, flat);
    }
}
