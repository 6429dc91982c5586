#!/usr/bin/env bash
# Installs what trailwatch needs to build and test on Debian 12 (the Swift toolchain itself is assumed),
# and starts journald standalone when the machine runs none (containers, CI).
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
need=()
# dpkg-dev lintian man-db zsh fish: the packaging tests (build the .deb, lint it, render the manual
# pages, parse the completions); openssl: a certificate for the API server's TLS test.
for pkg in libsystemd-dev zlib1g-dev libdeflate-dev libsqlite3-dev pkg-config systemd util-linux python3 python3-pip procps openssl \
  dpkg-dev lintian man-db zsh fish; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${need[@]}"
fi
# The integrity tests drive the AWS CLI's validation code (awscli) and a signer using `cryptography`;
# the API tests drive `aws logs`, boto3 and prometheus_client's text parser; the SigV4 tests botocore (with awscli);
# the AWS client, S3 source and CloudWatch sink tests run moto's server as S3, SQS and CloudWatch Logs.
python3 -c "import awscli, boto3, cryptography, prometheus_client, moto.server" 2>/dev/null || $SUDO python3 -m pip install -q awscli boto3 cryptography prometheus_client "moto[server]" \
  || $SUDO python3 -m pip install -q --break-system-packages awscli boto3 cryptography prometheus_client "moto[server]" \
  || echo "warning: could not install awscli, boto3, cryptography, prometheus_client and moto[server] from PyPI; the integrity, API and AWS tests need them" >&2
# journald is "running" only if its socket accepts a datagram: a socket file left in /run by a
# journald that is gone (a restored machine image, a container) refuses connections.
journal_live() {
  python3 -c 'import socket; s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.connect("/run/systemd/journal/socket")' 2>/dev/null
}
if ! journal_live; then
  $SUDO mkdir -p /run/systemd/journal /var/log/journal
  # journald binds its sockets afresh (it unlinks stale ones); setsid keeps it out of this shell's job control.
  $SUDO setsid /lib/systemd/systemd-journald >/dev/null 2>&1 < /dev/null &
  for _ in $(seq 1 100); do journal_live && break; sleep 0.1; done
fi
if journal_live; then
  echo "setup done: build deps installed; journald running"
else
  echo "setup: journald is NOT RUNNING (its socket refuses connections); the journald tests need it: run this as root" >&2
  exit 1
fi
