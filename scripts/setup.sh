#!/usr/bin/env bash
# Create .venv with everything the project needs (CPU-only torch from the pinned wheel).
# Usage: bash scripts/setup.sh            (idempotent; rerunning only checks the install)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# OpenGL for MiniWorld's headless (EGL) rendering (Debian/Ubuntu): install what is missing when
# we are root or have password-less sudo; otherwise say what to install and go on.
GL_PACKAGES="libegl1 libegl-mesa0 libgl1 libgl1-mesa-dri libglu1-mesa"
if command -v dpkg >/dev/null 2>&1; then
  missing=""
  for pkg in $GL_PACKAGES; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
  done
  if [ -n "$missing" ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo -n"; fi
    if [ -z "$SUDO" ] || sudo -n true 2>/dev/null; then
      $SUDO apt-get update -q
      # shellcheck disable=SC2086
      $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
    else
      echo "setup: warning: missing OpenGL packages:$missing (sudo apt-get install -y$missing)" >&2
    fi
  fi
fi
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# torch first and pinned: a bare 'torch' requirement would pull a multi-GB CUDA build.
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[dev,sweep]"  # sweep: Ray, for analysis.sweep --ray
.venv/bin/python -m ipykernel install --user --name python3 >/dev/null 2>&1 || true
echo "setup: ok ($(.venv/bin/python -c 'import importlib.metadata as m; print("dream-metarl", m.version("dream-metarl"))'))"
