//! Settings: the built-in `config/default.toml`, overlaid by a `--config` file, then by the
//! environment and command-line flags (handled by clap), into one typed [`Settings`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use panelscope_engine::NodeConfig;
use panelscope_models::Embedder;
use panelscope_stages::classify::ClassifyConfig;
use panelscope_stages::embed::EmbedConfig;
use panelscope_stages::figures::FiguresConfig;
use panelscope_stages::index::{IndexConfig, ShardedIndex};
use panelscope_stages::panels::PanelsConfig;
use panelscope_stages::render::RenderConfig;
use panelscope_stages::scan::ScanConfig;
use panelscope_stages::verify::VerifyConfig;
use serde::Deserialize;

/// The built-in defaults, with every key documented.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// Everything panelscope reads from configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Where all state lives.
    pub data_dir: PathBuf,
    /// The Prometheus endpoint.
    pub metrics: MetricsSettings,
    /// Engine settings of each stage, by name.
    #[serde(default)]
    pub stages: BTreeMap<String, NodeConfig>,
    /// The engine demonstration.
    pub demo: DemoSettings,
    /// The catalog scan.
    #[serde(default)]
    pub scan: ScanConfig,
    /// Opening and rendering documents.
    #[serde(default)]
    pub render: RenderConfig,
    /// Finding figures on pages.
    #[serde(default)]
    pub figures: FiguresConfig,
    /// Splitting figures into panels.
    #[serde(default)]
    pub panels: PanelsConfig,
    /// Labelling panels blot, gel, microscopy or other.
    #[serde(default)]
    pub classify: ClassifyConfig,
    /// The embedder.
    #[serde(default)]
    pub embed: EmbedConfig,
    /// The vector index and its search.
    #[serde(default)]
    pub index: IndexConfig,
    /// Geometric verification.
    #[serde(default)]
    pub verify: VerifyConfig,
}

/// Where `/metrics` is served.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// `host:port`, or empty for no endpoint.
    pub addr: String,
}

impl MetricsSettings {
    /// The parsed address, if one is set.
    pub fn socket_addr(&self) -> Result<Option<SocketAddr>> {
        if self.addr.trim().is_empty() {
            return Ok(None);
        }
        let addr = self
            .addr
            .parse()
            .with_context(|| format!("metrics address `{}` is not host:port", self.addr))?;
        Ok(Some(addr))
    }
}

/// Settings of `panelscope demo`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoSettings {
    /// Items pushed through the graph.
    pub items: u64,
    /// Payload bytes per item.
    pub payload_bytes: usize,
    /// Every Nth item crashes its child process (0 = none).
    pub poison_every: u64,
    /// Payload generator seed.
    pub seed: u64,
    /// Per-item timeout of the child processes.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
}

impl Settings {
    /// Opens (or creates) the FAISS index under `data_dir` for `embedder`, with each panel's views
    /// and the configured indexed windows.
    pub fn open_index(&self, embedder: &dyn Embedder) -> Result<ShardedIndex> {
        let indexed_windows = self.embed.indexed_windows().map_err(anyhow::Error::msg)?;
        Ok(ShardedIndex::open_for(
            &self.data_dir.join("index"),
            embedder,
            indexed_windows.len(),
            &self.index,
        )?)
    }

    /// Reads the defaults, overlaid by `file` when given.
    pub fn load(file: Option<&Path>) -> Result<Self> {
        let mut table: toml::Table = DEFAULT_TOML
            .parse()
            .context("the built-in config/default.toml is invalid")?;
        if let Some(file) = file {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read config file {}", file.display()))?;
            let overlay: toml::Table = text
                .parse()
                .with_context(|| format!("config file {} is not valid TOML", file.display()))?;
            merge(&mut table, overlay);
        }
        let settings: Settings =
            toml::Value::Table(table)
                .try_into()
                .with_context(|| match file {
                    Some(file) => format!("config file {} has an invalid setting", file.display()),
                    None => "the built-in configuration has an invalid setting".to_string(),
                })?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<()> {
        self.metrics.socket_addr()?;
        if self.demo.payload_bytes == 0 {
            bail!("demo.payload_bytes must be at least 1");
        }
        self.render.validate().map_err(anyhow::Error::msg)?;
        Ok(())
    }

    /// The engine settings of stage `name` (defaults when the file has none).
    pub fn node(&self, name: &str) -> NodeConfig {
        self.stages.get(name).cloned().unwrap_or_default()
    }
}

/// Overlays `overlay` onto `base`, table by table; other values are replaced.
fn merge(base: &mut toml::Table, overlay: toml::Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(base)), toml::Value::Table(overlay)) => merge(base, overlay),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse() {
        let settings = Settings::load(None).unwrap();
        assert_eq!(settings.node("bucket").max_batch, 32);
        assert_eq!(settings.node("bucket").max_wait, Duration::from_millis(20));
        assert_eq!(settings.node("not-configured"), NodeConfig::default());
    }

    #[test]
    fn file_overlays_defaults_key_by_key() {
        let dir = std::env::temp_dir().join(format!("panelscope-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("over.toml");
        std::fs::write(&file, "[stages.bucket]\nmax_batch = 4\n[demo]\nitems = 7\n").unwrap();
        let settings = Settings::load(Some(&file)).unwrap();
        assert_eq!(settings.node("bucket").max_batch, 4);
        assert_eq!(
            settings.node("bucket").max_wait,
            Duration::from_millis(20),
            "untouched keys keep their default"
        );
        assert_eq!(settings.demo.items, 7);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn typo_names_the_file_and_the_key() {
        let dir =
            std::env::temp_dir().join(format!("panelscope-config-typo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("typo.toml");
        std::fs::write(&file, "[stages.bucket]\nmax_bach = 4\n").unwrap();
        let error = format!("{:#}", Settings::load(Some(&file)).unwrap_err());
        assert!(
            error.contains("typo.toml") && error.contains("max_bach"),
            "{error}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
