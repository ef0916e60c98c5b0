#!/usr/bin/env bash
# The README's main-job command: set-up, then the whole LDMLR pipeline on the embedded default
# (Fashion-MNIST made long-tailed) into runs/fmnist-lt. Re-running resumes; extra arguments go to `ldmlr run`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
exec .venv/bin/ldmlr run --preset fmnist-lt "$@"
