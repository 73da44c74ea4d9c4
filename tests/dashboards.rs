//! The Grafana dashboard reads exactly the series the engine exports: no panel names a series that
//! does not exist, and every exported series has a panel.

use std::collections::BTreeSet;

use panelscope_engine::metrics;

fn exported() -> BTreeSet<&'static str> {
    [
        metrics::STAGE_ITEMS_TOTAL,
        metrics::STAGE_QUEUE_DEPTH,
        metrics::STAGE_QUEUE_CAPACITY,
        metrics::STAGE_BUSY_RATIO,
        metrics::STAGE_LATENCY_SECONDS,
        metrics::STAGE_BATCH_SIZE,
        metrics::STAGE_RESTARTS_TOTAL,
        metrics::DEAD_LETTERS_TOTAL,
        metrics::STAGE_WORKERS,
        metrics::REORDER_SKIPPED_TOTAL,
    ]
    .into_iter()
    .collect()
}

fn expressions(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("expr", serde_json::Value::String(expr)) => out.push(expr.clone()),
                    _ => expressions(value, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| expressions(v, out)),
        _ => {}
    }
}

fn series_in(expr: &str) -> Vec<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("panelscope_"))
        .map(|word| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| word.strip_suffix(suffix))
                .unwrap_or(word)
                .to_string()
        })
        .collect()
}

#[test]
fn dashboard_reads_exactly_the_exported_series() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/dashboards/panelscope.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut exprs = Vec::new();
    expressions(&dashboard, &mut exprs);
    assert!(!exprs.is_empty());
    let exported = exported();
    let mut used = BTreeSet::new();
    for expr in &exprs {
        for series in series_in(expr) {
            assert!(
                exported.contains(series.as_str()),
                "the dashboard reads `{series}`, which panelscope does not export: {expr}"
            );
            used.insert(series);
        }
    }
    let unused: Vec<_> = exported.iter().filter(|s| !used.contains(**s)).collect();
    assert!(
        unused.is_empty(),
        "exported series without a panel: {unused:?}"
    );
}
