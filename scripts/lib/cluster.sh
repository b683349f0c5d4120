# shellcheck shell=bash
# The throwaway PostgreSQL cluster: where it lives, its configuration, start and stop.
# Sourced through scripts/lib.sh, never run.

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
        if [[ ! -d $ROOT/$DATANAME ]]; then
            mkdir -m 700 "$ROOT/$DATANAME"
        fi
        if is_root; then chown postgres:postgres "$ROOT/$DATANAME" 2>/dev/null || true; fi
        if ! as_pg test -w "$ROOT/$DATANAME" 2>/dev/null; then
            why="$(pg_user) cannot write to $ROOT/$DATANAME"
            rmdir "$ROOT/$DATANAME" 2>/dev/null || true
        fi
    fi
    if [[ -z $why ]]; then
        DATADIR=$ROOT/$DATANAME
        SOCKDIR=$ROOT/.pgrun
    else
        DATADIR=$FALLBACK/${DATANAME#.}
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

# the postgres executable pg_ctl starts (pg_ctl -p): empty for the system's;
# a private copy (private_install) or a wrapper running it under valgrind
POSTGRES_BIN=

# pg_ctl start/restart with no file descriptor but 0-2 left open: the server
# outlives this script and must not keep what the caller holds (a flock(1)
# lock, a pipe a CI runner waits on)
_pg_ctl_detached() {
    (
        local fd
        for fd in /proc/$BASHPID/fd/*; do
            fd=${fd##*/}
            [[ $fd -gt 2 ]] && eval "exec $fd>&-" 2>/dev/null
        done
        as_pg "$PGBIN/pg_ctl" "$@"
    )
}

pg_running() {
    [[ -f $DATADIR/postmaster.pid ]] || return 1
    as_pg "$PGBIN/pg_ctl" -D "$DATADIR" status >/dev/null 2>&1
}

# the executable of the server running in DATADIR when it is not this
# installation's postgres (another SEG_RECO_PGBIN, or a binary since deleted:
# "... (deleted)"); empty when it is, or when it cannot be read
_foreign_server_exe() {
    local pid exe want
    [[ -z ${POSTGRES_BIN:-} ]] || return 0      # a wrapper (valgrind): not checked
    pid=$(head -n 1 "$DATADIR/postmaster.pid" 2>/dev/null) || return 0
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 0
    want=$(readlink -f "$PGBIN/postgres")
    [[ $exe == "$want" ]] || printf '%s' "$exe"
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
    local foreign
    if pg_running; then
        foreign=$(_foreign_server_exe)
        if [[ -n $foreign ]]; then
            # it would load another installation's module (or none, once deleted)
            say "    the server running in $DATADIR is $foreign, not $PGBIN/postgres: restarting it"
            as_pg "$PGBIN/pg_ctl" -D "$DATADIR" -m fast -w -t 120 stop >/dev/null 2>&1 \
                || die "could not stop the server running in $DATADIR"
        fi
    fi
    if pg_running; then
        if [[ $changed -eq 1 ]]; then
            say "    configuration changed: restarting"
            if ! _pg_ctl_detached -D "$DATADIR" ${POSTGRES_BIN:+-p "$POSTGRES_BIN"} -w -t 120 -m fast \
                    -l "$DATADIR/server.log" restart >/dev/null 2>&1; then
                _server_log_tail
                die "the server did not restart"
            fi
        else
            say "    reusing running server (pid $(head -n 1 "$DATADIR/postmaster.pid"))"
        fi
    else
        if ! _pg_ctl_detached -D "$DATADIR" ${POSTGRES_BIN:+-p "$POSTGRES_BIN"} -w -t 120 \
                -l "$DATADIR/server.log" start >/dev/null 2>&1; then
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
