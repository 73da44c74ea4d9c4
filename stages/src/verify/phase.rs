//! Phase-correlation proposals for verification: where a part of one picture reappears, moved
//! but not resized, in another drawn at the same scale (a band or lane spliced from one blot into
//! another of the same paper). Each picture's grain is transformed once; every pair of a
//! document then costs one inverse transform of their phase correlation, whose peaks are the
//! shifts at which some part of the two agrees to the pixel. A peak's part is where the two
//! pictures' detail agrees, locally, once laid on each other. A picture laid on itself, away
//! from the shifts where every part lies on itself, proposes the parts copied within it.
//! Nothing here verifies anything.

use std::sync::Arc;

use image::GrayImage;
use rustfft::num_complex::Complex32;
use rustfft::{Fft, FftPlanner};

use super::overlap::Overlap;
use super::{high_pass, intensities};

/// Shifts proposed per pair: the highest peaks of their phase correlation.
const PEAKS: usize = 3;
/// Shortest shift (pixels, along both axes) between a part and its copy within one picture:
/// nearer, the part mostly covers its copy, and the picture's own grain, laid on itself, peaks.
const MIN_REPEAT_SHIFT_PX: i64 = 8;
/// Peaks closer than this (pixels) to a higher one are its shoulders.
const PEAK_SUPPRESSION_PX: i64 = 4;
/// Side of the cells (pixels) over which the two pictures' detail is correlated, once laid on
/// each other, to find the part they share (grain alone is too faint on smooth membranes).
const CELL_PX: usize = 4;
/// Cells are correlated over a window of this many cells a side, centred on them.
const WINDOW_CELLS: usize = 3;
/// A cell belongs to the shared part when its window's detail correlates this much.
const MIN_CELL_CORRELATION: f32 = 0.5;
/// Cells whose window has less detail than this (mean squared levels) say nothing either way.
const MIN_CELL_ENERGY: f32 = 0.5;
/// Fewest cells of a shared part.
const MIN_PART_CELLS: usize = 12;
/// Shortest side of a shared part, in pixels.
const MIN_PART_SIDE_PX: usize = 12;
/// Power of its magnitude each frequency of a picture's spectrum is divided by: 1 whitens it
/// entirely (phase correlation proper), and the faint, noisy frequencies then weigh as much as
/// the grain a smooth part carries; a little less keeps some of the grain's weight.
const WHITENING: f32 = 0.9;
/// Frequencies of a smaller magnitude are left out: they carry rounding, not picture.
const MIN_MAGNITUDE: f32 = 1e-3;
/// Radius of the blur the grain (what is phase-correlated) is taken against.
const GRAIN_RADIUS: isize = 1;
/// Radius of the blur the detail (where agreement is measured) is taken against.
const DETAIL_RADIUS: isize = 3;

/// A picture's band-pass detail, where the agreement of two pictures laid on each other is
/// measured.
pub(super) struct Detail {
    width: usize,
    height: usize,
    values: Vec<f32>,
}

impl Detail {
    /// The detail of `image`.
    pub(super) fn of(image: &GrayImage) -> Self {
        let (width, height) = (image.width() as usize, image.height() as usize);
        Self::of_intensities(&intensities(image), width, height)
    }

    /// The detail of a picture of `width` × `height` whose intensities are `values`.
    fn of_intensities(values: &[f32], width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            values: high_pass(values, width, height, DETAIL_RADIUS),
        }
    }
}

/// A picture's grain transformed at a size shared by the pictures it is laid against, and its
/// detail.
pub(super) struct Spectrum {
    detail: Detail,
    /// Its grain's transform, whitened (see [`WHITENING`]).
    transform: Vec<Complex32>,
}

/// The forward and inverse transforms of one size, planned once for all the pictures laid on
/// each other at it.
pub(super) struct Transforms {
    width: usize,
    height: usize,
    rows: (Arc<dyn Fft<f32>>, Arc<dyn Fft<f32>>),
    columns: (Arc<dyn Fft<f32>>, Arc<dyn Fft<f32>>),
}

impl Transforms {
    /// Transforms large enough for pictures up to `width` × `height` pixels.
    pub(super) fn for_size(width: usize, height: usize) -> Self {
        let (width, height) = (fast_length(width), fast_length(height));
        let mut planner = FftPlanner::new();
        Self {
            width,
            height,
            rows: (
                planner.plan_fft_forward(width),
                planner.plan_fft_inverse(width),
            ),
            columns: (
                planner.plan_fft_forward(height),
                planner.plan_fft_inverse(height),
            ),
        }
    }

    /// The 2-D transform of `data` (`height` rows of `width`), in place: the rows, then the
    /// columns as rows of its transpose.
    fn apply(&self, data: &mut [Complex32], inverse: bool) {
        let (rows, columns) = if inverse {
            (&self.rows.1, &self.columns.1)
        } else {
            (&self.rows.0, &self.columns.0)
        };
        rows.process(data);
        let mut turned = vec![Complex32::new(0.0, 0.0); data.len()];
        transpose::transpose(data, &mut turned, self.width, self.height);
        columns.process(&mut turned);
        transpose::transpose(&turned, data, self.height, self.width);
    }

    /// `image`'s grain, its edges tapered to nothing, transformed and whitened; and its detail.
    pub(super) fn spectrum(&self, image: &GrayImage) -> Spectrum {
        let (w, h) = (image.width() as usize, image.height() as usize);
        let values = intensities(image);
        let grain = high_pass(&values, w, h, GRAIN_RADIUS);
        let detail = Detail::of_intensities(&values, w, h);
        let taper = |i: usize, n: usize| {
            let edge = (n / 8).clamp(1, 8) as f32;
            let from_edge = i.min(n - 1 - i) as f32;
            if from_edge >= edge {
                1.0
            } else {
                0.5 - 0.5 * (std::f32::consts::PI * (from_edge + 0.5) / edge).cos()
            }
        };
        let mut transform = vec![Complex32::new(0.0, 0.0); self.width * self.height];
        for y in 0..h.min(self.height) {
            let along_y = taper(y, h);
            for x in 0..w.min(self.width) {
                transform[y * self.width + x] =
                    Complex32::new(grain[y * w + x] * along_y * taper(x, w), 0.0);
            }
        }
        self.apply(&mut transform, false);
        // Whitened here, once per picture, rather than each pair's product: the product of two
        // whitened spectra is their product whitened.
        for value in &mut transform {
            let size = value.norm();
            *value = if size > MIN_MAGNITUDE {
                *value / size.powf(WHITENING)
            } else {
                Complex32::new(0.0, 0.0)
            };
        }
        Spectrum { detail, transform }
    }

    /// For each pair `(a, b)` of `pairs`, the parts of `a` found again in `b`, moved: one
    /// proposal per peak of their phase correlation whose shift lays a part of them on each
    /// other. Two pairs share one inverse transform: their correlations are real, so one comes
    /// back as its real part and the other as its imaginary part.
    pub(super) fn shared_parts(&self, pairs: &[(&Spectrum, &Spectrum)]) -> Vec<Vec<Overlap>> {
        pairs
            .chunks(2)
            .flat_map(|two| {
                let phase = |(a, b): &(&Spectrum, &Spectrum), k: usize| {
                    b.transform[k] * a.transform[k].conj()
                };
                let i = Complex32::new(0.0, 1.0);
                let mut cross: Vec<Complex32> = (0..self.width * self.height)
                    .map(|k| match two {
                        [first, second] => phase(first, k) + i * phase(second, k),
                        [only] => phase(only, k),
                        _ => unreachable!("chunks of one or two"),
                    })
                    .collect();
                self.apply(&mut cross, true);
                let surfaces = [
                    cross.iter().map(|c| c.re).collect::<Vec<f32>>(),
                    cross.iter().map(|c| c.im).collect(),
                ];
                two.iter()
                    .zip(surfaces)
                    .map(|((a, b), surface)| self.proposals(a, b, &surface))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// The parts of the picture whose spectrum is `s` found again elsewhere in it (a band or a
    /// lane copied within one blot): one proposal per peak of its correlation with itself, away
    /// from the shifts under [`MIN_REPEAT_SHIFT_PX`] (every part lies on itself there) and each
    /// shift once (a part `d` away from its copy is its copy's part `-d` away).
    pub(super) fn repeats(&self, s: &Spectrum) -> Vec<Overlap> {
        let mut correlation: Vec<Complex32> = s
            .transform
            .iter()
            .map(|value| Complex32::new(value.norm_sqr(), 0.0))
            .collect();
        self.apply(&mut correlation, true);
        let (w, h) = (self.width as i64, self.height as i64);
        let signed = |v: i64, n: i64| if v > n / 2 { v - n } else { v };
        let surface: Vec<f32> = correlation
            .iter()
            .enumerate()
            .map(|(k, value)| {
                let (dx, dy) = (signed(k as i64 % w, w), signed(k as i64 / w, h));
                let near_zero = dx.abs() < MIN_REPEAT_SHIFT_PX && dy.abs() < MIN_REPEAT_SHIFT_PX;
                let mirrored = dy < 0 || (dy == 0 && dx < 0);
                if near_zero || mirrored {
                    f32::NEG_INFINITY
                } else {
                    value.re
                }
            })
            .collect();
        self.proposals(s, s, &surface)
    }

    /// One proposal per peak of the correlation `surface` of `a` and `b` whose shift lays a part
    /// of them on each other.
    fn proposals(&self, a: &Spectrum, b: &Spectrum, surface: &[f32]) -> Vec<Overlap> {
        let mut proposals: Vec<Overlap> = Vec::new();
        for (px, py) in peaks(surface, self.width, self.height) {
            // The transform is circular: a peak stands for its shift or that shift less a period.
            let best = [px, px - self.width as i64]
                .into_iter()
                .flat_map(|dx| [py, py - self.height as i64].map(|dy| (dx, dy)))
                .filter_map(|shift| shared_at(&a.detail, &b.detail, shift))
                .max_by_key(|(_, cells)| *cells);
            if let Some((overlap, _)) = best
                && !proposals.contains(&overlap)
            {
                proposals.push(overlap);
            }
        }
        proposals
    }
}

/// The smallest length at least `n` whose only prime factors are 2, 3 and 5.
fn fast_length(n: usize) -> usize {
    (n.max(1)..)
        .find(|&m| {
            let mut m = m;
            for p in [2, 3, 5] {
                while m % p == 0 {
                    m /= p;
                }
            }
            m == 1
        })
        .expect("some length is smooth")
}

/// The highest local maxima of a `width` × `height` circular surface, highest first.
fn peaks(surface: &[f32], width: usize, height: usize) -> Vec<(i64, i64)> {
    // The highest values in one pass, enough of them that the peaks survive suppression.
    let kept = PEAKS * 64;
    let mut highest: Vec<(f32, usize)> = Vec::with_capacity(kept + 1);
    let mut floor = f32::NEG_INFINITY;
    for (i, &value) in surface.iter().enumerate() {
        if value <= floor {
            continue;
        }
        let at = highest.partition_point(|&(v, _)| v >= value);
        highest.insert(at, (value, i));
        if highest.len() > kept {
            highest.pop();
            floor = highest[kept - 1].0;
        }
    }
    let mut found: Vec<(i64, i64)> = Vec::new();
    let (w, h) = (width as i64, height as i64);
    for (_, i) in highest {
        let (x, y) = ((i % width) as i64, (i / width) as i64);
        let near = |&(u, v): &(i64, i64)| {
            let dx = (x - u).rem_euclid(w).min((u - x).rem_euclid(w));
            let dy = (y - v).rem_euclid(h).min((v - y).rem_euclid(h));
            dx <= PEAK_SUPPRESSION_PX && dy <= PEAK_SUPPRESSION_PX
        };
        if !found.iter().any(near) {
            found.push((x, y));
            if found.len() == PEAKS {
                break;
            }
        }
    }
    found
}

/// `proposal`, found on copies of `a` and `b` at a coarser resolution, laid again on them: the
/// shift within `reach` pixels of its own that lays the largest part of `a` on `b`, so that the
/// part's edges are found to a cell of the pictures themselves.
pub(super) fn refined(a: &Detail, b: &Detail, proposal: &Overlap, reach: i64) -> Option<Overlap> {
    let shift = |along_a: f32, along_b: f32, (side_a, side_b): (usize, usize)| {
        (along_b * side_b as f32 - along_a * side_a as f32).round() as i64
    };
    let dx = shift(
        proposal.region_a[0],
        proposal.region_b[0],
        (a.width, b.width),
    );
    let dy = shift(
        proposal.region_a[1],
        proposal.region_b[1],
        (a.height, b.height),
    );
    shared_near(a, b, (dx, dy), reach)
}

/// The largest part of `a` that a shift within `reach` pixels of `(dx, dy)` lays on `b`
/// (b(x, y) on a(x - dx, y - dy)); `None` when no shift lays one big enough.
pub(super) fn shared_near(
    a: &Detail,
    b: &Detail,
    (dx, dy): (i64, i64),
    reach: i64,
) -> Option<Overlap> {
    (-reach..=reach)
        .flat_map(|x| (-reach..=reach).map(move |y| (dx + x, dy + y)))
        .filter_map(|shift| shared_at(a, b, shift))
        .max_by_key(|(_, cells)| *cells)
        .map(|(overlap, _)| overlap)
}

/// The part of `a` that `shift` lays on `b`, with its size in cells: the largest connected set
/// of cells whose windows' detail correlates; `None` when there is none big enough.
fn shared_at(a: &Detail, b: &Detail, (dx, dy): (i64, i64)) -> Option<(Overlap, usize)> {
    // The overlap in `b`'s pixels: b(x, y) lies on a(x - dx, y - dy).
    let x0 = dx.max(0);
    let y0 = dy.max(0);
    let x1 = (a.width as i64 + dx).min(b.width as i64);
    let y1 = (a.height as i64 + dy).min(b.height as i64);
    if x1 - x0 < MIN_PART_SIDE_PX as i64 || y1 - y0 < MIN_PART_SIDE_PX as i64 {
        return None;
    }
    let (columns, rows) = ((x1 - x0) as usize / CELL_PX, (y1 - y0) as usize / CELL_PX);
    // Per cell: sums of products and energies of the two pictures' detail.
    let mut sums = vec![[0f32; 3]; columns * rows];
    for row in 0..rows {
        for column in 0..columns {
            let cell = &mut sums[row * columns + column];
            for y in 0..CELL_PX {
                let by = y0 as usize + row * CELL_PX + y;
                let ay = (by as i64 - dy) as usize;
                for x in 0..CELL_PX {
                    let bx = x0 as usize + column * CELL_PX + x;
                    let ax = (bx as i64 - dx) as usize;
                    let (ga, gb) = (a.values[ay * a.width + ax], b.values[by * b.width + bx]);
                    cell[0] += ga * gb;
                    cell[1] += ga * ga;
                    cell[2] += gb * gb;
                }
            }
        }
    }
    let reach = WINDOW_CELLS / 2;
    let pixels = (WINDOW_CELLS * WINDOW_CELLS * CELL_PX * CELL_PX) as f32;
    let agrees: Vec<bool> = (0..rows * columns)
        .map(|i| {
            let (row, column) = (i / columns, i % columns);
            let mut window = [0f32; 3];
            for r in row.saturating_sub(reach)..(row + reach + 1).min(rows) {
                for c in column.saturating_sub(reach)..(column + reach + 1).min(columns) {
                    for (total, value) in window.iter_mut().zip(sums[r * columns + c]) {
                        *total += value;
                    }
                }
            }
            let [product, energy_a, energy_b] = window;
            energy_a.min(energy_b) >= MIN_CELL_ENERGY * pixels
                && product >= MIN_CELL_CORRELATION * (energy_a * energy_b).sqrt()
        })
        .collect();
    // The largest, the first of equals.
    let (cells, [c0, r0, c1, r1]) = crate::panels::grid_components(&agrees, columns, rows)
        .into_iter()
        .reduce(|best, next| if next.0 > best.0 { next } else { best })?;
    let (width, height) = ((c1 - c0) * CELL_PX, (r1 - r0) * CELL_PX);
    if cells < MIN_PART_CELLS || width.min(height) < MIN_PART_SIDE_PX {
        return None;
    }
    let in_b = [
        x0 as f32 + (c0 * CELL_PX) as f32,
        y0 as f32 + (r0 * CELL_PX) as f32,
        x0 as f32 + (c1 * CELL_PX) as f32,
        y0 as f32 + (r1 * CELL_PX) as f32,
    ];
    let share = |[x0, y0, x1, y1]: [f32; 4], (w, h): (usize, usize)| {
        [x0 / w as f32, y0 / h as f32, x1 / w as f32, y1 / h as f32]
    };
    let in_a = [
        in_b[0] - dx as f32,
        in_b[1] - dy as f32,
        in_b[2] - dx as f32,
        in_b[3] - dy as f32,
    ];
    Some((
        Overlap {
            region_a: share(in_a, (a.width, a.height)),
            region_b: share(in_b, (b.width, b.height)),
        },
        cells,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_rounded_up_to_products_of_two_three_and_five() {
        assert_eq!(
            [1, 7, 11, 97, 256, 257].map(fast_length),
            [1, 8, 12, 100, 256, 270]
        );
    }

    #[test]
    fn two_overlapping_crops_of_a_real_blot_are_laid_where_they_overlap() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/data/blots/polimi/polimi_cleanup__img_000003_patch_001_clipdrop-cleanup.png");
        let Ok(blot) = image::open(&path) else {
            eprintln!("{} is absent: nothing to check", path.display());
            return;
        };
        let blot = blot.to_luma8();
        let a = image::imageops::crop_imm(&blot, 0, 0, 200, 200).to_image();
        let b = image::imageops::crop_imm(&blot, 40, 24, 200, 200).to_image();
        let transforms = Transforms::for_size(200, 200);
        let (a, b) = (transforms.spectrum(&a), transforms.spectrum(&b));
        // Laid on each other both ways in one transform.
        let found = transforms.shared_parts(&[(&a, &b), (&b, &a)]);
        // b(x, y) = a(x + 40, y + 24): a's [40, 200) × [24, 200) is b's [0, 160) × [0, 176).
        let first = found[0].first().expect("a proposal");
        let back = found[1].first().expect("a proposal");
        assert_eq!(
            (first.region_a, first.region_b),
            (back.region_b, back.region_a)
        );
        let (x_a, y_a) = (first.region_a[0] * 200.0, first.region_a[1] * 200.0);
        let (x_b, y_b) = (first.region_b[0] * 200.0, first.region_b[1] * 200.0);
        assert_eq!((x_a - x_b, y_a - y_b), (40.0, 24.0), "{first:?}");
        let area = |r: [f32; 4]| (r[2] - r[0]) * (r[3] - r[1]);
        assert!(area(first.region_b) >= 0.5 * 0.8 * 0.88, "{first:?}");
    }
}
