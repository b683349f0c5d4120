# shellcheck shell=bash
# Shared helpers for scripts/demo.sh, scripts/test.sh and scripts/cluster.sh.
# Sourced, never run.  The caller sets `set -euo pipefail` first.
#
# Environment:
#   SEG_RECO_PGPORT   port of the throwaway cluster (default 54315; socket only)
#   CI=true           build with WERROR=1

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PGBIN=/usr/lib/postgresql/15/bin
PG_CONFIG=$PGBIN/pg_config
PORT=${SEG_RECO_PGPORT:-54315}
STATE=$ROOT/.seg_reco_state
DB=seg_reco
# data and socket directories: decided by resolve_dirs
DATADIR=
SOCKDIR=
FALLBACK=/var/tmp/seg_reco-$(printf '%s' "$ROOT" | sha256sum | cut -c1-10)

PACKAGES=(postgresql-15 postgresql-server-dev-15 libopenblas-dev postgresql-15-pgtap
          libtap-parser-sourcehandler-pgtap-perl postgresql-15-cron build-essential)

EXT_RECREATED=0      # set to 1 by ensure_db when seg_reco was (re)created
REBUILD=0            # demo.sh --rebuild sets 1: clean build, new extension, new data

# ---------------------------------------------------------------------------
# messages, steps, timings
# ---------------------------------------------------------------------------

STEP_NAMES=()
STEP_SECS=()
CURRENT_STEP=
STEP_T0=

say()  { printf '%s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die()  { printf 'error: %s\n' "$*" >&2; exit 1; }

# elapsed seconds (one decimal) since $1 (an $EPOCHREALTIME value)
_elapsed() {
    local t0=${1/,/.} t1=${EPOCHREALTIME/,/.}
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }'
}

# step NAME cmd...: run cmd (errexit stays in force inside it), print and
# record its wall time.  A failure ends the script through the EXIT trap.
# Never call step inside `if`, `||` or `&&`: that would switch errexit off.
step() {
    local name=$1; shift
    CURRENT_STEP=$name
    STEP_T0=$EPOCHREALTIME
    printf '==> %s\n' "$name"
    "$@"
    local secs
    secs=$(_elapsed "$STEP_T0")
    STEP_NAMES+=("$name")
    STEP_SECS+=("$secs")
    CURRENT_STEP=
    printf '    done in %ss\n' "$secs"
}

print_timings() {
    local i total=0
    printf '\n%-32s %10s\n' "step" "seconds"
    printf '%-32s %10s\n' "--------------------------------" "----------"
    for i in "${!STEP_NAMES[@]}"; do
        printf '%-32s %10s\n' "${STEP_NAMES[$i]}" "${STEP_SECS[$i]}"
        total=$(awk -v a="$total" -v b="${STEP_SECS[$i]}" 'BEGIN { printf "%.1f", a + b }')
    done
    printf '%-32s %10s\n' "total" "$total"
}

_on_exit() {
    local rc=$?
    if [[ $rc -ne 0 && -n $CURRENT_STEP ]]; then
        printf '\nFAILED in step "%s" after %ss (exit code %s). Logs: %s/\n' \
            "$CURRENT_STEP" "$(_elapsed "$STEP_T0")" "$rc" "$STATE" >&2
    fi
}
trap _on_exit EXIT

# print the last lines of a log file, indented
show_tail() {
    local file=$1 n=${2:-40}
    [[ -f $file ]] || return 0
    printf -- '---- last %s lines of %s ----\n' "$n" "$file" >&2
    tail -n "$n" "$file" >&2 || true
    printf -- '---- end of %s ----\n' "$file" >&2
}

is_root() { [[ $(id -u) -eq 0 ]]; }

# the OS user that runs the server
pg_user() { if is_root; then echo postgres; else id -un; fi; }

# run a command as the OS user that owns the cluster (postgres when we are
# root, since PostgreSQL refuses to run as root; otherwise ourselves), from /
# so that an unreadable working directory does not matter.
as_pg() {
    if is_root; then
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && "$@")
    fi
}

# ---------------------------------------------------------------------------
# packages and build
# ---------------------------------------------------------------------------

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
    # PGXS tracks no header dependencies: rebuild everything when a header or
    # the Makefile is newer than the library (or on --rebuild)
    if [[ -f $ROOT/seg_reco.so ]] && { [[ $REBUILD -ne 0 ]] ||
            [[ -n $(find "$ROOT/src" "$ROOT/Makefile" -maxdepth 1 \( -name '*.h' -o -name Makefile \) \
                    -newer "$ROOT/seg_reco.so" 2>/dev/null) ]]; }; then
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
# ---------------------------------------------------------------------------

_sock_ok() { [[ $(( ${#1} + 16 )) -lt 100 ]]; }   # sun_path is 108 bytes

# decide where data and socket live: inside the project folder if the
# cluster's OS user can get there, otherwise under /var/tmp/seg_reco-<hash>/
resolve_dirs() {
    [[ -n $DATADIR ]] && return 0
    local why=
    if is_root && ! id postgres >/dev/null 2>&1; then
        die "OS user postgres does not exist (is postgresql-15 installed?)"
    fi
    if ! _sock_ok "$ROOT/.pgrun"; then
        why="the path $ROOT is too long for a Unix socket"
    elif ! as_pg test -x "$ROOT" 2>/dev/null; then
        why="$(pg_user) cannot enter $ROOT"
    else
        if [[ ! -d $ROOT/.pgdata ]]; then
            mkdir -m 700 "$ROOT/.pgdata"
        fi
        if is_root; then chown postgres:postgres "$ROOT/.pgdata" 2>/dev/null || true; fi
        if ! as_pg test -w "$ROOT/.pgdata" 2>/dev/null; then
            why="$(pg_user) cannot write to $ROOT/.pgdata"
            rmdir "$ROOT/.pgdata" 2>/dev/null || true
        fi
    fi
    if [[ -z $why ]]; then
        DATADIR=$ROOT/.pgdata
        SOCKDIR=$ROOT/.pgrun
    else
        DATADIR=$FALLBACK/pgdata
        SOCKDIR=$FALLBACK/pgrun
        say "    note: $why; the cluster lives in $FALLBACK instead" >&2
    fi
    export PGHOST=$SOCKDIR PGPORT=$PORT PGUSER=postgres
}

_make_dirs() {
    local d
    if [[ $DATADIR == "$FALLBACK"/* ]]; then
        mkdir -p "$FALLBACK"
        chmod 755 "$FALLBACK"
    fi
    for d in "$DATADIR" "$SOCKDIR"; do
        [[ -d $d ]] || mkdir -p "$d"
    done
    chmod 700 "$DATADIR"
    chmod 755 "$SOCKDIR"
    if is_root; then chown postgres:postgres "$DATADIR" "$SOCKDIR"; fi
}

# contents of $DATADIR/seg_reco.conf (included from postgresql.conf)
_server_conf() {
    # small /dev/shm (containers default to 64 MB) breaks parallel query
    # with posix shared memory; fall back to mmap'ed files in the data dir
    local shm_kb dsm=posix
    shm_kb=$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 { print $2 }' || true)
    if [[ -z $shm_kb || $shm_kb -lt 1048576 ]]; then dsm=mmap; fi
    cat <<EOF
# written by scripts/lib.sh on every start; edit there, not here
port = $PORT
listen_addresses = ''
unix_socket_directories = '$SOCKDIR'
shared_preload_libraries = 'pg_cron'
cron.database_name = '$DB'
cron.use_background_workers = on
max_worker_processes = 16
timezone = 'Europe/Oslo'
shared_buffers = 512MB
work_mem = 64MB
maintenance_work_mem = 512MB
max_parallel_workers_per_gather = 2
dynamic_shared_memory_type = $dsm
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
EOF
}

pg_running() {
    [[ -f $DATADIR/postmaster.pid ]] || return 1
    as_pg "$PGBIN/pg_ctl" -D "$DATADIR" status >/dev/null 2>&1
}

start_cluster() {
    resolve_dirs
    _make_dirs
    mkdir -p "$STATE"
    if [[ ! -f $DATADIR/PG_VERSION ]]; then
        # an interrupted initdb leaves a partial directory behind
        find "$DATADIR" -mindepth 1 -delete
        local log=$STATE/initdb.log
        if ! as_pg "$PGBIN/initdb" -D "$DATADIR" -E UTF8 --locale=C.UTF-8 -A trust \
                -U postgres --no-instructions >"$log" 2>&1; then
            show_tail "$log" 30
            die "initdb failed"
        fi
        printf "\ninclude_if_exists = 'seg_reco.conf'\n" | as_pg tee -a "$DATADIR/postgresql.conf" >/dev/null
        say "    initialised $DATADIR"
    fi
    local conf=$DATADIR/seg_reco.conf new changed=0
    new=$(_server_conf)
    if [[ ! -f $conf ]] || [[ $(cat "$conf") != "$new" ]]; then
        printf '%s\n' "$new" | as_pg tee "$conf" >/dev/null
        changed=1
    fi
    if pg_running; then
        if [[ $changed -eq 1 ]]; then
            say "    configuration changed: restarting"
            if ! as_pg "$PGBIN/pg_ctl" -D "$DATADIR" -w -t 120 -m fast \
                    -l "$DATADIR/server.log" restart >/dev/null 2>&1; then
                _server_log_tail
                die "the server did not restart"
            fi
        else
            say "    reusing running server (pid $(head -n 1 "$DATADIR/postmaster.pid"))"
        fi
    else
        if ! as_pg "$PGBIN/pg_ctl" -D "$DATADIR" -w -t 120 -l "$DATADIR/server.log" \
                start >/dev/null 2>&1; then
            _server_log_tail
            die "the server did not start (port $PORT; set SEG_RECO_PGPORT to use another)"
        fi
        say "    started server on socket $SOCKDIR port $PORT"
    fi
    _ensure_database
}

_server_log_tail() {
    printf -- '---- last 30 lines of %s ----\n' "$DATADIR/server.log" >&2
    as_pg tail -n 30 "$DATADIR/server.log" >&2 || true
    printf -- '---- end of server log ----\n' >&2
}

stop_cluster() {
    resolve_dirs
    if pg_running; then
        as_pg "$PGBIN/pg_ctl" -D "$DATADIR" -w -t 120 -m fast stop >/dev/null
        say "stopped the server in $DATADIR"
    else
        say "no server running in $DATADIR"
    fi
}

# ---------------------------------------------------------------------------
# database
# ---------------------------------------------------------------------------

psql_db() {
    local db=$1; shift
    "$PGBIN/psql" -X -v ON_ERROR_STOP=1 -h "$SOCKDIR" -p "$PORT" -U postgres -d "$db" "$@"
}

# hash of what `make install` put in place for seg_reco
installed_hash() {
    local share lib
    share=$("$PG_CONFIG" --sharedir)/extension
    lib=$("$PG_CONFIG" --pkglibdir)
    cat "$share"/seg_reco.control "$share"/seg_reco--*.sql "$lib"/seg_reco.so 2>/dev/null \
        | sha256sum | cut -d' ' -f1
}

# pg_cron's launcher needs cron.database_name to exist: create it right away
_ensure_database() {
    if [[ -z $(psql_db postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'") ]]; then
        psql_db postgres -q -c "CREATE DATABASE $DB"
        say "    created database $DB"
    fi
}

ensure_db() {
    _ensure_database
    psql_db "$DB" -q -c "SET client_min_messages = warning" \
        -c "CREATE EXTENSION IF NOT EXISTS pg_cron" \
        -c "CREATE EXTENSION IF NOT EXISTS pgtap"

    local have want hash old=
    have=$(psql_db "$DB" -tAc "SELECT extversion FROM pg_extension WHERE extname = 'seg_reco'")
    want=$(psql_db "$DB" -tAc "SELECT default_version FROM pg_available_extensions WHERE name = 'seg_reco'")
    [[ -n $want ]] || die "seg_reco is not installed in $("$PG_CONFIG" --sharedir)/extension (did make install run?)"
    hash=$(installed_hash)
    [[ -f $STATE/ext.hash ]] && old=$(cat "$STATE/ext.hash")

    if [[ -n $have && $have == "$want" && $hash == "$old" && $REBUILD -eq 0 ]]; then
        say "    extension seg_reco $have is current"
        return 0
    fi
    local why
    if [[ -z $have ]]; then why="not created yet"
    elif [[ $REBUILD -ne 0 ]]; then why="--rebuild"
    elif [[ $have != "$want" ]]; then why="version $have in the database, $want installed"
    else why="installed files changed since the last run"
    fi
    rm -f "$STATE/ext.hash"
    local log=$STATE/create_extension.log
    if ! psql_db "$DB" -q >"$log" 2>&1 <<'SQL'
SET client_min_messages = warning;
SET lock_timeout = '60s';
DROP EXTENSION IF EXISTS seg_reco CASCADE;
CREATE EXTENSION seg_reco CASCADE;
SQL
    then
        cat "$log" >&2
        die "could not (re)create extension seg_reco"
    fi
    printf '%s\n' "$hash" >"$STATE/ext.hash"
    EXT_RECREATED=1
    say "    (re)created extension seg_reco $want ($why)"
}

ensure_demo_data() {
    local n
    n=$(psql_db "$DB" -tAc "SELECT count(*) FROM (SELECT 1 FROM seg_reco.customers LIMIT 1) s")
    if [[ $n != 0 && $EXT_RECREATED -eq 0 && $REBUILD -eq 0 ]]; then
        say "    reusing existing demo data"
        return 0
    fi
    psql_db "$DB" -P footer=off -c "SELECT * FROM seg_reco.generate_demo_data()" | sed 's/^/    /'
}

# everything up to a current extension with demo data, as steps
# run the whole pipeline once (the views the tests and the report read)
refresh_pipeline() {
    psql_db "$DB" -q -c "CALL seg_reco.refresh()"
}

setup_all() {
    step "packages" ensure_packages
    step "build and install" build_install
    step "cluster" start_cluster
    step "database and extension" ensure_db
    step "demo data" ensure_demo_data
}

connection_help() {
    local env=
    [[ $PORT != 54315 ]] && env="SEG_RECO_PGPORT=$PORT "
    cat <<EOF

Connect:   $PGBIN/psql -h $SOCKDIR -p $PORT -U postgres $DB
      or   ${env}bash scripts/cluster.sh psql
Stop:      ${env}bash scripts/cluster.sh stop
Remove:    ${env}bash scripts/cluster.sh remove   (deletes the cluster and its data)
EOF
}
