//! A real Prometheus scrape over HTTP after a run: every series DESIGN.md §2 names is served, with
//! values that match the items processed. (One test per file: the recorder is process-global.)

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use panelscope_engine::metrics::{
    DEAD_LETTERS_TOTAL, STAGE_BATCH_SIZE, STAGE_BUSY_RATIO, STAGE_ITEMS_TOTAL,
    STAGE_LATENCY_SECONDS, STAGE_QUEUE_CAPACITY, STAGE_QUEUE_DEPTH, STAGE_RESTARTS_TOTAL,
};
use panelscope_engine::{CollectedDeadLetters, GraphBuilder, NodeConfig, StageError, map, testing};
use support::{Behaviour, ChaosConfig, Item, quiet_injected_panics};

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn scrape(addr: SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

/// The value of the sample `name{labels…}` whose labels include every `label="value"` given.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            let matches = metric == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
            matches.then(|| value.parse().ok()).flatten()
        })
}

#[test]
fn metrics_endpoint_serves_every_stage_series_with_matching_values() {
    quiet_injected_panics();
    let addr = free_port();
    panelscope_engine::metrics::serve_prometheus(addr).unwrap();

    let items: Vec<Item> = (0..100u32)
        .map(|id| {
            let behaviour = match id {
                _ if id % 25 == 7 => Behaviour::PanicAlways,
                _ if id % 10 == 3 => Behaviour::Fatal,
                _ => Behaviour::Ok,
            };
            Item { id, behaviour }
        })
        .collect();
    let panics = items
        .iter()
        .filter(|i| i.behaviour == Behaviour::PanicAlways)
        .count() as f64;
    let fatal = items
        .iter()
        .filter(|i| i.behaviour == Behaviour::Fatal)
        .count() as f64;

    let mut graph = GraphBuilder::new("metrics");
    graph.dead_letters(Arc::new(CollectedDeadLetters::default()));
    let source = graph.source("items", items);
    let copied = graph.stage(
        "copy",
        source,
        // Slow enough (≥ 20 µs a batch) that the engine times every batch, not one in 16.
        map(|item: &Item| {
            std::thread::sleep(Duration::from_micros(50));
            Ok::<_, StageError>(*item)
        }),
        NodeConfig::workers(2)
            .with_capacity(16)
            .with_batch(4, Duration::from_millis(2)),
    );
    let survived = graph.stage(
        "chaos",
        copied,
        ChaosConfig::default(),
        NodeConfig::workers(1).with_capacity(8),
    );
    let (sink, collected) = testing::collect();
    graph.sink("sink", survived, sink, NodeConfig::workers(1));
    graph.build().unwrap().run_blocking().unwrap();
    let survivors = collected.lock().unwrap().len() as f64;
    assert_eq!(survivors, 100.0 - panics - fatal);

    let text = scrape(addr);
    let items_total = |stage: &str, outcome: &str| {
        sample(
            &text,
            STAGE_ITEMS_TOTAL,
            &[("stage", stage), ("outcome", outcome)],
        )
    };
    assert_eq!(items_total("items", "emitted"), Some(100.0));
    assert_eq!(items_total("copy", "received"), Some(100.0));
    assert_eq!(items_total("copy", "emitted"), Some(100.0));
    assert_eq!(items_total("chaos", "received"), Some(100.0));
    assert_eq!(items_total("chaos", "emitted"), Some(survivors));
    assert_eq!(items_total("chaos", "dead"), Some(panics + fatal));
    assert_eq!(items_total("chaos", "retried"), Some(panics));
    assert_eq!(items_total("sink", "received"), Some(survivors));
    assert_eq!(
        sample(&text, STAGE_RESTARTS_TOTAL, &[("stage", "chaos")]),
        Some(2.0 * panics)
    );
    assert_eq!(
        sample(
            &text,
            DEAD_LETTERS_TOTAL,
            &[("stage", "chaos"), ("error_type", "input")]
        ),
        Some(fatal)
    );
    assert_eq!(
        sample(
            &text,
            DEAD_LETTERS_TOTAL,
            &[("stage", "chaos"), ("error_type", "internal")]
        ),
        Some(panics)
    );

    // Histograms: one observation per timed batch, and `copy` is slow enough for all to be timed,
    // so its batch sizes add up to its items.
    let batch_count = sample(
        &text,
        &format!("{STAGE_BATCH_SIZE}_count"),
        &[("stage", "copy")],
    )
    .unwrap();
    assert_eq!(
        sample(
            &text,
            &format!("{STAGE_BATCH_SIZE}_sum"),
            &[("stage", "copy")]
        ),
        Some(100.0)
    );
    assert_eq!(
        sample(
            &text,
            &format!("{STAGE_LATENCY_SECONDS}_count"),
            &[("stage", "copy")]
        ),
        Some(batch_count)
    );
    assert!(
        sample(
            &text,
            &format!("{STAGE_LATENCY_SECONDS}_bucket"),
            &[("stage", "copy"), ("le", "+Inf")]
        )
        .is_some()
    );
    assert!(
        (25.0..=100.0).contains(&batch_count),
        "{batch_count} batches for 100 items at max_batch 4"
    );

    // Gauges are sampled by the stage supervisors and once more when a stage ends.
    for stage in ["copy", "chaos", "sink"] {
        assert_eq!(
            sample(&text, STAGE_QUEUE_DEPTH, &[("stage", stage)]),
            Some(0.0),
            "{stage} queue drained"
        );
        assert!(
            sample(&text, STAGE_BUSY_RATIO, &[("stage", stage)]).is_some(),
            "{stage} busy ratio"
        );
    }
    assert_eq!(
        sample(&text, STAGE_QUEUE_CAPACITY, &[("stage", "copy")]),
        Some(16.0)
    );
    // `chaos` is fast: one batch in 16 is timed and observed.
    let chaos_batches = sample(
        &text,
        &format!("{STAGE_BATCH_SIZE}_count"),
        &[("stage", "chaos")],
    )
    .unwrap();
    assert!((1.0..100.0).contains(&chaos_batches), "{chaos_batches}");
    assert!(
        text.contains("# HELP panelscope_stage_items_total"),
        "metrics are described"
    );
}
