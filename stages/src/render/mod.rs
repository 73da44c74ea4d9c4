//! render: opens documents and renders their pages with pdfium, in child processes (pdfium is not
//! thread-safe, and a PDF that crashes it must take down one child, never the run).
//!
//! Two process pools share this configuration: `probe` opens each document (page count, title,
//! encryption and damage checks) and `render` turns one page into pixels, embedded images and text.
//! Rendering is deterministic: the same file with the same settings gives byte-identical pixels.

mod pdf;
mod worker;

use std::path::{Path, PathBuf};
use std::time::Duration;

use panelscope_engine::{ProcessPoolConfig, ProcessPoolSpec};
use serde::{Deserialize, Serialize};

pub use pdf::{Pdf, PdfError};
pub use worker::{ProbeWorker, RenderWorker};

use crate::units::{DocumentInfo, DocumentJob, PageJob, RenderedPage};

/// The environment variable that carries the configuration to worker processes.
pub const CONFIG_ENV: &str = "PANELSCOPE_RENDER_CONFIG";

/// Settings of the probe and render stages, read from `[render]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RenderConfig {
    /// Page render resolution, in dots per inch.
    pub dpi: f32,
    /// Largest rendered page, in pixels; a bigger page is rendered at the highest resolution that
    /// fits (its actual DPI is recorded).
    pub max_page_pixels: u64,
    /// Pages screened per document; the rest are skipped and the document is marked truncated.
    pub max_pages: u32,
    /// Largest embedded image kept at native resolution, in pixels; bigger ones are downscaled.
    pub max_image_pixels: u64,
    /// Pixels of embedded images decoded per page, in content order; images past it keep their
    /// box and their figure is cropped from the page render (pages of hundreds of tiles).
    pub max_page_image_pixels: u64,
    /// Embedded images smaller than this on the page (either side, in points) keep their box but
    /// not their pixels: icons, bullets and glyphs are not figures.
    pub min_image_side_pt: f32,
    /// A thinner image keeps its pixels when its short side reaches this (points) and its area
    /// that of a `min_image_side_pt` square: a blot strip placed as an image of its own is often
    /// 8–12 pt high, and the page render has too few pixels of it to screen.
    pub min_image_strip_side_pt: f32,
    /// Pages that draw nothing but text (no image, shading or annotation, and no path but up to
    /// 20 straight rules: a running header's line, a small table's) are not rasterised: no
    /// figure can be found on them, and their text is still read. Their raster is empty; the
    /// recorded size and DPI are those of the render they would have had.
    pub skip_text_only_pages: bool,
    /// How long one page may take before its worker is killed and the page dead-lettered.
    #[serde(with = "humantime_serde")]
    pub page_timeout: Duration,
    /// The whole budget of one document, from opening it to its last page.
    #[serde(with = "humantime_serde")]
    pub document_timeout: Duration,
    /// The pdfium shared library; empty = `$PANELSCOPE_PDFIUM`, then `.local/pdfium/libpdfium.so`
    /// beside the working directory or the executable (where `scripts/setup.sh` puts it), then the
    /// system's `libpdfium.so`.
    pub pdfium_library: PathBuf,
}

impl Default for RenderConfig {
    fn default() -> Self {
        Self {
            dpi: 150.0,
            max_page_pixels: 40_000_000,
            max_pages: 2_000,
            max_image_pixels: 4_000_000,
            max_page_image_pixels: 12_000_000,
            min_image_side_pt: 24.0,
            min_image_strip_side_pt: 8.0,
            skip_text_only_pages: true,
            page_timeout: Duration::from_secs(60),
            document_timeout: Duration::from_secs(600),
            pdfium_library: PathBuf::new(),
        }
    }
}

/// Where the pdfium library was looked for, for the error message when it is nowhere.
fn library_candidates() -> Vec<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(path) = std::env::var_os("PANELSCOPE_PDFIUM") {
        candidates.push(PathBuf::from(path));
    }
    let relative = Path::new(".local/pdfium/libpdfium.so");
    if let Ok(cwd) = std::env::current_dir() {
        candidates.push(cwd.join(relative));
    }
    if let Ok(exe) = std::env::current_exe() {
        // target/<profile>/panelscope (or target/<profile>/deps/<test>) → the checkout's root.
        for ancestor in exe.ancestors().skip(1).take(4) {
            candidates.push(ancestor.join(relative));
        }
    }
    candidates.push(PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../.local/pdfium/libpdfium.so"
    )));
    candidates
}

impl RenderConfig {
    /// Checks the settings, naming the first bad one.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.dpi > 0.0 && self.dpi <= 1200.0) {
            return Err(format!("render.dpi = {} must be in (0, 1200]", self.dpi));
        }
        if self.max_page_pixels < 10_000 {
            return Err(format!(
                "render.max_page_pixels = {} is too small to render a page",
                self.max_page_pixels
            ));
        }
        if self.max_pages == 0 {
            return Err("render.max_pages must be at least 1".to_string());
        }
        if self.page_timeout.is_zero() || self.document_timeout.is_zero() {
            return Err(
                "render.page_timeout and render.document_timeout must be positive".to_string(),
            );
        }
        Ok(())
    }

    /// This configuration with `pdfium_library` resolved to an existing file, or an error listing
    /// every place looked at and how to install it.
    pub fn resolved(&self) -> Result<RenderConfig, String> {
        self.validate()?;
        let mut resolved = self.clone();
        if !self.pdfium_library.as_os_str().is_empty() {
            if !self.pdfium_library.is_file() {
                return Err(format!(
                    "render.pdfium_library {} does not exist",
                    self.pdfium_library.display()
                ));
            }
            return Ok(resolved);
        }
        let candidates = library_candidates();
        match candidates.iter().find(|path| path.is_file()) {
            Some(found) => {
                resolved.pdfium_library = found.canonicalize().unwrap_or_else(|_| found.clone());
                Ok(resolved)
            }
            None => Err(format!(
                "the pdfium library was not found (looked at {}); run `bash scripts/setup.sh` or set PANELSCOPE_PDFIUM",
                candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    /// The configuration as the worker processes receive it.
    pub fn to_env(&self) -> String {
        serde_json::to_string(self).expect("the render config serialises")
    }

    /// Reads the configuration a parent passed to this worker process.
    pub fn from_env() -> Result<RenderConfig, String> {
        let json = std::env::var(CONFIG_ENV)
            .map_err(|_| format!("{CONFIG_ENV} is not set: workers are started by panelscope"))?;
        serde_json::from_str(&json).map_err(|e| format!("{CONFIG_ENV} is invalid: {e}"))
    }

    fn pool(&self, program: &Path, kind: &str, timeout: Duration) -> ProcessPoolConfig {
        let mut pool =
            ProcessPoolConfig::command(program, ["worker", kind]).with_request_timeout(timeout);
        pool.env.insert(CONFIG_ENV.to_string(), self.to_env());
        pool
    }

    /// The pool of `program worker probe` children that open documents.
    pub fn probe_pool(&self, program: &Path) -> ProcessPoolSpec<DocumentJob, DocumentInfo> {
        self.pool(program, "probe", self.page_timeout)
            .typed()
            .describe_with(|job: &DocumentJob| {
                format!("{} ({})", job.path.display(), job.id.short())
            })
            .key_with(|job: &DocumentJob| job.id.to_hex())
            .sequence_with(|job: &DocumentJob| job.position)
    }

    /// The pool of `program worker render` children that render pages.
    pub fn render_pool(&self, program: &Path) -> ProcessPoolSpec<PageJob, RenderedPage> {
        self.pool(program, "render", self.page_timeout)
            .typed()
            .describe_with(|job: &PageJob| {
                format!("{} page {}", job.document.job.path.display(), job.index + 1)
            })
            .key_with(|job: &PageJob| job.document.job.id.to_hex())
            .sequence_with(|job: &PageJob| job.document.job.position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_round_trip() {
        let config = RenderConfig {
            dpi: 200.0,
            page_timeout: Duration::from_secs(5),
            ..RenderConfig::default()
        };
        let text = toml::to_string(&config).unwrap();
        assert_eq!(toml::from_str::<RenderConfig>(&text).unwrap(), config);
        assert!(toml::from_str::<RenderConfig>("dpi_x = 3").is_err());
    }

    #[test]
    fn bad_settings_are_named() {
        let config = RenderConfig {
            dpi: 0.0,
            ..RenderConfig::default()
        };
        assert!(config.validate().unwrap_err().contains("render.dpi"));
    }
}
