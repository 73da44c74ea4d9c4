//! The PDF-screening stages of panelscope, one file each. Each implements the engine's `Stage`
//! contract and knows nothing of how the engine runs it.
//!
//! | module | owns |
//! |---|---|
//! | [`scan`] | the catalog: files, folders, list files → documents by blake3, skipping known ones |
//! | [`paginate`] | an opened document → its pages |
//! | [`render`] | opening documents and rendering pages with pdfium, in worker processes |
//! | [`figures`] | finding figures on a page: embedded images, drawn regions, captions |
//! | [`panels`] | splitting compound figures into panels |
//! | [`record`] | the sink writing each complete document to the store in one transaction |
//! | [`store`] | the SQLite provenance store: documents, pages, figures, panels, dead letters |
//! | [`units`] | what flows between stages: documents, pages, figures, panels, boxes in page space |

#![deny(missing_docs)]

pub mod figures;
pub mod paginate;
pub mod panels;
pub mod record;
pub mod render;
pub mod scan;
pub mod store;
pub mod units;
