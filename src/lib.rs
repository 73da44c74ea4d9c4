//! The panelscope application: configuration and the commands behind the `panelscope` binary.

pub mod config;
pub mod demo;
pub mod telemetry;
pub mod pdfgen;
