#!/usr/bin/env bash
# Sets the machine up and runs every test of the workspace (unit, integration, doc tests).
# Honours CARGO_TARGET_DIR, so CI can keep its build cache between runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo test --workspace --locked
