//! Stages and helpers shared by the integration tests.
#![allow(dead_code)]

pub mod pdfs;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Once};

use panelscope_engine::{BuildContext, ItemResult, Outputs, Stage, StageConfig, StageError};

/// How a test item behaves each time a stage sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Behaviour {
    /// Always succeeds.
    Ok,
    /// Panics the worker on its first attempt only.
    PanicOnce,
    /// Panics the worker on every attempt.
    PanicAlways,
    /// Returns a retryable error on its first attempt only.
    TransientOnce,
    /// Returns a retryable error on every attempt.
    TransientAlways,
    /// Returns a non-retryable error.
    Fatal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Item {
    pub id: u32,
    pub behaviour: Behaviour,
}

/// A random behaviour, mostly good ones.
pub fn behaviour() -> impl proptest::strategy::Strategy<Value = Behaviour> {
    use proptest::prelude::{Just, prop_oneof};
    prop_oneof![
        6 => Just(Behaviour::Ok),
        1 => Just(Behaviour::PanicOnce),
        1 => Just(Behaviour::PanicAlways),
        1 => Just(Behaviour::TransientOnce),
        1 => Just(Behaviour::TransientAlways),
        1 => Just(Behaviour::Fatal),
    ]
}

/// Attempts seen per item id, shared by every instance a stage's workers build, so behaviour
/// survives restarts.
pub type Attempts = Arc<Mutex<HashMap<u32, u32>>>;

/// A 1:1 stage that misbehaves as each item asks.
pub struct Chaos {
    attempts: Attempts,
}

impl Stage for Chaos {
    type In = Item;
    type Out = Item;

    fn process(&mut self, batch: &[Item]) -> Vec<ItemResult<Item>> {
        batch
            .iter()
            .map(|item| {
                let attempt = {
                    let mut attempts = self.attempts.lock().unwrap();
                    let seen = attempts.entry(item.id).or_default();
                    *seen += 1;
                    *seen
                };
                match (item.behaviour, attempt) {
                    (Behaviour::PanicOnce, 1) | (Behaviour::PanicAlways, _) => {
                        panic!("injected panic on item {}", item.id)
                    }
                    (Behaviour::TransientOnce, 1) | (Behaviour::TransientAlways, _) => {
                        Err(StageError::transient(format!(
                            "injected transient error on item {}",
                            item.id
                        )))
                    }
                    (Behaviour::Fatal, _) => {
                        Err(StageError::input(format!("injected bad input {}", item.id)))
                    }
                    _ => Ok(Outputs::One(*item)),
                }
            })
            .collect()
    }

    fn describe(&self, item: &Item) -> String {
        item.id.to_string()
    }

    fn sequence(&self, item: &Item) -> Option<u64> {
        Some(u64::from(item.id))
    }
}

/// Builds [`Chaos`] stages sharing one attempt table.
#[derive(Default, Clone)]
pub struct ChaosConfig {
    pub attempts: Attempts,
}

impl StageConfig for ChaosConfig {
    type Stage = Chaos;

    fn build(&self, _cx: &BuildContext) -> Result<Chaos, StageError> {
        Ok(Chaos {
            attempts: Arc::clone(&self.attempts),
        })
    }
}

/// Keeps injected panics out of the test output; real panics still print.
pub fn quiet_injected_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied())
                .unwrap_or("");
            if !message.starts_with("injected") {
                default(info);
            }
        }));
    });
}

/// Documents recorded complete in the store file at `store` (0 while it does not exist yet).
pub fn complete_documents(store: &std::path::Path) -> i64 {
    rusqlite::Connection::open(store)
        .and_then(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM documents WHERE status = 'complete'",
                [],
                |r| r.get(0),
            )
        })
        .unwrap_or(0)
}

/// A fresh, empty directory for one test, named after it and this process.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("panelscope-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What `panelscope --data-dir DATA ARGS...` prints, once it has succeeded (it fails the test
/// with the command's output otherwise).
pub fn panelscope(data: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_panelscope"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "panelscope {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
