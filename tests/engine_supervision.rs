//! The supervision matrix: how each kind of failure, on the first attempt or on every attempt,
//! ends for the item (output or dead letter), for the worker (restarts) and for the run.

mod support;

use std::sync::Arc;

use panelscope_engine::{
    BuildContext, CollectedDeadLetters, EngineError, ErrorDomain, GraphBuilder, ItemResult,
    NodeConfig, Outputs, Stage, StageError, from_fn, map, testing,
};
use support::{Behaviour, ChaosConfig, Item, quiet_injected_panics};

struct Outcome {
    emitted: Vec<u32>,
    dead: Vec<panelscope_engine::DeadLetter>,
    summary: panelscope_engine::RunSummary,
}

fn run_one(behaviour: Behaviour, max_retries: u8) -> Outcome {
    quiet_injected_panics();
    let dead_letters = Arc::new(CollectedDeadLetters::default());
    let mut graph = GraphBuilder::new("matrix");
    graph.dead_letters(dead_letters.clone());
    let items = vec![
        Item { id: 1, behaviour },
        Item {
            id: 2,
            behaviour: Behaviour::Ok,
        },
    ];
    let source = graph.source("items", items);
    let out = graph.stage(
        "chaos",
        source,
        ChaosConfig::default(),
        NodeConfig::workers(1).with_max_retries(max_retries),
    );
    let (sink, collected) = testing::collect();
    graph.sink("sink", out, sink, NodeConfig::workers(1));
    let summary = graph.build().unwrap().run_blocking().unwrap();
    let emitted = collected.lock().unwrap().iter().map(|i| i.id).collect();
    Outcome {
        emitted,
        dead: dead_letters.letters(),
        summary,
    }
}

#[test]
fn panic_once_is_retried_on_a_restarted_worker() {
    let outcome = run_one(Behaviour::PanicOnce, 1);
    assert_eq!(outcome.emitted.len(), 2);
    assert!(outcome.dead.is_empty());
    let chaos = outcome.summary.stage("chaos").unwrap();
    assert_eq!((chaos.restarts, chaos.retried, chaos.dead), (1, 1, 0));
}

#[test]
fn panic_always_is_retried_once_then_dead_lettered_with_the_panic_message() {
    let outcome = run_one(Behaviour::PanicAlways, 1);
    assert_eq!(outcome.emitted, vec![2]);
    assert_eq!(outcome.dead.len(), 1);
    let letter = &outcome.dead[0];
    assert_eq!(
        (letter.stage.as_str(), letter.item.as_str(), letter.attempts),
        ("chaos", "1", 2)
    );
    assert!(
        letter.error.contains("injected panic on item 1"),
        "{}",
        letter.error
    );
    assert_eq!(letter.domain, ErrorDomain::Internal);
    let chaos = outcome.summary.stage("chaos").unwrap();
    assert_eq!((chaos.restarts, chaos.retried, chaos.dead), (2, 1, 1));
}

#[test]
fn retry_budget_is_configurable() {
    let outcome = run_one(Behaviour::PanicAlways, 3);
    assert_eq!(outcome.dead[0].attempts, 4);
    assert_eq!(outcome.summary.stage("chaos").unwrap().restarts, 4);
    let outcome = run_one(Behaviour::PanicAlways, 0);
    assert_eq!(outcome.dead[0].attempts, 1);
}

#[test]
fn transient_error_once_is_retried_without_a_restart() {
    let outcome = run_one(Behaviour::TransientOnce, 1);
    assert_eq!(outcome.emitted.len(), 2);
    let chaos = outcome.summary.stage("chaos").unwrap();
    assert_eq!((chaos.restarts, chaos.retried, chaos.dead), (0, 1, 0));
}

#[test]
fn transient_error_always_is_dead_lettered_after_its_retry() {
    let outcome = run_one(Behaviour::TransientAlways, 1);
    assert_eq!(outcome.emitted, vec![2]);
    assert_eq!(outcome.dead[0].attempts, 2);
    assert_eq!(outcome.dead[0].domain, ErrorDomain::External);
}

#[test]
fn bad_input_is_dead_lettered_at_once() {
    let outcome = run_one(Behaviour::Fatal, 1);
    assert_eq!(outcome.emitted, vec![2]);
    assert_eq!(outcome.dead[0].attempts, 1);
    assert_eq!(outcome.dead[0].domain, ErrorDomain::Input);
    assert!(outcome.dead[0].error.contains("injected bad input 1"));
    assert_eq!(outcome.summary.stage("chaos").unwrap().retried, 0);
}

struct FailsToStart;

impl Stage for FailsToStart {
    type In = u32;
    type Out = u32;

    fn process(&mut self, batch: &[u32]) -> Vec<ItemResult<u32>> {
        batch.iter().map(|n| Ok(Outputs::One(*n))).collect()
    }

    fn on_start(&mut self) -> Result<(), StageError> {
        Err(StageError::external(
            "model file models/missing.safetensors not found",
        ))
    }
}

#[test]
fn a_stage_that_cannot_start_fails_the_run_with_its_reason() {
    let mut graph = GraphBuilder::new("broken");
    let source = graph.source("numbers", 0..10u32);
    let out = graph.stage(
        "embed",
        source,
        from_fn(|_: &BuildContext| Ok(FailsToStart)),
        NodeConfig::workers(2),
    );
    let (sink, _) = testing::collect();
    graph.sink("sink", out, sink, NodeConfig::workers(1));
    let error = graph.build().unwrap().run_blocking().unwrap_err();
    match error {
        EngineError::StageFailed { stage, reason } => {
            assert_eq!(stage, "embed");
            assert!(reason.contains("models/missing.safetensors"), "{reason}");
        }
        other => panic!("expected StageFailed, got {other}"),
    }
}

#[test]
fn a_source_that_panics_fails_the_run() {
    quiet_injected_panics();
    let mut graph = GraphBuilder::new("broken-source");
    let source = graph.source(
        "numbers",
        (0..10u32).map(|n| {
            if n == 5 {
                panic!("injected source panic")
            } else {
                n
            }
        }),
    );
    let (sink, _) = testing::collect();
    graph.sink("sink", source, sink, NodeConfig::workers(1));
    let error = graph.build().unwrap().run_blocking().unwrap_err();
    assert!(
        error.to_string().contains("injected source panic"),
        "{error}"
    );
}

#[test]
fn invalid_graphs_report_every_problem_at_once() {
    let mut graph = GraphBuilder::new("invalid");
    let source = graph.source("numbers", 0..10u32);
    let dangling = graph.stage(
        "double",
        source,
        map(|n: &u32| Ok::<_, StageError>(n * 2)),
        NodeConfig::workers(1).with_capacity(0),
    );
    drop(dangling);
    let other = graph.source("double", 0..3u32);
    let (sink, _) = testing::collect();
    graph.sink(
        "sink",
        other,
        sink,
        NodeConfig::default().with_batch(0, std::time::Duration::ZERO),
    );
    let Err(EngineError::InvalidGraph { problems, .. }) = graph.build() else {
        panic!("the graph should be invalid")
    };
    let text = problems.join("\n");
    for expected in [
        "two stages are named `double`",
        "capacity must be at least 1",
        "max_batch must be at least 1",
        "is not consumed",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }
}
