//! paginate: fans an opened document out into the pages to render, so that one long document is
//! rendered by every worker at once.

use std::sync::Arc;

use panelscope_engine::{ItemResult, Outputs, Stage, StageError};

use crate::units::{DocumentInfo, PageJob};

/// The paginate stage (stateless; build it with `panelscope_engine::from_fn`).
#[derive(Debug, Default, Clone, Copy)]
pub struct Paginate;

impl Stage for Paginate {
    type In = DocumentInfo;
    type Out = PageJob;

    fn process(&mut self, batch: &[DocumentInfo]) -> Vec<ItemResult<PageJob>> {
        batch
            .iter()
            .map(|info| {
                if info.pages_screened < info.pages {
                    tracing::warn!(path = %info.job.path.display(), pages = info.pages, screened = info.pages_screened, "Document truncated to render.max_pages.");
                }
                let document = Arc::new(info.clone());
                let pages = (0..info.pages_screened).map(|index| PageJob { document: Arc::clone(&document), index }).collect::<Vec<_>>();
                if pages.is_empty() {
                    return Err(StageError::input(format!("{}: the document has no pages", info.job.path.display())));
                }
                Ok(Outputs::Many(pages))
            })
            .collect()
    }

    fn describe(&self, info: &DocumentInfo) -> String {
        info.job.path.display().to_string()
    }

    fn key(&self, info: &DocumentInfo) -> Option<String> {
        Some(info.job.id.to_hex())
    }

    fn sequence(&self, info: &DocumentInfo) -> Option<u64> {
        Some(info.job.position)
    }
}
