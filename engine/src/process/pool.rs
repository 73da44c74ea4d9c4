//! The parent side of a process pool: one child per worker, respawned when it dies or hangs.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufReader, BufWriter};
use std::marker::PhantomData;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel as cb;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::protocol::{
    self, FRAMES_FD_ENV, Frame, Hello, MAGIC, PROTOCOL_VERSION, ProtocolError, Request, Response,
};
use super::sys;
use crate::error::StageError;
use crate::stage::{BuildContext, ItemResult, Outputs, Stage, StageConfig, StageKind};

/// How to start and police the children of a pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProcessPoolConfig {
    /// The executable each child runs (usually the panelscope binary itself).
    pub program: PathBuf,
    /// Its arguments (e.g. `["worker", "render"]`).
    pub args: Vec<String>,
    /// Extra environment variables for the child.
    pub env: BTreeMap<String, String>,
    /// How long one item may take before its child is killed and the item dead-lettered.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// How long a new child may take to say hello.
    #[serde(with = "humantime_serde")]
    pub start_timeout: Duration,
}

impl Default for ProcessPoolConfig {
    fn default() -> Self {
        Self {
            program: PathBuf::new(),
            args: Vec::new(),
            env: BTreeMap::new(),
            request_timeout: Duration::from_secs(120),
            start_timeout: Duration::from_secs(30),
        }
    }
}

impl ProcessPoolConfig {
    /// A pool running `program args…` with default timeouts.
    pub fn command(
        program: impl Into<PathBuf>,
        args: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// Sets the per-item timeout.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Binds the pool to its item types.
    pub fn typed<In, Out>(self) -> ProcessPoolSpec<In, Out> {
        ProcessPoolSpec {
            config: self,
            describe: None,
            key: None,
            sequence: None,
            _types: PhantomData,
        }
    }
}

type Describe<In> = Arc<dyn Fn(&In) -> String + Send + Sync>;
type Key<In> = Arc<dyn Fn(&In) -> String + Send + Sync>;
type Sequence<In> = Arc<dyn Fn(&In) -> u64 + Send + Sync>;

/// A [`ProcessPoolConfig`] bound to the types its children read and write; builds [`ProcessPool`]s.
pub struct ProcessPoolSpec<In, Out> {
    config: ProcessPoolConfig,
    describe: Option<Describe<In>>,
    key: Option<Key<In>>,
    sequence: Option<Sequence<In>>,
    _types: PhantomData<fn(In) -> Out>,
}

impl<In, Out> ProcessPoolSpec<In, Out> {
    /// Names items in dead-letter records (a path, an id).
    pub fn describe_with(
        mut self,
        describe: impl Fn(&In) -> String + Send + Sync + 'static,
    ) -> Self {
        self.describe = Some(Arc::new(describe));
        self
    }

    /// Files dead letters under a key (a document id).
    pub fn key_with(mut self, key: impl Fn(&In) -> String + Send + Sync + 'static) -> Self {
        self.key = Some(Arc::new(key));
        self
    }

    /// Numbers items for reorder buffers downstream (see [`crate::Stage::sequence`]).
    pub fn sequence_with(mut self, sequence: impl Fn(&In) -> u64 + Send + Sync + 'static) -> Self {
        self.sequence = Some(Arc::new(sequence));
        self
    }
}

impl<In, Out> StageConfig for ProcessPoolSpec<In, Out>
where
    In: Serialize + Send + 'static,
    Out: DeserializeOwned + Send + 'static,
{
    type Stage = ProcessPool<In, Out>;

    fn build(&self, cx: &BuildContext) -> Result<Self::Stage, StageError> {
        if self.config.program.as_os_str().is_empty() {
            return Err(StageError::input(format!(
                "stage `{}`: the process pool has no program to run",
                cx.stage
            )));
        }
        Ok(ProcessPool {
            config: self.config.clone(),
            describe: self.describe.clone(),
            key: self.key.clone(),
            sequence: self.sequence.clone(),
            cx: cx.clone(),
            child: None,
            next_id: 0,
            _types: PhantomData,
        })
    }

    fn kind(&self) -> StageKind {
        StageKind::ProcessPool
    }
}

/// The pipe size asked for each child's output: a rendered page is megabytes.
const PIPE_BYTES: usize = 1 << 20;

/// Size of the frames file shared with each child: a page rendered at 150 dpi on A3 with its
/// images fits; a larger answer comes over the pipe. Sparse, so memory is taken only as far as the
/// largest answer so far reached.
const FRAMES_FILE_BYTES: u64 = 64 << 20;

/// How much of the frames file stays in memory between answers: a typical page and its images.
/// The memory of an answer past it (a poster, a page of large photographs) is given back once it
/// has been read, so an idle pool holds at most this much per child.
const FRAMES_KEPT_BYTES: u64 = 16 << 20;

/// A running child: its stdin, a thread that turns its stdout into frames, and the frames file it
/// writes large answers to.
struct Worker {
    process: Child,
    stdin: BufWriter<ChildStdin>,
    frames: cb::Receiver<Result<Frame, String>>,
    shared: Option<SharedFrames>,
    pid: u32,
}

/// The parent's side of a frames file.
struct SharedFrames {
    file: std::fs::File,
    map: memmap2::Mmap,
}

impl Worker {
    /// The bytes of a frame, wherever the child put them.
    fn payload<'a>(&'a self, frame: &'a Frame) -> Result<&'a [u8], ProtocolError> {
        match frame {
            Frame::Inline(bytes) => Ok(bytes),
            Frame::Shared(len) => {
                let shared = self
                    .shared
                    .as_ref()
                    .ok_or(ProtocolError::UnexpectedShared)?;
                shared
                    .map
                    .get(..*len)
                    .ok_or(ProtocolError::SharedOverrun(*len, shared.map.len()))
            }
        }
    }

    /// Called once a frame has been decoded: gives back the memory of a large one.
    fn done_with(&self, frame: &Frame) {
        if let (Frame::Shared(len), Some(shared)) = (frame, &self.shared)
            && *len as u64 > FRAMES_KEPT_BYTES
        {
            sys::release_from(&shared.file, FRAMES_KEPT_BYTES);
        }
    }
}

/// A frames file for a child about to be spawned by `command`, mapped here; `None` (the child
/// answers over the pipe) where the system refuses one.
fn share_frames(command: &mut Command) -> Option<SharedFrames> {
    let shared = sys::shared_memory_file("panelscope-frames", FRAMES_FILE_BYTES)
        .and_then(|file| sys::map_readable(&file).map(|map| (file, map)));
    match shared {
        Ok((file, map)) => {
            let fd = sys::pass_fd_to_child(command, &file);
            command.env(FRAMES_FD_ENV, fd.to_string());
            Some(SharedFrames { file, map })
        }
        Err(e) => {
            tracing::warn!(error = %e, "No shared frames file; worker answers go over the pipe.");
            None
        }
    }
}

/// One worker's handle on one child process. Items are sent one at a time; a child that dies is
/// reaped and replaced on the next item, one that hangs is killed.
pub struct ProcessPool<In, Out> {
    config: ProcessPoolConfig,
    describe: Option<Describe<In>>,
    key: Option<Key<In>>,
    sequence: Option<Sequence<In>>,
    cx: BuildContext,
    child: Option<Worker>,
    next_id: u64,
    _types: PhantomData<fn(In) -> Out>,
}

/// Why a child stopped serving.
enum ChildLoss {
    Died(String),
    TimedOut,
}

fn describe_status(status: Option<ExitStatus>) -> String {
    match status {
        Some(status) => match (status.code(), status.signal()) {
            (Some(code), _) => format!("exited with status {code}"),
            (None, Some(signal)) => format!("was killed by signal {signal}{}", signal_name(signal)),
            _ => format!("ended ({status})"),
        },
        None => "stopped answering".to_string(),
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGKILL => " (SIGKILL)",
        libc::SIGSEGV => " (SIGSEGV)",
        libc::SIGABRT => " (SIGABRT)",
        libc::SIGBUS => " (SIGBUS)",
        libc::SIGTERM => " (SIGTERM)",
        _ => "",
    }
}

impl<In, Out> ProcessPool<In, Out>
where
    In: Serialize,
    Out: DeserializeOwned,
{
    fn spawn(&self) -> Result<Worker, String> {
        let mut command = Command::new(&self.config.program);
        command
            .args(&self.config.args)
            .envs(&self.config.env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        sys::kill_child_with_parent(&mut command);
        let shared = share_frames(&mut command);
        let mut process = command
            .spawn()
            .map_err(|e| format!("could not start `{}`: {e}", self.config.program.display()))?;
        let stdin = BufWriter::new(process.stdin.take().expect("stdin is piped"));
        let stdout = process.stdout.take().expect("stdout is piped");
        sys::widen_pipe(&stdout, PIPE_BYTES);
        let (tx, frames) = cb::bounded(1);
        let reader_name = format!("{}-{}-reader", self.cx.stage, self.cx.worker);
        std::thread::Builder::new()
            .name(reader_name)
            .spawn(move || {
                let mut stdout = BufReader::new(stdout);
                loop {
                    let frame = match protocol::read_frame(&mut stdout) {
                        Ok(Some(frame)) => Ok(frame),
                        Ok(None) => Err("closed its output".to_string()),
                        Err(e) => Err(e.to_string()),
                    };
                    let ended = frame.is_err();
                    if tx.send(frame).is_err() || ended {
                        break;
                    }
                }
            })
            .map_err(|e| format!("could not start a reader thread: {e}"))?;
        let pid = process.id();
        let mut worker = Worker {
            process,
            stdin,
            frames,
            shared,
            pid,
        };
        let hello = match worker.frames.recv_timeout(self.config.start_timeout) {
            Ok(Ok(Frame::Inline(frame))) => protocol::decode::<Hello>(&frame).ok(),
            Ok(Ok(Frame::Shared(_)) | Err(_)) | Err(_) => None,
        };
        match hello {
            Some(hello) if hello.magic == MAGIC && hello.version == PROTOCOL_VERSION => Ok(worker),
            Some(hello) if hello.magic == MAGIC => {
                Self::kill(&mut worker);
                Err(format!(
                    "worker speaks protocol v{}, expected v{PROTOCOL_VERSION}",
                    hello.version
                ))
            }
            _ => {
                let status = Self::kill(&mut worker);
                Err(format!(
                    "`{} {}` did not start as a panelscope worker (it {})",
                    self.config.program.display(),
                    self.config.args.join(" "),
                    describe_status(status)
                ))
            }
        }
    }

    /// Kills and reaps a child; returns how it ended.
    fn kill(worker: &mut Worker) -> Option<ExitStatus> {
        if let Ok(Some(status)) = worker.process.try_wait() {
            return Some(status);
        }
        let _ = worker.process.kill();
        worker.process.wait().ok()
    }

    fn ensure_child(&mut self) -> Result<&mut Worker, StageError> {
        if self.child.is_none() {
            let worker = self.spawn().map_err(StageError::transient)?;
            tracing::debug!(stage = %self.cx.stage, pid = worker.pid, "Worker process started.");
            self.child = Some(worker);
        }
        Ok(self.child.as_mut().expect("just set"))
    }

    fn call(&mut self, item: &In) -> Result<Result<Vec<Out>, StageError>, ChildLoss> {
        let id = self.next_id;
        self.next_id += 1;
        let timeout = self.config.request_timeout;
        let worker = self.child.as_mut().expect("ensured");
        if let Err(e) = protocol::write_message(&mut worker.stdin, &Request { id, item }) {
            return Err(ChildLoss::Died(format!("refused the request ({e})")));
        }
        let deadline = Instant::now() + timeout;
        match worker.frames.recv_deadline(deadline) {
            Ok(Ok(frame)) => match worker.payload(&frame).and_then(|payload| {
                let decoded = protocol::decode::<Response<Out>>(payload);
                worker.done_with(&frame);
                decoded
            }) {
                Ok(response) if response.id == id => Ok(response.result),
                Ok(response) => Err(ChildLoss::Died(format!(
                    "answered request {} instead of {id}",
                    response.id
                ))),
                Err(e) => Err(ChildLoss::Died(format!("sent a malformed response ({e})"))),
            },
            Ok(Err(reason)) => Err(ChildLoss::Died(reason)),
            Err(cb::RecvTimeoutError::Disconnected) => {
                Err(ChildLoss::Died("closed its output".to_string()))
            }
            Err(cb::RecvTimeoutError::Timeout) => Err(ChildLoss::TimedOut),
        }
    }

    fn process_one(&mut self, item: &In) -> ItemResult<Out> {
        self.ensure_child()?;
        match self.call(item) {
            Ok(result) => result.map(Outputs::Many),
            Err(loss) => {
                let mut worker = self.child.take().expect("ensured");
                let status = Self::kill(&mut worker);
                self.cx.record_restart();
                let label = self.describe_item(item);
                match loss {
                    ChildLoss::Died(detail) => {
                        let reason = format!(
                            "worker process {} {} while processing {label} ({detail}); it is replaced",
                            worker.pid,
                            describe_status(status)
                        );
                        tracing::warn!(stage = %self.cx.stage, pid = worker.pid, %reason, "Worker process lost.");
                        Err(StageError::transient(reason))
                    }
                    ChildLoss::TimedOut => {
                        let reason = format!(
                            "{label} took longer than {:?}; worker process {} was killed and replaced",
                            self.config.request_timeout, worker.pid
                        );
                        tracing::warn!(stage = %self.cx.stage, pid = worker.pid, %reason, "Worker process hung.");
                        Err(StageError::external(reason))
                    }
                }
            }
        }
    }

    fn describe_item(&self, item: &In) -> String {
        match &self.describe {
            Some(describe) => describe(item),
            None => std::any::type_name::<In>().to_string(),
        }
    }
}

impl<In, Out> ProcessPool<In, Out> {
    /// The pid of the live child, if one is running.
    pub fn child_pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.pid)
    }
}

impl<In, Out> Stage for ProcessPool<In, Out>
where
    In: Serialize + Send + 'static,
    Out: DeserializeOwned + Send + 'static,
{
    type In = In;
    type Out = Out;

    fn process(&mut self, batch: &[In]) -> Vec<ItemResult<Out>> {
        batch.iter().map(|item| self.process_one(item)).collect()
    }

    fn on_start(&mut self) -> Result<(), StageError> {
        // Start the child now, so a misconfigured command fails the run before any item is lost.
        self.ensure_child().map(|_| ())
    }

    fn describe(&self, item: &In) -> String {
        self.describe_item(item)
    }

    fn key(&self, item: &In) -> Option<String> {
        self.key.as_ref().map(|key| key(item))
    }

    fn sequence(&self, item: &In) -> Option<u64> {
        self.sequence.as_ref().map(|sequence| sequence(item))
    }
}

impl<In, Out> Drop for ProcessPool<In, Out> {
    fn drop(&mut self) {
        if let Some(mut worker) = self.child.take() {
            // Closing stdin asks the child to finish; give it a moment, then make sure.
            drop(worker.stdin);
            let deadline = Instant::now() + Duration::from_secs(2);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = worker.process.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = worker.process.kill();
            let _ = worker.process.wait();
        }
    }
}

impl<In, Out> fmt::Debug for ProcessPool<In, Out> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessPool")
            .field("config", &self.config)
            .field("pid", &self.child_pid())
            .finish()
    }
}
