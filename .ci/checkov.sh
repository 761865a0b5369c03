#!/usr/bin/env bash
# checkov (Bridgecrew/Prisma's IaC scanner, from PyPI) over the Kubernetes manifests the offline
# preview renders for staging and production, judged against .ci/checkov-accepted.json: the reviewed
# findings, each with its reason. Any other failed check fails this script (exit 1); an accepted
# finding that no longer occurs is reported, so the list is pruned.
# checkov lives in its own virtual environment under ~/.cache (its dependencies would clash with
# MLflow's), pinned to CHECKOV_VERSION; the first run installs it (about a minute), later ones reuse it.
# Environment: PYTHON (default python3), CHECKOV_HOME (default ~/.cache/mlops-platform), STACKS.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_root}"

CHECKOV_VERSION="3.3.30"
python="${PYTHON:-python3}"
home="${CHECKOV_HOME:-${XDG_CACHE_HOME:-${HOME}/.cache}/mlops-platform}"
venv="${home}/checkov-${CHECKOV_VERSION}"
stacks="${STACKS:-staging production}"

if ! [[ -x "${venv}/bin/checkov" ]] || [[ "$("${venv}/bin/checkov" --version 2>/dev/null)" != "${CHECKOV_VERSION}" ]]; then
  echo "checkov: installing checkov==${CHECKOV_VERSION} into ${venv}"
  "${python}" -m venv --clear "${venv}"
  "${venv}/bin/python" -m pip install --quiet --disable-pip-version-check "checkov==${CHECKOV_VERSION}"
fi

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
reports=()
for stack in ${stacks}; do
  # The preview's own exit code (policy violations, registry) is not this check's business; its manifests are.
  npm run --silent preview -- --stack "${stack}" --out "${work}/manifests/${stack}" --json > "${work}/preview-${stack}.json" || true
  if ! compgen -G "${work}/manifests/${stack}/*.yaml" > /dev/null; then
    echo "checkov: the preview of ${stack} wrote no manifests" >&2
    exit 2
  fi
  # --soft-fail: the comparison below decides; checkov's own exit code would fail on accepted findings.
  "${venv}/bin/checkov" --directory "${work}/manifests/${stack}" --framework kubernetes --output json --quiet --soft-fail \
    --skip-download > "${work}/checkov-${stack}.json"
  reports+=("${stack}=${work}/checkov-${stack}.json")
done

node -r ts-node/register/transpile-only cli/checkov/findings.ts .ci/checkov-accepted.json "${reports[@]}"
