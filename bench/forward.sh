#!/usr/bin/env bash
# Forwarding throughput against moto (CloudWatch Logs in moto's server mode), with ingest of the same
# bucket as the baseline in the same run: a simulated bucket is ingested with store = local (timed),
# then the same state is forwarded by `run --once --store cloudwatch` (nothing new to ingest: the
# run's time is the forwarding of every stored event). Prints events/s of each and their ratio.
# Usage: bench/forward.sh [accounts] [regions] [hours] [rate]   (release build: swift build -c release)
# Needs moto[server] (scripts/setup-debian.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
ACCOUNTS=${1:-4}; REGIONS=${2:-us-east-1,eu-west-1}; HOURS=${3:-2}; RATE=${4:-120}
BIN=${TRAILWATCH:-.build/release/trailwatch}
WORK=$(mktemp -d); trap 'kill $MOTO 2>/dev/null || true; rm -rf "$WORK"' EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m moto.server -H 127.0.0.1 -p "$PORT" >"$WORK/moto.log" 2>&1 & MOTO=$!
for _ in $(seq 100); do python3 -c "import socket; socket.create_connection(('127.0.0.1',$PORT))" 2>/dev/null && break; sleep 0.1; done
START=$(date -u -d "-$((HOURS + 1)) hours" +%Y-%m-%dT%H:00:00Z)
"$BIN" simulate --out "$WORK/b" --accounts "$ACCOUNTS" --regions "$REGIONS" --hours "$HOURS" --rate "$RATE" --no-digests --start "$START" >/dev/null
t0=$(date +%s.%N)
"$BIN" run --once --logs "$WORK/b" --state "$WORK/s" >"$WORK/ingest.txt"
t1=$(date +%s.%N)
AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x AWS_REGION=us-east-1 \
  "$BIN" run --once --logs "$WORK/b" --state "$WORK/s" --store cloudwatch --aws-endpoint-url "http://127.0.0.1:$PORT" >"$WORK/forward.txt"
t2=$(date +%s.%N)
EVENTS=$(grep -o 'Forwarded [0-9]*' "$WORK/forward.txt" | grep -o '[0-9]*')
BATCHES=$(grep -o 'in [0-9]* batches' "$WORK/forward.txt" | grep -o '[0-9]*')
python3 - "$EVENTS" "$BATCHES" "$t0" "$t1" "$t2" <<'PY'
import sys
events, batches, t0, t1, t2 = int(sys.argv[1]), int(sys.argv[2]), *map(float, sys.argv[3:])
ingest, forward = events / (t1 - t0), events / (t2 - t1)
print(f"forward bench: {events} events in {batches} PutLogEvents calls; ingest (store=local) {ingest:,.0f} events/s "
      f"({t1-t0:.1f} s); forward to moto {forward:,.0f} events/s ({t2-t1:.1f} s); forward/ingest = {forward/ingest:.2f}")
PY
