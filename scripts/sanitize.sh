#!/usr/bin/env bash
# Runs the test suite under a sanitizer, in its own scratch path (a full rebuild):
#
#   scripts/sanitize.sh address [swift test options…]    # AddressSanitizer, .build-asan/
#   scripts/sanitize.sh thread  [swift test options…]    # ThreadSanitizer,  .build-tsan/
#
# Extra options go to `swift test` (e.g. --filter RulesTests). Exits non-zero when a test fails or
# the sanitizer reports anything.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
kind="${1:?usage: scripts/sanitize.sh address|thread [swift test options…]}"
shift
case "$kind" in
    address) scratch=.build-asan ;;
    thread) scratch=.build-tsan ;;
    *) echo "sanitize: address or thread, not '$kind'" >&2; exit 2 ;;
esac
mkdir -p "$scratch"
log="$scratch/sanitize.log"
# Reports go to the log; halt_on_error keeps the first report readable. Child processes (the
# trailwatch binary the end-to-end tests run) inherit the options.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:halt_on_error=1}"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"
status=0
swift test --scratch-path "$scratch" --sanitize="$kind" "$@" 2>&1 | tee "$log" || status=$?
if grep -qE "^(==[0-9]+==ERROR: AddressSanitizer|WARNING: ThreadSanitizer|SUMMARY: (Address|Thread)Sanitizer)" "$log"; then
    echo "sanitize: $kind sanitizer reports in $log" >&2
    status=1
fi
exit "$status"
