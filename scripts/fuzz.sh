#!/usr/bin/env bash
# Fuzzes every parser that takes outside input with libFuzzer (swiftc -sanitize=fuzzer,address):
# the filter-pattern parser, the rule language, the record splitter, the gzip readers (zlib
# streaming and libdeflate whole-buffer, checked against each other), the access file, and the
# AWS client's XML reader (ListObjectsV2 results, error bodies) and shared credentials/config files.
#
#   scripts/fuzz.sh [SECONDS] [TARGET…]     # default: 60 s each, every target
#
# Targets are fuzz/<Target>/main.swift, built against the module sources (outside SwiftPM, so
# `swift build`/`swift test` never see them) into .build-fuzz/. Each starts from its seed corpus
# fuzz/corpus/<target>/ (new inputs go to .build-fuzz/corpus/<target>/, not into the repo). A crash
# leaves its input in .build-fuzz/crashes/<target>/ and fails the script: turn it into a regression
# test, then add the input to the seed corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(FilterPattern Rules Splitter Gzip Access S3Listing SharedConfig)
out=.build-fuzz
mkdir -p "$out/modules"
flags=(-O -g -sanitize=fuzzer,address -parse-as-library -package-name trailwatch -swift-version 6
       -enable-upcoming-feature ExistentialAny -enable-upcoming-feature MemberImportVisibility
       -I "$out/modules" -I Sources/CZlib -I Sources/CLibdeflate)

# A module of Sources/ as one object and its interface, rebuilt when a source or a module it
# imports (the modules before it in the list) is newer.
module() {
    local name=$1 obj="$out/modules/$1.o" stale=""
    shift
    [ -f "$obj" ] || stale=1
    [ -n "$stale" ] || [ -z "$(find "Sources/$name" -newer "$obj" -name '*.swift' | head -n 1)" ] || stale=1
    for d in "$@"; do [ "$out/modules/$d.o" -nt "$obj" ] && stale=1; done
    [ -n "$stale" ] || return 0
    echo "fuzz: building module $name"
    swiftc "${flags[@]}" -wmo -module-name "$name" -emit-module -emit-module-path "$out/modules/$name.swiftmodule" \
        -c -o "$obj" Sources/"$name"/*.swift
}

deps() {
    case $1 in
        FilterPattern) echo CloudTrail FilterPattern ;;
        Rules) echo CloudTrail FilterPattern AlertModel Rules ;;
        Splitter) echo CloudTrail ;;
        Gzip) echo Gzip ;;
        Access) echo Access ;;
        S3Listing | SharedConfig) echo CloudTrail AWSFormats ;;
        *) echo "fuzz: unknown target $1" >&2; exit 2 ;;
    esac
}

failed=()
for t in "${targets[@]}"; do
    objs=()
    built=()
    for m in $(deps "$t"); do
        module "$m" "${built[@]}"
        built+=("$m")
        objs+=("$out/modules/$m.o")
    done
    exe="$out/fuzz-$t"
    echo "fuzz: building $exe"
    swiftc "${flags[@]}" -use-ld=lld -module-name "Fuzz$t" fuzz/"$t"/main.swift "${objs[@]}" -lz -ldeflate -o "$exe"
    lower=$(echo "$t" | tr '[:upper:]' '[:lower:]')
    corpus="$out/corpus/$lower"
    crashes="$out/crashes/$lower"
    mkdir -p "$corpus" "$crashes"
    echo "fuzz: $t for ${seconds}s"
    # -rss_limit_mb bounds memory per input; -max_len keeps inputs around a large rule file or record.
    if ! "$exe" "$corpus" "fuzz/corpus/$lower" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 \
        -timeout=20 -artifact_prefix="$crashes/" -print_final_stats=1 2>"$out/$lower.log"; then
        failed+=("$t")
        tail -n 60 "$out/$lower.log" >&2
    else
        grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "$out/$lower.log" | sed "s/^/fuzz: $t /"
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: FAILED: ${failed[*]} (inputs in $out/crashes/)" >&2
    exit 1
fi
echo "fuzz: ${targets[*]}: no crash in ${seconds}s each"
