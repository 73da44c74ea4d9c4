//! Backpressure and micro-batching: with a slow sink, items in flight never exceed the queue
//! capacities plus the batches workers hold; batches fill under load and flush on `max_wait`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use panelscope_engine::{
    GraphBuilder, ItemResult, NodeConfig, Outputs, Stage, StageError, from_fn, map, testing,
};

/// A sink that sleeps per batch and counts what it has finished.
struct SlowSink {
    finished: Arc<AtomicU64>,
}

impl Stage for SlowSink {
    type In = u64;
    type Out = ();

    fn process(&mut self, batch: &[u64]) -> Vec<ItemResult<()>> {
        std::thread::sleep(Duration::from_millis(2));
        self.finished
            .fetch_add(batch.len() as u64, Ordering::SeqCst);
        batch.iter().map(|_| Ok(Outputs::None)).collect()
    }
}

#[test]
fn items_in_flight_never_exceed_capacities_plus_held_batches() {
    let produced = Arc::new(AtomicU64::new(0));
    let finished = Arc::new(AtomicU64::new(0));
    let max_in_flight = Arc::new(AtomicU64::new(0));

    let nodes = [
        (
            "a",
            NodeConfig::workers(2)
                .with_capacity(8)
                .with_batch(4, Duration::from_millis(1)),
        ),
        ("b", NodeConfig::workers(1).with_capacity(16)),
        (
            "sink",
            NodeConfig::workers(1)
                .with_capacity(4)
                .with_batch(2, Duration::ZERO),
        ),
    ];
    // The source holds at most one item it could not send yet.
    let bound: u64 = 1 + nodes
        .iter()
        .map(|(_, n)| (n.capacity + n.workers * n.max_batch) as u64)
        .sum::<u64>();
    let capacities: u64 = nodes.iter().map(|(_, n)| n.capacity as u64).sum();

    let items = {
        let (produced, finished, max_in_flight) =
            (produced.clone(), finished.clone(), max_in_flight.clone());
        (0..600u64).inspect(move |_| {
            let in_flight =
                produced.fetch_add(1, Ordering::SeqCst) + 1 - finished.load(Ordering::SeqCst);
            max_in_flight.fetch_max(in_flight, Ordering::SeqCst);
        })
    };
    let mut graph = GraphBuilder::new("backpressure");
    let source = graph.source("numbers", items);
    let a = graph.stage(
        "a",
        source,
        map(|n: &u64| Ok::<_, StageError>(*n)),
        nodes[0].1.clone(),
    );
    let b = graph.stage(
        "b",
        a,
        map(|n: &u64| Ok::<_, StageError>(*n)),
        nodes[1].1.clone(),
    );
    let sink_finished = finished.clone();
    graph.sink(
        "sink",
        b,
        from_fn(move |_| {
            Ok(SlowSink {
                finished: sink_finished.clone(),
            })
        }),
        nodes[2].1.clone(),
    );
    let summary = graph.build().unwrap().run_blocking().unwrap();

    assert_eq!(summary.stage("sink").unwrap().received, 600);
    let max = max_in_flight.load(Ordering::SeqCst);
    assert!(
        max <= bound,
        "{max} items were in flight; the bound is {bound}"
    );
    // The sink is slow enough that the queues really filled: the bound was tested, not idle.
    assert!(
        max >= capacities,
        "only {max} items were ever in flight; queues hold {capacities}"
    );
}

/// Records the size of every batch it processes.
struct BatchRecorder {
    sizes: Arc<Mutex<Vec<usize>>>,
    processed: crossbeam_channel::Sender<usize>,
}

impl Stage for BatchRecorder {
    type In = u32;
    type Out = u32;

    fn process(&mut self, batch: &[u32]) -> Vec<ItemResult<u32>> {
        self.sizes.lock().unwrap().push(batch.len());
        let _ = self.processed.send(batch.len());
        batch.iter().map(|n| Ok(Outputs::One(*n))).collect()
    }
}

fn batch_graph(
    items: impl Iterator<Item = u32> + Send + 'static,
    node: NodeConfig,
) -> (
    Arc<Mutex<Vec<usize>>>,
    crossbeam_channel::Receiver<usize>,
    panelscope_engine::Graph,
) {
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let (processed, processed_rx) = crossbeam_channel::unbounded();
    let mut graph = GraphBuilder::new("batching");
    let source = graph.source("numbers", items);
    let recorder_sizes = sizes.clone();
    let out = graph.stage(
        "batch",
        source,
        from_fn(move |_| {
            Ok(BatchRecorder {
                sizes: recorder_sizes.clone(),
                processed: processed.clone(),
            })
        }),
        node,
    );
    let (sink, _) = testing::collect();
    graph.sink("sink", out, sink, NodeConfig::workers(1));
    (sizes, processed_rx, graph.build().unwrap())
}

#[test]
fn batches_are_full_under_load() {
    // max_wait is far longer than the source needs to queue everything, so only full batches form.
    let node = NodeConfig::workers(1)
        .with_capacity(64)
        .with_batch(8, Duration::from_secs(60));
    let (sizes, _, graph) = batch_graph(0..64, node);
    let summary = graph.run_blocking().unwrap();
    assert_eq!(*sizes.lock().unwrap(), vec![8; 8]);
    assert_eq!(summary.stage("batch").unwrap().emitted, 64);
}

#[test]
fn a_partial_batch_goes_after_max_wait_while_the_input_stays_open() {
    let (release_tx, release_rx) = crossbeam_channel::bounded::<()>(1);
    // Three items, then the source blocks until the test has seen the batch: the input is still
    // open, so only the max_wait timer can have flushed it.
    let items = (0..4u32).filter(move |n| {
        if *n == 3 {
            release_rx
                .recv_timeout(Duration::from_secs(60))
                .expect("the partial batch never came");
        }
        *n < 3
    });
    let node = NodeConfig::workers(1)
        .with_capacity(64)
        .with_batch(8, Duration::from_millis(30));
    let (sizes, processed, graph) = batch_graph(items, node);
    let runner = std::thread::spawn(move || graph.run_blocking());
    let first = processed
        .recv_timeout(Duration::from_secs(60))
        .expect("no batch was processed");
    release_tx.send(()).unwrap();
    let summary = runner.join().unwrap().unwrap();
    assert_eq!(first, 3);
    assert_eq!(*sizes.lock().unwrap(), vec![3]);
    assert_eq!(summary.stage("sink").unwrap().received, 3);
}
