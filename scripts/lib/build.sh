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

# private_install DIR: a private copy of the server whose $libdir and share
# directory lie under DIR, with this checkout's seg_reco installed there:
# the postgres executable is copied (PostgreSQL finds $libdir and its share
# directory relative to its own path), every other file of the system's
# installation is a symbolic link to it.  A server started from
# $PRIVATE_POSTGRES (pg_ctl -p; see POSTGRES_BIN in cluster.sh) loads this
# build whatever another `make install` puts into the system meanwhile, and
# nothing is written outside DIR.  Used by scripts/test.sh --valgrind and
# bench/fuzz.sh.
PRIVATE_POSTGRES=
private_install() {
    local dir=$1 bindir libdir sharedir f log=$STATE/private_build.log
    bindir=$("$PG_CONFIG" --bindir)
    libdir=$("$PG_CONFIG" --pkglibdir)
    sharedir=$("$PG_CONFIG" --sharedir)
    mkdir -p "$STATE"
    rm -rf "$dir"
    mkdir -p "$dir$bindir" "$dir$libdir/bitcode" "$dir$sharedir/extension"
    cp "$bindir/postgres" "$dir$bindir/postgres"
    # links to everything but seg_reco's files, one level down in the two
    # directories make install writes into
    for f in "$libdir"/* "$libdir"/bitcode/* "$sharedir"/* "$sharedir"/extension/*; do
        case $f in
            "$libdir/bitcode" | "$sharedir/extension") continue ;;
            */seg_reco*) continue ;;
        esac
        ln -s "$f" "$dir$f"
    done
    local args=(-C "$ROOT" -s PG_CONFIG="$PG_CONFIG")
    _is_ci && args+=(WERROR=1)
    if ! make "${args[@]}" -j"$(nproc)" >"$log" 2>&1 || ! make "${args[@]}" DESTDIR="$dir" install >>"$log" 2>&1; then
        show_tail "$log" 40
        die "the build or the private install failed"
    fi
    chmod -R a+rX "$dir"
    # shellcheck disable=SC2034  # read by the callers
    PRIVATE_POSTGRES=$dir$bindir/postgres
    say "    this checkout's seg_reco in a private server tree: $dir"
}
