//! Every item that enters a graph leaves it exactly once, as an output or a dead letter, whatever
//! mix of panics and errors the workers hit, for any parallelism, queue size and batch size.

mod support;

use std::collections::HashSet;
use std::sync::Arc;

use panelscope_engine::{
    AsyncStage, CollectedDeadLetters, GraphBuilder, ItemResult, NodeConfig, Outputs, StageError,
    from_async_fn, testing,
};
use proptest::prelude::*;
use support::{Behaviour, ChaosConfig, Item, behaviour, quiet_injected_panics};

#[derive(Debug, Clone)]
struct Shape {
    workers: usize,
    capacity: usize,
    max_batch: usize,
}

fn shape() -> impl Strategy<Value = Shape> {
    (1usize..4, 1usize..8, 1usize..6).prop_map(|(workers, capacity, max_batch)| Shape {
        workers,
        capacity,
        max_batch,
    })
}

fn node(shape: &Shape) -> NodeConfig {
    NodeConfig::workers(shape.workers)
        .with_capacity(shape.capacity)
        .with_batch(shape.max_batch, std::time::Duration::from_millis(1))
}

/// Checks conservation for one run: outputs and dead letters partition the inputs.
fn check_partition(items: &[Item], outputs: &[Item], dead: &[String]) -> Result<(), TestCaseError> {
    let out_ids: Vec<u32> = outputs.iter().map(|i| i.id).collect();
    let out_set: HashSet<u32> = out_ids.iter().copied().collect();
    prop_assert_eq!(out_set.len(), out_ids.len(), "an item was emitted twice");
    let dead_ids: Vec<u32> = dead.iter().map(|d| d.parse().unwrap()).collect();
    let dead_set: HashSet<u32> = dead_ids.iter().copied().collect();
    prop_assert_eq!(
        dead_set.len(),
        dead_ids.len(),
        "an item was dead-lettered twice"
    );
    prop_assert!(
        out_set.is_disjoint(&dead_set),
        "an item was both emitted and dead-lettered"
    );
    prop_assert_eq!(
        out_set.len() + dead_set.len(),
        items.len(),
        "an item was lost"
    );
    for item in items {
        match item.behaviour {
            Behaviour::Ok => prop_assert!(
                out_set.contains(&item.id),
                "good item {} did not come out",
                item.id
            ),
            Behaviour::PanicAlways | Behaviour::TransientAlways | Behaviour::Fatal => {
                prop_assert!(
                    dead_set.contains(&item.id),
                    "bad item {} was not dead-lettered",
                    item.id
                )
            }
            // Whether these survive depends on which item of their batch panicked first.
            Behaviour::PanicOnce | Behaviour::TransientOnce => {}
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn two_chaotic_stages_lose_and_duplicate_nothing(
        behaviours in proptest::collection::vec(behaviour(), 0..120),
        first in shape(),
        second in shape(),
    ) {
        quiet_injected_panics();
        let items: Vec<Item> = behaviours.iter().enumerate().map(|(id, b)| Item { id: id as u32, behaviour: *b }).collect();
        let dead_letters = Arc::new(CollectedDeadLetters::default());
        let mut graph = GraphBuilder::new("chaos");
        graph.dead_letters(dead_letters.clone());
        let source = graph.source("items", items.clone());
        let a = graph.stage("a", source, ChaosConfig::default(), node(&first));
        // The second stage sees each surviving item for the first time, so it misbehaves again.
        let b = graph.stage("b", a, ChaosConfig::default(), node(&second));
        let (sink, collected) = testing::collect();
        graph.sink("sink", b, sink, NodeConfig::workers(1));
        let summary = graph.build().unwrap().run_blocking().unwrap();

        let outputs = collected.lock().unwrap().clone();
        let dead: Vec<String> = dead_letters.letters().into_iter().map(|l| l.item).collect();
        check_partition(&items, &outputs, &dead)?;

        let a = summary.stage("a").unwrap();
        let b = summary.stage("b").unwrap();
        prop_assert_eq!(a.received, items.len() as u64);
        prop_assert_eq!(a.emitted + a.dead, a.received);
        prop_assert_eq!(b.received, a.emitted);
        prop_assert_eq!(b.emitted + b.dead, b.received);
        prop_assert_eq!(summary.stage("sink").unwrap().received, outputs.len() as u64);
        let panics = items.iter().filter(|i| matches!(i.behaviour, Behaviour::PanicOnce | Behaviour::PanicAlways)).count();
        prop_assert!(a.restarts as usize >= panics.min(1), "a panicking worker was not restarted");
    }
}

/// The async counterpart of [`support::Chaos`]: errors only (panics across `.await` are covered
/// by the blocking test; here we check the async worker's routing).
struct AsyncChaos;

impl AsyncStage for AsyncChaos {
    type In = Item;
    type Out = Item;

    async fn process(&mut self, batch: &[Item]) -> Vec<ItemResult<Item>> {
        tokio::task::yield_now().await;
        batch
            .iter()
            .map(|item| match item.behaviour {
                Behaviour::PanicAlways => panic!("injected async panic on item {}", item.id),
                Behaviour::Fatal | Behaviour::TransientAlways => {
                    Err(StageError::input(format!("bad {}", item.id)))
                }
                _ => Ok(Outputs::One(*item)),
            })
            .collect()
    }

    fn describe(&self, item: &Item) -> String {
        item.id.to_string()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn async_stage_loses_and_duplicates_nothing(
        behaviours in proptest::collection::vec(
            prop_oneof![4 => Just(Behaviour::Ok), 1 => Just(Behaviour::PanicAlways), 1 => Just(Behaviour::Fatal)],
            0..80,
        ),
        shape in shape(),
    ) {
        quiet_injected_panics();
        let items: Vec<Item> = behaviours.iter().enumerate().map(|(id, b)| Item { id: id as u32, behaviour: *b }).collect();
        let dead_letters = Arc::new(CollectedDeadLetters::default());
        let mut graph = GraphBuilder::new("async-chaos");
        graph.dead_letters(dead_letters.clone());
        let source = graph.source("items", items.clone());
        let out = graph.stage_async("a", source, from_async_fn(|_| Ok(AsyncChaos)), node(&shape));
        let (sink, collected) = testing::collect();
        graph.sink("sink", out, sink, NodeConfig::workers(1));
        let summary = graph.build().unwrap().run_blocking().unwrap();
        let outputs = collected.lock().unwrap().clone();
        let dead: Vec<String> = dead_letters.letters().into_iter().map(|l| l.item).collect();
        check_partition(&items, &outputs, &dead)?;
        let a = summary.stage("a").unwrap();
        prop_assert_eq!(a.emitted + a.dead, items.len() as u64);
    }
}
