//! The words of a synthetic paper: title, authors, abstract, body paragraphs, figure captions,
//! references and the labels printed around blots. Assembled from biology phrase lists so that
//! pages read like papers to a layout or caption parser, never copied from any real paper.

use super::rng::Rng;

/// Proteins probed on blots, with their approximate mass in kDa.
pub(crate) const PROTEINS: [(&str, u32); 40] = [
    ("GRP78", 78),
    ("CHOP", 27),
    ("Caspase-3", 35),
    ("Cleaved caspase-3", 17),
    ("Caspase-12", 55),
    ("p53", 53),
    ("p21", 21),
    ("Akt", 60),
    ("p-Akt", 60),
    ("ERK1/2", 44),
    ("p-ERK1/2", 44),
    ("mTOR", 289),
    ("LC3B", 16),
    ("Beclin-1", 60),
    ("Bcl-2", 26),
    ("Bax", 21),
    ("GAPDH", 37),
    ("Tubulin", 55),
    ("Actin", 42),
    ("Lamin B1", 68),
    ("PARP", 116),
    ("NF-kB p65", 65),
    ("IkBa", 39),
    ("STAT3", 88),
    ("p-STAT3", 88),
    ("HIF-1a", 120),
    ("VEGF", 23),
    ("E-cadherin", 135),
    ("Vimentin", 57),
    ("Snail", 29),
    ("SREBP-2", 68),
    ("StAR", 32),
    ("Histone H3", 17),
    ("Cyclin D1", 36),
    ("CDK4", 34),
    ("PTEN", 54),
    ("SIRT1", 110),
    ("p-AMPK", 62),
    ("Nrf2", 100),
    ("HO-1", 32),
];

const CELLS: [&str; 16] = [
    "HeLa cells",
    "HEK293T cells",
    "MCF-7 cells",
    "A549 cells",
    "HepG2 cells",
    "primary hepatocytes",
    "cardiomyocytes",
    "SH-SY5Y cells",
    "RAW264.7 macrophages",
    "mouse embryonic fibroblasts",
    "HUVECs",
    "PC12 cells",
    "U87 glioma cells",
    "Caco-2 cells",
    "bone marrow-derived macrophages",
    "hippocampal neurons",
];

const TREATMENTS: [&str; 14] = [
    "tunicamycin",
    "rapamycin",
    "cisplatin",
    "doxorubicin",
    "LPS",
    "TNF-a",
    "hydrogen peroxide",
    "metformin",
    "4-PBA",
    "curcumin",
    "resveratrol",
    "hypoxia",
    "high glucose",
    "palmitate",
];

const PROCESSES: [&str; 14] = [
    "ER stress",
    "autophagy",
    "apoptosis",
    "oxidative stress",
    "inflammation",
    "mitochondrial dysfunction",
    "insulin resistance",
    "epithelial-mesenchymal transition",
    "cell proliferation",
    "senescence",
    "lipid accumulation",
    "angiogenesis",
    "neurodegeneration",
    "fibrosis",
];

const TISSUES: [&str; 10] = [
    "liver",
    "hippocampus",
    "kidney",
    "heart",
    "lung",
    "skeletal muscle",
    "adipose tissue",
    "colon",
    "retina",
    "pancreas",
];

const SURNAMES: [&str; 40] = [
    "Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Smith",
    "Johnson", "Garcia", "Martinez", "Müller", "Schmidt", "Rossi", "Bianchi", "Kim", "Park", "Lee",
    "Nguyen", "Tanaka", "Suzuki", "Sato", "Kowalski", "Novak", "Silva", "Santos", "Oliveira",
    "Dubois", "Moreau", "Jensen", "Larsen", "Ahmed", "Khan", "Singh", "Patel", "Ivanova",
    "O'Brien",
];

const INITIALS: [&str; 20] = [
    "A", "B", "C", "D", "E", "F", "G", "H", "J", "K", "L", "M", "N", "P", "R", "S", "T", "W", "X",
    "Y",
];

const INSTITUTES: [&str; 12] = [
    "Department of Biochemistry",
    "Department of Pharmacology",
    "Institute of Molecular Medicine",
    "Department of Pathology",
    "School of Life Sciences",
    "Department of Cell Biology",
    "Center for Translational Research",
    "Department of Physiology",
    "Cancer Research Institute",
    "Department of Neuroscience",
    "Key Laboratory of Metabolic Disease",
    "Department of Cardiology",
];

const PLACES: [&str; 12] = [
    "University of Northfield",
    "Eastbrook Medical University",
    "Riverside Institute of Technology",
    "Lakeshore University",
    "Southgate University Hospital",
    "Hillcrest College of Medicine",
    "Westmoor University",
    "Bayview Research Hospital",
    "Greenfield University",
    "Stonebridge University",
    "Maple Valley School of Medicine",
    "Harborview University",
];

pub(crate) const JOURNALS: [&str; 10] = [
    "Journal of Synthetic Cell Biology",
    "Molecular Reports in Medicine",
    "Cellular Signalling Letters",
    "International Journal of Experimental Pathology Studies",
    "Frontiers in Imagined Physiology",
    "Biochemical Research Communications (Synthetic)",
    "Open Journal of Translational Science",
    "Annals of Model Oncology",
    "Experimental Neurobiology Reports",
    "Metabolism and Disease Models",
];

/// The topic a paper sticks to, so its sentences agree with each other.
#[derive(Debug, Clone)]
pub(crate) struct Topic {
    pub protein: &'static str,
    pub second_protein: &'static str,
    pub cells: &'static str,
    pub treatment: &'static str,
    pub process: &'static str,
    pub tissue: &'static str,
}

impl Topic {
    pub(crate) fn random(rng: &mut Rng) -> Self {
        Self {
            protein: rng.pick(&PROTEINS).0,
            second_protein: rng.pick(&PROTEINS).0,
            cells: *rng.pick(&CELLS),
            treatment: *rng.pick(&TREATMENTS),
            process: *rng.pick(&PROCESSES),
            tissue: *rng.pick(&TISSUES),
        }
    }
}

/// A paper title.
pub(crate) fn title(rng: &mut Rng, topic: &Topic) -> String {
    let Topic {
        protein,
        second_protein,
        cells,
        treatment,
        process,
        tissue,
    } = topic;
    match rng.below(5) {
        0 => {
            format!("{protein} regulates {process} through {second_protein} signalling in {cells}")
        }
        1 => format!(
            "Inhibition of {protein} attenuates {treatment}-induced {process} in the mouse {tissue}"
        ),
        2 => capitalised(&format!(
            "{treatment} promotes {process} via the {protein}/{second_protein} axis"
        )),
        3 => {
            format!("A role for {protein} in {process}: evidence from {cells} and {tissue} samples")
        }
        _ => format!("Loss of {protein} sensitises {cells} to {treatment} by enhancing {process}"),
    }
}

/// An author line.
pub(crate) fn authors(rng: &mut Rng) -> String {
    let count = rng.between(3, 9);
    let names: Vec<String> = (0..count)
        .map(|k| {
            let mark = if k == 0 || rng.chance(0.3) {
                format!("{}", rng.between(1, 3))
            } else {
                String::new()
            };
            format!("{}. {}{}", rng.pick(&INITIALS), rng.pick(&SURNAMES), mark)
        })
        .collect();
    names.join(", ")
}

/// An affiliation line.
pub(crate) fn affiliation(rng: &mut Rng) -> String {
    format!(
        "1 {}, {}; 2 {}, {}",
        rng.pick(&INSTITUTES),
        rng.pick(&PLACES),
        rng.pick(&INSTITUTES),
        rng.pick(&PLACES)
    )
}

fn sentence(rng: &mut Rng, topic: &Topic) -> String {
    let Topic {
        protein,
        second_protein,
        cells,
        treatment,
        process,
        tissue,
    } = topic;
    let change = *rng.pick(&[
        "increased",
        "decreased",
        "markedly elevated",
        "significantly reduced",
        "unchanged",
        "restored",
    ]);
    let p_value = *rng.pick(&[
        "P < 0.05",
        "P < 0.01",
        "P < 0.001",
        "n = 3",
        "n = 6 per group",
    ]);
    let hours = rng.pick(&[6, 12, 24, 48, 72]);
    match rng.below(14) {
        0 => format!(
            "{protein} expression was {change} in {cells} exposed to {treatment} for {hours} h ({p_value})."
        ),
        1 => format!(
            "These findings suggest that {protein} acts upstream of {second_protein} during {process}."
        ),
        2 => format!(
            "To test this hypothesis, we silenced {protein} using two independent siRNAs and examined markers of {process}."
        ),
        3 => format!(
            "Previous studies have linked {process} to the progression of disease in the {tissue}, but the mechanism remains unclear."
        ),
        4 => format!(
            "Protein levels were quantified by densitometry and normalised to the loading control ({p_value})."
        ),
        5 => format!(
            "Consistent with this, phosphorylation of {second_protein} was {change} after {treatment} treatment."
        ),
        6 => format!(
            "Immunofluorescence staining confirmed the redistribution of {protein} in {cells}."
        ),
        7 => format!(
            "In the {tissue} of treated mice, {protein} levels were {change} compared with controls."
        ),
        8 => "Data are presented as mean ± SD of at least three independent experiments.".to_string(),
        9 => format!(
            "Pharmacological inhibition of {second_protein} abolished the effect of {treatment} on {process}."
        ),
        10 => format!(
            "We therefore asked whether {protein} is required for {treatment}-induced {process}."
        ),
        11 => "Cells were lysed in RIPA buffer, and equal amounts of protein were separated by SDS-PAGE and transferred to PVDF membranes.".to_string(),
        12 => format!(
            "Taken together, these results identify {protein} as a regulator of {process} in {cells}."
        ),
        _ => format!("Notably, the effect was dose-dependent and reached a maximum at {hours} h."),
    }
}

/// A paragraph of `sentences` sentences.
pub(crate) fn paragraph(rng: &mut Rng, topic: &Topic, sentences: u32) -> String {
    (0..sentences)
        .map(|_| sentence(rng, topic))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A Results subsection heading.
pub(crate) fn subheading(rng: &mut Rng, topic: &Topic) -> String {
    let Topic {
        protein,
        second_protein,
        treatment,
        process,
        ..
    } = topic;
    match rng.below(4) {
        0 => capitalised(&format!(
            "{treatment} induces {process} and {protein} expression"
        )),
        1 => format!("{protein} knockdown attenuates {process}"),
        2 => format!("{second_protein} is required for the effect of {protein}"),
        _ => format!("{protein} levels in vivo"),
    }
}

/// What a panel of a caption shows, by its class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shown {
    Blot,
    Gel,
    Micrograph,
    Chart,
    Diagram,
    Other,
}

/// The caption body after its "Figure k." prefix; `panels` lists each labelled panel.
pub(crate) fn caption(rng: &mut Rng, topic: &Topic, panels: &[(String, Shown)]) -> String {
    let Topic {
        protein,
        second_protein,
        cells,
        treatment,
        process,
        ..
    } = topic;
    let mut text = match rng.below(3) {
        0 => format!("{protein} mediates {process} in {cells}."),
        1 => format!("Effect of {treatment} on {protein} and {second_protein}."),
        _ => capitalised(&format!(
            "{treatment}-induced {process} depends on {protein}."
        )),
    };
    for (label, shown) in panels {
        let part = match shown {
            Shown::Blot => format!(
                "Western blot analysis of {} and {} in {cells}",
                rng.pick(&PROTEINS).0,
                rng.pick(&PROTEINS).0
            ),
            Shown::Gel => format!(
                "RT-PCR products resolved on agarose gel ({} cycles)",
                rng.between(25, 35)
            ),
            Shown::Micrograph => format!(
                "Representative images of {protein} staining (scale bar, {} µm)",
                rng.pick(&[10, 20, 50, 100])
            ),
            Shown::Chart => format!(
                "Quantification of {protein} relative to the loading control (n = {})",
                rng.between(3, 8)
            ),
            Shown::Diagram => "Schematic model of the proposed mechanism".to_string(),
            Shown::Other => format!(
                "{} after {treatment} treatment",
                rng.pick(&["Time course", "Dose response", "Representative results"])
            ),
        };
        if label.is_empty() {
            text.push_str(&format!(" {part}."));
        } else {
            text.push_str(&format!(" ({label}) {part}."));
        }
    }
    text.push_str(&format!(
        " Data are mean ± SEM; *{}.",
        rng.pick(&["P < 0.05", "P < 0.05, **P < 0.01"])
    ));
    text
}

/// `text` with its first letter upper-case.
fn capitalised(text: &str) -> String {
    let mut characters = text.chars();
    characters.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(characters).collect()
    })
}

/// A reference-list entry.
pub(crate) fn reference(rng: &mut Rng, number: u32) -> String {
    let topic = Topic::random(rng);
    format!(
        "{number}. {} {}, {} {}, {} {}. {}. {}. {};{}:{}–{}.",
        rng.pick(&SURNAMES),
        rng.pick(&INITIALS),
        rng.pick(&SURNAMES),
        rng.pick(&INITIALS),
        rng.pick(&SURNAMES),
        rng.pick(&INITIALS),
        title(rng, &topic),
        rng.pick(&JOURNALS),
        rng.between(1998, 2023),
        rng.between(1, 60),
        rng.between(100, 900),
        rng.between(901, 999),
    )
}

/// Labels above blot lanes: one or two rows, e.g. `+ - + -` for a treatment.
pub(crate) fn lane_labels(rng: &mut Rng, lanes: u32) -> Vec<Vec<String>> {
    let mut kinds = [0, 1, 2];
    rng.shuffle(&mut kinds);
    let mut rows = Vec::new();
    // Two rows never repeat one kind of label.
    for &kind in &kinds[..rng.between(1, 2) as usize] {
        let group = rng.between(1, 2);
        let row: Vec<String> = match kind {
            0 => (0..lanes)
                .map(|lane| {
                    if (lane / group) % 2 == 0 {
                        "-".to_string()
                    } else {
                        "+".to_string()
                    }
                })
                .collect(),
            1 => {
                let names =
                    *rng.pick(&[["WT", "KO"], ["C", "T"], ["Veh", "Drug"], ["siNC", "siRNA"]]);
                (0..lanes)
                    .map(|lane| names[(lane * 2 / lanes.max(1)) as usize % 2].to_string())
                    .collect()
            }
            _ => (0..lanes)
                .map(|lane| format!("{}", [0, 1, 3, 6, 12, 24, 48, 72][lane as usize % 8]))
                .collect(),
        };
        rows.push(row);
    }
    rows
}

/// The running head of every page.
pub(crate) fn running_head(rng: &mut Rng) -> String {
    format!(
        "{} ({}) {}:{}–{}",
        rng.pick(&JOURNALS),
        rng.between(2012, 2024),
        rng.between(1, 80),
        rng.between(100, 500),
        rng.between(501, 900)
    )
}
