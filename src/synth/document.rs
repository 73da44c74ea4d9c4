//! Writes one paper of the plan as PDF bytes: text flowed onto pages, each figure embedded as one
//! composite raster or as one image per panel, and the page-space box of every panel recorded
//! for the truth.

use std::collections::HashMap;

use anyhow::Result;
use image::{DynamicImage, RgbImage};
use panelscope_stages::units::BBox;

use crate::pdfgen::{Font, ImageId, PdfDoc, text_width};

use super::edits::is_gray;
use super::figure::{self, CAP_HEIGHT, CanvasText, FigureGeometry};
use super::font::Align;
use super::layout::{FigureBlock, Flow, PageFormat, PageOp};
use super::plan::{Embedding, FigurePlan, PanelId, Plan};
use super::prose::{self, Topic};
use super::real::RealCatalog;
use super::render::PanelRenderer;
use super::rng::Rng;

/// Where a panel was drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Placement {
    pub panel: PanelId,
    /// 1-based.
    pub page: u32,
    pub bbox: BBox,
}

/// A written paper.
#[derive(Debug, Clone)]
pub(crate) struct DocumentOutput {
    pub bytes: Vec<u8>,
    pub pages: u32,
    pub placements: Vec<Placement>,
}

/// How a figure's pixels went into the PDF.
enum FigureImages {
    Composite(ImageId),
    PerPanel(Vec<ImageId>),
}

/// Largest share of the body height a figure may take, so figure and caption fit a page.
const MAX_FIGURE_SHARE: f32 = 0.6;

/// Writes document `index` of `plan`.
pub(crate) fn generate(plan: &Plan, real: &RealCatalog, index: usize) -> Result<DocumentOutput> {
    let document = &plan.documents[index];
    let mut rng = Rng::derive(document.seed, 0x7E47);
    let topic = Topic::random(&mut rng);
    let title = prose::title(&mut rng, &topic);
    let format = document.format.clone();
    let drawn: Vec<(FigureGeometry, f32, f32)> = document
        .figures
        .iter()
        .map(|f| lay_out(plan, f, &format))
        .collect();
    let geometries: Vec<FigureGeometry> = drawn.iter().map(|d| d.0.clone()).collect();

    let mut flow = Flow::new(format.clone(), prose::running_head(&mut rng));
    let authors = prose::authors(&mut rng);
    let affiliation = prose::affiliation(&mut rng);
    let sentences = rng.between(6, 9);
    flow.title_block(
        &title,
        &authors,
        &affiliation,
        &prose::paragraph(&mut rng, &topic, sentences),
    );
    flow.heading("1. Introduction", 11.0);
    for _ in 0..rng.between(2, 3) {
        let sentences = rng.between(4, 8);
        flow.paragraph(&prose::paragraph(&mut rng, &topic, sentences));
    }
    flow.heading("2. Results", 11.0);
    for (k, (figure, (geometry, width, height))) in document.figures.iter().zip(&drawn).enumerate()
    {
        let (width, height) = (*width, *height);
        flow.heading(
            &format!("2.{} {}", k + 1, prose::subheading(&mut rng, &topic)),
            9.5,
        );
        let sentences = rng.between(3, 7);
        let mention = format!(
            "{} As shown in Figure {}, the effect was reproducible.",
            prose::paragraph(&mut rng, &topic, sentences),
            k + 1
        );
        flow.paragraph(&mention);
        let labels: Vec<(String, prose::Shown)> = geometry
            .panels
            .iter()
            .filter_map(|p| {
                p.label
                    .as_ref()
                    .map(|l| (l.text.clone(), figure::shown(plan, p.panel)))
            })
            .chain(
                geometry
                    .texts
                    .iter()
                    .filter(|t| figure::is_letter(t))
                    .map(|t| (t.text.clone(), prose::Shown::Blot)),
            )
            .collect();
        let mut labels = labels;
        labels.sort_by(|a, b| a.0.cmp(&b.0));
        let labels = if labels.is_empty() {
            vec![(
                String::new(),
                geometry
                    .panels
                    .first()
                    .map_or(prose::Shown::Other, |p| figure::shown(plan, p.panel)),
            )]
        } else {
            labels
        };
        flow.figure(FigureBlock {
            figure: k,
            width,
            height,
            full_width: figure.full_width && format.columns > 1,
            caption_prefix: format!(
                "{} {}{}",
                format.caption_word,
                k + 1,
                format.caption_separator
            ),
            caption: prose::caption(&mut rng, &topic, &labels),
        });
        let sentences = rng.between(3, 6);
        flow.paragraph(&prose::paragraph(&mut rng, &topic, sentences));
    }
    flow.heading("3. Discussion", 11.0);
    let target = document.target_pages as usize;
    for _ in 0..40 {
        if flow.page_count() > target || (flow.page_count() == target && flow.page_fill() > 0.45) {
            break;
        }
        let sentences = rng.between(4, 9);
        flow.paragraph(&prose::paragraph(&mut rng, &topic, sentences));
    }
    flow.heading("4. Materials and methods", 11.0);
    for _ in 0..rng.between(1, 2) {
        let sentences = rng.between(3, 5);
        flow.paragraph(&prose::paragraph(&mut rng, &topic, sentences));
    }
    flow.heading("References", 11.0);
    for number in 1..=rng.between(8, 20) {
        flow.reference(&prose::reference(&mut rng, number));
    }
    let pages = flow.finish();

    let mut pdf = PdfDoc::new();
    pdf.title(&title);
    let mut renderer = PanelRenderer::new(plan, real);
    let mut images = Vec::new();
    // Image objects per drawn panel, so an exact copy can reuse its source's object.
    let mut object_of: HashMap<PanelId, ImageId> = HashMap::new();
    for (figure, geometry) in document.figures.iter().zip(&geometries) {
        match figure.embedding {
            Embedding::Composite => {
                let pixels = geometry
                    .panels
                    .iter()
                    .map(|p| renderer.render(p.panel))
                    .collect::<Result<Vec<_>>>()?;
                let canvas = figure::compose(geometry, figure, &pixels);
                images.push(FigureImages::Composite(
                    pdf.add_image(&dynamic(canvas), figure.encoding)?,
                ));
            }
            Embedding::PerPanel => {
                let mut ids = Vec::new();
                for placed in &geometry.panels {
                    let key = plan.panels[placed.panel].draw_as.unwrap_or(placed.panel);
                    let id = match object_of.get(&key) {
                        Some(&id) => id,
                        None => {
                            let pixels = renderer.render(key)?;
                            let id = pdf.add_image(&dynamic((*pixels).clone()), figure.encoding)?;
                            object_of.insert(key, id);
                            id
                        }
                    };
                    ids.push(id);
                }
                images.push(FigureImages::PerPanel(ids));
            }
        }
    }

    let mut placements = Vec::new();
    for (page_index, ops) in pages.iter().enumerate() {
        let page = pdf.add_page(format.width, format.height);
        let page_number = page_index as u32 + 1;
        for op in ops {
            match op {
                PageOp::Text {
                    x,
                    y,
                    size,
                    font,
                    text,
                } => {
                    page.text(*x, *y, *size, *font, text);
                }
                PageOp::Line { from, to, width } => {
                    page.line(*from, *to, *width, [0, 0, 0]);
                }
                PageOp::Figure { figure: k, bbox } => {
                    let figure = &document.figures[*k];
                    let geometry = &geometries[*k];
                    let scale = bbox.width() / geometry.width as f32;
                    let to_page = |x: f32, y: f32| (bbox.x0 + x * scale, bbox.y0 + y * scale);
                    let panel_boxes: Vec<BBox> = geometry
                        .panels
                        .iter()
                        .map(|p| {
                            let (x0, y0) = to_page(p.rect.x as f32, p.rect.y as f32);
                            let (x1, y1) = to_page(
                                (p.rect.x + p.rect.width) as f32,
                                (p.rect.y + p.rect.height) as f32,
                            );
                            BBox::new(x0, y0, x1, y1)
                        })
                        .collect();
                    match &images[*k] {
                        FigureImages::Composite(id) => {
                            page.image(*bbox, *id);
                        }
                        FigureImages::PerPanel(ids) => {
                            for (panel_box, id) in panel_boxes.iter().zip(ids) {
                                page.image(*panel_box, *id);
                                if let Some(border) = figure.border {
                                    page.rect(
                                        *panel_box,
                                        None,
                                        Some(([35, 35, 35], border as f32 * scale)),
                                    );
                                }
                            }
                        }
                    }
                    let mut pdf_texts: Vec<&CanvasText> = Vec::new();
                    if !figure.label_raster {
                        pdf_texts.extend(geometry.panels.iter().filter_map(|p| p.label.as_ref()));
                        pdf_texts.extend(geometry.texts.iter().filter(|t| figure::is_letter(t)));
                    }
                    if !figure.text_raster {
                        pdf_texts.extend(geometry.texts.iter().filter(|t| !figure::is_letter(t)));
                        for line in &geometry.lines {
                            page.line(
                                to_page(line.from.0, line.from.1),
                                to_page(line.to.0, line.to.1),
                                line.width * scale,
                                [0, 0, 0],
                            );
                        }
                    }
                    for text in pdf_texts {
                        let font = if text.bold {
                            Font::HelveticaBold
                        } else {
                            Font::Helvetica
                        };
                        let size = text.height * scale / CAP_HEIGHT;
                        let width = text_width(font, size, &text.text);
                        let (x, baseline) = to_page(text.x, text.top + text.height);
                        let x = match text.align {
                            Align::Left => x,
                            Align::Centre => x - width / 2.0,
                            Align::Right => x - width,
                        };
                        page.text(x, baseline, size, font, &text.text);
                    }
                    for (placed, panel_box) in geometry.panels.iter().zip(panel_boxes) {
                        placements.push(Placement {
                            panel: placed.panel,
                            page: page_number,
                            bbox: panel_box,
                        });
                    }
                }
            }
        }
    }
    Ok(DocumentOutput {
        bytes: pdf.to_bytes()?,
        pages: pages.len() as u32,
        placements,
    })
}

/// The drawn size of a figure in points: its planned width within its span, narrowed when it
/// would be too tall for a page.
fn drawn_size(figure: &FigurePlan, geometry: &FigureGeometry, format: &PageFormat) -> (f32, f32) {
    let span = if figure.full_width || format.columns == 1 {
        format.text_width()
    } else {
        format.column_width()
    };
    let mut width = figure.width_pt.min(span);
    let mut height = width * geometry.height as f32 / geometry.width as f32;
    let max_height = format.body_height() * MAX_FIGURE_SHARE;
    if height > max_height {
        width *= max_height / height;
        height = max_height;
    }
    (width, height)
}

/// A figure's geometry and drawn size. Texts are sized for the planned resolution first; when
/// the figure ends up drawn at another scale (copies or long labels widened it, or it was too
/// tall), it is laid out again for the scale it gets, so letters and labels keep about their
/// point size on the page. Text margins grow with the scale, so this is a fixed-point
/// iteration, bounded so that wide labels cannot blow the canvas up.
fn lay_out(plan: &Plan, figure: &FigurePlan, format: &PageFormat) -> (FigureGeometry, f32, f32) {
    let planned = figure.dpi / 72.0;
    let mut pixels_per_point = planned;
    let mut geometry = figure::geometry(plan, figure, pixels_per_point);
    for _ in 0..4 {
        let (width, _) = drawn_size(figure, &geometry, format);
        let actual = (geometry.width as f32 / width).clamp(planned * 0.5, planned * 2.0);
        if (actual / pixels_per_point - 1.0).abs() <= 0.05 {
            break;
        }
        pixels_per_point = actual;
        geometry = figure::geometry(plan, figure, pixels_per_point);
    }
    let (width, height) = drawn_size(figure, &geometry, format);
    (geometry, width, height)
}

/// Grayscale panels are stored as one channel, as journals' grayscale figures are.
fn dynamic(image: RgbImage) -> DynamicImage {
    if is_gray(&image) {
        DynamicImage::ImageLuma8(DynamicImage::ImageRgb8(image).to_luma8())
    } else {
        DynamicImage::ImageRgb8(image)
    }
}
