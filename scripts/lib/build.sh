# shellcheck shell=bash
# Debian packages the scripts need, and the build of the extension.
# Sourced through scripts/lib.sh, never run.

ensure_packages() {
    local p missing=()
    for p in "${PACKAGES[@]}"; do
        if [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true) != "install ok installed" ]]; then
            missing+=("$p")
        fi
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        say "    all packages present"
        return 0
    fi
    if ! is_root; then
        printf 'error: missing Debian packages: %s\n' "${missing[*]}" >&2
        printf 'Install them as root (or run this script as root):\n' >&2
        printf '    apt-get update && apt-get install -y %s\n' "${missing[*]}" >&2
        exit 1
    fi
    mkdir -p "$STATE"
    local log=$STATE/apt.log
    : >"$log"
    say "    installing: ${missing[*]} (log: $log)"
    local apt=(apt-get -y -q -o DPkg::Lock::Timeout=300
               -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
    if ! DEBIAN_FRONTEND=noninteractive "${apt[@]}" update >>"$log" 2>&1; then
        show_tail "$log" 30
        die "apt-get update failed"
    fi
    if ! DEBIAN_FRONTEND=noninteractive "${apt[@]}" install --no-install-recommends \
            "${missing[@]}" >>"$log" 2>&1; then
        show_tail "$log" 40
        die "apt-get install failed"
    fi
}

_is_ci() { [[ ${CI:-} == true || ${CI:-} == 1 ]]; }

build_install() {
    mkdir -p "$STATE"
    local log=$STATE/build.log
    local args=(-C "$ROOT" -s PG_CONFIG="$PG_CONFIG")
    _is_ci && args+=(WERROR=1)
    # the Makefile rebuilds what a changed source or header touches; a clean
    # build only on --rebuild
    if [[ $REBUILD -ne 0 ]]; then
        say "    clean build"
        make "${args[@]}" clean >"$log" 2>&1
    fi
    if ! make "${args[@]}" -j"$(nproc)" >"$log" 2>&1; then
        printf 'error: build failed (make%s). Compiler output:\n' "$(_is_ci && printf ' WERROR=1')" >&2
        if [[ $(wc -l <"$log") -le 200 ]]; then
            cat "$log" >&2
        else
            grep -E -A3 'error|warning' "$log" | head -n 150 >&2 || true
            show_tail "$log" 40
        fi
        exit 1
    fi
    if grep -q 'warning:' "$log"; then
        say "    compiler warnings:"
        grep -E -A3 'warning:' "$log" | head -n 60 | sed 's/^/    /'
    fi
    if ! make "${args[@]}" install >>"$log" 2>&1; then
        show_tail "$log" 30
        is_root || say "    (make install writes into $("$PG_CONFIG" --sharedir) and $("$PG_CONFIG" --pkglibdir); run as root)"
        die "make install failed"
    fi
}

# ---------------------------------------------------------------------------
# cluster
