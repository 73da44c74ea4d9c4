//! The `panelscope` command line.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use panelscope::config::Settings;
use panelscope::{
    compare, demo, eval, ingest, inspect, matches, reindex, report, synth, telemetry, train,
};

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
    /// Screens a catalog: files, folders (recursive) and list files (one path per line) of PDFs
    /// into figures and panels in the store. Resumable: documents already recorded are skipped.
    Ingest {
        /// PDFs, folders, or list files.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Render worker processes (default: one per core).
        #[arg(long)]
        workers: Option<usize>,
        /// Screen again documents that failed in an earlier run.
        #[arg(long)]
        retry_failed: bool,
        /// Record figures and panels without embedding, indexing or matching them (benchmarks).
        #[arg(long, hide = true)]
        no_match: bool,
    },
    /// Runs the engine on synthetic items: a process pool, a CPU stage, a batched stage, a sink.
    Demo {
        /// Items to push through (overrides demo.items).
        #[arg(long)]
        items: Option<u64>,
        /// Every Nth item crashes its child process, to show restarts and dead letters.
        #[arg(long)]
        poison_every: Option<u64>,
    },
    /// Writes each page of one PDF with its figure and panel boxes drawn on it (debug overlays),
    /// the figure crops, and inspect.json.
    Inspect {
        /// The PDF.
        pdf: PathBuf,
        /// Where to write.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Writes a synthetic catalog: paper-like PDFs with planted duplicate panels (exact copies and
    /// edited ones, within and across documents) and the truth.json that lists them.
    Synth {
        /// Output folder.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Documents to write.
        #[arg(long, default_value_t = 200)]
        docs: u32,
        /// Seed (the same seed writes byte-identical files).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Real figure and blot images to draw panels from (the layout of ../shared/data); by
        /// default ../shared/data when it exists. Pass an empty string for procedural panels only.
        #[arg(long, value_name = "DIR")]
        real_images: Option<String>,
    },
    /// Scores the matches of the store (and the pHash baseline) against a synthetic catalog's
    /// truth.json: precision, recall and F1 overall, per edit and per intra/cross-document, and the
    /// precision-recall curve. Ingest the catalog into the same --data-dir first.
    Eval {
        /// The catalog's truth.json.
        #[arg(long, value_name = "FILE")]
        truth: PathBuf,
        /// Where to write the JSON report (default: DATA_DIR/eval.json).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Also write the table as Markdown here (e.g. benches/accuracy.md).
        #[arg(long, value_name = "FILE")]
        markdown: Option<PathBuf>,
        /// The pHash baseline reports pairs whose hashes differ in at most this many of 64 bits.
        #[arg(long, default_value_t = 10)]
        phash_bits: u32,
    },
    /// Prints the matches in the store: JSON lines (one object per match) or a table.
    Matches {
        /// Only matches that geometric verification confirmed.
        #[arg(long)]
        verified: bool,
        /// Also matches kept out of the stream (boilerplate: logos, journal banners).
        #[arg(long)]
        include_suppressed: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = MatchFormat::Jsonl)]
        format: MatchFormat,
    },
    /// Screens one PDF against the index and prints its matches as JSON lines, with an evidence
    /// bundle; the PDF is not added to the store unless --add.
    Check {
        /// The PDF.
        pdf: PathBuf,
        /// Also record it (as an ingest would).
        #[arg(long)]
        add: bool,
        /// Where to write the evidence bundle (default: DATA_DIR/check/<document id>).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Re-embeds the stored panels with the configured embedder and rebuilds the index from the
    /// store (after changing `[embed] model`, or to repair an index). Recorded matches are kept.
    Reindex,
    /// Compares two image files as the match stage compares two panels of different documents
    /// (embedding similarity in the best of eight orientations, then geometric verification) and
    /// prints the relation as one JSON object: verified or not, transform, regions, correlations.
    Compare {
        /// The first image (PNG or JPEG).
        first: PathBuf,
        /// The second image, related to the first.
        second: PathBuf,
    },
    /// Writes the evidence report: a bundle per verified match and an index.html.
    Report {
        /// Where to write.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Include matches that verification refused.
        #[arg(long)]
        all: bool,
    },
    /// Trains the learned copy-detection embedder (SSCD-style: two strongly edited views of each
    /// panel are positives, the rest of the batch negatives, plus a KoLeo regulariser) on
    /// procedural panels and the real images of --real-data, logging loss and held-out retrieval
    /// against the classical descriptor; writes safetensors and a model card (.md) beside them.
    Train {
        /// The weights file to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Optimiser steps (at most, with --minutes).
        #[arg(long, default_value_t = 1600)]
        steps: usize,
        /// Train for about this many minutes of optimiser steps: after 50 steps the run's length
        /// is fixed at what fits (at most --steps); the model card gives the --steps that repeat
        /// it. Loading and held-out evaluations come on top.
        #[arg(long, value_name = "MINUTES")]
        minutes: Option<f64>,
        /// Panels per batch (each gives two views).
        #[arg(long, default_value_t = 32)]
        batch: usize,
        /// Model shape.
        #[arg(long, value_enum, default_value_t = PresetArg::Small)]
        preset: PresetArg,
        /// Input side in pixels (default: the preset's).
        #[arg(long)]
        side: Option<usize>,
        /// Seed of weights, panels, edits and the held-out split.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Real images to train on (the layout of ../shared/data); by default ../shared/data when
        /// it exists. Pass an empty string for procedural panels only.
        #[arg(long, value_name = "DIR")]
        real_data: Option<String>,
        /// Where to train: auto, cpu, cuda or cuda:N.
        #[arg(long, default_value = "auto")]
        device: String,
        /// Peak learning rate (AdamW).
        #[arg(long, default_value_t = 3e-3)]
        lr: f64,
        /// AdamW weight decay.
        #[arg(long, default_value_t = 1e-4)]
        weight_decay: f64,
        /// Linear warm-up steps before the cosine decay.
        #[arg(long, default_value_t = 100)]
        warmup: usize,
        /// InfoNCE temperature (SSCD: 0.05; 0.1 learns faster from scratch at small batches).
        #[arg(long, default_value_t = 0.1)]
        temperature: f64,
        /// KoLeo (entropy) regulariser weight (SSCD: 30, for batches of 4096; at 64 views it
        /// outweighs InfoNCE and positives stop converging).
        #[arg(long, default_value_t = 3.0)]
        entropy_weight: f64,
        /// Steps between loss lines.
        #[arg(long, default_value_t = 50)]
        log_every: usize,
        /// Steps between held-out evaluations (0 = only at the end).
        #[arg(long, default_value_t = 400)]
        eval_every: usize,
        /// Procedural held-out panels (and as many distractors); real queries are capped at it.
        #[arg(long, default_value_t = 200)]
        held_out: usize,
        /// Share of real hosts held out besides the evaluation catalogs'.
        #[arg(long, default_value_t = 0.2)]
        held_out_share: f32,
        /// Catalogs (SEED:DOCS of `panelscope synth`) whose real panels are never trained on;
        /// repeatable. Default: the accuracy benchmark's (11:200) and the tuning catalog (7:200).
        #[arg(long = "exclude-catalog", value_name = "SEED:DOCS", value_parser = train::parse_catalog, default_values = ["11:200", "7:200"])]
        exclude_catalogs: Vec<(u64, u32)>,
        /// Store f32 weights instead of f16.
        #[arg(long)]
        f32: bool,
    },
    /// Serves one stage over stdin/stdout for a process pool (started by panelscope itself).
    #[command(hide = true)]
    Worker {
        /// Which stage to serve.
        kind: WorkerKind,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum MatchFormat {
    /// One JSON object per line.
    Jsonl,
    /// An aligned table.
    Table,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PresetArg {
    /// The shipped CPU embedder.
    Small,
    /// A tiny model for smoke tests.
    Tiny,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum WorkerKind {
    /// The demo's payload hasher.
    Checksum,
    /// Sends each payload back as it came (tests of large answers).
    Echo,
    /// Opens documents with pdfium.
    Probe,
    /// Renders pages with pdfium.
    Render,
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

/// Serves one stage over stdin/stdout for a parent's process pool.
fn serve_worker(kind: WorkerKind) -> Result<()> {
    use panelscope_stages::render::{ProbeWorker, RenderConfig, RenderWorker};
    match kind {
        WorkerKind::Checksum => {
            panelscope_engine::process::serve(demo::ChecksumStage).context("checksum worker")?
        }
        WorkerKind::Echo => {
            panelscope_engine::process::serve(demo::EchoStage).context("echo worker")?
        }
        WorkerKind::Probe => {
            let worker = ProbeWorker::new(RenderConfig::from_env().map_err(anyhow::Error::msg)?)
                .map_err(anyhow::Error::msg)?;
            panelscope_engine::process::serve(worker).context("probe worker")?
        }
        WorkerKind::Render => {
            let worker = RenderWorker::new(RenderConfig::from_env().map_err(anyhow::Error::msg)?)
                .map_err(anyhow::Error::msg)?;
            panelscope_engine::process::serve(worker).context("render worker")?
        }
    }
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")
}

/// Pages travel as multi-megabyte buffers between threads: keep freed ones in the heap for the
/// next page instead of returning them to the kernel and faulting fresh pages in every time, and
/// keep them in two arenas, not one per thread, so each buffer's memory is reused by whichever
/// thread allocates next (measured on the real-PDF corpus: peak RSS 235 → 146 MiB, same speed).
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts glibc's allocator thresholds; it is called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
    }
}

/// candle sizes its CPU thread pool from `RAYON_NUM_THREADS` and, when that is unset, counts the
/// physical cores by parsing /proc/cpuinfo on every operation, which cost an eighth of the learned
/// embedder's time. The pipeline already runs one embed worker per core, so each forward pass
/// gets one thread there; training and re-embedding are one loop each and get every core. An
/// explicit setting wins.
fn size_model_threads(command: &Command) {
    if std::env::var_os("RAYON_NUM_THREADS").is_some() {
        return;
    }
    let threads = match command {
        Command::Train { .. } | Command::Reindex => {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        }
        _ => 1,
    };
    // SAFETY: called from `main` before any thread is started.
    unsafe { std::env::set_var("RAYON_NUM_THREADS", threads.to_string()) };
}

/// Commands that only print (no worker processes, whose pipes must report a dead reader as an
/// error) end quietly when their reader goes away, as `panelscope matches | head` expects.
fn exit_quietly_on_closed_stdout(command: &Command) {
    if matches!(command, Command::Matches { .. } | Command::Eval { .. }) {
        // SAFETY: called from `main` before any thread is started; restores the default action.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
}

fn main() -> Result<()> {
    tune_allocator();
    let cli = Cli::parse();
    exit_quietly_on_closed_stdout(&cli.command);
    size_model_threads(&cli.command);
    telemetry::init_logging();
    match &cli.command {
        Command::Worker { kind } => serve_worker(*kind)?,
        Command::Compare { first, second } => {
            let settings = settings(&cli)?;
            let comparison = compare::run(&settings, first, second)?;
            println!("{}", serde_json::to_string(&comparison)?);
        }
        Command::Reindex => {
            let settings = settings(&cli)?;
            let outcome = reindex::run(&settings)?;
            println!(
                "{}: {} panels embedded with {}{}, {} panels indexed ({} vectors)",
                outcome.index.display(),
                outcome.embedded,
                outcome.model,
                if outcome.unreadable > 0 {
                    format!(" ({} with unreadable pixels skipped)", outcome.unreadable)
                } else {
                    String::new()
                },
                outcome.indexed,
                outcome.vectors
            );
        }
        Command::Check { pdf, add, out } => {
            let settings = settings(&cli)?;
            let program =
                std::env::current_exe().context("cannot locate the panelscope executable")?;
            let runtime = runtime()?;
            let outcome = runtime.block_on(ingest::check(&settings, pdf, *add, program.clone()))?;
            for m in &outcome.matches {
                println!("{}", matches::to_json(m));
            }
            let id = panelscope_stages::units::DocumentId::of_bytes(&std::fs::read(pdf)?);
            let out = out
                .clone()
                .unwrap_or_else(|| settings.data_dir.join("check").join(id.short()));
            let index = runtime.block_on(report::write(
                &settings,
                &outcome.store,
                &outcome.cache,
                &outcome.matches,
                &out,
                &program,
            ))?;
            eprintln!(
                "{}: {} verified match(es){}; evidence: {}",
                pdf.display(),
                outcome.matches.len(),
                if outcome.already_recorded {
                    " (already in the store)"
                } else if *add {
                    " (added to the store)"
                } else {
                    ""
                },
                index.display()
            );
        }
        Command::Report { out, all } => {
            let settings = settings(&cli)?;
            let program =
                std::env::current_exe().context("cannot locate the panelscope executable")?;
            let store = panelscope_stages::store::Store::open(&settings.data_dir)?;
            let found = store.matches(!*all, false)?;
            let cache = panelscope_stages::index::PanelCache::new(ingest::SMALL_PANEL_CACHE_BYTES);
            let index = runtime()?.block_on(report::write(
                &settings, &store, &cache, &found, out, &program,
            ))?;
            println!("{} match(es); report: {}", found.len(), index.display());
        }
        Command::Matches {
            verified,
            include_suppressed,
            format,
        } => {
            let settings = settings(&cli)?;
            let store = panelscope_stages::store::Store::open(&settings.data_dir)?;
            let found = store.matches(*verified, *include_suppressed)?;
            match format {
                MatchFormat::Jsonl => {
                    for m in &found {
                        println!("{}", matches::to_json(m));
                    }
                }
                MatchFormat::Table => print!("{}", matches::table(&found)),
            }
        }
        Command::Eval {
            truth,
            out,
            markdown,
            phash_bits,
        } => {
            let settings = settings(&cli)?;
            let store = panelscope_stages::store::Store::open(&settings.data_dir)?;
            let report = eval::evaluate(truth, &store, *phash_bits)?;
            if !report.missing_documents.is_empty() {
                eprintln!(
                    "warning: {} of the catalog's documents are not complete in {} (ingest the catalog first): {}",
                    report.missing_documents.len(),
                    store.path().display(),
                    report
                        .missing_documents
                        .iter()
                        .take(5)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            print!("{}", eval::table(&report.scores));
            println!(
                "\npanel classes under the planted pairs ({} panels), by the kind of their source:",
                report.classes.panels
            );
            print!("{}", eval::class_table(&report.classes));
            let out = out
                .clone()
                .unwrap_or_else(|| settings.data_dir.join("eval.json"));
            std::fs::write(&out, serde_json::to_vec_pretty(&report)?)
                .with_context(|| format!("cannot write {}", out.display()))?;
            println!("report: {}", out.display());
            if let Some(path) = markdown {
                std::fs::write(path, eval::markdown(&report.scores))
                    .with_context(|| format!("cannot write {}", path.display()))?;
                println!("table: {}", path.display());
            }
        }
        Command::Synth {
            out,
            docs,
            seed,
            real_images,
        } => {
            let real_images = match real_images {
                Some(dir) if dir.is_empty() => None,
                Some(dir) => Some(PathBuf::from(dir)),
                None => Some(PathBuf::from("../shared/data")).filter(|dir| dir.is_dir()),
            };
            let options = synth::SynthOptions {
                out: out.clone(),
                docs: *docs,
                seed: *seed,
                real_images,
            };
            let started = std::time::Instant::now();
            let summary = synth::run(&options)?;
            println!(
                "wrote {} documents with {} planted pairs and {} hard negatives to {} in {:.1}s (truth: {})",
                summary.documents,
                summary.pairs,
                summary.hard_negatives,
                out.display(),
                started.elapsed().as_secs_f64(),
                out.join("truth.json").display()
            );
        }
        Command::Train {
            out,
            steps,
            minutes,
            batch,
            preset,
            side,
            seed,
            real_data,
            device,
            lr,
            weight_decay,
            warmup,
            temperature,
            entropy_weight,
            log_every,
            eval_every,
            held_out,
            held_out_share,
            exclude_catalogs,
            f32,
        } => {
            let real_data = match real_data {
                Some(dir) if dir.is_empty() => None,
                Some(dir) => Some(PathBuf::from(dir)),
                None => {
                    Some(PathBuf::from("../shared/data")).filter(|dir| train::looks_like_data(dir))
                }
            };
            let options = train::TrainOptions {
                out: out.clone(),
                steps: *steps,
                time_budget: minutes
                    .map(|m| Duration::try_from_secs_f64(m * 60.0))
                    .transpose()
                    .context("--minutes must be a positive number")?,
                batch: *batch,
                preset: match preset {
                    PresetArg::Small => train::Preset::Small,
                    PresetArg::Tiny => train::Preset::Tiny,
                },
                input_side: *side,
                seed: *seed,
                real_data,
                device: device.parse().map_err(anyhow::Error::msg)?,
                learning_rate: *lr,
                weight_decay: *weight_decay,
                warmup_steps: *warmup,
                temperature: *temperature,
                entropy_weight: *entropy_weight,
                log_every: (*log_every).max(1),
                eval_every: *eval_every,
                held_out: *held_out,
                held_out_share: *held_out_share,
                exclude_catalogs: exclude_catalogs.clone(),
                half: !*f32,
                command: std::iter::once("panelscope".to_string())
                    .chain(std::env::args().skip(1))
                    .collect::<Vec<_>>()
                    .join(" "),
            };
            let summary = train::run(&options)?;
            println!("{}", summary.comparison);
            println!(
                "wrote {} ({}) and its model card {}",
                summary.weights.display(),
                summary.fingerprint,
                summary.card.display()
            );
        }
        Command::Inspect { pdf, out } => {
            let settings = settings(&cli)?;
            let program =
                std::env::current_exe().context("cannot locate the panelscope executable")?;
            let pages = runtime()?.block_on(inspect::run(&settings, pdf, out, program))?;
            for page in &pages {
                let panels: usize = page.figures.iter().map(|f| f.panels.len()).sum();
                println!(
                    "page {:>3}: {} figures, {panels} panels  {}",
                    page.page,
                    page.figures.len(),
                    page.overlay.display()
                );
            }
            println!("listing: {}", out.join("inspect.json").display());
        }
        Command::Ingest {
            paths,
            workers,
            retry_failed,
            no_match,
        } => {
            let mut settings = settings(&cli)?;
            settings.scan.retry_failed |= *retry_failed;
            let program =
                std::env::current_exe().context("cannot locate the panelscope executable")?;
            let request = ingest::IngestRequest {
                inputs: paths.clone(),
                workers: *workers,
                screen: !*no_match,
            };
            let outcome = runtime()?.block_on(async {
                if let Some(addr) = settings.metrics.socket_addr()? {
                    telemetry::serve_metrics(addr)?;
                }
                ingest::run(&settings, request, program).await
            })?;
            print!("{}", outcome.summary);
            let c = &outcome.counts;
            println!(
                "store {}: {} documents complete, {} failed, {} pages, {} figures, {} panels, {} dead letters",
                outcome.store.display(),
                c.complete,
                c.failed,
                c.pages,
                c.figures,
                c.panels,
                c.dead_letters
            );
            if !outcome.failures.is_empty() {
                println!("failed in this run:");
                for (path, reason) in &outcome.failures {
                    println!("  {path}: {reason}");
                }
            }
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
