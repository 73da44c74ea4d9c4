//! `panelscope ingest`: the front half of the pipeline, from a catalog of PDFs to figures and
//! panels in the provenance store (scan → probe → paginate → render → figures → panels → record).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use panelscope_engine::{GraphBuilder, RunSummary, Stream, from_fn, reorder};
use panelscope_models::Embedder;
use panelscope_stages::assemble::AssembleConfig;
use panelscope_stages::embed::EmbedStageConfig;
use panelscope_stages::index::{IndexStageConfig, PanelCache, ShardedIndex};
use panelscope_stages::paginate::Paginate;
use panelscope_stages::parts::PartIndex;
use panelscope_stages::record::{IngestProgress, RecordConfig};
use panelscope_stages::render::RenderConfig;
use panelscope_stages::scan::{ScanStageConfig, catalog};
use panelscope_stages::store::{Store, StoreCounts};
use panelscope_stages::units::{DocumentEmbedded, DocumentMatched, MatchRecord};
use panelscope_stages::units::{DocumentJob, PagePanels};
use panelscope_stages::verify::VerifyStageConfig;

use crate::config::Settings;

/// Bound of the thumbnails (and the keyed blots' gray pixels) held for panels between the index
/// and the store (they are forgotten once recorded; this only caps what documents failing after
/// indexing could leave behind).
const PANEL_CACHE_BYTES: usize = 256 << 20;

/// Cache for one-off reads (`check`, `report`): every panel is in the store already.
pub const SMALL_PANEL_CACHE_BYTES: usize = 16 << 20;

/// What to ingest.
#[derive(Debug, Clone)]
pub struct IngestRequest {
    /// Files, folders and list files.
    pub inputs: Vec<PathBuf>,
    /// Render worker processes (default: one per core).
    pub workers: Option<usize>,
    /// Embed, index and match the panels (false: record figures and panels only).
    pub screen: bool,
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

/// The back half of the pipeline, shared by `ingest` and `check`: assemble → embed → index →
/// verify → record.
pub struct Back {
    store: Arc<Store>,
    embedder: Arc<dyn Embedder>,
    windows: Vec<[f32; 4]>,
    indexed_windows: Vec<[f32; 4]>,
    tilts: Vec<f32>,
    index: ShardedIndex,
    parts: Option<PartIndex>,
    cache: Arc<PanelCache>,
}

impl Back {
    /// Opens the index for the configured embedder and reconciles it with the store.
    pub fn open(settings: &Settings, store: Arc<Store>) -> Result<Self> {
        let embedder = settings.embed.embedder().map_err(anyhow::Error::msg)?;
        let windows = settings.embed.windows().map_err(anyhow::Error::msg)?;
        let indexed_windows = settings
            .embed
            .indexed_windows()
            .map_err(anyhow::Error::msg)?;
        let tilts = settings.embed.tilts().map_err(anyhow::Error::msg)?;
        let dir = settings.data_dir.join("index");
        let mut index = settings.open_index(embedder.as_ref())?;
        let (added, removed) = index.reconcile(&store).map_err(anyhow::Error::msg)?;
        if added + removed > 0 {
            tracing::warn!(added, removed, index = %dir.display(), "Index reconciled with the store after an interrupted run.");
        }
        // The index of parts is read from its files and brought level with the store (or built
        // from the store): it holds what the store does.
        let parts = if settings.index.search_parts {
            let parts = PartIndex::open(&store, &settings.index.part_search(), Some(&dir))
                .map_err(anyhow::Error::msg)?;
            let opened = parts.opened();
            if opened.removed > 0 {
                tracing::warn!(
                    removed = opened.removed,
                    "Index of parts: pictures of documents the store never recorded left out after an interrupted run."
                );
            }
            tracing::debug!(
                pictures = parts.pictures(),
                keys = parts.len(),
                loaded = opened.loaded,
                added = opened.added,
                "Index of parts opened."
            );
            Some(parts)
        } else {
            None
        };
        Ok(Self {
            store,
            embedder,
            windows,
            indexed_windows,
            tilts,
            index,
            parts,
            cache: Arc::new(PanelCache::new(PANEL_CACHE_BYTES)),
        })
    }

    /// The panel cache the stages share (thumbnails of panels not yet recorded).
    pub fn cache(&self) -> Arc<PanelCache> {
        Arc::clone(&self.cache)
    }

    /// Adds the stages after `pages`; returns the verified matches. With `persist`, documents and
    /// their vectors are recorded; without, they are only compared with what is recorded and the
    /// returned stream carries every verified match (`check`).
    pub fn attach(
        self,
        graph: &mut GraphBuilder,
        pages: Stream<PagePanels>,
        settings: &Settings,
        persist: bool,
        progress: Option<Arc<IngestProgress>>,
    ) -> Stream<MatchRecord> {
        self.attach_with(graph, pages, settings, persist, true, progress)
    }

    /// [`Back::attach`]; without `screen`, documents are recorded without vectors or matches
    /// (the baseline the ingest bench compares screening against).
    pub fn attach_with(
        self,
        graph: &mut GraphBuilder,
        pages: Stream<PagePanels>,
        settings: &Settings,
        persist: bool,
        screen: bool,
        progress: Option<Arc<IngestProgress>>,
    ) -> Stream<MatchRecord> {
        let model = self.embedder.fingerprint().to_string();
        let hold = settings.scan.order_hold;
        let assemble = AssembleConfig::new(Arc::clone(&self.store), graph.sequences(), hold)
            .expect("the store answered a moment ago");
        let documents = graph.stage("assemble", pages, assemble, settings.node("assemble"));
        let classify = |graph: &mut GraphBuilder, documents: Stream<DocumentEmbedded>| {
            graph.stage(
                "classify",
                documents,
                settings.classify.clone(),
                settings.node("classify"),
            )
        };
        if !screen {
            let unscreened = graph.stage(
                "unscreened",
                documents,
                panelscope_engine::map(|document: &panelscope_stages::units::DocumentPanels| {
                    let mut document = document.clone();
                    document.panels.iter_mut().for_each(|p| p.raster = None);
                    let vectors = vec![None; document.panels.len()];
                    Ok::<_, panelscope_engine::StageError>(DocumentEmbedded {
                        document,
                        vectors,
                        parts: Vec::new(),
                    })
                }),
                settings.node("verify"),
            );
            let classified = classify(graph, unscreened);
            let unmatched = graph.stage(
                "unmatched",
                classified,
                panelscope_engine::map(|embedded: &DocumentEmbedded| {
                    Ok::<_, panelscope_engine::StageError>(DocumentMatched {
                        boilerplate: vec![false; embedded.document.panels.len()],
                        embedded: embedded.clone(),
                        matches: Vec::new(),
                    })
                }),
                settings.node("verify"),
            );
            let progress = progress.unwrap_or_default();
            return graph.stage(
                "record",
                unmatched,
                RecordConfig::new(Arc::clone(&self.store), progress, &model),
                settings.node("record"),
            );
        }
        let embedded = graph.stage(
            "embed",
            documents,
            EmbedStageConfig::new(
                Arc::clone(&self.embedder),
                self.windows.clone(),
                self.indexed_windows.clone(),
                self.tilts.clone(),
            ),
            settings.node("embed"),
        );
        // Classification reads the thumbnails: after embed, documents no longer carry the
        // full-resolution pixels that passing them through one more stage would copy.
        let embedded = classify(graph, embedded);
        let mut index = IndexStageConfig::new(
            settings.index.clone(),
            self.index,
            Arc::clone(&self.cache),
            Arc::clone(&self.store),
            persist,
        );
        if let Some(parts) = self.parts {
            index = index.with_parts(parts);
        }
        let embedded = graph.stage(
            "order_index",
            embedded,
            reorder(graph.sequences(), hold, DocumentEmbedded::position),
            settings.node("order_index"),
        );
        let candidates = graph.stage("index", embedded, index, settings.node("index"));
        let verify = VerifyStageConfig::new(
            settings.verify.clone(),
            Arc::clone(&self.cache),
            Arc::clone(&self.store),
        );
        let matched = graph.stage("verify", candidates, verify, settings.node("verify"));
        let matched = graph.stage(
            "order_record",
            matched,
            reorder(graph.sequences(), hold, |document: &DocumentMatched| {
                document.embedded.position()
            }),
            settings.node("order_record"),
        );
        if persist {
            let progress = progress.unwrap_or_default();
            graph.stage(
                "record",
                matched,
                RecordConfig::new(Arc::clone(&self.store), progress, &model)
                    .forgetting(Arc::clone(&self.cache)),
                settings.node("record"),
            )
        } else {
            graph.stage(
                "collect",
                matched,
                from_fn(|_| Ok(Unrecorded)),
                settings.node("record"),
            )
        }
    }
}

/// Passes on every verified, unsuppressed match of documents that are not recorded.
struct Unrecorded;

impl panelscope_engine::Stage for Unrecorded {
    type In = DocumentMatched;
    type Out = MatchRecord;

    fn process(
        &mut self,
        batch: &[DocumentMatched],
    ) -> Vec<panelscope_engine::ItemResult<MatchRecord>> {
        batch
            .iter()
            .map(|document| {
                Ok(panelscope_engine::Outputs::Many(
                    document.streamed_matches(),
                ))
            })
            .collect()
    }
}

/// The end of the match stream in an ingest: each verified match is logged (the store has it).
struct MatchLog;

impl panelscope_engine::Stage for MatchLog {
    type In = MatchRecord;
    type Out = ();

    fn process(&mut self, batch: &[MatchRecord]) -> Vec<panelscope_engine::ItemResult<()>> {
        batch
            .iter()
            .map(|m| {
                tracing::info!(a = %format!("{} p{}", m.a.path, m.a.page), b = %format!("{} p{}", m.b.path, m.b.page), similarity = m.similarity, kind = %m.kind, "Match.");
                Ok(panelscope_engine::Outputs::None)
            })
            .collect()
    }
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
        ScanStageConfig::new(settings.scan.clone(), Arc::clone(&store), graph.sequences()),
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
    let back = Back::open(settings, Arc::clone(&store))?;
    let matches = back.attach_with(
        &mut graph,
        pages,
        settings,
        true,
        request.screen,
        Some(Arc::clone(&progress)),
    );
    graph.sink(
        "stream",
        matches,
        from_fn(|_| Ok(MatchLog)),
        settings.node("stream"),
    );

    let started_at = now_unix_ms();
    tracing::info!(inputs = request.inputs.len(), store = %store.path().display(), "Ingest started.");
    let reporter = Reporter::start(Arc::clone(&progress), Arc::clone(&store), discovered);
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
    fn start(progress: Arc<IngestProgress>, store: Arc<Store>, discovered: Arc<AtomicU64>) -> Self {
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
                    let done =
                        progress.documents.load(Ordering::Relaxed) + store.failures_this_run();
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

/// What `check` found for one PDF.
pub struct CheckOutcome {
    /// Verified matches of its panels.
    pub matches: Vec<MatchRecord>,
    /// Thumbnails of its panels (it is not in the store unless added).
    pub cache: Arc<PanelCache>,
    /// The store.
    pub store: Arc<Store>,
    /// Whether it was already in the store (its recorded matches are returned).
    pub already_recorded: bool,
}

/// Screens one PDF against the index; with `add` it is recorded like an ingested document.
pub async fn check(
    settings: &Settings,
    pdf: &std::path::Path,
    add: bool,
    program: PathBuf,
) -> Result<CheckOutcome> {
    let bytes = std::fs::read(pdf).with_context(|| format!("cannot read {}", pdf.display()))?;
    let id = panelscope_stages::units::DocumentId::of_bytes(&bytes);
    let store = Arc::new(Store::open(&settings.data_dir)?);
    if store.status(&id)? == Some(panelscope_stages::store::DocumentStatus::Complete) {
        let matches = store
            .matches(true, false)?
            .into_iter()
            .filter(|m| m.a.doc == id || m.b.doc == id)
            .collect();
        return Ok(CheckOutcome {
            matches,
            cache: Arc::new(PanelCache::new(SMALL_PANEL_CACHE_BYTES)),
            store,
            already_recorded: true,
        });
    }
    let render = settings.render.resolved().map_err(anyhow::Error::msg)?;
    let job = DocumentJob {
        id,
        path: pdf.to_path_buf(),
        size: bytes.len() as u64,
        position: 0,
    };
    let mut graph = GraphBuilder::new("check");
    graph.dead_letters(store.clone());
    let jobs = graph.source("document", [job]);
    let pages = screen_documents(&mut graph, jobs, settings, &render, &program, None);
    let back = Back::open(settings, Arc::clone(&store))?;
    let cache = back.cache();
    let matches = back.attach(&mut graph, pages, settings, add, None);
    let (sink, collected) = panelscope_engine::testing::collect();
    graph.sink("matches", matches, sink, settings.node("stream"));
    graph.build()?.run().await?;
    if let Some(panelscope_stages::store::DocumentStatus::Failed(reason)) = store.status(&id)? {
        bail!("{}: {reason}", pdf.display());
    }
    let matches = collected.lock().unwrap_or_else(|p| p.into_inner()).clone();
    Ok(CheckOutcome {
        matches,
        cache,
        store,
        already_recorded: false,
    })
}
