//! The held-out retrieval benchmark `panelscope train` logs: edited copies of held-out panels
//! (a training-strength chain of edits, and separately one catalog edit) are searched in a
//! gallery of held-out originals, their look-alikes and distractors, the way the pipeline searches (the gallery holds identity vectors, a query takes the best of
//! its eight dihedral views). Scored for any [`Embedder`], so the learned model and the classical
//! descriptor are compared on the same queries.

use std::time::Instant;

use anyhow::Result;
use image::{DynamicImage, GrayImage, RgbImage};
use panelscope_models::Embedder;

use super::data::{ProceduralSpec, RealPanel};
use super::views::strong_view;
use crate::synth::edits::EditStep;
use crate::synth::rng::Rng;
use crate::truth::Edit;

/// Stream of the held-out set's random numbers, apart from the training batches'.
const HELD_OUT_STREAM: u64 = 0x0004_E1D0;

/// Neighbours a query may rank its source among to count for recall@k: the index's `top_k`.
const TOP_K: usize = 8;

/// Where a query comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Procedural,
    Real,
}

/// A query: an edited copy whose source is the gallery entries with its key.
struct Query {
    image: GrayImage,
    key: String,
    origin: Origin,
    /// One edit as a synth catalog plants it, rather than a training-strength chain.
    single: bool,
}

/// The fixed held-out benchmark.
pub(crate) struct HeldOut {
    gallery: Vec<GrayImage>,
    /// What each gallery entry is a copy of: a procedural panel's id or a real panel's host.
    gallery_keys: Vec<String>,
    /// Polimi `same_crop` group of gallery entries, for the real-duplicate score.
    same_crop: Vec<Option<String>>,
    queries: Vec<Query>,
}

/// Retrieval scores on the held-out set.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Scores {
    /// Share of queries whose best gallery match is their source.
    pub recall_at_1: f32,
    /// Share whose source is among the best [`TOP_K`].
    pub recall_at_k: f32,
    /// Recall@1 of copies made by one catalog edit (what `panelscope synth` plants), not by a
    /// training-strength chain.
    pub single_edit_recall_at_1: f32,
    /// Recall@1 of the procedural and of the real queries.
    pub procedural_recall_at_1: f32,
    pub real_recall_at_1: Option<f32>,
    /// Recall@1 of real polimi files against the edits of the same crop (real duplicates made
    /// by people, not by our edits), among every held-out real panel.
    pub same_crop_recall_at_1: Option<f32>,
    /// 10th percentile of the similarity of a strongly edited query to its source.
    pub positive_p10: f32,
    /// The same for single-edit queries: where `[index] min_similarity` must stay below.
    pub single_edit_positive_p10: f32,
    /// 90th percentile of the similarity of a strongly edited query to its best non-source.
    pub negative_p90: f32,
}

impl HeldOut {
    /// `count` procedural sources (half with a look-alike in the gallery) and as many
    /// distractors, plus the held-out real panels (queries from up to `count` of them).
    pub(crate) fn build(real: &[RealPanel], count: usize, seed: u64) -> Result<Self> {
        let mut rng = Rng::derive(seed, HELD_OUT_STREAM);
        let mut set = HeldOut {
            gallery: Vec::new(),
            gallery_keys: Vec::new(),
            same_crop: Vec::new(),
            queries: Vec::new(),
        };
        let mut sources: Vec<(RgbImage, String, Origin)> = Vec::new();
        for index in 0..count {
            let spec = ProceduralSpec::random(&mut rng);
            let key = format!("procedural:{index}");
            let pixels = spec.render();
            set.push_gallery(&pixels, key.clone(), None);
            if rng.chance(0.5) {
                let sibling = spec.sibling(&mut rng).render();
                set.push_gallery(&sibling, format!("look-alike:{index}"), None);
            }
            sources.push((pixels, key, Origin::Procedural));
        }
        for index in 0..count {
            let distractor = ProceduralSpec::random(&mut rng).render();
            set.push_gallery(&distractor, format!("distractor:{index}"), None);
        }
        for panel in real {
            set.push_gallery(&panel.pixels, panel.host.clone(), panel.same_crop.clone());
        }
        let mut order: Vec<usize> = (0..real.len()).collect();
        rng.shuffle(&mut order);
        for &index in order.iter().take(count) {
            let panel = &real[index];
            sources.push(((*panel.pixels).clone(), panel.host.clone(), Origin::Real));
        }
        for (pixels, key, origin) in sources {
            let donor = ProceduralSpec::random(&mut rng).render();
            let image = strong_view(&pixels, &donor, &mut rng)?;
            // The edits a synth catalog plants one at a time (splices aside).
            let catalog_edits: Vec<Edit> = Edit::ALL
                .into_iter()
                .filter(|e| *e != Edit::Splice)
                .collect();
            let edit = *rng.pick(&catalog_edits);
            let step = EditStep::random(edit, pixels.dimensions(), &mut rng);
            let single = DynamicImage::ImageRgb8(step.apply(pixels)?).to_luma8();
            set.queries.push(Query {
                image,
                key: key.clone(),
                origin,
                single: false,
            });
            set.queries.push(Query {
                image: single,
                key,
                origin,
                single: true,
            });
        }
        Ok(set)
    }

    fn push_gallery(&mut self, pixels: &RgbImage, key: String, same_crop: Option<String>) {
        self.gallery
            .push(DynamicImage::ImageRgb8(pixels.clone()).to_luma8());
        self.gallery_keys.push(key);
        self.same_crop.push(same_crop);
    }

    /// Strongly edited queries (as many single-edit ones again) and gallery entries, for the
    /// log.
    pub(crate) fn sizes(&self) -> (usize, usize) {
        (
            self.queries.iter().filter(|q| !q.single).count(),
            self.gallery.len(),
        )
    }

    /// Scores `embedder`.
    pub(crate) fn score(&self, embedder: &dyn Embedder) -> Result<Scores> {
        let gallery = embedder.embed(&self.gallery)?;
        let mut hits = [0usize; 2];
        let mut hits_k = 0usize;
        let mut counts = [0usize; 2];
        let mut single = [0usize; 2];
        let mut positives = Vec::new();
        let mut single_positives = Vec::new();
        let mut negatives = Vec::new();
        for query in &self.queries {
            let views = embedder.embed_dihedral(&query.image)?;
            let ranked = rank(&views, &gallery, |_| false);
            if query.single {
                single[1] += 1;
                if ranked
                    .first()
                    .is_some_and(|&(j, _)| self.gallery_keys[j] == query.key)
                {
                    single[0] += 1;
                }
                if let Some(&(_, similarity)) = ranked
                    .iter()
                    .find(|&&(j, _)| self.gallery_keys[j] == query.key)
                {
                    single_positives.push(similarity);
                }
                continue;
            }
            let origin = usize::from(query.origin == Origin::Real);
            counts[origin] += 1;
            let is_source = |j: usize| self.gallery_keys[j] == query.key;
            if ranked.first().is_some_and(|&(j, _)| is_source(j)) {
                hits[origin] += 1;
            }
            if ranked.iter().take(TOP_K).any(|&(j, _)| is_source(j)) {
                hits_k += 1;
            }
            if let Some(&(_, similarity)) = ranked.iter().find(|&&(j, _)| is_source(j)) {
                positives.push(similarity);
            }
            if let Some(&(_, similarity)) = ranked.iter().find(|&&(j, _)| !is_source(j)) {
                negatives.push(similarity);
            }
        }

        // Real duplicates: each polimi file with a same-crop partner in the gallery queries with
        // its own views; itself is left out of the ranking.
        let mut crop_hits = 0usize;
        let mut crop_queries = 0usize;
        for (index, group) in self.same_crop.iter().enumerate() {
            let Some(group) = group else { continue };
            let partners = self
                .same_crop
                .iter()
                .enumerate()
                .filter(|&(j, other)| j != index && other.as_ref() == Some(group))
                .count();
            if partners == 0 {
                continue;
            }
            let views = embedder.embed_dihedral(&self.gallery[index])?;
            // Other crops of the same blot overlap this one: neither positives nor negatives.
            let host = &self.gallery_keys[index];
            let ranked = rank(&views, &gallery, |j| {
                j == index
                    || (&self.gallery_keys[j] == host && self.same_crop[j].as_ref() != Some(group))
            });
            crop_queries += 1;
            if ranked
                .first()
                .is_some_and(|&(j, _)| self.same_crop[j].as_ref() == Some(group))
            {
                crop_hits += 1;
            }
        }

        let share = |hit: usize, of: usize| if of == 0 { 0.0 } else { hit as f32 / of as f32 };
        Ok(Scores {
            recall_at_1: share(hits[0] + hits[1], counts[0] + counts[1]),
            recall_at_k: share(hits_k, counts[0] + counts[1]),
            single_edit_recall_at_1: share(single[0], single[1]),
            procedural_recall_at_1: share(hits[0], counts[0]),
            real_recall_at_1: (counts[1] > 0).then(|| share(hits[1], counts[1])),
            same_crop_recall_at_1: (crop_queries > 0).then(|| share(crop_hits, crop_queries)),
            positive_p10: percentile(&mut positives, 0.1),
            single_edit_positive_p10: percentile(&mut single_positives, 0.1),
            negative_p90: percentile(&mut negatives, 0.9),
        })
    }
}

impl HeldOut {
    /// Panels per second of `embedder` on gallery panels: identity vectors (one batch, as the
    /// index is filled) and all eight dihedral views per panel (what the embed stage computes).
    pub(crate) fn throughput(&self, embedder: &dyn Embedder) -> Result<(f64, f64)> {
        let panels = &self.gallery[..self.gallery.len().min(256)];
        let started = Instant::now();
        embedder.embed(panels)?;
        let identity = panels.len() as f64 / started.elapsed().as_secs_f64().max(1e-9);
        let panels = &panels[..panels.len().min(64)];
        let started = Instant::now();
        for panel in panels {
            embedder.embed_dihedral(panel)?;
        }
        let dihedral = panels.len() as f64 / started.elapsed().as_secs_f64().max(1e-9);
        Ok((identity, dihedral))
    }
}

/// Gallery entries by their best similarity to any of `views`, best first, without those
/// `skip` names.
fn rank(
    views: &[Vec<f32>],
    gallery: &[Vec<f32>],
    skip: impl Fn(usize) -> bool,
) -> Vec<(usize, f32)> {
    let mut ranked: Vec<(usize, f32)> = gallery
        .iter()
        .enumerate()
        .filter(|&(j, _)| !skip(j))
        .map(|(j, entry)| {
            let best = views
                .iter()
                .map(|view| view.iter().zip(entry).map(|(a, b)| a * b).sum::<f32>())
                .fold(f32::MIN, f32::max);
            (j, best)
        })
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    ranked
}

fn percentile(values: &mut [f32], quantile: f32) -> f32 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f32::total_cmp);
    values[((values.len() - 1) as f32 * quantile).round() as usize]
}
