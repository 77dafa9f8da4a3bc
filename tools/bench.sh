#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds camas in release mode and runs camas-bench: one JSON line per benchmark (the median of
# --runs samples, with min and max).  Floors (`*.floor`) run in the same invocation.
#   tools/bench.sh                       every benchmark
#   tools/bench.sh 'codec.*' --runs 9    a subset, more samples
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
camas_setup_packages
camas_build build-release --buildtype=release -Dtests=false
exec "$CAMAS_TOP/build-release/tools/camas-bench" "$@"
