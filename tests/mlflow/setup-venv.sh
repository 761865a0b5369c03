#!/usr/bin/env bash
# Creates or updates <repo>/.venv with the MLflow the tests run for real (tests/mlflow/requirements.txt).
# Idempotent: a stamp file in the venv holds the sha256 of requirements.txt; when it matches and the venv's
# Python can import what the tests use, nothing is installed (about 50 ms). Called by .ci/run and by the npm
# `pretest` hook; safe to run by hand at any time.
# Environment: PYTHON (default python3) picks the interpreter the venv is created from.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
requirements="${repo_root}/tests/mlflow/requirements.txt"
venv="${repo_root}/.venv"
stamp="${venv}/.requirements.sha256"
python="${PYTHON:-python3}"

wanted_hash="$(sha256sum "${requirements}" | cut -d' ' -f1)"

# The interpreter check catches a venv whose base Python was removed or upgraded underneath it.
if [[ -x "${venv}/bin/mlflow" && -f "${stamp}" && "$(cat "${stamp}")" == "${wanted_hash}" ]] \
  && "${venv}/bin/python" -c 'import psycopg2, importlib.metadata as m; m.version("mlflow")' 2>/dev/null; then
  echo "setup-venv: ${venv} is up to date with tests/mlflow/requirements.txt (${wanted_hash:0:12})"
  exit 0
fi

started=${SECONDS}
if [[ ! -x "${venv}/bin/python" ]]; then
  "${python}" -m venv "${venv}"
  action="created"
elif ! "${venv}/bin/python" -c '' 2>/dev/null; then
  # The venv's base interpreter is gone (e.g. a Python upgrade): start from scratch.
  "${python}" -m venv --clear "${venv}"
  action="recreated"
else
  action="updated"
fi
# The stamp is written only after a successful install, so an interrupted one is retried next time.
rm -f "${stamp}"
log="$(mktemp)"
trap 'rm -f "${log}"' EXIT
if ! "${venv}/bin/python" -m pip install --quiet --disable-pip-version-check -r "${requirements}" >"${log}" 2>&1; then
  cat "${log}" >&2
  echo "setup-venv: pip install -r tests/mlflow/requirements.txt into ${venv} failed (output above)" >&2
  exit 1
fi
echo "${wanted_hash}" >"${stamp}"
echo "setup-venv: ${action} ${venv} from tests/mlflow/requirements.txt ($("${venv}/bin/mlflow" --version), $((SECONDS - started))s)"
