#!/usr/bin/env bash
# Reproduce the shipped vidlens-tiny model (src/vidlens/models/): synthetic data, then training.
#   scripts/train_tiny.sh [cpu|cuda]        (the lead's `make tiny-model` runs this)
# Everything is seeded: world seed 0, training seed 0 (scripts/train_tiny.json).
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICE="${1:-cpu}"
PY="${PY:-.venv/bin/python}"
BUILD="${BUILD:-build}"
$PY -m vidlens.synth --out "$BUILD/synth/train" --count 5000 --seed 0 --split train --workers 2
$PY -m vidlens.synth --out "$BUILD/synth/val" --count 200 --seed 0 --split val --workers 2
$PY -m vidlens.train --config scripts/train_tiny.json --device "$DEVICE" \
    --data "$BUILD/synth/train" --val-data "$BUILD/synth/val" --out "$BUILD/tiny-model"
$PY - "$BUILD/tiny-model" <<'PYEOF'
import sys
from vidlens.encoders.tiny import install_model
print("installed", install_model(sys.argv[1]))
PYEOF
