//! `panelscope train`: trains the learned copy-detection embedder
//! ([`panelscope_models::learned`]) self-supervised, the SSCD way (Pizzi et al., [A
//! Self-Supervised Descriptor for Image Copy Detection](https://arxiv.org/abs/2202.10261)): every
//! batch holds two strongly edited views of each of its panels ([`views`]); a view's positive is
//! the other view of its panel, every other view in the batch is a negative (InfoNCE), and a
//! KoLeo term (the differential-entropy regulariser) spreads the vectors by pushing each away
//! from its nearest negative. SSCD's temperature (0.05) and KoLeo weight (30) are for batches of
//! 4096 views; from scratch at 64 views the defaults are 0.1 and 3 (measured: at weight 30 the
//! KoLeo term outweighed InfoNCE and positives stopped converging; at 0.05 learning was slower).
//!
//! Panels ([`data`]) are procedural blots, gels, micrographs, charts and diagrams from the synth
//! generators, with look-alike siblings in the same batch as hard negatives, plus real panels
//! from `../shared/data` split by host; the evaluation catalogs' real hosts are never trained on.
//! Loss and the held-out retrieval scores of the model and of the classical descriptor
//! ([`eval`]) are logged as training runs; the result is written as safetensors with a model card
//! beside it.
//!
//! A batch's views are made on every core, each from a random stream of its own, so a run is
//! the same whatever the number of cores. `--minutes` trains for a wall-clock budget: the
//! first steps are timed and the run's length fixed at what fits; the model card gives the
//! `--steps` that repeat it.
//!
//! ```text
//! panelscope train --out models/weights/panelscope-embed-small.safetensors
//! ```

mod data;
mod eval;
mod views;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use candle_core::{DType, Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use image::RgbImage;
use panelscope_models::learned::{self, Config, LearnedNet};
use panelscope_models::{ClassicalEmbedder, DevicePreference, Embedder, LearnedEmbedder};
use rayon::prelude::*;

use crate::synth::rng::{Rng, mix};
use data::{ProceduralSpec, RealKind, RealPanel};
use eval::{HeldOut, Scores};

/// The model shapes `--preset` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// [`Config::small`], the shipped model.
    Small,
    /// [`Config::tiny`], for smoke tests.
    Tiny,
}

impl Preset {
    fn config(self) -> Config {
        match self {
            Preset::Small => Config::small(),
            Preset::Tiny => Config::tiny(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Preset::Small => "small",
            Preset::Tiny => "tiny",
        }
    }
}

/// What to train and how.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// The weights file to write (`.safetensors`); the model card goes beside it (`.md`).
    pub out: PathBuf,
    /// Optimiser steps (at most, with a time budget).
    pub steps: usize,
    /// Wall-clock time for the optimiser steps: after [`BUDGET_FIXED_AT`] steps the run's
    /// length is fixed at what fits (at most `steps`). Loading, held-out evaluations and the
    /// final scoring come on top.
    pub time_budget: Option<Duration>,
    /// Panels per batch (each gives two views).
    pub batch: usize,
    /// Model shape.
    pub preset: Preset,
    /// Input side (pixels), overriding the preset's.
    pub input_side: Option<usize>,
    /// Seed of everything random: initial weights, panels, edits, held-out set.
    pub seed: u64,
    /// The `../shared/data` folder, or `None` for procedural panels only.
    pub real_data: Option<PathBuf>,
    /// Where the model trains.
    pub device: DevicePreference,
    /// Peak AdamW learning rate.
    pub learning_rate: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Steps of linear warm-up before the cosine decay.
    pub warmup_steps: usize,
    /// InfoNCE temperature.
    pub temperature: f64,
    /// Weight of the KoLeo (entropy) regulariser.
    pub entropy_weight: f64,
    /// Steps between loss lines.
    pub log_every: usize,
    /// Steps between held-out evaluations (0 = only at the end).
    pub eval_every: usize,
    /// Procedural held-out panels (and as many distractors); real queries are capped at it too.
    pub held_out: usize,
    /// Share of the real hosts (besides the evaluation catalogs') held out.
    pub held_out_share: f32,
    /// Catalogs (`seed`, `docs`) whose real hosts are never trained on.
    pub exclude_catalogs: Vec<(u64, u32)>,
    /// Weights stored as f16 (half the size; the model card's scores are of the stored file).
    pub half: bool,
    /// The command line, for the model card.
    pub command: String,
}

/// What a training run wrote.
#[derive(Debug, Clone)]
pub struct TrainSummary {
    /// The weights file.
    pub weights: PathBuf,
    /// The model card.
    pub card: PathBuf,
    /// The weights' fingerprint.
    pub fingerprint: String,
    /// One line comparing the held-out scores of the learned and classical embedders.
    pub comparison: String,
}

/// Procedural panels kept ready for batches, per panel of a batch (at most [`POOL`]); a few are
/// replaced every step, so the data keeps changing without drawing every panel anew.
const POOL_PER_PANEL: usize = 12;

/// Most procedural panels kept ready.
const POOL: usize = 384;

/// Pool entries replaced by new panels each step, per [`REFRESH_BATCH`] panels of a batch.
const REFRESH: usize = 6;

/// The batch size [`REFRESH`] is for.
const REFRESH_BATCH: usize = 32;

/// Pool entries replaced each step for batches of `batch` panels.
fn refresh_per_step(batch: usize) -> usize {
    (REFRESH * batch).div_ceil(REFRESH_BATCH)
}

/// Share of a batch's panels that are real, when real training panels exist.
const REAL_SHARE: f32 = 0.35;

/// Share of new pool panels that arrive with a look-alike sibling.
const SIBLING_SHARE: f32 = 0.35;

/// Batches prepared ahead of the optimiser, on their own thread.
const PREFETCH: usize = 3;

/// Attempts at a view that is not flat before the unedited panel stands in.
const MAX_VIEW_TRIES: usize = 5;

/// Least deviation of a preprocessed view: one gray level of the panel (levels are divided by
/// at least [`learned::MIN_DEVIATION`]).
const MIN_VIEW_DEVIATION: f32 = 1.0 / learned::MIN_DEVIATION;

/// Stream of the training batches' random numbers.
const BATCH_STREAM: u64 = 0xBA7C4;

/// Stream of the initial weights.
const INIT_STREAM: u64 = 0x1417;

/// Steps left out of the time budget's timing: the first include CUDA's kernel compilation and
/// the prefetch queue filling.
const BUDGET_UNTIMED_STEPS: usize = 10;

/// The step after which a time budget fixes the run's length. The learning rate up to it is the
/// warm-up's, which does not depend on the length, so `--steps` with the length it chose gives
/// the same run.
const BUDGET_FIXED_AT: usize = 50;

/// Trains, evaluates and writes the model and its card.
pub fn run(options: &TrainOptions) -> Result<TrainSummary> {
    ensure!(options.steps > 0, "train needs at least one step (--steps)");
    ensure!(
        options.time_budget.is_none()
            || (options.warmup_steps >= BUDGET_FIXED_AT
                && options.steps >= 2 * options.warmup_steps),
        "a time budget (--minutes) needs at least {BUDGET_FIXED_AT} warm-up steps (--warmup) and \
         --steps of at least twice the warm-up, so that the steps it times are all warm-up"
    );
    // The run's length may be fixed by the time budget; what is written is as if it were given.
    let mut options = options.clone();
    ensure!(
        options.batch >= 2,
        "a batch needs at least two panels (--batch)"
    );
    let mut config = options.preset.config();
    if let Some(side) = options.input_side {
        config.input_side = side;
    }
    let device = panelscope_models::select_device(options.device)?;
    let started = Instant::now();

    // Real panels, split by host.
    let mut excluded_hosts = BTreeSet::new();
    let (train_real, held_out_real) = match &options.real_data {
        Some(dir) => {
            let panels = data::load_real(dir)?;
            for &(seed, docs) in &options.exclude_catalogs {
                excluded_hosts.extend(data::catalog_hosts(dir, seed, docs)?);
            }
            data::split_by_host(
                panels,
                &excluded_hosts,
                options.held_out_share,
                options.seed,
            )
        }
        None => (Vec::new(), Vec::new()),
    };
    let data_table = data_table(&train_real, &held_out_real);
    println!(
        "real panels: {} for training, {} held out ({} hosts of the evaluation catalogs {:?})",
        train_real.len(),
        held_out_real.len(),
        excluded_hosts.len(),
        options.exclude_catalogs
    );

    let held_out = HeldOut::build(&held_out_real, options.held_out, options.seed)?;
    let (queries, gallery) = held_out.sizes();
    let classical_embedder = ClassicalEmbedder::default();
    let classical = held_out.score(&classical_embedder)?;
    println!(
        "held-out: {queries} edited queries against {gallery} gallery panels; classical: {}",
        describe(&classical)
    );

    // The model, initialised from the seed.
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
    LearnedNet::load(vb.clone(), &config)?;
    initialise(&varmap, options.seed, &device)?;
    let parameters: usize = varmap.all_vars().iter().map(|v| v.elem_count()).sum();
    println!(
        "model: {} ({parameters} parameters) on {:?}",
        config.to_metadata(),
        device
    );
    let mut optimizer = AdamW::new(
        varmap.all_vars(),
        ParamsAdamW {
            lr: options.learning_rate,
            weight_decay: options.weight_decay,
            ..Default::default()
        },
    )?;

    // Batches come from their own thread while the optimiser works.
    let (sender, batches) = mpsc::sync_channel::<Result<Vec<f32>>>(PREFETCH);
    let sampler_options = (options.batch, config.input_side, options.steps);
    ensure!(
        options.batch * 2 <= POOL,
        "a batch holds at most {} panels (--batch)",
        POOL / 2
    );
    let mut sampler = Sampler::new(
        train_real.clone(),
        options.seed,
        (options.batch * POOL_PER_PANEL).min(POOL),
    );
    let producer = std::thread::Builder::new()
        .name("train-batches".into())
        .spawn(move || {
            let (batch, side, steps) = sampler_options;
            for _ in 0..steps {
                if sender.send(sampler.next(batch, side)).is_err() {
                    break;
                }
            }
        })
        .context("cannot start the batch thread")?;

    let masks = Masks::new(options.batch, &device)?;
    let mut log = Vec::new();
    let mut window = Window::default();
    let mut scores = Vec::new();
    let mut last_log = Instant::now();
    let mut skipped = 0usize;
    let mut budget = options.time_budget.map(TimeBudget::new);
    let mut step = 0;
    while step < options.steps {
        step += 1;
        if let Some(budget) = budget.as_mut()
            && let Some(per_second) = budget.steps_per_second(step)
        {
            let fits = BUDGET_FIXED_AT + (budget.left().as_secs_f64() * per_second) as usize;
            options.steps = fits.clamp(2 * options.warmup_steps, options.steps);
            options.command = reproduce_command(&options.command, options.steps);
            let line = format!(
                "time budget {:.1} min: {per_second:.1} steps/s, so {} steps",
                budget.limit.as_secs_f64() / 60.0,
                options.steps
            );
            println!("{line}");
            log.push(line);
        }
        let pixels = batches
            .recv()
            .context("the batch thread stopped")?
            .context("cannot make a batch")?;
        let lr = schedule(&options, step);
        optimizer.set_learning_rate(lr);
        let net = LearnedNet::load(vb.clone(), &config)?;
        let side = config.input_side;
        let input = Tensor::from_vec(
            pixels,
            (2 * options.batch, learned::PLANES, side, side),
            &device,
        )?;
        let embeddings = net.forward(&input)?;
        let loss = sscd_loss(&embeddings, &masks, &options)?;
        // A step whose gradients overflowed would poison every weight (and ReLU hides NaN as 0,
        // so the model would silently collapse): skip it and say so.
        let gradients = loss.total.backward()?;
        if finite(&gradients, &varmap)? {
            optimizer.step(&gradients)?;
        } else {
            skipped += 1;
            println!("step {step:>5}  skipped: gradients not finite");
        }
        window.add(&loss)?;

        if step % options.log_every == 0 || step == options.steps {
            let line = window.line(
                step,
                lr,
                options.batch * 2,
                last_log.elapsed().as_secs_f64(),
            );
            println!("{line}");
            log.push(line);
            window = Window::default();
            last_log = Instant::now();
        }
        let evaluate = options.eval_every > 0 && step % options.eval_every == 0;
        if evaluate && step != options.steps {
            let current = LearnedEmbedder::from_bytes(
                learned::to_bytes(&tensors(&varmap), &config, DType::F32)?,
                &device,
            )?;
            let score = held_out.score(&current)?;
            let line = progress_line(step, &score, &classical, "");
            println!("{line}");
            log.push(line);
            scores.push((step, score));
            last_log = Instant::now();
        }
    }
    drop(batches);
    producer
        .join()
        .map_err(|_| anyhow::anyhow!("the batch thread panicked"))?;
    let train_seconds = started.elapsed().as_secs_f64();

    // The stored file is what gets scored: f16 rounding included.
    if let Some(parent) = options.out.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let dtype = if options.half { DType::F16 } else { DType::F32 };
    learned::save(&tensors(&varmap), &config, dtype, &options.out)?;
    let shipped = LearnedEmbedder::load(&options.out, &Device::Cpu)?;
    let final_scores = held_out.score(&shipped)?;
    let line = progress_line(options.steps, &final_scores, &classical, "; stored file");
    println!("{line}");
    log.push(line);
    scores.push((options.steps, final_scores.clone()));

    let speed = Speed::measure(&shipped, &classical_embedder, &held_out)?;
    let size = std::fs::metadata(&options.out)?.len();
    let card = options.out.with_extension("md");
    let text = model_card(&CardInput {
        options: &options,
        config: &config,
        fingerprint: &shipped.fingerprint().to_string(),
        parameters,
        size,
        data_table: &data_table,
        excluded_hosts: excluded_hosts.len(),
        held_out: (queries, gallery),
        scores: &scores,
        classical: &classical,
        log: &log,
        speed: &speed,
        seconds: train_seconds,
        device: &device,
        skipped,
        trains_real_blots: train_real
            .iter()
            .any(|p| matches!(p.kind, RealKind::PolimiBlot | RealKind::BandCrop)),
    });
    std::fs::write(&card, text).with_context(|| format!("cannot write {}", card.display()))?;
    Ok(TrainSummary {
        weights: options.out.clone(),
        card,
        fingerprint: shipped.fingerprint().to_string(),
        comparison: format!(
            "held-out recall@1 (strong edits): learned {:.3}, classical {:.3}; single catalog edits: learned {:.3}, classical {:.3}; embed speed (this machine, {} thread(s)): learned {:.0} panels/s ({:.0} with 8 dihedral views), classical {:.0} ({:.0})",
            final_scores.recall_at_1,
            classical.recall_at_1,
            final_scores.single_edit_recall_at_1,
            classical.single_edit_recall_at_1,
            speed.threads,
            speed.learned.0,
            speed.learned.1,
            speed.classical.0,
            speed.classical.1
        ),
    })
}

/// The clock of `--minutes`: times the optimiser's steps after the first few.
struct TimeBudget {
    limit: Duration,
    started: Instant,
    timed_from: Option<Instant>,
}

impl TimeBudget {
    fn new(limit: Duration) -> Self {
        Self {
            limit,
            started: Instant::now(),
            timed_from: None,
        }
    }

    /// Called before each step: the steps per second of the timed steps, once, when the run's
    /// length is to be fixed.
    fn steps_per_second(&mut self, step: usize) -> Option<f64> {
        if step == BUDGET_UNTIMED_STEPS + 1 {
            self.timed_from = Some(Instant::now());
        }
        let timed_from = self.timed_from.filter(|_| step == BUDGET_FIXED_AT + 1)?;
        let seconds = timed_from.elapsed().as_secs_f64().max(1e-9);
        Some((BUDGET_FIXED_AT - BUDGET_UNTIMED_STEPS) as f64 / seconds)
    }

    /// Time left of the budget.
    fn left(&self) -> Duration {
        self.limit.saturating_sub(self.started.elapsed())
    }
}

/// `command` with `--steps steps` in place of its `--steps` and `--minutes`: the command that
/// repeats a run whose length a time budget chose.
fn reproduce_command(command: &str, steps: usize) -> String {
    let mut words = Vec::new();
    let mut tokens = command.split(' ');
    while let Some(token) = tokens.next() {
        match token {
            "--steps" | "--minutes" => {
                tokens.next();
            }
            _ if token.starts_with("--steps=") || token.starts_with("--minutes=") => {}
            _ => words.push(token.to_string()),
        }
    }
    words.push(format!("--steps {steps}"));
    words.join(" ")
}

/// Sets every weight from the seed, so a run is reproducible on any device: convolutions and
/// the projection get He-normal values; norms keep their ones and zeros; biases start at zero.
fn initialise(varmap: &VarMap, seed: u64, device: &Device) -> Result<()> {
    let vars = varmap.data().lock().expect("the var map lock");
    let names: BTreeSet<&String> = vars.keys().collect();
    for name in names {
        let var = &vars[name];
        let dims = var.dims().to_vec();
        let mut rng = Rng::derive(
            seed,
            mix(
                INIT_STREAM,
                u64::from_le_bytes(
                    blake3::hash(name.as_bytes()).as_bytes()[..8]
                        .try_into()
                        .expect("eight bytes"),
                ),
            ),
        );
        let values: Option<Vec<f32>> = match dims.len() {
            4 | 2 => {
                let fan_in: usize = dims[1..].iter().product();
                let gain = if dims.len() == 4 { 2.0 } else { 1.0 };
                let std = (gain / fan_in as f32).sqrt();
                Some(
                    (0..var.elem_count())
                        .map(|_| rng.gaussian() * std)
                        .collect(),
                )
            }
            1 if name.starts_with("projection") => Some(vec![0.0; var.elem_count()]),
            _ => None,
        };
        if let Some(values) = values {
            var.set(&Tensor::from_vec(values, dims, device)?)?;
        }
    }
    Ok(())
}

/// Whether every gradient of the model is finite.
fn finite(gradients: &candle_core::backprop::GradStore, varmap: &VarMap) -> Result<bool> {
    for var in varmap.all_vars() {
        if let Some(gradient) = gradients.get(var.as_tensor()) {
            let total = gradient
                .sum_all()?
                .to_dtype(DType::F32)?
                .to_scalar::<f32>()?;
            // NaN and ±inf both survive a sum.
            if !total.is_finite() {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// The learning rate of `step` (1-based): linear warm-up, then cosine decay to zero.
fn schedule(options: &TrainOptions, step: usize) -> f64 {
    let warmup = options.warmup_steps.min(options.steps / 2);
    if step <= warmup {
        return options.learning_rate * step as f64 / warmup.max(1) as f64;
    }
    let progress = (step - warmup) as f64 / (options.steps - warmup).max(1) as f64;
    options.learning_rate * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
}

fn tensors(varmap: &VarMap) -> HashMap<String, Tensor> {
    varmap
        .data()
        .lock()
        .expect("the var map lock")
        .iter()
        .map(|(name, var)| (name.clone(), var.as_tensor().clone()))
        .collect()
}

/// Which pairs of the `2B` views are positives and which negatives: view `i` and view `i + B`
/// show one panel.
struct Masks {
    positive: Tensor,
    negative: Tensor,
}

impl Masks {
    fn new(batch: usize, device: &Device) -> Result<Self> {
        let n = 2 * batch;
        let mut positive = vec![0f32; n * n];
        let mut negative = vec![1f32; n * n];
        for i in 0..n {
            let pair = (i + batch) % n;
            positive[i * n + pair] = 1.0;
            negative[i * n + pair] = 0.0;
            negative[i * n + i] = 0.0;
        }
        Ok(Self {
            positive: Tensor::from_vec(positive, (n, n), device)?,
            negative: Tensor::from_vec(negative, (n, n), device)?,
        })
    }
}

/// One step's loss and its parts.
struct Loss {
    total: Tensor,
    infonce: Tensor,
    entropy: Tensor,
    positive_similarity: Tensor,
    nearest_negative_similarity: Tensor,
}

/// SSCD's loss: InfoNCE of each view against its positive and the batch's negatives, plus the
/// KoLeo term `-λ mean(log d)`, `d` the distance to the nearest negative
/// (`sscd/train.py`, `SSCD.loss`).
fn sscd_loss(embeddings: &Tensor, masks: &Masks, options: &TrainOptions) -> Result<Loss> {
    let similarity = embeddings.matmul(&embeddings.t()?)?;
    let logits = (&similarity / options.temperature)?;
    let exp = logits.exp()?;
    let positive_logit = (&logits * &masks.positive)?.sum(1)?;
    let positive_exp = (&exp * &masks.positive)?.sum(1)?;
    let negative_exp = (&exp * &masks.negative)?.sum(1)?;
    let infonce = ((positive_exp + negative_exp)? + 1e-6)?
        .log()?
        .sub(&positive_logit)?
        .mean_all()?;
    // Non-negatives sink far below any cosine before the max.
    let sunk = ((&masks.negative - 1.0)? * 100.0)?;
    let nearest = ((&similarity * &masks.negative)? + sunk)?.max(1)?;
    let distance = ((nearest.affine(-2.0, 2.0)?).clamp(1e-6, 4.0)?).sqrt()?;
    let entropy = (distance.log()?.mean_all()? * -options.entropy_weight)?;
    let total = (&infonce + &entropy)?;
    let positive_similarity = (&similarity * &masks.positive)?.sum(1)?.mean_all()?;
    Ok(Loss {
        total,
        infonce,
        entropy,
        positive_similarity,
        nearest_negative_similarity: nearest.mean_all()?,
    })
}

/// Loss statistics over the steps since the last log line.
#[derive(Default)]
struct Window {
    steps: usize,
    sums: [f64; 5],
}

impl Window {
    fn add(&mut self, loss: &Loss) -> Result<()> {
        let values = [
            &loss.total,
            &loss.infonce,
            &loss.entropy,
            &loss.positive_similarity,
            &loss.nearest_negative_similarity,
        ];
        for (sum, value) in self.sums.iter_mut().zip(values) {
            *sum += f64::from(value.to_dtype(DType::F32)?.to_scalar::<f32>()?);
        }
        self.steps += 1;
        Ok(())
    }

    fn line(&self, step: usize, lr: f64, views: usize, seconds: f64) -> String {
        let mean = |k: usize| self.sums[k] / self.steps.max(1) as f64;
        format!(
            "step {step:>5}  loss {:.3} (InfoNCE {:.3}, KoLeo {:.3})  cos positive {:.3} nearest negative {:.3}  lr {lr:.2e}  {:.0} views/s",
            mean(0),
            mean(1),
            mean(2),
            mean(3),
            mean(4),
            (self.steps * views) as f64 / seconds.max(1e-9)
        )
    }
}

/// A pool panel: its pixels and its family (a panel and its look-alikes share one).
struct PoolEntry {
    pixels: Arc<RgbImage>,
    family: u64,
}

/// Makes training batches: `2B` preprocessed views, the first view of every panel, then the
/// second in the same order.
struct Sampler {
    rng: Rng,
    /// Pool entries kept.
    capacity: usize,
    pool: Vec<PoolEntry>,
    real: Vec<RealPanel>,
    next_family: u64,
}

impl Sampler {
    fn new(real: Vec<RealPanel>, seed: u64, capacity: usize) -> Self {
        let mut sampler = Self {
            rng: Rng::derive(seed, BATCH_STREAM),
            capacity,
            pool: Vec::with_capacity(capacity),
            real,
            next_family: 0,
        };
        while sampler.pool.len() < capacity {
            // Slots as they fill: a panel, then its look-alike if it has one.
            let slot = sampler.pool.len();
            sampler.draw_into(&[slot]);
        }
        sampler
    }

    /// Puts new panels (each maybe with its look-alike, in the following slot) at `slots`, in
    /// order. The specs come off the sampler's stream one after another, so the pool does not
    /// depend on the number of cores; drawing the pixels, the slow part, runs on all of them.
    fn draw_into(&mut self, slots: &[usize]) {
        let mut planned = Vec::with_capacity(slots.len());
        for &slot in slots {
            let spec = ProceduralSpec::random(&mut self.rng);
            let family = self.next_family;
            self.next_family += 1;
            let sibling = self
                .rng
                .chance(SIBLING_SHARE)
                .then(|| spec.sibling(&mut self.rng));
            planned.push((slot, family, spec, sibling));
        }
        let rendered: Vec<Vec<RgbImage>> = planned
            .par_iter()
            .map(|(_, _, spec, sibling)| {
                std::iter::once(spec)
                    .chain(sibling.as_ref())
                    .map(ProceduralSpec::render)
                    .collect()
            })
            .collect();
        for ((slot, family, _, _), entries) in planned.into_iter().zip(rendered) {
            for (offset, pixels) in entries.into_iter().enumerate() {
                let entry = PoolEntry {
                    pixels: Arc::new(pixels),
                    family,
                };
                let at = slot + offset;
                if at < self.pool.len() {
                    self.pool[at] = entry;
                } else if self.pool.len() < self.capacity {
                    self.pool.push(entry);
                }
            }
        }
    }

    fn next(&mut self, batch: usize, side: usize) -> Result<Vec<f32>> {
        let slots: Vec<usize> = (0..refresh_per_step(batch))
            .map(|_| self.rng.below(self.capacity))
            .collect();
        self.draw_into(&slots);
        let mut sources: Vec<Arc<RgbImage>> = Vec::with_capacity(batch);
        let mut used_slots = BTreeSet::new();
        let mut used_hosts = BTreeSet::new();
        while sources.len() < batch {
            if !self.real.is_empty() && self.rng.chance(REAL_SHARE) {
                // One panel per host: two crops of one blot would be false negatives.
                let panel = &self.real[self.rng.below(self.real.len())];
                if used_hosts.insert(panel.host.clone()) {
                    sources.push(panel.pixels.clone());
                }
                continue;
            }
            let slot = self.rng.below(self.capacity);
            if !used_slots.insert(slot) {
                continue;
            }
            sources.push(self.pool[slot].pixels.clone());
            // A look-alike in the same batch is the negative that teaches specimen from style.
            let family = self.pool[slot].family;
            let mate = [slot.wrapping_sub(1), slot + 1]
                .into_iter()
                .find(|&s| s < self.capacity && self.pool[s].family == family);
            if let Some(mate) = mate
                && sources.len() < batch
                && used_slots.insert(mate)
            {
                sources.push(self.pool[mate].pixels.clone());
            }
        }
        // Each view draws its edits from a stream of its own, seeded here in order, so a batch
        // is the same whatever the number of cores that make its views.
        let seeds: Vec<u64> = (0..2 * batch).map(|_| self.rng.next_u64()).collect();
        let pool = &self.pool;
        let views = seeds
            .par_iter()
            .enumerate()
            .map(|(index, &seed)| view(pool, &sources[index % batch], side, Rng::new(seed)))
            .collect::<Result<Vec<_>>>()?;
        Ok(views.concat())
    }
}

/// A preprocessed strongly edited view of `source`, with donors (pasted strips) from `pool`.
/// Views that came out flat (a crop of empty background, a box over everything) are drawn again:
/// the pipeline never embeds uniform panels, and a flat input gives the network's norms nothing
/// to normalise, so its gradients overflow.
fn view(pool: &[PoolEntry], source: &RgbImage, side: usize, mut rng: Rng) -> Result<Vec<f32>> {
    for _ in 0..MAX_VIEW_TRIES {
        let donor = &pool[rng.below(pool.len())].pixels;
        let view = views::strong_view(source, donor, &mut rng)?;
        let values = learned::preprocess(&view, side);
        // The first plane holds the standardised levels.
        if deviation(&values[..side * side]) >= MIN_VIEW_DEVIATION {
            return Ok(values);
        }
    }
    let plain = image::DynamicImage::ImageRgb8(source.clone()).to_luma8();
    Ok(learned::preprocess(&plain, side))
}

/// Standard deviation of preprocessed values.
fn deviation(values: &[f32]) -> f32 {
    let count = values.len().max(1) as f32;
    let mean = values.iter().sum::<f32>() / count;
    (values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / count).sqrt()
}

/// Embedding throughput on the held-out gallery, on this thread's cores.
struct Speed {
    threads: usize,
    /// Panels per second: identity vectors, and all eight dihedral views.
    learned: (f64, f64),
    classical: (f64, f64),
}

impl Speed {
    fn measure(
        learned: &dyn Embedder,
        classical: &dyn Embedder,
        held_out: &HeldOut,
    ) -> Result<Self> {
        let threads = std::env::var("RAYON_NUM_THREADS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        Ok(Self {
            threads,
            learned: held_out.throughput(learned)?,
            classical: held_out.throughput(classical)?,
        })
    }
}

/// Markdown rows: real panels by kind, training and held out.
fn data_table(train: &[RealPanel], held_out: &[RealPanel]) -> String {
    let mut counts: BTreeMap<RealKind, [(usize, BTreeSet<&str>); 2]> = BTreeMap::new();
    for (split, panels) in [train, held_out].into_iter().enumerate() {
        for panel in panels {
            let entry = &mut counts.entry(panel.kind).or_default()[split];
            entry.0 += 1;
            entry.1.insert(&panel.host);
        }
    }
    let mut table = String::from(
        "| real source | training panels (hosts) | held-out panels (hosts) |\n|---|---|---|\n",
    );
    for (kind, [train, held]) in &counts {
        let _ = writeln!(
            table,
            "| {} | {} ({}) | {} ({}) |",
            kind.name(),
            train.0,
            train.1.len(),
            held.0,
            held.1.len()
        );
    }
    table
}

/// One line of the training log: the held-out scores at `step` beside the classical descriptor's.
fn progress_line(step: usize, learned: &Scores, classical: &Scores, note: &str) -> String {
    format!(
        "step {step:>5}  held-out R@1 learned {:.3} | classical {:.3}; single-edit R@1 learned {:.3} | classical {:.3}   ({}{note})",
        learned.recall_at_1,
        classical.recall_at_1,
        learned.single_edit_recall_at_1,
        classical.single_edit_recall_at_1,
        describe(learned)
    )
}

fn describe(scores: &Scores) -> String {
    let optional = |value: Option<f32>| value.map_or("-".to_string(), |v| format!("{v:.3}"));
    format!(
        "R@1 {:.3}, R@8 {:.3}, single-edit R@1 {:.3}, procedural R@1 {:.3}, real R@1 {}, polimi same-crop R@1 {}, positive cos p10 {:.3} (single-edit {:.3}), best negative cos p90 {:.3}",
        scores.recall_at_1,
        scores.recall_at_k,
        scores.single_edit_recall_at_1,
        scores.procedural_recall_at_1,
        optional(scores.real_recall_at_1),
        optional(scores.same_crop_recall_at_1),
        scores.positive_p10,
        scores.single_edit_positive_p10,
        scores.negative_p90
    )
}

struct CardInput<'a> {
    options: &'a TrainOptions,
    config: &'a Config,
    fingerprint: &'a str,
    parameters: usize,
    size: u64,
    data_table: &'a str,
    excluded_hosts: usize,
    held_out: (usize, usize),
    scores: &'a [(usize, Scores)],
    classical: &'a Scores,
    log: &'a [String],
    speed: &'a Speed,
    seconds: f64,
    device: &'a Device,
    skipped: usize,
    /// Whether any real blot (polimi or bowenjo) is among the training panels.
    trains_real_blots: bool,
}

fn model_card(input: &CardInput) -> String {
    let o = input.options;
    let name = o.out.file_name().map_or_else(
        || o.out.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut card = String::new();
    let _ = writeln!(card, "# Model card: `{name}`\n");
    let _ = writeln!(
        card,
        "A copy-detection embedder for panelscope (`[embed] model = \"learned\"`), trained by `panelscope train` (src/train/). Not the default embedder: `bash benches/accuracy.sh` scores it in the pipeline beside the classical descriptor (`benches/accuracy.md`), with the `[index] min_similarity` that script sets for it.\n"
    );
    let _ = writeln!(card, "- Fingerprint: `{}`", input.fingerprint);
    let _ = writeln!(
        card,
        "- File: {:.1} KiB, {} weights, {} parameters",
        input.size as f64 / 1024.0,
        if o.half { "f16" } else { "f32" },
        input.parameters
    );
    let _ = writeln!(
        card,
        "- Architecture (`{}` preset): `{}`",
        o.preset.name(),
        input.config.to_metadata()
    );
    let _ = writeln!(
        card,
        "  — a pre-activation ResNetV2 (BiT blocks: weight-standardised convolutions, GroupNorm) over the gray panel resized to {s}×{s} (plain resize, aspect not kept) as two planes: levels standardised to zero mean and unit deviation (deviation floored at {m} levels), and level ranks (blind to gamma and any monotonic level change). The final feature map is mean-pooled as a whole and over a 2×2 grid, standardised over the channels, projected to {d} dimensions and L2-normalised. See models/src/learned.rs.",
        s = input.config.input_side,
        m = learned::MIN_DEVIATION,
        d = input.config.dim
    );
    let _ = writeln!(card, "\n## Reproduce\n\n```text\n{}\n```\n", o.command);
    let _ = writeln!(
        card,
        "Trained on {} in {:.1} min (wall clock, including the evaluations) with {} CPU thread(s); {} step(s) skipped for non-finite gradients.\n",
        panelscope_models::describe_device(input.device),
        input.seconds / 60.0,
        input.speed.threads,
        input.skipped
    );
    let _ = writeln!(card, "## Training\n");
    let _ = writeln!(
        card,
        "SSCD recipe (Pizzi et al. 2022): each batch holds {b} panels, two strongly edited views of each ({v} views). A view's positive is the other view of its panel; the other {n} views are negatives (InfoNCE, temperature {t}). A KoLeo term (weight {e}) pushes each view from its nearest negative. AdamW (peak learning rate {lr}, weight decay {wd}), {w} warm-up steps then cosine decay to zero, {steps} steps, seed {seed}.\n",
        b = o.batch,
        v = 2 * o.batch,
        n = 2 * o.batch - 2,
        t = o.temperature,
        e = o.entropy_weight,
        lr = o.learning_rate,
        wd = o.weight_decay,
        w = o.warmup_steps.min(o.steps / 2),
        steps = o.steps,
        seed = o.seed
    );
    let _ = writeln!(card, "### Data\n");
    let _ = writeln!(
        card,
        "- Procedural panels from the synth generators (src/synth/panels.rs, distractors.rs): membranes and blot strips, DNA gels, micrographs, charts, diagrams, in the catalog's proportions, drawn on the fly from the seed ({} in a pool, {} replaced per step); {:.0}% arrive with a look-alike sibling (same style, another specimen) that joins the same batch as a hard negative. Generated from the training seed's own streams, so never the panels of a synth catalog.",
        (o.batch * POOL_PER_PANEL).min(POOL),
        refresh_per_step(o.batch),
        SIBLING_SHARE * 100.0
    );
    match &o.real_data {
        Some(dir) => {
            let _ = writeln!(
                card,
                "- Real panels from `{}` ({:.0}% of each batch, at most one per host): polimi crops grouped by their original blot, bowenjo band crops, panels cut (XY-cut) from the figure-separator figures and from the figures marked on the PubLayNet pages, and panels of the raster images embedded in the real PDFs (pdfs/, pdfs-bio/). Hosts (original blot, figure, page, PDF) are never split between training and held-out. The {} real hosts that the evaluation catalogs {:?} (`panelscope synth --seed S --docs N`) draw from are all held out, plus a seeded {:.0}% of the others.\n",
                dir.display(),
                REAL_SHARE * 100.0,
                input.excluded_hosts,
                o.exclude_catalogs,
                o.held_out_share * 100.0
            );
            let _ = writeln!(card, "{}", input.data_table);
        }
        None => {
            let _ = writeln!(
                card,
                "- No real panels (`--real-data` not given or missing).\n"
            );
        }
    }
    let _ = writeln!(card, "### Edits (each view draws its own chain)\n");
    let _ = writeln!(card, "{}", views::odds_table());
    let _ = writeln!(card, "## Held-out retrieval\n");
    let _ = writeln!(
        card,
        "{} strongly edited queries (one per held-out panel, edits as above), and as many copies made by one edit of a synth catalog (exact, rescale, crop, flips, quarter turns, small rotation, contrast, brightness, gamma, JPEG, noise or blur; single-edit R@1), searched among {} gallery panels: the held-out originals, look-alike siblings of half the procedural ones, as many procedural distractors, and every held-out real panel. As in the pipeline, the gallery holds identity vectors and a query scores each gallery panel by the best of its eight dihedral views. R@1: the best match is the query's source (for real panels: any panel of its host). R@8: among the best 8 (the index's `top_k`). Same-crop R@1: real polimi files (edits made by people) against the other edits of the same crop, among all held-out real panels. The cosine percentiles help choose `[index] min_similarity` for this model.\n",
        input.held_out.0, input.held_out.1
    );
    let _ = writeln!(
        card,
        "| embedder | R@1 | R@8 | single-edit R@1 | procedural R@1 | real R@1 | polimi same-crop R@1 | positive cos p10 | single-edit positive cos p10 | best negative cos p90 |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    let row = |label: &str, s: &Scores| {
        let optional = |value: Option<f32>| value.map_or("-".to_string(), |v| format!("{v:.3}"));
        format!(
            "| {label} | {:.3} | {:.3} | {:.3} | {:.3} | {} | {} | {:.3} | {:.3} | {:.3} |",
            s.recall_at_1,
            s.recall_at_k,
            s.single_edit_recall_at_1,
            s.procedural_recall_at_1,
            optional(s.real_recall_at_1),
            optional(s.same_crop_recall_at_1),
            s.positive_p10,
            s.single_edit_positive_p10,
            s.negative_p90
        )
    };
    if let Some((_, last)) = input.scores.last() {
        let _ = writeln!(card, "{}", row("learned (this file)", last));
    }
    let _ = writeln!(card, "{}\n", row("classical-v1", input.classical));
    if input.scores.len() > 1 {
        let _ = writeln!(card, "Over training (R@1 of the learned model):\n");
        let _ = writeln!(
            card,
            "| step | R@1 | R@8 | single-edit R@1 |\n|---|---|---|---|"
        );
        for (step, s) in input.scores {
            let _ = writeln!(
                card,
                "| {step} | {:.3} | {:.3} | {:.3} |",
                s.recall_at_1, s.recall_at_k, s.single_edit_recall_at_1
            );
        }
        let _ = writeln!(card);
    }
    let _ = writeln!(card, "## Speed\n");
    let _ = writeln!(
        card,
        "Measured at the end of training on the held-out gallery, CPU, {} thread(s), on a machine shared with other work (treat as a lower bound). Panels per second for identity vectors (what the index stores) and for the eight dihedral views (what every query and the embed stage compute):\n",
        input.speed.threads
    );
    let _ = writeln!(
        card,
        "| embedder | identity panels/s | dihedral panels/s |\n|---|---|---|\n| learned | {:.0} | {:.0} |\n| classical-v1 | {:.0} | {:.0} |\n",
        input.speed.learned.0,
        input.speed.learned.1,
        input.speed.classical.0,
        input.speed.classical.1
    );
    let _ = writeln!(card, "## Training log\n\n```text");
    for line in input.log {
        let _ = writeln!(card, "{line}");
    }
    let _ = writeln!(card, "```\n\n## Limits\n");
    let _ = writeln!(
        card,
        "- Trained briefly on a CPU budget; the held-out set is made with the same edit generator as training, so it measures invariance to these edits, not to every edit in the wild.\n- Real data is small (hundreds of panels, a few dozen hosts); most training panels are procedural."
    );
    if o.real_data.is_some() && !input.trains_real_blots {
        let _ = writeln!(
            card,
            "- No real Western blot is trained on: the evaluation catalogs draw on every polimi and bowenjo host, so all of them are held out (they are the held-out set's real panels); real training panels are figures and images from the real PDFs and pages."
        );
    }
    let _ = writeln!(
        card,
        "- `[index] min_similarity` (0.88) was tuned for the classical descriptor; this model's cosines are lower (see the percentiles above: a threshold must sit below the single-edit positives' 10th percentile to keep 90% of single-edit copies)."
    );
    card
}

/// Parses `SEED:DOCS` catalog descriptions.
pub fn parse_catalog(text: &str) -> Result<(u64, u32)> {
    let (seed, docs) = text
        .split_once(':')
        .with_context(|| format!("`{text}` is not SEED:DOCS"))?;
    Ok((
        seed.parse()
            .with_context(|| format!("bad seed in `{text}`"))?,
        docs.parse()
            .with_context(|| format!("bad document count in `{text}`"))?,
    ))
}

/// Whether `path` looks like the data folder (holds `blots/` or `figures/`).
pub fn looks_like_data(path: &Path) -> bool {
    path.join("blots").is_dir() || path.join("figures").is_dir()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budgeted_run_is_repeated_by_its_steps() {
        assert_eq!(
            reproduce_command(
                "panelscope train --out m.safetensors --steps 100000 --minutes 75 --batch 64",
                4753
            ),
            "panelscope train --out m.safetensors --batch 64 --steps 4753"
        );
        assert_eq!(
            reproduce_command("panelscope train --minutes=5 --out m.safetensors", 200),
            "panelscope train --out m.safetensors --steps 200"
        );
    }

    #[test]
    fn a_batch_is_the_same_whatever_the_number_of_cores() {
        let batch_on = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| {
                    let mut sampler = Sampler::new(Vec::new(), 5, 8);
                    sampler.next(3, 16).unwrap();
                    sampler.next(3, 16).unwrap()
                })
        };
        let one = batch_on(1);
        assert_eq!(one.len(), 2 * 3 * learned::PLANES * 16 * 16);
        assert_eq!(one, batch_on(3));
    }
}
