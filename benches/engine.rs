//! Items/s through a 4-stage pass-through graph, beside a hand-wired chain of bounded crossbeam
//! channels moving the same items in the same run. Prints the engine/raw ratio at the end.
//!
//! Run: `cargo bench --bench engine`

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use panelscope_engine::{
    GraphBuilder, ItemResult, NodeConfig, Outputs, Stage, StageError, from_fn, map,
};

const ITEMS: u64 = 200_000;
const STAGES: usize = 4;
const CAPACITY: usize = 64;

/// Seconds per item, per benchmark, over every sample criterion took.
static MEASURED: Mutex<BTreeMap<String, (Duration, u64)>> = Mutex::new(BTreeMap::new());

fn record(name: &str, elapsed: Duration, items: u64) {
    let mut measured = MEASURED.lock().unwrap();
    let entry = measured.entry(name.to_string()).or_default();
    entry.0 += elapsed;
    entry.1 += items;
}

/// Source thread → 4 forwarding threads → counting sink, joined by bounded crossbeam channels.
fn raw_chain(items: u64) -> u64 {
    let (first_tx, mut rx) = crossbeam_channel::bounded::<u64>(CAPACITY);
    let mut threads = Vec::new();
    for _ in 0..STAGES {
        let (tx, next_rx) = crossbeam_channel::bounded::<u64>(CAPACITY);
        let input = std::mem::replace(&mut rx, next_rx);
        threads.push(std::thread::spawn(move || {
            for item in input {
                tx.send(std::hint::black_box(item)).unwrap();
            }
        }));
    }
    let sink = std::thread::spawn(move || rx.into_iter().count() as u64);
    for item in 0..items {
        first_tx.send(item).unwrap();
    }
    drop(first_tx);
    for thread in threads {
        thread.join().unwrap();
    }
    sink.join().unwrap()
}

struct Count;

impl Stage for Count {
    type In = u64;
    type Out = ();

    fn process(&mut self, batch: &[u64]) -> Vec<ItemResult<()>> {
        batch.iter().map(|_| Ok(Outputs::None)).collect()
    }
}

/// The same shape through the engine: source → 4 pass-through stages → counting sink.
fn engine_chain(runtime: &tokio::runtime::Runtime, items: u64, max_batch: usize) -> u64 {
    let node = NodeConfig::workers(1)
        .with_capacity(CAPACITY)
        .with_batch(max_batch, Duration::ZERO);
    let mut graph = GraphBuilder::new("bench");
    let mut stream = graph.source("source", 0..items);
    for stage in 0..STAGES {
        stream = graph.stage(
            &format!("pass{stage}"),
            stream,
            map(|n: &u64| Ok::<_, StageError>(std::hint::black_box(*n))),
            node.clone(),
        );
    }
    graph.sink("sink", stream, from_fn(|_| Ok(Count)), node);
    let summary = runtime.block_on(graph.build().unwrap().run()).unwrap();
    summary.stage("sink").unwrap().received
}

fn bench(c: &mut Criterion) {
    // Count as in production: a real Prometheus recorder behind every metric the engine emits.
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    metrics::set_global_recorder(recorder).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    let mut group = c.benchmark_group("pass_through_4_stages");
    group.throughput(Throughput::Elements(ITEMS));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("raw_crossbeam_chain", |b| {
        b.iter_custom(|iters| {
            let started = Instant::now();
            for _ in 0..iters {
                assert_eq!(raw_chain(ITEMS), ITEMS);
            }
            let elapsed = started.elapsed();
            record("raw_crossbeam_chain", elapsed, iters * ITEMS);
            elapsed
        })
    });
    for max_batch in [1usize, 64] {
        let name = format!("engine_batch_{max_batch}");
        group.bench_function(&name, |b| {
            b.iter_custom(|iters| {
                let started = Instant::now();
                for _ in 0..iters {
                    assert_eq!(engine_chain(&runtime, ITEMS, max_batch), ITEMS);
                }
                let elapsed = started.elapsed();
                record(&name, elapsed, iters * ITEMS);
                elapsed
            })
        });
    }
    group.finish();

    let measured = MEASURED.lock().unwrap();
    let rate = |name: &str| {
        measured
            .get(name)
            .map(|(t, n)| *n as f64 / t.as_secs_f64())
            .unwrap_or(f64::NAN)
    };
    let raw = rate("raw_crossbeam_chain");
    println!(
        "\nside by side, same run ({STAGES} pass-through stages, queues of {CAPACITY}, {ITEMS} items per run):"
    );
    println!(
        "{:<22} {:>14} {:>22}",
        "variant", "items/s", "cost vs raw (time ratio)"
    );
    for name in ["raw_crossbeam_chain", "engine_batch_1", "engine_batch_64"] {
        println!(
            "{:<22} {:>14.0} {:>21.2}x",
            name,
            rate(name),
            raw / rate(name)
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
