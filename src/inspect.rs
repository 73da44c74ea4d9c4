//! `panelscope inspect`: the per-stage debug overlays for one PDF. Each page is rendered by the
//! same worker processes as an ingest, its figures and panels found by the same stages, and
//! written as a PNG with the boxes drawn on it, plus the crops and a JSON listing.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use image::{Rgb, RgbImage};
use panelscope_engine::{
    BuildContext, GraphBuilder, ItemResult, Outputs, Stage, StageConfig, StageError, from_fn,
};
use panelscope_stages::figures::Figures;
use panelscope_stages::paginate::Paginate;
use panelscope_stages::panels::Panels;
use panelscope_stages::render::RenderConfig;
use panelscope_stages::units::{BBox, DocumentId, DocumentJob, RenderedPage};
use serde::Serialize;

use crate::config::Settings;

const FIGURE_COLOUR: Rgb<u8> = Rgb([220, 30, 30]);
const PANEL_COLOUR: Rgb<u8> = Rgb([20, 90, 230]);
const TEXT_COLOUR: Rgb<u8> = Rgb([150, 210, 150]);

/// One page of the listing.
#[derive(Debug, Clone, Serialize)]
pub struct PageReport {
    /// 1-based.
    pub page: u32,
    /// The overlay PNG.
    pub overlay: PathBuf,
    /// Figures found.
    pub figures: Vec<FigureReport>,
}

/// One figure of the listing.
#[derive(Debug, Clone, Serialize)]
pub struct FigureReport {
    /// `embedded` or `detected`.
    pub source: &'static str,
    /// `[x0, y0, x1, y1]`, PDF points from the top-left corner.
    pub bbox: [f32; 4],
    /// Its caption.
    pub caption: Option<String>,
    /// Its crop.
    pub crop: PathBuf,
    /// Panel boxes, PDF points.
    pub panels: Vec<[f32; 4]>,
}

fn draw_box(
    image: &mut RgbImage,
    bbox: &BBox,
    pixels_per_point: f32,
    colour: Rgb<u8>,
    thickness: u32,
) {
    let b = bbox.to_pixels(pixels_per_point, image.width(), image.height());
    if b.is_empty() {
        return;
    }
    for t in 0..thickness {
        let (x0, y0) = (b.x0 + t, b.y0 + t);
        let (x1, y1) = (b.x1.saturating_sub(1 + t), b.y1.saturating_sub(1 + t));
        if x0 > x1 || y0 > y1 {
            break;
        }
        for x in x0..=x1 {
            image.put_pixel(x, y0, colour);
            image.put_pixel(x, y1, colour);
        }
        for y in y0..=y1 {
            image.put_pixel(x0, y, colour);
            image.put_pixel(x1, y, colour);
        }
    }
}

/// Draws and writes one page: the sink of the inspect graph.
struct Overlay {
    out: PathBuf,
    figures: Figures,
    panels: Panels,
    reports: Arc<Mutex<Vec<PageReport>>>,
}

impl Overlay {
    fn page(&self, page: &RenderedPage) -> Result<PageReport, String> {
        let number = page.meta.index + 1;
        let ppp = page.meta.pixels_per_point();
        let mut image = page.image.to_rgb();
        for span in &page.text {
            draw_box(&mut image, &span.bbox, ppp, TEXT_COLOUR, 1);
        }
        let mut figures = Vec::new();
        for (k, figure) in self.figures.detect(page).iter().enumerate() {
            let (panels, _) = self.panels.split(figure);
            draw_box(&mut image, &figure.bbox, ppp, FIGURE_COLOUR, 3);
            for panel in &panels {
                draw_box(&mut image, &panel.bbox, ppp, PANEL_COLOUR, 2);
            }
            let crop = self
                .out
                .join(format!("page-{number:03}-figure-{}.png", k + 1));
            figure
                .raster
                .to_rgb()
                .save(&crop)
                .map_err(|e| format!("{}: {e}", crop.display()))?;
            figures.push(FigureReport {
                source: figure.source.as_str(),
                bbox: figure.bbox.to_array(),
                caption: figure.caption.clone(),
                crop,
                panels: panels.iter().map(|p| p.bbox.to_array()).collect(),
            });
        }
        let overlay = self.out.join(format!("page-{number:03}.png"));
        image
            .save(&overlay)
            .map_err(|e| format!("{}: {e}", overlay.display()))?;
        Ok(PageReport {
            page: number,
            overlay,
            figures,
        })
    }
}

impl Stage for Overlay {
    type In = RenderedPage;
    type Out = ();

    fn process(&mut self, batch: &[RenderedPage]) -> Vec<ItemResult<()>> {
        batch
            .iter()
            .map(|page| {
                let report = self.page(page).map_err(StageError::external)?;
                self.reports
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(report);
                Ok(Outputs::None)
            })
            .collect()
    }
}

struct OverlayConfig {
    out: PathBuf,
    settings: Settings,
    reports: Arc<Mutex<Vec<PageReport>>>,
}

impl StageConfig for OverlayConfig {
    type Stage = Overlay;

    fn build(&self, _cx: &BuildContext) -> Result<Overlay, StageError> {
        Ok(Overlay {
            out: self.out.clone(),
            figures: Figures::new(self.settings.figures.clone()).map_err(StageError::input)?,
            panels: Panels::new(self.settings.panels.clone())?,
            reports: Arc::clone(&self.reports),
        })
    }
}

/// Writes the overlays of `pdf` into `out`; returns the pages, in order.
pub async fn run(
    settings: &Settings,
    pdf: &Path,
    out: &Path,
    program: PathBuf,
) -> Result<Vec<PageReport>> {
    let bytes = std::fs::read(pdf).with_context(|| format!("cannot read {}", pdf.display()))?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let job = DocumentJob {
        id: DocumentId::of_bytes(&bytes),
        path: pdf.to_path_buf(),
        size: bytes.len() as u64,
        position: 0,
    };
    // Every page gets its overlay, text-only ones too.
    let render = RenderConfig {
        skip_text_only_pages: false,
        ..settings.render.clone()
    }
    .resolved()
    .map_err(anyhow::Error::msg)?;
    let dead = Arc::new(panelscope_engine::CollectedDeadLetters::default());
    let reports = Arc::new(Mutex::new(Vec::new()));

    let mut graph = GraphBuilder::new("inspect");
    graph.dead_letters(dead.clone());
    let jobs = graph.source("document", [job]);
    let infos = graph.stage(
        "probe",
        jobs,
        render.probe_pool(&program),
        settings.node("probe"),
    );
    let pages = graph.stage(
        "paginate",
        infos,
        from_fn(|_| Ok(Paginate)),
        settings.node("paginate"),
    );
    let rendered = graph.stage(
        "render",
        pages,
        render.render_pool(&program),
        settings.node("render"),
    );
    let overlay = OverlayConfig {
        out: out.to_path_buf(),
        settings: settings.clone(),
        reports: Arc::clone(&reports),
    };
    graph.sink("overlay", rendered, overlay, settings.node("figures"));
    graph.build()?.run().await?;

    if let Some(letter) = dead.letters().first() {
        bail!("{}: {}", pdf.display(), letter.error);
    }
    let mut reports = reports.lock().unwrap_or_else(|p| p.into_inner()).clone();
    reports.sort_by_key(|r| r.page);
    let listing = out.join("inspect.json");
    std::fs::write(&listing, serde_json::to_vec_pretty(&reports)?)
        .with_context(|| format!("cannot write {}", listing.display()))?;
    Ok(reports)
}
