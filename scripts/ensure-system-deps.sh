#!/usr/bin/env bash
# Installs and starts what the tests (or benchmarks) need from outside Python, when it is missing.
#   test:  a running PostgreSQL at 127.0.0.1:5432 (the store contract suite runs against it), and the S3 clients
#          the interoperability tests drive: s3cmd and rclone
#   bench: wrk (the KMS load generator) and curl (the object store benchmark's client)
set -euo pipefail
what=${1:-test}

apt_updated=0
apt_install() {
    if [ "$apt_updated" = 0 ]; then
        apt-get update -qq
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_postgres() {
    if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
        return
    fi
    command -v pg_ctlcluster >/dev/null 2>&1 || apt_install postgresql
    if [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
        apt_install postgresql
    fi
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 60); do
        pg_isready -q -h 127.0.0.1 -p 5432 && return
        sleep 0.5
    done
    echo "PostgreSQL did not come up on 127.0.0.1:5432" >&2
    exit 1
}

case "$what" in
    test)
        ensure_postgres
        command -v s3cmd >/dev/null 2>&1 || apt_install s3cmd
        command -v rclone >/dev/null 2>&1 || apt_install rclone
        ;;
    bench)
        command -v wrk >/dev/null 2>&1 || apt_install wrk
        command -v curl >/dev/null 2>&1 || apt_install curl
        ;;
    *) echo "usage: $0 test|bench" >&2; exit 2 ;;
esac
