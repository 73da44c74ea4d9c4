//! Logs and metrics for the binary: tracing to stderr, Prometheus on request.

use std::io::IsTerminal;
use std::net::SocketAddr;

use anyhow::Result;
use tracing_subscriber::EnvFilter;

/// Logs to stderr; `PANELSCOPE_LOG` (or `RUST_LOG`) filters, `info` by default.
pub fn init_logging() {
    let filter = std::env::var("PANELSCOPE_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .map(EnvFilter::new)
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

/// Serves `/metrics` on `addr`; must run inside the tokio runtime.
pub fn serve_metrics(addr: SocketAddr) -> Result<()> {
    panelscope_engine::metrics::serve_prometheus(addr)?;
    tracing::info!(%addr, "Serving Prometheus metrics at http://{addr}/metrics.");
    Ok(())
}
