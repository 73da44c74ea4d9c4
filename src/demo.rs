//! `panelscope demo`: a small graph that shows the engine at work without any PDF: a source of
//! synthetic payloads, a process pool of child processes hashing them (some of which crash on
//! purpose), a CPU stage, a micro-batched stage, and a sink writing JSON lines.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use panelscope_engine::{
    BuildContext, GraphBuilder, ItemResult, JsonlDeadLetters, Outputs, ProcessPoolConfig,
    RunSummary, Stage, StageConfig, StageError, StageKind, map,
};
use serde::{Deserialize, Serialize};

use crate::config::Settings;

/// One synthetic input.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Payload {
    /// Its position in the stream.
    pub id: u64,
    /// Pseudo-random bytes.
    #[serde(with = "serde_bytes")]
    pub bytes: Vec<u8>,
    /// Whether the child that hashes it should crash.
    pub poisoned: bool,
}

impl Payload {
    /// The `id`-th payload of the stream seeded with `seed`: the same on every run.
    pub fn generate(seed: u64, id: u64, len: usize, poison_every: u64) -> Self {
        let mut hasher = blake3::Hasher::new();
        hasher.update(&seed.to_le_bytes()).update(&id.to_le_bytes());
        let mut bytes = vec![0u8; len];
        hasher.finalize_xof().fill(&mut bytes);
        let poisoned = poison_every > 0 && id % poison_every == poison_every - 1;
        Self {
            id,
            bytes,
            poisoned,
        }
    }
}

/// A payload's hash, computed in a child process.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Digest {
    /// The payload's id.
    pub id: u64,
    /// blake3 of its bytes.
    pub digest: [u8; 32],
    /// Its length.
    pub len: usize,
}

/// The stage a `panelscope worker checksum` child runs: hashes payloads; crashes on poisoned ones,
/// as a native library would on a malformed input.
pub struct ChecksumStage;

impl Stage for ChecksumStage {
    type In = Payload;
    type Out = Digest;

    fn process(&mut self, batch: &[Payload]) -> Vec<ItemResult<Digest>> {
        batch
            .iter()
            .map(|payload| {
                if payload.poisoned {
                    eprintln!(
                        "checksum worker: payload {} is poisoned; aborting this process",
                        payload.id
                    );
                    std::process::abort();
                }
                let digest = *blake3::hash(&payload.bytes).as_bytes();
                Ok(Outputs::One(Digest {
                    id: payload.id,
                    digest,
                    len: payload.bytes.len(),
                }))
            })
            .collect()
    }
}

/// The stage a `panelscope worker echo` child runs: sends each payload back unchanged, so tests can
/// move answers of any size through a process pool.
pub struct EchoStage;

impl Stage for EchoStage {
    type In = Payload;
    type Out = Payload;

    fn process(&mut self, batch: &[Payload]) -> Vec<ItemResult<Payload>> {
        batch
            .iter()
            .map(|payload| Ok(Outputs::One(payload.clone())))
            .collect()
    }
}

/// A hashed payload placed into one of 16 buckets.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    /// The payload's id.
    pub id: u64,
    /// Hex digest.
    pub digest: String,
    /// 0–15, from the digest's first nibble.
    pub bucket: u8,
    /// How many items of the same bucket the bucket stage had seen, this one included.
    pub bucket_rank: u64,
    /// Size of the batch the bucket stage processed this item in.
    pub batch: usize,
}

/// Counts items per bucket, a batch at a time.
struct BucketStage {
    counts: [u64; 16],
}

impl Stage for BucketStage {
    type In = (Digest, u8);
    type Out = Record;

    fn process(&mut self, batch: &[(Digest, u8)]) -> Vec<ItemResult<Record>> {
        batch
            .iter()
            .map(|(digest, bucket)| {
                self.counts[*bucket as usize] += 1;
                Ok(Outputs::One(Record {
                    id: digest.id,
                    digest: digest.digest.iter().map(|b| format!("{b:02x}")).collect(),
                    bucket: *bucket,
                    bucket_rank: self.counts[*bucket as usize],
                    batch: batch.len(),
                }))
            })
            .collect()
    }
}

struct BucketConfig;

impl StageConfig for BucketConfig {
    type Stage = BucketStage;

    fn build(&self, _cx: &BuildContext) -> Result<BucketStage, StageError> {
        Ok(BucketStage { counts: [0; 16] })
    }

    fn kind(&self) -> StageKind {
        StageKind::Batched
    }
}

/// Appends records as JSON lines, flushing after every batch.
struct WriteStage {
    path: PathBuf,
    out: BufWriter<File>,
}

impl Stage for WriteStage {
    type In = Record;
    type Out = ();

    fn process(&mut self, batch: &[Record]) -> Vec<ItemResult<()>> {
        let written = batch
            .iter()
            .try_for_each(|record| {
                serde_json::to_writer(&mut self.out, record).map_err(std::io::Error::other)?;
                self.out.write_all(b"\n")
            })
            .and_then(|()| self.out.flush());
        match written {
            Ok(()) => batch.iter().map(|_| Ok(Outputs::None)).collect(),
            Err(e) => {
                let error = StageError::transient(format!("{}: {e}", self.path.display()));
                batch.iter().map(|_| Err(error.clone())).collect()
            }
        }
    }
}

struct WriteConfig {
    path: PathBuf,
}

impl StageConfig for WriteConfig {
    type Stage = WriteStage;

    fn build(&self, _cx: &BuildContext) -> Result<WriteStage, StageError> {
        let file = File::create(&self.path)
            .map_err(|e| StageError::external(format!("{}: {e}", self.path.display())))?;
        Ok(WriteStage {
            path: self.path.clone(),
            out: BufWriter::new(file),
        })
    }
}

/// Where the demo writes.
pub fn output_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("demo")
}

/// Builds and runs the demo graph; returns its summary (also written to `summary.json`).
pub async fn run(settings: &Settings, worker_program: PathBuf) -> Result<RunSummary> {
    let demo = &settings.demo;
    let out_dir = output_dir(&settings.data_dir);
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let dead_letters = JsonlDeadLetters::open(out_dir.join("dead-letters.jsonl"))?;

    let mut graph = GraphBuilder::new("demo");
    graph.dead_letters(Arc::new(dead_letters));
    graph
        .shutdown_flag()
        .listen_for_signals()
        .context("cannot listen for SIGINT/SIGTERM")?;

    let (seed, len, poison_every) = (demo.seed, demo.payload_bytes, demo.poison_every);
    let payloads = graph.source(
        "payloads",
        (0..demo.items).map(move |id| Payload::generate(seed, id, len, poison_every)),
    );
    let pool = ProcessPoolConfig::command(worker_program, ["worker", "checksum"])
        .with_request_timeout(demo.request_timeout)
        .typed::<Payload, Digest>()
        .describe_with(|payload| format!("payload {}", payload.id));
    let digests = graph.stage("checksum", payloads, pool, settings.node("checksum"));
    let classified = graph.stage(
        "label",
        digests,
        map(|digest: &Digest| Ok::<_, StageError>((digest.clone(), digest.digest[0] >> 4))),
        settings.node("label"),
    );
    let records = graph.stage("bucket", classified, BucketConfig, settings.node("bucket"));
    graph.sink(
        "write",
        records,
        WriteConfig {
            path: out_dir.join("records.jsonl"),
        },
        settings.node("write"),
    );

    tracing::info!(items = demo.items, out = %out_dir.display(), "Demo started.");
    let summary = graph.build()?.run().await?;
    let summary_path = out_dir.join("summary.json");
    std::fs::write(&summary_path, serde_json::to_vec_pretty(&summary)?)
        .with_context(|| format!("cannot write {}", summary_path.display()))?;
    Ok(summary)
}
