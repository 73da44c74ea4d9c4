//! The PDF-screening stages of panelscope, one file each: scan, render, figures, panels, embed,
//! index, match. Each implements the engine's `Stage` contract and knows nothing of how the engine
//! runs it. The stages arrive with the intake, index and embedding issues; this crate fixes their
//! place in the workspace.

#![deny(missing_docs)]
