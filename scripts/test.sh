#!/usr/bin/env bash
# Install the project with its dev extra into .venv and run the whole test suite. Extra arguments go to pytest.
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh" "[dev]"
# The real MNIST files, for the tests that read them: ../shared/mnist beside the checkout unless told otherwise.
export CNN_TEST_MNIST=${CNN_TEST_MNIST:-$PWD/../shared/mnist}
exec .venv/bin/python -m pytest "$@"
