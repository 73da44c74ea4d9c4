//! The supervision tree (ractor): the graph's root actor supervises one actor per stage, which
//! supervises that stage's workers. Actors carry lifecycle only; items never travel as messages.
//!
//! ```text
//! GraphRoot ──┬── StageSupervisor "render" ──┬── Worker 0 (thread or task)
//!             │                              └── Worker 1
//!             └── StageSupervisor "panels" ───── Worker 0
//! ```
//!
//! A worker whose `process` panics fails its actor; the stage supervisor re-queues the items it held
//! (or dead-letters those out of retries) and starts a replacement in the same slot. A failure
//! outside `process` (a stage that cannot build) fails the stage supervisor, and the root ends the
//! run with that error.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::sync::oneshot;

use crate::error::EngineError;
use crate::summary::{RunSummary, StageSummary};
use crate::worker::{GraphContext, Recovery, StageRunner, WorkerExit};

/// How often queue depth and busy ratio are sampled.
const SAMPLE_PERIOD: Duration = Duration::from_millis(500);

// === Worker ===

/// Wraps one worker thread or task, so its end becomes a supervision event.
pub(crate) struct Worker;

pub(crate) enum WorkerMsg {
    Exited(WorkerExit),
}

pub(crate) struct WorkerArgs {
    runner: Arc<dyn StageRunner>,
    slot: usize,
}

impl Actor for Worker {
    type Msg = WorkerMsg;
    type State = ();
    type Arguments = WorkerArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<WorkerMsg>,
        args: WorkerArgs,
    ) -> Result<(), ActorProcessingErr> {
        let me = myself.clone();
        Arc::clone(&args.runner).start_worker(
            args.slot,
            Box::new(move |exit| {
                // The actor outlives its worker, so this only fails while the graph is torn down.
                let _ = me.send_message(WorkerMsg::Exited(exit));
            }),
        );
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<WorkerMsg>,
        message: WorkerMsg,
        _state: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        match message {
            WorkerMsg::Exited(WorkerExit::Drained) => {
                myself.stop(Some("input drained".to_string()));
                Ok(())
            }
            WorkerMsg::Exited(WorkerExit::Panicked(reason)) => {
                Err(format!("worker panicked: {reason}").into())
            }
            WorkerMsg::Exited(WorkerExit::Fatal(reason)) => Err(reason.into()),
        }
    }
}

// === Stage supervisor ===

/// Supervises the workers of one stage: restarts them, samples their gauges, reports the end.
pub(crate) struct StageSupervisor;

pub(crate) enum StageMsg {
    Sample,
}

pub(crate) struct StageArgs {
    runner: Arc<dyn StageRunner>,
    root: ActorRef<RootMsg>,
}

pub(crate) struct StageState {
    runner: Arc<dyn StageRunner>,
    root: ActorRef<RootMsg>,
    slots: HashMap<ActorId, usize>,
    sampler: Option<tokio::task::JoinHandle<()>>,
}

impl StageSupervisor {
    async fn spawn_worker(
        myself: &ActorRef<StageMsg>,
        state: &mut StageState,
        slot: usize,
    ) -> Result<(), ActorProcessingErr> {
        let args = WorkerArgs {
            runner: Arc::clone(&state.runner),
            slot,
        };
        let (worker, _) = Actor::spawn_linked(None, Worker, args, myself.get_cell()).await?;
        state.slots.insert(worker.get_id(), slot);
        state.runner.metrics().set_workers(state.slots.len());
        Ok(())
    }
}

impl Actor for StageSupervisor {
    type Msg = StageMsg;
    type State = StageState;
    type Arguments = StageArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<StageMsg>,
        args: StageArgs,
    ) -> Result<StageState, ActorProcessingErr> {
        let mut state = StageState {
            runner: args.runner,
            root: args.root,
            slots: HashMap::new(),
            sampler: None,
        };
        for slot in 0..state.runner.workers() {
            Self::spawn_worker(&myself, &mut state, slot).await?;
        }
        tracing::debug!(stage = %state.runner.name(), workers = state.runner.workers(), kind = state.runner.kind().as_str(), "Stage started.");
        Ok(state)
    }

    async fn post_start(
        &self,
        myself: ActorRef<StageMsg>,
        state: &mut StageState,
    ) -> Result<(), ActorProcessingErr> {
        state.sampler = Some(myself.send_interval(SAMPLE_PERIOD, || StageMsg::Sample));
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<StageMsg>,
        state: &mut StageState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(sampler) = state.sampler.take() {
            sampler.abort();
        }
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<StageMsg>,
        message: StageMsg,
        state: &mut StageState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            StageMsg::Sample => state.runner.sample(),
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<StageMsg>,
        event: SupervisionEvent,
        state: &mut StageState,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorTerminated(cell, _, _) => {
                if state.slots.remove(&cell.get_id()).is_some() {
                    state.runner.metrics().set_workers(state.slots.len());
                }
                if state.slots.is_empty() {
                    state.runner.finish();
                    tracing::debug!(stage = %state.runner.name(), "Stage drained.");
                    let _ = state
                        .root
                        .send_message(RootMsg::StageDone(state.runner.name().to_string()));
                    myself.stop(Some("drained".to_string()));
                }
            }
            SupervisionEvent::ActorFailed(cell, error) => {
                let Some(slot) = state.slots.remove(&cell.get_id()) else {
                    return Ok(());
                };
                match state.runner.recover(slot) {
                    Recovery::Restart => {
                        state.runner.metrics().record_restart();
                        tracing::warn!(stage = %state.runner.name(), slot, %error, "Worker failed; restarting it.");
                        Self::spawn_worker(&myself, state, slot).await?;
                    }
                    Recovery::Fatal(reason) => {
                        tracing::error!(stage = %state.runner.name(), slot, %reason, "Stage failed.");
                        return Err(reason.into());
                    }
                }
            }
            SupervisionEvent::ActorStarted(_) | SupervisionEvent::ProcessGroupChanged(_) => {}
        }
        Ok(())
    }
}

// === Root ===

/// Supervises every stage of one graph and reports the run's end.
pub(crate) struct GraphRoot;

pub(crate) enum RootMsg {
    StageDone(String),
}

pub(crate) struct RootArgs {
    pub(crate) graph: String,
    pub(crate) runners: Vec<Arc<dyn StageRunner>>,
    pub(crate) context: Arc<GraphContext>,
    pub(crate) reply: oneshot::Sender<Result<RunSummary, EngineError>>,
}

pub(crate) struct RootState {
    graph: String,
    runners: Vec<Arc<dyn StageRunner>>,
    context: Arc<GraphContext>,
    stages: HashMap<ActorId, String>,
    running: usize,
    started: Instant,
    reply: Option<oneshot::Sender<Result<RunSummary, EngineError>>>,
}

impl RootState {
    fn summary(&self) -> RunSummary {
        RunSummary {
            graph: self.graph.clone(),
            elapsed: self.started.elapsed(),
            drained_early: self.context.shutdown.is_requested(),
            stages: self
                .runners
                .iter()
                .map(|runner| StageSummary::of(runner.as_ref()))
                .collect(),
        }
    }
}

impl Actor for GraphRoot {
    type Msg = RootMsg;
    type State = RootState;
    type Arguments = RootArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<RootMsg>,
        args: RootArgs,
    ) -> Result<RootState, ActorProcessingErr> {
        let mut state = RootState {
            graph: args.graph,
            runners: args.runners,
            context: args.context,
            stages: HashMap::new(),
            running: 0,
            started: Instant::now(),
            reply: Some(args.reply),
        };
        // Downstream first, so that no stage sends into a queue whose workers are not yet up.
        for runner in state.runners.iter().rev() {
            let stage_args = StageArgs {
                runner: Arc::clone(runner),
                root: myself.clone(),
            };
            let (stage, _) =
                Actor::spawn_linked(None, StageSupervisor, stage_args, myself.get_cell()).await?;
            state
                .stages
                .insert(stage.get_id(), runner.name().to_string());
            state.running += 1;
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<RootMsg>,
        message: RootMsg,
        state: &mut RootState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            RootMsg::StageDone(stage) => {
                state.running -= 1;
                tracing::debug!(%stage, left = state.running, "Stage finished.");
                if state.running == 0 {
                    if let Some(reply) = state.reply.take() {
                        let _ = reply.send(Ok(state.summary()));
                    }
                    myself.stop(Some("graph drained".to_string()));
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<RootMsg>,
        event: SupervisionEvent,
        state: &mut RootState,
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(cell, error) = event {
            let stage = state
                .stages
                .get(&cell.get_id())
                .cloned()
                .unwrap_or_else(|| "?".to_string());
            state.context.shutdown.request();
            if let Some(reply) = state.reply.take() {
                let _ = reply.send(Err(EngineError::StageFailed {
                    stage,
                    reason: error.to_string(),
                }));
            }
            myself.stop(Some("a stage failed".to_string()));
        }
        Ok(())
    }
}
