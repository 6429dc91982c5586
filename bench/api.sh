#!/usr/bin/env bash
# The CloudWatch Logs API (`trailwatch serve`'s LogsServer, in the test process with the test-only
# authenticator) against `trailwatch logs get|filter` over the same store, in the same run: boto3
# paging a stream of about 10,600 events (GetLogEvents both ways, ~1 MB pages) and a whole group
# (FilterLogEvents), against the CLI printing the same events. Prints three rounds of ratios.
# Debug build (what `swift test` builds); needs boto3 (scripts/setup-debian.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
TRAILWATCH_BENCH=1 swift test --filter 'LogsAPIE2ETests/benchmarkAgainstTheCLI' 2>&1 | grep -E 'api bench:|passed|failed'
