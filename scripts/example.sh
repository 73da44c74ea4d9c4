#!/usr/bin/env bash
# The main job on a small example: sets the machine up, builds panelscope, writes a small
# synthetic catalog (paper-like PDFs with planted duplicate panels; a fresh machine needs nothing
# else), screens it, lists the verified matches, writes the HTML evidence report, and scores the
# matches against the catalog's truth. Prometheus metrics are served on 127.0.0.1:9898 meanwhile.
# Everything lands under example/ (delete it to start over; a rerun skips documents already
# screened).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --locked
bin=./target/release/panelscope
data=example/data
"$bin" synth --out example/catalog --docs 24 --seed 1
"$bin" --data-dir "$data" --metrics-addr 127.0.0.1:9898 ingest example/catalog
echo
echo "Verified matches:"
"$bin" --data-dir "$data" matches --verified --format table
echo
"$bin" --data-dir "$data" eval --truth example/catalog/truth.json --out example/eval.json
echo
"$bin" --data-dir "$data" report --out example/report
echo
echo "Evidence report: $(pwd)/example/report/index.html"
