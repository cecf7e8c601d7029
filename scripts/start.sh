#!/usr/bin/env bash
# Install into .venv and start on the bundled pretrained model. Extra arguments go to the program.
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh" ""
exec .venv/bin/python -m cnn.demo "$@"
