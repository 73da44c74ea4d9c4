//! The PDF-screening stages of panelscope, one file each. Each implements the engine's `Stage`
//! contract and knows nothing of how the engine runs it.
//!
//! | module | owns |
//! |---|---|
//! | [`units`] | what flows between stages: documents, pages, figures, panels, boxes in page space |
//! | [`panels`] | splitting compound figures into panels |

#![deny(missing_docs)]

pub mod panels;
pub mod units;
