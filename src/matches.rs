//! `panelscope matches`: the matches in the store, as JSON lines (the contract of DESIGN.md §7)
//! or as a table for a person.

use serde_json::{Value, json};

use panelscope_stages::units::{MatchRecord, PanelPlace};

fn side(place: &PanelPlace) -> Value {
    json!({
        "doc": place.doc.to_hex(),
        "path": place.path,
        "page": place.page,
        "bbox": place.bbox.to_array(),
        "panel": place.id,
        "class": place.class.map(|c| c.as_str()),
    })
}

/// A match as one JSON object: `a`, `b` (`doc`, `path`, `page` 1-based, `bbox` `[x0, y0, x1, y1]`
/// in PDF points from the top-left corner, `panel` id, `class`: blot, gel, microscopy, other or
/// null when unknown), `similarity`, `verified`, `kind` and
/// `transform`. A part of a panel repeated elsewhere in it is a match of the panel with itself
/// (`transform.within`; `region_a` and `region_b` are the two parts, `similarity` their
/// correlation).
pub fn to_json(m: &MatchRecord) -> Value {
    let t = &m.transform;
    json!({
        "a": side(&m.a),
        "b": side(&m.b),
        "similarity": m.similarity,
        "verified": m.verified,
        "kind": m.kind,
        "transform": {
            "dihedral": t.dihedral,
            "rotation_deg": t.rotation_deg,
            "scale": t.scale,
            "region_a": t.region_a,
            "region_b": t.region_b,
            "correlation": t.correlation,
            "rank_correlation": t.rank_correlation,
            "detail_correlation": t.detail_correlation,
            "coarse_detail_correlation": t.coarse_detail_correlation,
            "fine_correlation": t.fine_correlation,
            "left_out_share": t.left_out_share,
            "edited": t.edited,
            "partial": t.partial,
            "within": t.within,
        },
        "suppressed": m.suppressed,
    })
}

fn short(path: &str) -> String {
    let name = std::path::Path::new(path)
        .file_name()
        .map_or_else(|| path.to_string(), |n| n.to_string_lossy().to_string());
    if name.chars().count() > 40 {
        format!(
            "…{}",
            name.chars()
                .skip(name.chars().count() - 39)
                .collect::<String>()
        )
    } else {
        name
    }
}

/// The matches as an aligned table.
pub fn table(matches: &[MatchRecord]) -> String {
    let mut out = format!(
        "{:<8} {:>6} {:<15} {:<44} {:<44} {}\n",
        "verified",
        "sim",
        "kind",
        "a (file, page, bbox pt)",
        "b (file, page, bbox pt)",
        "transform"
    );
    let place = |p: &PanelPlace| {
        let b = p.bbox;
        format!(
            "{} p{} [{:.0},{:.0},{:.0},{:.0}]",
            short(&p.path),
            p.page,
            b.x0,
            b.y0,
            b.x1,
            b.y1
        )
    };
    for m in matches {
        let t = &m.transform;
        out.push_str(&format!(
            "{:<8} {:>6.3} {:<15} {:<44} {:<44} {} scale {:.2} rot {:+.0}° corr {:.2}{}{}{}\n",
            if m.verified { "yes" } else { "no" },
            m.similarity,
            m.kind,
            place(&m.a),
            place(&m.b),
            t.dihedral,
            t.scale,
            t.rotation_deg,
            t.correlation,
            if t.edited { " edited" } else { "" },
            if t.partial { " partial" } else { "" },
            if t.within { " within" } else { "" }
        ));
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use panelscope_stages::units::BBox;

    /// A match between two panels of one page whose transform is `transform` (a relation as
    /// the store keeps it).
    pub(crate) fn record(transform: serde_json::Value) -> MatchRecord {
        let place = |id: i64| PanelPlace {
            id,
            doc: panelscope_stages::units::DocumentId::of_bytes(b"paper"),
            path: "paper.pdf".into(),
            page: 1,
            bbox: BBox::new(0.0, 0.0, 100.0, 100.0),
            class: None,
        };
        MatchRecord {
            a: place(1),
            b: place(2),
            similarity: 0.95,
            verified: true,
            kind: "intra_document".into(),
            transform: serde_json::from_value(transform).unwrap(),
            suppressed: None,
        }
    }

    #[test]
    fn a_part_shared_shows_in_both_formats_and_older_rows_read_as_whole() {
        let mut relation = serde_json::json!({
            "dihedral": "identity", "rotation_deg": 0.0, "scale": 1.0,
            "region_a": [0.5, 0.0, 1.0, 1.0], "region_b": [0.0, 0.0, 0.5, 1.0],
            "correlation": 0.99, "detail_correlation": 0.97, "verified": true
        });
        // Stored before overlaps were verified: no `partial` key.
        let older = record(relation.clone());
        assert_eq!(to_json(&older)["transform"]["partial"], false);
        assert_eq!(to_json(&older)["transform"]["within"], false);
        assert!(!table(std::slice::from_ref(&older)).contains("partial"));
        relation["partial"] = serde_json::Value::Bool(true);
        let shared = record(relation);
        assert_eq!(to_json(&shared)["transform"]["partial"], true);
        assert!(
            table(&[shared])
                .lines()
                .nth(1)
                .unwrap()
                .ends_with(" partial")
        );
    }

    #[test]
    fn a_part_repeated_within_one_panel_is_marked_in_both_formats() {
        let repeat = record(serde_json::json!({
            "dihedral": "identity", "rotation_deg": 0.0, "scale": 1.0,
            "region_a": [0.1, 0.3, 0.4, 0.5], "region_b": [0.6, 0.6, 0.9, 0.8],
            "correlation": 0.99, "detail_correlation": 0.97, "partial": true, "within": true,
            "verified": true
        }));
        assert_eq!(to_json(&repeat)["transform"]["within"], true);
        assert!(
            table(&[repeat])
                .lines()
                .nth(1)
                .unwrap()
                .ends_with(" partial within")
        );
    }
}
