# shellcheck shell=bash disable=SC2034
# (SC2034: VG_FINDINGS is read by scripts/test.sh)
# scripts/test.sh --valgrind: the pg_regress suite against a cluster of its
# own whose server processes run under valgrind (memcheck).  Sourced by
# test.sh for that mode only, after scripts/lib.sh.
#
# The cluster: .valgrind/ in the project folder (or /var/tmp/seg_reco-<hash>/
# valgrind), port SEG_RECO_VALGRIND_PGPORT (default SEG_RECO_PGPORT + 2, i.e.
# 54317), the settings of scripts/lib.sh less pg_cron (not under test here),
# shared_buffers 128MB, jit = off (LLVM is not under test, and slow under
# valgrind), seg_reco.threads = 1 and OPENBLAS_NUM_THREADS=1 (threads run,
# serialized, under valgrind: one is enough and faster).
# The server is a private copy (private_install in build.sh) with this
# checkout's seg_reco built into it: nothing is installed into the system,
# and another `make install` meanwhile changes nothing here.
# pg_ctl starts the postmaster through a wrapper that execs
#   valgrind --tool=memcheck --trace-children=yes --leak-check=no
#            --suppressions=test/valgrind.supp --gen-suppressions=all
#            --error-markers=VALGRINDERROR-BEGIN,VALGRINDERROR-END
#            --log-file=<cluster>/vglog/%p.log  <private tree>/.../postgres -D ...
# Backends are forked from the postmaster, so every one runs under memcheck
# with its own log file.  After the tests the server is stopped (every
# process writes its ERROR SUMMARY), and the error blocks of all logs are
# printed with their stacks.
#
# What this finds: invalid reads and writes and uses of uninitialised values
# on memory from malloc (OpenBLAS buffers, seg_reco's large buffers, libc)
# and the stack, and invalid frees.  Debian's PostgreSQL is not built with
# USE_VALGRIND, so palloc'd chunks are not marked to valgrind: an overrun
# inside a memory context's block is not seen (use a server built with
# -DUSE_VALGRIND for that).
#
# Environment: VALGRIND_TESTS="rfm btyd ..." runs those tests instead of the
# whole REGRESS list; VALGRIND_TRACK_ORIGINS=1 adds --track-origins=yes
# (slower; says where an uninitialised value came from).

VG_PORT=${SEG_RECO_VALGRIND_PGPORT:-$(( PORT + 2 ))}
VG_BASE=
VG_LOGDIR=
VG_FINDINGS=0

use_valgrind_cluster() {
    resolve_dirs
    if [[ $DATADIR == "$ROOT/$DATANAME" ]]; then VG_BASE=$ROOT/.valgrind; else VG_BASE=$FALLBACK/valgrind; fi
    mkdir -p "$VG_BASE"
    chmod 755 "$VG_BASE"
    DATADIR=$VG_BASE/pgdata
    SOCKDIR=$VG_BASE/run
    PORT=$VG_PORT
    VG_LOGDIR=$VG_BASE/vglog
    export PGHOST=$SOCKDIR PGPORT=$PORT PGUSER=postgres
}

_vg_conf() {
    _server_conf | grep -v -E '^(shared_preload_libraries|cron\.|shared_buffers)'
    cat <<'EOF'
shared_buffers = 128MB
jit = off
seg_reco.threads = 1
autovacuum = off
log_min_messages = warning
EOF
}

_vg_wrapper() {
    local track=
    [[ ${VALGRIND_TRACK_ORIGINS:-0} == 1 ]] && track=--track-origins=yes
    cat <<EOF
#!/bin/sh
# written by scripts/lib/valgrind.sh: the postmaster under valgrind
OPENBLAS_NUM_THREADS=1
export OPENBLAS_NUM_THREADS
exec valgrind --tool=memcheck --trace-children=yes --leak-check=no --num-callers=40 \\
    --read-var-info=no $track --time-stamp=yes \\
    --suppressions=$ROOT/test/valgrind.supp --gen-suppressions=all \\
    --error-markers=VALGRINDERROR-BEGIN,VALGRINDERROR-END \\
    --log-file=$VG_LOGDIR/%p.log $PRIVATE_POSTGRES "\$@"
EOF
}

valgrind_start() {
    _make_dirs
    if [[ ! -f $DATADIR/PG_VERSION ]]; then
        find "$DATADIR" -mindepth 1 -delete
        if ! as_pg "$PGBIN/initdb" -D "$DATADIR" -E UTF8 --locale=C.UTF-8 -A trust \
                -U postgres --no-instructions >"$STATE/valgrind_initdb.log" 2>&1; then
            show_tail "$STATE/valgrind_initdb.log" 30
            die "initdb failed"
        fi
        printf "\ninclude_if_exists = 'seg_reco.conf'\n" | as_pg tee -a "$DATADIR/postgresql.conf" >/dev/null
    fi
    _vg_conf | as_pg tee "$DATADIR/seg_reco.conf" >/dev/null
    _vg_wrapper >"$VG_BASE/postgres-valgrind"
    chmod 755 "$VG_BASE/postgres-valgrind"
    if pg_running; then
        as_pg "$PGBIN/pg_ctl" -D "$DATADIR" -w -t 600 -m fast stop >/dev/null
    fi
    rm -rf "$VG_LOGDIR"
    mkdir -p "$VG_LOGDIR"
    if is_root; then chown postgres:postgres "$VG_LOGDIR"; fi
    if ! _pg_ctl_detached -D "$DATADIR" -p "$VG_BASE/postgres-valgrind" -w -t 900 \
            -l "$DATADIR/server.log" start >/dev/null 2>&1; then
        _server_log_tail
        die "the server under valgrind did not start (port $PORT; SEG_RECO_VALGRIND_PGPORT picks another)"
    fi
    say "    started the server under valgrind on port $PORT (logs: $VG_LOGDIR)"
}

valgrind_stop() {
    if pg_running; then
        as_pg "$PGBIN/pg_ctl" -D "$DATADIR" -w -t 900 -m fast stop >/dev/null || true
    fi
}

# the error blocks of every log: count, then each one with its stack
valgrind_report() {
    local f n total=0 files=0 procs
    procs=$(find "$VG_LOGDIR" -name '*.log' | wc -l)
    for f in "$VG_LOGDIR"/*.log; do
        [[ -f $f ]] || continue
        n=$(grep -c 'VALGRINDERROR-BEGIN' "$f" || true)
        if [[ $n -gt 0 ]]; then
            total=$(( total + n ))
            files=$(( files + 1 ))
        fi
    done
    VG_FINDINGS=$total
    say "    $procs processes under valgrind; $total errors in $files of them"
    [[ $total -gt 0 ]] || return 0
    printf -- '---- valgrind errors (first 400 lines; full logs in %s) ----\n' "$VG_LOGDIR"
    for f in "$VG_LOGDIR"/*.log; do
        grep -q 'VALGRINDERROR-BEGIN' "$f" || continue
        printf '== %s (process %s)\n' "$(basename "$f")" "$(basename "$f" .log)"
        # lines are "==<time> <pid>== text" (--time-stamp=yes)
        awk '/VALGRINDERROR-BEGIN/ { on = 1; next } /VALGRINDERROR-END/ { on = 0; print "--"; next } on' "$f" \
            | sed -E 's/^==[0-9:. ]+== ?//' | grep -v -E '^\s*$'
    done | awk 'NR <= 400'
    printf -- '---- end of valgrind errors ----\n'
}

# test.sh --valgrind
run_valgrind_suite() {
    PACKAGES+=(valgrind)
    step "packages" ensure_packages
    use_valgrind_cluster
    step "build into a private server tree" private_install "$VG_BASE/server"
    step "cluster under valgrind" valgrind_start
    local tests=${VALGRIND_TESTS:-}
    if [[ -z $tests ]]; then
        tests=$(regress_tests)
    fi
    # shellcheck disable=SC2086  # the list is space-separated test names
    step "pg_regress under valgrind" run_regress $tests
    step "stop the server (valgrind summaries)" valgrind_stop
    step "valgrind findings" valgrind_report
}
