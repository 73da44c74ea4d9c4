//! The provenance store: one SQLite file in the data directory holding documents, pages, figures,
//! panels and dead letters. Every document is written in one transaction, so after any crash it is
//! either fully recorded or absent, and a rerun resumes where the last one stopped.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use panelscope_engine::{DeadLetter, DeadLetterSink};
use rusqlite::{Connection, OptionalExtension, params};

use crate::units::{DocumentId, DocumentInfo, PagePanels};

/// The store's file name inside the data directory.
pub const STORE_FILE: &str = "panelscope.sqlite";

/// The schema version this build writes; older stores are migrated on open.
const SCHEMA_VERSION: i64 = 1;

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
    pixels    TEXT NOT NULL                   -- blake3 of the panel's pixels, hex
);
CREATE INDEX IF NOT EXISTS panels_by_figure ON panels (figure);
CREATE INDEX IF NOT EXISTS panels_by_page ON panels (doc, page);
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

/// The panel's pixel hash, hex: the record stage replaces a panel's pixels by their 32-byte blake3
/// before pages wait for the rest of their document; full pixels are hashed here.
fn pixels_hash(raster: &crate::units::Raster) -> String {
    let expected = raster.width as usize * raster.height as usize * usize::from(raster.channels);
    let hash = if raster.data.len() == 32 && expected != 32 {
        blake3::Hash::from_bytes(raster.data[..].try_into().expect("32 bytes"))
    } else {
        blake3::hash(&raster.data)
    };
    hash.to_hex().to_string()
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

    /// Records a document and all its pages, figures and panels in one transaction.
    pub fn record_document(
        &self,
        info: &DocumentInfo,
        pages: &[PagePanels],
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.sqlite(e))?;
        let doc = info.job.id.to_hex();
        let write = || -> rusqlite::Result<()> {
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
                "INSERT INTO panels (figure, doc, page, ordinal, x0, y0, x1, y1, width_px, height_px, pixels)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
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
                for (f, entry) in page.figures.iter().enumerate() {
                    let figure = &entry.figure;
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
                        figure.raster.width,
                        figure.raster.height,
                        figure.caption
                    ])?;
                    let figure_id = tx.last_insert_rowid();
                    for (k, panel) in entry.panels.iter().enumerate() {
                        let b = panel.bbox;
                        let pixels = pixels_hash(&panel.raster);
                        panel_insert.execute(params![
                            figure_id,
                            doc,
                            number,
                            (k + 1) as i64,
                            b.x0,
                            b.y0,
                            b.x1,
                            b.y1,
                            panel.raster.width,
                            panel.raster.height,
                            pixels
                        ])?;
                    }
                }
            }
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
