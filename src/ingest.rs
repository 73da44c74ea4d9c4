//! `panelscope ingest`: the front half of the pipeline, from a catalog of PDFs to figures and
//! panels in the provenance store (scan → probe → paginate → render → figures → panels → record).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use panelscope_engine::{GraphBuilder, RunSummary, Stream, from_fn};
use panelscope_stages::paginate::Paginate;
use panelscope_stages::record::{IngestProgress, RecordConfig};
use panelscope_stages::render::RenderConfig;
use panelscope_stages::scan::{ScanStageConfig, catalog};
use panelscope_stages::store::{Store, StoreCounts};
use panelscope_stages::units::{DocumentJob, PagePanels};

use crate::config::Settings;

/// What to ingest.
#[derive(Debug, Clone)]
pub struct IngestRequest {
    /// Files, folders and list files.
    pub inputs: Vec<PathBuf>,
    /// Render worker processes (default: one per core).
    pub workers: Option<usize>,
}

/// What an ingest did.
#[derive(Debug)]
pub struct IngestOutcome {
    /// The engine's per-stage summary.
    pub summary: RunSummary,
    /// Totals of the whole store after the run.
    pub counts: StoreCounts,
    /// Documents that failed in this run: path and reason.
    pub failures: Vec<(String, String)>,
    /// The store file.
    pub store: PathBuf,
}

/// Adds probe → paginate → render → figures → panels after `jobs`; `program` is the panelscope
/// executable whose `worker` subcommands the pools start.
pub fn screen_documents(
    graph: &mut GraphBuilder,
    jobs: Stream<DocumentJob>,
    settings: &Settings,
    render: &RenderConfig,
    program: &std::path::Path,
    workers: Option<usize>,
) -> Stream<PagePanels> {
    let infos = graph.stage(
        "probe",
        jobs,
        render.probe_pool(program),
        settings.node("probe"),
    );
    let pages = graph.stage(
        "paginate",
        infos,
        from_fn(|_| Ok(Paginate)),
        settings.node("paginate"),
    );
    let mut render_node = settings.node("render");
    if let Some(workers) = workers {
        render_node.workers = workers;
    }
    let rendered = graph.stage("render", pages, render.render_pool(program), render_node);
    let figures = graph.stage(
        "figures",
        rendered,
        settings.figures.clone(),
        settings.node("figures"),
    );
    graph.stage(
        "panels",
        figures,
        settings.panels.clone(),
        settings.node("panels"),
    )
}

/// Runs an ingest to the end (or to a drain on SIGINT/SIGTERM).
pub async fn run(
    settings: &Settings,
    request: IngestRequest,
    program: PathBuf,
) -> Result<IngestOutcome> {
    for input in &request.inputs {
        if !input.exists() {
            bail!("{}: no such file or directory", input.display());
        }
    }
    let render = settings.render.resolved().map_err(anyhow::Error::msg)?;
    let store = Arc::new(Store::open(&settings.data_dir)?);
    let progress = Arc::new(IngestProgress::default());
    let discovered = Arc::new(AtomicU64::new(0));

    let mut graph = GraphBuilder::new("ingest");
    graph.dead_letters(store.clone());
    graph
        .shutdown_flag()
        .listen_for_signals()
        .context("cannot listen for SIGINT/SIGTERM")?;
    let counter = Arc::clone(&discovered);
    let paths =
        catalog(request.inputs.clone(), settings.scan.extensions.clone()).inspect(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
        });
    let paths = graph.source("catalog", paths);
    let jobs = graph.stage(
        "scan",
        paths,
        ScanStageConfig::new(settings.scan.clone(), Arc::clone(&store)),
        settings.node("scan"),
    );
    let pages = screen_documents(
        &mut graph,
        jobs,
        settings,
        &render,
        &program,
        request.workers,
    );
    graph.sink(
        "record",
        pages,
        RecordConfig::new(Arc::clone(&store), Arc::clone(&progress)),
        settings.node("record"),
    );

    let started_at = now_unix_ms();
    tracing::info!(inputs = request.inputs.len(), store = %store.path().display(), "Ingest started.");
    let reporter = Reporter::start(Arc::clone(&progress), discovered);
    let result = graph.build()?.run().await;
    reporter.finish();
    let summary = result?;
    let counts = store.counts()?;
    let failures = store.read(|conn| {
        let mut statement = conn.prepare(
            "SELECT path, COALESCE(error, '') FROM documents WHERE status = 'failed' AND recorded_at >= ?1 ORDER BY path",
        )?;
        let rows = statement.query_map([started_at], |row| Ok((row.get(0)?, row.get(1)?)))?;
        rows.collect()
    })?;
    Ok(IngestOutcome {
        summary,
        counts,
        failures,
        store: store.path().to_path_buf(),
    })
}

fn now_unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Shows progress: a bar on a terminal, a log line every ten seconds otherwise.
struct Reporter {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Reporter {
    fn start(progress: Arc<IngestProgress>, discovered: Arc<AtomicU64>) -> Self {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || {
                let terminal = std::io::stderr().is_terminal();
                let bar = terminal.then(|| {
                    let bar = indicatif::ProgressBar::new(0);
                    bar.set_style(
                        indicatif::ProgressStyle::with_template(
                            "{spinner} {pos}/{len} documents [{bar:30}] {msg} ETA {eta}",
                        )
                        .expect("valid template")
                        .progress_chars("=> "),
                    );
                    bar
                });
                let started = Instant::now();
                let mut last_log = Instant::now();
                while !stopped.load(Ordering::Acquire) {
                    std::thread::sleep(Duration::from_millis(200));
                    let done = progress.documents.load(Ordering::Relaxed)
                        + progress.failed.load(Ordering::Relaxed);
                    let pages = progress.pages.load(Ordering::Relaxed);
                    let rate = pages as f64 / started.elapsed().as_secs_f64().max(1e-3);
                    let seen = discovered.load(Ordering::Relaxed);
                    if let Some(bar) = &bar {
                        bar.set_length(seen);
                        bar.set_position(done);
                        bar.set_message(format!("{pages} pages ({rate:.1} pages/s)"));
                    } else if last_log.elapsed() >= Duration::from_secs(10) {
                        last_log = Instant::now();
                        tracing::info!(
                            documents = done,
                            discovered = seen,
                            pages,
                            pages_per_s = format!("{rate:.1}"),
                            "Ingest progress."
                        );
                    }
                }
                if let Some(bar) = bar {
                    bar.finish_and_clear();
                }
            })
            .ok();
        Self { stop, thread }
    }

    fn finish(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
