#!/usr/bin/env bash
# Builds the Versity S3 Gateway the local stack deploys (components/objectStore.ts VERSITYGW_VERSION),
# from the Go module proxy, into a cache outside the repository; the tests run MLflow against it.
# Idempotent: an existing binary of that version is kept. Usage: .ci/versitygw.sh <version>
set -euo pipefail
version="${1:?usage: .ci/versitygw.sh <version such as v1.8.0>}"
tools="${MLOPS_TOOLS_DIR:-${HOME}/.cache/mlops-platform/tools}"
binary="${tools}/versitygw-${version}"
if [[ -x "${binary}" ]]; then
  echo "versitygw: ${binary} is there"
  exit 0
fi
command -v go >/dev/null || { echo "versitygw: needs Go (https://go.dev/dl/) to build github.com/versity/versitygw@${version}" >&2; exit 1; }
mkdir -p "${tools}"
scratch="$(mktemp -d)"
trap 'rm -rf "${scratch}"' EXIT
started=${SECONDS}
# go install builds exactly the released module (its go.mod and go.sum), without a checkout.
GOBIN="${scratch}" CGO_ENABLED=0 go install "github.com/versity/versitygw/cmd/versitygw@${version}"
mv "${scratch}/versitygw" "${binary}"
echo "versitygw: built ${binary} in $((SECONDS - started))s"
