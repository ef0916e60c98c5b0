#!/usr/bin/env bash
# The README's test command: set-up, then every check CI runs.
#  1. ldmlr/ is exactly what nbdev_export makes from the notebooks
#  2. notebooks are clean (nbdev_clean changes nothing)
#  3. every notebook runs as a test (cells flagged `slow` skipped)
#  4. pytest tests/ (console commands, bad inputs, resume, docs site in a browser)
set -euo pipefail
cd "$(dirname "$0")/.."
LDMLR_SETUP_BROWSER=1 bash tools/setup.sh
export PATH="$PWD/.venv/bin:$PATH" MPLBACKEND=Agg

tree_hash() { find "$@" -type f \( -name '*.py' -o -name '*.ipynb' \) -not -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum | sha256sum; }

echo "== nbdev_export: is ldmlr/ in sync with nbs/?"
before=$(tree_hash ldmlr); nbdev_export; after=$(tree_hash ldmlr)
if [ "$before" != "$after" ]; then
  echo "FAIL: nbdev_export changed ldmlr/: export the notebooks and commit ldmlr/ with them." >&2; git status --short ldmlr >&2; exit 1
fi

echo "== nbdev_clean: are the notebooks clean?"
before=$(tree_hash nbs); nbdev_clean; after=$(tree_hash nbs)
if [ "$before" != "$after" ]; then
  echo "FAIL: notebooks were not clean (nbdev_clean has now cleaned them): commit the cleaned notebooks." >&2; git status --short nbs >&2; exit 1
fi

echo "== README.md: generated from nbs/index.ipynb?"
python tools/make_readme.py --check

echo "== nbdev_test: every notebook, slow cells skipped"
# two notebooks at once on two cores, one thread each, so they do not fight over the cores
OMP_NUM_THREADS=1 nbdev_test --n_workers 2 --timing

echo "== pytest"
python -m pytest tests/ -q "$@"
