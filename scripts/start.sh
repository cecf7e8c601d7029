#!/usr/bin/env bash
# Install into .venv and start the visualizer on the bundled pretrained model: http://127.0.0.1:8000
# Extra arguments go to the server (e.g. --port 9000, --host 0.0.0.0, --model runs/mine.npz).
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh" ""
exec .venv/bin/cnn-visualizer "$@"
