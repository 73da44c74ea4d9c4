//! The panelscope application: configuration and the commands behind the `panelscope` binary.

pub mod compare;
pub mod config;
pub mod demo;
pub mod eval;
pub mod ingest;
pub mod inspect;
pub mod matches;
pub mod pdfgen;
pub mod reindex;
pub mod report;
pub mod synth;
pub mod telemetry;
pub mod train;
pub mod truth;
