//! The provenance store: one SQLite file in the data directory holding documents, pages, figures,
//! panels and dead letters. Every document is written in one transaction, so after any crash it is
//! either fully recorded or absent, and a rerun resumes where the last one stopped.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use image::GrayImage;
use panelscope_engine::{DeadLetter, DeadLetterSink};
use rusqlite::{Connection, OptionalExtension, params};

use crate::units::{
    BBox, DocumentId, DocumentMatched, MatchRecord, PanelClass, PanelPlace, Raster,
};

/// The store's file name inside the data directory.
pub const STORE_FILE: &str = "panelscope.sqlite";

/// The schema version this build writes; older stores are migrated on open.
const SCHEMA_VERSION: i64 = 4;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS documents (
    id              TEXT PRIMARY KEY,         -- blake3 of the file's bytes, hex
    path            TEXT NOT NULL,            -- where it was first found
    size            INTEGER NOT NULL,         -- bytes
    pages           INTEGER,                  -- pages in the file
    pages_screened  INTEGER,                  -- pages screened (fewer when render.max_pages applies)
    title           TEXT,
    status          TEXT NOT NULL CHECK (status IN ('complete', 'failed')),
    error           TEXT,                     -- why, when failed
    recorded_at     INTEGER NOT NULL          -- Unix ms
);
CREATE TABLE IF NOT EXISTS paths (
    doc  TEXT NOT NULL,
    path TEXT NOT NULL,
    PRIMARY KEY (doc, path)
);
CREATE TABLE IF NOT EXISTS pages (
    doc        TEXT NOT NULL REFERENCES documents(id),
    page       INTEGER NOT NULL,              -- 1-based
    width_pt   REAL NOT NULL,
    height_pt  REAL NOT NULL,
    dpi        REAL NOT NULL,                 -- render resolution actually used
    width_px   INTEGER NOT NULL,
    height_px  INTEGER NOT NULL,
    text_chars INTEGER NOT NULL,
    PRIMARY KEY (doc, page)
);
CREATE TABLE IF NOT EXISTS figures (
    id       INTEGER PRIMARY KEY,
    doc      TEXT NOT NULL REFERENCES documents(id),
    page     INTEGER NOT NULL,                -- 1-based
    ordinal  INTEGER NOT NULL,                -- reading order on the page, 1-based
    source   TEXT NOT NULL CHECK (source IN ('embedded', 'detected')),
    x0 REAL NOT NULL, y0 REAL NOT NULL, x1 REAL NOT NULL, y1 REAL NOT NULL,  -- PDF points, top-left origin
    px0 INTEGER NOT NULL, py0 INTEGER NOT NULL, px1 INTEGER NOT NULL, py1 INTEGER NOT NULL, -- page render pixels
    raster_width  INTEGER NOT NULL,           -- the figure's own pixels (native for embedded images)
    raster_height INTEGER NOT NULL,
    caption  TEXT
);
CREATE INDEX IF NOT EXISTS figures_by_page ON figures (doc, page);
CREATE TABLE IF NOT EXISTS panels (
    id       INTEGER PRIMARY KEY,
    figure   INTEGER NOT NULL REFERENCES figures(id),
    doc      TEXT NOT NULL REFERENCES documents(id),
    page     INTEGER NOT NULL,
    ordinal  INTEGER NOT NULL,                -- reading order in the figure, 1-based
    x0 REAL NOT NULL, y0 REAL NOT NULL, x1 REAL NOT NULL, y1 REAL NOT NULL,  -- PDF points, top-left origin
    width_px  INTEGER NOT NULL,
    height_px INTEGER NOT NULL,
    pixels    TEXT NOT NULL,                  -- blake3 of the panel's pixels, hex
    phash     TEXT,                           -- 64-bit perceptual hash, hex
    boilerplate INTEGER NOT NULL DEFAULT 0,   -- recurs across documents (logo, badge): never matched
    uniform     INTEGER NOT NULL DEFAULT 0,   -- nearly blank, or text-layer words alone: never matched
    class       TEXT                          -- blot, gel, microscopy or other; NULL: recorded unclassified
);
CREATE INDEX IF NOT EXISTS panels_by_figure ON panels (figure);
CREATE INDEX IF NOT EXISTS panels_by_page ON panels (doc, page);
CREATE TABLE IF NOT EXISTS panel_pixels (
    panel   INTEGER PRIMARY KEY REFERENCES panels(id),
    width   INTEGER NOT NULL,
    height  INTEGER NOT NULL,
    jpeg    BLOB NOT NULL                     -- at most 384 px on the longest side
);
-- Blots and gels keyed for the index of parts (stages/src/parts.rs), with their full pixels:
-- a band spliced from one into a picture of a later paper is laid on them at the scale both
-- were drawn at.
CREATE TABLE IF NOT EXISTS part_keys (
    panel   INTEGER PRIMARY KEY REFERENCES panels(id),
    keys    BLOB NOT NULL,                    -- per corner: x, y (little-endian f32), 64 descriptor values as i8
    gray    BLOB NOT NULL                     -- the picture in gray at its own resolution, PNG
);
CREATE TABLE IF NOT EXISTS embeddings (
    panel   INTEGER NOT NULL REFERENCES panels(id),
    model   TEXT NOT NULL,                    -- model fingerprint
    vector  BLOB NOT NULL,                    -- little-endian f32: the L2-normalised vector of each orientation the index holds, end to end
    PRIMARY KEY (panel, model)
);
CREATE TABLE IF NOT EXISTS matches (
    id          INTEGER PRIMARY KEY,
    panel_a     INTEGER NOT NULL REFERENCES panels(id),   -- indexed first
    panel_b     INTEGER NOT NULL REFERENCES panels(id),
    similarity  REAL NOT NULL,
    verified    INTEGER NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('intra_document', 'cross_document')),
    correlation REAL NOT NULL,
    transform   TEXT NOT NULL,                            -- JSON
    suppressed  TEXT,                                     -- why it is kept out of the match stream
    model       TEXT NOT NULL,
    recorded_at INTEGER NOT NULL,
    UNIQUE (panel_a, panel_b)
);
CREATE INDEX IF NOT EXISTS matches_by_b ON matches (panel_b);
-- Matches recorded with their second panel's document before the first panel's document was
-- (documents are verified in parallel): they move to matches when that document is recorded.
CREATE TABLE IF NOT EXISTS pending_matches (
    panel_a     INTEGER NOT NULL,
    panel_b     INTEGER NOT NULL,
    similarity  REAL NOT NULL,
    verified    INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    correlation REAL NOT NULL,
    transform   TEXT NOT NULL,
    suppressed  TEXT,
    model       TEXT NOT NULL,
    recorded_at INTEGER NOT NULL,
    UNIQUE (panel_a, panel_b)
);
CREATE INDEX IF NOT EXISTS pending_matches_by_a ON pending_matches (panel_a);
CREATE TABLE IF NOT EXISTS dead_letters (
    id        INTEGER PRIMARY KEY,
    stage     TEXT NOT NULL,
    item      TEXT NOT NULL,
    doc       TEXT,
    error     TEXT NOT NULL,
    domain    TEXT NOT NULL,
    attempts  INTEGER NOT NULL,
    at        INTEGER NOT NULL                -- Unix ms
);
CREATE INDEX IF NOT EXISTS dead_letters_by_doc ON dead_letters (doc);
";

/// Why the store could not do something.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("{path}: {source}")]
    Sqlite {
        /// The store file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The data directory could not be created.
    #[error("{path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The store was written by a newer panelscope.
    #[error(
        "{path}: store schema v{found} is newer than this panelscope (v{SCHEMA_VERSION}); upgrade panelscope"
    )]
    TooNew {
        /// The store file.
        path: PathBuf,
        /// The version found.
        found: i64,
    },
    /// A value in the store is not what panelscope writes there.
    #[error("{path}: {reason}")]
    Corrupt {
        /// The store file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Where a document stands in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocumentStatus {
    /// Every screened page is recorded.
    Complete,
    /// It could not be screened; why.
    Failed(String),
}

/// Totals over the whole store.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct StoreCounts {
    /// Documents fully recorded.
    pub complete: u64,
    /// Documents that failed.
    pub failed: u64,
    /// Pages recorded.
    pub pages: u64,
    /// Figures recorded.
    pub figures: u64,
    /// Panels recorded.
    pub panels: u64,
    /// Dead letters recorded.
    pub dead_letters: u64,
}

/// A panel's place from the columns `doc, path, page, x0, y0, x1, y1, class` starting at `first`.
fn place_of(id: i64, row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<PanelPlace> {
    let doc: String = row.get(first)?;
    Ok(PanelPlace {
        id,
        doc: doc.parse().map_err(|e: String| {
            rusqlite::Error::FromSqlConversionFailure(first, rusqlite::types::Type::Text, e.into())
        })?,
        path: row.get(first + 1)?,
        page: row.get(first + 2)?,
        bbox: BBox::new(
            row.get(first + 3)?,
            row.get(first + 4)?,
            row.get(first + 5)?,
            row.get(first + 6)?,
        ),
        class: row
            .get::<_, Option<String>>(first + 7)?
            .map(|label| label.parse::<PanelClass>())
            .transpose()
            .map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(
                    first + 7,
                    rusqlite::types::Type::Text,
                    e.into(),
                )
            })?,
    })
}

/// A thumbnail as stored: JPEG at quality 90 (`jpeg-encoder`'s SIMD path: a third of the time of
/// `image`'s encoder, which made thumbnails a visible share of ingest).
fn encode_jpeg(raster: &Raster) -> Vec<u8> {
    let mut out = Vec::new();
    let color = match raster.channels {
        1 => jpeg_encoder::ColorType::Luma,
        _ => jpeg_encoder::ColorType::Rgb,
    };
    let (Ok(width), Ok(height)) = (u16::try_from(raster.width), u16::try_from(raster.height))
    else {
        return out;
    };
    // An encoding failure leaves an empty blob; evidence then shows the page region instead.
    if jpeg_encoder::Encoder::new(&mut out, 90)
        .encode(&raster.data, width, height, color)
        .is_err()
    {
        out.clear();
    }
    out
}

/// `raster` as the store gives a thumbnail back: through its JPEG and decoded to RGB. Comparing
/// a thumbnail read from the store with one that was not would set the codec's loss (a level or
/// two on every pixel) against the other's grain; both go through it instead.
pub fn as_stored(raster: &Raster) -> Raster {
    image::load_from_memory(&encode_jpeg(raster))
        .map(|image| Raster::from_rgb(image.to_rgb8()))
        .unwrap_or_else(|_| raster.clone())
}

/// `gray` as PNG; `None` if it cannot be encoded (the picture is then not keyed).
fn encode_png(gray: &GrayImage) -> Option<Vec<u8>> {
    let mut out = std::io::Cursor::new(Vec::new());
    gray.write_to(&mut out, image::ImageFormat::Png).ok()?;
    Some(out.into_inner())
}

/// Little-endian f32 bytes.
pub fn vector_bytes(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The inverse of [`vector_bytes`].
pub fn vector_from_bytes(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The provenance store. Thread-safe; writes are serialised.
pub struct Store {
    path: PathBuf,
    conn: Mutex<Connection>,
    /// Documents marked failed during this run, so late pages of theirs are not recorded.
    failed: Mutex<HashSet<DocumentId>>,
}

impl Store {
    /// Documents marked failed during this run.
    pub fn failures_this_run(&self) -> u64 {
        self.failed.lock().unwrap_or_else(|p| p.into_inner()).len() as u64
    }
}

impl Store {
    /// Opens (creating if needed) the store in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::Io {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let path = data_dir.join(STORE_FILE);
        let sqlite = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let conn = Connection::open(&path).map_err(sqlite)?;
        // WAL: readers never block the writer; NORMAL: a committed document survives a killed
        // process (a power loss may lose the last commits, never corrupt the file).
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 30000;")
            .map_err(sqlite)?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(sqlite)?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                path,
                found: version,
            });
        }
        if version == 1 {
            conn.execute_batch("ALTER TABLE panels ADD COLUMN phash TEXT;")
                .map_err(sqlite)?;
        }
        if (1..=2).contains(&version) {
            conn.execute_batch(
                "ALTER TABLE panels ADD COLUMN boilerplate INTEGER NOT NULL DEFAULT 0;
                 ALTER TABLE panels ADD COLUMN uniform INTEGER NOT NULL DEFAULT 0;",
            )
            .map_err(sqlite)?;
        }
        if (1..=3).contains(&version) {
            conn.execute_batch("ALTER TABLE panels ADD COLUMN class TEXT;")
                .map_err(sqlite)?;
        }
        conn.execute_batch(SCHEMA).map_err(sqlite)?;
        conn.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION};"))
            .map_err(sqlite)?;
        Ok(Store {
            path,
            conn: Mutex::new(conn),
            failed: Mutex::new(HashSet::new()),
        })
    }

    /// The SQLite file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sqlite(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Where `id` stands, if the store knows it.
    pub fn status(&self, id: &DocumentId) -> Result<Option<DocumentStatus>, StoreError> {
        let row: Option<(String, Option<String>)> = self
            .conn()
            .query_row(
                "SELECT status, error FROM documents WHERE id = ?1",
                [id.to_hex()],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(|e| self.sqlite(e))?;
        Ok(row.map(|(status, error)| match status.as_str() {
            "complete" => DocumentStatus::Complete,
            _ => DocumentStatus::Failed(error.unwrap_or_default()),
        }))
    }

    /// Notes that the document `id` is also found at `path`.
    pub fn record_path(&self, id: &DocumentId, path: &Path) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT OR IGNORE INTO paths (doc, path) VALUES (?1, ?2)",
                params![id.to_hex(), path.to_string_lossy()],
            )
            .map(|_| ())
            .map_err(|e| self.sqlite(e))
    }

    /// Whether `id` was marked failed during this run.
    pub fn failed_this_run(&self, id: &DocumentId) -> bool {
        self.failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(id)
    }

    /// Records a document with its pages, figures, panels, thumbnails, vectors and matches, in one
    /// transaction. `model` is the fingerprint of the vectors' model.
    pub fn record_document(
        &self,
        document: &DocumentMatched,
        model: &str,
    ) -> Result<(), StoreError> {
        let info = &document.embedded.document.info;
        let pages = &document.embedded.document.pages;
        let items = &document.embedded.document.panels;
        let thumbnails: Vec<Vec<u8>> = items.iter().map(|item| encode_jpeg(&item.thumb)).collect();
        // Keyed pictures' keys and lossless pixels: their grain is what a splice is told by.
        let keyed: Vec<(i64, Vec<u8>, Vec<u8>)> = items
            .iter()
            .zip(&document.embedded.parts)
            .filter_map(|(item, keys)| {
                let (keys, gray) = (keys.as_ref()?, item.gray.as_ref()?);
                Some((item.id, keys.to_bytes(), encode_png(gray)?))
            })
            .collect();
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.sqlite(e))?;
        let doc = info.job.id.to_hex();
        let mut next = 0usize;
        let mut write = || -> rusqlite::Result<()> {
            tx.execute(
                "INSERT OR REPLACE INTO documents (id, path, size, pages, pages_screened, title, status, error, recorded_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'complete', NULL, ?7)",
                params![doc, info.job.path.to_string_lossy(), info.job.size as i64, info.pages, info.pages_screened, info.title, now_ms()],
            )?;
            tx.execute(
                "INSERT OR IGNORE INTO paths (doc, path) VALUES (?1, ?2)",
                params![doc, info.job.path.to_string_lossy()],
            )?;
            let mut page_insert = tx.prepare_cached(
                "INSERT INTO pages (doc, page, width_pt, height_pt, dpi, width_px, height_px, text_chars) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            let mut figure_insert = tx.prepare_cached(
                "INSERT INTO figures (doc, page, ordinal, source, x0, y0, x1, y1, px0, py0, px1, py1, raster_width, raster_height, caption)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            )?;
            let mut panel_insert = tx.prepare_cached(
                "INSERT INTO panels (id, figure, doc, page, ordinal, x0, y0, x1, y1, width_px, height_px, pixels, phash, boilerplate, uniform, class)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            )?;
            for page in pages {
                let m = &page.meta;
                let number = m.index + 1;
                page_insert.execute(params![
                    doc,
                    number,
                    m.width_pt,
                    m.height_pt,
                    m.dpi,
                    m.width_px,
                    m.height_px,
                    m.text_chars
                ])?;
                for (f, figure) in page.figures.iter().enumerate() {
                    let (b, p) = (figure.bbox, figure.pixel_box);
                    figure_insert.execute(params![
                        doc,
                        number,
                        (f + 1) as i64,
                        figure.source.as_str(),
                        b.x0,
                        b.y0,
                        b.x1,
                        b.y1,
                        p.x0,
                        p.y0,
                        p.x1,
                        p.y1,
                        figure.raster_width,
                        figure.raster_height,
                        figure.caption
                    ])?;
                    let figure_id = tx.last_insert_rowid();
                    for (k, panel) in figure.panels.iter().enumerate() {
                        let b = panel.bbox;
                        let item = &items[next];
                        let boilerplate = document.boilerplate.get(next).copied().unwrap_or(false);
                        next += 1;
                        panel_insert.execute(params![
                            item.id,
                            figure_id,
                            doc,
                            number,
                            (k + 1) as i64,
                            b.x0,
                            b.y0,
                            b.x1,
                            b.y1,
                            panel.width_px,
                            panel.height_px,
                            panel.pixels,
                            panel.phash.to_hex(),
                            boilerplate,
                            item.uniform,
                            item.class.map(PanelClass::as_str)
                        ])?;
                    }
                }
            }
            let mut pixels_insert = tx.prepare_cached(
                "INSERT INTO panel_pixels (panel, width, height, jpeg) VALUES (?1, ?2, ?3, ?4)",
            )?;
            let mut vector_insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO embeddings (panel, model, vector) VALUES (?1, ?2, ?3)",
            )?;
            for ((item, jpeg), vectors) in items
                .iter()
                .zip(&thumbnails)
                .zip(&document.embedded.vectors)
            {
                pixels_insert.execute(params![
                    item.id,
                    item.thumb.width,
                    item.thumb.height,
                    jpeg
                ])?;
                if let Some(vectors) = vectors {
                    vector_insert.execute(params![
                        item.id,
                        model,
                        vector_bytes(&vectors.indexed_concatenated())
                    ])?;
                }
            }
            let mut keys_insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO part_keys (panel, keys, gray) VALUES (?1, ?2, ?3)",
            )?;
            for (panel, keys, gray) in &keyed {
                keys_insert.execute(params![panel, keys, gray])?;
            }
            let mut match_insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO matches (panel_a, panel_b, similarity, verified, kind, correlation, transform, suppressed, model, recorded_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            let mut pending_insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO pending_matches (panel_a, panel_b, similarity, verified, kind, correlation, transform, suppressed, model, recorded_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            let mut recorded =
                tx.prepare_cached("SELECT EXISTS (SELECT 1 FROM panels WHERE id = ?1)")?;
            let mut touches_boilerplate = tx.prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM panels WHERE id IN (?1, ?2) AND boilerplate = 1)",
            )?;
            for m in &document.matches {
                let transform = serde_json::to_string(&m.transform).expect("a relation serialises");
                // A panel found to be boilerplate after the index stage looked (a copy of
                // boilerplate recorded earlier in this document, or in another run) counts too.
                let suppressed = match &m.suppressed {
                    Some(why) => Some(why.clone()),
                    None => touches_boilerplate
                        .query_row(params![m.a.id, m.b.id], |row| row.get::<_, bool>(0))?
                        .then(|| "boilerplate".to_string()),
                };
                let row = params![
                    m.a.id,
                    m.b.id,
                    m.similarity,
                    m.verified,
                    m.kind,
                    m.transform.correlation,
                    transform,
                    suppressed,
                    model,
                    now_ms()
                ];
                // The first panel's document may still be on its way to the store: the match
                // waits for it rather than being lost.
                if !recorded.query_row([m.a.id], |r| r.get::<_, bool>(0))? {
                    pending_insert.execute(row)?;
                    continue;
                }
                match_insert.execute(row)?;
                // A verified copy of boilerplate is boilerplate too, whichever side was
                // recognised first: the matches of both leave the stream.
                if m.verified && suppressed.as_deref() == Some("boilerplate") {
                    for id in [m.a.id, m.b.id] {
                        tx.execute("UPDATE panels SET boilerplate = 1 WHERE id = ?1", [id])?;
                        tx.execute(
                            "UPDATE matches SET suppressed = 'boilerplate' WHERE (panel_a = ?1 OR panel_b = ?1) AND suppressed IS NULL",
                            [id],
                        )?;
                    }
                }
            }
            // Matches that waited for this document's panels.
            const OURS: &str = "panel_a IN (SELECT id FROM panels WHERE doc = ?1)";
            tx.execute(
                &format!(
                    "INSERT OR IGNORE INTO matches (panel_a, panel_b, similarity, verified, kind, correlation, transform, suppressed, model, recorded_at)
                     SELECT panel_a, panel_b, similarity, verified, kind, correlation, transform,
                            CASE WHEN suppressed IS NULL AND EXISTS (SELECT 1 FROM panels WHERE id = panel_a AND boilerplate = 1)
                                 THEN 'boilerplate' ELSE suppressed END,
                            model, recorded_at
                     FROM pending_matches WHERE {OURS}"
                ),
                [&doc],
            )?;
            tx.execute(&format!("DELETE FROM pending_matches WHERE {OURS}"), [&doc])?;
            Ok(())
        };
        write().map_err(|e| self.sqlite(e))?;
        tx.commit().map_err(|e| self.sqlite(e))
    }

    /// Marks a document failed (keeping nothing else of it) unless it is already complete.
    pub fn record_failure(
        &self,
        id: &DocumentId,
        path: &Path,
        size: u64,
        error: &str,
    ) -> Result<(), StoreError> {
        self.failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(*id);
        let conn = self.conn();
        conn.execute(
            "INSERT INTO documents (id, path, size, status, error, recorded_at) VALUES (?1, ?2, ?3, 'failed', ?4, ?5)
             ON CONFLICT (id) DO UPDATE SET status = 'failed', error = excluded.error, recorded_at = excluded.recorded_at
             WHERE documents.status <> 'complete'",
            params![id.to_hex(), path.to_string_lossy(), size as i64, error, now_ms()],
        )
        .map(|_| ())
        .map_err(|e| self.sqlite(e))
    }

    /// The largest panel id recorded (0 when there is none).
    pub fn max_panel_id(&self) -> Result<i64, StoreError> {
        self.read(|conn| {
            conn.query_row("SELECT COALESCE(MAX(id), 0) FROM panels", [], |row| {
                row.get(0)
            })
        })
    }

    /// Panels recognised as boilerplate so far.
    pub fn boilerplate_panels(&self) -> Result<HashSet<i64>, StoreError> {
        self.read(|conn| {
            let mut statement = conn.prepare("SELECT id FROM panels WHERE boilerplate = 1")?;
            let rows = statement.query_map([], |row| row.get(0))?;
            rows.collect()
        })
    }

    /// Panels with stored pixels and no vector of `model` holding `values` values (none, or one
    /// of another width: written with another count of indexed windows); nearly blank ones have
    /// none by design. In id order.
    pub fn panels_without_vectors(
        &self,
        model: &str,
        values: usize,
    ) -> Result<Vec<i64>, StoreError> {
        let bytes = (values * std::mem::size_of::<f32>()) as i64;
        self.read(|conn| {
            let mut statement = conn.prepare(
                "SELECT p.id FROM panels p JOIN panel_pixels x ON x.panel = p.id
                 WHERE p.uniform = 0
                   AND NOT EXISTS (SELECT 1 FROM embeddings e
                                   WHERE e.panel = p.id AND e.model = ?1 AND length(e.vector) = ?2)
                 ORDER BY p.id",
            )?;
            let rows = statement.query_map(params![model, bytes], |row| row.get(0))?;
            rows.collect()
        })
    }

    /// Records vectors of `model`, all or none.
    pub fn record_vectors(
        &self,
        model: &str,
        vectors: &[(i64, Vec<f32>)],
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let mut write = || -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT OR REPLACE INTO embeddings (panel, model, vector) VALUES (?1, ?2, ?3)",
                )?;
                for (panel, vector) in vectors {
                    insert.execute(params![panel, model, vector_bytes(vector)])?;
                }
            }
            tx.commit()
        };
        write().map_err(|e| self.sqlite(e))
    }

    /// Where a recorded panel is.
    pub fn panel_place(&self, id: i64) -> Result<Option<PanelPlace>, StoreError> {
        self.read(|conn| {
            conn.query_row(
                "SELECT p.doc, d.path, p.page, p.x0, p.y0, p.x1, p.y1, p.class FROM panels p JOIN documents d ON d.id = p.doc WHERE p.id = ?1",
                [id],
                |row| place_of(id, row, 0),
            )
            .optional()
        })
    }

    /// The caption of a recorded panel's figure.
    pub fn panel_caption(&self, id: i64) -> Result<Option<String>, StoreError> {
        self.read(|conn| {
            conn.query_row(
                "SELECT f.caption FROM panels p JOIN figures f ON f.id = p.figure WHERE p.id = ?1",
                [id],
                |row| row.get(0),
            )
            .optional()
            .map(Option::flatten)
        })
    }

    /// A recorded document's size and page count, for rendering its pages again.
    pub fn document_facts(
        &self,
        doc: &DocumentId,
    ) -> Result<Option<(String, u64, u32)>, StoreError> {
        self.read(|conn| {
            conn.query_row(
                "SELECT path, size, COALESCE(pages, 0) FROM documents WHERE id = ?1",
                [doc.to_hex()],
                |row| Ok((row.get(0)?, row.get::<_, i64>(1)? as u64, row.get(2)?)),
            )
            .optional()
        })
    }

    /// A recorded panel's thumbnail.
    pub fn panel_thumb(&self, id: i64) -> Result<Option<Raster>, StoreError> {
        let jpeg: Option<Vec<u8>> = self.read(|conn| {
            conn.query_row(
                "SELECT jpeg FROM panel_pixels WHERE panel = ?1",
                [id],
                |row| row.get(0),
            )
            .optional()
        })?;
        Ok(jpeg
            .and_then(|bytes| image::load_from_memory(&bytes).ok())
            .map(|image| Raster::from_rgb(image.to_rgb8())))
    }

    /// Up to `limit` pictures' keys for the index of parts, of the panels after `after`: (panel
    /// id, its document, keys as [`crate::parts::PartKeys::to_bytes`] wrote them), in id order.
    /// Read page by page, a large catalog's keys never lie in memory all at once.
    pub fn part_keys_after(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, DocumentId, Vec<u8>)>, StoreError> {
        let rows: Vec<(i64, String, Vec<u8>)> = self.read(|conn| {
            let mut statement = conn.prepare(
                "SELECT k.panel, p.doc, k.keys FROM part_keys k JOIN panels p ON p.id = k.panel
                 WHERE k.panel > ?1 ORDER BY k.panel LIMIT ?2",
            )?;
            let rows = statement.query_map(params![after, limit as i64], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })?;
            rows.collect()
        })?;
        rows.into_iter()
            .map(|(panel, doc, keys)| Ok((panel, self.document_id(&doc)?, keys)))
            .collect()
    }

    /// Every keyed picture's panel and its document (see [`Store::part_keys_after`]).
    pub fn keyed_panels(&self) -> Result<HashMap<i64, DocumentId>, StoreError> {
        let rows: Vec<(i64, String)> = self.read(|conn| {
            let mut statement = conn.prepare(
                "SELECT k.panel, p.doc FROM part_keys k JOIN panels p ON p.id = k.panel",
            )?;
            let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
            rows.collect()
        })?;
        rows.into_iter()
            .map(|(panel, doc)| Ok((panel, self.document_id(&doc)?)))
            .collect()
    }

    /// A document id as the store writes it (hex).
    fn document_id(&self, hex: &str) -> Result<DocumentId, StoreError> {
        hex.parse().map_err(|_| StoreError::Corrupt {
            path: self.path.clone(),
            reason: format!("document id {hex:?} is not 64 hex digits"),
        })
    }

    /// A keyed picture's full pixels in gray (see [`Store::part_keys_after`]).
    pub fn panel_gray(&self, id: i64) -> Result<Option<GrayImage>, StoreError> {
        let png: Option<Vec<u8>> = self.read(|conn| {
            conn.query_row("SELECT gray FROM part_keys WHERE panel = ?1", [id], |row| {
                row.get(0)
            })
            .optional()
        })?;
        Ok(png
            .and_then(|bytes| image::load_from_memory(&bytes).ok())
            .map(|image| image.to_luma8()))
    }

    /// Every recorded vector of `model`: (panel id, vector), in id order.
    pub fn embeddings(&self, model: &str) -> Result<Vec<(i64, Vec<f32>)>, StoreError> {
        self.read(|conn| {
            let mut statement = conn
                .prepare("SELECT panel, vector FROM embeddings WHERE model = ?1 ORDER BY panel")?;
            let rows = statement.query_map([model], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    vector_from_bytes(&row.get::<_, Vec<u8>>(1)?),
                ))
            })?;
            rows.collect()
        })
    }

    /// Models other than `model` that have vectors in the store.
    pub fn other_models(&self, model: &str) -> Result<Vec<String>, StoreError> {
        self.read(|conn| {
            let mut statement =
                conn.prepare("SELECT DISTINCT model FROM embeddings WHERE model <> ?1")?;
            let rows = statement.query_map([model], |row| row.get(0))?;
            rows.collect()
        })
    }

    /// Recorded matches, verified first then by similarity; `verified_only` drops the refused ones,
    /// and suppressed ones (boilerplate) are left out unless `include_suppressed`.
    pub fn matches(
        &self,
        verified_only: bool,
        include_suppressed: bool,
    ) -> Result<Vec<MatchRecord>, StoreError> {
        self.read(|conn| {
            let mut statement = conn.prepare(
                "SELECT m.panel_a, a.doc, da.path, a.page, a.x0, a.y0, a.x1, a.y1, a.class,
                        m.panel_b, b.doc, db.path, b.page, b.x0, b.y0, b.x1, b.y1, b.class,
                        m.similarity, m.verified, m.kind, m.transform, m.suppressed
                 FROM matches m
                 JOIN panels a ON a.id = m.panel_a JOIN documents da ON da.id = a.doc
                 JOIN panels b ON b.id = m.panel_b JOIN documents db ON db.id = b.doc
                 WHERE (?1 = 0 OR m.verified = 1) AND (?2 = 1 OR m.suppressed IS NULL)
                 ORDER BY m.verified DESC, m.similarity DESC, m.id",
            )?;
            let rows = statement.query_map(params![verified_only, include_suppressed], |row| {
                let transform: String = row.get(21)?;
                Ok(MatchRecord {
                    a: place_of(row.get(0)?, row, 1)?,
                    b: place_of(row.get(9)?, row, 10)?,
                    similarity: row.get(18)?,
                    verified: row.get(19)?,
                    kind: row.get(20)?,
                    transform: serde_json::from_str::<crate::verify::Relation>(&transform)
                        .map_err(|e| {
                            rusqlite::Error::FromSqlConversionFailure(
                                21,
                                rusqlite::types::Type::Text,
                                Box::new(e),
                            )
                        })?
                        .finite_or_unverified(),
                    suppressed: row.get(22)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Totals over the whole store.
    pub fn counts(&self) -> Result<StoreCounts, StoreError> {
        let conn = self.conn();
        let count = |sql: &str| -> rusqlite::Result<u64> {
            conn.query_row(sql, [], |row| row.get::<_, i64>(0))
                .map(|n| n as u64)
        };
        let read = || -> rusqlite::Result<StoreCounts> {
            Ok(StoreCounts {
                complete: count("SELECT COUNT(*) FROM documents WHERE status = 'complete'")?,
                failed: count("SELECT COUNT(*) FROM documents WHERE status = 'failed'")?,
                pages: count("SELECT COUNT(*) FROM pages")?,
                figures: count("SELECT COUNT(*) FROM figures")?,
                panels: count("SELECT COUNT(*) FROM panels")?,
                dead_letters: count("SELECT COUNT(*) FROM dead_letters")?,
            })
        };
        read().map_err(|e| self.sqlite(e))
    }

    /// Runs a read query with the store's connection (for reports and tests).
    pub fn read<T>(
        &self,
        query: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        query(&self.conn()).map_err(|e| self.sqlite(e))
    }
}

impl DeadLetterSink for Store {
    /// Records the letter; a letter filed under a document marks that document failed, in the same
    /// transaction.
    fn record(&self, letter: &DeadLetter) -> std::io::Result<()> {
        let doc: Option<DocumentId> = letter.key.as_deref().and_then(|key| key.parse().ok());
        if let Some(id) = doc {
            self.failed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id);
        }
        let mut conn = self.conn();
        let mut write = || -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            tx.execute(
                "INSERT INTO dead_letters (stage, item, doc, error, domain, attempts, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![letter.stage, letter.item, doc.map(|d| d.to_hex()), letter.error, letter.domain.as_str(), letter.attempts, letter.at_unix_ms as i64],
            )?;
            if let Some(id) = doc {
                let reason = format!("{} stage: {}", letter.stage, letter.error);
                // The path and size are filled from the scan when the document has never been recorded.
                tx.execute(
                    "INSERT INTO documents (id, path, size, status, error, recorded_at)
                     VALUES (?1, COALESCE((SELECT path FROM paths WHERE doc = ?1 LIMIT 1), ?2), 0, 'failed', ?3, ?4)
                     ON CONFLICT (id) DO UPDATE SET status = 'failed', error = excluded.error, recorded_at = excluded.recorded_at
                     WHERE documents.status <> 'complete'",
                    params![id.to_hex(), letter.item, reason, now_ms()],
                )?;
            }
            tx.commit()
        };
        write().map_err(std::io::Error::other)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::units::{
        BBox, DocumentEmbedded, DocumentId, DocumentInfo, DocumentJob, DocumentPanels,
        FigureRecord, FigureSource, MatchRecord, PageMeta, PageRecord, PanelItem, PanelPlace,
        PanelRecord, PixelBox, Raster,
    };

    /// A one-page document holding one panel with id `panel`, matched to `older` when given.
    fn document(name: &str, panel: i64, older: Option<(&DocumentMatched, i64)>) -> DocumentMatched {
        let id = DocumentId::of_bytes(name.as_bytes());
        let info = Arc::new(DocumentInfo {
            job: DocumentJob {
                id,
                path: PathBuf::from(name),
                size: 1,
                position: 0,
            },
            pages: 1,
            title: None,
            pages_screened: 1,
            deadline_unix_ms: 0,
        });
        let bbox = BBox::new(10.0, 10.0, 110.0, 110.0);
        let thumb = Raster {
            width: 8,
            height: 8,
            channels: 1,
            data: vec![100; 64],
        };
        let page = PageRecord {
            meta: PageMeta {
                document: Arc::clone(&info),
                doc: id,
                path: Arc::from(Path::new(name)),
                index: 0,
                pages_screened: 1,
                width_pt: 612.0,
                height_pt: 792.0,
                dpi: 72.0,
                width_px: 612,
                height_px: 792,
                text_chars: 0,
            },
            figures: vec![FigureRecord {
                source: FigureSource::Embedded,
                bbox,
                pixel_box: PixelBox::new(10, 10, 110, 110),
                raster_width: 8,
                raster_height: 8,
                caption: None,
                panels: vec![PanelRecord {
                    bbox,
                    width_px: 8,
                    height_px: 8,
                    pixels: name.to_string(),
                    phash: crate::phash::PHash(0),
                }],
            }],
        };
        let place = |doc: &DocumentMatched, id: i64| PanelPlace {
            id,
            doc: doc.embedded.document.info.job.id,
            path: doc.path().display().to_string(),
            page: 1,
            bbox,
            class: None,
        };
        let mut matched = DocumentMatched {
            embedded: DocumentEmbedded {
                document: DocumentPanels {
                    info,
                    pages: vec![page],
                    panels: vec![PanelItem {
                        id: panel,
                        page: 0,
                        figure: 0,
                        ordinal: 0,
                        bbox,
                        raster: None,
                        gray: None,
                        thumb,
                        uniform: false,
                        picture_share: 1.0,
                        class: None,
                    }],
                },
                vectors: vec![None],
                parts: Vec::new(),
            },
            boilerplate: vec![false],
            matches: Vec::new(),
        };
        if let Some((older, older_panel)) = older {
            let relation = crate::verify::verify(
                &image::GrayImage::from_pixel(8, 8, image::Luma([100])),
                &image::GrayImage::from_pixel(8, 8, image::Luma([100])),
                panelscope_models::Dihedral::Identity,
                &crate::verify::VerifyConfig::default(),
            );
            matched.matches.push(MatchRecord {
                a: place(older, older_panel),
                b: place(&matched, panel),
                similarity: 0.99,
                verified: true,
                kind: "cross_document".to_string(),
                transform: relation,
                suppressed: None,
            });
        }
        matched
    }

    #[test]
    fn a_match_recorded_before_its_first_panel_waits_for_it() {
        let dir = std::env::temp_dir().join(format!("panelscope-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::open(&dir).unwrap();
        // Panel 1 was indexed first, but its document reaches the store after the one that
        // matched it (documents are verified in parallel).
        let first = document("first.pdf", 1, None);
        let second = document("second.pdf", 2, Some((&first, 1)));
        let count = |table: &str| -> i64 {
            store
                .read(|conn| {
                    conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
                })
                .unwrap()
        };
        store.record_document(&second, "m").unwrap();
        assert_eq!((count("matches"), count("pending_matches")), (0, 1));
        store.record_document(&first, "m").unwrap();
        assert_eq!((count("matches"), count("pending_matches")), (1, 0));
        let pair: (i64, i64) = store
            .read(|conn| {
                conn.query_row("SELECT panel_a, panel_b FROM matches", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
            })
            .unwrap();
        assert_eq!(pair, (1, 2));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_keyed_pictures_keys_and_pixels_come_back_from_the_store_as_they_went_in() {
        let dir = std::env::temp_dir().join(format!("panelscope-parts-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::open(&dir).unwrap();
        // Grain of every level, so that a lossy encoding would show.
        let gray = GrayImage::from_fn(90, 60, |x, y| {
            image::Luma([((x * 7919 + y * 104_729) % 251) as u8])
        });
        let keys = crate::parts::PartKeys::of(&gray);
        assert!(!keys.is_empty());
        let mut keyed = document("keyed.pdf", 7, None);
        keyed.embedded.document.panels[0].gray = Some(gray.clone());
        keyed.embedded.parts = vec![Some(Arc::new(keys.clone()))];
        store.record_document(&keyed, "m").unwrap();
        store
            .record_document(&document("plain.pdf", 8, None), "m")
            .unwrap();

        assert_eq!(store.panel_gray(7).unwrap(), Some(gray));
        assert_eq!(store.panel_gray(8).unwrap(), None);
        let stored = store.part_keys_after(0, 10).unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].0, 7);
        assert_eq!(stored[0].1, keyed.embedded.document.info.job.id);
        assert!(store.part_keys_after(7, 10).unwrap().is_empty());
        let back = crate::parts::PartKeys::from_bytes(&stored[0].2).unwrap();
        assert_eq!(back.points, keys.points);
        // The index of parts is the store's: reopened, it holds the keyed picture's keys.
        let search = crate::index::IndexConfig::default().part_search();
        let index = crate::parts::PartIndex::open(&store, &search, None).unwrap();
        assert_eq!((index.pictures(), index.len()), (1, keys.len()));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_saved_index_of_parts_is_read_back_level_with_the_store() {
        use crate::parts::{Opened, PartIndex, PartKeys};
        let dir =
            std::env::temp_dir().join(format!("panelscope-saved-parts-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::open(&dir).unwrap();
        let picture = |seed: u32| {
            GrayImage::from_fn(120, 90, |x, y| {
                let mut v = (x / 2).wrapping_mul(374_761_393) ^ (y / 2).wrapping_mul(668_265_263);
                v = (v ^ seed.wrapping_mul(2_654_435_761)).wrapping_mul(1_274_126_177);
                image::Luma([(v >> 24) as u8])
            })
        };
        let keyed = |name: &str, panel: i64, seed: u32| {
            let gray = picture(seed);
            let mut document = document(name, panel, None);
            document.embedded.parts = vec![Some(Arc::new(PartKeys::of(&gray)))];
            document.embedded.document.panels[0].gray = Some(gray);
            document
        };
        // `Flat` needs no training: the index is saved from its first picture on.
        let search = crate::parts::PartSearch {
            factory: "Flat".to_string(),
            ..crate::index::IndexConfig::default().part_search()
        };
        let files = dir.join("index");
        for k in 1..=12 {
            let name = format!("{k}.pdf");
            store
                .record_document(&keyed(&name, k, k as u32), "m")
                .unwrap();
        }
        let mut index = PartIndex::open(&store, &search, Some(&files)).unwrap();
        assert_eq!(index.opened(), Opened::default(), "built from the store");
        // A picture the run indexed and saved, but whose document it never recorded.
        let lost = keyed("lost.pdf", 13, 13);
        let lost_keys = PartKeys::of(&picture(13));
        index
            .add(13, lost.embedded.document.info.job.id, &lost_keys)
            .unwrap();
        index.save().unwrap();
        drop(index);
        // The next run gives panel 13 to another document and records it, then stops unsaved.
        store
            .record_document(&keyed("next.pdf", 13, 14), "m")
            .unwrap();

        let mut reopened = PartIndex::open(&store, &search, Some(&files)).unwrap();
        let opened = Opened {
            loaded: true,
            added: 1,
            removed: 1,
        };
        assert_eq!(reopened.opened(), opened);
        let mut built = PartIndex::open(&store, &search, None).unwrap();
        for (seed, itself) in [(1, Some(1)), (12, Some(12)), (13, None), (14, Some(13))] {
            let keys = PartKeys::of(&picture(seed));
            let proposed = reopened.propose(&keys, |_| false).unwrap();
            // Scores are sums over hash maps: equal up to their order.
            let same = |p: &[crate::parts::PartProposal]| {
                p.iter()
                    .map(|p| (p.older, p.votes, p.shift, (p.score * 100.0).round()))
                    .collect::<Vec<_>>()
            };
            let from_store = built.propose(&keys, |_| false).unwrap();
            assert_eq!(same(&proposed), same(&from_store), "{seed}");
            // Each recorded picture is found in itself; the lost one nowhere.
            assert_eq!(proposed.first().map(|p| p.older), itself, "{seed}");
        }
        reopened.save().unwrap();
        let mut again = PartIndex::open(&store, &search, Some(&files)).unwrap();
        assert_eq!((again.opened().added, again.opened().removed), (0, 0));
        // Grown by less than a tenth, it is not written again until the run ends.
        let saved_keys = || {
            let meta: serde_json::Value =
                serde_json::from_slice(&std::fs::read(files.join("parts.json")).unwrap()).unwrap();
            meta["keys"].as_u64().unwrap() as usize
        };
        assert_eq!(saved_keys(), again.len());
        let small = PartKeys::of(&image::imageops::crop_imm(&picture(15), 0, 0, 40, 30).to_image());
        assert!(!small.is_empty() && small.len() * 10 < again.len());
        let doc = crate::units::DocumentId::of_bytes(b"small.pdf");
        again.add(15, doc, &small).unwrap();
        again.save_if_grown().unwrap();
        assert_eq!(saved_keys(), again.len() - small.len());
        again.save().unwrap();
        assert_eq!(saved_keys(), again.len());

        // A save cut short is built from the store again.
        let points = files.join("parts.points");
        let bytes = std::fs::read(&points).unwrap();
        std::fs::write(&points, &bytes[..bytes.len() - 8]).unwrap();
        let rebuilt = PartIndex::open(&store, &search, Some(&files)).unwrap();
        assert!(!rebuilt.opened().loaded);
        assert_eq!(rebuilt.pictures(), 13);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
