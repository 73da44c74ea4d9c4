#!/usr/bin/env bash
# The main job on a small example: sets the machine up, builds panelscope, and runs it.
# For now this is the engine demonstration (a process pool of child processes, some of which crash
# on purpose, a CPU stage, a micro-batched stage and a sink), with Prometheus metrics served on
# 127.0.0.1:9898 while it runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --locked
./target/release/panelscope --data-dir panelscope-data --metrics-addr 127.0.0.1:9898 \
  demo --items 2000 --poison-every 500
