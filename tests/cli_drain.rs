//! The binary end to end: `panelscope demo` serves /metrics while it runs, and SIGTERM drains the
//! graph (every item already taken reaches the sink or the dead letters) and exits 0.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::temp_dir;

const BIN: &str = env!("CARGO_BIN_EXE_panelscope");

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

fn scrape(addr: SocketAddr) -> Option<String> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    Some(text)
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigterm_drains_in_flight_items_and_exits_zero() {
    let dir = temp_dir("drain");
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut child = Command::new(BIN)
        .args(["demo", "--items", "1000000", "--poison-every", "97"])
        .arg("--data-dir")
        .arg(&dir)
        .arg("--metrics-addr")
        .arg(addr.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let records = dir.join("demo/records.jsonl");
    wait_until("the first records", || lines(&records) >= 100);

    let metrics = scrape(addr).expect("the metrics endpoint did not answer");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("panelscope_stage_items_total{")
                && l.contains("stage=\"checksum\"")),
        "no checksum series in:\n{metrics}"
    );

    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the demo did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert!(status.success(), "exit status {status}; stdout:\n{stdout}");
    assert!(stdout.contains("drained early"), "{stdout}");

    let summary: Value =
        serde_json::from_slice(&std::fs::read(dir.join("demo/summary.json")).unwrap()).unwrap();
    assert_eq!(summary["drained_early"], true);
    let stage = |name: &str, field: &str| -> u64 {
        summary["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["stage"] == name)
            .unwrap()[field]
            .as_u64()
            .unwrap()
    };
    let sent = stage("payloads", "emitted");
    assert!(sent < 1_000_000, "the source did not stop");
    assert_eq!(stage("checksum", "received"), sent);
    assert_eq!(
        stage("checksum", "emitted") + stage("checksum", "dead"),
        sent
    );
    assert_eq!(stage("label", "received"), stage("checksum", "emitted"));
    assert_eq!(stage("bucket", "received"), stage("label", "emitted"));
    assert_eq!(stage("write", "received"), stage("bucket", "emitted"));
    assert_eq!(
        lines(&records) as u64,
        stage("write", "received"),
        "records.jsonl holds every item that reached the sink"
    );
    assert_eq!(
        lines(&dir.join("demo/dead-letters.jsonl")) as u64,
        stage("checksum", "dead")
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn version_and_bad_config_are_reported() {
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("panelscope "));

    let dir = temp_dir("badconfig");
    let config = dir.join("bad.toml");
    std::fs::write(&config, "[stages.bucket]\nmax_bach = 3\n").unwrap();
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .args(["demo", "--items", "1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.toml") && stderr.contains("max_bach"),
        "{stderr}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
