#!/usr/bin/env bash
# Installs Debian's `prometheus` package (Prometheus 2.42 and promtool on Debian 12) for the telemetry
# tests, which start their own `prometheus` processes (temporary config and data directory, a free
# loopback port). Idempotent: nothing is installed when both binaries are there. The package's system
# service is never started here, and if installing it started the service, it is stopped and disabled
# again, so no Prometheus listens on :9090 because of this script. Needs root (apt-get).
set -euo pipefail

stop_system_service() {
  if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
    systemctl stop prometheus.service >/dev/null 2>&1 || true
    systemctl disable prometheus.service >/dev/null 2>&1 || true
  elif command -v service >/dev/null 2>&1; then
    service prometheus stop >/dev/null 2>&1 || true
  fi
}

if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  # policy-rc.d keeps the package's maintainer scripts from starting the service on hosts without systemd.
  policy="/usr/sbin/policy-rc.d"
  created_policy=false
  if [[ ! -e "${policy}" ]]; then
    printf '#!/bin/sh\nexit 101\n' >"${policy}"
    chmod 0755 "${policy}"
    created_policy=true
  fi
  trap '[[ "${created_policy}" == true ]] && rm -f "${policy}"' EXIT
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  stop_system_service
fi

echo "prometheus: $(prometheus --version 2>&1 | head -n 1) and $(promtool --version 2>&1 | head -n 1) installed (the system service is not used)"
