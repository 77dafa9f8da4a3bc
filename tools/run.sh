#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The main job: installs what is missing, builds camas (release) and runs it.
#   tools/run.sh                 run the default scenario
#   tools/run.sh ARGS...         run `camas ARGS...` (e.g. `tools/run.sh wire decode --codec json F`)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
camas_setup_packages
camas_build build-release --buildtype=release -Dtests=false
camas="$CAMAS_TOP/build-release/tools/camas"
if [ $# -gt 0 ]; then
    exec "$camas" "$@"
fi
if "$camas" run --help >/dev/null 2>&1; then
    exec "$camas" run "$CAMAS_TOP/scenarios/default.json"
fi
echo "tools/run.sh: the scenario runner (\`camas run\`) is not built yet; camas offers:" >&2
exec "$camas" --help
