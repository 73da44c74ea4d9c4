//! Panels that are not blots but sit beside them in real figures: micrographs (fluorescence,
//! immunohistochemistry, histology, phase contrast), charts (bars, lines, scatter) and pathway
//! diagrams. They make the catalog look like biology papers and give matchers something to
//! ignore.

use image::{Rgb, RgbImage};

use super::draw::{self, Colour};
use super::font::{self, Align};
use super::panels::ValueNoise;
use super::rng::Rng;

/// What kind of microscope image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MicrographKind {
    /// Nuclei and one or two stained proteins in colour on black.
    Fluorescence,
    /// Brown DAB stain and blue nuclei on a pale tissue section.
    Immunohistochemistry,
    /// Haematoxylin and eosin: purple nuclei on pink tissue.
    Histology,
    /// Gray phase-contrast cells with bright halos.
    PhaseContrast,
}

impl MicrographKind {
    pub(crate) fn random(rng: &mut Rng) -> Self {
        match rng.weighted(&[0.45, 0.25, 0.15, 0.15]) {
            0 => Self::Fluorescence,
            1 => Self::Immunohistochemistry,
            2 => Self::Histology,
            _ => Self::PhaseContrast,
        }
    }
}

/// The appearance shared by micrographs of one experiment (same stain, magnification, channel
/// colours); the seed then places different cells.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MicrographStyle {
    /// The imaging mode.
    pub kind: MicrographKind,
    /// Cell radius as a fraction of the panel's shorter side.
    pub cell_size: f32,
    /// Cells per (cell area) of panel: how crowded the field is.
    pub crowding: f32,
    /// Fluorescence channel colours (nucleus, marker).
    pub channels: [[f32; 3]; 2],
    /// Whether the marker channel is shown (a merge) or nuclei only.
    pub marker: bool,
    /// Whether a scale bar is burnt in.
    pub scale_bar: bool,
}

impl MicrographStyle {
    pub(crate) fn random(rng: &mut Rng) -> Self {
        let kind = MicrographKind::random(rng);
        let marker_colour = *rng.pick(&[
            [0.2, 1.0, 0.25],
            [1.0, 0.2, 0.15],
            [1.0, 0.2, 0.9],
            [1.0, 0.85, 0.2],
        ]);
        Self {
            kind,
            cell_size: rng.uniform(0.025, 0.08),
            crowding: rng.uniform(0.15, 0.55),
            channels: [[0.25, 0.45, 1.0], marker_colour],
            marker: rng.chance(0.8),
            scale_bar: rng.chance(0.6),
        }
    }
}

/// An irregular soft blob: radius modulated by two harmonics of the angle.
struct Blob {
    centre: (f32, f32),
    radius: (f32, f32),
    angle: f32,
    wobble: (f32, f32, f32),
}

impl Blob {
    fn random(rng: &mut Rng, centre: (f32, f32), radius: f32) -> Self {
        Self {
            centre,
            radius: (
                radius * rng.uniform(0.75, 1.3),
                radius * rng.uniform(0.6, 1.1),
            ),
            angle: rng.uniform(0.0, std::f32::consts::PI),
            wobble: (
                rng.uniform(0.0, 0.18),
                rng.uniform(0.0, 0.12),
                rng.uniform(0.0, 6.3),
            ),
        }
    }

    /// Calls `visit(x, y, weight)` for every pixel the blob covers, with a soft edge.
    fn paint(&self, width: u32, height: u32, mut visit: impl FnMut(usize, f32)) {
        let reach = self.radius.0.max(self.radius.1) * 1.5 + 2.0;
        let x0 = (self.centre.0 - reach).max(0.0) as u32;
        let x1 = ((self.centre.0 + reach).max(0.0) as u32).min(width);
        let y0 = (self.centre.1 - reach).max(0.0) as u32;
        let y1 = ((self.centre.1 + reach).max(0.0) as u32).min(height);
        let (sin, cos) = self.angle.sin_cos();
        for y in y0..y1 {
            for x in x0..x1 {
                let (dx, dy) = (
                    x as f32 + 0.5 - self.centre.0,
                    y as f32 + 0.5 - self.centre.1,
                );
                let u = (dx * cos + dy * sin) / self.radius.0;
                let v = (-dx * sin + dy * cos) / self.radius.1;
                let r = (u * u + v * v).sqrt();
                if r > 1.6 {
                    continue;
                }
                let (c, s) = if r > 1e-4 { (u / r, v / r) } else { (1.0, 0.0) };
                let cos2 = c * c - s * s;
                let cos3 = 4.0 * c * c * c - 3.0 * c;
                let edge = 1.0
                    + self.wobble.0
                        * (cos2 * self.wobble.2.cos() + 2.0 * c * s * self.wobble.2.sin())
                    + self.wobble.1 * cos3;
                let t = (r / edge - 0.85) / 0.3;
                let weight = if t <= 0.0 {
                    1.0
                } else if t >= 1.0 {
                    0.0
                } else {
                    1.0 - t * t * (3.0 - 2.0 * t)
                };
                if weight > 0.0 {
                    visit(y as usize * width as usize + x as usize, weight);
                }
            }
        }
    }
}

/// A micrograph of `style` for specimen `seed`.
pub(crate) fn micrograph(style: &MicrographStyle, seed: u64, width: u32, height: u32) -> RgbImage {
    let mut rng = Rng::derive(seed, 0x31C0);
    let (width, height) = (width.max(8), height.max(8));
    let pixels = width as usize * height as usize;
    let short = width.min(height) as f32;
    let radius = (style.cell_size * short).max(2.0);
    let cells = ((width as f32 * height as f32) * style.crowding
        / (std::f32::consts::PI * radius * radius * 4.0))
        .clamp(3.0, 900.0) as usize;
    // Two density layers (nuclear stain, marker stain), composited per imaging mode below.
    let mut nuclear = vec![0.0f32; pixels];
    let mut marker = vec![0.0f32; pixels];
    for _ in 0..cells {
        let centre = (
            rng.uniform(0.0, width as f32),
            rng.uniform(0.0, height as f32),
        );
        let expression = if rng.chance(0.3) {
            rng.uniform(0.0, 0.3)
        } else {
            rng.uniform(0.4, 1.0)
        };
        let cytoplasm_radius = radius * rng.uniform(1.4, 2.2);
        let cytoplasm = Blob::random(&mut rng, centre, cytoplasm_radius);
        cytoplasm.paint(width, height, |index, weight| {
            marker[index] += weight * expression * 0.7
        });
        let nucleus_centre = (
            centre.0 + rng.gaussian() * radius * 0.2,
            centre.1 + rng.gaussian() * radius * 0.2,
        );
        let nucleus_radius = radius * rng.uniform(0.55, 0.8);
        let nucleus = Blob::random(&mut rng, nucleus_centre, nucleus_radius);
        let brightness = rng.uniform(0.6, 1.1);
        nucleus.paint(width, height, |index, weight| {
            nuclear[index] += weight * brightness
        });
    }
    let texture = ValueNoise::new(&mut rng, (width, height), (8, 8));
    let fine = ValueNoise::new(
        &mut rng,
        (width, height),
        ((width / 6).max(2) as usize, (height / 6).max(2) as usize),
    );
    let mut image = RgbImage::new(width, height);
    for y in 0..height {
        for x in 0..width {
            let index = y as usize * width as usize + x as usize;
            let (n, m) = (nuclear[index].min(1.5), marker[index].min(1.5));
            let grain = rng.gaussian();
            let tissue = 0.5 + 0.3 * texture.at(x, y) + 0.2 * fine.at(x, y);
            let colour: [f32; 3] = match style.kind {
                MicrographKind::Fluorescence => {
                    let mut out = [4.0 + 3.0 * grain; 3];
                    for (channel, value) in out.iter_mut().enumerate() {
                        *value += 235.0 * n * style.channels[0][channel] * 0.9;
                        if style.marker {
                            *value += 235.0
                                * m
                                * (0.6 + 0.4 * fine.at(x, y))
                                * style.channels[1][channel];
                        }
                    }
                    out
                }
                MicrographKind::Immunohistochemistry | MicrographKind::Histology => {
                    // Beer–Lambert with per-stain optical densities (haematoxylin, DAB, eosin).
                    let (stain, counter): ([f32; 3], [f32; 3]) =
                        if style.kind == MicrographKind::Histology {
                            ([0.65, 0.7, 0.29], [0.07, 0.99, 0.11])
                        } else {
                            ([0.65, 0.7, 0.29], [0.27, 0.57, 0.78])
                        };
                    let background = if style.kind == MicrographKind::Histology {
                        0.35 * tissue
                    } else {
                        0.08 * tissue
                    };
                    let counter_amount = if style.kind == MicrographKind::Histology {
                        background + 0.25 * m
                    } else {
                        0.9 * m * m + 0.05 * tissue
                    };
                    let paper = [238.0, 232.0, 222.0];
                    let mut out = [0.0; 3];
                    for channel in 0..3 {
                        let density =
                            1.3 * n * stain[channel] + counter_amount * counter[channel] * 1.4;
                        out[channel] = paper[channel] * (-density).exp() + 3.0 * grain;
                    }
                    out
                }
                MicrographKind::PhaseContrast => {
                    let halo = (m - 0.45).abs();
                    let level = 128.0 + 18.0 * texture.at(x, y) - 70.0 * n * 0.6
                        + 90.0 * (0.25 - halo).max(0.0) * 3.0
                        - 30.0 * m
                        + 5.0 * grain;
                    [level; 3]
                }
            };
            image.put_pixel(x, y, Rgb(colour.map(|c| c.round().clamp(0.0, 255.0) as u8)));
        }
    }
    if style.scale_bar {
        let bar_colour = if style.kind == MicrographKind::Fluorescence {
            [255, 255, 255]
        } else {
            [0, 0, 0]
        };
        let length = width as f32 * rng.uniform(0.12, 0.22);
        let thickness = (height as f32 * 0.015).max(2.0);
        let (right, bottom) = (width as f32 * 0.94, height as f32 * 0.93);
        draw::fill_rect(
            &mut image,
            right - length,
            bottom - thickness,
            right,
            bottom,
            bar_colour,
        );
    }
    image
}

/// What kind of chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChartKind {
    /// Grouped bars with error bars.
    Bars,
    /// A time course: lines with markers.
    Lines,
    /// A scatter with a fitted line.
    Scatter,
}

impl ChartKind {
    pub(crate) fn random(rng: &mut Rng) -> Self {
        match rng.weighted(&[0.55, 0.25, 0.2]) {
            0 => Self::Bars,
            1 => Self::Lines,
            _ => Self::Scatter,
        }
    }
}

const SERIES_PALETTES: [[Colour; 3]; 4] = [
    [[20, 20, 20], [250, 250, 250], [140, 140, 140]],
    [[30, 30, 30], [220, 40, 40], [60, 90, 200]],
    [[70, 110, 190], [230, 130, 40], [90, 170, 90]],
    [[120, 120, 120], [200, 60, 60], [40, 40, 40]],
];

const GROUP_NAMES: [&str; 14] = [
    "WT", "KO", "Ctrl", "Veh", "siNC", "siRNA", "0", "1", "3", "7", "14", "21", "Sham", "TAC",
];

/// A chart rasterised with axes, ticks and labels.
pub(crate) fn chart(kind: ChartKind, seed: u64, width: u32, height: u32) -> RgbImage {
    let mut rng = Rng::derive(seed, 0xC4A7);
    let (width, height) = (width.max(40), height.max(30));
    let mut image = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
    let (w, h) = (width as f32, height as f32);
    let text_height = (w.min(h) * 0.055).clamp(5.0, 26.0);
    let stroke = (w / 260.0).max(1.0);
    let palette = SERIES_PALETTES[rng.below(SERIES_PALETTES.len())];
    let top_value = *rng.pick(&[1.5, 2.0, 4.0, 5.0, 10.0, 20.0, 30.0, 40.0, 100.0]);
    let ticks = rng.between(3, 5);
    // The axes leave room for the widest tick label at the left and the group names below.
    let widest_label = if top_value < 5.0 {
        "0.0".to_string()
    } else {
        "0".repeat(format!("{top_value}").len())
    };
    let widest_tick = font::text_width(&widest_label, text_height);
    let plot = (
        (widest_tick + text_height * 1.4).max(w * 0.08),
        h * 0.05 + text_height * 0.6,
        w * 0.96,
        h - text_height * 2.4,
    );
    let to_y = |value: f32| plot.3 - (plot.3 - plot.1) * (value / top_value).clamp(0.0, 1.05);
    // Axes and y ticks.
    draw::line(
        &mut image,
        (plot.0, plot.1),
        (plot.0, plot.3),
        stroke,
        [0, 0, 0],
    );
    draw::line(
        &mut image,
        (plot.0, plot.3),
        (plot.2, plot.3),
        stroke,
        [0, 0, 0],
    );
    for tick in 0..=ticks {
        let value = top_value * tick as f32 / ticks as f32;
        let y = to_y(value);
        draw::line(
            &mut image,
            (plot.0 - text_height * 0.4, y),
            (plot.0, y),
            stroke,
            [0, 0, 0],
        );
        let label = if top_value < 5.0 {
            format!("{value:.1}")
        } else {
            format!("{}", value.round() as i64)
        };
        font::draw_text(
            &mut image,
            plot.0 - text_height * 0.7,
            y - text_height / 2.0,
            text_height,
            [0, 0, 0],
            Align::Right,
            &label,
        );
    }
    let groups = rng.between(2, 6) as usize;
    let series = rng.between(1, 3) as usize;
    let first_name = rng.below(GROUP_NAMES.len() - groups);
    let group_width = (plot.2 - plot.0) / groups as f32;
    for group in 0..groups {
        let x = plot.0 + group_width * (group as f32 + 0.5);
        let name = GROUP_NAMES[first_name + group];
        // Shrink a name that would run into its neighbours.
        let fitted = (text_height * group_width * 0.9 / font::text_width(name, text_height))
            .min(text_height);
        font::draw_text(
            &mut image,
            x,
            plot.3 + text_height * 0.6,
            fitted,
            [0, 0, 0],
            Align::Centre,
            name,
        );
    }
    match kind {
        ChartKind::Bars => {
            let bar_width = group_width * 0.7 / series as f32;
            for group in 0..groups {
                for (s, &colour) in palette.iter().enumerate().take(series) {
                    let value = top_value * rng.uniform(0.15, 0.85);
                    let error = value * rng.uniform(0.05, 0.25);
                    let x0 = plot.0
                        + group_width * group as f32
                        + group_width * 0.15
                        + bar_width * s as f32;
                    draw::fill_rect(&mut image, x0, to_y(value), x0 + bar_width, plot.3, colour);
                    draw::stroke_rect(
                        &mut image,
                        (x0, to_y(value), x0 + bar_width, plot.3),
                        stroke,
                        [0, 0, 0],
                    );
                    let centre = x0 + bar_width / 2.0;
                    draw::line(
                        &mut image,
                        (centre, to_y(value + error)),
                        (centre, to_y(value)),
                        stroke,
                        [0, 0, 0],
                    );
                    draw::line(
                        &mut image,
                        (centre - bar_width * 0.2, to_y(value + error)),
                        (centre + bar_width * 0.2, to_y(value + error)),
                        stroke,
                        [0, 0, 0],
                    );
                    if rng.chance(0.2) {
                        font::draw_text(
                            &mut image,
                            centre,
                            to_y(value + error) - text_height * 1.3,
                            text_height,
                            [0, 0, 0],
                            Align::Centre,
                            if rng.chance(0.5) { "*" } else { "**" },
                        );
                    }
                }
            }
        }
        ChartKind::Lines => {
            for &series_colour in palette.iter().take(series) {
                let mut value = top_value * rng.uniform(0.1, 0.4);
                let points: Vec<(f32, f32)> = (0..groups)
                    .map(|group| {
                        value = (value + top_value * rng.uniform(-0.1, 0.25)).clamp(0.0, top_value);
                        (plot.0 + group_width * (group as f32 + 0.5), to_y(value))
                    })
                    .collect();
                let colour = if series_colour == [250, 250, 250] {
                    [90, 90, 90]
                } else {
                    series_colour
                };
                draw::polyline(&mut image, &points, stroke * 1.5, colour);
                for &point in &points {
                    draw::disc(&mut image, point, stroke * 3.0, colour);
                }
            }
        }
        ChartKind::Scatter => {
            let slope = rng.uniform(-0.7, 0.9);
            let intercept = if slope < 0.0 { 0.8 } else { 0.15 };
            for &series_colour in palette.iter().take(series.max(2)) {
                let colour = if series_colour == [250, 250, 250] {
                    [200, 40, 40]
                } else {
                    series_colour
                };
                for _ in 0..rng.between(8, 25) {
                    let t = rng.unit();
                    let value = top_value
                        * (intercept + slope * t + rng.gaussian() * 0.08).clamp(0.02, 1.0);
                    draw::disc(
                        &mut image,
                        (plot.0 + (plot.2 - plot.0) * (0.05 + 0.9 * t), to_y(value)),
                        stroke * 3.0,
                        colour,
                    );
                }
            }
            draw::line(
                &mut image,
                (plot.0, to_y(top_value * intercept)),
                (plot.2, to_y(top_value * (intercept + slope))),
                stroke,
                [0, 0, 0],
            );
        }
    }
    if series > 1 && rng.chance(0.7) {
        for (s, &colour) in palette.iter().enumerate().take(series) {
            let name = *rng.pick(&["Control", "Treated", "Vehicle", "Drug", "WT", "Mut"]);
            let y = plot.1 + text_height * 1.6 * s as f32;
            let x = plot.2 - w * 0.22;
            draw::fill_rect(&mut image, x, y, x + text_height, y + text_height, colour);
            draw::stroke_rect(
                &mut image,
                (x, y, x + text_height, y + text_height),
                stroke,
                [0, 0, 0],
            );
            font::draw_text(
                &mut image,
                x + text_height * 1.5,
                y,
                text_height,
                [0, 0, 0],
                Align::Left,
                name,
            );
        }
    }
    image
}

const DIAGRAM_WORDS: [&str; 18] = [
    "Receptor",
    "Kinase",
    "mTOR",
    "Akt",
    "ERK",
    "NF-kB",
    "p53",
    "Apoptosis",
    "Autophagy",
    "ROS",
    "Ca2+",
    "Nucleus",
    "STAT3",
    "Caspase",
    "Bcl-2",
    "AMPK",
    "HIF-1α",
    "Growth",
];

/// A pathway diagram: labelled boxes joined by arrows, sometimes inside a cell outline.
pub(crate) fn diagram(seed: u64, width: u32, height: u32) -> RgbImage {
    let mut rng = Rng::derive(seed, 0xD1A6);
    let (width, height) = (width.max(40), height.max(40));
    let mut image = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
    let (w, h) = (width as f32, height as f32);
    let stroke = (w / 300.0).max(1.0);
    if rng.chance(0.5) {
        let fill = *rng.pick(&[[252, 244, 230], [236, 244, 252], [240, 250, 238]]);
        draw::fill_rect(&mut image, w * 0.03, h * 0.04, w * 0.97, h * 0.96, fill);
        draw::stroke_rect(
            &mut image,
            (w * 0.03, h * 0.04, w * 0.97, h * 0.96),
            stroke * 2.0,
            [120, 120, 120],
        );
    }
    let columns = rng.between(1, 3) as usize;
    let rows = rng.between(2, 4) as usize;
    let text_height = (h / rows as f32 * 0.16).clamp(5.0, 26.0);
    let mut centres = Vec::new();
    for column in 0..columns {
        for row in 0..rows {
            let cx = w * (column as f32 + 0.5) / columns as f32 + rng.gaussian() * w * 0.02;
            let cy = h * (row as f32 + 0.5) / rows as f32;
            let word = DIAGRAM_WORDS[rng.below(DIAGRAM_WORDS.len())];
            let half_w = (font::text_width(word, text_height) / 2.0 + text_height)
                .min(w / columns as f32 * 0.45);
            let half_h = text_height * 1.1;
            let fill = *rng.pick(&[
                [255, 224, 178],
                [200, 230, 201],
                [187, 222, 251],
                [248, 187, 208],
                [225, 225, 225],
            ]);
            draw::fill_rect(
                &mut image,
                cx - half_w,
                cy - half_h,
                cx + half_w,
                cy + half_h,
                fill,
            );
            draw::stroke_rect(
                &mut image,
                (cx - half_w, cy - half_h, cx + half_w, cy + half_h),
                stroke,
                [40, 40, 40],
            );
            font::draw_text(
                &mut image,
                cx,
                cy - text_height / 2.0,
                text_height,
                [0, 0, 0],
                Align::Centre,
                word,
            );
            centres.push((cx, cy, half_w, half_h, column));
        }
    }
    for pair in centres.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if a.4 == b.4 {
            draw::arrow(
                &mut image,
                (a.0, a.1 + a.3),
                (b.0, b.1 - b.3 - stroke),
                stroke * 1.5,
                [30, 30, 30],
            );
        } else if rng.chance(0.6) {
            draw::arrow(
                &mut image,
                (a.0 + a.2, a.1),
                (b.0 - b.2, b.1),
                stroke * 1.5,
                [30, 30, 30],
            );
        }
    }
    image
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distractors_are_deterministic_and_not_blank() {
        let style = MicrographStyle::random(&mut Rng::new(4));
        for image in [
            micrograph(&style, 7, 90, 70),
            chart(ChartKind::Bars, 7, 120, 90),
            diagram(7, 120, 90),
        ] {
            let first = image.get_pixel(0, 0);
            assert!(image.pixels().any(|pixel| pixel != first));
        }
        assert_eq!(micrograph(&style, 7, 90, 70), micrograph(&style, 7, 90, 70));
    }
}
