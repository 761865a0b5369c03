#!/usr/bin/env bash
# Installs (Debian's `postgresql`) and starts the PostgreSQL the tests use: trust auth for user
# `postgres` on 127.0.0.1:5432 only (never on other interfaces). Idempotent: an online cluster
# that already trusts 127.0.0.1 is left as it is. Runs as root, or through sudo (GitHub's runners).
set -euo pipefail
as_root=()
[[ "$(id -u)" == 0 ]] || as_root=(sudo)

if ! command -v pg_lsclusters >/dev/null 2>&1; then
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi

version="$(pg_lsclusters --no-header | awk 'NR==1{print $1}')"
cluster="$(pg_lsclusters --no-header | awk 'NR==1{print $2}')"
if [[ -z "${version}" ]]; then
  version="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
  cluster=main
  "${as_root[@]}" pg_createcluster "${version}" "${cluster}" >/dev/null
fi
conf_dir="/etc/postgresql/${version}/${cluster}"
hba="${conf_dir}/pg_hba.conf"

# Trust on loopback only, first in the file so it wins over the packaged scram-sha-256 lines.
marker="# mlops-platform tests: trust on loopback"
if ! "${as_root[@]}" grep -qF "${marker}" "${hba}"; then
  tmp="$(mktemp)"
  { echo "${marker}"
    echo "host all postgres 127.0.0.1/32 trust"
    "${as_root[@]}" cat "${hba}"; } >"${tmp}"
  "${as_root[@]}" install -m 0640 -o postgres -g postgres "${tmp}" "${hba}"
  rm -f "${tmp}"
fi
"${as_root[@]}" sed -i "s/^#\?listen_addresses.*/listen_addresses = '127.0.0.1'/" "${conf_dir}/postgresql.conf"
"${as_root[@]}" sed -i "s/^#\?port = .*/port = 5432/" "${conf_dir}/postgresql.conf"

if pg_lsclusters --no-header | awk -v v="${version}" -v c="${cluster}" '$1==v && $2==c {print $4}' | grep -q online; then
  "${as_root[@]}" pg_ctlcluster "${version}" "${cluster}" reload
else
  "${as_root[@]}" pg_ctlcluster "${version}" "${cluster}" start
fi
for _ in $(seq 1 50); do
  if psql -h 127.0.0.1 -p 5432 -U postgres -Atc 'select 1' >/dev/null 2>&1; then
    echo "postgres: PostgreSQL ${version}/${cluster} answers on 127.0.0.1:5432 (trust for postgres)"
    exit 0
  fi
  sleep 0.2
done
echo "postgres: PostgreSQL ${version}/${cluster} did not answer on 127.0.0.1:5432" >&2
exit 1
