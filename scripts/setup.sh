#!/usr/bin/env bash
# Create .venv with everything the project needs (CPU-only torch from the pinned wheel).
# Usage: bash scripts/setup.sh            (idempotent; rerunning only checks the install)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# torch first and pinned: a bare 'torch' requirement would pull a multi-GB CUDA build.
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[dev]"
.venv/bin/python -m ipykernel install --user --name python3 >/dev/null 2>&1 || true
echo "setup: ok ($(.venv/bin/python -c 'import importlib.metadata as m; print("dream-metarl", m.version("dream-metarl"))'))"
