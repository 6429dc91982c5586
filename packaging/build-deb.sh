#!/usr/bin/env bash
# Builds trailwatch_<version>_<arch>.deb: the binary, the systemd unit, the config (a conffile),
# the shipped rules, the journald message catalog and the docs.
# Usage: packaging/build-deb.sh [BINARY] [OUTDIR]
#   BINARY defaults to a release build with the Swift runtime linked in (--static-swift-stdlib),
#   so the package needs only libc, libsystemd, zlib and libsqlite3 on the host.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-}
OUT=${2:-.build/deb}
if [ -z "$BIN" ]; then
  swift build -c release --product trailwatch --static-swift-stdlib
  BIN=.build/release/trailwatch
fi
VERSION=$("$BIN" --version)
ARCH=$(dpkg --print-architecture)
ROOT=$(mktemp -d)
trap 'rm -rf "$ROOT"' EXIT
install -D -m 755 "$BIN" "$ROOT/usr/bin/trailwatch"
strip --strip-unneeded "$ROOT/usr/bin/trailwatch" 2>/dev/null || true
install -D -m 644 systemd/trailwatch.service "$ROOT/lib/systemd/system/trailwatch.service"
install -D -m 640 packaging/trailwatch.conf "$ROOT/etc/trailwatch/trailwatch.conf"
install -d -m 755 "$ROOT/etc/trailwatch/rules.d"
cat > "$ROOT/etc/trailwatch/rules.d/README" <<'TXT'
Your own rules (*.rules) and lists (*.list) go here; a list here replaces the shipped one of the same
name (copy /usr/share/trailwatch/rules/known-networks.list here and put your networks in it).
Check with `trailwatch rules check /usr/share/trailwatch/rules /etc/trailwatch/rules.d`, then
`systemctl reload trailwatch`. Reference: /usr/share/doc/trailwatch/rules.md
TXT
install -d "$ROOT/usr/share/trailwatch/rules/fixtures"
install -m 644 rules/*.rules rules/*.list "$ROOT/usr/share/trailwatch/rules/"
install -m 644 rules/fixtures/* "$ROOT/usr/share/trailwatch/rules/fixtures/"
install -d "$ROOT/usr/lib/systemd/catalog"
"$BIN" rules catalog rules > "$ROOT/usr/lib/systemd/catalog/trailwatch.catalog"
install -d "$ROOT/usr/share/doc/trailwatch"
install -m 644 README.md docs/*.md "$ROOT/usr/share/doc/trailwatch/"
install -d "$ROOT/DEBIAN"
cat > "$ROOT/DEBIAN/control" <<CTL
Package: trailwatch
Version: $VERSION
Architecture: $ARCH
Maintainer: trailwatch developers <trailwatch@localhost>
Depends: libc6, libsystemd0, zlib1g, libsqlite3-0, libstdc++6, libgcc-s1
Section: admin
Priority: optional
Description: watch a mirrored AWS CloudTrail bucket
 Takes every delivered CloudTrail log file exactly once into a CloudWatch-Logs-style store,
 evaluates plain-text rules on event time, alerts through journald, and checks CloudTrail's
 signed digests on the mirror, offline.
CTL
echo /etc/trailwatch/trailwatch.conf > "$ROOT/DEBIAN/conffiles"
cat > "$ROOT/DEBIAN/postinst" <<'SH'
#!/bin/sh
set -e
journalctl --update-catalog 2>/dev/null || true
systemctl daemon-reload 2>/dev/null || true
SH
cat > "$ROOT/DEBIAN/postrm" <<'SH'
#!/bin/sh
set -e
journalctl --update-catalog 2>/dev/null || true
systemctl daemon-reload 2>/dev/null || true
SH
chmod 755 "$ROOT/DEBIAN/postinst" "$ROOT/DEBIAN/postrm"
mkdir -p "$OUT"
dpkg-deb --root-owner-group --build "$ROOT" "$OUT/trailwatch_${VERSION}_${ARCH}.deb" >/dev/null
echo "$OUT/trailwatch_${VERSION}_${ARCH}.deb"
