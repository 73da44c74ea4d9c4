#!/usr/bin/env bash
# Installs everything panelscope needs on a Debian/Ubuntu machine, idempotently:
# build tools and C libraries (apt), a Rust toolchain (rustup, if cargo is missing), and the
# pdfium library from the pypdfium2 wheel into .local/pdfium/. Safe to run again: it only does
# what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYPDFIUM2_VERSION="5.15.2"
PDFIUM_DIR=".local/pdfium"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

sudo_if_needed() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# 1. System packages: compilers, cmake + OpenBLAS (FAISS is built from source), Python (to fetch
#    the pdfium wheel), Chromium (the HTML evidence report is checked in a real browser).
APT_PACKAGES=(build-essential pkg-config cmake libopenblas-dev python3 python3-pip curl ca-certificates unzip chromium)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "Installing apt packages: ${missing[*]}"
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# 2. Rust, when the machine has none.
if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    say "Installing Rust (rustup, stable, minimal profile)"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain stable
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
fi

# 3. pdfium: the shared library shipped inside the pypdfium2 wheel (no Python needed at run time).
if [ ! -f "$PDFIUM_DIR/libpdfium.so" ]; then
  case "$(uname -m)" in
    x86_64) platform="manylinux_2_17_x86_64" ;;
    aarch64) platform="manylinux_2_17_aarch64" ;;
    *) echo "setup: no pypdfium2 wheel for $(uname -m)" >&2; exit 1 ;;
  esac
  say "Fetching pdfium from the pypdfium2 $PYPDFIUM2_VERSION wheel ($platform)"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download --quiet --no-deps --only-binary=:all: --platform "$platform" \
    --dest "$tmp" "pypdfium2==$PYPDFIUM2_VERSION"
  python3 -m zipfile -e "$tmp"/pypdfium2-*.whl "$tmp/wheel"
  mkdir -p "$PDFIUM_DIR"
  cp "$tmp/wheel/pypdfium2_raw/libpdfium.so" "$PDFIUM_DIR/libpdfium.so.partial"
  cp "$tmp/wheel/pypdfium2_raw/version.json" "$PDFIUM_DIR/version.json"
  mv "$PDFIUM_DIR/libpdfium.so.partial" "$PDFIUM_DIR/libpdfium.so"
fi

say "Setup complete (pdfium: $PDFIUM_DIR/libpdfium.so)"
