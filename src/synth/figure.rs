//! One figure's canvas: where each panel sits in figure pixels (rows of columns of panels, with
//! gutters, label bands and blot decorations: kDa markers, protein names, lane labels), and the
//! composite raster when the figure is embedded as one image. The same geometry serves a figure
//! embedded per panel, whose texts then become PDF text.

use std::sync::Arc;

use image::{Rgb, RgbImage};

use super::draw;
use super::font::{self, Align};
use super::plan::{FigurePlan, LabelPlace, PanelClass, PanelContent, PanelId, Plan, Source};
use super::prose::{self, PROTEINS};
use super::rng::Rng;

/// A box in figure pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PixelRect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// Text in figure pixels; `height` is the cap height.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CanvasText {
    pub text: String,
    pub x: f32,
    pub top: f32,
    pub height: f32,
    pub align: Align,
    pub bold: bool,
}

/// A tick or bar in figure pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct CanvasLine {
    pub from: (f32, f32),
    pub to: (f32, f32),
    pub width: f32,
}

/// A panel in its figure.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PlacedPanel {
    pub panel: PanelId,
    pub rect: PixelRect,
    pub label: Option<CanvasText>,
}

/// The laid-out figure.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FigureGeometry {
    pub width: u32,
    pub height: u32,
    pub panels: Vec<PlacedPanel>,
    /// Decorations (markers, protein names, lane labels).
    pub texts: Vec<CanvasText>,
    pub lines: Vec<CanvasLine>,
}

/// Cap height as a share of the font size, for Helvetica.
pub(crate) const CAP_HEIGHT: f32 = 0.72;

/// Lane centres of a strip panel in its own pixels: from its style when procedural, evenly
/// spaced otherwise.
fn lane_centres(plan: &Plan, panel: PanelId, rng: &mut Rng) -> Vec<f32> {
    let panel_plan = &plan.panels[panel];
    if let PanelContent::Original(Source::Blot { style, .. }) = &panel_plan.content {
        return style.lane_centres(panel_plan.size.0);
    }
    let lanes = rng.between(4, 8);
    let width = panel_plan.size.0 as f32;
    (0..lanes)
        .map(|lane| (lane as f32 + 0.5) * width / lanes as f32)
        .collect()
}

/// Lays out `figure`, sizing its texts for `pixels_per_point` (figure pixels per page point).
pub(crate) fn geometry(plan: &Plan, figure: &FigurePlan, pixels_per_point: f32) -> FigureGeometry {
    let mut rng = Rng::derive(figure.seed, 0xF16);
    let gutter = figure.gutter as f32;
    let margin = figure.margin as f32;
    let label_height = (figure.label_size_pt * pixels_per_point * CAP_HEIGHT).max(5.0);
    let labelled = figure
        .rows
        .iter()
        .flatten()
        .flat_map(|c| &c.slots)
        .any(|s| s.label.is_some());
    let label_band = if labelled && figure.label_place == LabelPlace::Above {
        (label_height * 1.6).ceil()
    } else {
        0.0
    };
    let text_height = (figure.text_size_pt * pixels_per_point * CAP_HEIGHT).max(4.0);
    let mut geometry = FigureGeometry {
        width: 0,
        height: 0,
        panels: Vec::new(),
        texts: Vec::new(),
        lines: Vec::new(),
    };
    let label = |text: &str, x: f32, top: f32| CanvasText {
        text: text.to_string(),
        x,
        top,
        height: label_height,
        align: Align::Left,
        bold: true,
    };

    let mut y = margin;
    let mut canvas_width = 0.0f32;
    for row in &figure.rows {
        let mut x = margin;
        let mut row_height = 0.0f32;
        for column in row {
            let inner_width = column
                .slots
                .iter()
                .map(|s| plan.panels[s.panel].size.0)
                .max()
                .unwrap_or(0) as f32;
            let strips: Vec<usize> = column
                .slots
                .iter()
                .enumerate()
                .filter(|(_, s)| column.decorated && plan.panels[s.panel].class.is_blot())
                .map(|(k, _)| k)
                .collect();
            let mut proteins = Vec::new();
            for _ in &strips {
                let (name, mass) = *rng.pick(&PROTEINS);
                proteins.push((name, mass));
            }
            let (left, right, lane_rows) = if strips.is_empty() {
                (0.0, 0.0, Vec::new())
            } else {
                let widest_name = proteins
                    .iter()
                    .map(|(name, _)| font::text_width(name, text_height))
                    .fold(0.0, f32::max);
                let first = column.slots[strips[0]].panel;
                let centres = lane_centres(plan, first, &mut rng);
                let rows = prose::lane_labels(&mut rng, centres.len() as u32);
                (
                    font::text_width("250", text_height) + text_height * 2.2,
                    widest_name + text_height * 1.2,
                    rows,
                )
            };
            let lane_band = lane_rows.len() as f32 * text_height * 1.8;
            let column_labelled = column.slots.first().is_some_and(|s| s.label.is_some());
            let mut cursor = y;
            if column.decorated && !strips.is_empty() {
                // The column's letter sits above its lane labels, at the column's left edge.
                if column_labelled {
                    let top = if figure.label_place == LabelPlace::Above {
                        cursor + (label_band - label_height) / 2.0
                    } else {
                        cursor
                    };
                    let letter = column.slots[0].label.as_deref().unwrap_or("");
                    // Bold texts are letters: they follow the figure's label style, not its
                    // decorations'.
                    geometry.texts.push(label(letter, x, top));
                    cursor += label_band.max(label_height * 1.6);
                }
                cursor += lane_band;
            }
            let lanes_top = cursor - lane_band;
            let mut strip_index = 0;
            for (index, slot) in column.slots.iter().enumerate() {
                let (width, height) = plan.panels[slot.panel].size;
                let is_strip = strips.contains(&index);
                let own_label =
                    slot.label.is_some() && !(column.decorated && index == 0 && !strips.is_empty());
                if own_label && figure.label_place == LabelPlace::Above {
                    cursor += label_band;
                }
                let panel_x = x + left;
                let rect = PixelRect {
                    x: panel_x.round() as u32,
                    y: cursor.round() as u32,
                    width,
                    height,
                };
                let panel_label = if own_label {
                    let text = slot.label.as_deref().unwrap_or("");
                    Some(match figure.label_place {
                        LabelPlace::Above => label(
                            text,
                            rect.x as f32,
                            rect.y as f32 - label_band + (label_band - label_height) / 2.0,
                        ),
                        LabelPlace::Inside => label(
                            text,
                            rect.x as f32 + label_height * 0.45,
                            rect.y as f32 + label_height * 0.45,
                        ),
                    })
                } else {
                    None
                };
                if is_strip {
                    let (name, mass) = proteins[strip_index];
                    let middle = rect.y as f32 + height as f32 / 2.0;
                    geometry.texts.push(CanvasText {
                        text: name.to_string(),
                        x: rect.x as f32 + width as f32 + text_height * 0.8,
                        top: middle - text_height / 2.0,
                        height: text_height,
                        align: Align::Left,
                        bold: false,
                    });
                    let tick_end = rect.x as f32 - text_height * 0.3;
                    geometry.texts.push(CanvasText {
                        text: mass.to_string(),
                        x: tick_end - text_height * 1.4,
                        top: middle - text_height / 2.0,
                        height: text_height,
                        align: Align::Right,
                        bold: false,
                    });
                    geometry.lines.push(CanvasLine {
                        from: (tick_end - text_height * 1.1, middle),
                        to: (tick_end, middle),
                        width: (text_height * 0.12).max(1.0),
                    });
                    if strip_index == 0 {
                        let centres = lane_centres(plan, slot.panel, &mut rng);
                        let pitch = centres
                            .windows(2)
                            .map(|w| w[1] - w[0])
                            .fold(f32::MAX, f32::min)
                            .min(width as f32);
                        for (row_index, labels) in lane_rows.iter().enumerate() {
                            let top = lanes_top
                                + row_index as f32 * text_height * 1.8
                                + text_height * 0.3;
                            // Labels that would collide shrink to fit their lane, or give way
                            // to the +/- marks journals fall back on.
                            let widest = labels
                                .iter()
                                .map(|l| font::text_width(l, text_height))
                                .fold(0.0, f32::max);
                            let mut height =
                                text_height.min(text_height * pitch * 0.85 / widest.max(1e-3));
                            let mut labels = labels.clone();
                            if height < text_height * 0.6 {
                                labels = (0..labels.len())
                                    .map(|k| {
                                        if k % 2 == 0 {
                                            "-".to_string()
                                        } else {
                                            "+".to_string()
                                        }
                                    })
                                    .collect();
                                height = text_height;
                            }
                            for (centre, text) in centres.iter().zip(labels) {
                                geometry.texts.push(CanvasText {
                                    text,
                                    x: rect.x as f32 + centre,
                                    top: top + (text_height - height),
                                    height,
                                    align: Align::Centre,
                                    bold: false,
                                });
                            }
                        }
                    }
                    strip_index += 1;
                }
                geometry.panels.push(PlacedPanel {
                    panel: slot.panel,
                    rect,
                    label: panel_label,
                });
                let next_is_strip = strips.contains(&(index + 1));
                cursor += height as f32
                    + if is_strip && next_is_strip {
                        (gutter * 0.4).max(3.0)
                    } else {
                        gutter
                    };
            }
            let column_height = cursor - gutter - y;
            x += left + inner_width + right + gutter;
            row_height = row_height.max(column_height);
        }
        canvas_width = canvas_width.max(x - gutter + margin);
        y += row_height + gutter;
    }
    geometry.width = canvas_width.ceil().max(1.0) as u32;
    geometry.height = (y - gutter + margin).ceil().max(1.0) as u32;
    for panel in &geometry.panels {
        geometry.width = geometry.width.max(panel.rect.x + panel.rect.width);
        geometry.height = geometry.height.max(panel.rect.y + panel.rect.height);
    }
    geometry
}

/// Whether a text is a panel letter (bold) rather than a decoration.
pub(crate) fn is_letter(text: &CanvasText) -> bool {
    text.bold
}

/// The composite raster of a figure: panels pasted, frames drawn, and (when the plan says so)
/// letters and decorations rasterised.
pub(crate) fn compose(
    geometry: &FigureGeometry,
    figure: &FigurePlan,
    pixels: &[Arc<RgbImage>],
) -> RgbImage {
    let mut canvas = RgbImage::from_pixel(geometry.width, geometry.height, Rgb([255, 255, 255]));
    for (placed, image) in geometry.panels.iter().zip(pixels) {
        image::imageops::replace(
            &mut canvas,
            image.as_ref(),
            i64::from(placed.rect.x),
            i64::from(placed.rect.y),
        );
    }
    if let Some(border) = figure.border {
        for placed in &geometry.panels {
            let r = placed.rect;
            draw::stroke_rect(
                &mut canvas,
                (
                    r.x as f32,
                    r.y as f32,
                    (r.x + r.width) as f32,
                    (r.y + r.height) as f32,
                ),
                border as f32,
                [35, 35, 35],
            );
        }
    }
    if figure.text_raster {
        for text in geometry.texts.iter().filter(|t| !is_letter(t)) {
            font::draw_text(
                &mut canvas,
                text.x,
                text.top,
                text.height,
                [0, 0, 0],
                text.align,
                &text.text,
            );
        }
        for line in &geometry.lines {
            draw::line(&mut canvas, line.from, line.to, line.width, [0, 0, 0]);
        }
    }
    if figure.label_raster {
        let letters = geometry
            .panels
            .iter()
            .filter_map(|p| p.label.as_ref())
            .chain(geometry.texts.iter().filter(|t| is_letter(t)));
        for text in letters {
            let width = font::text_width(&text.text, text.height);
            let (x0, y0) = (text.x.max(0.0) as u32, text.top.max(0.0) as u32);
            let luma = draw::mean_luma(
                &canvas,
                x0,
                y0,
                x0 + width.ceil() as u32 + 1,
                y0 + text.height.ceil() as u32 + 1,
            );
            let colour = if luma < 110.0 {
                [255, 255, 255]
            } else {
                [0, 0, 0]
            };
            // Letters are drawn bold by overprinting with a small offset.
            for offset in [0.0, text.height * 0.08] {
                font::draw_text(
                    &mut canvas,
                    text.x + offset,
                    text.top,
                    text.height,
                    colour,
                    text.align,
                    &text.text,
                );
            }
        }
    }
    canvas
}

/// The class shown by a placed panel, for captions.
pub(crate) fn shown(plan: &Plan, panel: PanelId) -> prose::Shown {
    match plan.panels[panel].class {
        PanelClass::Blot | PanelClass::BlotStrip => prose::Shown::Blot,
        PanelClass::Gel => prose::Shown::Gel,
        PanelClass::Micrograph => prose::Shown::Micrograph,
        PanelClass::Chart => prose::Shown::Chart,
        PanelClass::Diagram => prose::Shown::Diagram,
        PanelClass::RealFigure => prose::Shown::Other,
    }
}
