//! A 4-stage pass-through graph over N items, for profiling the engine's per-item overhead.
//!
//! Run: `cargo run --release -p panelscope-engine --example pass_through -- 200000 1`

use std::time::{Duration, Instant};

use panelscope_engine::{GraphBuilder, NodeConfig, StageError, map, testing};

fn main() {
    let mut args = std::env::args().skip(1);
    let items: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let max_batch: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let node = NodeConfig::workers(1)
        .with_capacity(64)
        .with_batch(max_batch, Duration::ZERO);
    let mut graph = GraphBuilder::new("pass-through");
    let mut stream = graph.source("source", 0..items);
    for stage in 0..4 {
        stream = graph.stage(
            &format!("pass{stage}"),
            stream,
            map(|n: &u64| Ok::<_, StageError>(*n)),
            node.clone(),
        );
    }
    let (sink, collected) = testing::collect();
    graph.sink("sink", stream, sink, node);
    let started = Instant::now();
    let summary = graph
        .build()
        .expect("valid graph")
        .run_blocking()
        .expect("run");
    let elapsed = started.elapsed();
    assert_eq!(collected.lock().unwrap().len() as u64, items);
    print!("{summary}");
    println!("{:.0} items/s", items as f64 / elapsed.as_secs_f64());
}
