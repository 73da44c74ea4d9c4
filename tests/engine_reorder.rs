//! A reorder stage after parallel, chaotic stages passes every surviving item on in sequence
//! order: dead letters settle their numbers, so nothing waits for them, and nothing is lost.

mod support;

use std::sync::Arc;
use std::time::Duration;

use panelscope_engine::{
    CollectedDeadLetters, GraphBuilder, NodeConfig, StageError, map, reorder, testing,
};
use proptest::prelude::*;
use support::{Behaviour, ChaosConfig, Item, behaviour, quiet_injected_panics};

/// Holds an item for a time that has nothing to do with its number, so parallel workers finish
/// items out of order.
fn scramble(item: &Item) -> Result<Item, StageError> {
    std::thread::sleep(Duration::from_micros(
        u64::from(item.id.wrapping_mul(7919) % 5) * 300,
    ));
    Ok(*item)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn items_leave_a_reorder_stage_in_sequence_order_and_dead_letters_do_not_stall_it(
        behaviours in proptest::collection::vec(behaviour(), 0..100),
        workers in 2usize..5,
        max_batch in 1usize..4,
    ) {
        quiet_injected_panics();
        let items: Vec<Item> = behaviours.iter().enumerate().map(|(id, b)| Item { id: id as u32, behaviour: *b }).collect();
        let dead_letters = Arc::new(CollectedDeadLetters::default());
        let mut graph = GraphBuilder::new("reorder");
        graph.dead_letters(dead_letters.clone());
        let source = graph.source("items", items.clone());
        let node = NodeConfig::workers(workers).with_capacity(4).with_batch(max_batch, Duration::from_millis(1));
        let scrambled = graph.stage("scramble", source, map(scramble), node.clone());
        let survivors = graph.stage("chaos", scrambled, ChaosConfig::default(), node);
        // Capacity for all of them: nothing may go ahead out of order.
        let ordered = graph.stage(
            "order",
            survivors,
            reorder(graph.sequences(), items.len() + 1, |item: &Item| u64::from(item.id)),
            NodeConfig::workers(1).with_tick(Duration::from_millis(5)),
        );
        let (sink, collected) = testing::collect();
        graph.sink("sink", ordered, sink, NodeConfig::workers(1));
        graph.build().unwrap().run_blocking().unwrap();

        let outputs: Vec<u32> = collected.lock().unwrap().iter().map(|i| i.id).collect();
        let dead = dead_letters.letters().len();
        prop_assert!(outputs.windows(2).all(|w| w[0] < w[1]), "out of order: {:?}", outputs);
        prop_assert_eq!(outputs.len() + dead, items.len(), "an item was lost");
        for item in &items {
            if item.behaviour == Behaviour::Ok {
                prop_assert!(outputs.contains(&item.id), "good item {} did not come out", item.id);
            }
        }
    }
}

#[test]
fn a_reorder_stage_refuses_a_second_worker() {
    let mut graph = GraphBuilder::new("reorder");
    let source = graph.source("items", 0..10u64);
    let ordered = graph.stage(
        "order",
        source,
        reorder(graph.sequences(), 4, |n: &u64| *n),
        NodeConfig::workers(2),
    );
    let (sink, _collected) = testing::collect();
    graph.sink("sink", ordered, sink, NodeConfig::workers(1));
    let error = graph.build().unwrap().run_blocking().unwrap_err();
    assert!(error.to_string().contains("must run one worker"), "{error}");
}
