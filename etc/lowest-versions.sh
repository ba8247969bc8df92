#!/usr/bin/env bash
# Do pyproject.toml's lower bounds work? Builds a separate venv (default .venv-lowest) holding the LOWEST version
# that each direct dependency's bound allows ([project].dependencies and the [test] and [teach] extras; uv's
# --resolution lowest-direct: indirect dependencies get their newest allowed version), then runs ruff and the unit
# tests (not tests/browser).
#
#   etc/lowest-versions.sh                     # the check
#   etc/lowest-versions.sh --maxfail=50        # extra pytest arguments go last (this one undoes -x)
#   LOWEST_VENV=/tmp/low PYTHON=python3.11 etc/lowest-versions.sh   # another place, another interpreter
#   (this machine's local torch wheels are for CPython 3.11 only)
#
# Exception: torch and torchvision stay the pair that the Makefile and CI use (TORCH_PINS below), so THEIR lower
# bounds are NOT tested here: an older torch from PyPI is a multi-GB CUDA download, and PyPI's torchvision does not
# import beside the local CPU torch.
# Wheels only (--only-binary :all:), so no dependency is compiled: a bound whose lowest release has no wheel for
# this Python resolves to the lowest release that has one. The venv is made anew on every run; uv's cache makes
# that quick after the first run. The resolved versions are written to $LOWEST_VENV/lowest-requirements.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${LOWEST_VENV:-.venv-lowest}
PYTHON=${PYTHON:-python3}
TORCH_PINS=(torch==2.14.1 torchvision==0.29.1)
start=$SECONDS

rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
PY=$VENV/bin/python

# uv does the lowest-direct resolution; pip (with this machine's pip configuration) brings uv if none is on PATH.
UV=$(command -v uv || true)
if [ -z "$UV" ]; then
  "$PY" -m pip install -q --disable-pip-version-check --target "$VENV/uv-tool" uv
  UV=$VENV/uv-tool/bin/uv
fi

# uv does not read pip's configuration: hand it the extra indexes and find-links pip is set up with (where the
# torch pair lies on this machine's disk). unsafe-best-match lets the lowest version come from any index (PyPI
# included) while a version that is also on a local index is taken from there.
INDEX_ARGS=(--index-strategy unsafe-best-match)
for url in $("$PY" -m pip config get global.extra-index-url 2>/dev/null || true); do
  INDEX_ARGS+=(--extra-index-url "$url")
done
for loc in $( (printf '%s\n' ${PIP_FIND_LINKS:-}; "$PY" -m pip config get global.find-links 2>/dev/null || true) | sort -u); do
  INDEX_ARGS+=(--find-links "$loc")
done

printf '%s\n' "${TORCH_PINS[@]}" >"$VENV/torch-pins.txt"
"$UV" pip compile --quiet pyproject.toml --extra test --extra teach --resolution lowest-direct --only-binary :all: \
  --python "$PY" -c "$VENV/torch-pins.txt" "${INDEX_ARGS[@]}" \
  --annotation-style line --no-header -o "$VENV/lowest-requirements.txt"
# --compile-bytecode, as pip does by default: where PYTHONDONTWRITEBYTECODE is set (CI), every import would
# otherwise compile torch and the rest from source again (`import vizkit` 15 s instead of 3).
"$UV" pip install --quiet --python "$PY" --no-deps --only-binary :all: --compile-bytecode "${INDEX_ARGS[@]}" \
  -r "$VENV/lowest-requirements.txt"
# vizkit itself is the one thing built (setuptools, from a wheel); its dependencies are all in place already.
"$UV" pip install --quiet --python "$PY" --no-deps "${INDEX_ARGS[@]}" -e .
"$UV" pip check --python "$PY"

echo "Direct dependencies, lowest allowed (torch pair pinned):"
grep -E '# via .*vizkit \(pyproject\.toml\)' "$VENV/lowest-requirements.txt" | sed -E 's/ +#.*//; s/^/  /'
echo "Set up in $((SECONDS - start)) s"

# The rest of the Makefile's set-up (lab settings, kernel spec, data), run on this venv: make's VENV ?= .venv
# takes it from the environment, and so does `make lab` in tests/test_lab.py. Its pip installs find every
# requirement satisfied; the check below makes sure they changed no version.
export VENV OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}  # as `make unit` runs the tests
"$UV" pip freeze --python "$PY" >"$VENV/freeze.txt"
MAKEFLAGS= make -s setup
"$UV" pip freeze --python "$PY" | diff "$VENV/freeze.txt" - || { echo "make setup changed the lowest versions" >&2; exit 1; }

# The lowest ruff on the code (as `make lint` does), then the unit tests; both run, either failing fails the check.
lint=0 unit=0
"$VENV/bin/ruff" check vizkit tests benchmarks || lint=$?
"$PY" -m pytest -q tests --ignore=tests/browser --ignore=tests/student -x -p no:cacheprovider "$@" || unit=$?
echo "Lowest-versions check done in $((SECONDS - start)) s: ruff exit $lint, pytest exit $unit"
[ "$lint" = 0 ] && [ "$unit" = 0 ]
