#!/usr/bin/env bash
# Demo: build trailwatch, generate a bucket that keeps receiving files, watch it (rules and digest
# checks), query it, then show the alerts, `status` and `verify` as an on-call would read them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-debian.sh >/dev/null || echo "note: setup reported a problem (above); the demo itself needs no journald" >&2

echo "== build: swift build -c release (the first build fetches the dependencies and compiles ~960 files: about 15 minutes on 2 cores; later builds take seconds)"
started=$SECONDS
# Progress: one line per 10 % of the build steps; fetches, warnings and errors in full.
swift build -c release --product trailwatch 2>&1 | awk '
  /^\[[0-9]+\/[0-9]+\]/ {
    split(substr($1, 2), n, "/"); tens = int(10 * n[1] / n[2])
    # A line per 10 %; a step far back is a new phase (plugins first, then the product).
    if (tens > last || tens < last - 2) { printf "   %3d %% (%s) %s\n", 10 * tens, substr($1, 2, length($1) - 2), $2 " " $3; fflush(); last = tens }
    next
  }
  /^(Fetching|Cloning|Computing|Resolving|Creating|Working copy|Building for)/ { print "   " $0; fflush(); next }
  /error|warning|Build complete/ { print "   " $0; fflush() }'
echo "   built in $((SECONDS - started)) s: .build/release/trailwatch"
TW=.build/release/trailwatch
DEMO=${DEMO_DIR:-demo}
rm -rf "$DEMO"; mkdir -p "$DEMO/demo-bucket"
KEYS="$DEMO/demo-bucket/public-keys.json"

journal_live() {
  python3 -c 'import socket; s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.connect("/run/systemd/journal/socket")' 2>/dev/null
}
SINKS=(--alerts "jsonl:$DEMO/alerts.jsonl")
if journal_live; then SINKS+=(--alerts journal); fi

echo; echo "== simulate: 3 accounts x 2 regions, 2 hours of history with signed hourly digests, then a new 5-minute window every 5 s"
$TW simulate --out "$DEMO/demo-bucket" --hours 2 --follow --speed 60 > "$DEMO/simulate.log" &
SIM=$!
# The public keys are written once the history's digests are: the digest checks need them at start.
until [ -s "$KEYS" ]; do sleep 0.2; done; sleep 0.5
echo "== run: trailwatch watching the bucket with the shipped rules and digest checks (its own logs in $DEMO/trailwatch.log)"
$TW run --logs "$DEMO/demo-bucket" --state "$DEMO/state" --rules rules --keys "$KEYS" "${SINKS[@]}" \
    --log-to stderr 2> "$DEMO/trailwatch.log" > "$DEMO/summary.txt" &
RUN=$!
trap 'kill $SIM 2>/dev/null; kill -TERM $RUN 2>/dev/null; wait $RUN 2>/dev/null || true' EXIT
until grep -q ready "$DEMO/trailwatch.log" 2>/dev/null; do sleep 0.2; done
grep -E "loaded [0-9]+ rules|ready" "$DEMO/trailwatch.log" | sed 's/^/   /' | cut -c1-200
sleep 1
echo; echo "== logs groups"; $TW logs groups --state "$DEMO/state" --output text
GROUP=$($TW logs groups --state "$DEMO/state" --output text | head -1 | cut -f1)
echo; echo "== logs streams --group $GROUP"; $TW logs streams --state "$DEMO/state" --group "$GROUP" --output text
echo; echo "== logs filter: console sign-ins in $GROUP (first 3)"
$TW logs filter --state "$DEMO/state" --group "$GROUP" --pattern '{ $.eventName = "ConsoleLogin" }' --output text | head -3 | cut -c1-160 || true
for i in 1 2 3; do
  sleep 5
  n=$($TW logs filter --state "$DEMO/state" --group "$GROUP" --output text | wc -l)
  echo "== $(date +%T) events stored in $GROUP: $n (new files keep landing)"
done
kill $SIM; wait $SIM 2>/dev/null || true
sleep 1
kill -TERM $RUN; wait $RUN || true
trap - EXIT
echo; echo "== trailwatch stopped on SIGTERM:"; cat "$DEMO/summary.txt"

echo; echo "== alerts from the shipped rules: $(wc -l < "$DEMO/alerts.jsonl" 2>/dev/null || echo 0) in all; by rule:"
python3 - "$DEMO/alerts.jsonl" <<'EOF' || head -3 "$DEMO/alerts.jsonl" | cut -c1-220
import collections, json, sys
alerts = [json.loads(line) for line in open(sys.argv[1])] if len(sys.argv) > 1 else []
by_rule = collections.Counter((a["rule"], a["severity"]) for a in alerts)
for (rule, severity), n in sorted(by_rule.items(), key=lambda kv: -kv[1]):
    print(f"   {n:6d}  {severity:<8} {rule}")
print("== one of each rule, as an on-call reads it (time, severity, rule, account/region, message):")
seen = set()
for a in alerts:
    if a["rule"] in seen:
        continue
    seen.add(a["rule"])
    print(f'   {a["event_time"]}  {a["severity"].upper():<8} {a["rule"]:<28} {a["account"]}/{a["region"]}  {a["message"]}'[:220])
EOF
if journal_live; then
  echo "== the same alerts in journald (priority by severity; journalctl -x explains each rule once the catalog is installed):"
  echo "   \$ journalctl -t trailwatch _PID=$RUN -n 3 --no-pager"
  journalctl -t trailwatch "_PID=$RUN" -n 3 --no-pager -o short-iso 2>/dev/null | sed 's/^/   /' | cut -c1-220 || true
else
  echo "   (journald is not running here; with it, each alert is also one entry in: journalctl -t trailwatch)"
fi

echo; echo "== status: events per account and region, and the digests verified while running"
$TW status --state "$DEMO/state" | expand -t 14,28,38,62,69,78
echo; echo "== verify: every digest (signature, chain) and every log file's hash, offline, as aws cloudtrail validate-logs"
echo "   \$ $TW verify --logs $DEMO/demo-bucket --keys $KEYS"
$TW verify --logs "$DEMO/demo-bucket" --keys "$KEYS" > "$DEMO/verify.txt" 2>&1 && echo "   exit 0: nothing invalid" || echo "   exit $?: see $DEMO/verify.txt"
sed -n '/^Results/,$p' "$DEMO/verify.txt" | sed 's/^/   /'
echo
echo "Query it again with: $TW logs filter --state $DEMO/state --group $GROUP --pattern '{ \$.readOnly IS FALSE }'"
