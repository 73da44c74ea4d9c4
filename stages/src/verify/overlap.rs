//! Keypoint proposals for verification: where two panels line up when they share only a part
//! (two crops of one blot that overlap, a picture of which most was regenerated around a kept
//! strip). Corners are found over a scale pyramid of each panel, described by their
//! contrast-normalised patch, matched both ways, and a scale-and-shift model is fitted to the
//! matches by trying every pair of them; the regions the model lays on each other (and the part
//! of them the agreeing keypoints cover) are proposed for verification's dense tests to judge.
//! Nothing here verifies anything.

use image::GrayImage;
use panelscope_models::resample::resample;

/// Longest side the keypoints are found at, in pixels.
const KEYPOINT_SIDE: u32 = 192;
/// Each pyramid level is this much smaller than the one before.
const LEVEL_STEP: f32 = std::f32::consts::SQRT_2;
/// No level is shorter than this (pixels).
const MIN_LEVEL_SIDE: u32 = 32;
/// A descriptor's patch is this many pixels either way of its corner, at its level.
const PATCH_RADIUS: usize = 8;
/// The patch is pooled into this many cells a side.
const DESCRIPTOR_CELLS: usize = 8;
/// Corners closer than this (pixels, at their level) to a stronger one are dropped.
const SUPPRESSION_RADIUS: isize = 3;
/// Which corners of an image are kept.
struct Corners {
    /// Strongest corners kept per image, over all levels.
    most: usize,
    /// Corners weaker than this share of their level's strongest are noise.
    min_relative_response: f32,
    /// A patch whose pooled cells vary less than this (levels) is flat: no corner of it matches.
    min_patch_deviation: f32,
    /// Most pyramid levels searched.
    levels: usize,
}

/// Corners of panels laid on each other.
const OVERLAP_CORNERS: Corners = Corners {
    most: 250,
    min_relative_response: 0.01,
    min_patch_deviation: 2.0,
    levels: usize::MAX,
};
/// Patches alike from this cosine on may match.
const MIN_MATCH_SIMILARITY: f32 = 0.8;
/// A match's distance must be under this share of the distance to the runner-up: a repeated
/// band or lane matches several places equally and says nothing of where.
const MAX_DISTANCE_RATIO: f32 = 0.9;
/// Most matches a model is fitted to (the most alike).
const MAX_MATCHES: usize = 100;
/// A match agrees with a model when it lands within this many pixels (at the keypoint side).
const INLIER_TOLERANCE: f32 = 3.0;
/// Fewest agreeing matches for a proposal.
const MIN_INLIERS: usize = 8;
/// Scales between the panels tried (second panel's lengths in the first's).
const SCALE_RANGE: (f32, f32) = (0.25, 4.0);
/// Smallest overlap proposed, as a share of the smaller panel's area (in the first's pixels).
const MIN_OVERLAP_SHARE: f32 = 0.2;
/// The agreeing keypoints' span is proposed on its own when it covers less than this share of
/// the overlap.
const COVERED_SHARE: f32 = 0.7;
/// Smallest share of each side of a panel an overlap must span.
const MIN_OVERLAP_SIDE_SHARE: f32 = 0.25;

/// Where two panels may overlap: the same part of each, as shares `[x0, y0, x1, y1]` of its width
/// and height.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Overlap {
    pub region_a: [f32; 4],
    pub region_b: [f32; 4],
}

/// A corner at a pyramid level, in the level-0 pixels of its image, with its patch.
struct Keypoint {
    x: f32,
    y: f32,
    /// Level-0 pixels per level pixel.
    scale: f32,
    descriptor: [f32; DESCRIPTOR_CELLS * DESCRIPTOR_CELLS],
}

/// A panel's keypoints, found once and laid against any number of others.
pub(super) struct Keypoints {
    size: (f32, f32),
    points: Vec<Keypoint>,
}

impl Keypoints {
    pub(super) fn of(image: &GrayImage) -> Self {
        let small = super::fit(image, KEYPOINT_SIDE);
        Self {
            size: (small.width() as f32, small.height() as f32),
            points: keypoints(&small, &OVERLAP_CORNERS),
        }
    }

    /// Keypoints for [`repeat`]: a part copied within a panel is a small share of it, and what
    /// it repeats is the membrane's own texture more than the strong edges of its bands, so the
    /// corners are found at the panel's resolution (never enlarged: that smooths the texture
    /// away) and down to weak ones.
    pub(super) fn for_repeats(image: &GrayImage) -> Self {
        let small = if image.width().max(image.height()) > REPEAT_KEYPOINT_SIDE {
            super::fit(image, REPEAT_KEYPOINT_SIDE)
        } else {
            image.clone()
        };
        Self {
            size: (small.width() as f32, small.height() as f32),
            points: keypoints(&small, &REPEAT_CORNERS),
        }
    }
}

/// Overlaps of `b` (the second panel, already flipped or turned as the alignment asks) on the
/// first panel, whose keypoints are `a`, that keypoints support: the geometric overlap of the
/// fitted model, and, when the agreeing keypoints cover clearly less of it (the rest was
/// changed), the part they cover. Empty when no model reaches [`MIN_INLIERS`].
pub(super) fn overlaps(a: &Keypoints, b: &GrayImage) -> Vec<Overlap> {
    if a.points.len() < MIN_INLIERS {
        return Vec::new();
    }
    let b = Keypoints::of(b);
    let (ka, kb) = (&a.points, &b.points);
    let matches = mutual_matches(ka, kb);
    let Some((model, inliers)) = best_model(ka, kb, &matches) else {
        return Vec::new();
    };
    let (size_a, size_b) = (a.size, b.size);
    let Some(overlap) = model.overlap(size_a, size_b) else {
        return Vec::new();
    };
    let mut proposals = vec![model.proposal(overlap, size_a, size_b)];
    let covered = model.covered(ka, &inliers, overlap);
    if area(covered) < COVERED_SHARE * area(overlap) && model.large_enough(covered, size_a, size_b)
    {
        proposals.push(model.proposal(covered, size_a, size_b));
    }
    proposals
}

/// A part of one panel that its keypoints find again elsewhere in it (a band or a group of cells
/// copied within one picture): the part the agreeing keypoints cover, and where the model lays
/// it. Keypoints closer than a patch to each other never match, so a part is never found on
/// itself; a row of look-alike bands matches several places equally and is not proposed.
pub(super) fn repeat(k: &Keypoints) -> Option<Overlap> {
    let points = &k.points;
    let pairs = repeated_matches(points);
    let (model, inliers) = best_model_with(points, points, &pairs, MIN_REPEAT_INLIERS)?;
    if !(REPEAT_SCALE_RANGE.0..=REPEAT_SCALE_RANGE.1).contains(&model.scale)
        || model.tx.hypot(model.ty) < MIN_REPEAT_SHIFT
    {
        return None;
    }
    let (w, h) = k.size;
    let covered = model.covered(points, &inliers, [0.0, 0.0, w, h]);
    let proposal = model.proposal(covered, k.size, k.size);
    (area(proposal.region_a) > 0.0 && area(proposal.region_b) > 0.0).then_some(proposal)
}

/// Corners of a picture keyed for the index of parts, at its own resolution (a part spliced into
/// another picture keeps its pixel size), down to weak ones (a band's ends on a smooth membrane).
const PART_CORNERS: Corners = Corners {
    most: 0,
    min_relative_response: 0.00001,
    min_patch_deviation: 0.5,
    levels: 1,
};
/// Pixels of a picture per corner keyed for the index of parts: a band strip of a few lanes
/// (some thousands of pixels) then holds several.
const PART_KEY_AREA_PX: usize = 400;
/// Fewest and most corners keyed per picture.
const PART_KEYS: (usize, usize) = (48, 1024);

/// The corners of a picture keyed for the index of parts, strongest first: each one's place
/// (pixels of the picture) and its contrast-normalised patch (unit length, [`PART_KEY_DIM`]
/// values).
pub(super) fn part_keys(image: &GrayImage) -> Vec<([f32; 2], [f32; PART_KEY_DIM])> {
    let area = image.width() as usize * image.height() as usize;
    let corners = Corners {
        most: (area / PART_KEY_AREA_PX).clamp(PART_KEYS.0, PART_KEYS.1),
        ..PART_CORNERS
    };
    keypoints(image, &corners)
        .into_iter()
        .map(|k| ([k.x, k.y], k.descriptor))
        .collect()
}

/// Values of a part key's descriptor.
pub(super) const PART_KEY_DIM: usize = DESCRIPTOR_CELLS * DESCRIPTOR_CELLS;

/// Longest side the keypoints of a panel searched for repeats are found at, in pixels.
const REPEAT_KEYPOINT_SIDE: u32 = 384;
/// Corners of a panel searched for repeats.
const REPEAT_CORNERS: Corners = Corners {
    most: 600,
    min_relative_response: 0.001,
    min_patch_deviation: 0.5,
    levels: 2,
};
/// Fewest agreeing matches for a repeat within one panel: a copied band spans few corners.
const MIN_REPEAT_INLIERS: usize = 6;
/// Scales a part may be copied at within one panel.
const REPEAT_SCALE_RANGE: (f32, f32) = (0.8, 1.25);
/// Shortest shift (pixels at the keypoint side) between a part and its copy.
const MIN_REPEAT_SHIFT: f32 = 2.0 * PATCH_RADIUS as f32;

/// Matches of a panel's keypoints among themselves, each pair both ways round: mutual best
/// matches, alike enough and clearly better than the runner-up, between corners whose patches
/// do not overlap.
fn repeated_matches(points: &[Keypoint]) -> Vec<(usize, usize)> {
    let n = points.len();
    let apart = |i: usize, j: usize| {
        let reach = PATCH_RADIUS as f32 * 2.0 * points[i].scale.max(points[j].scale);
        let (dx, dy) = (points[i].x - points[j].x, points[i].y - points[j].y);
        dx * dx + dy * dy >= reach * reach
    };
    // Each pair's similarity, once (the table is symmetric); none between corners too close.
    let mut table = vec![f32::MIN; n * n];
    for i in 0..n {
        for j in i + 1..n {
            if apart(i, j) {
                let s = super::dot_product(&points[i].descriptor, &points[j].descriptor);
                table[i * n + j] = s;
                table[j * n + i] = s;
            }
        }
    }
    let distance = |s: f32| (2.0 - 2.0 * s).max(0.0).sqrt();
    // Each corner's best and runner-up among the corners apart from it.
    let best: Vec<(usize, f32, f32)> = table
        .chunks_exact(n.max(1))
        .map(|row| {
            let (mut first, mut second) = ((usize::MAX, f32::MIN), f32::MIN);
            for (j, &s) in row.iter().enumerate() {
                if s > first.1 {
                    second = first.1;
                    first = (j, s);
                } else if s > second {
                    second = s;
                }
            }
            (first.0, first.1, second)
        })
        .collect();
    let mut matches: Vec<(f32, (usize, usize))> = (0..n)
        .filter_map(|i| {
            let (j, s, second) = best[i];
            (j != usize::MAX
                && i < j
                && best[j].0 == i
                && s >= MIN_MATCH_SIMILARITY
                && distance(s) < MAX_DISTANCE_RATIO * distance(second)
                && distance(s) < MAX_DISTANCE_RATIO * distance(best[j].2))
            .then_some((s, (i, j)))
        })
        .collect();
    matches.sort_by(|x, y| y.0.total_cmp(&x.0));
    matches.truncate(MAX_MATCHES / 2);
    matches
        .into_iter()
        .flat_map(|(_, (i, j))| [(i, j), (j, i)])
        .collect()
}

/// The area of a region `[x0, y0, x1, y1]` (none when it is empty).
pub(super) fn area(r: [f32; 4]) -> f32 {
    (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0)
}

/// The strongest corners of `image` over its pyramid, each with its patch.
fn keypoints(image: &GrayImage, corners: &Corners) -> Vec<Keypoint> {
    let mut found: Vec<(f32, Keypoint)> = Vec::new();
    let mut level = image.clone();
    let mut scale = 1.0f32;
    for _ in 0..corners.levels {
        found.extend(level_keypoints(&level, scale, corners));
        let (w, h) = (
            (image.width() as f32 / (scale * LEVEL_STEP)).round() as u32,
            (image.height() as f32 / (scale * LEVEL_STEP)).round() as u32,
        );
        if w.min(h) < MIN_LEVEL_SIDE {
            break;
        }
        scale *= LEVEL_STEP;
        level = resample(image, w, h);
    }
    found.sort_by(|x, y| y.0.total_cmp(&x.0));
    found.truncate(corners.most);
    found.into_iter().map(|(_, k)| k).collect()
}

/// Corners of one level (Harris response, local maxima), with their strength.
fn level_keypoints(level: &GrayImage, scale: f32, corners: &Corners) -> Vec<(f32, Keypoint)> {
    let (w, h) = (level.width() as usize, level.height() as usize);
    let r = PATCH_RADIUS;
    if w <= 2 * r + 2 || h <= 2 * r + 2 {
        return Vec::new();
    }
    let values: Vec<f32> = level.as_raw().iter().map(|&v| f32::from(v)).collect();
    let at = |x: usize, y: usize| values[y * w + x];
    // Structure tensor from central differences, summed over a 5×5 window.
    let mut xx = vec![0.0f32; w * h];
    let mut yy = vec![0.0f32; w * h];
    let mut xy = vec![0.0f32; w * h];
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let gx = (at(x + 1, y) - at(x - 1, y)) / 2.0;
            let gy = (at(x, y + 1) - at(x, y - 1)) / 2.0;
            xx[y * w + x] = gx * gx;
            yy[y * w + x] = gy * gy;
            xy[y * w + x] = gx * gy;
        }
    }
    let (sxx, syy, sxy) = (box_sum(&xx, w, h), box_sum(&yy, w, h), box_sum(&xy, w, h));
    let response: Vec<f32> = (0..w * h)
        .map(|i| {
            let trace = sxx[i] + syy[i];
            sxx[i] * syy[i] - sxy[i] * sxy[i] - 0.04 * trace * trace
        })
        .collect();
    let floor = response.iter().copied().fold(0.0f32, f32::max) * corners.min_relative_response;
    let mut found = Vec::new();
    let s = SUPPRESSION_RADIUS;
    for y in r..h - r {
        for x in r..w - r {
            let here = response[y * w + x];
            if here <= floor || here <= 0.0 {
                continue;
            }
            let is_peak = (-s..=s).all(|dy| {
                (-s..=s).all(|dx| {
                    let (nx, ny) = (x as isize + dx, y as isize + dy);
                    if (dx == 0 && dy == 0)
                        || nx < 0
                        || ny < 0
                        || nx >= w as isize
                        || ny >= h as isize
                    {
                        return true;
                    }
                    let there = response[ny as usize * w + nx as usize];
                    there < here || (there == here && (dy, dx) > (0, 0))
                })
            });
            if !is_peak {
                continue;
            }
            let Some(descriptor) = describe(&values, w, (x, y), corners.min_patch_deviation) else {
                continue;
            };
            found.push((
                here,
                Keypoint {
                    x: (x as f32 + 0.5) * scale - 0.5,
                    y: (y as f32 + 0.5) * scale - 0.5,
                    scale,
                    descriptor,
                },
            ));
        }
    }
    found
}

/// Sums over the 5×5 window around each pixel (clipped at the borders), as running sums along
/// each row, then down the rows a whole row at a time.
fn box_sum(values: &[f32], w: usize, h: usize) -> Vec<f32> {
    const R: usize = 2;
    let mut rows = vec![0.0f32; w * h];
    for (line, out) in values.chunks_exact(w).zip(rows.chunks_exact_mut(w)) {
        let mut sum: f32 = line[..=R.min(w - 1)].iter().sum();
        for (x, slot) in out.iter_mut().enumerate() {
            *slot = sum;
            if x + R + 1 < w {
                sum += line[x + R + 1];
            }
            if x >= R {
                sum -= line[x - R];
            }
        }
    }
    let mut out = vec![0.0f32; w * h];
    let mut sum = vec![0.0f32; w];
    for row in rows.chunks_exact(w).take(R + 1) {
        sum.iter_mut().zip(row).for_each(|(s, v)| *s += v);
    }
    for y in 0..h {
        out[y * w..(y + 1) * w].copy_from_slice(&sum);
        if y + R + 1 < h {
            let entering = &rows[(y + R + 1) * w..(y + R + 2) * w];
            sum.iter_mut().zip(entering).for_each(|(s, v)| *s += v);
        }
        if y >= R {
            let leaving = &rows[(y - R) * w..(y - R + 1) * w];
            sum.iter_mut().zip(leaving).for_each(|(s, v)| *s -= v);
        }
    }
    out
}

/// The patch around `(x, y)` pooled into cells, with its mean taken away and scaled to unit
/// length: blind to brightness and contrast. None for a flat patch.
fn describe(
    values: &[f32],
    w: usize,
    (x, y): (usize, usize),
    min_patch_deviation: f32,
) -> Option<[f32; DESCRIPTOR_CELLS * DESCRIPTOR_CELLS]> {
    let r = PATCH_RADIUS;
    let cell = 2 * r / DESCRIPTOR_CELLS;
    let mut d = [0.0f32; DESCRIPTOR_CELLS * DESCRIPTOR_CELLS];
    for cy in 0..DESCRIPTOR_CELLS {
        for cx in 0..DESCRIPTOR_CELLS {
            let (px, py) = (x - r + cx * cell, y - r + cy * cell);
            let mut sum = 0.0;
            for yy in py..py + cell {
                sum += values[yy * w + px..yy * w + px + cell].iter().sum::<f32>();
            }
            d[cy * DESCRIPTOR_CELLS + cx] = sum / (cell * cell) as f32;
        }
    }
    let mean = d.iter().sum::<f32>() / d.len() as f32;
    d.iter_mut().for_each(|v| *v -= mean);
    let norm = d.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm / (d.len() as f32).sqrt() < min_patch_deviation {
        return None;
    }
    d.iter_mut().for_each(|v| *v /= norm);
    Some(d)
}

/// Pairs `(i, j)` where `kb[j]` is `ka[i]`'s best match and `ka[i]` is `kb[j]`'s, alike enough
/// and clearly better than either's runner-up; at most [`MAX_MATCHES`], the most alike.
fn mutual_matches(ka: &[Keypoint], kb: &[Keypoint]) -> Vec<(usize, usize)> {
    if ka.is_empty() || kb.is_empty() {
        return Vec::new();
    }
    let similarity = |i: usize, j: usize| super::dot_product(&ka[i].descriptor, &kb[j].descriptor);
    let table: Vec<f32> = (0..ka.len())
        .flat_map(|i| (0..kb.len()).map(move |j| (i, j)))
        .map(|(i, j)| similarity(i, j))
        .collect();
    let at = |i: usize, j: usize| table[i * kb.len() + j];
    // Best and runner-up similarity along a row or a column.
    let best_two = |scores: &mut dyn Iterator<Item = (usize, f32)>| {
        let (mut best, mut second) = ((usize::MAX, f32::MIN), f32::MIN);
        for (k, s) in scores {
            if s > best.1 {
                second = best.1;
                best = (k, s);
            } else if s > second {
                second = s;
            }
        }
        (best, second)
    };
    let distance = |s: f32| (2.0 - 2.0 * s).max(0.0).sqrt();
    let distinct = |best: f32, second: f32| distance(best) < MAX_DISTANCE_RATIO * distance(second);
    let column_best: Vec<((usize, f32), f32)> = (0..kb.len())
        .map(|j| best_two(&mut (0..ka.len()).map(|i| (i, at(i, j)))))
        .collect();
    let mut matches: Vec<(f32, (usize, usize))> = (0..ka.len())
        .filter_map(|i| {
            let ((j, s), second) = best_two(&mut (0..kb.len()).map(|j| (j, at(i, j))));
            let ((back, _), column_second) = column_best[j];
            (s >= MIN_MATCH_SIMILARITY
                && back == i
                && distinct(s, second)
                && distinct(s, column_second))
            .then_some((s, (i, j)))
        })
        .collect();
    // Fitting tries every pair of matches against every match: the most alike bound its cost.
    matches.sort_by(|x, y| y.0.total_cmp(&x.0));
    matches.truncate(MAX_MATCHES);
    matches.into_iter().map(|(_, m)| m).collect()
}

/// `a ≈ scale · b + (tx, ty)`, in keypoint-side pixels.
#[derive(Debug, Clone, Copy)]
struct Model {
    scale: f32,
    tx: f32,
    ty: f32,
}

impl Model {
    fn maps(&self, k: &Keypoint) -> (f32, f32) {
        (self.scale * k.x + self.tx, self.scale * k.y + self.ty)
    }

    fn agrees(&self, a: &Keypoint, b: &Keypoint) -> bool {
        let (x, y) = self.maps(b);
        // The pair's own levels must agree with the scale, within a level either way.
        let level_ratio = a.scale / b.scale / self.scale;
        (x - a.x).hypot(y - a.y) <= INLIER_TOLERANCE
            && (1.0 / (LEVEL_STEP * 1.01)..=LEVEL_STEP * 1.01).contains(&level_ratio)
    }

    /// The first panel's part that the second covers, in its pixels.
    fn overlap(&self, (wa, ha): (f32, f32), (wb, hb): (f32, f32)) -> Option<[f32; 4]> {
        let r = [
            self.tx.max(0.0),
            self.ty.max(0.0),
            (self.tx + self.scale * wb).min(wa),
            (self.ty + self.scale * hb).min(ha),
        ];
        self.large_enough(r, (wa, ha), (wb, hb)).then_some(r)
    }

    fn large_enough(&self, r: [f32; 4], (wa, ha): (f32, f32), (wb, hb): (f32, f32)) -> bool {
        let smaller = (wa * ha).min(self.scale * self.scale * wb * hb);
        let (rw, rh) = (r[2] - r[0], r[3] - r[1]);
        area(r) >= MIN_OVERLAP_SHARE * smaller
            && rw >= MIN_OVERLAP_SIDE_SHARE * wa.min(self.scale * wb)
            && rh >= MIN_OVERLAP_SIDE_SHARE * ha.min(self.scale * hb)
    }

    /// The part of `overlap` the agreeing keypoints of the first panel span, grown by a patch.
    fn covered(&self, ka: &[Keypoint], inliers: &[(usize, usize)], overlap: [f32; 4]) -> [f32; 4] {
        let mut r = [f32::MAX, f32::MAX, f32::MIN, f32::MIN];
        for &(i, _) in inliers {
            let k = &ka[i];
            let grow = PATCH_RADIUS as f32 * k.scale;
            r = [
                r[0].min(k.x - grow),
                r[1].min(k.y - grow),
                r[2].max(k.x + grow),
                r[3].max(k.y + grow),
            ];
        }
        [
            r[0].max(overlap[0]),
            r[1].max(overlap[1]),
            r[2].min(overlap[2]),
            r[3].min(overlap[3]),
        ]
    }

    /// `r` (the first panel's pixels) as shares of each panel.
    fn proposal(&self, r: [f32; 4], (wa, ha): (f32, f32), (wb, hb): (f32, f32)) -> Overlap {
        let to_b = |x: f32, y: f32| ((x - self.tx) / self.scale, (y - self.ty) / self.scale);
        let (bx0, by0) = to_b(r[0], r[1]);
        let (bx1, by1) = to_b(r[2], r[3]);
        let unit = |v: f32| v.clamp(0.0, 1.0);
        Overlap {
            region_a: [r[0] / wa, r[1] / ha, r[2] / wa, r[3] / ha].map(unit),
            region_b: [bx0 / wb, by0 / hb, bx1 / wb, by1 / hb].map(unit),
        }
    }
}

/// The scale-and-shift model most matches agree with, fitted to them by least squares; None
/// below [`MIN_INLIERS`]. Every pair of matches proposes a model (there are at most
/// [`MAX_MATCHES`], and no randomness keeps verification reproducible).
fn best_model(
    ka: &[Keypoint],
    kb: &[Keypoint],
    matches: &[(usize, usize)],
) -> Option<(Model, Vec<(usize, usize)>)> {
    best_model_with(ka, kb, matches, MIN_INLIERS)
}

/// [`best_model`] with at least `min_inliers` agreeing matches.
fn best_model_with(
    ka: &[Keypoint],
    kb: &[Keypoint],
    matches: &[(usize, usize)],
    min_inliers: usize,
) -> Option<(Model, Vec<(usize, usize)>)> {
    if matches.len() < min_inliers {
        return None;
    }
    let mut best: Option<(usize, Model)> = None;
    for (n, &(i1, j1)) in matches.iter().enumerate() {
        for &(i2, j2) in &matches[n + 1..] {
            let (a1, a2, b1, b2) = (&ka[i1], &ka[i2], &kb[j1], &kb[j2]);
            let span_b = (b1.x - b2.x).hypot(b1.y - b2.y);
            if span_b < 4.0 * INLIER_TOLERANCE {
                continue;
            }
            let scale = (a1.x - a2.x).hypot(a1.y - a2.y) / span_b;
            if !(SCALE_RANGE.0..=SCALE_RANGE.1).contains(&scale) {
                continue;
            }
            let model = Model {
                scale,
                tx: a1.x - scale * b1.x,
                ty: a1.y - scale * b1.y,
            };
            let count = matches
                .iter()
                .filter(|&&(i, j)| model.agrees(&ka[i], &kb[j]))
                .count();
            if best.is_none_or(|(c, _)| count > c) {
                best = Some((count, model));
            }
        }
    }
    let (count, model) = best?;
    if count < min_inliers {
        return None;
    }
    let inliers: Vec<(usize, usize)> = matches
        .iter()
        .copied()
        .filter(|&(i, j)| model.agrees(&ka[i], &kb[j]))
        .collect();
    let model = refit(ka, kb, &inliers).unwrap_or(model);
    Some((model, inliers))
}

/// Least-squares scale and shift through `inliers`.
fn refit(ka: &[Keypoint], kb: &[Keypoint], inliers: &[(usize, usize)]) -> Option<Model> {
    let n = inliers.len() as f32;
    let mean =
        |f: &dyn Fn(usize, usize) -> f32| inliers.iter().map(|&(i, j)| f(i, j)).sum::<f32>() / n;
    let (ax, ay) = (mean(&|i, _| ka[i].x), mean(&|i, _| ka[i].y));
    let (bx, by) = (mean(&|_, j| kb[j].x), mean(&|_, j| kb[j].y));
    let (mut cross, mut spread) = (0.0f32, 0.0f32);
    for &(i, j) in inliers {
        let (dbx, dby) = (kb[j].x - bx, kb[j].y - by);
        cross += (ka[i].x - ax) * dbx + (ka[i].y - ay) * dby;
        spread += dbx * dbx + dby * dby;
    }
    if spread <= f32::EPSILON {
        return None;
    }
    let scale = cross / spread;
    (scale > 0.0).then_some(Model {
        scale,
        tx: ax - scale * bx,
        ty: ay - scale * by,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_sums_match_plain_window_sums() {
        let (w, h) = (9, 7);
        let values: Vec<f32> = (0..w * h).map(|i| ((i * 37) % 11) as f32).collect();
        let sums = box_sum(&values, w, h);
        for y in 0..h {
            for x in 0..w {
                let plain: f32 = (y.saturating_sub(2)..=(y + 2).min(h - 1))
                    .flat_map(|yy| {
                        (x.saturating_sub(2)..=(x + 2).min(w - 1)).map(move |xx| (xx, yy))
                    })
                    .map(|(xx, yy)| values[yy * w + xx])
                    .sum();
                assert!((sums[y * w + x] - plain).abs() < 1e-3, "({x}, {y})");
            }
        }
    }

    #[test]
    fn a_shifted_and_shrunk_part_is_found_where_it_was_cut() {
        // Speckle with structure at several scales: the right 60% of it against the left 60%,
        // shrunk to 75%. They share the middle 20% of the whole.
        let (w, h) = (200u32, 120u32);
        let mut state = 12345u32;
        let mut noise = || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 24) as u8
        };
        let fine = GrayImage::from_fn(w / 4, h / 4, |_, _| image::Luma([noise()]));
        let coarse = image::imageops::resize(&fine, w, h, image::imageops::FilterType::CatmullRom);
        let whole = GrayImage::from_fn(w, h, |x, y| {
            image::Luma([coarse.get_pixel(x, y).0[0] / 2 + noise() / 8])
        });
        let part = |x0: u32| image::imageops::crop_imm(&whole, x0, 0, 120, h).to_image();
        let (left, right) = (part(0), resample(&part(80), 90, 90));
        let found = overlaps(&Keypoints::of(&left), &right);
        let first = found.first().expect("an overlap");
        let want_a = [80.0 / 120.0, 0.0, 1.0, 1.0];
        let want_b = [0.0, 0.0, 40.0 / 120.0, 1.0];
        for (got, want) in [(first.region_a, want_a), (first.region_b, want_b)] {
            assert!(
                got.iter().zip(want).all(|(g, w)| (g - w).abs() <= 0.05),
                "{got:?} is not {want:?}"
            );
        }
    }
}
