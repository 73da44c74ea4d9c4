//! embed: turns each panel into vectors with the configured embedder: the orientations of it the
//! index stores (as it is, and mirrored for a network) and those queries use (all eight flips and
//! quarter turns, or the four turns against a mirrored index), so flipped and turned copies are
//! found, plus sub-windows of it (queries too, so a panel finds the earlier panels that are
//! crops of it), plus the panel turned by a few degrees (queries too, so a slightly rotated copy
//! is found). Documents are embedded in batches.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use image::GrayImage;
use panelscope_engine::{
    BuildContext, ItemResult, Outputs, Stage, StageConfig, StageError, StageKind,
};
use panelscope_models::{
    ClassicalEmbedder, DevicePreference, Dihedral, Embedder, LearnedEmbedder, select_device,
};
use serde::{Deserialize, Serialize};

use crate::units::{DocumentEmbedded, DocumentPanels, PanelItem, PanelVectors};

/// Window sizes of the classical descriptor when `[embed] window_sizes` is unset: with the three
/// default positions, 36 windows that reach 76% of crops of 80 real blots (planted as the
/// synthetic catalog plants them: 50–90% of the area) at similarity 0.88, against 34% for the
/// whole panel alone (`cargo bench --bench crop_windows`).
pub const CLASSICAL_WINDOW_SIZES: &[f32] = &[0.75, 0.9];

/// Indexed window sizes of the classical descriptor when `[embed] indexed_window_sizes` is unset:
/// nine windows of nine tenths of the width and height (at the three default positions each
/// way), held in the index beside the whole panel, so that a panel indexed after one it is a crop
/// of finds it. Query windows find crops indexed before; without these, a crop whose source came
/// first was reachable as a whole panel only (on five dev catalogs, 1 of 8 such cross-document
/// crops). There they found 4 more of 570 planted pairs (two crops, two rescaled copies whose
/// boxes differ by a label strip) at the same precision, for about a third more ingest time on
/// 2 cores; nine of 0.8 found 3, the 36 query windows 8 at 2.4 times the ingest time.
pub const CLASSICAL_INDEXED_WINDOW_SIZES: &[f32] = &[0.9];

/// Which embedder, read from `[embed]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbedConfig {
    /// `classical` (the default descriptor shipped in the code, no weights) or `learned` (the
    /// copy-detection model trained by `panelscope train`, read from [`EmbedConfig::weights`]).
    pub model: String,
    /// The learned model's weights (safetensors). A relative path is looked up in the working
    /// directory, then in the repository the binary was built from (beside `target/`).
    pub weights: String,
    /// Where the learned model runs: `auto` (CUDA when this build has it and a GPU is present,
    /// else the CPU), `cpu`, `cuda` or `cuda:N`.
    pub device: String,
    /// Sub-windows of each panel embedded as extra queries, so that a panel finds the panels
    /// indexed before it that are crops of it: every window spans one of these shares of the
    /// panel's width and, independently, of its height (each in 0–1 exclusive). Empty: none.
    /// Unset: [`CLASSICAL_WINDOW_SIZES`] for the classical descriptor, none for the learned model
    /// (a window costs it a network pass on the CPU, and found no more pairs on the dev catalog).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_sizes: Option<Vec<f32>>,
    /// Sub-windows of each panel held in the index beside it (shares as `window_sizes`, at the
    /// same positions), so that a panel finds the panels indexed before it that it is a crop of.
    /// Each costs the index one more vector per panel. Empty: none. Unset:
    /// [`CLASSICAL_INDEXED_WINDOW_SIZES`] for the classical descriptor, none for the learned model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub indexed_window_sizes: Option<Vec<f32>>,
    /// Where each window sits in the room its size leaves, along each axis: 0 at the left (top),
    /// 1 at the right (bottom).
    pub window_positions: Vec<f32>,
    /// The panel turned by each of these angles (degrees, either sign, at most
    /// [`MAX_TILT_DEGREES`]) is embedded as an extra query, so that a copy turned by a few degrees
    /// finds it as a whole panel does. Empty: none. Unset: [`DEFAULT_TILT_DEGREES`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tilt_degrees: Option<Vec<f32>>,
}

/// Query tilts when `[embed] tilt_degrees` is unset: three degrees either way, within two of
/// every turn the synthetic catalog plants (1–5 degrees). On five dev catalogs they found 22 of 33
/// slightly rotated pairs for the classical descriptor (18 without) and 20 for the learned model
/// (19), at the same precision, for two more queries per panel.
pub const DEFAULT_TILT_DEGREES: &[f32] = &[-3.0, 3.0];

/// The largest tilt a query may take: beyond it a turned panel is a different picture to every
/// descriptor here, and verification tries turns up to 5 degrees only.
pub const MAX_TILT_DEGREES: f32 = 10.0;

impl Default for EmbedConfig {
    fn default() -> Self {
        Self {
            model: "classical".to_string(),
            weights: "models/weights/panelscope-embed-small.safetensors".to_string(),
            device: "auto".to_string(),
            window_sizes: None,
            indexed_window_sizes: None,
            window_positions: vec![0.0, 0.5, 1.0],
            tilt_degrees: None,
        }
    }
}

impl EmbedConfig {
    /// The query windows of [`EmbedConfig::window_sizes`] and [`EmbedConfig::window_positions`],
    /// as shares `[x0, y0, x1, y1]` of a panel's width and height.
    pub fn windows(&self) -> Result<Vec<[f32; 4]>, String> {
        self.windows_of("window_sizes", &self.window_sizes, CLASSICAL_WINDOW_SIZES)
    }

    /// The windows of [`EmbedConfig::indexed_window_sizes`] held in the index, as shares
    /// `[x0, y0, x1, y1]` of a panel's width and height.
    pub fn indexed_windows(&self) -> Result<Vec<[f32; 4]>, String> {
        self.windows_of(
            "indexed_window_sizes",
            &self.indexed_window_sizes,
            CLASSICAL_INDEXED_WINDOW_SIZES,
        )
    }

    /// Windows of each of the sizes `set` in the setting `name` (unset: `classical` for the
    /// classical descriptor, none for the learned model) at every
    /// [`EmbedConfig::window_positions`] along each axis.
    fn windows_of(
        &self,
        name: &str,
        set: &Option<Vec<f32>>,
        classical: &[f32],
    ) -> Result<Vec<[f32; 4]>, String> {
        let sizes = match set {
            Some(sizes) => sizes.as_slice(),
            None if self.model == "classical" => classical,
            None => &[],
        };
        if let Some(size) = sizes.iter().find(|s| !(**s > 0.0 && **s < 1.0)) {
            return Err(format!(
                "embed.{name}: {size} is not a share between 0 and 1 (exclusive)"
            ));
        }
        if let Some(at) = self
            .window_positions
            .iter()
            .find(|p| !(0.0..=1.0).contains(*p))
        {
            return Err(format!(
                "embed.window_positions: {at} is not a position between 0 and 1"
            ));
        }
        let spans: Vec<(f32, f32)> = sizes
            .iter()
            .flat_map(|&size| {
                self.window_positions
                    .iter()
                    .map(move |&at| ((1.0 - size) * at, (1.0 - size) * at + size))
            })
            .collect();
        Ok(spans
            .iter()
            .flat_map(|&(x0, x1)| spans.iter().map(move |&(y0, y1)| [x0, y0, x1, y1]))
            .collect())
    }

    /// The query tilts of [`EmbedConfig::tilt_degrees`], in degrees.
    pub fn tilts(&self) -> Result<Vec<f32>, String> {
        let tilts = self
            .tilt_degrees
            .clone()
            .unwrap_or_else(|| DEFAULT_TILT_DEGREES.to_vec());
        if let Some(angle) = tilts
            .iter()
            .find(|a| !(a.abs() > 0.0 && a.abs() <= MAX_TILT_DEGREES))
        {
            return Err(format!(
                "embed.tilt_degrees: {angle} is not a turn of more than 0 and at most {MAX_TILT_DEGREES} degrees either way"
            ));
        }
        Ok(tilts)
    }

    /// The embedder this configuration names.
    pub fn embedder(&self) -> Result<Arc<dyn Embedder>, String> {
        match self.model.as_str() {
            "classical" => Ok(Arc::new(ClassicalEmbedder::default())),
            "learned" => {
                let preference: DevicePreference = self
                    .device
                    .parse()
                    .map_err(|e| format!("embed.device: {e}"))?;
                let device = select_device(preference).map_err(|e| format!("embed.device: {e}"))?;
                let path = self.weights_path()?;
                let embedder = LearnedEmbedder::load(&path, &device).map_err(|e| e.to_string())?;
                Ok(Arc::new(embedder))
            }
            other => Err(format!(
                "embed.model = `{other}` is not a known embedder (known: classical, learned)"
            )),
        }
    }

    /// Where [`EmbedConfig::weights`] is: absolute as given; relative, the first existing of the
    /// working directory's and the build repository's (the binary's `target/<profile>/..`, then
    /// this crate's parent at build time).
    pub fn weights_path(&self) -> Result<PathBuf, String> {
        let given = Path::new(&self.weights);
        if given.is_absolute() {
            return Ok(given.to_path_buf());
        }
        let mut roots: Vec<PathBuf> = Vec::new();
        if let Ok(cwd) = std::env::current_dir() {
            roots.push(cwd);
        }
        if let Ok(exe) = std::env::current_exe() {
            // target/<profile>/panelscope, or target/<profile>/deps/<test> for tests.
            roots.extend(exe.ancestors().skip(3).take(2).map(Path::to_path_buf));
        }
        if let Some(repo) = Path::new(env!("CARGO_MANIFEST_DIR")).parent() {
            roots.push(repo.to_path_buf());
        }
        roots
            .iter()
            .map(|root| root.join(given))
            .find(|candidate| candidate.is_file())
            .ok_or_else(|| {
                format!(
                    "embed.weights = `{}` not found in {}",
                    self.weights,
                    roots
                        .iter()
                        .map(|r| r.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
    }
}

/// Builds [`Embed`] stages sharing one embedder.
pub struct EmbedStageConfig {
    embedder: Arc<dyn Embedder>,
    windows: Arc<[[f32; 4]]>,
    indexed_windows: usize,
    tilts: Arc<[f32]>,
}

impl EmbedStageConfig {
    /// Stages embedding with `embedder`, querying with `windows` of each panel (shares
    /// `[x0, y0, x1, y1]` of its width and height; see [`EmbedConfig::windows`]) and with the
    /// panel turned by each of `tilts` (degrees; see [`EmbedConfig::tilts`]), and indexing its
    /// `indexed_windows` beside it (see [`EmbedConfig::indexed_windows`]).
    pub fn new(
        embedder: Arc<dyn Embedder>,
        windows: Vec<[f32; 4]>,
        indexed_windows: Vec<[f32; 4]>,
        tilts: Vec<f32>,
    ) -> Self {
        let count = indexed_windows.len();
        Self {
            embedder,
            windows: windows.into_iter().chain(indexed_windows).collect(),
            indexed_windows: count,
            tilts: tilts.into(),
        }
    }
}

impl StageConfig for EmbedStageConfig {
    type Stage = Embed;

    fn build(&self, _cx: &BuildContext) -> Result<Embed, StageError> {
        // Each view the index holds or a query needs, embedded once.
        let mut all_views: Vec<Dihedral> = self.embedder.indexed_views().to_vec();
        for view in self.embedder.query_views() {
            if !all_views.contains(view) {
                all_views.push(*view);
            }
        }
        Ok(Embed {
            embedder: Arc::clone(&self.embedder),
            all_views: all_views.into(),
            windows: Arc::clone(&self.windows),
            indexed_windows: self.indexed_windows,
            tilts: Arc::clone(&self.tilts),
        })
    }

    fn kind(&self) -> StageKind {
        // Accelerator models gather batches on few workers; CPU descriptors spread over the cores.
        if self.embedder.prefers_batches() {
            StageKind::Batched
        } else {
            StageKind::Cpu
        }
    }
}

/// Panels handed to the embedder per call.
const PANELS_PER_CALL: usize = 16;

/// Panels narrower or shorter than this (pixels) get no window queries: their windows would be
/// a few dozen pixels of blur, alike across unrelated panels.
const MIN_WINDOWED_SIDE: u32 = 48;
/// Windows are cut from the panel shrunk to this longest side: their descriptors see a few dozen
/// pixels, and cutting each from full resolution would cost a full-resolution pass per window.
const WINDOW_SOURCE_SIDE: u32 = 128;

/// The embed stage.
pub struct Embed {
    embedder: Arc<dyn Embedder>,
    /// The indexed and the query views, each once.
    all_views: Arc<[Dihedral]>,
    /// The query windows, then the last `indexed_windows` of them: those the index holds.
    windows: Arc<[[f32; 4]]>,
    indexed_windows: usize,
    tilts: Arc<[f32]>,
}

/// The vectors a panel is indexed with: its `views` (the embedder's indexed views), then one per
/// indexed window, the whole panel's first view standing in for each window of a panel too small
/// to window (`windows` empty), so that every panel holds as many vectors.
pub fn indexed_vectors(
    views: Vec<(Dihedral, Vec<f32>)>,
    windows: Vec<Vec<f32>>,
    indexed_windows: usize,
) -> Vec<(Dihedral, Vec<f32>)> {
    let whole = views.first().map(|(_, v)| v.clone()).unwrap_or_default();
    let mut windows = windows.into_iter();
    let slots: Vec<(Dihedral, Vec<f32>)> = (0..indexed_windows)
        .map(|_| {
            (
                Dihedral::Identity,
                windows.next().unwrap_or_else(|| whole.clone()),
            )
        })
        .collect();
    views.into_iter().chain(slots).collect()
}

/// The windows of `gray`, each `[x0, y0, x1, y1]` in shares of its width and height, cut from a
/// copy no longer than [`WINDOW_SOURCE_SIDE`]; none when the panel is too small to window.
pub fn window_crops(gray: &GrayImage, windows: &[[f32; 4]]) -> Vec<GrayImage> {
    extra_queries(gray, windows, &[]).0
}

/// `gray` turned by each of `tilts` (degrees, counter-clockwise) about its centre on a canvas of
/// its size, corners filled with its median level, as a copy turned in a figure looks; cut from
/// a copy no longer than [`WINDOW_SOURCE_SIDE`]. None when the panel is too small to window.
pub fn tilted_copies(gray: &GrayImage, tilts: &[f32]) -> Vec<GrayImage> {
    extra_queries(gray, &[], tilts).1
}

/// The `windows` of `gray` and its copies turned by `tilts`, all cut from one copy of it shrunk
/// to [`WINDOW_SOURCE_SIDE`] on its longest side; none when the panel is too small to window.
fn extra_queries(
    gray: &GrayImage,
    windows: &[[f32; 4]],
    tilts: &[f32],
) -> (Vec<GrayImage>, Vec<GrayImage>) {
    let (width, height) = gray.dimensions();
    if (windows.is_empty() && tilts.is_empty()) || width.min(height) < MIN_WINDOWED_SIDE {
        return (Vec::new(), Vec::new());
    }
    let longest = width.max(height);
    let shrunk;
    let source = if longest > WINDOW_SOURCE_SIDE {
        let scale = WINDOW_SOURCE_SIDE as f32 / longest as f32;
        shrunk = image::imageops::thumbnail(
            gray,
            ((width as f32 * scale).round() as u32).max(1),
            ((height as f32 * scale).round() as u32).max(1),
        );
        &shrunk
    } else {
        gray
    };
    let (w, h) = (source.width() as f32, source.height() as f32);
    let crops = windows
        .iter()
        .map(|&[x0, y0, x1, y1]| {
            let (left, top) = ((x0 * w).round() as u32, (y0 * h).round() as u32);
            let right = ((x1 * w).round() as u32).clamp(left + 1, source.width());
            let bottom = ((y1 * h).round() as u32).clamp(top + 1, source.height());
            image::imageops::crop_imm(source, left, top, right - left, bottom - top).to_image()
        })
        .collect();
    let turned = tilts
        .iter()
        .map(|&degrees| crate::verify::rotate(source, degrees))
        .collect();
    (crops, turned)
}

impl Embed {
    fn embed(&self, document: &DocumentPanels) -> Result<DocumentEmbedded, StageError> {
        // Full-resolution pixels stop here: the stages after this one read thumbnails, and small
        // pictures' gray (see below). The copy going on is made without the pixels rather than
        // cloned and emptied.
        let mut panels: Vec<PanelItem> = document
            .panels
            .iter()
            .map(|p| PanelItem {
                id: p.id,
                page: p.page,
                figure: p.figure,
                ordinal: p.ordinal,
                bbox: p.bbox,
                thumb: p.thumb.clone(),
                uniform: p.uniform,
                raster: None,
                gray: None,
                picture_share: p.picture_share,
                class: p.class,
            })
            .collect();
        // Panels go to the embedder a few at a time, so a network batches them while only that
        // many gray copies of full-resolution panels exist at once.
        let screened: Vec<usize> = (0..panels.len()).filter(|&k| !panels[k].uniform).collect();
        let failed = |e: panelscope_models::ModelError| {
            StageError::internal(format!("embedding failed: {e}"))
        };
        let mut all_views = Vec::with_capacity(screened.len());
        let mut all_windows = Vec::with_capacity(screened.len());
        let mut all_tilts = Vec::with_capacity(screened.len());
        for chunk in screened.chunks(PANELS_PER_CALL) {
            let grays: Vec<GrayImage> = chunk
                .iter()
                .map(|&k| {
                    let panel = &document.panels[k];
                    panel.raster.as_ref().unwrap_or(&panel.thumb).to_gray()
                })
                .collect();
            for (&k, gray) in chunk.iter().zip(&grays) {
                if panels[k].picture_share >= crate::verify::SHARED_PART_MIN_PICTURE_SHARE
                    && gray.width().max(gray.height()) <= crate::verify::SHARED_PART_MAX_SIDE
                {
                    panels[k].gray = Some(gray.clone());
                }
            }
            all_views.extend(
                self.embedder
                    .embed_views_many(&grays, &self.all_views)
                    .map_err(failed)?,
            );
            // Every panel's windows, then its tilted copies, all of the chunk in one call.
            let mut images = Vec::new();
            let mut counts = Vec::with_capacity(grays.len());
            for gray in &grays {
                let (crops, turned) = extra_queries(gray, &self.windows, &self.tilts);
                counts.push((crops.len(), turned.len()));
                images.extend(crops);
                images.extend(turned);
            }
            let mut vectors = if images.is_empty() {
                Vec::new()
            } else {
                self.embedder.embed(&images).map_err(failed)?
            }
            .into_iter();
            for (windows, tilts) in counts {
                all_windows.push(vectors.by_ref().take(windows).collect::<Vec<_>>());
                all_tilts.push(vectors.by_ref().take(tilts).collect::<Vec<_>>());
            }
        }
        let mut views = all_views.into_iter().zip(all_windows).zip(all_tilts);
        let vectors = panels
            .iter()
            .map(|panel| {
                if panel.uniform {
                    return None;
                }
                views.next().map(|((views, windows), tilts)| {
                    let labelled: Vec<(Dihedral, Vec<f32>)> =
                        self.all_views.iter().copied().zip(views).collect();
                    let pick = |wanted: &[Dihedral]| {
                        wanted
                            .iter()
                            .map(|d| {
                                labelled
                                    .iter()
                                    .find(|(view, _)| view == d)
                                    .cloned()
                                    .expect("every indexed and query view is embedded")
                            })
                            .collect()
                    };
                    let (windows, held) = if windows.is_empty() {
                        (Vec::new(), Vec::new())
                    } else {
                        let mut windows = windows;
                        let held = windows.split_off(windows.len() - self.indexed_windows);
                        (windows, held)
                    };
                    let views: Vec<(Dihedral, Vec<f32>)> = pick(self.embedder.indexed_views());
                    PanelVectors {
                        indexed_views: views.len(),
                        indexed: indexed_vectors(views, held, self.indexed_windows),
                        views: pick(self.embedder.query_views()),
                        windows,
                        tilts,
                    }
                })
            })
            .collect();
        Ok(DocumentEmbedded {
            document: DocumentPanels {
                panels,
                ..document.clone()
            },
            vectors,
            parts: Vec::new(),
        })
    }
}

impl Stage for Embed {
    type In = DocumentPanels;
    type Out = DocumentEmbedded;

    fn process(&mut self, batch: &[DocumentPanels]) -> Vec<ItemResult<DocumentEmbedded>> {
        batch
            .iter()
            .map(|document| self.embed(document).map(Outputs::One))
            .collect()
    }

    fn describe(&self, document: &DocumentPanels) -> String {
        document.info.job.path.display().to_string()
    }

    fn key(&self, document: &DocumentPanels) -> Option<String> {
        Some(document.info.job.id.to_hex())
    }

    fn sequence(&self, document: &DocumentPanels) -> Option<u64> {
        Some(document.info.job.position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_round_trips_through_toml_and_defaults_to_classical() {
        let config = EmbedConfig::default();
        let text = toml::to_string(&config).unwrap();
        assert_eq!(toml::from_str::<EmbedConfig>(&text).unwrap(), config);
        assert_eq!(config.model, "classical");
        let error = toml::from_str::<EmbedConfig>("wieghts = \"x\"").unwrap_err();
        assert!(error.to_string().contains("unknown field"), "{error}");
    }

    #[test]
    fn windows_default_by_model_and_stay_inside_the_panel() {
        let classical = EmbedConfig::default().windows().unwrap();
        assert_eq!(classical.len(), 36);
        for [x0, y0, x1, y1] in &classical {
            assert!(0.0 <= *x0 && x0 < x1 && *x1 <= 1.0 + 1e-6, "{x0} {x1}");
            assert!(0.0 <= *y0 && y0 < y1 && *y1 <= 1.0 + 1e-6, "{y0} {y1}");
        }
        // Three quarters wide, centred; nine tenths tall, at the bottom.
        let wanted = [0.125, 0.1, 0.875, 1.0];
        assert!(
            classical
                .iter()
                .any(|w| w.iter().zip(&wanted).all(|(a, b)| (a - b).abs() < 1e-6)),
            "{classical:?}"
        );
        let learned = EmbedConfig {
            model: "learned".to_string(),
            ..EmbedConfig::default()
        };
        assert!(learned.windows().unwrap().is_empty());
        let chosen = EmbedConfig {
            window_sizes: Some(vec![0.8]),
            window_positions: vec![0.0, 1.0],
            ..learned
        };
        assert_eq!(chosen.windows().unwrap().len(), 4);
        let whole = EmbedConfig {
            window_sizes: Some(vec![1.0]),
            ..EmbedConfig::default()
        };
        assert!(whole.windows().unwrap_err().contains("window_sizes"));
    }

    #[test]
    fn indexed_windows_default_by_model_and_stand_in_for_small_panels() {
        assert_eq!(EmbedConfig::default().indexed_windows().unwrap().len(), 9);
        let learned = EmbedConfig {
            model: "learned".to_string(),
            ..EmbedConfig::default()
        };
        assert!(learned.indexed_windows().unwrap().is_empty());
        let bad = EmbedConfig {
            indexed_window_sizes: Some(vec![0.0]),
            ..EmbedConfig::default()
        };
        assert!(
            bad.indexed_windows()
                .unwrap_err()
                .contains("indexed_window_sizes")
        );
        // A panel too small to window holds its whole vector in each window's place.
        let views = vec![(Dihedral::Identity, vec![1.0, 0.0])];
        let held = indexed_vectors(views.clone(), Vec::new(), 3);
        assert_eq!(held.len(), 4);
        assert!(
            held.iter()
                .all(|(d, v)| *d == Dihedral::Identity && v == &vec![1.0, 0.0])
        );
        let windowed = indexed_vectors(views, vec![vec![0.0, 1.0]; 3], 3);
        assert_eq!(windowed[3].1, vec![0.0, 1.0]);
    }

    #[test]
    fn window_crops_cover_their_share_of_the_panel() {
        let gray = GrayImage::from_fn(400, 200, |x, y| image::Luma([((x + y) % 256) as u8]));
        let crops = window_crops(&gray, &[[0.0, 0.0, 1.0, 1.0], [0.25, 0.5, 0.75, 1.0]]);
        // Cut from the panel shrunk to WINDOW_SOURCE_SIDE on its longest side.
        assert_eq!(crops[0].dimensions(), (128, 64));
        assert_eq!(crops[1].dimensions(), (64, 32));
        assert!(window_crops(&GrayImage::new(300, 40), &[[0.0, 0.0, 0.5, 0.5]]).is_empty());
    }

    #[test]
    fn tilted_copies_turn_the_panel_on_a_canvas_of_its_size() {
        // A dark bar across the middle of a pale panel, tilted, no longer lies level.
        let gray = GrayImage::from_fn(256, 128, |_, y| {
            image::Luma([if (60..68).contains(&y) { 20 } else { 230 }])
        });
        let tilted = tilted_copies(&gray, &[4.0, -4.0]);
        assert_eq!(tilted.len(), 2);
        for copy in &tilted {
            // Shrunk to WINDOW_SOURCE_SIDE on its longest side, as windows are.
            assert_eq!(copy.dimensions(), (128, 64));
            // Corners are filled with the panel's median (its pale ground), not black.
            assert!(copy.get_pixel(0, 0).0[0] > 200);
        }
        // The bar's ends move apart vertically, one way for each sign.
        let dark_row = |copy: &GrayImage, x: u32| {
            (0..copy.height())
                .min_by_key(|&y| copy.get_pixel(x, y).0[0])
                .unwrap() as i32
        };
        let rise = |copy: &GrayImage| dark_row(copy, 120) - dark_row(copy, 8);
        assert!(
            rise(&tilted[0]) * rise(&tilted[1]) < 0,
            "{} {}",
            rise(&tilted[0]),
            rise(&tilted[1])
        );
        assert!(rise(&tilted[0]).abs() >= 4);
        assert!(tilted_copies(&GrayImage::new(300, 40), &[3.0]).is_empty());
        assert!(tilted_copies(&gray, &[]).is_empty());
    }

    #[test]
    fn tilts_are_checked() {
        assert_eq!(EmbedConfig::default().tilts().unwrap(), vec![-3.0, 3.0]);
        let untilted = EmbedConfig {
            tilt_degrees: Some(Vec::new()),
            ..EmbedConfig::default()
        };
        assert!(untilted.tilts().unwrap().is_empty());
        let tilted = EmbedConfig {
            tilt_degrees: Some(vec![-2.0, 2.0, 4.5]),
            ..EmbedConfig::default()
        };
        assert_eq!(tilted.tilts().unwrap(), vec![-2.0, 2.0, 4.5]);
        for bad in [0.0, 12.0, f32::NAN] {
            let config = EmbedConfig {
                tilt_degrees: Some(vec![bad]),
                ..EmbedConfig::default()
            };
            assert!(
                config.tilts().unwrap_err().contains("tilt_degrees"),
                "{bad}"
            );
        }
    }

    #[test]
    fn learned_loads_the_shipped_weights_and_reports_a_missing_file() {
        let config = EmbedConfig {
            model: "learned".to_string(),
            device: "cpu".to_string(),
            ..EmbedConfig::default()
        };
        let embedder = config.embedder().unwrap();
        assert!(embedder.fingerprint().0.starts_with("learned-resnetv2-"));
        let missing = EmbedConfig {
            weights: "models/weights/nothing-here.safetensors".to_string(),
            ..config
        };
        let error = missing.embedder().err().unwrap();
        assert!(error.contains("not found"), "{error}");
    }
}
