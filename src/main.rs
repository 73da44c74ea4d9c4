//! The `panelscope` command line.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use panelscope::config::Settings;
use panelscope::{demo, telemetry};

/// Screens catalogs of scientific PDFs for duplicated and reused image panels.
#[derive(Debug, Parser)]
#[command(name = "panelscope", version, about, propagate_version = true)]
struct Cli {
    /// A TOML file overlaid on the built-in defaults (see config/default.toml).
    #[arg(long, global = true, env = "PANELSCOPE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where all state lives (SQLite store, index, evidence, dead letters).
    #[arg(long, global = true, env = "PANELSCOPE_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Serve Prometheus metrics on this address (e.g. 127.0.0.1:9898) while running.
    #[arg(
        long,
        global = true,
        env = "PANELSCOPE_METRICS_ADDR",
        value_name = "HOST:PORT"
    )]
    metrics_addr: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the engine on synthetic items: a process pool, a CPU stage, a batched stage, a sink.
    Demo {
        /// Items to push through (overrides demo.items).
        #[arg(long)]
        items: Option<u64>,
        /// Every Nth item crashes its child process, to show restarts and dead letters.
        #[arg(long)]
        poison_every: Option<u64>,
    },
    /// Serves one stage over stdin/stdout for a process pool (started by panelscope itself).
    #[command(hide = true)]
    Worker {
        /// Which stage to serve.
        kind: WorkerKind,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum WorkerKind {
    /// The demo's payload hasher.
    Checksum,
}

fn settings(cli: &Cli) -> Result<Settings> {
    let mut settings = Settings::load(cli.config.as_deref())?;
    if let Some(dir) = &cli.data_dir {
        settings.data_dir = dir.clone();
    }
    if let Some(addr) = &cli.metrics_addr {
        settings.metrics.addr = addr.clone();
    }
    settings.metrics.socket_addr()?;
    Ok(settings)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    telemetry::init_logging();
    match &cli.command {
        Command::Worker {
            kind: WorkerKind::Checksum,
        } => {
            panelscope_engine::process::serve(demo::ChecksumStage).context("checksum worker")?;
        }
        Command::Demo {
            items,
            poison_every,
        } => {
            let mut settings = settings(&cli)?;
            if let Some(items) = items {
                settings.demo.items = *items;
            }
            if let Some(every) = poison_every {
                settings.demo.poison_every = *every;
            }
            let program =
                std::env::current_exe().context("cannot locate the panelscope executable")?;
            let summary = runtime()?.block_on(async {
                if let Some(addr) = settings.metrics.socket_addr()? {
                    telemetry::serve_metrics(addr)?;
                }
                demo::run(&settings, program).await
            })?;
            print!("{summary}");
            println!(
                "records, dead letters and summary.json are in {}",
                demo::output_dir(&settings.data_dir).display()
            );
        }
    }
    Ok(())
}
