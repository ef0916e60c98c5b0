#!/usr/bin/env bash
# Build the documentation site offline: nbdev's processed notebooks (_proc/) -> MkDocs + mkdocs-jupyter (Material) -> site/.
# Usage: bash tools/docs.sh [SITE_DIR] [--force]   (default site/, paths from the repo root; --force reprocesses every notebook)
# Notebooks are not executed: run tools/run_nbs.py first so they carry their outputs. Where Quarto is installed,
# `nbdev_docs` still builds nbdev's own Quarto site into _docs/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
exec .venv/bin/python tools/build_docs.py "$@"
