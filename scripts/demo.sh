#!/usr/bin/env bash
# Demo: build trailwatch, generate a bucket that keeps receiving files, watch it, query it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-debian.sh >/dev/null || echo "note: setup reported a problem (above); the demo itself needs no journald" >&2
swift build -c release --product trailwatch 2>&1 | tail -1
TW=.build/release/trailwatch
DEMO=${DEMO_DIR:-demo}
rm -rf "$DEMO"; mkdir -p "$DEMO/demo-bucket"

echo "== simulate: 3 accounts x 2 regions, 2 hours of history, then a new 5-minute window every 5 s"
$TW simulate --out "$DEMO/demo-bucket" --hours 2 --follow --speed 60 > "$DEMO/simulate.log" &
SIM=$!
echo "== run: trailwatch watching the bucket (its own logs in $DEMO/trailwatch.log)"
$TW run --logs "$DEMO/demo-bucket" --state "$DEMO/state" --rules rules --alerts "jsonl:$DEMO/alerts.jsonl" \
    --log-to stderr 2> "$DEMO/trailwatch.log" > "$DEMO/summary.txt" &
RUN=$!
trap 'kill $SIM 2>/dev/null; kill -TERM $RUN 2>/dev/null; wait $RUN 2>/dev/null || true' EXIT
until grep -q ready "$DEMO/trailwatch.log" 2>/dev/null; do sleep 0.2; done
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
kill $SIM; kill -TERM $RUN; wait $RUN || true
trap - EXIT
echo; echo "== trailwatch stopped on SIGTERM:"; cat "$DEMO/summary.txt"
echo; echo "== alerts from the shipped rules (JSON lines in $DEMO/alerts.jsonl; journald by default), first 3:"
head -3 "$DEMO/alerts.jsonl" 2>/dev/null | cut -c1-220 || true
echo "Query it again with: $TW logs filter --state $DEMO/state --group $GROUP --pattern '{ \$.readOnly IS FALSE }'"
