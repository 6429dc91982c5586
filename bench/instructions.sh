#!/bin/sh
# Instructions per event of `trailwatch run --once`, counted by valgrind's callgrind (every thread,
# the kernel excluded), on a fixed small corpus: figures that do not move with machine load, unlike
# the wall-clock ratios of bench/bench.py. Prints, per event, the instructions of
#   gzip -dc over the same files (the baseline bench.py times),
#   (a) ingest alone (no rules), and
#   (b) the whole pipeline with every shipped rule and alerts to a JSON-lines file,
# each less the same command over an empty mirror (start-up: runtime, rules, store opening).
#
# Usage: bench/instructions.sh [WORK_DIR]   (default /tmp/trailwatch-instructions)
#        TRAILWATCH_BIN=/path/to/trailwatch bench/instructions.sh DIR   counts another build (e.g. of main)
# Needs valgrind, objcopy and cc (binutils, a C compiler) and a release build (`swift build -c release`). The corpus is `trailwatch simulate`
# with a fixed seed: 3 accounts x 2 regions x 1 hour at 120 events/min (72 files, ~43,000 events).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${TRAILWATCH_BIN:-"$root/.build/release/trailwatch"}
work=${1:-/tmp/trailwatch-instructions}
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
[ -x "$bin" ] || (cd "$root" && swift build -c release --product trailwatch)
mkdir -p "$work" "$work/no-rules"
# valgrind 3.19 gives up on the Swift build's DWARF ("possibly corrupted debuginfo"): count a copy
# without it (same code).
objcopy --strip-debug "$bin" "$work/trailwatch"
bin="$work/trailwatch"
# valgrind 3.19 also dies (SIGSEGV, "the 'impossible' happened") when the main thread, parked by
# dispatch_main, calls sigsuspend with a mask in read-only memory (it writes to the mask): this
# preloaded sigsuspend passes a copy on the stack.
cat > "$work/sigsuspend.c" <<'C'
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>
int sigsuspend(const sigset_t *mask) {
    sigset_t copy = *mask;
    return (int)syscall(SYS_rt_sigsuspend, &copy, _NSIG / 8);
}
C
cc -shared -fPIC -O2 -o "$work/sigsuspend.so" "$work/sigsuspend.c"
bucket="$work/bucket"
if [ ! -d "$bucket/AWSLogs" ]; then
    "$bin" simulate --out "$bucket" --accounts 3 --regions us-east-1,eu-west-1 --hours 1 --rate 120 --seed 7 >/dev/null
fi
empty="$work/empty"
mkdir -p "$empty/AWSLogs"
find "$bucket" -name '*_CloudTrail_*.json.gz' ! -name '.*' | sort > "$work/files"

# Instructions of one command under callgrind (its log's "Collected" line).
count() {
    rm -f "$work/cg.out"
    valgrind --tool=callgrind --smc-check=all --callgrind-out-file="$work/cg.out" --log-file="$work/cg.log" "$@" >/dev/null 2>&1 \
        || { echo "failed under valgrind: $* (see $work/cg.log)" >&2; exit 1; }
    sed -n 's/.*Collected : *\([0-9]*\).*/\1/p' "$work/cg.log"
}

run() {  # run STATE_NAME LOGS [ARGS...]
    name=$1
    logs=$2
    shift 2
    rm -rf "${work:?}/$name" "$work/alerts.jsonl"
    LD_PRELOAD="$work/sigsuspend.so" count "$bin" run --once --logs "$logs" --state "$work/$name" "$@"
}

events=$("$bin" run --once --logs "$bucket" --state "$work/probe" --rules "$work/no-rules" 2>/dev/null | sed -n 's/.*(\([0-9]*\) records.*/\1/p')
rm -rf "${work:?}/probe"
rules="--rules $root/rules --alerts jsonl:$work/alerts.jsonl"

printf '' | gzip > "$work/nothing.gz"
# shellcheck disable=SC2046
gz=$(count gzip -dc $(cat "$work/files"))
gz0=$(count gzip -dc "$work/nothing.gz")
# Ingest alone: an empty rule directory (without --rules, run finds the checkout's rules).
a=$(run state-a "$bucket" --rules "$work/no-rules")
a0=$(run state-a0 "$empty" --rules "$work/no-rules")
# shellcheck disable=SC2086
b=$(run state-b "$bucket" $rules)
# shellcheck disable=SC2086
b0=$(run state-b0 "$empty" $rules)

echo "corpus: $(wc -l < "$work/files") files, $events records ($bucket)"
awk -v e="$events" -v gz="$gz" -v gz0="$gz0" -v a="$a" -v a0="$a0" -v b="$b" -v b0="$b0" 'BEGIN {
    g = (gz - gz0) / e; x = (a - a0) / e; y = (b - b0) / e
    printf "instructions per event (callgrind, all threads, start-up subtracted):\n"
    printf "  gzip -dc                                   %7.0f\n", g
    printf "  (a) trailwatch, ingest alone               %7.0f  (%.2fx gzip -dc)\n", x, x / g
    printf "  (b) trailwatch, all shipped rules + jsonl  %7.0f  (%.2fx gzip -dc)\n", y, y / g
    printf "start-up (empty mirror): %.1f M instructions without rules, %.1f M with\n", a0 / 1e6, b0 / 1e6
}'
