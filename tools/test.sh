#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The whole test suite, as CI runs it: installs what is missing, then
#   1. builds and runs every criterion suite (build/), then `camas check` on every scenario
#      file (scenarios/*.json, one test each),
#   2. the same under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/),
#   2b. `camas check` with a release build of the tool (build-release-tool/): the expected
#      fingerprints hold for debug, sanitizer and optimized code alike,
#   3. a short libFuzzer run of every decoder, plus the committed regression inputs
#      (build-fuzz/, clang),
# and ends with one line "N passed, M failed" totalling every test and fuzz run.
#   CAMAS_FUZZ_SECONDS   seconds per fuzz target (default 15; 0 skips fuzzing)
#   CAMAS_SKIP_ASAN=1    skip stage 2 (local iteration only; CI runs everything)
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
# locales: the determinism tests compile a comma-decimal locale with localedef
camas_setup_packages clang libclang-rt-14-dev locales || exit 2

fuzz_seconds=${CAMAS_FUZZ_SECONDS:-15}
passed=0
failed=0
failures=()

# Runs `meson test` in DIR and adds its TAP results to the totals.  An executable that dies
# before printing TAP counts as one failure.
run_meson_tests() {
    local dir=$1 label=$2
    shift 2
    echo "== $label: tests" >&2
    (cd "$CAMAS_TOP" && "$@" meson test -C "$dir" --print-errorlogs -q) >&2
    local log="$CAMAS_TOP/$dir/meson-logs/testlog.txt"
    local ok notok exefail
    # criterion reports skipped tests as "ok ... # SKIP": they are not passes
    ok=$(grep '^ok ' "$log" | grep -vc '# SKIP' || true)
    notok=$(grep -c '^not ok ' "$log" || true)
    exefail=$(grep -cE '^ *[0-9]+/[0-9]+ .*(FAIL|TIMEOUT|ERROR) ' "$CAMAS_TOP/$dir/meson-logs/testlog.txt" || true)
    # A failing executable already reports its failing cases as "not ok"; count it once more
    # only when it printed none (crash, timeout, leak report at exit).
    local extra=0
    if [ "$exefail" -gt 0 ] && [ "$notok" -eq 0 ]; then extra=$exefail; fi
    passed=$((passed + ok))
    failed=$((failed + notok + extra))
    echo "   $label: $ok passed, $((notok + extra)) failed" >&2
    if [ $((notok + extra)) -gt 0 ]; then failures+=("$label"); fi
}

# Runs `camas check` from DIR on every scenario file but the named ones, counting each file
# as one test.
run_scenario_checks() {
    local dir=$1 ok=0 bad=0 f
    shift
    echo "== scenarios ($dir): camas check" >&2
    for f in "$CAMAS_TOP"/scenarios/*.json; do
        case " $* " in *" ${f##*/} "*) continue ;; esac
        if (cd "$CAMAS_TOP" && "$dir/tools/camas" check "scenarios/${f##*/}") >&2; then
            ok=$((ok + 1))
        else
            bad=$((bad + 1))
            failures+=("scenario ${f##*/} ($dir)")
        fi
    done
    passed=$((passed + ok))
    failed=$((failed + bad))
    echo "   scenarios ($dir): $ok passed, $bad failed" >&2
}

build_stage() {
    local dir=$1 label=$2
    shift 2
    if ! camas_build "$dir" "$@"; then
        echo "== $label: BUILD FAILED" >&2
        failed=$((failed + 1))
        failures+=("$label build")
        return 1
    fi
}

# 1. The normal build.
if build_stage build "debug build"; then
    run_meson_tests build "debug build" env
    run_scenario_checks build
fi

# 2. Sanitizers.
if [ "${CAMAS_SKIP_ASAN:-0}" != 1 ]; then
    if build_stage build-asan "asan+ubsan build" -Db_sanitize=address,undefined -Db_lundef=false; then
        run_meson_tests build-asan "asan+ubsan build" env \
            ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0 \
            UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
        # ASan must report an overflow inside a coroutine stack (see tests/meson.build).
        if ASAN_OPTIONS=detect_leaks=1:detect_stack_use_after_return=0 \
                "$CAMAS_TOP/build-asan/tests/test_coro" --tap --jobs=1 \
                --filter 'coro/asan_catches*' 2>/dev/null | grep -q '^ok - coro::asan_catches'; then
            passed=$((passed + 1))
        else
            failed=$((failed + 1))
            failures+=("asan coroutine overflow check")
        fi
        # bench-100k's 1.9 M events take half a minute under ASan; stages 1 and 2b check it.
        run_scenario_checks build-asan bench-100k.json
    fi
fi

# 2b. Optimized code must produce the same traces.
if build_stage build-release-tool "release build" --buildtype=release -Dtests=false; then
    run_scenario_checks build-release-tool
fi

# 3. Fuzzing: every target for a short fixed time, then its regression inputs.
if [ "$fuzz_seconds" != 0 ]; then
    if CC=clang build_stage build-fuzz "fuzz build" -Dfuzz=true -Dtests=false \
            -Db_sanitize=address,undefined -Db_lundef=false; then
        for exe in "$CAMAS_TOP"/build-fuzz/tests/fuzz_*; do
            [ -f "$exe" ] && [ -x "$exe" ] || continue
            name=${exe##*/fuzz_}
            seeds="$CAMAS_TOP/tests/fuzz/corpus/$name"
            work=$(mktemp -d)
            [ -d "$seeds" ] && cp -r "$seeds"/. "$work"/
            echo "== fuzz $name (${fuzz_seconds}s)" >&2
            # UBSan only prints by default: halting makes undefined behaviour a finding
            if UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
                    "$exe" -max_total_time="$fuzz_seconds" -seed=1 -max_len=4096 -timeout=10 \
                    -rss_limit_mb=2048 -print_final_stats=0 -artifact_prefix="$work/" \
                    "$work" >"$work.log" 2>&1; then
                passed=$((passed + 1))
            else
                failed=$((failed + 1))
                failures+=("fuzz $name")
                tail -40 "$work.log" >&2
                echo "fuzz $name: crashing input(s) left in $work (commit them under" \
                     "tests/fuzz/regressions/$name/)" >&2
            fi
            regress="$CAMAS_TOP/tests/fuzz/regressions/$name"
            if [ -d "$regress" ] && [ -n "$(ls -A "$regress")" ]; then
                if UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
                        "$exe" "$regress"/* >"$work.regress.log" 2>&1; then
                    passed=$((passed + 1))
                else
                    failed=$((failed + 1))
                    failures+=("fuzz $name regressions")
                    tail -40 "$work.regress.log" >&2
                fi
            fi
            rm -f "$work.log" "$work.regress.log"
            case " ${failures[*]} " in
                *" fuzz $name "*) ;;
                *) rm -rf "$work" ;;
            esac
        done
    fi
fi

if [ ${#failures[@]} -gt 0 ]; then
    echo "failing: ${failures[*]}" >&2
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
