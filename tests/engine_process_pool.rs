//! Process pools with real child processes (`panelscope worker checksum`): a child killed with
//! SIGKILL is respawned and no item is lost; a command that is not a worker fails the run clearly;
//! answers of every size (through the shared frames file, past the part of it kept in memory, and
//! past its end over the pipe) arrive intact.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use panelscope::demo::{Digest, Payload};
use panelscope_engine::{
    CollectedDeadLetters, EngineError, GraphBuilder, NodeConfig, ProcessPoolConfig, testing,
};

const WORKER: &str = env!("CARGO_BIN_EXE_panelscope");

/// Children of this process started with `PANELSCOPE_TEST_TAG=<tag>` (tests of this file run in
/// parallel, each with its own children).
fn worker_children(tag: &str) -> Vec<i32> {
    let marker = format!("PANELSCOPE_TEST_TAG={tag}");
    let me = std::process::id().to_string();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // Fields after the parenthesised command name: state, ppid, ...
        let Some(after) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
            continue;
        };
        let ppid = after.split_whitespace().nth(1).unwrap_or("");
        let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
        if ppid == me
            && environ
                .split(|b| *b == 0)
                .any(|var| var == marker.as_bytes())
        {
            pids.push(pid);
        }
    }
    pids
}

fn checksum_pool(tag: &str) -> panelscope_engine::ProcessPoolSpec<Payload, Digest> {
    let mut config = ProcessPoolConfig::command(WORKER, ["worker", "checksum"])
        .with_request_timeout(Duration::from_secs(60));
    config.env.insert("PANELSCOPE_TEST_TAG".into(), tag.into());
    config
        .typed::<Payload, Digest>()
        .describe_with(|p| format!("payload {}", p.id))
}

#[test]
fn a_child_killed_with_sigkill_is_respawned_and_no_item_is_lost() {
    let killed = Arc::new(AtomicU32::new(0));
    let kills = killed.clone();
    let items = (0..400u64).map(move |id| {
        if id == 150 || id == 300 {
            for pid in worker_children("sigkill").into_iter().take(1) {
                // SAFETY: plain kill(2) on a child of this test process.
                if unsafe { libc::kill(pid, libc::SIGKILL) } == 0 {
                    kills.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
        Payload::generate(7, id, 64 * 1024, 0)
    });
    let dead_letters = Arc::new(CollectedDeadLetters::default());
    let mut graph = GraphBuilder::new("pool");
    graph.dead_letters(dead_letters.clone());
    let source = graph.source("payloads", items);
    let digests = graph.stage(
        "checksum",
        source,
        checksum_pool("sigkill"),
        NodeConfig::workers(2).with_capacity(4),
    );
    let (sink, collected) = testing::collect();
    graph.sink("sink", digests, sink, NodeConfig::workers(1));
    let summary = graph.build().unwrap().run_blocking().unwrap();

    assert_eq!(
        killed.load(Ordering::SeqCst),
        2,
        "the test could not find a child to kill"
    );
    let digests = collected.lock().unwrap();
    let mut ids: Vec<u64> = digests.iter().map(|d| d.id).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        (0..400).collect::<Vec<_>>(),
        "items were lost or duplicated"
    );
    for digest in digests.iter() {
        let expected = blake3::hash(&Payload::generate(7, digest.id, 64 * 1024, 0).bytes);
        assert_eq!(
            &digest.digest,
            expected.as_bytes(),
            "child computed a wrong digest for {}",
            digest.id
        );
    }
    assert!(
        dead_letters.letters().is_empty(),
        "{:?}",
        dead_letters.letters()
    );
    let checksum = summary.stage("checksum").unwrap();
    assert_eq!(checksum.restarts, 2, "each killed child is counted once");
    assert_eq!(checksum.dead, 0);
}

#[test]
fn an_item_that_crashes_its_child_every_time_is_dead_lettered_and_the_rest_flow() {
    support::quiet_injected_panics();
    let items = (0..40u64).map(|id| Payload::generate(3, id, 1024, 20));
    let dead_letters = Arc::new(CollectedDeadLetters::default());
    let mut graph = GraphBuilder::new("poison");
    graph.dead_letters(dead_letters.clone());
    let source = graph.source("payloads", items);
    let digests = graph.stage(
        "checksum",
        source,
        checksum_pool("poison"),
        NodeConfig::workers(2),
    );
    let (sink, collected) = testing::collect();
    graph.sink("sink", digests, sink, NodeConfig::workers(1));
    let summary = graph.build().unwrap().run_blocking().unwrap();

    // Items 19 and 39 are poisoned: each crashes a child twice (first try and retry).
    assert_eq!(collected.lock().unwrap().len(), 38);
    let letters = dead_letters.letters();
    let mut items: Vec<&str> = letters.iter().map(|l| l.item.as_str()).collect();
    items.sort_unstable();
    assert_eq!(items, ["payload 19", "payload 39"]);
    assert!(
        letters
            .iter()
            .all(|l| l.attempts == 2 && l.error.contains("SIGABRT")),
        "{letters:?}"
    );
    assert_eq!(summary.stage("checksum").unwrap().restarts, 4);
}

#[test]
fn a_command_that_is_not_a_worker_fails_the_run_and_names_itself() {
    let mut graph = GraphBuilder::new("misconfigured");
    let source = graph.source(
        "payloads",
        (0..3u64).map(|id| Payload::generate(1, id, 16, 0)),
    );
    let pool = ProcessPoolConfig::command("/bin/echo", ["hello"]).typed::<Payload, Digest>();
    let digests = graph.stage("checksum", source, pool, NodeConfig::workers(1));
    let (sink, _) = testing::collect();
    graph.sink("sink", digests, sink, NodeConfig::workers(1));
    let error = graph.build().unwrap().run_blocking().unwrap_err();
    let EngineError::StageFailed { stage, reason } = error else {
        panic!("expected StageFailed")
    };
    assert_eq!(stage, "checksum");
    assert!(
        reason.contains("/bin/echo hello")
            && reason.contains("did not start as a panelscope worker"),
        "{reason}"
    );
}

#[test]
fn answers_of_every_size_arrive_intact() {
    // 1 KiB and 6 MiB (a page) go through the shared frames file, 24 MiB past the part of it that
    // stays in memory, 80 MiB past its end (over the pipe); then small ones again.
    let sizes = [1 << 10, 6 << 20, 24 << 20, 80 << 20, 1 << 10, 6 << 20];
    let items = sizes
        .into_iter()
        .enumerate()
        .map(|(id, len)| Payload::generate(11, id as u64, len, 0));
    let mut config = ProcessPoolConfig::command(WORKER, ["worker", "echo"])
        .with_request_timeout(Duration::from_secs(60));
    config
        .env
        .insert("PANELSCOPE_TEST_TAG".into(), "echo".into());
    let mut graph = GraphBuilder::new("echo");
    let dead_letters = Arc::new(CollectedDeadLetters::default());
    graph.dead_letters(dead_letters.clone());
    let source = graph.source("payloads", items);
    let echoed = graph.stage(
        "echo",
        source,
        config.typed::<Payload, Payload>(),
        NodeConfig::workers(1),
    );
    let (sink, collected) = testing::collect();
    graph.sink("sink", echoed, sink, NodeConfig::workers(1));
    let summary = graph.build().unwrap().run_blocking().unwrap();

    assert!(
        dead_letters.letters().is_empty(),
        "{:?}",
        dead_letters.letters()
    );
    assert_eq!(summary.stage("echo").unwrap().restarts, 0);
    let echoed = collected.lock().unwrap();
    assert_eq!(echoed.len(), sizes.len());
    for payload in echoed.iter() {
        let sent = Payload::generate(11, payload.id, sizes[payload.id as usize], 0);
        assert!(
            payload.bytes == sent.bytes,
            "payload {} ({} bytes) came back altered",
            payload.id,
            sent.bytes.len()
        );
    }
}
