//! `panelscope eval`: scores found matches against a catalog's `truth.json`. A found match counts
//! for a planted pair when each of its regions overlaps one side of the pair (IoU ≥ 0.5, or one
//! contains the other's centre while their areas are within 4× of each other — so a match of two
//! whole figures earns no credit for the panels inside them). A match of two smaller parts lying
//! inside the pair's two sides at places the pair's edits carry onto each other (a panel of a
//! copied compound figure matched to the same panel of the copy) is correct, so it costs no
//! precision, but it does not find the pair. Every matcher is scored by the same code in the same
//! run; the pHash baseline is always one of them.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use anyhow::Result;
use panelscope_stages::store::Store;
use panelscope_stages::units::PanelClass;
use std::fmt::Write as _;

use serde::Serialize;

use crate::truth::{Edit, PairKind, Truth, TruthPair};

/// One side of a found match.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FoundRegion {
    /// Document id (blake3 hex).
    pub doc: String,
    /// 1-based page.
    pub page: u32,
    /// `[x0, y0, x1, y1]`, PDF points from the top-left corner.
    pub bbox: [f32; 4],
}

/// A match a matcher reported, with its similarity (higher = more alike).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FoundMatch {
    /// One region.
    pub a: FoundRegion,
    /// The other.
    pub b: FoundRegion,
    /// The matcher's similarity.
    pub similarity: f32,
}

fn area(b: &[f32; 4]) -> f32 {
    (b[2] - b[0]).max(0.0) * (b[3] - b[1]).max(0.0)
}

fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let inter = [
        a[0].max(b[0]),
        a[1].max(b[1]),
        a[2].min(b[2]),
        a[3].min(b[3]),
    ];
    let i = area(&inter);
    let union = area(a) + area(b) - i;
    if union <= 0.0 { 0.0 } else { i / union }
}

fn contains_center(outer: &[f32; 4], inner: &[f32; 4]) -> bool {
    let (cx, cy) = ((inner[0] + inner[2]) / 2.0, (inner[1] + inner[3]) / 2.0);
    cx >= outer[0] && cx <= outer[2] && cy >= outer[1] && cy <= outer[3]
}

/// Whether two boxes on the same page denote the same region (the rule in the module doc).
pub fn same_region(a: &[f32; 4], b: &[f32; 4]) -> bool {
    if iou(a, b) >= 0.5 {
        return true;
    }
    let (aa, ab) = (area(a), area(b));
    let within_4x = aa > 0.0 && ab > 0.0 && aa.max(ab) <= 4.0 * aa.min(ab);
    within_4x && (contains_center(a, b) || contains_center(b, a))
}

fn overlaps(found: &FoundRegion, doc: &str, page: u32, bbox: &[f32; 4]) -> bool {
    found.doc == doc && found.page == page && same_region(&found.bbox, bbox)
}

fn matches_pair(found: &FoundMatch, pair: &TruthPair) -> bool {
    let on = |f: &FoundRegion, r: &crate::truth::Region| overlaps(f, &r.doc, r.page, &r.bbox);
    (on(&found.a, &pair.a) && on(&found.b, &pair.b))
        || (on(&found.a, &pair.b) && on(&found.b, &pair.a))
}

/// Share of a found part that must lie inside a side of a planted pair to be a part of it.
const PART_INSIDE_SHARE: f32 = 0.8;
/// Farthest the centre of a found part may lie from where the pair's edits carry the centre of
/// the other part, as a share of the side's width and height.
const PART_PLACE_TOLERANCE: f32 = 0.2;

/// `(u, v)`, a point of a planted pair's source side as shares of its width and height, where
/// the pair's edits put it on the copy's side. Small rotations and pixel edits keep it where it
/// is; a quarter turn is clockwise, as `image::imageops` turns.
fn carried(pair: &TruthPair, (mut u, mut v): (f32, f32)) -> (f32, f32) {
    for edit in &pair.edits {
        (u, v) = match edit {
            Edit::FlipHorizontal => (1.0 - u, v),
            Edit::FlipVertical => (u, 1.0 - v),
            Edit::Rotate90 => (1.0 - v, u),
            Edit::Rotate180 => (1.0 - u, 1.0 - v),
            Edit::Rotate270 => (v, 1.0 - u),
            Edit::Crop => {
                let crop = &pair.params["crop"];
                let number = |value: &serde_json::Value| value.as_f64().map(|x| x as f32);
                let kept = (0..4)
                    .map(|k| number(&crop["box_px"][k]))
                    .collect::<Option<Vec<f32>>>();
                let of = (0..2)
                    .map(|k| number(&crop["of_px"][k]))
                    .collect::<Option<Vec<f32>>>();
                match (kept, of) {
                    (Some(kept), Some(of)) if kept[2] > kept[0] && kept[3] > kept[1] => (
                        (u * of[0] - kept[0]) / (kept[2] - kept[0]),
                        (v * of[1] - kept[1]) / (kept[3] - kept[1]),
                    ),
                    _ => (u, v),
                }
            }
            _ => (u, v),
        };
    }
    (u, v)
}

/// Whether `found` matches a part of a planted pair's source side to the same part of its copy:
/// each region mostly inside one side, the two at places the pair's edits carry onto each other.
fn part_of_pair(found: &FoundMatch, pair: &TruthPair) -> bool {
    let inside = |f: &FoundRegion, r: &crate::truth::Region| {
        let b = &f.bbox;
        let s = &r.bbox;
        let inter = [
            b[0].max(s[0]),
            b[1].max(s[1]),
            b[2].min(s[2]),
            b[3].min(s[3]),
        ];
        f.doc == r.doc
            && f.page == r.page
            && area(b) > 0.0
            && area(&inter) >= PART_INSIDE_SHARE * area(b)
    };
    let centre_in = |f: &FoundRegion, r: &crate::truth::Region| {
        let (b, s) = (&f.bbox, &r.bbox);
        (
            ((b[0] + b[2]) / 2.0 - s[0]) / (s[2] - s[0]).max(f32::EPSILON),
            ((b[1] + b[3]) / 2.0 - s[1]) / (s[3] - s[1]).max(f32::EPSILON),
        )
    };
    let placed = |source: &FoundRegion, copy: &FoundRegion| {
        inside(source, &pair.a) && inside(copy, &pair.b) && {
            let (u, v) = carried(pair, centre_in(source, &pair.a));
            let (x, y) = centre_in(copy, &pair.b);
            (u - x).abs() <= PART_PLACE_TOLERANCE && (v - y).abs() <= PART_PLACE_TOLERANCE
        }
    };
    placed(&found.a, &found.b) || placed(&found.b, &found.a)
}

fn touches_pair(found: &FoundMatch, pair: &TruthPair) -> bool {
    let on = |f: &FoundRegion, r: &crate::truth::Region| overlaps(f, &r.doc, r.page, &r.bbox);
    on(&found.a, &pair.a) || on(&found.a, &pair.b) || on(&found.b, &pair.a) || on(&found.b, &pair.b)
}

/// Precision, recall and their support for one slice of the evaluation.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Slice {
    /// Planted pairs in the slice.
    pub pairs: usize,
    /// Planted pairs found by at least one correct match.
    pub pairs_found: usize,
    /// Found matches attributed to the slice.
    pub matches: usize,
    /// Those that are correct.
    pub correct: usize,
    /// correct / matches (1 when there are none).
    pub precision: f64,
    /// pairs_found / pairs (1 when there are none).
    pub recall: f64,
    /// Harmonic mean of the two.
    pub f1: f64,
}

impl Slice {
    fn finish(mut self) -> Slice {
        self.precision = if self.matches == 0 {
            1.0
        } else {
            self.correct as f64 / self.matches as f64
        };
        self.recall = if self.pairs == 0 {
            1.0
        } else {
            self.pairs_found as f64 / self.pairs as f64
        };
        self.f1 = if self.precision + self.recall == 0.0 {
            0.0
        } else {
            2.0 * self.precision * self.recall / (self.precision + self.recall)
        };
        self
    }
}

/// A point of the precision–recall curve: only matches with similarity ≥ `threshold` kept.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CurvePoint {
    /// Similarity threshold.
    pub threshold: f32,
    /// Precision at it.
    pub precision: f64,
    /// Recall at it.
    pub recall: f64,
}

/// One matcher's score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Score {
    /// The matcher.
    pub matcher: String,
    /// Everything.
    pub overall: Slice,
    /// By pair kind: recall over the kind's planted pairs; precision over found matches whose
    /// regions are in one document (intra) or two (cross).
    pub by_kind: BTreeMap<String, Slice>,
    /// By edit (or `combination`): recall over the edit's planted pairs; precision over the found
    /// matches that touch a region of such a pair (correct when they match one of them). Matches
    /// touching no planted region count only in `overall`.
    pub by_edit: BTreeMap<String, Slice>,
    /// Found matches touching a hard negative's two regions (look-alikes that are not copies).
    pub hard_negatives_matched: usize,
    /// Precision and recall as the similarity threshold rises.
    pub curve: Vec<CurvePoint>,
}

/// Scores `found` against `truth` as `matcher`.
pub fn score(matcher: &str, truth: &Truth, found: &[FoundMatch]) -> Score {
    // For each found match: the truth pairs it matches and those it touches.
    let matched: Vec<Vec<usize>> = found
        .iter()
        .map(|f| {
            (0..truth.pairs.len())
                .filter(|&p| matches_pair(f, &truth.pairs[p]))
                .collect()
        })
        .collect();
    // And the truth pairs it finds a part of (correct, but not finding the pair).
    let parts: Vec<Vec<usize>> = found
        .iter()
        .map(|f| {
            (0..truth.pairs.len())
                .filter(|&p| part_of_pair(f, &truth.pairs[p]))
                .collect()
        })
        .collect();
    let correct = |k: usize| !matched[k].is_empty() || !parts[k].is_empty();
    let touched: Vec<Vec<usize>> = found
        .iter()
        .enumerate()
        .map(|(k, f)| {
            (0..truth.pairs.len())
                .filter(|&p| touches_pair(f, &truth.pairs[p]) || parts[k].contains(&p))
                .collect()
        })
        .collect();

    let slice_at = |threshold: f32| -> Slice {
        let mut slice = Slice {
            pairs: truth.pairs.len(),
            ..Slice::default()
        };
        let mut found_pairs = vec![false; truth.pairs.len()];
        for (k, f) in found.iter().enumerate() {
            if f.similarity < threshold {
                continue;
            }
            slice.matches += 1;
            slice.correct += usize::from(correct(k));
            matched[k].iter().for_each(|&p| found_pairs[p] = true);
        }
        slice.pairs_found = found_pairs.iter().filter(|&&f| f).count();
        slice.finish()
    };
    let overall = slice_at(f32::NEG_INFINITY);

    let mut by_kind: BTreeMap<String, Slice> = BTreeMap::new();
    let mut by_edit: BTreeMap<String, Slice> = BTreeMap::new();
    let mut found_pairs = vec![false; truth.pairs.len()];
    for (k, f) in found.iter().enumerate() {
        matched[k].iter().for_each(|&p| found_pairs[p] = true);
        let kind = if f.a.doc == f.b.doc {
            PairKind::IntraDocument
        } else {
            PairKind::CrossDocument
        };
        let entry = by_kind.entry(kind.name().to_string()).or_default();
        entry.matches += 1;
        entry.correct += usize::from(correct(k));
        let mut labels: Vec<&str> = touched[k]
            .iter()
            .map(|&p| truth.pairs[p].edit_label())
            .collect();
        labels.sort_unstable();
        labels.dedup();
        for label in labels {
            let entry = by_edit.entry(label.to_string()).or_default();
            entry.matches += 1;
            entry.correct += usize::from(
                matched[k]
                    .iter()
                    .chain(&parts[k])
                    .any(|&p| truth.pairs[p].edit_label() == label),
            );
        }
    }
    for (p, pair) in truth.pairs.iter().enumerate() {
        let entry = by_kind.entry(pair.kind.name().to_string()).or_default();
        entry.pairs += 1;
        entry.pairs_found += usize::from(found_pairs[p]);
        let entry = by_edit.entry(pair.edit_label().to_string()).or_default();
        entry.pairs += 1;
        entry.pairs_found += usize::from(found_pairs[p]);
    }
    let by_kind = by_kind.into_iter().map(|(k, s)| (k, s.finish())).collect();
    let by_edit = by_edit.into_iter().map(|(k, s)| (k, s.finish())).collect();

    let hard_negatives_matched = found
        .iter()
        .filter(|f| {
            truth.hard_negatives.iter().any(|n| {
                let on = |x: &FoundRegion, r: &crate::truth::Region| {
                    overlaps(x, &r.doc, r.page, &r.bbox)
                };
                (on(&f.a, &n.a) && on(&f.b, &n.b)) || (on(&f.a, &n.b) && on(&f.b, &n.a))
            })
        })
        .count();

    let mut thresholds: Vec<f32> = found.iter().map(|f| f.similarity).collect();
    thresholds.sort_by(|a, b| b.partial_cmp(a).unwrap_or(std::cmp::Ordering::Equal));
    thresholds.dedup();
    let step = (thresholds.len() / 50).max(1);
    let curve = thresholds
        .iter()
        .step_by(step)
        .chain(thresholds.last())
        .map(|&threshold| {
            let s = slice_at(threshold);
            CurvePoint {
                threshold,
                precision: s.precision,
                recall: s.recall,
            }
        })
        .collect();

    Score {
        matcher: matcher.to_string(),
        overall,
        by_kind,
        by_edit,
        hard_negatives_matched,
        curve,
    }
}

/// Every edit row in report order: the truth's edits, then `combination`.
fn rows(scores: &[Score]) -> Vec<String> {
    let mut rows: Vec<String> = scores
        .iter()
        .flat_map(|s| s.by_edit.keys().cloned())
        .collect();
    rows.sort();
    rows.dedup();
    if let Some(i) = rows.iter().position(|r| r == "combination") {
        let combination = rows.remove(i);
        rows.push(combination);
    }
    rows
}

/// The side-by-side table: one row per slice, recall and precision per matcher.
pub fn table(scores: &[Score]) -> String {
    let mut out = String::new();
    let _ = write!(out, "{:<18} {:>6}", "slice", "pairs");
    for score in scores {
        let _ = write!(
            out,
            " | {:>12} {:>9} {:>9}",
            score.matcher, "recall", "precision"
        );
    }
    out.push('\n');
    let mut line = |name: &str, pick: &dyn Fn(&Score) -> Option<Slice>| {
        let pairs = scores
            .iter()
            .find_map(|s| pick(s).map(|s| s.pairs))
            .unwrap_or(0);
        let _ = write!(out, "{name:<18} {pairs:>6}");
        for score in scores {
            match pick(score) {
                Some(s) => {
                    let _ = write!(out, " | {:>12} {:>9.3} {:>9.3}", "", s.recall, s.precision);
                }
                None => {
                    let _ = write!(out, " | {:>12} {:>9} {:>9}", "", "-", "-");
                }
            }
        }
        out.push('\n');
    };
    line("overall", &|s| Some(s.overall.clone()));
    for kind in ["intra_document", "cross_document"] {
        line(kind, &|s| s.by_kind.get(kind).cloned());
    }
    for row in rows(scores) {
        line(&row, &|s| s.by_edit.get(&row).cloned());
    }
    out
}

/// The same table in Markdown, for `benches/accuracy.md`.
pub fn markdown(scores: &[Score]) -> String {
    let mut out = String::from("| slice | pairs |");
    for score in scores {
        let _ = write!(out, " {0} recall | {0} precision |", score.matcher);
    }
    out.push_str("\n|---|---:|");
    for _ in scores {
        out.push_str("---:|---:|");
    }
    out.push('\n');
    let mut line = |name: &str, pick: &dyn Fn(&Score) -> Option<Slice>| {
        let pairs = scores
            .iter()
            .find_map(|s| pick(s).map(|s| s.pairs))
            .unwrap_or(0);
        let _ = write!(out, "| {name} | {pairs} |");
        for score in scores {
            match pick(score) {
                Some(s) => {
                    let _ = write!(out, " {:.3} | {:.3} |", s.recall, s.precision);
                }
                None => out.push_str(" - | - |"),
            }
        }
        out.push('\n');
    };
    line("overall", &|s| Some(s.overall.clone()));
    for kind in ["intra_document", "cross_document"] {
        line(kind, &|s| s.by_kind.get(kind).cloned());
    }
    for row in rows(scores) {
        line(&row, &|s| s.by_edit.get(&row).cloned());
    }
    out
}

/// A panel as the baseline sees it.
#[derive(Debug, Clone)]
pub struct HashedPanel {
    /// Where it is.
    pub region: FoundRegion,
    /// Its figure (panels of one figure may match each other: that is reuse within a figure).
    pub figure: i64,
    /// Its pHash.
    pub phash: u64,
}

/// The pHash baseline: every pair of panels whose hashes differ in at most `max_bits` of 64,
/// similarity 1 − bits/64.
pub fn phash_matches(panels: &[HashedPanel], max_bits: u32) -> Vec<FoundMatch> {
    let mut found = Vec::new();
    for (i, a) in panels.iter().enumerate() {
        for b in &panels[i + 1..] {
            let bits = (a.phash ^ b.phash).count_ones();
            if bits <= max_bits {
                found.push(FoundMatch {
                    a: a.region.clone(),
                    b: b.region.clone(),
                    similarity: 1.0 - bits as f32 / 64.0,
                });
            }
        }
    }
    found
}

/// The catalog documents the store does not hold as complete.
pub fn missing_documents(truth: &Truth, store: &Store) -> Result<Vec<String>> {
    let complete: HashSet<String> = store.read(|conn| {
        let mut statement = conn.prepare("SELECT id FROM documents WHERE status = 'complete'")?;
        let rows = statement.query_map([], |row| row.get(0))?;
        rows.collect()
    })?;
    Ok(truth
        .documents
        .iter()
        .filter(|d| !complete.contains(&d.doc))
        .map(|d| d.file.clone())
        .collect())
}

/// Every panel of the store with its pHash.
pub fn hashed_panels(store: &Store) -> Result<Vec<HashedPanel>> {
    Ok(store.read(|conn| {
        let mut statement =
            conn.prepare("SELECT doc, page, x0, y0, x1, y1, figure, phash FROM panels WHERE phash IS NOT NULL ORDER BY id")?;
        let rows = statement.query_map([], |row| {
            let hex: String = row.get(7)?;
            Ok(HashedPanel {
                region: FoundRegion { doc: row.get(0)?, page: row.get(1)?, bbox: [row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?] },
                figure: row.get(6)?,
                phash: u64::from_str_radix(&hex, 16).unwrap_or(0),
            })
        })?;
        rows.collect()
    })?)
}

/// The pipeline's verified, unsuppressed matches, scored by their vector similarity. A match
/// of two panels that share a part only, or of a panel with itself (a part of it repeated
/// elsewhere in it), stands for its two parts.
pub fn pipeline_matches(store: &Store) -> Result<Vec<FoundMatch>> {
    let region = |place: &panelscope_stages::units::PanelPlace, part: Option<[f32; 4]>| {
        let b = place.bbox.to_array();
        let bbox = match part {
            Some(r) => {
                let (w, h) = (b[2] - b[0], b[3] - b[1]);
                [
                    b[0] + r[0] * w,
                    b[1] + r[1] * h,
                    b[0] + r[2] * w,
                    b[1] + r[3] * h,
                ]
            }
            None => b,
        };
        FoundRegion {
            doc: place.doc.to_hex(),
            page: place.page,
            bbox,
        }
    };
    Ok(store
        .matches(true, false)?
        .iter()
        .map(|m| {
            let parts = m.a.id == m.b.id || m.transform.partial;
            FoundMatch {
                a: region(&m.a, parts.then_some(m.transform.region_a)),
                b: region(&m.b, parts.then_some(m.transform.region_b)),
                similarity: m.similarity,
            }
        })
        .collect())
}

/// The kind of panel a planted pair's source is, by the name the truth gives it; `None` for
/// sources of no single kind (panels cut from real compound figures).
fn expected_class(source: &str) -> Option<PanelClass> {
    if source.contains("blot") {
        Some(PanelClass::Blot)
    } else if source.contains("gel") {
        Some(PanelClass::Gel)
    } else if source.contains("micrograph") {
        Some(PanelClass::Microscopy)
    } else if source.contains("chart") || source.contains("diagram") {
        Some(PanelClass::Other)
    } else {
        None
    }
}

/// How the classify stage labelled the panels under the planted pairs' regions, by the kind of
/// their source: `labels[kind][label]` counts, in [`PanelClass::ALL`] order.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClassScore {
    /// Panels counted (each side of each planted pair whose region a panel covers).
    pub panels: usize,
    /// Counts by source kind, then by label.
    pub labels: BTreeMap<String, BTreeMap<String, usize>>,
}

/// Labels of the panels that cover the planted pairs' regions (splices left out: their regions
/// are strips, not panels).
pub fn class_score(truth: &Truth, store: &Store) -> Result<ClassScore> {
    let labelled: Vec<(FoundRegion, Option<String>)> = store.read(|conn| {
        let mut statement =
            conn.prepare("SELECT doc, page, x0, y0, x1, y1, class FROM panels ORDER BY id")?;
        let rows = statement.query_map([], |row| {
            Ok((
                FoundRegion {
                    doc: row.get(0)?,
                    page: row.get(1)?,
                    bbox: [row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?],
                },
                row.get(6)?,
            ))
        })?;
        rows.collect()
    })?;
    let mut score = ClassScore::default();
    for pair in truth
        .pairs
        .iter()
        .filter(|p| !p.edits.contains(&Edit::Splice))
    {
        let Some(kind) = pair.params["source"].as_str().and_then(expected_class) else {
            continue;
        };
        for region in [&pair.a, &pair.b] {
            let label = labelled
                .iter()
                .filter(|(found, _)| overlaps(found, &region.doc, region.page, &region.bbox))
                .max_by(|x, y| {
                    iou(&x.0.bbox, &region.bbox).total_cmp(&iou(&y.0.bbox, &region.bbox))
                })
                .map(|(_, label)| label.clone().unwrap_or_else(|| "unclassified".into()));
            if let Some(label) = label {
                score.panels += 1;
                *score
                    .labels
                    .entry(kind.as_str().to_string())
                    .or_default()
                    .entry(label)
                    .or_default() += 1;
            }
        }
    }
    Ok(score)
}

/// [`ClassScore`] as a table: a row per source kind, a column per label, and the share labelled
/// as its kind.
pub fn class_table(score: &ClassScore) -> String {
    let mut out = format!(
        "{:<12} {:>6} {:>6} {:>11} {:>6} {:>8}\n",
        "source", "blot", "gel", "microscopy", "other", "right"
    );
    for kind in PanelClass::ALL {
        let Some(row) = score.labels.get(kind.as_str()) else {
            continue;
        };
        let count = |label: PanelClass| row.get(label.as_str()).copied().unwrap_or(0);
        let total: usize = row.values().sum();
        let _ = writeln!(
            out,
            "{:<12} {:>6} {:>6} {:>11} {:>6} {:>8.2}",
            kind.as_str(),
            count(PanelClass::Blot),
            count(PanelClass::Gel),
            count(PanelClass::Microscopy),
            count(PanelClass::Other),
            count(kind) as f32 / total.max(1) as f32
        );
    }
    out
}

/// Everything `panelscope eval` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The truth file scored against.
    pub truth: String,
    /// Planted pairs in it.
    pub pairs: usize,
    /// Catalog documents missing from the store (not ingested, or failed).
    pub missing_documents: Vec<String>,
    /// One score per matcher.
    pub scores: Vec<Score>,
    /// How the planted pairs' panels were labelled.
    pub classes: ClassScore,
}

/// Scores every matcher whose results the store holds against `truth`.
pub fn evaluate(truth_path: &Path, store: &Store, phash_max_bits: u32) -> Result<Report> {
    let truth = Truth::read(truth_path)?;
    let missing = missing_documents(&truth, store)?;
    let panels = hashed_panels(store)?;
    let baseline = phash_matches(&panels, phash_max_bits);
    let mut scores = vec![score(
        &format!("phash<={phash_max_bits}"),
        &truth,
        &baseline,
    )];
    let pipeline = pipeline_matches(store)?;
    if !pipeline.is_empty() {
        scores.push(score("panelscope", &truth, &pipeline));
    }
    Ok(Report {
        truth: truth_path.display().to_string(),
        pairs: truth.pairs.len(),
        missing_documents: missing,
        scores,
        classes: class_score(&truth, store)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::truth::{Edit, Region, TRUTH_VERSION, TruthDocument};

    fn region(doc: &str, page: u32, bbox: [f32; 4]) -> Region {
        Region {
            file: format!("{doc}.pdf"),
            doc: doc.to_string(),
            page,
            bbox,
        }
    }

    fn found(a: (&str, u32, [f32; 4]), b: (&str, u32, [f32; 4]), similarity: f32) -> FoundMatch {
        FoundMatch {
            a: FoundRegion {
                doc: a.0.into(),
                page: a.1,
                bbox: a.2,
            },
            b: FoundRegion {
                doc: b.0.into(),
                page: b.1,
                bbox: b.2,
            },
            similarity,
        }
    }

    /// Three planted pairs: an exact copy within d1, a flip across d1/d2, a crop across d2/d3.
    fn truth() -> Truth {
        let pair = |id, kind, edit, a, b| TruthPair {
            id,
            kind,
            edits: vec![edit],
            params: serde_json::Value::Null,
            a,
            b,
        };
        Truth {
            version: TRUTH_VERSION,
            seed: 0,
            documents: ["d1", "d2", "d3"]
                .iter()
                .map(|d| TruthDocument {
                    file: format!("{d}.pdf"),
                    doc: d.to_string(),
                    pages: 3,
                })
                .collect(),
            pairs: vec![
                pair(
                    0,
                    PairKind::IntraDocument,
                    Edit::Exact,
                    region("d1", 1, [0.0, 0.0, 100.0, 100.0]),
                    region("d1", 2, [50.0, 50.0, 150.0, 150.0]),
                ),
                pair(
                    1,
                    PairKind::CrossDocument,
                    Edit::FlipHorizontal,
                    region("d1", 3, [0.0, 0.0, 80.0, 60.0]),
                    region("d2", 1, [10.0, 10.0, 90.0, 70.0]),
                ),
                pair(
                    2,
                    PairKind::CrossDocument,
                    Edit::Crop,
                    region("d2", 2, [0.0, 0.0, 200.0, 200.0]),
                    region("d3", 1, [0.0, 0.0, 150.0, 150.0]),
                ),
            ],
            hard_negatives: vec![],
        }
    }

    fn perfect() -> Vec<FoundMatch> {
        truth()
            .pairs
            .iter()
            .map(|p| {
                found(
                    (&p.a.doc, p.a.page, p.a.bbox),
                    (&p.b.doc, p.b.page, p.b.bbox),
                    0.9,
                )
            })
            .collect()
    }

    #[test]
    fn perfect_matches_score_one() {
        let score = score("m", &truth(), &perfect());
        assert_eq!(
            (
                score.overall.pairs,
                score.overall.pairs_found,
                score.overall.matches,
                score.overall.correct
            ),
            (3, 3, 3, 3)
        );
        assert_eq!(
            (
                score.overall.precision,
                score.overall.recall,
                score.overall.f1
            ),
            (1.0, 1.0, 1.0)
        );
        assert_eq!(score.by_edit["crop"].recall, 1.0);
        assert_eq!(score.by_kind["cross_document"].pairs, 2);
        assert_eq!(score.by_kind["intra_document"].matches, 1);
    }

    #[test]
    fn no_matches_score_zero_recall_and_vacuous_precision() {
        let score = score("m", &truth(), &[]);
        assert_eq!(
            (
                score.overall.precision,
                score.overall.recall,
                score.overall.f1
            ),
            (1.0, 0.0, 0.0)
        );
        assert_eq!(score.by_edit["exact"].pairs, 1);
        assert!(score.curve.is_empty());
    }

    #[test]
    fn swapped_sides_still_count() {
        let swapped: Vec<FoundMatch> = perfect()
            .into_iter()
            .map(|f| FoundMatch {
                a: f.b,
                b: f.a,
                similarity: f.similarity,
            })
            .collect();
        let score = score("m", &truth(), &swapped);
        assert_eq!((score.overall.correct, score.overall.pairs_found), (3, 3));
    }

    #[test]
    fn boxes_off_by_a_bit_count_and_far_off_do_not() {
        let mut matches = perfect();
        // Shifted by 10% of its size: IoU 0.67 ≥ 0.5.
        matches[0].b.bbox = [60.0, 60.0, 160.0, 160.0];
        // A whole-page box around a planted panel: contains its centre but is more than 4× larger.
        matches[1].b.bbox = [0.0, 0.0, 600.0, 800.0];
        // Shifted so that IoU is 0.37, but each box holds the other's centre at equal area: counts.
        matches[2].b.bbox = [40.0, 40.0, 190.0, 190.0];
        let score = score("m", &truth(), &matches);
        assert_eq!(
            (
                score.overall.matches,
                score.overall.correct,
                score.overall.pairs_found
            ),
            (3, 2, 2)
        );
        assert!((score.overall.precision - 2.0 / 3.0).abs() < 1e-12);
        assert!((score.overall.recall - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(score.by_edit["flip_horizontal"].recall, 0.0);
        assert_eq!(
            score.by_edit["flip_horizontal"].matches, 1,
            "the wrong match still touches the flip pair"
        );
        assert_eq!(score.by_edit["flip_horizontal"].precision, 0.0);
    }

    #[test]
    fn parts_matched_where_the_edits_carry_them_are_correct_but_find_no_pair() {
        let mut truth = truth();
        truth.pairs[2].params = serde_json::json!({
            "crop": { "box_px": [0, 0, 100, 100], "of_px": [200, 200] }
        });
        let part = |doc, page, bbox| (doc, page, bbox);
        let matches = vec![
            // The top-left corner of the flip's source, and where the mirror puts it.
            found(
                part("d1", 3, [0.0, 0.0, 20.0, 20.0]),
                part("d2", 1, [70.0, 10.0, 90.0, 30.0]),
                0.9,
            ),
            // The same corner matched to the copy's unmirrored corner: a look-alike part.
            found(
                part("d1", 3, [0.0, 0.0, 20.0, 20.0]),
                part("d2", 1, [10.0, 10.0, 30.0, 30.0]),
                0.9,
            ),
            // A part of the crop's source centred at 80 of its 200, which the crop box (its
            // top-left 100) moves to 80 of 100: 120 of the copy's 150. Listed copy side first.
            found(
                part("d3", 1, [110.0, 110.0, 130.0, 130.0]),
                part("d2", 2, [70.0, 70.0, 90.0, 90.0]),
                0.9,
            ),
            // The same part where it would lie without the crop.
            found(
                part("d2", 2, [70.0, 70.0, 90.0, 90.0]),
                part("d3", 1, [50.0, 50.0, 70.0, 70.0]),
                0.9,
            ),
        ];
        let score = score("m", &truth, &matches);
        assert_eq!(
            (
                score.overall.matches,
                score.overall.correct,
                score.overall.pairs_found
            ),
            (4, 2, 0)
        );
        // The misplaced parts touch no side as a whole: only the overall precision counts them.
        assert_eq!(
            (
                score.by_edit["flip_horizontal"].matches,
                score.by_edit["flip_horizontal"].correct
            ),
            (1, 1)
        );
        assert_eq!(
            (score.by_edit["crop"].matches, score.by_edit["crop"].correct),
            (1, 1)
        );
    }

    #[test]
    fn false_positives_and_duplicates_lower_precision_only() {
        let mut matches = perfect();
        matches.push(matches[0].clone());
        matches.push(found(
            ("d3", 2, [0.0, 0.0, 10.0, 10.0]),
            ("d1", 1, [300.0, 300.0, 400.0, 400.0]),
            0.5,
        ));
        let score = score("m", &truth(), &matches);
        assert_eq!(
            (
                score.overall.matches,
                score.overall.correct,
                score.overall.pairs_found
            ),
            (5, 4, 3)
        );
        assert!((score.overall.precision - 0.8).abs() < 1e-12);
        assert_eq!(score.overall.recall, 1.0);
        // The curve: at 0.9 only the four correct matches remain.
        let top = score.curve.iter().find(|p| p.threshold == 0.9).unwrap();
        assert_eq!((top.precision, top.recall), (1.0, 1.0));
        let bottom = score.curve.last().unwrap();
        assert_eq!((bottom.threshold, bottom.precision), (0.5, 0.8));
    }

    #[test]
    fn phash_baseline_pairs_within_the_bit_budget() {
        let panel = |doc: &str, phash: u64| HashedPanel {
            region: FoundRegion {
                doc: doc.into(),
                page: 1,
                bbox: [0.0, 0.0, 10.0, 10.0],
            },
            figure: 1,
            phash,
        };
        let panels = [panel("a", 0), panel("b", 0b111), panel("c", u64::MAX)];
        let found = phash_matches(&panels, 3);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].similarity, 1.0 - 3.0 / 64.0);
    }
}
