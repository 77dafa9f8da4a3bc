#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the Debian packages camas needs (when missing) and configures/builds a meson build
# directory.  Sourced by tools/run.sh and tools/test.sh; safe to run again: it only installs
# what is missing, configures once and rebuilds incrementally.
#
#   camas_setup_packages [extra packages...]   install what is missing (or explain and fail)
#   camas_build DIR [meson options...]         configure DIR once, then ninja -C DIR

CAMAS_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Build and test requirements, by Debian package name.
CAMAS_PACKAGES=(gcc libc6-dev pkg-config meson ninja-build
    libglib2.0-dev libjansson-dev libmsgpack-dev libblosc-dev libssl-dev openssl
    libcriterion-dev)

camas_missing_packages() {
    local p missing=()
    for p in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$p")
        fi
    done
    echo "${missing[*]}"
}

camas_setup_packages() {
    local want=("${CAMAS_PACKAGES[@]}" "$@")
    if ! command -v dpkg-query >/dev/null 2>&1; then
        echo "camas setup: this is not a Debian system; install the equivalents of:" >&2
        echo "  ${want[*]}" >&2
        return 1
    fi
    local missing
    missing=$(camas_missing_packages "${want[@]}")
    [ -z "$missing" ] && return 0
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            echo "camas setup: missing Debian packages and no root rights to install them." >&2
            echo "  run: sudo apt-get install -y $missing" >&2
            return 1
        fi
    fi
    echo "camas setup: installing $missing" >&2
    # shellcheck disable=SC2086
    if ! { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
           "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
               --no-install-recommends $missing; } >&2; then
        echo "camas setup: apt-get failed; install these packages by hand: $missing" >&2
        return 1
    fi
    missing=$(camas_missing_packages "${want[@]}")
    if [ -n "$missing" ]; then
        echo "camas setup: still missing after apt-get: $missing" >&2
        return 1
    fi
}

camas_build() {
    local dir=$1
    shift
    if [ ! -f "$CAMAS_TOP/$dir/build.ninja" ]; then
        (cd "$CAMAS_TOP" && meson setup "$dir" "$@") >&2 || return 1
    fi
    ninja -C "$CAMAS_TOP/$dir" >&2 || return 1
}
