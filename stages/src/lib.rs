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
//! | [`phash`] | perceptual hashes of panels, the baseline matcher's signal |
//! | [`assemble`] | a document's pages gathered, its panels numbered for the store |
//! | [`classify`] | what each panel shows: blot, gel, microscopy or other (a drawn graphic) |
//! | [`embed`] | panels → vectors (the panel and its eight dihedral views) |
//! | [`index`] | the sharded FAISS index and the search for candidate pairs |
//! | [`parts`] | the index of parts: blots' corners, for bands spliced from another paper |
//! | [`record`] | the sink writing each complete document to the store in one transaction |
//! | [`store`] | the SQLite provenance store: documents, pages, figures, panels, dead letters |
//! | [`verify`] | geometric verification of a candidate pair: transform, regions, correlation |
//! | [`units`] | what flows between stages: documents, pages, figures, panels, boxes in page space |

#![deny(missing_docs)]

pub mod assemble;
pub mod classify;
pub mod embed;
pub mod figures;
pub mod index;
pub mod paginate;
pub mod panels;
pub mod parts;
pub mod phash;
pub mod record;
pub mod render;
pub mod scan;
pub mod store;
pub mod units;
pub mod verify;
