# Sourced by start.sh and test.sh: make .venv (once) and install the project into it with the given extras.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
fi
# Editable, so a change to the code is live without reinstalling. A quiet no-op when nothing changed.
# PYTHONWARNINGS: setuptools prints an "Editable installation" note at every editable install whose packages are
# mapped (templates/ and static/ install inside app), a note about nothing to fix that would bury the address line
# start.sh ends with; tests/test_packaging.py keeps the packages declared, so no real warning is hidden there.
PYTHONWARNINGS=ignore::UserWarning .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${1:-}" \
  2>&1 | grep -v "is ignored" || true
