//! Search latency and throughput of `ShardedIndex` at 1, 4 and 16 shards beside one plain FAISS
//! `IDMap,Flat` inner-product index over the same random unit vectors and queries, in one run;
//! checks that every sharded top-10 equals the flat one and writes the table to benches/index.md.
//!
//! Run: `cargo bench --bench index` (10^5 and 10^6 vectors, about 5 minutes on 2 cores).
//! `PANELSCOPE_BENCH_QUICK=1` runs 10^4 and 10^5 and leaves benches/index.md alone;
//! `PANELSCOPE_BENCH_SIZES=20000,300000` picks the sizes.

use std::fmt::Write as _;
use std::os::raw::{c_char, c_int};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use faiss::index::IndexImpl;
use faiss::{Idx, Index, MetricType, index_factory};
use panelscope_stages::index::{IndexConfig, Neighbours, ShardedIndex};

/// The default embedder's dimension.
const DIMENSION: usize = 384;
const K: usize = 10;
/// Queries searched in one call for the throughput column, and the pool the single queries are
/// taken from.
const BATCH: usize = 256;
const SHARDS: [usize; 3] = [1, 4, 16];
/// Vectors added per call, so that building never holds a second full copy of the vectors.
const ADD_CHUNK: usize = 65_536;
/// Inner products closer than this are ties: FAISS and the shard merge may order them either way.
const TIE: f32 = 1e-5;
const SEED: u64 = 0x5EED_1DE7;

// SAFETY: the two OpenMP calls only read or set the calling thread's OpenMP thread count; the
// FAISS C API returns a pointer to a static NUL-terminated string. The static FAISS build links
// both.
unsafe extern "C" {
    safe fn omp_set_num_threads(threads: c_int);
    safe fn omp_get_max_threads() -> c_int;
    safe fn faiss_get_version() -> *const c_char;
}

fn faiss_version() -> String {
    // SAFETY: see the declaration: a static C string, never freed.
    unsafe { std::ffi::CStr::from_ptr(faiss_get_version()) }
        .to_string_lossy()
        .into_owned()
}

/// SplitMix64: deterministic and fast enough for 4·10^8 coordinates without a `rand` dependency.
struct SplitMix(u64);

impl SplitMix {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1]: never 0, so Box–Muller's logarithm stays finite.
    fn unit_interval(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal coordinates (Box–Muller, two at a time): a normalised Gaussian vector is
    /// uniform on the sphere, unlike a normalised uniform one.
    fn fill_gaussian(&mut self, out: &mut [f32]) {
        for pair in out.chunks_mut(2) {
            let radius = (-2.0 * self.unit_interval().ln()).sqrt();
            let angle = std::f64::consts::TAU * self.unit_interval();
            pair[0] = (radius * angle.cos()) as f32;
            if let Some(second) = pair.get_mut(1) {
                *second = (radius * angle.sin()) as f32;
            }
        }
    }
}

fn unit_vectors(n: usize, rng: &mut SplitMix) -> Vec<f32> {
    let mut vectors = vec![0.0f32; n * DIMENSION];
    for vector in vectors.chunks_exact_mut(DIMENSION) {
        rng.fill_gaussian(vector);
        panelscope_models::embedder::l2_normalize(vector);
    }
    vectors
}

/// Noisy copies of indexed vectors (cosine ≈ 0.89 to their source), like a reused panel looking
/// for its original; the ids of their sources come along for a sanity check of the flat index.
fn queries(vectors: &[f32], rng: &mut SplitMix) -> (Vec<f32>, Vec<i64>) {
    let n = vectors.len() / DIMENSION;
    let sigma = 0.5 / (DIMENSION as f32).sqrt();
    let mut queries = vec![0.0f32; BATCH * DIMENSION];
    let mut sources = Vec::with_capacity(BATCH);
    for query in queries.chunks_exact_mut(DIMENSION) {
        let source = (rng.next_u64() % n as u64) as usize;
        rng.fill_gaussian(query);
        for (q, v) in query
            .iter_mut()
            .zip(&vectors[source * DIMENSION..(source + 1) * DIMENSION])
        {
            *q = v + sigma * *q;
        }
        panelscope_models::embedder::l2_normalize(query);
        sources.push(id_of(source));
    }
    (queries, sources)
}

/// Row k has id k + 1: panel ids are SQLite rowids, which start at 1.
fn id_of(row: usize) -> i64 {
    row as i64 + 1
}

/// The two kinds of index, behind the call the bench times.
enum Subject {
    /// One FAISS index searched on the calling thread, with FAISS's own OpenMP threading.
    Flat(IndexImpl),
    Sharded(ShardedIndex),
}

impl Subject {
    fn build(shards: Option<usize>, vectors: &[f32], dir: &Path) -> Self {
        let mut subject = match shards {
            // The same factory, metric and ids as each shard of ShardedIndex.
            None => Subject::Flat(
                index_factory(
                    DIMENSION as u32,
                    &IndexConfig::default().factory,
                    MetricType::InnerProduct,
                )
                .expect("faiss index_factory"),
            ),
            Some(shards) => {
                let _ = std::fs::remove_dir_all(dir);
                let config = IndexConfig {
                    shards,
                    ..IndexConfig::default()
                };
                Subject::Sharded(
                    ShardedIndex::open(dir, "bench", DIMENSION, 1, &config).expect("open index"),
                )
            }
        };
        for (c, chunk) in vectors.chunks(ADD_CHUNK * DIMENSION).enumerate() {
            let ids: Vec<i64> = (0..chunk.len() / DIMENSION)
                .map(|k| id_of(c * ADD_CHUNK + k))
                .collect();
            match &mut subject {
                Subject::Flat(index) => {
                    let labels: Vec<Idx> = ids.iter().map(|&id| Idx::new(id as u64)).collect();
                    index.add_with_ids(chunk, &labels).expect("faiss add");
                }
                Subject::Sharded(index) => index.add(&ids, chunk).expect("sharded add"),
            }
        }
        subject
    }

    /// Neighbours in ShardedIndex's shape, so both pay for building the same result.
    fn search(&mut self, queries: &[f32]) -> Neighbours {
        match self {
            Subject::Flat(index) => {
                let found = index.search(queries, K).expect("faiss search");
                found
                    .labels
                    .chunks(K)
                    .zip(found.distances.chunks(K))
                    .map(|(labels, distances)| {
                        labels
                            .iter()
                            .zip(distances)
                            .filter_map(|(label, &d)| label.get().map(|id| (id as i64, d)))
                            .collect()
                    })
                    .collect()
            }
            Subject::Sharded(index) => index.search(queries, K).expect("sharded search"),
        }
    }
}

/// One row of the table: an index, and the OpenMP threads its caller's thread allows.
struct Contender {
    kind: String,
    subject: usize,
    /// Set on the calling thread around each search; `None` leaves FAISS's default (one thread
    /// per core). ShardedIndex sets one thread in each of its own search threads whatever this is.
    openmp_threads: Option<c_int>,
}

#[derive(Default)]
struct Measured {
    /// Seconds per single query, sorted.
    latencies: Vec<f64>,
    /// Seconds per batch, sorted.
    batches: Vec<f64>,
    /// Answers to the single queries, then to the batch.
    answers: Neighbours,
}

fn timed(
    subjects: &mut [Subject],
    contender: &Contender,
    default_threads: c_int,
    queries: &[f32],
) -> (f64, Neighbours) {
    omp_set_num_threads(contender.openmp_threads.unwrap_or(default_threads));
    let started = Instant::now();
    let hits = subjects[contender.subject].search(queries);
    let seconds = started.elapsed().as_secs_f64();
    omp_set_num_threads(default_threads);
    (seconds, hits)
}

/// Every contender answers each query in turn (the first one rotating), so that the load of
/// whatever else runs on the machine falls on all of them alike rather than on one block.
fn measure(
    subjects: &mut [Subject],
    contenders: &[Contender],
    queries: &[f32],
    singles: usize,
    rounds: usize,
) -> Vec<Measured> {
    let default_threads = omp_get_max_threads();
    let mut measured: Vec<Measured> = contenders.iter().map(|_| Measured::default()).collect();
    let order = |turn: usize| (0..contenders.len()).map(move |j| (turn + j) % contenders.len());
    // The first search faults the vectors in and starts OpenMP's and OpenBLAS's threads.
    for contender in contenders {
        std::hint::black_box(timed(
            subjects,
            contender,
            default_threads,
            &queries[..DIMENSION],
        ));
    }
    for (q, query) in queries.chunks_exact(DIMENSION).take(singles).enumerate() {
        for c in order(q) {
            let (seconds, hits) = timed(subjects, &contenders[c], default_threads, query);
            measured[c].latencies.push(seconds);
            measured[c].answers.extend(hits);
        }
    }
    let mut batches: Vec<Neighbours> = vec![Vec::new(); contenders.len()];
    for round in 0..rounds {
        for c in order(round) {
            let (seconds, hits) = timed(subjects, &contenders[c], default_threads, queries);
            measured[c].batches.push(seconds);
            batches[c] = hits;
        }
    }
    for (m, batch) in measured.iter_mut().zip(batches) {
        m.latencies.sort_by(f64::total_cmp);
        m.batches.sort_by(f64::total_cmp);
        m.answers.extend(batch);
    }
    measured
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[derive(Default)]
struct Agreement {
    same: usize,
    /// Different ids, but only where the inner products tie.
    tied: usize,
    differ: usize,
}

impl Agreement {
    fn of(answers: &Neighbours, reference: &Neighbours) -> Self {
        let mut agreement = Self::default();
        for (a, r) in answers.iter().zip(reference) {
            let ids = |hits: &Vec<(i64, f32)>| hits.iter().map(|h| h.0).collect::<Vec<_>>();
            if ids(a) == ids(r) {
                agreement.same += 1;
            } else if a.len() == r.len() && a.iter().zip(r).all(|(x, y)| (x.1 - y.1).abs() <= TIE) {
                agreement.tied += 1;
            } else {
                agreement.differ += 1;
            }
        }
        agreement
    }

    fn cell(&self) -> String {
        let total = self.same + self.tied + self.differ;
        let mut cell = format!("{:.3}", (self.same + self.tied) as f64 / total as f64);
        if self.tied > 0 {
            let _ = write!(cell, " ({} tied)", self.tied);
        }
        cell
    }
}

struct Row {
    vectors: usize,
    kind: String,
    p50_ms: f64,
    p99_ms: f64,
    batch_qps: f64,
    flat_p50_ms: f64,
    flat_qps: f64,
    agreement: Option<Agreement>,
}

fn power_of_ten(n: usize) -> String {
    let exponent = (n as f64).log10().round() as u32;
    if 10usize.pow(exponent) == n {
        format!("10^{exponent}")
    } else {
        n.to_string()
    }
}

fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| vectors | index | p50 ms | p99 ms | batch q/s | p50 × flat | q/s × flat \
         | top-10 = flat |\n|---|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for row in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {:.3} | {:.3} | {:.0} | {:.2} | {:.2} | {} |",
            power_of_ten(row.vectors),
            row.kind,
            row.p50_ms,
            row.p99_ms,
            row.batch_qps,
            row.flat_p50_ms / row.p50_ms,
            row.batch_qps / row.flat_qps,
            row.agreement
                .as_ref()
                .map_or("reference".to_string(), Agreement::cell),
        );
    }
    out
}

fn first_line(path: &str, key: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()?
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split(':').nth(1))
        .map(|v| v.trim().to_string())
}

/// The BLAS library this process actually loaded (the system's `libblas` alternative).
fn blas_library() -> String {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|path| path.contains("blas"))
        .map(|path| {
            std::fs::canonicalize(path).map_or(path.to_string(), |p| p.display().to_string())
        })
        .unwrap_or_else(|| "linked statically".to_string())
}

/// (busy, total) clock ticks of the whole machine, and this process's own ticks.
fn cpu_ticks() -> (u64, u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let machine: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total = machine.iter().sum::<u64>();
    let idle = machine.get(3).copied().unwrap_or(0) + machine.get(4).copied().unwrap_or(0);
    let own = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // utime and stime are the 14th and 15th fields; the command name before them may hold spaces.
    let after_name = own.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ours = after_name
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse::<u64>().ok())
        .sum();
    (total - idle, total, ours)
}

fn shell(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn main() {
    let quick = std::env::var("PANELSCOPE_BENCH_QUICK").is_ok_and(|v| v != "0" && !v.is_empty());
    let custom = std::env::var("PANELSCOPE_BENCH_SIZES").ok();
    let sizes: Vec<usize> = match &custom {
        Some(list) => list
            .split(',')
            .map(|s| s.trim().parse().expect("PANELSCOPE_BENCH_SIZES: numbers"))
            .collect(),
        None if quick => vec![10_000, 100_000],
        None => vec![100_000, 1_000_000],
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let dir = std::env::temp_dir().join(format!("panelscope-bench-index-{}", std::process::id()));
    let started = Instant::now();
    let ticks = cpu_ticks();

    let mut rows = Vec::new();
    for &n in &sizes {
        // A flat scan of 10^6 vectors takes a core ~0.1 s per query: fewer single queries there
        // keep the whole bench within minutes (p99 of 100 samples is their second worst).
        let (singles, rounds) = if n <= 100_000 { (200, 5) } else { (100, 3) };
        let mut rng = SplitMix(SEED ^ n as u64);
        let t = Instant::now();
        let vectors = unit_vectors(n, &mut rng);
        let (queries, sources) = queries(&vectors, &mut rng);
        eprintln!(
            "{n} vectors: generated in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        // All indexes are held at once (4 copies of the vectors: 6 GB at 10^6) so that their
        // searches can be interleaved; the vectors themselves are dropped once they are added.
        let mut subjects = Vec::new();
        let mut contenders = Vec::new();
        for shards in std::iter::once(None).chain(SHARDS.map(Some)) {
            let t = Instant::now();
            subjects.push(Subject::build(
                shards,
                &vectors,
                &dir.join(shards.unwrap_or(0).to_string()),
            ));
            let subject = subjects.len() - 1;
            eprintln!(
                "  {} built in {:.1} s",
                shards.map_or("flat".to_string(), |s| format!("{s} shards")),
                t.elapsed().as_secs_f64()
            );
            match shards {
                None => {
                    contenders.push(Contender {
                        kind: format!("faiss flat (OpenMP {cores} threads)"),
                        subject,
                        openmp_threads: None,
                    });
                    // What each shard's search thread runs: FAISS with one OpenMP thread.
                    contenders.push(Contender {
                        kind: "faiss flat (OpenMP 1 thread)".to_string(),
                        subject,
                        openmp_threads: Some(1),
                    });
                }
                Some(shards) => contenders.push(Contender {
                    kind: format!(
                        "ShardedIndex, {shards} shard{}",
                        if shards == 1 { "" } else { "s" }
                    ),
                    subject,
                    openmp_threads: None,
                }),
            }
        }
        drop(vectors);

        let measured = measure(&mut subjects, &contenders, &queries, singles, rounds);
        drop(subjects);
        let _ = std::fs::remove_dir_all(&dir);
        let reference = &measured[0];
        let batch_tops = reference.answers[singles..].iter().map(|hits| hits[0].0);
        assert!(
            batch_tops.eq(sources.iter().copied()),
            "the flat index must find each query's source first"
        );
        let queries_per_second = |m: &Measured| BATCH as f64 / m.batches[m.batches.len() / 2];
        for (i, (c, m)) in contenders.iter().zip(&measured).enumerate() {
            rows.push(Row {
                vectors: n,
                kind: c.kind.clone(),
                p50_ms: percentile(&m.latencies, 0.5) * 1e3,
                p99_ms: percentile(&m.latencies, 0.99) * 1e3,
                batch_qps: queries_per_second(m),
                flat_p50_ms: percentile(&reference.latencies, 0.5) * 1e3,
                flat_qps: queries_per_second(reference),
                agreement: (i > 0).then(|| Agreement::of(&m.answers, &reference.answers)),
            });
        }
        eprintln!("  done at {:.0} s", started.elapsed().as_secs_f64());
    }

    let table = table(&rows);
    let (busy, total, ours) = cpu_ticks();
    let other_load = 100.0 * (busy - ticks.0).saturating_sub(ours - ticks.2) as f64
        / (total - ticks.1).max(1) as f64;
    println!("\n{table}");
    println!("other processes used {other_load:.0}% of the machine's CPU time during the run");
    let differ: usize = rows
        .iter()
        .filter_map(|r| r.agreement.as_ref())
        .map(|a| a.differ)
        .sum();

    if quick && custom.is_none() {
        println!("quick run: benches/index.md left as it was");
    } else {
        let command = match &custom {
            Some(list) => format!("PANELSCOPE_BENCH_SIZES={list} cargo bench --bench index"),
            None => "cargo bench --bench index".to_string(),
        };
        let cpu = first_line("/proc/cpuinfo", "model name").unwrap_or_default();
        let memory = first_line("/proc/meminfo", "MemTotal")
            .and_then(|kb| kb.trim_end_matches(" kB").parse::<f64>().ok())
            .map_or("?".to_string(), |kb| {
                format!("{:.1} GiB", kb / (1 << 20) as f64)
            });
        let date = shell("date", &["-u", "+%Y-%m-%d"]);
        let commit = shell("git", &["describe", "--always", "--dirty"]);
        let seconds = started.elapsed().as_secs_f64();
        let (faiss, blas) = (faiss_version(), blas_library());
        let mut md = format!(
            "\
# Search: ShardedIndex beside one flat FAISS index

Produced by `{command}` on {date} ({commit}) in {seconds:.0} s.
Machine: nproc {cores}, {cpu}, {memory} memory; other processes used {other_load:.0}% of its CPU
time during the run.
Vectors: random unit vectors of dimension {DIMENSION} (normalised Gaussians, seeded). Queries:
{BATCH} noisy copies of indexed vectors (cosine ≈ 0.89 to their source), k = {K}. Every index is
`IDMap,Flat` by inner product (the default factory) of FAISS {faiss} built statically, BLAS:
`{blas}`.
All indexes of a size are held at once and take turns on each query and batch round, so other
load falls on all alike.
Columns: p50/p99 of one query per call (200 queries up to 10^5 vectors, 100 above, after one
warm-up search each); batch q/s: {BATCH} queries in one call, median of 5 rounds (3 above
10^5); `p50 × flat`: flat p50 ÷ this p50, `q/s × flat`: this q/s ÷ flat q/s (above 1: faster
than the flat index under FAISS's default threading); `top-10 = flat`: fraction of the single
and batch queries whose top-10 ids equal the flat index's, differences among inner products
within {TIE:e} counted as ties.

"
        );
        md.push_str(&table);
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/index.md");
        std::fs::write(&path, md).expect("write benches/index.md");
        println!("wrote {}", path.display());
    }
    assert_eq!(
        differ, 0,
        "a sharded or single-threaded top-10 differs from the flat index beyond ties"
    );
}
