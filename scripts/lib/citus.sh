# shellcheck shell=bash
# Citus: its build from the vendored source archive, and the throwaway Citus
# cluster (a coordinator and two workers) that scripts/citus.sh manages.
# Sourced through scripts/lib.sh, never run.
#
# The build: ../shared/vendor/citus-13.0.5.tar.gz (or
# $SEG_RECO_SHARED/vendor/...; checked against its sha256), unpacked into
# /var/tmp/seg_reco-citus-13.0.5, configured --without-libcurl and built
# with_llvm=no (no LLVM bitcode: about 1 minute on 2 cores instead of 9),
# then `make install` into the system's PostgreSQL 15, holding
# /tmp/seg_reco_install.lock (flock -o) for the install only.  Nothing of
# Citus is ever copied into the repository.  Skipped when citus.so of that
# version is installed already.
#
# The cluster: three data directories under .citus/ in the project folder
# (or /var/tmp/seg_reco-<hash>/citus), ports SEG_RECO_CITUS_PGPORT (default
# 54351, the coordinator), +1 and +2 (the workers), the settings of the
# normal throwaway cluster with shared_preload_libraries = 'citus,pg_cron',
# database seg_reco on each node with citus and seg_reco created, the
# workers registered on the coordinator.

CITUS_VERSION=13.0.5
CITUS_SHA256=86b3d929f21ecae5bf07a44e09639f50a54eb5882ef17a3aafee39fed17b9a1a
CITUS_SRC=/var/tmp/seg_reco-citus-$CITUS_VERSION
CITUS_PACKAGES=(postgresql-server-dev-15 build-essential libzstd-dev liblz4-dev libkrb5-dev)
INSTALL_LOCK=/tmp/seg_reco_install.lock

citus_archive() {
    printf '%s/vendor/citus-%s.tar.gz' "${SEG_RECO_SHARED:-$ROOT/../shared}" "$CITUS_VERSION"
}

# true when citus.so of CITUS_VERSION is in the server's lib folder and its
# control file in the extension folder
citus_installed() {
    local so
    so=$("$PG_CONFIG" --pkglibdir)/citus.so
    [[ -f $so && -f $("$PG_CONFIG" --sharedir)/extension/citus.control ]] || return 1
    grep -aq "Citus $CITUS_VERSION" "$so"
}

# true when an ancestor of this shell holds $INSTALL_LOCK already (a caller
# ran `flock -o /tmp/seg_reco_install.lock bash scripts/test.sh`): taking it
# again would wait for ourselves
_holds_install_lock() {
    local ino holders pid p
    ino=$(stat -c %i "$INSTALL_LOCK" 2>/dev/null) || return 1
    # /proc/locks: "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"
    holders=$(awk -v ino="$ino" '$2 == "FLOCK" { n = split($6, a, ":"); if (a[n] == ino) print $5 }' /proc/locks)
    for pid in $holders; do
        p=$$
        while [[ -n $p && $p -gt 1 ]]; do
            [[ $p == "$pid" ]] && return 0
            p=$(awk '/^PPid:/ { print $2 }' "/proc/$p/status" 2>/dev/null)
        done
    done
    return 1
}

# run a command holding the install lock (unless an ancestor holds it)
with_install_lock() {
    if _holds_install_lock; then
        "$@"
    else
        flock -o "$INSTALL_LOCK" "$@"
    fi
}

# build and install Citus unless installed; dies on failure
ensure_citus() {
    if citus_installed; then
        say "    Citus $CITUS_VERSION is installed"
        return 0
    fi
    local archive log=$STATE/citus_build.log t0=$EPOCHREALTIME
    archive=$(citus_archive)
    [[ -r $archive ]] || die "Citus is not installed and its source archive $archive is missing (set SEG_RECO_SHARED to the folder holding vendor/)"
    # shellcheck disable=SC2034  # read by ensure_packages (dynamic scope)
    local PACKAGES=("${CITUS_PACKAGES[@]}")
    ensure_packages
    mkdir -p "$STATE"
    : >"$log"
    if [[ $(sha256sum "$archive" | cut -d' ' -f1) != "$CITUS_SHA256" ]]; then
        die "$archive does not have the sha256 this script expects ($CITUS_SHA256)"
    fi
    say "    building Citus $CITUS_VERSION in $CITUS_SRC (log: $log)"
    rm -rf "$CITUS_SRC"
    mkdir -p "$CITUS_SRC"
    tar -xzf "$archive" -C "$CITUS_SRC" --strip-components=1
    if ! (cd "$CITUS_SRC" && ./configure PG_CONFIG="$PG_CONFIG" --without-libcurl) >>"$log" 2>&1; then
        show_tail "$log" 40
        die "Citus: configure failed"
    fi
    if ! make -C "$CITUS_SRC" with_llvm=no -j"$(nproc)" >>"$log" 2>&1; then
        show_tail "$log" 40
        die "Citus: make failed"
    fi
    say "    built in $(_elapsed "$t0") s; installing (lock $INSTALL_LOCK)"
    if ! with_install_lock make -C "$CITUS_SRC" with_llvm=no install >>"$log" 2>&1; then
        show_tail "$log" 30
        die "Citus: make install failed"
    fi
    citus_installed || die "Citus: make install ran but citus.so $CITUS_VERSION is not in $("$PG_CONFIG" --pkglibdir)"
    say "    Citus $CITUS_VERSION installed in $(_elapsed "$t0") s"
}

# ---------------------------------------------------------------------------
# the throwaway Citus cluster

CITUS_PORT=${SEG_RECO_CITUS_PGPORT:-54351}
CITUS_NODES=(coordinator worker1 worker2)
CITUS_BASE=$FALLBACK/citus
CITUS_SOCK=$CITUS_BASE/run

# port of node number $1 (0 the coordinator)
citus_port() { echo $(( CITUS_PORT + $1 )); }

# psql on node number $1, database seg_reco, further arguments to psql
citus_psql() {
    local i=$1; shift
    "$PGBIN/psql" -X -v ON_ERROR_STOP=1 -h "$CITUS_SOCK" -p "$(citus_port "$i")" -U postgres -d "$DB" "$@"
}

# the settings of the normal cluster (_server_conf) for node $1, with Citus
# preloaded before pg_cron (Citus must come first) and the node's own port
_citus_conf() {
    local i=$1
    PORT=$(citus_port "$i") SOCKDIR=$CITUS_SOCK _server_conf |
        sed -e "s/^shared_preload_libraries = .*/shared_preload_libraries = 'citus,pg_cron'/" \
            -e "s/^shared_buffers = .*/shared_buffers = 128MB/" \
            -e "s/^# written by .*/# written by scripts\/lib\/citus.sh on every start; edit there, not here/"
    # the coordinator reaches itself (and the workers reach it) by the
    # socket directory, like the other nodes
    printf "citus.local_hostname = '%s'\n" "$CITUS_SOCK"
    printf "max_connections = 200\n"
}

_citus_pg_running() {
    [[ -f $CITUS_BASE/$1/postmaster.pid ]] || return 1
    as_pg "$PGBIN/pg_ctl" -D "$CITUS_BASE/$1" status >/dev/null 2>&1
}

# start the three nodes (initdb on first use), create database seg_reco
# with citus on each, register the workers on the coordinator, and create
# the extension seg_reco on the coordinator (Citus propagates it) unless it
# is there at the installed version
start_citus_cluster() {
    citus_installed || die "Citus $CITUS_VERSION is not installed: bash scripts/citus.sh build"
    mkdir -p "$CITUS_BASE" "$CITUS_SOCK" "$STATE"
    chmod 755 "$FALLBACK" "$CITUS_BASE" "$CITUS_SOCK" 2>/dev/null || true
    if is_root; then chown postgres:postgres "$CITUS_BASE" "$CITUS_SOCK"; fi
    local i name dir log conf new
    for i in "${!CITUS_NODES[@]}"; do
        name=${CITUS_NODES[$i]}
        dir=$CITUS_BASE/$name
        if [[ ! -f $dir/PG_VERSION ]]; then
            rm -rf "$dir"
            log=$STATE/citus_initdb_$name.log
            if ! as_pg "$PGBIN/initdb" -D "$dir" -E UTF8 --locale=C.UTF-8 -A trust \
                    -U postgres --no-instructions >"$log" 2>&1; then
                show_tail "$log" 30
                die "initdb of the Citus $name failed"
            fi
            printf "\ninclude_if_exists = 'seg_reco.conf'\n" | as_pg tee -a "$dir/postgresql.conf" >/dev/null
        fi
        conf=$dir/seg_reco.conf
        new=$(_citus_conf "$i")
        if [[ ! -f $conf ]] || [[ $(cat "$conf") != "$new" ]]; then
            printf '%s\n' "$new" | as_pg tee "$conf" >/dev/null
            if _citus_pg_running "$name"; then
                _pg_ctl_detached -D "$dir" -w -t 120 -m fast -l "$dir/server.log" restart >/dev/null 2>&1 ||
                    die "the Citus $name did not restart (log: $dir/server.log)"
            fi
        fi
        if ! _citus_pg_running "$name"; then
            if ! _pg_ctl_detached -D "$dir" -w -t 120 -l "$dir/server.log" start >/dev/null 2>&1; then
                as_pg tail -n 30 "$dir/server.log" >&2 || true
                die "the Citus $name did not start (port $(citus_port "$i"); set SEG_RECO_CITUS_PGPORT to use others)"
            fi
        fi
        if [[ -z $("$PGBIN/psql" -X -h "$CITUS_SOCK" -p "$(citus_port "$i")" -U postgres -d postgres -tAc \
                    "SELECT 1 FROM pg_database WHERE datname = '$DB'") ]]; then
            "$PGBIN/psql" -X -q -h "$CITUS_SOCK" -p "$(citus_port "$i")" -U postgres -d postgres \
                -c "CREATE DATABASE $DB"
        fi
        citus_psql "$i" -q -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS citus"
        say "    $name: port $(citus_port "$i"), data $dir"
    done
    citus_psql 0 -q -c "SET client_min_messages = warning" \
        -c "SELECT pg_catalog.citus_set_coordinator_host('$CITUS_SOCK', $(citus_port 0))" >/dev/null
    for i in 1 2; do
        if [[ -z $(citus_psql 0 -tAc "SELECT 1 FROM pg_catalog.pg_dist_node
                                       WHERE nodename = '$CITUS_SOCK' AND nodeport = $(citus_port "$i")") ]]; then
            citus_psql 0 -q -c "SELECT pg_catalog.citus_add_node('$CITUS_SOCK', $(citus_port "$i"))" >/dev/null
        fi
    done
    local have want
    have=$(citus_psql 0 -tAc "SELECT extversion FROM pg_extension WHERE extname = 'seg_reco'")
    want=$(citus_psql 0 -tAc "SELECT default_version FROM pg_available_extensions WHERE name = 'seg_reco'")
    [[ -n $want ]] || die "seg_reco is not installed (make install, holding $INSTALL_LOCK)"
    if [[ $have != "$want" ]]; then
        citus_psql 0 -q -c "SET client_min_messages = warning" \
            -c "DROP EXTENSION IF EXISTS seg_reco CASCADE" -c "CREATE EXTENSION seg_reco"
        say "    created extension seg_reco $want on the coordinator (Citus creates it on the workers)"
    fi
    say "    workers: $(citus_psql 0 -tAc "SELECT string_agg(node_port::text, ', ' ORDER BY node_port)
                                          FROM pg_catalog.citus_get_active_worker_nodes()")"
}

stop_citus_cluster() {
    local name
    for name in "${CITUS_NODES[@]}"; do
        if _citus_pg_running "$name"; then
            as_pg "$PGBIN/pg_ctl" -D "$CITUS_BASE/$name" -w -t 120 -m fast stop >/dev/null
            say "stopped the Citus $name"
        fi
    done
}
