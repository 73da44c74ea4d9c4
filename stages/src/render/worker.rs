//! The worker-process side of probe and render: `Stage`s that hold pdfium and one open document.

use std::time::{SystemTime, UNIX_EPOCH};

use panelscope_engine::{ItemResult, Outputs, Stage, StageError};

use super::{Pdf, PdfError, RenderConfig};
use crate::units::{DocumentInfo, DocumentJob, PageJob, RenderedPage};

fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The dead letter names the document; `part` names the page when there is one.
fn stage_error(error: PdfError, part: Option<&str>) -> StageError {
    let message = match part {
        Some(part) => format!("{part}: {error}"),
        None => error.to_string(),
    };
    if error.is_input_fault() {
        StageError::input(message)
    } else {
        StageError::transient(message)
    }
}

/// Opens documents: page count, title, damage and encryption checks.
pub struct ProbeWorker {
    pdf: Pdf,
    config: RenderConfig,
}

impl ProbeWorker {
    /// Binds pdfium as `config` says.
    pub fn new(config: RenderConfig) -> Result<Self, String> {
        Ok(Self {
            pdf: Pdf::bind(&config.pdfium_library)?,
            config,
        })
    }
}

impl Stage for ProbeWorker {
    type In = DocumentJob;
    type Out = DocumentInfo;

    fn process(&mut self, batch: &[DocumentJob]) -> Vec<ItemResult<DocumentInfo>> {
        batch
            .iter()
            .map(|job| {
                let deadline = now_unix_ms() + self.config.document_timeout.as_millis() as u64;
                self.pdf
                    .probe(job, &self.config, deadline)
                    .map(Outputs::One)
                    .map_err(|e| stage_error(e, None))
            })
            .collect()
    }
}

/// Renders pages, keeping the last document open for its next pages.
pub struct RenderWorker {
    pdf: Pdf,
    config: RenderConfig,
}

impl RenderWorker {
    /// Binds pdfium as `config` says.
    pub fn new(config: RenderConfig) -> Result<Self, String> {
        Ok(Self {
            pdf: Pdf::bind(&config.pdfium_library)?,
            config,
        })
    }
}

impl Stage for RenderWorker {
    type In = PageJob;
    type Out = RenderedPage;

    fn process(&mut self, batch: &[PageJob]) -> Vec<ItemResult<RenderedPage>> {
        batch
            .iter()
            .map(|job| {
                let what = format!("page {}", job.index + 1);
                if now_unix_ms() > job.document.deadline_unix_ms {
                    return Err(StageError::external(format!(
                        "{what}: the document ran past its {:?} budget",
                        self.config.document_timeout
                    )));
                }
                self.pdf
                    .render(&job.document, job.index, &self.config)
                    .map(Outputs::One)
                    .map_err(|e| stage_error(e, Some(&what)))
            })
            .collect()
    }
}
