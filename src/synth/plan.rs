//! The catalog plan: every document, figure and panel, every planted pair and hard negative,
//! decided up front from the seed without touching a pixel. Panels are referred to by id; a
//! copy names its source panel and its edits, so any document can re-render any source, and
//! documents can then be generated in parallel in any order with byte-identical results.
//!
//! Planning order: documents and their figures (procedural panels, unique seeds) → real images
//! into fitting slots (each at most once) → planted pairs (a copy replaces a slot's panel, or a
//! splice pastes a band strip into another blot) → hard negatives (a look-alike replaces a slot's
//! panel) → labels and embedding.

use std::sync::Arc;

use anyhow::Result;

use crate::pdfgen::ImageEncoding;
use crate::truth::Edit;

use super::distractors::{ChartKind, MicrographStyle};
use super::edits::{self, EditStep};
use super::layout::PageFormat;
use super::panels::{BlotStyle, GelStyle};
use super::real::{RealCatalog, RealKind};
use super::render;
use super::rng::{Rng, mix};

/// Index of a panel in [`Plan::panels`].
pub(crate) type PanelId = usize;

/// What a panel shows, for choosing sources, slots and captions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PanelClass {
    /// A membrane (several band rows) or a large crop of one.
    Blot,
    /// A one-row strip, as stacked in most blot figures.
    BlotStrip,
    /// A DNA gel.
    Gel,
    /// A microscope image.
    Micrograph,
    /// A chart.
    Chart,
    /// A pathway diagram.
    Diagram,
    /// A panel cut from a real compound figure.
    RealFigure,
}

impl PanelClass {
    pub(crate) fn is_blot(self) -> bool {
        matches!(self, PanelClass::Blot | PanelClass::BlotStrip)
    }
}

/// Where an original panel's pixels come from.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    Blot {
        style: Arc<BlotStyle>,
        seed: u64,
    },
    Gel {
        style: Arc<GelStyle>,
        seed: u64,
    },
    Micrograph {
        style: Arc<MicrographStyle>,
        seed: u64,
    },
    Chart {
        kind: ChartKind,
        seed: u64,
    },
    Diagram {
        seed: u64,
    },
    /// Real image `image` of the catalog, the box `crop` of it (its own pixels), resized to the
    /// panel's size.
    Real {
        image: usize,
        crop: (u32, u32, u32, u32),
    },
}

/// What a panel is.
#[derive(Debug, Clone)]
pub(crate) enum PanelContent {
    /// A panel of its own.
    Original(Source),
    /// A planted copy of `source` made by `edits`.
    Copy {
        source: PanelId,
        edits: Vec<EditStep>,
    },
}

/// A band strip of `donor` pasted into this panel.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SpliceIn {
    pub donor: PanelId,
    /// The strip in the donor's pixels, `(x0, y0, x1, y1)`.
    pub strip: (u32, u32, u32, u32),
    /// Its top-left corner in this panel's pixels.
    pub at: (u32, u32),
}

/// A slot of a figure: document, figure, row, column, position in the column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SlotRef {
    pub document: usize,
    pub figure: usize,
    pub row: usize,
    pub column: usize,
    pub slot: usize,
}

/// One panel.
#[derive(Debug, Clone)]
pub(crate) struct PanelPlan {
    pub content: PanelContent,
    /// Pixel size (after edits, for copies).
    pub size: (u32, u32),
    pub class: PanelClass,
    pub splice_in: Option<SpliceIn>,
    /// Drawn with the image object of this panel (an exact copy that reuses the XObject).
    pub draw_as: Option<PanelId>,
    /// Part of a pair or hard negative, so never picked again.
    pub involved: bool,
    /// Where it is drawn; `None` for panels a copy or look-alike displaced.
    pub slot: Option<SlotRef>,
}

/// How a figure's pixels go into the PDF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Embedding {
    /// The whole compound figure as one raster image.
    Composite,
    /// One image object per panel.
    PerPanel,
}

/// Where panel letters go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LabelPlace {
    /// Above the panel's top-left corner, in a band of their own.
    Above,
    /// Inside the panel's top-left corner.
    Inside,
}

/// A panel slot of a figure.
#[derive(Debug, Clone)]
pub(crate) struct SlotPlan {
    pub panel: PanelId,
    pub label: Option<String>,
}

/// A column of slots stacked top to bottom.
#[derive(Debug, Clone)]
pub(crate) struct ColumnPlan {
    pub slots: Vec<SlotPlan>,
    /// Blot strips with kDa markers at the left, protein names at the right and lane labels on
    /// top.
    pub decorated: bool,
}

/// A figure: rows of columns of panels.
#[derive(Debug, Clone)]
pub(crate) struct FigurePlan {
    /// Width on the page, points.
    pub width_pt: f32,
    /// Spans both columns of a two-column page.
    pub full_width: bool,
    /// Intended resolution; panel pixel sizes were chosen for it.
    pub dpi: f32,
    pub rows: Vec<Vec<ColumnPlan>>,
    /// White space between panels, pixels.
    pub gutter: u32,
    /// White space around the figure, pixels.
    pub margin: u32,
    /// A thin frame around each panel, pixels.
    pub border: Option<u32>,
    pub label_place: LabelPlace,
    /// Letters are pixels of the figure (else PDF text).
    pub label_raster: bool,
    pub label_size_pt: f32,
    pub lowercase_labels: bool,
    /// Marker, protein and lane text are pixels of the figure (else PDF text).
    pub text_raster: bool,
    pub text_size_pt: f32,
    pub embedding: Embedding,
    pub encoding: ImageEncoding,
    pub seed: u64,
}

/// One paper.
#[derive(Debug, Clone)]
pub(crate) struct DocumentPlan {
    pub file: String,
    pub seed: u64,
    pub format: PageFormat,
    pub target_pages: u32,
    pub figures: Vec<FigurePlan>,
}

/// A planted pair.
#[derive(Debug, Clone)]
pub(crate) enum PairPlan {
    /// `copy` is `source` after `edits`.
    Copy {
        source: PanelId,
        copy: PanelId,
        edits: Vec<EditStep>,
        same_object: bool,
    },
    /// A strip of `donor` was pasted into `recipient` (see its [`SpliceIn`]).
    Splice { donor: PanelId, recipient: PanelId },
}

/// Two look-alike panels that are not duplicates.
#[derive(Debug, Clone)]
pub(crate) struct NegativePlan {
    pub reason: &'static str,
    pub a: PanelId,
    pub b: PanelId,
}

/// The whole catalog.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub seed: u64,
    pub panels: Vec<PanelPlan>,
    pub documents: Vec<DocumentPlan>,
    pub pairs: Vec<PairPlan>,
    pub negatives: Vec<NegativePlan>,
}

/// What a pair plants: one edit, a splice or a combination of edits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Category {
    Single(Edit),
    Combination,
}

/// Edits a combination draws from: all but the exact copy and the splice.
fn combinable() -> impl Iterator<Item = Edit> {
    Edit::ALL
        .into_iter()
        .filter(|e| !matches!(e, Edit::Exact | Edit::Splice))
}

/// Documents per planted pair: one pair per 1.75 documents on average.
const DOCUMENTS_PER_PAIR: f32 = 1.75;
/// Share of copies whose source is a real image (while free ones last).
const REAL_SOURCE_SHARE: f32 = 0.25;
/// Hard negatives per document.
const NEGATIVES_PER_DOCUMENT: f32 = 0.3;
/// Largest canvas a figure is planned at, pixels: keeps PDFs at a few hundred KB.
const MAX_FIGURE_PIXELS: f32 = 1_000_000.0;

/// The kind of paper, which sets the mix of figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Theme {
    Blots,
    Imaging,
    Mixed,
}

/// The space a template fills.
#[derive(Debug, Clone, Copy)]
struct Shape {
    /// Canvas width, pixels.
    width: f32,
    /// Drawn width, points.
    width_pt: f32,
    /// Gutter, pixels.
    gutter: f32,
    /// Size of decoration text, points.
    text_size_pt: f32,
}

/// Figure templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Template {
    BlotStack,
    BlotGrid,
    SingleBlot,
    Gels,
    MicrographGrid,
    BigLeft,
    WideTop,
    Charts,
    MixedGrid,
    Diagram,
}

const TEMPLATES: [Template; 10] = [
    Template::BlotStack,
    Template::BlotGrid,
    Template::SingleBlot,
    Template::Gels,
    Template::MicrographGrid,
    Template::BigLeft,
    Template::WideTop,
    Template::Charts,
    Template::MixedGrid,
    Template::Diagram,
];

fn template_weights(theme: Theme) -> [f32; 10] {
    match theme {
        Theme::Blots => [0.34, 0.14, 0.07, 0.07, 0.04, 0.04, 0.09, 0.07, 0.1, 0.04],
        Theme::Imaging => [0.08, 0.03, 0.02, 0.03, 0.34, 0.18, 0.1, 0.08, 0.1, 0.04],
        Theme::Mixed => [0.18, 0.08, 0.05, 0.07, 0.14, 0.1, 0.1, 0.09, 0.15, 0.04],
    }
}

/// Plans a catalog of `documents` papers.
pub(crate) fn plan(seed: u64, documents: usize, real: &RealCatalog) -> Result<Plan> {
    let mut planner = Planner {
        seed,
        rng: Rng::derive(seed, 0x91A4),
        plan: Plan {
            seed,
            panels: Vec::new(),
            documents: Vec::new(),
            pairs: Vec::new(),
            negatives: Vec::new(),
        },
        real,
    };
    let digits = documents.to_string().len().max(4);
    for index in 0..documents {
        planner.add_document(index, digits);
    }
    planner.assign_real_images()?;
    planner.plant_pairs()?;
    planner.plant_negatives();
    planner.finish();
    Ok(planner.plan)
}

struct Planner<'a> {
    seed: u64,
    rng: Rng,
    plan: Plan,
    real: &'a RealCatalog,
}

impl Planner<'_> {
    fn new_panel(&mut self, class: PanelClass, size: (u32, u32), content: PanelContent) -> PanelId {
        // Originals are never drawn smaller than 12 px; a copy's size is whatever its edits make.
        let size = if matches!(content, PanelContent::Original(_)) {
            (size.0.max(12), size.1.max(12))
        } else {
            size
        };
        self.plan.panels.push(PanelPlan {
            content,
            size,
            class,
            splice_in: None,
            draw_as: None,
            involved: false,
            slot: None,
        });
        self.plan.panels.len() - 1
    }

    /// A seed no other panel of this catalog has.
    fn panel_seed(&self) -> u64 {
        mix(self.seed, 0xA000_0000 + self.plan.panels.len() as u64)
    }

    /// A new procedural panel of `class`.
    fn procedural(&mut self, class: PanelClass, size: (u32, u32), rng: &mut Rng) -> PanelId {
        let seed = self.panel_seed();
        let source = match class {
            PanelClass::Blot => Source::Blot {
                style: Arc::new(BlotStyle::membrane(rng)),
                seed,
            },
            PanelClass::BlotStrip => {
                let lanes = rng.between(3, 10);
                let (margin, fill) = (rng.uniform(0.02, 0.08), rng.uniform(0.55, 0.85));
                Source::Blot {
                    style: Arc::new(BlotStyle::strip(rng, lanes, margin, fill)),
                    seed,
                }
            }
            PanelClass::Gel => Source::Gel {
                style: Arc::new(GelStyle::random(rng)),
                seed,
            },
            PanelClass::Micrograph => Source::Micrograph {
                style: Arc::new(MicrographStyle::random(rng)),
                seed,
            },
            PanelClass::Chart | PanelClass::RealFigure => Source::Chart {
                kind: ChartKind::random(rng),
                seed,
            },
            PanelClass::Diagram => Source::Diagram { seed },
        };
        let class = if class == PanelClass::RealFigure {
            PanelClass::Chart
        } else {
            class
        };
        self.new_panel(class, size, PanelContent::Original(source))
    }

    fn add_document(&mut self, index: usize, digits: usize) {
        let mut rng = Rng::derive(self.seed, mix(0xD0C, index as u64));
        let format = PageFormat::random(&mut rng);
        let theme = [Theme::Blots, Theme::Imaging, Theme::Mixed][rng.weighted(&[0.55, 0.2, 0.25])];
        let figure_count = 1 + rng.weighted(&[0.2, 0.35, 0.3, 0.15]);
        let document = self.plan.documents.len();
        self.plan.documents.push(DocumentPlan {
            file: format!("doc-{:0digits$}.pdf", index + 1),
            seed: rng.next_u64(),
            format: format.clone(),
            target_pages: rng.between(4, 8),
            figures: Vec::new(),
        });
        for figure in 0..figure_count {
            let plan = self.new_figure(&format, theme, figure + 1 == figure_count, &mut rng);
            self.plan.documents[document].figures.push(plan);
            self.index_slots(document, figure);
        }
    }

    /// Records every panel's slot in figure `figure` of `document`.
    fn index_slots(&mut self, document: usize, figure: usize) {
        let rows = self.plan.documents[document].figures[figure].rows.clone();
        for (row, columns) in rows.iter().enumerate() {
            for (column, plan) in columns.iter().enumerate() {
                for (slot, slot_plan) in plan.slots.iter().enumerate() {
                    self.plan.panels[slot_plan.panel].slot = Some(SlotRef {
                        document,
                        figure,
                        row,
                        column,
                        slot,
                    });
                }
            }
        }
    }

    fn new_figure(
        &mut self,
        format: &PageFormat,
        theme: Theme,
        last: bool,
        rng: &mut Rng,
    ) -> FigurePlan {
        let (width_pt, full_width) = if format.columns == 2 {
            if rng.chance(0.5) {
                (format.text_width() * rng.uniform(0.75, 1.0), true)
            } else {
                (format.column_width() * rng.uniform(0.85, 1.0), false)
            }
        } else {
            (format.text_width() * rng.uniform(0.55, 1.0), false)
        };
        let dpi = match rng.weighted(&[0.15, 0.35, 0.35, 0.15]) {
            0 => rng.uniform(100.0, 150.0),
            1 => rng.uniform(150.0, 250.0),
            2 => rng.uniform(250.0, 330.0),
            _ => rng.uniform(330.0, 400.0),
        };
        let gutter = match rng.weighted(&[0.12, 0.5, 0.38]) {
            0 => rng.between(0, 1),
            1 => rng.between(2, 10),
            _ => rng.between(11, 30),
        };
        let template = if last && rng.chance(0.15) {
            Template::Diagram
        } else {
            TEMPLATES[rng.weighted(&template_weights(theme))]
        };
        let canvas_width = (width_pt / 72.0 * dpi).round();
        let text_size_pt = rng.uniform(5.5, 7.5);
        let shape = Shape {
            width: canvas_width,
            width_pt,
            gutter: gutter as f32,
            text_size_pt,
        };
        let mut rows = self.build_template(template, shape, rng);
        // Keep the canvas within budget by planning it at a lower resolution.
        let area: f32 = rows
            .iter()
            .flatten()
            .flat_map(|c| &c.slots)
            .map(|s| {
                let (w, h) = self.plan.panels[s.panel].size;
                w as f32 * h as f32
            })
            .sum();
        let mut dpi = dpi;
        if area > MAX_FIGURE_PIXELS {
            let shrink = (MAX_FIGURE_PIXELS / area).sqrt();
            dpi *= shrink;
            for slot in rows.iter_mut().flatten().flat_map(|c| c.slots.iter_mut()) {
                let panel = &mut self.plan.panels[slot.panel];
                panel.size = (
                    ((panel.size.0 as f32 * shrink) as u32).max(12),
                    ((panel.size.1 as f32 * shrink) as u32).max(12),
                );
            }
        }
        let embedding = if rng.chance(0.6) {
            Embedding::Composite
        } else {
            Embedding::PerPanel
        };
        let touching = gutter <= 1;
        let border = if touching || rng.chance(0.15) {
            Some(rng.between(1, 2))
        } else {
            None
        };
        let label_place = if embedding == Embedding::Composite && (touching || rng.chance(0.35)) {
            LabelPlace::Inside
        } else {
            LabelPlace::Above
        };
        FigurePlan {
            width_pt,
            full_width,
            dpi,
            rows,
            gutter,
            margin: if rng.chance(0.6) {
                rng.between(0, 4)
            } else {
                rng.between(5, 20)
            },
            border,
            label_place,
            label_raster: embedding == Embedding::Composite && rng.chance(0.6),
            label_size_pt: rng.uniform(8.0, 12.0),
            lowercase_labels: rng.chance(0.2),
            text_raster: embedding == Embedding::Composite && rng.chance(0.65),
            text_size_pt,
            embedding,
            // Chosen in `finish`, once the figure's final panels are known.
            encoding: ImageEncoding::Jpeg { quality: 85 },
            seed: rng.next_u64(),
        }
    }

    fn column(&self, slots: Vec<PanelId>, decorated: bool) -> ColumnPlan {
        ColumnPlan {
            slots: slots
                .into_iter()
                .map(|panel| SlotPlan { panel, label: None })
                .collect(),
            decorated,
        }
    }

    /// Builds a template's rows for a canvas about `width` pixels wide.
    fn build_template(
        &mut self,
        template: Template,
        shape: Shape,
        rng: &mut Rng,
    ) -> Vec<Vec<ColumnPlan>> {
        let Shape {
            width,
            width_pt,
            gutter,
            text_size_pt,
        } = shape;
        let size = |w: f32, h: f32| ((w.round() as u32).max(12), (h.round() as u32).max(12));
        match template {
            Template::BlotStack => {
                // As many columns as leave each strip a readable width beside its labels.
                let fitting = ((width_pt / 190.0) as usize).clamp(1, 3);
                let columns = (1 + rng.weighted(&[0.45, 0.4, 0.15])).min(fitting);
                let strips = rng.between(2, 5);
                let column_width = (width - gutter * 2.0 * (columns - 1) as f32) / columns as f32;
                // kDa numbers at the left and protein names at the right take about 14 text
                // heights of each column.
                let pixels_per_point = width / width_pt;
                let labels = 14.0 * text_size_pt * pixels_per_point;
                let panel_width =
                    (column_width - labels).max(column_width * 0.45) * rng.uniform(0.92, 1.0);
                let with_chart = rng.chance(0.35);
                let mut row = Vec::new();
                for _ in 0..columns {
                    let lanes = rng.between(3, 10);
                    let (margin, fill) = (rng.uniform(0.02, 0.08), rng.uniform(0.55, 0.85));
                    // Strips of one column were cut from one membrane and exposure.
                    let membrane = BlotStyle::strip(rng, lanes, margin, fill);
                    let mut panels = Vec::new();
                    for _ in 0..strips {
                        let aspect = rng.uniform(3.0, 7.5);
                        let seed = self.panel_seed();
                        let style = membrane.strip_like(rng);
                        let source = Source::Blot {
                            style: Arc::new(style),
                            seed,
                        };
                        panels.push(self.new_panel(
                            PanelClass::BlotStrip,
                            size(panel_width, panel_width / aspect),
                            PanelContent::Original(source),
                        ));
                    }
                    let mut column = self.column(panels, true);
                    if with_chart {
                        let chart = self.procedural(
                            PanelClass::Chart,
                            size(panel_width, panel_width * rng.uniform(0.6, 0.85)),
                            rng,
                        );
                        column.slots.push(SlotPlan {
                            panel: chart,
                            label: None,
                        });
                    }
                    row.push(column);
                }
                vec![row]
            }
            Template::BlotGrid
            | Template::Gels
            | Template::Charts
            | Template::MicrographGrid
            | Template::MixedGrid => {
                let (rows, columns) = match template {
                    Template::BlotGrid => (rng.between(1, 2), rng.between(2, 4)),
                    Template::Gels => (1, rng.between(1, 2)),
                    Template::Charts => (1, rng.between(2, 4)),
                    Template::MicrographGrid => (rng.between(1, 3), rng.between(2, 4)),
                    _ => (2, rng.between(2, 3)),
                };
                let aspect = match template {
                    Template::BlotGrid => rng.uniform(0.9, 1.8),
                    Template::Gels => rng.uniform(0.8, 1.4),
                    Template::Charts => rng.uniform(1.0, 1.4),
                    Template::MicrographGrid => rng.uniform(1.0, 1.4),
                    _ => rng.uniform(1.0, 1.5),
                };
                let cell = (width - gutter * (columns - 1) as f32) / columns as f32;
                // Micrographs of one figure share a stain and magnification.
                let shared = Arc::new(MicrographStyle::random(rng));
                let mut grid = Vec::new();
                for _ in 0..rows {
                    let mut row = Vec::new();
                    for _ in 0..columns {
                        let class = match template {
                            Template::BlotGrid => PanelClass::Blot,
                            Template::Gels => PanelClass::Gel,
                            Template::Charts => {
                                if rng.chance(0.15) {
                                    PanelClass::Diagram
                                } else {
                                    PanelClass::Chart
                                }
                            }
                            Template::MicrographGrid => PanelClass::Micrograph,
                            _ => [
                                PanelClass::Blot,
                                PanelClass::Micrograph,
                                PanelClass::Chart,
                                PanelClass::Gel,
                            ][rng.weighted(&[0.4, 0.25, 0.25, 0.1])],
                        };
                        let panel_size = size(cell, cell / aspect);
                        let panel = if class == PanelClass::Micrograph
                            && template == Template::MicrographGrid
                        {
                            let seed = self.panel_seed();
                            self.new_panel(
                                class,
                                panel_size,
                                PanelContent::Original(Source::Micrograph {
                                    style: shared.clone(),
                                    seed,
                                }),
                            )
                        } else {
                            self.procedural(class, panel_size, rng)
                        };
                        row.push(self.column(vec![panel], false));
                    }
                    grid.push(row);
                }
                grid
            }
            Template::SingleBlot => {
                let class = if rng.chance(0.75) {
                    PanelClass::Blot
                } else {
                    PanelClass::Gel
                };
                let panel_width = width * rng.uniform(0.7, 1.0);
                let panel = self.procedural(
                    class,
                    size(panel_width, panel_width / rng.uniform(1.0, 2.2)),
                    rng,
                );
                vec![vec![self.column(vec![panel], false)]]
            }
            Template::BigLeft => {
                let big_class = if rng.chance(0.6) {
                    PanelClass::Micrograph
                } else {
                    PanelClass::Blot
                };
                let big_width = width * rng.uniform(0.5, 0.62);
                let big_height = big_width / rng.uniform(0.9, 1.3);
                let small_width = width - big_width - gutter;
                let small_height = (big_height - gutter) / 2.0;
                let big = self.procedural(big_class, size(big_width, big_height), rng);
                let small_class = if rng.chance(0.5) {
                    PanelClass::Micrograph
                } else {
                    PanelClass::Chart
                };
                let first = self.procedural(small_class, size(small_width, small_height), rng);
                let second =
                    self.procedural(PanelClass::Chart, size(small_width, small_height), rng);
                vec![vec![
                    self.column(vec![big], false),
                    self.column(vec![first, second], false),
                ]]
            }
            Template::WideTop => {
                let wide_class = *rng.pick(&[PanelClass::Gel, PanelClass::Blot, PanelClass::Blot]);
                let wide =
                    self.procedural(wide_class, size(width, width / rng.uniform(2.0, 3.5)), rng);
                let count = rng.between(2, 4);
                let cell = (width - gutter * (count - 1) as f32) / count as f32;
                let class = if rng.chance(0.5) {
                    PanelClass::Chart
                } else {
                    PanelClass::Micrograph
                };
                let mut bottom = Vec::new();
                for _ in 0..count {
                    let panel =
                        self.procedural(class, size(cell, cell / rng.uniform(1.0, 1.3)), rng);
                    bottom.push(self.column(vec![panel], false));
                }
                vec![vec![self.column(vec![wide], false)], bottom]
            }
            Template::Diagram => {
                let panel = self.procedural(
                    PanelClass::Diagram,
                    size(width * 0.9, width * 0.9 / rng.uniform(1.2, 1.8)),
                    rng,
                );
                vec![vec![self.column(vec![panel], false)]]
            }
        }
    }

    /// Placed panels of `document` that nothing has claimed yet, in slot order.
    fn free_panels(&self, document: usize) -> Vec<PanelId> {
        let mut free = Vec::new();
        for figure in &self.plan.documents[document].figures {
            for slot in figure.rows.iter().flatten().flat_map(|c| &c.slots) {
                let panel = &self.plan.panels[slot.panel];
                if !panel.involved
                    && panel.splice_in.is_none()
                    && matches!(panel.content, PanelContent::Original(_))
                {
                    free.push(slot.panel);
                }
            }
        }
        free
    }

    /// Puts `panel` into `slot`, displacing what was there.
    fn replace(&mut self, slot: SlotRef, panel: PanelId) {
        let slot_plan = &mut self.plan.documents[slot.document].figures[slot.figure].rows[slot.row]
            [slot.column]
            .slots[slot.slot];
        let displaced = std::mem::replace(&mut slot_plan.panel, panel);
        self.plan.panels[displaced].slot = None;
        self.plan.panels[panel].slot = Some(slot);
    }

    /// Adds `panel` as a new column at the end of the last row of a figure of `document`.
    fn append(&mut self, document: usize, panel: PanelId) {
        let figure = self.rng.below(self.plan.documents[document].figures.len());
        let rows = &mut self.plan.documents[document].figures[figure].rows;
        let row = rows.len() - 1;
        rows[row].push(ColumnPlan {
            slots: vec![SlotPlan { panel, label: None }],
            decorated: false,
        });
        let column = rows[row].len() - 1;
        self.plan.panels[panel].slot = Some(SlotRef {
            document,
            figure,
            row,
            column,
            slot: 0,
        });
    }

    /// A fresh procedural panel of `class` added to `document`, for when it has nothing free.
    fn fresh_panel(&mut self, document: usize, class: PanelClass) -> PanelId {
        let mut rng = Rng::derive(self.seed, mix(0xF4E5, self.plan.panels.len() as u64));
        let width = rng.uniform(220.0, 420.0);
        let aspect = if class == PanelClass::BlotStrip {
            rng.uniform(3.0, 6.0)
        } else {
            rng.uniform(1.0, 1.6)
        };
        let panel = self.procedural(class, (width as u32, (width / aspect) as u32), &mut rng);
        self.append(document, panel);
        panel
    }

    fn assign_real_images(&mut self) -> Result<()> {
        let mut order: Vec<usize> = (0..self.real.images.len()).collect();
        self.rng.shuffle(&mut order);
        let mut candidates: Vec<PanelId> = (0..self.plan.documents.len())
            .flat_map(|d| self.free_panels(d))
            .collect();
        self.rng.shuffle(&mut candidates);
        // Real images replace at most this share of any class's slots, so procedural variety stays.
        let share = 0.45;
        let count = |class: PanelClass, panels: &[PanelPlan], list: &[PanelId]| {
            list.iter().filter(|&&p| panels[p].class == class).count()
        };
        let limits: Vec<(PanelClass, usize)> = [
            PanelClass::Blot,
            PanelClass::BlotStrip,
            PanelClass::Chart,
            PanelClass::Micrograph,
            PanelClass::Diagram,
        ]
        .iter()
        .map(|&class| {
            (
                class,
                (count(class, &self.plan.panels, &candidates) as f32 * share).ceil() as usize,
            )
        })
        .collect();
        let mut used = vec![0usize; limits.len()];
        for image in order {
            let real = &self.real.images[image];
            let wanted: &[PanelClass] = match real.kind {
                RealKind::Blot => &[PanelClass::Blot, PanelClass::BlotStrip],
                RealKind::BandCrop => &[PanelClass::BlotStrip],
                RealKind::FigurePanel => &[
                    PanelClass::Chart,
                    PanelClass::Micrograph,
                    PanelClass::Diagram,
                ],
            };
            let position = candidates.iter().position(|&p| {
                let class = self.plan.panels[p].class;
                let limit = limits.iter().position(|(c, _)| *c == class);
                wanted.contains(&class) && limit.is_some_and(|l| used[l] < limits[l].1)
            });
            let Some(position) = position else { continue };
            let panel = candidates.remove(position);
            let class = self.plan.panels[panel].class;
            if let Some(l) = limits.iter().position(|(c, _)| *c == class) {
                used[l] += 1;
            }
            let (slot_width, slot_height) = self.plan.panels[panel].size;
            let (real_width, real_height) = real.size();
            let (crop, size) = match real.kind {
                RealKind::Blot => {
                    let aspect = slot_width as f32 / slot_height as f32;
                    let (crop_width, crop_height) =
                        if aspect >= real_width as f32 / real_height as f32 {
                            (
                                real_width,
                                ((real_width as f32 / aspect) as u32).clamp(8, real_height),
                            )
                        } else {
                            (
                                ((real_height as f32 * aspect) as u32).clamp(8, real_width),
                                real_height,
                            )
                        };
                    let x = self.rng.between(0, real_width - crop_width);
                    let y = if crop_height < real_height {
                        // A strip of a real blot is cut where it has bands, as authors cut them.
                        busiest_row(&real.load()?, crop_height, &mut self.rng)
                    } else {
                        0
                    };
                    let upscale = slot_width as f32 / crop_width as f32;
                    let limit = if class == PanelClass::BlotStrip {
                        2.5
                    } else {
                        1.5
                    };
                    let size = if upscale > limit {
                        (
                            (crop_width as f32 * limit) as u32,
                            (crop_height as f32 * limit) as u32,
                        )
                    } else {
                        (slot_width, slot_height)
                    };
                    ((x, y, x + crop_width, y + crop_height), size)
                }
                RealKind::BandCrop => {
                    let scale = (slot_width as f32 / real_width as f32).clamp(1.0, 2.5);
                    (
                        (0, 0, real_width, real_height),
                        (
                            (real_width as f32 * scale) as u32,
                            (real_height as f32 * scale) as u32,
                        ),
                    )
                }
                RealKind::FigurePanel => {
                    let scale = (slot_width as f32 / real_width as f32)
                        .min(slot_height as f32 / real_height as f32)
                        .clamp(0.25, 1.5);
                    (
                        (0, 0, real_width, real_height),
                        (
                            (real_width as f32 * scale) as u32,
                            (real_height as f32 * scale) as u32,
                        ),
                    )
                }
            };
            let panel = &mut self.plan.panels[panel];
            panel.content = PanelContent::Original(Source::Real { image, crop });
            panel.size = (size.0.max(12), size.1.max(12));
            if real.kind == RealKind::FigurePanel {
                panel.class = PanelClass::RealFigure;
            }
        }
        Ok(())
    }

    /// Picks a document for a pair: often one that already has reuse (reuse clusters in real
    /// papers), otherwise any.
    fn pick_document(&mut self, involved: &mut Vec<usize>, avoid: Option<usize>) -> usize {
        let count = self.plan.documents.len();
        for _ in 0..20 {
            let document = if !involved.is_empty() && self.rng.chance(0.25) {
                *self.rng.pick(involved)
            } else {
                self.rng.below(count)
            };
            if Some(document) != avoid {
                if !involved.contains(&document) {
                    involved.push(document);
                }
                return document;
            }
        }
        let document = (avoid.unwrap_or(0) + 1) % count;
        if !involved.contains(&document) {
            involved.push(document);
        }
        document
    }

    fn plant_pairs(&mut self) -> Result<()> {
        let documents = self.plan.documents.len();
        let count = ((documents as f32 / DOCUMENTS_PER_PAIR).round() as usize).max(1);
        let mut categories = Vec::new();
        while categories.len() < count {
            let mut round: Vec<Category> = Edit::ALL.iter().map(|&e| Category::Single(e)).collect();
            round.push(Category::Combination);
            self.rng.shuffle(&mut round);
            categories.extend(round);
        }
        categories.truncate(count);
        let mut involved = Vec::new();
        for category in categories {
            let intra = documents == 1 || self.rng.chance(0.55);
            // A share of copies start from a real image, wherever one is free: real blots are
            // what the evaluation on real papers will meet.
            let real_source = if category != Category::Single(Edit::Splice)
                && self.rng.chance(REAL_SOURCE_SHARE)
            {
                self.free_real_panel()
            } else {
                None
            };
            let a = match real_source.and_then(|p| self.plan.panels[p].slot) {
                Some(slot) => {
                    if !involved.contains(&slot.document) {
                        involved.push(slot.document);
                    }
                    slot.document
                }
                None => self.pick_document(&mut involved, None),
            };
            let b = if intra {
                a
            } else {
                self.pick_document(&mut involved, Some(a))
            };
            match category {
                Category::Single(Edit::Splice) => self.plant_splice(a, b)?,
                Category::Single(edit) => self.plant_copy(a, b, vec![edit], real_source),
                Category::Combination => {
                    let mut edits: Vec<Edit> = Vec::new();
                    let wanted = self.rng.between(2, 3) as usize;
                    let orientation = |e: Edit| {
                        matches!(
                            e,
                            Edit::FlipHorizontal
                                | Edit::FlipVertical
                                | Edit::Rotate90
                                | Edit::Rotate180
                                | Edit::Rotate270
                        )
                    };
                    while edits.len() < wanted {
                        let edit = *self.rng.pick(&combinable().collect::<Vec<_>>());
                        // One orientation change at most: two (a flip and a turn) can cancel out.
                        let repeated = edits.contains(&edit);
                        let second_turn =
                            orientation(edit) && edits.iter().any(|&e| orientation(e));
                        if !repeated && !second_turn {
                            edits.push(edit);
                        }
                    }
                    edits.sort_by_key(|&e| edits::pipeline_rank(e));
                    self.plant_copy(a, b, edits, real_source);
                }
            }
        }
        Ok(())
    }

    /// Weighted choice among `candidates` by `weight`; `None` when empty.
    fn choose(
        &mut self,
        candidates: &[PanelId],
        weight: impl Fn(&PanelPlan) -> f32,
    ) -> Option<PanelId> {
        if candidates.is_empty() {
            return None;
        }
        let weights: Vec<f32> = candidates
            .iter()
            .map(|&p| weight(&self.plan.panels[p]).max(0.0))
            .collect();
        if weights.iter().all(|&w| w <= 0.0) {
            return None;
        }
        Some(candidates[self.rng.weighted(&weights)])
    }

    /// A free real panel anywhere in the catalog, real blots first.
    fn free_real_panel(&mut self) -> Option<PanelId> {
        let real: Vec<PanelId> = (0..self.plan.documents.len())
            .flat_map(|d| self.free_panels(d))
            .filter(|&p| {
                matches!(
                    self.plan.panels[p].content,
                    PanelContent::Original(Source::Real { .. })
                )
            })
            .collect();
        self.choose(&real, |panel| if panel.class.is_blot() { 3.0 } else { 1.0 })
    }

    fn plant_copy(
        &mut self,
        a: usize,
        b: usize,
        edits: Vec<Edit>,
        preferred_source: Option<PanelId>,
    ) {
        let turns = edits
            .iter()
            .any(|e| matches!(e, Edit::Rotate90 | Edit::Rotate270));
        let source_weight = |panel: &PanelPlan| {
            let base = match panel.class {
                PanelClass::Blot | PanelClass::BlotStrip => 3.0,
                PanelClass::Gel => 1.5,
                PanelClass::Micrograph => 2.0,
                PanelClass::Chart => 0.3,
                PanelClass::Diagram => 0.15,
                PanelClass::RealFigure => 0.6,
            };
            // Reused real blots matter most: the evaluation on real papers will see them.
            let real = if matches!(panel.content, PanelContent::Original(Source::Real { .. })) {
                2.5
            } else {
                1.0
            };
            let turned = if turns && panel.class == PanelClass::BlotStrip {
                0.1
            } else {
                1.0
            };
            // Slivers make poor sources: a crop of a 12-pixel strip is nothing a reader sees.
            let visible = if panel.size.0.min(panel.size.1) < 24 {
                0.0
            } else {
                1.0
            };
            base * real * turned * visible
        };
        let candidates = self.free_panels(a);
        let chosen = preferred_source
            .filter(|p| candidates.contains(p))
            .or_else(|| self.choose(&candidates, source_weight));
        let source = match chosen {
            Some(panel) => panel,
            None => self.fresh_panel(a, PanelClass::Blot),
        };
        self.plan.panels[source].involved = true;
        let mut rng = Rng::derive(self.seed, mix(0xED17, self.plan.pairs.len() as u64));
        let mut size = self.plan.panels[source].size;
        let mut steps = Vec::new();
        for edit in edits {
            let step = EditStep::random(edit, size, &mut rng);
            size = step.output_size(size);
            steps.push(step);
        }
        let class = self.plan.panels[source].class;
        let copy = self.new_panel(
            class,
            size,
            PanelContent::Copy {
                source,
                edits: steps.clone(),
            },
        );
        self.plan.panels[copy].involved = true;
        let source_figure = self.plan.panels[source].slot.map(|s| s.figure);
        let mut targets = self.free_panels(b);
        if a == b && self.rng.chance(0.35) {
            let same_figure: Vec<PanelId> = targets
                .iter()
                .copied()
                .filter(|&p| self.plan.panels[p].slot.map(|s| s.figure) == source_figure)
                .collect();
            if !same_figure.is_empty() {
                targets = same_figure;
            }
        }
        let target = self.choose(&targets, |panel| {
            if panel.class == class {
                5.0
            } else if panel.class.is_blot() == class.is_blot() {
                1.5
            } else {
                0.5
            }
        });
        match target.and_then(|p| self.plan.panels[p].slot) {
            Some(slot) => self.replace(slot, copy),
            None => self.append(b, copy),
        }
        let exact = steps.iter().all(|s| *s == EditStep::Exact);
        let same_object = exact && a == b && self.rng.chance(0.5);
        self.plan.pairs.push(PairPlan::Copy {
            source,
            copy,
            edits: steps,
            same_object,
        });
    }

    /// A free blot of `document`, or a fresh one.
    fn blot_in(&mut self, document: usize, not: Option<PanelId>) -> PanelId {
        let candidates: Vec<PanelId> = self
            .free_panels(document)
            .into_iter()
            .filter(|&p| Some(p) != not)
            .collect();
        // Splices go between blots big enough for a pasted band to be seen.
        let splice_weight = |panel: &PanelPlan| match (
            panel.class.is_blot(),
            panel.size.0 >= 150 && panel.size.1 >= 30,
        ) {
            (true, true) => 1.0,
            (true, false) => 0.05,
            _ => 0.0,
        };
        if let Some(panel) = self.choose(&candidates, splice_weight) {
            return panel;
        }
        // No blot here: turn another free panel into one, so the figure keeps its layout.
        let Some(convert) = self.choose(&candidates, |_| 1.0) else {
            return self.fresh_panel(document, PanelClass::BlotStrip);
        };
        let size = self.plan.panels[convert].size;
        let class = if size.0 as f32 > size.1 as f32 * 2.5 {
            PanelClass::BlotStrip
        } else {
            PanelClass::Blot
        };
        let mut rng = Rng::derive(self.seed, mix(0xB10B, self.plan.panels.len() as u64));
        let blot = self.procedural(class, size, &mut rng);
        let slot = self.plan.panels[convert]
            .slot
            .expect("free panels are placed");
        self.replace(slot, blot);
        blot
    }

    fn plant_splice(&mut self, a: usize, b: usize) -> Result<()> {
        let donor = self.blot_in(a, None);
        self.plan.panels[donor].involved = true;
        let recipient = self.blot_in(b, Some(donor));
        self.plan.panels[recipient].involved = true;
        let mut rng = Rng::derive(self.seed, mix(0x5B1C, self.plan.pairs.len() as u64));
        let donor_size = self.plan.panels[donor].size;
        let recipient_size = self.plan.panels[recipient].size;
        let (mut x0, mut y0, mut x1, mut y1) = match &self.plan.panels[donor].content {
            PanelContent::Original(Source::Blot { style, .. }) => {
                let row = rng.below(style.rows.len());
                // One to three lanes, but never less than a sixth of the blot's width.
                let least = style.lanes.div_ceil(6).min(style.lanes);
                let lanes = rng.between(least, 3.max(least).min(style.lanes));
                let first = rng.between(0, style.lanes - lanes);
                style.band_box(donor_size, row, first, lanes)
            }
            _ => self.busiest_strip(donor, &mut rng)?,
        };
        // The strip must fit well inside the recipient.
        let max_width = ((recipient_size.0 as f32 * 0.6) as u32).max(6);
        let max_height = ((recipient_size.1 as f32 * 0.6) as u32).max(6);
        if x1 - x0 > max_width {
            let centre = (x0 + x1) / 2;
            x0 = centre.saturating_sub(max_width / 2);
            x1 = (x0 + max_width).min(donor_size.0);
        }
        if y1 - y0 > max_height {
            let centre = (y0 + y1) / 2;
            y0 = centre.saturating_sub(max_height / 2);
            y1 = (y0 + max_height).min(donor_size.1);
        }
        let (width, height) = (x1 - x0, y1 - y0);
        let at = match &self.plan.panels[recipient].content {
            PanelContent::Original(Source::Blot { style, .. }) => {
                let row = rng.below(style.rows.len());
                let lane = rng.below(style.lanes as usize);
                let centres = style.lane_centres(recipient_size.0);
                let x = (centres[lane] - width as f32 / 2.0).max(0.0) as u32;
                let y = (style.rows[row] * recipient_size.1 as f32 - height as f32 / 2.0).max(0.0)
                    as u32;
                (
                    x.min(recipient_size.0 - width),
                    y.min(recipient_size.1 - height),
                )
            }
            _ => (
                rng.between(0, recipient_size.0 - width),
                rng.between(0, recipient_size.1 - height),
            ),
        };
        self.plan.panels[recipient].splice_in = Some(SpliceIn {
            donor,
            strip: (x0, y0, x1, y1),
            at,
        });
        self.plan.pairs.push(PairPlan::Splice { donor, recipient });
        Ok(())
    }

    /// For a donor whose bands are unknown (a real blot): the candidate strip with the most
    /// contrast, so the splice carries bands rather than bare background.
    fn busiest_strip(&self, donor: PanelId, rng: &mut Rng) -> Result<(u32, u32, u32, u32)> {
        let (width, height) = self.plan.panels[donor].size;
        let image = render::render_original(&self.plan.panels[donor], self.real)?;
        let mut best = (0, 0, width, height);
        let mut best_spread = -1.0f32;
        for _ in 0..12 {
            let strip_width = ((width as f32 * rng.uniform(0.2, 0.4)) as u32).clamp(6, width);
            let strip_height = ((height as f32 * rng.uniform(0.12, 0.25)) as u32).clamp(6, height);
            let x = rng.between(0, width - strip_width);
            let y = rng.between(0, height - strip_height);
            let (mut low, mut high) = (255u8, 0u8);
            for py in y..y + strip_height {
                for px in x..x + strip_width {
                    let luma = image.get_pixel(px, py).0[1];
                    low = low.min(luma);
                    high = high.max(luma);
                }
            }
            let spread = f32::from(high - low);
            if spread > best_spread {
                best_spread = spread;
                best = (x, y, x + strip_width, y + strip_height);
            }
        }
        Ok(best)
    }

    fn plant_negatives(&mut self) {
        let documents = self.plan.documents.len();
        let count = ((documents as f32 * NEGATIVES_PER_DOCUMENT).round() as usize).max(1);
        for _ in 0..count {
            let reason = [
                "same_layout_blots",
                "same_layout_gels",
                "same_stain_micrographs",
                "different_real_blots",
            ][self.rng.weighted(&[0.6, 0.15, 0.1, 0.15])];
            if reason == "different_real_blots" && self.plant_real_negative() {
                continue;
            }
            // Look across documents for the wanted kind first, then settle for a blot.
            let kinds: [fn(&PanelContent) -> bool; 2] = [
                match reason {
                    "same_layout_gels" => {
                        |c| matches!(c, PanelContent::Original(Source::Gel { .. }))
                    }
                    "same_stain_micrographs" => {
                        |c| matches!(c, PanelContent::Original(Source::Micrograph { .. }))
                    }
                    _ => |c| matches!(c, PanelContent::Original(Source::Blot { .. })),
                },
                |c| matches!(c, PanelContent::Original(Source::Blot { .. })),
            ];
            'search: for wanted in kinds {
                let start = self.rng.below(documents);
                for offset in 0..documents {
                    let document = (start + offset) % documents;
                    let free = self.free_panels(document);
                    if let Some(original) =
                        self.choose(
                            &free,
                            |panel| if wanted(&panel.content) { 1.0 } else { 0.0 },
                        )
                    {
                        self.plant_look_alike(original, document);
                        break 'search;
                    }
                }
            }
        }
    }

    /// Pairs two real blots (always from different hosts) already in the catalog.
    fn plant_real_negative(&mut self) -> bool {
        let real_blots: Vec<PanelId> = (0..self.plan.documents.len())
            .flat_map(|d| self.free_panels(d))
            .filter(|&p| matches!(&self.plan.panels[p].content, PanelContent::Original(Source::Real { image, .. }) if self.real.images[*image].kind == RealKind::Blot))
            .collect();
        if real_blots.len() < 2 {
            return false;
        }
        let a = *self.rng.pick(&real_blots);
        let host = |panel: PanelId| match &self.plan.panels[panel].content {
            PanelContent::Original(Source::Real { image, .. }) => {
                self.real.images[*image].host.as_str()
            }
            _ => "",
        };
        // The catalog holds one file per host already; checking again keeps that promise local.
        let others: Vec<PanelId> = real_blots
            .iter()
            .copied()
            .filter(|&p| p != a && host(p) != host(a))
            .collect();
        if others.is_empty() {
            return false;
        }
        let b = *self.rng.pick(&others);
        self.plan.panels[a].involved = true;
        self.plan.panels[b].involved = true;
        self.plan.negatives.push(NegativePlan {
            reason: "different_real_blots",
            a,
            b,
        });
        true
    }

    /// Puts a panel with `original`'s style and size but another seed next to it (same figure,
    /// same document, or another document).
    fn plant_look_alike(&mut self, original: PanelId, document: usize) {
        self.plan.panels[original].involved = true;
        let seed = self.panel_seed();
        let PanelContent::Original(source) = &self.plan.panels[original].content else {
            return;
        };
        let (source, reason) = match source {
            Source::Blot { style, .. } => (
                Source::Blot {
                    style: style.clone(),
                    seed,
                },
                "same_layout_blots",
            ),
            Source::Gel { style, .. } => (
                Source::Gel {
                    style: style.clone(),
                    seed,
                },
                "same_layout_gels",
            ),
            Source::Micrograph { style, .. } => (
                Source::Micrograph {
                    style: style.clone(),
                    seed,
                },
                "same_stain_micrographs",
            ),
            _ => return,
        };
        let (class, size) = (
            self.plan.panels[original].class,
            self.plan.panels[original].size,
        );
        let figure = self.plan.panels[original].slot.map(|s| s.figure);
        let where_ = self.rng.weighted(&[0.5, 0.25, 0.25]);
        let target_document = if where_ == 2 && self.plan.documents.len() > 1 {
            (document + 1 + self.rng.below(self.plan.documents.len() - 1))
                % self.plan.documents.len()
        } else {
            document
        };
        let mut targets = self.free_panels(target_document);
        if where_ == 0 {
            let same: Vec<PanelId> = targets
                .iter()
                .copied()
                .filter(|&p| self.plan.panels[p].slot.map(|s| s.figure) == figure)
                .collect();
            if !same.is_empty() {
                targets = same;
            }
        }
        let target = self.choose(
            &targets,
            |panel| if panel.class == class { 4.0 } else { 1.0 },
        );
        // The look-alike keeps the original's aspect (the style is relative to the panel) but
        // takes the height of the slot it fills, so the figure keeps its layout.
        let aspect = size.0 as f32 / size.1 as f32;
        let size = match target {
            Some(target) => {
                let (slot_width, slot_height) = self.plan.panels[target].size;
                if slot_height as f32 * aspect <= slot_width as f32 * 1.5 {
                    ((slot_height as f32 * aspect) as u32, slot_height)
                } else {
                    (slot_width, (slot_width as f32 / aspect) as u32)
                }
            }
            None => size,
        };
        let look_alike = self.new_panel(class, size, PanelContent::Original(source));
        self.plan.panels[look_alike].involved = true;
        match target.and_then(|p| self.plan.panels[p].slot) {
            Some(slot) => self.replace(slot, look_alike),
            None => self.append(target_document, look_alike),
        }
        self.plan.negatives.push(NegativePlan {
            reason,
            a: original,
            b: look_alike,
        });
    }

    /// Panel letters, and per-panel embedding wherever an exact copy reuses its source's image
    /// object.
    fn finish(&mut self) {
        let shared: Vec<(PanelId, PanelId)> = self
            .plan
            .pairs
            .iter()
            .filter_map(|pair| match pair {
                PairPlan::Copy {
                    source,
                    copy,
                    same_object: true,
                    ..
                } => Some((*source, *copy)),
                _ => None,
            })
            .collect();
        for (source, copy) in shared {
            self.plan.panels[copy].draw_as = Some(source);
            for panel in [source, copy] {
                if let Some(slot) = self.plan.panels[panel].slot {
                    let figure = &mut self.plan.documents[slot.document].figures[slot.figure];
                    figure.embedding = Embedding::PerPanel;
                }
            }
        }
        for document in &mut self.plan.documents {
            for figure in &mut document.figures {
                if figure.embedding == Embedding::PerPanel {
                    // PDF text over an image cannot adapt its colour to the panel, so letters
                    // sit above panels, and nothing is rasterised into per-panel images.
                    figure.label_place = LabelPlace::Above;
                    figure.label_raster = false;
                    figure.text_raster = false;
                }
                let slots: usize = figure.rows.iter().flatten().map(|c| c.slots.len()).sum();
                let mut rng = Rng::derive(figure.seed, 0x1AB);
                let panels: Vec<&PanelPlan> = figure
                    .rows
                    .iter()
                    .flatten()
                    .flat_map(|c| &c.slots)
                    .map(|s| &self.plan.panels[s.panel])
                    .collect();
                let area: f32 = panels
                    .iter()
                    .map(|p| p.size.0 as f32 * p.size.1 as f32)
                    .sum();
                let drawn = panels
                    .iter()
                    .all(|p| matches!(p.class, PanelClass::Chart | PanelClass::Diagram));
                // Lossless where it stays small: drawings compress well, noisy blots and
                // micrographs do not.
                figure.encoding =
                    if (drawn && rng.chance(0.6)) || (area < 150_000.0 && rng.chance(0.3)) {
                        ImageEncoding::Flate
                    } else {
                        // Large figures are saved at moderate quality, as journals' production
                        // systems do, which keeps every PDF at a few hundred KB.
                        let quality = *rng.pick(&[60, 65, 70, 75, 78, 80, 82, 85, 88, 90, 92, 95]);
                        ImageEncoding::Jpeg {
                            quality: if area > 500_000.0 {
                                quality.min(85)
                            } else {
                                quality
                            },
                        }
                    };
                if slots == 1 && rng.chance(0.7) {
                    continue;
                }
                let mut letter = 0u8;
                for column in figure.rows.iter_mut().flatten() {
                    for (index, slot) in column.slots.iter_mut().enumerate() {
                        if column.decorated
                            && index > 0
                            && self.plan.panels[slot.panel].class == PanelClass::BlotStrip
                        {
                            continue;
                        }
                        let character = (b'A' + letter % 26) as char;
                        letter += 1;
                        slot.label = Some(if figure.lowercase_labels {
                            character.to_ascii_lowercase().to_string()
                        } else {
                            character.to_string()
                        });
                    }
                }
            }
        }
    }
}

/// The top of the `height`-row window of `image` with the most contrast, among a few tried.
fn busiest_row(image: &image::RgbImage, height: u32, rng: &mut Rng) -> u32 {
    let (width, full) = image.dimensions();
    let row_means: Vec<f32> = (0..full)
        .map(|y| {
            (0..width)
                .map(|x| f32::from(image.get_pixel(x, y).0[1]))
                .sum::<f32>()
                / width as f32
        })
        .collect();
    let mut best = (0, f32::MIN);
    for _ in 0..10 {
        let top = rng.between(0, full - height);
        let window = &row_means[top as usize..(top + height) as usize];
        let darkest = window.iter().copied().fold(f32::MAX, f32::min);
        let lightest = window.iter().copied().fold(f32::MIN, f32::max);
        if lightest - darkest > best.1 {
            best = (top, lightest - darkest);
        }
    }
    best.0
}

impl Plan {
    /// A short description of where a panel's pixels come from, for the truth's parameters.
    pub(crate) fn describe(&self, panel: PanelId, real: &RealCatalog) -> String {
        match &self.panels[panel].content {
            PanelContent::Original(Source::Blot { .. }) => "procedural_blot".to_string(),
            PanelContent::Original(Source::Gel { .. }) => "procedural_gel".to_string(),
            PanelContent::Original(Source::Micrograph { .. }) => {
                "procedural_micrograph".to_string()
            }
            PanelContent::Original(Source::Chart { .. }) => "procedural_chart".to_string(),
            PanelContent::Original(Source::Diagram { .. }) => "procedural_diagram".to_string(),
            PanelContent::Original(Source::Real { image, .. }) => {
                format!("real:{}", real.images[*image].name)
            }
            PanelContent::Copy { source, .. } => self.describe(*source, real),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;

    fn real_catalog() -> RealCatalog {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
        assert!(
            dir.join("blots/polimi").is_dir(),
            "the real image set is missing at {}: this test needs it",
            dir.display()
        );
        RealCatalog::load(Some(&dir), 1).unwrap()
    }

    #[test]
    fn every_source_is_used_once_and_every_planted_panel_is_placed() {
        let real = real_catalog();
        let plan = plan(1, 60, &real).unwrap();
        let mut seeds = BTreeSet::new();
        let mut images = BTreeSet::new();
        let mut hosts = BTreeSet::new();
        for panel in plan.panels.iter().filter(|p| p.slot.is_some()) {
            let PanelContent::Original(source) = &panel.content else {
                continue;
            };
            let fresh = match source {
                Source::Blot { seed, .. }
                | Source::Gel { seed, .. }
                | Source::Micrograph { seed, .. }
                | Source::Chart { seed, .. }
                | Source::Diagram { seed } => seeds.insert(*seed),
                Source::Real { image, .. } => {
                    let image = &real.images[*image];
                    if image.kind == RealKind::Blot {
                        assert!(
                            hosts.insert(image.host.clone()),
                            "two blots of host {}",
                            image.host
                        );
                    }
                    images.insert(image.name.clone())
                }
            };
            assert!(fresh, "a source is drawn twice: {source:?}");
        }
        assert!(!images.is_empty());
        let placed = |panel: PanelId| plan.panels[panel].slot.is_some();
        for pair in &plan.pairs {
            match pair {
                PairPlan::Copy {
                    source,
                    copy,
                    edits,
                    ..
                } => {
                    assert!(placed(*source) && placed(*copy));
                    let size = edits
                        .iter()
                        .fold(plan.panels[*source].size, |size, e| e.output_size(size));
                    assert_eq!(size, plan.panels[*copy].size);
                }
                PairPlan::Splice { donor, recipient } => {
                    assert!(placed(*donor) && placed(*recipient));
                    let splice = plan.panels[*recipient].splice_in.as_ref().unwrap();
                    let (x0, y0, x1, y1) = splice.strip;
                    let (dw, dh) = plan.panels[*donor].size;
                    let (rw, rh) = plan.panels[*recipient].size;
                    assert!(x1 <= dw && y1 <= dh && x0 < x1 && y0 < y1);
                    assert!(splice.at.0 + x1 - x0 <= rw && splice.at.1 + y1 - y0 <= rh);
                }
            }
        }
        for negative in &plan.negatives {
            assert!(placed(negative.a) && placed(negative.b));
        }
        // Each slot holds its panel, and no panel sits in two slots.
        let mut seen = BTreeSet::new();
        for (d, document) in plan.documents.iter().enumerate() {
            for (f, figure) in document.figures.iter().enumerate() {
                for (r, row) in figure.rows.iter().enumerate() {
                    for (c, column) in row.iter().enumerate() {
                        for (s, slot) in column.slots.iter().enumerate() {
                            assert!(seen.insert(slot.panel));
                            assert_eq!(
                                plan.panels[slot.panel].slot,
                                Some(SlotRef {
                                    document: d,
                                    figure: f,
                                    row: r,
                                    column: c,
                                    slot: s
                                })
                            );
                        }
                    }
                }
            }
        }
    }
}
