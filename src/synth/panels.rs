//! Procedural Western blots and DNA gels. A style fixes what a lab's blot looks like (lanes,
//! band rows, band shape, film or fluorescent scan, background); a seed fixes one specimen (how
//! strong each band is, jitter, noise, dust). Two panels with one style and two seeds are the
//! hard negatives a matcher must tell apart: same layout and look, different bands.

use image::{Rgb, RgbImage};

use super::rng::Rng;

/// How band strengths vary across lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BandPattern {
    /// Roughly equal, like a loading control (actin, GAPDH).
    Even,
    /// Rising or falling with the lane, like a dose or time series.
    Ramp,
    /// Strong and weak lanes alternating, like control/treated pairs.
    Alternating,
    /// Unrelated strengths, some lanes empty.
    Random,
}

/// How the membrane was imaged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum BlotLook {
    /// Dark bands on light film or a light scan, optionally tinted (sepia, blue film).
    Film {
        /// Per-channel multiplier of the gray level.
        tint: [f32; 3],
    },
    /// Light bands on a dark background (an inverted chemiluminescence image).
    Inverted,
    /// Coloured bands on black (an infrared/fluorescent scanner).
    Fluorescent {
        /// The band colour, each channel 0–1.
        colour: [f32; 3],
    },
}

/// The look and layout shared by blots from one lab and one experiment.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BlotStyle {
    /// Lanes across the membrane.
    pub lanes: u32,
    /// Free space at the left and right, as a fraction of the width.
    pub lane_margin: f32,
    /// Band width as a fraction of the lane pitch.
    pub lane_fill: f32,
    /// Band row centres as fractions of the height.
    pub rows: Vec<f32>,
    /// Band half-height as a fraction of the panel height.
    pub band_height: f32,
    /// How far band ends rise (negative: sag), in band heights ("smiling" gels).
    pub smile: f32,
    /// Length of the smear trailing below bands, in band heights (0: crisp bands).
    pub smear: f32,
    /// How strengths vary across lanes.
    pub pattern: BandPattern,
    /// Faint non-specific bands per lane.
    pub faint_bands: u32,
    /// Faint density along whole lanes (sample background), 0 for none.
    pub lane_haze: f32,
    /// Background level of film (0–255).
    pub background: f32,
    /// Background change across the width and down the height (gray levels).
    pub gradient: (f32, f32),
    /// Amplitude of blotchy low-frequency background variation.
    pub texture: f32,
    /// Per-pixel noise (standard deviation, gray levels).
    pub grain: f32,
    /// Absorbance per unit band density: higher saturates sooner.
    pub darkness: f32,
    /// Film, inverted or fluorescent.
    pub look: BlotLook,
}

impl BlotStyle {
    /// A whole membrane or a large crop of one: several band rows.
    pub(crate) fn membrane(rng: &mut Rng) -> Self {
        let row_count = rng.between(2, 6) as usize;
        let mut rows: Vec<f32> = (0..row_count)
            .map(|k| (k as f32 + 0.5) / row_count as f32 + rng.uniform(-0.05, 0.05))
            .collect();
        rows.iter_mut().for_each(|row| *row = row.clamp(0.08, 0.92));
        let lanes = rng.between(5, 14);
        // Bands are thin against a membrane: a few percent of its height.
        let band_height = rng.uniform(0.011, 0.028);
        let mut style = Self::with_rows(rng, lanes, rows, band_height);
        style.lane_haze = if rng.chance(0.5) {
            rng.uniform(0.02, 0.08)
        } else {
            0.0
        };
        style
    }

    /// One horizontal strip cut around a single band row, as most figures show blots; the lane
    /// layout is shared by every strip of one figure column.
    pub(crate) fn strip(rng: &mut Rng, lanes: u32, lane_margin: f32, lane_fill: f32) -> Self {
        let row = rng.uniform(0.4, 0.6);
        let band_height = rng.uniform(0.05, 0.11);
        let mut style = Self::with_rows(rng, lanes, vec![row], band_height);
        style.lane_margin = lane_margin;
        style.lane_fill = lane_fill;
        style.faint_bands = if rng.chance(0.3) { 1 } else { 0 };
        style.smear = style.smear.min(1.0);
        style
    }

    /// Another strip of the same membrane and exposure as `self` (same lanes, look and
    /// background), probed for another protein: its own band row, shape and pattern.
    pub(crate) fn strip_like(&self, rng: &mut Rng) -> Self {
        let mut strip = Self::strip(rng, self.lanes, self.lane_margin, self.lane_fill);
        strip.look = self.look;
        strip.background = (self.background + rng.uniform(-8.0, 8.0)).clamp(150.0, 250.0);
        strip.texture = self.texture;
        strip.grain = self.grain;
        strip.lane_haze = self.lane_haze;
        strip
    }

    fn with_rows(rng: &mut Rng, lanes: u32, rows: Vec<f32>, band_height: f32) -> Self {
        let look = match rng.weighted(&[0.62, 0.14, 0.12, 0.12]) {
            0 => BlotLook::Film {
                tint: [1.0, 1.0, 1.0],
            },
            1 => BlotLook::Film {
                tint: *rng.pick(&[[1.0, 0.93, 0.8], [0.88, 0.94, 1.0], [0.97, 0.97, 0.92]]),
            },
            2 => BlotLook::Inverted,
            _ => BlotLook::Fluorescent {
                colour: *rng.pick(&[[0.25, 1.0, 0.3], [1.0, 0.25, 0.2], [0.9, 0.9, 0.9]]),
            },
        };
        Self {
            lanes,
            lane_margin: rng.uniform(0.02, 0.1),
            lane_fill: rng.uniform(0.55, 0.88),
            rows,
            band_height,
            smile: if rng.chance(0.5) {
                rng.uniform(-0.6, 1.2)
            } else {
                0.0
            },
            smear: if rng.chance(0.35) {
                rng.uniform(0.5, 3.0)
            } else {
                0.0
            },
            pattern: *rng.pick(&[
                BandPattern::Even,
                BandPattern::Ramp,
                BandPattern::Alternating,
                BandPattern::Random,
            ]),
            faint_bands: rng.between(0, 2),
            lane_haze: 0.0,
            background: rng.uniform(175.0, 245.0),
            gradient: (rng.uniform(-25.0, 25.0), rng.uniform(-25.0, 25.0)),
            texture: rng.uniform(2.0, 14.0),
            grain: rng.uniform(1.0, 4.5),
            darkness: rng.uniform(1.4, 3.6),
            look,
        }
    }

    /// Lane centres in pixels for a panel `width` pixels wide.
    pub(crate) fn lane_centres(&self, width: u32) -> Vec<f32> {
        let pitch = self.pitch(width);
        (0..self.lanes)
            .map(|lane| width as f32 * self.lane_margin + (lane as f32 + 0.5) * pitch)
            .collect()
    }

    fn pitch(&self, width: u32) -> f32 {
        width as f32 * (1.0 - 2.0 * self.lane_margin) / self.lanes as f32
    }

    /// The pixel box `(x0, y0, x1, y1)` around the bands of `lanes` lanes from `first_lane` in
    /// row `row`, for a panel of `size`: the strip a splice cuts out or pastes over.
    pub(crate) fn band_box(
        &self,
        size: (u32, u32),
        row: usize,
        first_lane: u32,
        lanes: u32,
    ) -> (u32, u32, u32, u32) {
        let (width, height) = size;
        let centres = self.lane_centres(width);
        let half_width = self.pitch(width) * 0.5;
        let last = (first_lane + lanes - 1).min(self.lanes - 1) as usize;
        let x0 = (centres[first_lane as usize] - half_width).max(0.0);
        let x1 = (centres[last] + half_width).min(width as f32);
        let band = self.band_height * height as f32;
        let centre = self.rows[row.min(self.rows.len() - 1)] * height as f32;
        let y0 = (centre - band * 2.6 - self.smile.max(0.0) * band).max(0.0);
        let y1 = (centre + band * (2.6 + self.smear.min(1.5))).min(height as f32);
        (
            x0 as u32,
            y0 as u32,
            (x1 as u32).max(x0 as u32 + 2),
            (y1 as u32).max(y0 as u32 + 2),
        )
    }
}

/// A band strength for `lane` under `pattern`, before the specimen's own variation.
fn pattern_strength(pattern: BandPattern, lane: u32, lanes: u32, row: usize, rng: &mut Rng) -> f32 {
    match pattern {
        BandPattern::Even => rng.uniform(0.75, 0.95),
        BandPattern::Ramp => {
            let t = lane as f32 / (lanes.max(2) - 1) as f32;
            let t = if row % 2 == 0 { t } else { 1.0 - t };
            0.15 + 0.9 * t
        }
        BandPattern::Alternating => {
            if lane % 2 == 0 {
                rng.uniform(0.3, 0.5)
            } else {
                rng.uniform(0.85, 1.3)
            }
        }
        BandPattern::Random => {
            if rng.chance(0.15) {
                0.0
            } else {
                rng.uniform(0.15, 1.3)
            }
        }
    }
}

/// Band density accumulated over a panel; a pixel's darkness follows from it by absorbance.
struct Density {
    width: usize,
    height: usize,
    values: Vec<f32>,
}

/// The shape of one band.
struct Band {
    centre: (f32, f32),
    half_width: f32,
    half_height: f32,
    strength: f32,
    smile: f32,
    smear: f32,
}

impl Density {
    fn new(width: u32, height: u32) -> Self {
        Self {
            width: width as usize,
            height: height as usize,
            values: vec![0.0; width as usize * height as usize],
        }
    }

    /// Adds one band: flat-topped across the lane, Gaussian down it, with an optional smile
    /// (ends higher than the middle) and a smear trailing below. Only its own box is visited.
    fn add_band(&mut self, band: &Band) {
        let Band {
            centre: (cx, cy),
            half_width,
            half_height,
            strength,
            smile,
            smear,
        } = *band;
        if strength <= 0.0 || half_width < 0.5 || half_height < 0.3 {
            return;
        }
        let lift = smile.abs() * half_height;
        let x0 = (cx - half_width * 1.35).floor().max(0.0) as usize;
        let x1 = ((cx + half_width * 1.35).ceil().max(0.0) as usize).min(self.width);
        let y0 = (cy - half_height * 3.2 - lift).floor().max(0.0) as usize;
        let tail = if smear > 0.0 {
            smear * half_height * 3.0
        } else {
            0.0
        };
        let y1 = ((cy + half_height * 3.2 + lift + tail).ceil().max(0.0) as usize).min(self.height);
        for x in x0..x1 {
            let dx = (x as f32 + 0.5 - cx) / half_width;
            let d2 = dx * dx;
            let across = (-(d2 * d2 * d2)).exp();
            if across < 1e-3 {
                continue;
            }
            let row_centre = cy - smile * half_height * d2;
            for y in y0..y1 {
                let dy = (y as f32 + 0.5 - row_centre) / half_height;
                let mut down = (-0.5 * dy * dy).exp();
                if smear > 0.0 && dy > 0.0 {
                    down = down.max(0.12 * (-dy / (1.0 + smear * 2.0)).exp());
                }
                self.values[y * self.width + x] += strength * across * down;
            }
        }
    }

    /// A small round speck of dust or a bubble.
    fn add_speck(&mut self, centre: (f32, f32), radius: f32, strength: f32) {
        let x0 = (centre.0 - radius * 2.0).max(0.0) as usize;
        let x1 = ((centre.0 + radius * 2.0).max(0.0) as usize + 1).min(self.width);
        let y0 = (centre.1 - radius * 2.0).max(0.0) as usize;
        let y1 = ((centre.1 + radius * 2.0).max(0.0) as usize + 1).min(self.height);
        for y in y0..y1 {
            for x in x0..x1 {
                let d2 = ((x as f32 - centre.0).powi(2) + (y as f32 - centre.1).powi(2))
                    / (radius * radius);
                self.values[y * self.width + x] += strength * (-d2).exp();
            }
        }
    }
}

/// Smooth random variation: a coarse grid of random values, bilinearly interpolated with a
/// smoothstep, so backgrounds get the blotchy unevenness of real membranes and film.
pub(crate) struct ValueNoise {
    columns: usize,
    rows: usize,
    values: Vec<f32>,
    scale: (f32, f32),
}

impl ValueNoise {
    pub(crate) fn new(rng: &mut Rng, size: (u32, u32), cells: (usize, usize)) -> Self {
        let (columns, rows) = (cells.0.max(1) + 1, cells.1.max(1) + 1);
        let values = (0..columns * rows)
            .map(|_| rng.uniform(-1.0, 1.0))
            .collect();
        let scale = (
            cells.0.max(1) as f32 / size.0.max(1) as f32,
            cells.1.max(1) as f32 / size.1.max(1) as f32,
        );
        Self {
            columns,
            rows,
            values,
            scale,
        }
    }

    /// The value at pixel (x, y), in [-1, 1].
    pub(crate) fn at(&self, x: u32, y: u32) -> f32 {
        let fx = x as f32 * self.scale.0;
        let fy = y as f32 * self.scale.1;
        let (ix, iy) = (
            (fx as usize).min(self.columns - 2),
            (fy as usize).min(self.rows - 2),
        );
        let smooth = |t: f32| t * t * (3.0 - 2.0 * t);
        let (tx, ty) = (
            smooth((fx - ix as f32).clamp(0.0, 1.0)),
            smooth((fy - iy as f32).clamp(0.0, 1.0)),
        );
        let at = |cx: usize, cy: usize| self.values[cy * self.columns + cx];
        let top = at(ix, iy) * (1.0 - tx) + at(ix + 1, iy) * tx;
        let bottom = at(ix, iy + 1) * (1.0 - tx) + at(ix + 1, iy + 1) * tx;
        top * (1.0 - ty) + bottom * ty
    }
}

/// A Western blot of `style` for specimen `seed`, `width` x `height` pixels.
pub(crate) fn blot(style: &BlotStyle, seed: u64, width: u32, height: u32) -> RgbImage {
    let mut rng = Rng::derive(seed, 0xB107);
    let (width, height) = (width.max(4), height.max(4));
    let mut density = Density::new(width, height);
    let pitch = style.pitch(width);
    for (lane, centre_x) in style.lane_centres(width).into_iter().enumerate() {
        let lane = lane as u32;
        let half_width = pitch * style.lane_fill * 0.5 * (1.0 + 0.05 * rng.gaussian());
        let lane_shift = rng.gaussian() * pitch * 0.02;
        for (row, &row_centre) in style.rows.iter().enumerate() {
            let strength = pattern_strength(style.pattern, lane, style.lanes, row, &mut rng)
                * (1.0 + 0.12 * rng.gaussian());
            let half_height = style.band_height * height as f32 * (1.0 + 0.1 * rng.gaussian());
            density.add_band(&Band {
                centre: (
                    centre_x + lane_shift,
                    row_centre * height as f32 + rng.gaussian() * half_height * 0.15,
                ),
                half_width,
                half_height,
                strength: strength.max(0.0),
                smile: style.smile,
                smear: style.smear,
            });
        }
        if style.lane_haze > 0.0 {
            density.add_band(&Band {
                centre: (centre_x + lane_shift, height as f32 * 0.5),
                half_width,
                half_height: height as f32 * 0.45,
                strength: style.lane_haze * rng.uniform(0.6, 1.4),
                smile: 0.0,
                smear: 0.0,
            });
        }
        for _ in 0..style.faint_bands {
            let half_height = style.band_height * height as f32 * rng.uniform(0.4, 0.8);
            density.add_band(&Band {
                centre: (
                    centre_x + lane_shift,
                    rng.uniform(0.08, 0.92) * height as f32,
                ),
                half_width,
                half_height,
                strength: rng.uniform(0.04, 0.16),
                smile: style.smile,
                smear: 0.0,
            });
        }
    }
    for _ in 0..rng.between(0, 4) {
        let centre = (
            rng.uniform(0.0, width as f32),
            rng.uniform(0.0, height as f32),
        );
        density.add_speck(centre, rng.uniform(0.6, 2.2), rng.uniform(-0.3, 0.9));
    }

    let cells = (rng.between(3, 9) as usize, rng.between(2, 6) as usize);
    let texture = ValueNoise::new(&mut rng, (width, height), cells);
    let mut image = RgbImage::new(width, height);
    for y in 0..height {
        for x in 0..width {
            let d = density.values[y as usize * width as usize + x as usize];
            let absorbed = 1.0 - (-style.darkness * d).exp();
            let paper = style.background
                + style.gradient.0 * (x as f32 / width as f32 - 0.5)
                + style.gradient.1 * (y as f32 / height as f32 - 0.5)
                + style.texture * texture.at(x, y);
            let noise = style.grain * rng.gaussian();
            let pixel = match style.look {
                BlotLook::Film { tint } => {
                    let level = paper * (1.0 - 0.96 * absorbed) + noise;
                    tint.map(|t| to_byte(level * t))
                }
                BlotLook::Inverted => {
                    let base = (255.0 - paper) * 0.35;
                    let level = to_byte(base + (240.0 - base) * absorbed + noise);
                    [level; 3]
                }
                BlotLook::Fluorescent { colour } => {
                    let base = 6.0 + (255.0 - paper) * 0.1 + style.texture * 0.3 * texture.at(x, y);
                    colour.map(|c| to_byte(base + 235.0 * absorbed * c + noise * 0.6))
                }
            };
            image.put_pixel(x, y, Rgb(pixel));
        }
    }
    image
}

/// Which side the size ladder is loaded on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LadderSide {
    /// The first lane.
    Left,
    /// The last lane.
    Right,
    /// No ladder on this gel.
    None,
}

/// The look and layout of an agarose gel photographed under UV.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GelStyle {
    /// Lanes (the ladder included).
    pub lanes: u32,
    /// Free space at each side, fraction of the width.
    pub lane_margin: f32,
    /// Band width as a fraction of the lane pitch.
    pub lane_fill: f32,
    /// Where the ladder is.
    pub ladder: LadderSide,
    /// Ladder band positions, fractions of the height, top to bottom.
    pub ladder_bands: Vec<f32>,
    /// Wells' row, fraction of the height.
    pub wells: f32,
    /// Band half-height, fraction of the height.
    pub band_height: f32,
    /// Band curvature, in band heights.
    pub smile: f32,
    /// Background level (dark).
    pub background: f32,
    /// How quickly bands saturate.
    pub glow: f32,
    /// Per-pixel noise.
    pub grain: f32,
    /// Printed inverted (dark bands on white), as some journals show gels.
    pub inverted: bool,
    /// Sample bands per lane, at most.
    pub sample_bands: u32,
    /// Primer-dimer haze at the bottom of sample lanes.
    pub primer_dimer: bool,
}

impl GelStyle {
    pub(crate) fn random(rng: &mut Rng) -> Self {
        let ladder_count = rng.between(7, 13) as usize;
        let top = rng.uniform(0.12, 0.22);
        // Fragment sizes fall off logarithmically, so ladder bands crowd towards the top.
        let ladder_bands = (0..ladder_count)
            .map(|k| {
                let t = k as f32 / (ladder_count - 1) as f32;
                top + (0.88 - top) * (t * 1.6).powf(1.35) / 1.6f32.powf(1.35)
            })
            .collect();
        Self {
            lanes: rng.between(4, 14),
            lane_margin: rng.uniform(0.02, 0.08),
            lane_fill: rng.uniform(0.6, 0.85),
            ladder: *rng.pick(&[
                LadderSide::Left,
                LadderSide::Left,
                LadderSide::Right,
                LadderSide::None,
            ]),
            ladder_bands,
            wells: rng.uniform(0.03, 0.1),
            band_height: rng.uniform(0.008, 0.02),
            smile: if rng.chance(0.4) {
                rng.uniform(-0.8, 0.8)
            } else {
                0.0
            },
            background: rng.uniform(8.0, 55.0),
            glow: rng.uniform(1.2, 3.0),
            grain: rng.uniform(2.0, 7.0),
            inverted: rng.chance(0.18),
            sample_bands: rng.between(1, 3),
            primer_dimer: rng.chance(0.4),
        }
    }
}

/// A DNA gel of `style` for specimen `seed`.
pub(crate) fn gel(style: &GelStyle, seed: u64, width: u32, height: u32) -> RgbImage {
    let mut rng = Rng::derive(seed, 0x6E1);
    let (width, height) = (width.max(4), height.max(4));
    let mut density = Density::new(width, height);
    let pitch = width as f32 * (1.0 - 2.0 * style.lane_margin) / style.lanes as f32;
    let half_height = (style.band_height * height as f32).max(0.8);
    let ladder_lane = match style.ladder {
        LadderSide::Left => Some(0),
        LadderSide::Right => Some(style.lanes - 1),
        LadderSide::None => None,
    };
    for lane in 0..style.lanes {
        let centre_x = width as f32 * style.lane_margin
            + (lane as f32 + 0.5) * pitch
            + rng.gaussian() * pitch * 0.015;
        let half_width = pitch * style.lane_fill * 0.5;
        // The well: a faint bright slot where the sample was loaded.
        density.add_band(&Band {
            centre: (centre_x, style.wells * height as f32),
            half_width,
            half_height: half_height * 0.8,
            strength: rng.uniform(0.15, 0.35),
            smile: 0.0,
            smear: 0.0,
        });
        if Some(lane) == ladder_lane {
            for (k, &position) in style.ladder_bands.iter().enumerate() {
                let reference = if k == style.ladder_bands.len() / 3 {
                    1.6
                } else {
                    1.0
                };
                density.add_band(&Band {
                    centre: (centre_x, position * height as f32),
                    half_width,
                    half_height,
                    strength: reference * rng.uniform(0.45, 0.8),
                    smile: style.smile,
                    smear: 0.0,
                });
            }
            continue;
        }
        let bands = rng.between(0, style.sample_bands);
        for _ in 0..bands {
            density.add_band(&Band {
                centre: (centre_x, rng.uniform(0.2, 0.85) * height as f32),
                half_width,
                half_height: half_height * rng.uniform(0.9, 1.4),
                strength: rng.uniform(0.3, 1.5),
                smile: style.smile,
                smear: if rng.chance(0.3) {
                    rng.uniform(0.5, 2.0)
                } else {
                    0.0
                },
            });
        }
        if style.primer_dimer {
            density.add_band(&Band {
                centre: (centre_x, 0.92 * height as f32),
                half_width,
                half_height: half_height * 2.0,
                strength: rng.uniform(0.05, 0.3),
                smile: 0.0,
                smear: 0.0,
            });
        }
    }
    let haze = ValueNoise::new(&mut rng, (width, height), (4, 3));
    let mut image = RgbImage::new(width, height);
    for y in 0..height {
        for x in 0..width {
            let d = density.values[y as usize * width as usize + x as usize];
            let glow = 1.0 - (-style.glow * d).exp();
            let dx = x as f32 / width as f32 - 0.5;
            let dy = y as f32 / height as f32 - 0.5;
            let vignette = 1.0 - 0.6 * (dx * dx + dy * dy);
            let base = style.background * vignette + 6.0 * haze.at(x, y);
            let level = base + (245.0 - base) * glow + style.grain * rng.gaussian();
            let level = if style.inverted { 255.0 - level } else { level };
            let byte = to_byte(level);
            image.put_pixel(x, y, Rgb([byte; 3]));
        }
    }
    image
}

fn to_byte(value: f32) -> u8 {
    value.round().clamp(0.0, 255.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_style_two_seeds_differ_but_one_seed_repeats() {
        let style = BlotStyle::membrane(&mut Rng::new(5));
        let a = blot(&style, 1, 120, 80);
        let b = blot(&style, 2, 120, 80);
        assert_eq!(a, blot(&style, 1, 120, 80));
        assert_ne!(a, b);
    }

    #[test]
    fn bands_darken_film_blots_where_the_style_puts_them() {
        let mut style = BlotStyle::strip(&mut Rng::new(9), 6, 0.05, 0.7);
        style.look = BlotLook::Film { tint: [1.0; 3] };
        style.pattern = BandPattern::Even;
        style.smear = 0.0;
        let image = blot(&style, 3, 240, 60);
        let (x0, y0, x1, y1) = style.band_box((240, 60), 0, 0, 6);
        let inside =
            super::super::draw::mean_luma(&image, x0, (y0 + y1) / 2 - 1, x1, (y0 + y1) / 2 + 1);
        let outside = super::super::draw::mean_luma(&image, 0, 0, 240, 3);
        assert!(
            inside + 40.0 < outside,
            "bands {inside}, background {outside}"
        );
    }
}
