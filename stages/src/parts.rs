//! parts: the index of parts, where a band spliced from a blot of one paper into a blot of
//! another is found. Whole-panel vectors cannot propose such a pair (the band is a sliver of
//! either picture), and laying every two pictures of a catalog on each other is quadratic. So
//! every blot and gel is keyed by its corners' patches at its own resolution (a spliced part
//! keeps its pixel size), each new picture's keys look up the keys of the pictures indexed before
//! it, and a picture whose keys meet another's at one shift (a part of one lying, unresized, in
//! the other) is proposed for the search for shared parts, which decides. The store keeps every
//! picture's keys beside its panel, in the document's own transaction. The index is saved beside
//! the whole-panel index and read back when a run opens it, then brought level with the store
//! (pictures recorded since are added from it, pictures of documents it never recorded are left
//! out), so it holds exactly what the store does, after a crash too; without its files it is
//! built from the store.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use faiss::index::IndexImpl;
use faiss::index::autotune::ParameterSpace;
use faiss::{Index, MetricType, index_factory, read_index, write_index};
use image::GrayImage;
use serde::{Deserialize, Serialize};

use crate::index::{IndexError, io_error};
use crate::store::Store;
use crate::units::DocumentId;

/// Values of a part key's descriptor.
pub const PART_KEY_DIM: usize = crate::verify::PART_KEY_DIM;

/// Bytes of one key as the store keeps it: its place (two little-endian f32) and its
/// descriptor quantised to one signed byte a value (a unit vector's values lie in −1–1).
const KEY_BYTES: usize = 8 + PART_KEY_DIM;

/// A picture's part keys: the places of its corners (pixels of the picture) and their
/// descriptors (unit vectors of [`PART_KEY_DIM`] values, end to end).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PartKeys {
    /// Each key's place, `[x, y]` in pixels of the picture.
    pub points: Vec<[f32; 2]>,
    /// Each key's descriptor, end to end.
    pub descriptors: Vec<f32>,
}

impl PartKeys {
    /// The keys of `picture`, at its own resolution.
    pub fn of(picture: &GrayImage) -> Self {
        let keys = crate::verify::part_keys(picture);
        Self {
            points: keys.iter().map(|(point, _)| *point).collect(),
            descriptors: keys.iter().flat_map(|(_, d)| d.iter().copied()).collect(),
        }
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether it holds no key.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The bytes the store keeps (see [`KEY_BYTES`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.len() * KEY_BYTES);
        for (point, descriptor) in self
            .points
            .iter()
            .zip(self.descriptors.chunks_exact(PART_KEY_DIM))
        {
            bytes.extend(point[0].to_le_bytes());
            bytes.extend(point[1].to_le_bytes());
            bytes.extend(
                descriptor
                    .iter()
                    .map(|v| (v * 127.0).round().clamp(-127.0, 127.0) as i8 as u8),
            );
        }
        bytes
    }

    /// Keys read back from [`PartKeys::to_bytes`]; `None` for bytes of another length. Each
    /// descriptor is made a unit vector again.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() % KEY_BYTES != 0 {
            return None;
        }
        let mut keys = Self::default();
        for key in bytes.chunks_exact(KEY_BYTES) {
            let float =
                |at: usize| f32::from_le_bytes([key[at], key[at + 1], key[at + 2], key[at + 3]]);
            keys.points.push([float(0), float(4)]);
            let descriptor: Vec<f32> = key[8..].iter().map(|&b| f32::from(b as i8)).collect();
            let norm = descriptor
                .iter()
                .map(|v| v * v)
                .sum::<f32>()
                .sqrt()
                .max(1e-6);
            keys.descriptors.extend(descriptor.iter().map(|v| v / norm));
        }
        Some(keys)
    }
}

/// How the index of parts is built and proposes pairs, read from `[index]` (see
/// [`crate::index::IndexConfig`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PartSearch {
    /// FAISS index factory string once `train_size` keys are held (an exhaustive `Flat` index
    /// holds them before that, and always when the string needs no training).
    pub factory: String,
    /// Keys the index is trained on.
    pub train_size: usize,
    /// Lists an IVF index visits per key.
    pub nprobe: usize,
    /// Nearest keys fetched per key.
    pub top_k: usize,
    /// Descriptor similarity (cosine) from which two keys may be one corner.
    pub min_similarity: f32,
    /// Fewest keys of a picture that must meet another picture's at one shift.
    pub min_votes: usize,
    /// Most pictures proposed per picture, those met by the most alike keys first.
    pub most_proposals: usize,
}

/// Pictures whose keys are read from the store at a time when the index is rebuilt.
const OPEN_PAGE_PICTURES: usize = 256;

/// Keys that meet within this many pixels of one shift vote for it together: a corner found
/// again in a copy lies where it lay, to the pixel.
const SHIFT_BIN_PX: f32 = 1.0;

/// A picture indexed before that a new picture's keys meet at one shift.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PartProposal {
    /// The older picture's panel.
    pub older: i64,
    /// Keys of the new picture that met it there.
    pub votes: usize,
    /// Their weight: each one's, from its similarity, 0 at `min_similarity` to 1 at 1.
    pub score: f32,
    /// Where the older picture's part lies in the new one: new = older + shift (pixels).
    pub shift: [f32; 2],
}

/// The index of parts: every key of the pictures indexed so far, searched by inner product,
/// and which picture each key belongs to and where. It is searched exhaustively until it holds
/// `train_size` keys; then, with a factory string that needs training (IVF), it is trained on
/// them and searched approximately: a key's copy in another picture is nearly the key itself,
/// so it falls in the key's own list.
pub struct PartIndex {
    search: PartSearch,
    index: IndexImpl,
    /// Descriptors held while the index is exhaustive, to train the approximate one on.
    untrained: Option<Vec<f32>>,
    /// The place of each key in its picture, by its position in the index.
    points: Vec<[f32; 2]>,
    /// Each picture's panel, document and the position of its first key: a picture's keys are
    /// added together, so its panel is kept once, not with every key.
    pictures: Vec<Picture>,
    /// Where it is saved, when it is.
    dir: Option<PathBuf>,
    /// Whether it holds keys it has not saved.
    dirty: bool,
    /// Keys it held when it was last saved (or read back).
    saved_keys: usize,
    /// How it was opened.
    opened: Opened,
}

/// One picture of the index of parts.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Picture {
    /// The position of its first key.
    first: usize,
    /// Its panel; [`REMOVED`] once the store was found not to hold it.
    panel: i64,
    doc: DocumentId,
}

/// The panel of a picture whose keys the index holds but the store does not (its document was
/// not recorded before a crash): its keys stay in FAISS, never proposed.
const REMOVED: i64 = i64::MIN;

/// How [`PartIndex::open`] came by the index.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Opened {
    /// Whether it was read from its files (else it was built from the store).
    pub loaded: bool,
    /// Pictures the store holds that the files did not, added from the store.
    pub added: usize,
    /// Pictures the files held that the store does not, left out.
    pub removed: usize,
}

/// What the files of a saved index of parts hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PartsMeta {
    factory: String,
    keys: usize,
    pictures: usize,
}

/// Growth of the index of parts (a share of its keys) after which a periodic save writes it.
const SAVE_GROWTH: f32 = 0.1;

/// Bytes of a picture in `parts.pictures`: its first key's position, its panel, its document.
const PICTURE_BYTES: usize = 8 + 8 + 32;

/// Share of a saved index's keys that may belong to pictures the store does not hold before it
/// is built anew instead.
const MAX_REMOVED_SHARE: f32 = 0.1;

/// FAISS's error, named as the index of parts' (it has no file of its own).
fn faiss_error(error: impl std::fmt::Display) -> IndexError {
    crate::index::faiss_error(std::path::Path::new("index of parts"), error)
}

impl PartIndex {
    /// An empty index.
    pub fn new(search: &PartSearch) -> Result<Self, IndexError> {
        let index = index_factory(PART_KEY_DIM as u32, "Flat", MetricType::InnerProduct)
            .map_err(faiss_error)?;
        // A factory string is checked now, not when the index first grows large enough.
        let approximate = index_factory(
            PART_KEY_DIM as u32,
            &search.factory,
            MetricType::InnerProduct,
        )
        .map_err(faiss_error)?;
        Ok(Self {
            search: search.clone(),
            index,
            untrained: (!approximate.is_trained()).then(Vec::new),
            points: Vec::new(),
            pictures: Vec::new(),
            dir: None,
            dirty: false,
            saved_keys: 0,
            opened: Opened::default(),
        })
    }

    /// The index of every picture's keys the store holds. With `dir`, it is read from the files
    /// it was saved to there and brought level with the store (pictures recorded since added,
    /// pictures the store never recorded left out), and saved there again by
    /// [`PartIndex::save`]; without, or when those files are absent, torn or of another
    /// factory string, it is built from the store.
    pub fn open(
        store: &Store,
        search: &PartSearch,
        dir: Option<&Path>,
    ) -> Result<Self, IndexError> {
        if let Some(dir) = dir {
            match Self::load(dir, search) {
                Ok(Some(mut index)) => {
                    if index.level_with(store)? {
                        return Ok(index);
                    }
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(%error, "The saved index of parts is unreadable; building it from the store.");
                }
            }
        }
        let mut index = Self::new(search)?;
        index.dir = dir.map(Path::to_path_buf);
        index.add_stored(store, i64::MIN, |_| true)?;
        index.dirty = true;
        Ok(index)
    }

    /// Adds the store's pictures of the panels after `after` that `wanted` picks, in id order.
    fn add_stored(
        &mut self,
        store: &Store,
        mut after: i64,
        wanted: impl Fn(i64) -> bool,
    ) -> Result<usize, IndexError> {
        let mut added = 0;
        loop {
            let page = store.part_keys_after(after, OPEN_PAGE_PICTURES)?;
            let Some(&(last, _, _)) = page.last() else {
                return Ok(added);
            };
            for (panel, doc, bytes) in page.into_iter().filter(|(panel, ..)| wanted(*panel)) {
                let keys = PartKeys::from_bytes(&bytes).ok_or_else(|| IndexError::PartKeys {
                    path: store.path().to_path_buf(),
                    panel,
                })?;
                self.add(panel, doc, &keys)?;
                added += 1;
            }
            after = last;
        }
    }

    /// Leaves out the pictures the store does not hold and adds those it holds that the index
    /// does not; `false` when so many are left out that it should be built anew.
    fn level_with(&mut self, store: &Store) -> Result<bool, IndexError> {
        let stored = store.keyed_panels()?;
        let mut held = std::collections::HashSet::new();
        let (mut removed, mut removed_keys) = (0, 0);
        let ends: Vec<usize> = self
            .pictures
            .iter()
            .skip(1)
            .map(|p| p.first)
            .chain([self.points.len()])
            .collect();
        for (picture, end) in self.pictures.iter_mut().zip(ends) {
            if picture.panel == REMOVED {
                removed_keys += end - picture.first;
                continue;
            }
            // A panel id is given again after a crash: the same id of another document is
            // another picture.
            if stored.get(&picture.panel) != Some(&picture.doc) || !held.insert(picture.panel) {
                picture.panel = REMOVED;
                removed += 1;
                removed_keys += end - picture.first;
            }
        }
        if removed_keys as f32 > MAX_REMOVED_SHARE * self.points.len() as f32 {
            return Ok(false);
        }
        // Those recorded since the last save are the store's last panels: its keys are read
        // from the first of them on.
        let missing: std::collections::HashSet<i64> = stored
            .keys()
            .filter(|panel| !held.contains(panel))
            .copied()
            .collect();
        let added = match missing.iter().min() {
            Some(&first) => self.add_stored(store, first - 1, |panel| missing.contains(&panel))?,
            None => 0,
        };
        self.dirty |= added + removed > 0;
        self.opened = Opened {
            loaded: true,
            added,
            removed,
        };
        Ok(true)
    }

    /// How [`PartIndex::open`] came by it.
    pub fn opened(&self) -> Opened {
        self.opened
    }

    /// The files of the index saved in `dir`: its FAISS index, its pictures, its keys' places,
    /// and what they hold (written last).
    fn files(dir: &Path) -> [PathBuf; 4] {
        [
            "parts.faiss",
            "parts.pictures",
            "parts.points",
            "parts.json",
        ]
        .map(|name| dir.join(name))
    }

    /// The index saved in `dir`, or `None` where there is none of `search`'s factory string.
    fn load(dir: &Path, search: &PartSearch) -> Result<Option<Self>, IndexError> {
        let [faiss_path, pictures_path, points_path, meta_path] = Self::files(dir);
        let Ok(meta) = std::fs::read(&meta_path) else {
            return Ok(None);
        };
        let meta: PartsMeta = serde_json::from_slice(&meta)
            .map_err(|e| crate::index::faiss_error(&meta_path, format!("unreadable: {e}")))?;
        if meta.factory != search.factory {
            return Ok(None);
        }
        let mut index = Self::new(search)?;
        index.index = read_index(faiss_path.to_string_lossy())
            .map_err(|e| crate::index::faiss_error(&faiss_path, e))?;
        index.untrained = None;
        index.set_nprobe(&faiss_path)?;
        index.pictures = std::fs::read(&pictures_path)
            .map_err(io_error(&pictures_path))?
            .chunks_exact(PICTURE_BYTES)
            .map(|bytes| {
                let word = |at: usize| <[u8; 8]>::try_from(&bytes[at..at + 8]).expect("8 bytes");
                Picture {
                    first: u64::from_le_bytes(word(0)) as usize,
                    panel: i64::from_le_bytes(word(8)),
                    doc: DocumentId(bytes[16..].try_into().expect("32 bytes")),
                }
            })
            .collect();
        index.points = std::fs::read(&points_path)
            .map_err(io_error(&points_path))?
            .chunks_exact(8)
            .map(|bytes| {
                let float =
                    |at: usize| f32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
                [float(0), float(4)]
            })
            .collect();
        let consistent = index.index.ntotal() as usize == meta.keys
            && index.points.len() == meta.keys
            && index.pictures.len() == meta.pictures
            && index.pictures.windows(2).all(|w| w[0].first < w[1].first)
            && index.pictures.last().is_none_or(|p| p.first < meta.keys);
        if !consistent {
            return Err(crate::index::faiss_error(
                &meta_path,
                "its files do not hold what it says (a save cut short)",
            ));
        }
        index.dir = Some(dir.to_path_buf());
        index.saved_keys = meta.keys;
        Ok(Some(index))
    }

    /// Writes the index to the directory it was opened with (each file via a temporary and a
    /// rename, what they hold last), when it holds keys it has not saved. An index still
    /// searched exhaustively before its training is not saved: it is built from the store again
    /// in a moment.
    pub fn save(&mut self) -> Result<(), IndexError> {
        let Some(dir) = self.dir.clone() else {
            return Ok(());
        };
        if !self.dirty || self.untrained.is_some() {
            return Ok(());
        }
        let [faiss_path, pictures_path, points_path, meta_path] = Self::files(&dir);
        let temporary = |path: &Path| {
            let mut name = path.as_os_str().to_owned();
            name.push(".tmp");
            PathBuf::from(name)
        };
        std::fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        write_index(&self.index, temporary(&faiss_path).to_string_lossy())
            .map_err(|e| crate::index::faiss_error(&faiss_path, e))?;
        let pictures: Vec<u8> = self
            .pictures
            .iter()
            .flat_map(|p| {
                (p.first as u64)
                    .to_le_bytes()
                    .into_iter()
                    .chain(p.panel.to_le_bytes())
                    .chain(p.doc.0)
            })
            .collect();
        std::fs::write(temporary(&pictures_path), pictures).map_err(io_error(&pictures_path))?;
        let points: Vec<u8> = self
            .points
            .iter()
            .flat_map(|p| p[0].to_le_bytes().into_iter().chain(p[1].to_le_bytes()))
            .collect();
        std::fs::write(temporary(&points_path), points).map_err(io_error(&points_path))?;
        let meta = PartsMeta {
            factory: self.search.factory.clone(),
            keys: self.points.len(),
            pictures: self.pictures.len(),
        };
        std::fs::write(
            temporary(&meta_path),
            serde_json::to_vec_pretty(&meta).expect("metadata serialises"),
        )
        .map_err(io_error(&meta_path))?;
        // What the files hold goes last: until it is renamed, the old one says the files are
        // not what it describes, and they are built from the store again.
        for path in [&faiss_path, &pictures_path, &points_path, &meta_path] {
            std::fs::rename(temporary(path), path).map_err(io_error(path))?;
        }
        self.dirty = false;
        self.saved_keys = self.points.len();
        Ok(())
    }

    /// [`PartIndex::save`], once it holds a tenth more keys than when it was last saved: each
    /// save writes every key, so saving it as often as the whole-panel index would cost a large
    /// catalog's run more with every paper; after a crash, what it had not saved is read from the
    /// store again.
    pub fn save_if_grown(&mut self) -> Result<(), IndexError> {
        if self.points.len() as f32 >= self.saved_keys as f32 * (1.0 + SAVE_GROWTH) {
            self.save()?;
        }
        Ok(())
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether it holds no key.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Pictures held (those left out at opening included).
    pub fn pictures(&self) -> usize {
        self.pictures.len()
    }

    /// The panels of the pictures held, in the order they were added (those left out at
    /// opening not among them).
    pub fn panels(&self) -> Vec<i64> {
        self.pictures
            .iter()
            .map(|p| p.panel)
            .filter(|&panel| panel != REMOVED)
            .collect()
    }

    /// The panel of the key at `position` in the index ([`REMOVED`] for a picture left out),
    /// and the key's place in its picture.
    fn owner(&self, position: usize) -> (i64, [f32; 2]) {
        let picture = self.pictures.partition_point(|p| p.first <= position) - 1;
        (self.pictures[picture].panel, self.points[position])
    }

    /// Adds the keys of the picture of `panel`, of document `doc`.
    pub fn add(&mut self, panel: i64, doc: DocumentId, keys: &PartKeys) -> Result<(), IndexError> {
        if keys.is_empty() {
            return Ok(());
        }
        self.index.add(&keys.descriptors).map_err(faiss_error)?;
        self.pictures.push(Picture {
            first: self.points.len(),
            panel,
            doc,
        });
        self.points.extend_from_slice(&keys.points);
        self.dirty = true;
        if let Some(untrained) = &mut self.untrained {
            untrained.extend_from_slice(&keys.descriptors);
            if self.points.len() >= self.search.train_size {
                self.train()?;
            }
        }
        Ok(())
    }

    /// Replaces the exhaustive index by the approximate one, trained on the keys held.
    fn train(&mut self) -> Result<(), IndexError> {
        let Some(descriptors) = self.untrained.take() else {
            return Ok(());
        };
        let mut index = index_factory(
            PART_KEY_DIM as u32,
            &self.search.factory,
            MetricType::InnerProduct,
        )
        .map_err(faiss_error)?;
        index.train(&descriptors).map_err(faiss_error)?;
        index.add(&descriptors).map_err(faiss_error)?;
        self.index = index;
        self.set_nprobe(Path::new("index of parts"))
    }

    /// Sets the lists probed per key, on an IVF index (only they have lists).
    fn set_nprobe(&mut self, path: &Path) -> Result<(), IndexError> {
        if self.search.factory.contains("IVF") {
            ParameterSpace::new()
                .and_then(|space| {
                    space.set_index_parameter(&self.index, "nprobe", self.search.nprobe as f64)
                })
                .map_err(|e| crate::index::faiss_error(path, e))?;
        }
        Ok(())
    }

    /// The pictures indexed before that `keys` meet at one shift, by the index's rules, the
    /// most alike first; pictures `skip` says are left out (the new picture's own document).
    pub fn propose(
        &mut self,
        keys: &PartKeys,
        skip: impl Fn(i64) -> bool,
    ) -> Result<Vec<PartProposal>, IndexError> {
        let search = &self.search;
        if keys.is_empty() || self.points.is_empty() {
            return Ok(Vec::new());
        }
        let k = search.top_k.min(self.points.len()).max(1);
        crate::index::one_openmp_thread();
        let found = self
            .index
            .search(&keys.descriptors, k)
            .map_err(faiss_error)?;
        // Each key votes once per picture and shift bin, however many of its corners it meets
        // there, with the weight of its best meeting there: a corner found again in a copy is
        // nearly itself, while smooth patches (a band's edge) resemble many of each other less
        // closely.
        let weight = |similarity: f32| {
            let above = (similarity - search.min_similarity) / (1.0 - search.min_similarity);
            above.clamp(0.0, 1.0).powi(2)
        };
        let mut votes: HashMap<(i64, i32, i32), HashMap<usize, f32>> = HashMap::new();
        for (q, point) in keys.points.iter().enumerate() {
            for j in 0..k {
                let (Some(label), similarity) =
                    (found.labels[q * k + j].get(), found.distances[q * k + j])
                else {
                    continue;
                };
                if similarity < search.min_similarity {
                    continue;
                }
                let (panel, older) = self.owner(label as usize);
                if panel == REMOVED || skip(panel) {
                    continue;
                }
                let bin = (panel, bin_of([point[0] - older[0], point[1] - older[1]]));
                let voter = votes
                    .entry((panel, bin.1.0, bin.1.1))
                    .or_default()
                    .entry(q)
                    .or_default();
                *voter = voter.max(weight(similarity));
            }
        }
        // A shift between two bins splits its votes: each bin counts its neighbours' voters too.
        let mut best: HashMap<i64, PartProposal> = HashMap::new();
        for &(panel, bx, by) in votes.keys() {
            let mut voters: HashMap<usize, f32> = HashMap::new();
            for (dx, dy) in (-1..=1).flat_map(|dy| (-1..=1).map(move |dx| (dx, dy))) {
                for (&q, &w) in votes.get(&(panel, bx + dx, by + dy)).into_iter().flatten() {
                    let voter = voters.entry(q).or_default();
                    *voter = voter.max(w);
                }
            }
            let proposal = PartProposal {
                older: panel,
                votes: voters.len(),
                score: voters.values().sum(),
                shift: [bx as f32 * SHIFT_BIN_PX, by as f32 * SHIFT_BIN_PX],
            };
            let entry = best.entry(panel).or_insert(proposal);
            if (proposal.score, std::cmp::Reverse((bx, by)))
                > (entry.score, std::cmp::Reverse(bin_of(entry.shift)))
            {
                *entry = proposal;
            }
        }
        let mut proposals: Vec<PartProposal> = best
            .into_values()
            .filter(|p| p.votes >= search.min_votes)
            .collect();
        proposals.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.older.cmp(&b.older)));
        proposals.truncate(search.most_proposals);
        Ok(proposals)
    }
}

/// The shift bin of a proposal's shift.
fn bin_of(shift: [f32; 2]) -> (i32, i32) {
    (
        (shift[0] / SHIFT_BIN_PX).round() as i32,
        (shift[1] / SHIFT_BIN_PX).round() as i32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A picture of noise smoothed a little, so that corners are where its blobs meet.
    fn mottled(seed: u32, width: u32, height: u32) -> GrayImage {
        let noise = |x: u32, y: u32| {
            let mut v = x.wrapping_mul(374_761_393) ^ y.wrapping_mul(668_265_263) ^ seed;
            v = (v ^ (v >> 13)).wrapping_mul(1_274_126_177);
            (v >> 24) as f32
        };
        GrayImage::from_fn(width, height, |x, y| {
            let mut sum = 0.0;
            for dy in 0..3 {
                for dx in 0..3 {
                    sum += noise(x / 3 + dx, y / 3 + dy);
                }
            }
            image::Luma([(sum / 9.0) as u8])
        })
    }

    #[test]
    fn keys_read_back_from_their_bytes_are_the_keys() {
        let keys = PartKeys::of(&mottled(1, 120, 90));
        assert!(keys.len() >= 20, "{} keys", keys.len());
        let back = PartKeys::from_bytes(&keys.to_bytes()).expect("bytes of whole keys");
        assert_eq!(back.points, keys.points);
        for (a, b) in back.descriptors.iter().zip(&keys.descriptors) {
            assert!((a - b).abs() < 0.02, "{a} against {b}");
        }
        assert!(PartKeys::from_bytes(&keys.to_bytes()[1..]).is_none());
    }

    #[test]
    fn a_part_of_an_earlier_picture_is_proposed_at_its_shift_before_and_after_training() {
        let earlier: Vec<GrayImage> = (0..6).map(|k| mottled(10 + k, 160, 120)).collect();
        let mut later = mottled(99, 160, 120);
        let part = image::imageops::crop_imm(&earlier[3], 20, 30, 70, 40);
        image::imageops::replace(&mut later, &*part, 75, 60);
        for (factory, train_size) in [("Flat", 1), ("IVF4,Flat", 64), ("IVF4,SQ8", 64)] {
            let search = crate::index::IndexConfig {
                part_factory: factory.to_string(),
                part_train_size: train_size,
                ..Default::default()
            }
            .part_search();
            let mut index = PartIndex::new(&search).unwrap();
            for (k, picture) in earlier.iter().enumerate() {
                let doc = DocumentId::of_bytes(&[k as u8]);
                index.add(k as i64, doc, &PartKeys::of(picture)).unwrap();
            }
            let proposals = index.propose(&PartKeys::of(&later), |_| false).unwrap();
            assert_eq!(
                proposals.first().map(|p| (p.older, p.shift)),
                Some((3, [55.0, 30.0])),
                "{factory}: {proposals:?}"
            );
            // Its own document's pictures are left out.
            let skipped = index
                .propose(&PartKeys::of(&later), |panel| panel == 3)
                .unwrap();
            assert!(skipped.iter().all(|p| p.older != 3), "{skipped:?}");
        }
        assert!(matches!(
            PartIndex::new(&PartSearch {
                factory: "Nonsense9".to_string(),
                ..crate::index::IndexConfig::default().part_search()
            }),
            Err(IndexError::Faiss { .. })
        ));
    }
}
