#!/usr/bin/env bash
# Fuzzing: a bad-input matrix generated from the catalog, then sqlsmith, on a
# scratch database of demo data in a cluster of its own whose backends run
# under an address-space limit.
#
#   bash bench/fuzz.sh [--minutes N] [--matrix-only] [--sqlsmith-only]
#                      [--timeout S] [--mem-limit-mb MB] [--installed] [--keep]
#
#   --minutes N        sqlsmith's running time (default 30)
#   --matrix-only      only the bad-input matrix; --sqlsmith-only: only sqlsmith
#   --timeout S        statement_timeout of each matrix call (default 10)
#   --mem-limit-mb MB  address-space limit of every server process (default 4096)
#   --installed        fuzz the seg_reco installed in the system (no build);
#                      by default this checkout is built into a private copy of
#                      the server tree (private_install in scripts/lib/build.sh),
#                      so nothing is installed and another make install changes
#                      nothing during the run
#   --keep             leave the fuzz cluster running at the end
#
# The cluster: .fuzz/ in the project folder (or /var/tmp/seg_reco-<hash>/fuzz
# when the postgres user cannot reach it), port SEG_RECO_FUZZ_PGPORT (default
# SEG_RECO_PGPORT + 1, i.e. 54316), the settings of scripts/lib.sh, started
# afresh on every run with `ulimit -v` set: RLIMIT_AS is inherited by every
# backend the postmaster forks, so each session (and its OpenBLAS and seg_reco
# threads) can map at most MB of address space; an allocation beyond it fails
# with "out of memory" (SQLSTATE 53200, a clear error) instead of taking the
# machine's memory.  A SET cannot do this (work_mem and friends bound only
# what the executor asks for, not palloc in a C function or malloc in BLAS).
# Database seg_reco_fuzz is recreated on every run: generate_demo_data(2000,
# 500, 150000, 10000), refresh(), then bench/fuzz_setup.sql (role
# fuzz_analyst with the README's analyst grants, small models, schema fuzz).
#
# a. The matrix (bench/fuzz_matrix.sql writes it from pg_proc): every
#    function, procedure and aggregate of schema seg_reco, a baseline call and
#    each argument with each hostile value of its type (NULL, empty, NaN,
#    +-Infinity, huge, wrong dimension, unknown ids, out-of-range dates,
#    malformed jsonb and state texts) while the others keep defaults.  Each
#    call runs in a new session and its own transaction, rolled back, with
#    statement_timeout; as fuzz_analyst when it may execute the function,
#    as superuser for the owner-only ones; procedures (refresh) run last and
#    commit.  Outcome by SQLSTATE: ok; clear error (any class but XX);
#    internal error (XX000 and class XX); crash (the connection lost, or
#    "terminated by signal"/"exited with exit code" in the server log); hang
#    (statement timeout hit, 57014; an answer more than 5 s after the
#    timeout, when the call checked for interrupts too late; "unresponsive"
#    when the backend did not even stop on cancel within the timeout + 60 s).
#    Slow, not counted: generate_demo_data and _demo_* asked for a million
#    customers or products and cancelled cleanly by the timeout (that much
#    work is what the sizes ask for; listed in the report).
#    Results are turned into text on the server and only their count and
#    length are sent, so a call's time is the server's.
# b. sqlsmith (--exclude-catalog: its queries read seg_reco's tables and
#    views and the seg_reco-typed table fuzz.typed; functions come from the
#    whole catalog) as fuzz_analyst, in chunks until the time is up; it runs
#    each query in a transaction it rolls back, with statement_timeout 1 s.
#    Errors go to database sqlsmith_log (sqlsmith --log-to).  Crashes: the
#    server log; a chunk ends at a crash and the next one starts with the
#    next seed.  Hangs: a sqlsmith query still active 30 s after it started
#    (it ignored the 1 s timeout); it is recorded and terminated.  Statement
#    timeouts are sqlsmith's normal 1 s cutoff and count as clear errors.
#    Internal errors: the shortest query of each message is rerun to read its
#    LOCATION; those raised inside PostgreSQL (sqlsmith calls core support
#    functions such as float8_regr_avgx with values the executor never
#    passes them) are listed but not counted; those in seg_reco.so, or of
#    unknown origin, are.  SQLSMITH_SEED sets the first seed (default 1).
#
# Prints the counts, every XX, crash and hang with its SQL (and, for a
# crash in the matrix, a gdb backtrace of the backend when gdb is present),
# and a last line "calls N, clear errors N, internal errors N, crashes N,
# hangs N"; exits 1 when crashes, internal errors or hangs are not 0.
# Everything is kept in bench/out/fuzz-<time>/.
set -euo pipefail

MINUTES=30
DO_MATRIX=1
DO_SMITH=1
TIMEOUT=10
MEM_MB=4096
INSTALLED=0
KEEP=0
HANG_SECS=30
while [[ $# -gt 0 ]]; do
    case $1 in
        --minutes) MINUTES=$2; shift 2 ;;
        --matrix-only) DO_SMITH=0; shift ;;
        --sqlsmith-only) DO_MATRIX=0; shift ;;
        --timeout) TIMEOUT=$2; shift 2 ;;
        --mem-limit-mb) MEM_MB=$2; shift 2 ;;
        --installed) INSTALLED=1; shift ;;
        --keep) KEEP=1; shift ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        *) echo "unknown option $1 (try --help)" >&2; exit 2 ;;
    esac
done
[[ $MINUTES =~ ^[0-9]+$ && $TIMEOUT =~ ^[1-9][0-9]*$ && $MEM_MB =~ ^[1-9][0-9]*$ ]] \
    || { echo "--minutes, --timeout and --mem-limit-mb take whole numbers" >&2; exit 2; }

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
source "$HERE/../scripts/lib.sh"

FUZZ_PORT=${SEG_RECO_FUZZ_PGPORT:-$(( PORT + 1 ))}
FUZZDB=seg_reco_fuzz
OUT=$ROOT/bench/out/fuzz-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"

# ---------------------------------------------------------------------------
# the cluster
# ---------------------------------------------------------------------------

# the fuzz cluster beside the project cluster: .fuzz/ or $FALLBACK/fuzz
use_fuzz_cluster() {
    resolve_dirs
    local base
    if [[ $DATADIR == "$ROOT/.pgdata" ]]; then base=$ROOT/.fuzz; else base=$FALLBACK/fuzz; fi
    mkdir -p "$base"
    chmod 755 "$base"
    if is_root; then chown postgres:postgres "$base"; fi
    DATADIR=$base/pgdata
    SOCKDIR=$base/run
    PORT=$FUZZ_PORT
    LOG=$DATADIR/server.log
    export PGHOST=$SOCKDIR PGPORT=$PORT PGUSER=postgres
}

start_limited() {
    if pg_running; then
        as_pg "$PGBIN/pg_ctl" -D "$DATADIR" -w -t 120 -m fast stop >/dev/null
    fi
    # the limit is set in a subshell: only the server (and start_cluster's
    # own commands) inherit it
    (
        ulimit -v $(( MEM_MB * 1024 ))
        start_cluster
    )
    local pid
    pid=$(head -n 1 "$DATADIR/postmaster.pid")
    say "    postmaster $pid: $(grep 'Max address space' "/proc/$pid/limits" | awk '{ print $4, $6 }') (soft limit, unit)"
    say "    logs and results: $OUT"
}

wait_ready() {
    local i
    for i in $(seq 1 240); do
        if "$PGBIN/psql" -X -q -h "$SOCKDIR" -p "$PORT" -U postgres -d postgres -c 'SELECT 1' \
                >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.5
    done
    die "the fuzz server did not come back within 2 minutes (see $LOG)"
}

log_size() { stat -c %s "$LOG" 2>/dev/null || echo 0; }

# lines of the server log after byte offset $1 that mean a process died
log_crashes() {
    tail -c +$(( $1 + 1 )) "$LOG" 2>/dev/null \
        | grep -E -A1 'was terminated by signal|terminated by exception|exited with exit code ([02-9]|[1-9][0-9]+)|PANIC:' || true
}

make_scratch_db() {
    psql_db postgres -q -c "SET client_min_messages = warning" \
        -c "DROP DATABASE IF EXISTS $FUZZDB WITH (FORCE)" -c "CREATE DATABASE $FUZZDB"
    psql_db "$FUZZDB" -q -c "SET client_min_messages = warning" -c "CREATE EXTENSION seg_reco CASCADE"
    psql_db "$FUZZDB" -q -P footer=off \
        -c "SELECT relation, rows FROM seg_reco.generate_demo_data(2000, 500, 150000, 10000)" | sed 's/^/    /'
    psql_db "$FUZZDB" -q -c "CALL seg_reco.refresh()"
    psql_db "$FUZZDB" -q -f "$HERE/fuzz_setup.sql" >/dev/null
    say "    $FUZZDB: seg_reco $(psql_db "$FUZZDB" -tAc "SELECT extversion FROM pg_extension WHERE extname = 'seg_reco'"), demo data, refresh(), fixture"
}

# ---------------------------------------------------------------------------
# a. the bad-input matrix
# ---------------------------------------------------------------------------

# a backtrace of the backend that runs SQL: the session sleeps 2 s, gdb
# attaches meanwhile and waits for the signal
gdb_stack() {
    local user=$1 sql=$2 out=$3 app=fuzz_gdb_$$ pid='' i
    command -v gdb >/dev/null || { echo "(gdb not installed)" >"$out"; return 0; }
    PGAPPNAME=$app PGOPTIONS="-c statement_timeout=${TIMEOUT}s" timeout 120 "$PGBIN/psql" -X -q \
        -h "$SOCKDIR" -p "$PORT" -U "$user" -d "$FUZZDB" -c "SELECT pg_sleep(2)" \
        -c "BEGIN; $sql; ROLLBACK" </dev/null >/dev/null 2>&1 &
    local ppid=$!
    for i in $(seq 1 20); do
        pid=$(psql_db postgres -tAc "SELECT pid FROM pg_stat_activity WHERE application_name = '$app'" 2>/dev/null || true)
        [[ -n $pid ]] && break
        sleep 0.1
    done
    if [[ -z $pid ]]; then
        echo "(the session did not start)" >"$out"
    else
        timeout 90 gdb -p "$pid" -batch -nx -q \
            -ex 'handle SIGUSR1 nostop noprint pass' -ex 'handle SIGUSR2 nostop noprint pass' \
            -ex 'handle SIGALRM nostop noprint pass' -ex 'handle SIGPIPE nostop noprint pass' \
            -ex 'handle SIGINT nostop noprint pass' -ex 'handle SIGTERM nostop noprint pass' \
            -ex 'continue' -ex 'bt' -ex 'thread apply all bt 12' </dev/null >"$out" 2>&1 || true
    fi
    wait "$ppid" 2>/dev/null || true
    wait_ready
}

# run_call ID ROLE KIND SQL: one call in a new session; sets OUTCOME, STATE, MSG
run_call() {
    local id=$1 role=$2 kind=$3 sql=$4 user=postgres script rc=0 err pos pid
    [[ $role == analyst ]] && user=fuzz_analyst
    if [[ $kind == call ]]; then script="$sql"; else script="BEGIN; $sql; ROLLBACK"; fi
    pos=$(log_size)
    err=$(PGAPPNAME=fuzz_matrix_$id PGOPTIONS="-c statement_timeout=${TIMEOUT}s" \
          timeout -k 5 $(( TIMEOUT + 60 )) "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -v VERBOSITY=verbose \
          -h "$SOCKDIR" -p "$PORT" -U "$user" -d "$FUZZDB" -c "$script" 2>&1 >/dev/null </dev/null) || rc=$?
    STATE=$(sed -nE 's/^(ERROR|FATAL|PANIC): +([0-9A-Z]{5}):.*/\2/p' <<<"$err" | head -n 1)
    MSG=$(grep -E '^(ERROR|FATAL|PANIC):' <<<"$err" | head -n 1 | sed -E 's/^[A-Z]+: +[0-9A-Z]{5}: //' || true)
    local loc
    loc=$(grep -E '^LOCATION:' <<<"$err" | head -n 1 | sed 's/^LOCATION: *//' || true)
    [[ -n $loc ]] && MSG="$MSG [$loc]"
    MSG=${MSG//$'\t'/ }
    if [[ $rc -eq 124 || $rc -eq 137 ]]; then
        OUTCOME=hang
        STATE=${STATE:-unresponsive}
        MSG="no answer within $(( TIMEOUT + 60 )) s: the backend ignored the statement timeout"
        # cancel, terminate, and if it still runs, restart the server
        pid=$(psql_db postgres -tAc "SELECT pid FROM pg_stat_activity WHERE application_name = 'fuzz_matrix_$id'" || true)
        if [[ -n $pid ]]; then
            psql_db postgres -tAc "SELECT pg_terminate_backend($pid, 10000)" >/dev/null 2>&1 || true
            if [[ -n $(psql_db postgres -tAc "SELECT 1 FROM pg_stat_activity WHERE pid = $pid" || true) ]]; then
                MSG="$MSG; pg_terminate_backend did not end it either: server restarted"
                as_pg "$PGBIN/pg_ctl" -D "$DATADIR" -w -t 60 -m immediate stop >/dev/null 2>&1 || true
                start_limited >/dev/null
            fi
        fi
        return 0
    fi
    local crashed
    if grep -qE 'server closed the connection unexpectedly|connection to server was lost|terminating connection because of crash' <<<"$err"; then
        sleep 1
    fi
    crashed=$(log_crashes "$pos")
    if [[ -n $crashed ]] || grep -qE 'server closed the connection unexpectedly|connection to server was lost|^PANIC:' <<<"$err"; then
        OUTCOME=crash
        STATE=${STATE:-conn}
        MSG="$(grep -E 'terminated by signal|exited with exit code|terminated by exception|PANIC' <<<"$crashed" | head -n 1 | sed -E 's/^.*(server process|PANIC)/\1/' || true)"
        [[ -n $MSG ]] || MSG=$(head -n 1 <<<"$err")
        wait_ready
        return 0
    fi
    if [[ $rc -eq 0 ]]; then
        OUTCOME=ok; STATE=00000; MSG=
    elif [[ $STATE == 57014 && $MSG == *"statement timeout"* ]]; then
        OUTCOME=hang
    elif [[ $STATE == XX* ]]; then
        OUTCOME=internal
    elif [[ $STATE == 57P03 || -z $STATE ]] && grep -qE 'could not connect|recovery mode|not yet accepting' <<<"$err"; then
        OUTCOME=retry
    elif [[ $MSG == *'could not load library'* ]]; then
        # the module was being replaced by a make install
        OUTCOME=retry
    elif [[ -n $STATE ]]; then
        OUTCOME=error
    else
        OUTCOME=error; STATE=client; MSG=$(head -n 1 <<<"$err")
    fi
}

run_matrix() {
    local gen=$OUT/matrix.tsv res=$OUT/matrix_results.tsv n i=0 t0 secs id role kind sig arg val sql tries
    psql_db "$FUZZDB" -q -f "$HERE/fuzz_matrix.sql" >"$gen" 2>"$OUT/matrix_gen.err"
    sed 's/^/    /' "$OUT/matrix_gen.err"
    n=$(wc -l <"$gen")
    say "    $n calls ($(cut -f2 "$gen" | sort | uniq -c | awk '{ printf "%s%s %s", s, $1, $2; s = ", " }'))"
    : >"$res"
    while IFS=$'\t' read -r id role kind sig arg val sql; do
        i=$(( i + 1 ))
        tries=0
        while :; do
            t0=$EPOCHREALTIME
            run_call "$id" "$role" "$kind" "$sql"
            [[ $OUTCOME == retry && $tries -lt 3 ]] || break
            tries=$(( tries + 1 ))
            sleep 2
            wait_ready
        done
        secs=$(_elapsed "$t0")
        # an answer well after the timeout: the call did not check for
        # interrupts in time (the cancel was served only at its end)
        if [[ $OUTCOME == ok || $OUTCOME == error ]] && awk -v s="$secs" -v t="$TIMEOUT" 'BEGIN { exit !(s > t + 5) }'; then
            MSG="answered after $secs s, past the ${TIMEOUT} s statement timeout (no interrupt check in time); ${OUTCOME}${MSG:+: $MSG}"
            OUTCOME=hang
        fi
        # a generator asked for a million customers or products does that
        # much work by design (generate_demo_data's sizes are documented up to
        # the chain's scale): cancelled cleanly at the timeout, it is slow,
        # not hung; anything else cancelled at the timeout counts as a hang
        if [[ $OUTCOME == hang && $STATE == 57014 && $sig =~ ^seg_reco\.(generate_demo_data|_demo_[a-z_]+)\( \
              && $arg =~ ^(customers|products|transactions|digital_events)$ ]]; then
            OUTCOME=slow
            MSG="work grows with $arg = $val by design; cancelled cleanly by the ${TIMEOUT} s statement timeout"
        fi
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$id" "$OUTCOME" "$STATE" "$secs" \
            "$role" "$sig" "$arg" "$val" "${MSG:--}" "$sql" >>"$res"
        if [[ $OUTCOME == crash ]]; then
            local user=postgres
            [[ $role == analyst ]] && user=fuzz_analyst
            gdb_stack "$user" "$sql" "$OUT/crash_$id.gdb"
        fi
        if (( i % 250 == 0 )); then
            say "    $i / $n calls ($(cut -f2 "$res" | sort | uniq -c | awk '{ printf "%s%s %s", s, $1, $2; s = ", " }'))"
        fi
    done <"$gen"
}

report_matrix() {
    local res=$OUT/matrix_results.tsv
    [[ -s $res ]] || return 0
    M_CALLS=$(wc -l <"$res")
    M_OK=$(awk -F'\t' '$2 == "ok"' "$res" | wc -l)
    M_ERR=$(awk -F'\t' '$2 == "error" || $2 == "retry"' "$res" | wc -l)
    M_XX=$(awk -F'\t' '$2 == "internal"' "$res" | wc -l)
    M_CRASH=$(awk -F'\t' '$2 == "crash"' "$res" | wc -l)
    M_HANG=$(awk -F'\t' '$2 == "hang"' "$res" | wc -l)
    local clean slow
    clean=$(awk -F'\t' '$2 == "hang" && $3 == "57014"' "$res" | wc -l)
    slow=$(awk -F'\t' '$2 == "slow"' "$res" | wc -l)
    printf '\n== bad-input matrix: %s calls: %s ok, %s clear errors, %s internal errors, %s crashes, %s hangs\n' \
        "$M_CALLS" "$M_OK" "$M_ERR" "$M_XX" "$M_CRASH" "$M_HANG"
    printf '   hangs: %s cancelled by the %s s statement timeout, %s answered late or not at all\n' \
        "$clean" "$TIMEOUT" "$(( M_HANG - clean ))"
    printf '   slow by design (a generator asked for millions of rows, cancelled cleanly; not counted): %s\n' "$slow"
    awk -F'\t' '$2 == "slow" { printf "     #%s %.1f s: %s\n", $1, $4, substr($10, 1, 150) }' "$res"
    printf '   clear errors by SQLSTATE class:'
    awk -F'\t' '$2 == "error" { c[substr($3, 1, 2)]++ } END { for (k in c) printf " %s:%d", k, c[k]; print "" }' "$res"
    printf '   slowest calls:\n'
    sort -t$'\t' -k4,4 -g -r "$res" | awk -F'\t' 'NR <= 5 { printf "     %6.1f s  %s  %s\n", $4, $2, substr($10, 1, 150) }'
    local kind
    for kind in internal crash hang; do
        awk -F'\t' -v k="$kind" '$2 == k' "$res" | while IFS=$'\t' read -r id out st secs role sig arg val msg sql; do
            printf '\n   %s #%s (%s, as %s, %ss): %s\n     %s: %s\n     %s;\n' "${kind^^}" "$id" "$st" "$role" "$secs" \
                "$sig" "$arg" "$msg" "$sql"
            if [[ -f $OUT/crash_$id.gdb ]]; then
                printf '     backtrace (%s):\n' "$OUT/crash_$id.gdb"
                grep -E '^#[0-9]+ ' "$OUT/crash_$id.gdb" | sed -n '1,15s/^/       /p'
            fi
        done
    done
}

# ---------------------------------------------------------------------------
# b. sqlsmith
# ---------------------------------------------------------------------------

SMITH_LOGDB=sqlsmith_log
make_smith_logdb() {
    psql_db postgres -q -c "SET client_min_messages = warning" \
        -c "DROP DATABASE IF EXISTS $SMITH_LOGDB WITH (FORCE)" -c "CREATE DATABASE $SMITH_LOGDB"
    # the tables of sqlsmith's log.sql that --log-to writes
    psql_db "$SMITH_LOGDB" -q <<'SQL'
CREATE TABLE instance (id bigserial PRIMARY KEY, rev text, target text, hostname text, version text,
                       seed text, t timestamptz DEFAULT now());
CREATE TABLE error (id bigint REFERENCES instance(id), msg text, query text, target text, sqlstate text,
                    t timestamptz DEFAULT now(), errid bigserial PRIMARY KEY);
CREATE TABLE stat (id bigint REFERENCES instance(id), generated bigint, level float, nodes float,
                   retries float, updated timestamptz, impedance jsonb);
SQL
}

run_sqlsmith() {
    local target="host=$SOCKDIR port=$PORT dbname=$FUZZDB user=fuzz_analyst"
    local logto="host=$SOCKDIR port=$PORT dbname=$SMITH_LOGDB user=postgres"
    local end=$(( SECONDS + MINUTES * 60 )) seed=${SQLSMITH_SEED:-1} chunk=0 spid pos crashed hangs
    : >"$OUT/sqlsmith_crashes.txt"
    : >"$OUT/sqlsmith_hangs.tsv"
    make_smith_logdb
    say "    sqlsmith $(sqlsmith --version 2>&1 | head -n 1) for $MINUTES min as fuzz_analyst (seed from $seed)"
    while (( SECONDS < end )); do
        chunk=$(( chunk + 1 ))
        pos=$(log_size)
        sqlsmith --target="$target" --log-to="$logto" --seed="$seed" --verbose --exclude-catalog \
            </dev/null >/dev/null 2>"$OUT/sqlsmith_$chunk.err" &
        spid=$!
        crashed=
        while kill -0 "$spid" 2>/dev/null && (( SECONDS < end )); do
            sleep 5
            crashed=$(log_crashes "$pos")
            [[ -z $crashed ]] || break
            hangs=$(psql_db postgres -tA -F $'\t' -c "SELECT pid, round(extract(epoch FROM now() - query_start)), replace(replace(query, E'\n', ' '), E'\t', ' ')
                      FROM pg_stat_activity WHERE application_name = 'sqlsmith::dut' AND state = 'active'
                       AND now() - query_start > interval '$HANG_SECS seconds'" 2>/dev/null || true)
            if [[ -n $hangs ]]; then
                printf '%s\n' "$hangs" >>"$OUT/sqlsmith_hangs.tsv"
                cut -f1 <<<"$hangs" | while read -r p; do
                    psql_db postgres -tAc "SELECT pg_terminate_backend($p, 10000)" >/dev/null 2>&1 || true
                done
            fi
        done
        kill -INT "$spid" 2>/dev/null || true
        wait "$spid" 2>/dev/null || true
        if [[ -z $crashed ]]; then sleep 1; crashed=$(log_crashes "$pos"); fi
        if [[ -n $crashed ]]; then
            printf -- '-- chunk %s (seed %s)\n%s\n' "$chunk" "$seed" "$crashed" >>"$OUT/sqlsmith_crashes.txt"
            say "    crash in chunk $chunk (seed $seed): $(head -n 1 <<<"$crashed")"
            wait_ready
        fi
        seed=$(( seed + 1 ))
    done
}

# where an internal error comes from: rerun the query (as fuzz_analyst,
# up to 3 times: TABLESAMPLE makes some runs differ) and read LOCATION;
# prints "seg_reco <func, file:line>", "core <func, file:line>" or "unknown"
xx_origin() {
    local sql=$1 i err loc func so
    so=$SO_PATH
    for i in 1 2 3; do
        err=$(PGOPTIONS="-c statement_timeout=5s" "$PGBIN/psql" -X -q -v VERBOSITY=verbose -h "$SOCKDIR" \
              -p "$PORT" -U fuzz_analyst -d "$FUZZDB" -c "BEGIN; $sql; ROLLBACK" 2>&1 >/dev/null </dev/null || true)
        loc=$(sed -n 's/^LOCATION: *//p' <<<"$err" | head -n 1)
        grep -qE '^ERROR: +XX' <<<"$err" && [[ -n $loc ]] && break
        loc=
    done
    if [[ -z $loc ]]; then echo unknown; return 0; fi
    func=${loc%%,*}
    if LC_ALL=C grep -qaw -- "$func" "$so"; then echo "seg_reco $loc"; else echo "core $loc"; fi
}

report_sqlsmith() {
    [[ -d $OUT ]] && compgen -G "$OUT/sqlsmith_*.err" >/dev/null || return 0
    # progress characters of --verbose: . ok, e error, S syntax error, C connection lost
    local counts timeouts xx_all msg sql origin n
    counts=$(cat "$OUT"/sqlsmith_*.err | grep -E '^[.etSC]+$' | fold -w1 | sort | uniq -c || true)
    cnt() { awk -v c="$1" '$2 == c { print $1 }' <<<"$counts" | grep . || echo 0; }
    S_OK=$(cnt .)
    S_CALLS=$(( S_OK + $(cnt e) + $(cnt t) + $(cnt S) + $(cnt C) ))
    timeouts=$(psql_db "$SMITH_LOGDB" -tAc "SELECT count(*) FROM error WHERE sqlstate = '57014'")
    xx_all=$(psql_db "$SMITH_LOGDB" -tAc "SELECT count(*) FROM error WHERE sqlstate LIKE 'XX%'")
    S_CRASH=$(grep -cE 'was terminated by signal|terminated by exception|exited with exit code|PANIC:' \
              "$OUT/sqlsmith_crashes.txt" || true)
    S_HANG=$(wc -l <"$OUT/sqlsmith_hangs.tsv")
    # internal errors: attributed by the LOCATION of a rerun; those raised in
    # PostgreSQL itself (sqlsmith calls core support functions with values
    # they never get from the executor) are listed but not counted
    S_XX=0
    S_XX_CORE=0
    : >"$OUT/sqlsmith_internal.txt"
    while IFS=$'\t' read -r n msg sql; do
        [[ -n $msg ]] || continue
        origin=$(xx_origin "$sql")
        if [[ $origin == core* ]]; then S_XX_CORE=$(( S_XX_CORE + n )); else S_XX=$(( S_XX + n )); fi
        printf '%s x %s [%s]\n%s;\n\n' "$n" "$msg" "$origin" "$sql" >>"$OUT/sqlsmith_internal.txt"
    done < <(psql_db "$SMITH_LOGDB" -tA -F $'\t' -c "SELECT count(*), m, (array_agg(q ORDER BY length(q)))[1] FROM (
                 SELECT sqlstate || ' ' || split_part(msg, E'\n', 1) AS m,
                        replace(replace(query, E'\n', ' '), E'\t', ' ') AS q
                   FROM error WHERE sqlstate LIKE 'XX%') e GROUP BY m ORDER BY 1 DESC" 2>/dev/null)
    S_ERR=$(( S_CALLS - S_OK - xx_all ))
    printf '\n== sqlsmith: %s queries: %s ok, %s errors (%s statement timeouts of 1 s, %s connection losses); %s internal errors in seg_reco (%s in all), %s crashes, %s hangs\n' \
        "$S_CALLS" "$S_OK" "$(( S_CALLS - S_OK ))" "$timeouts" "$(cnt C)" "$S_XX" "$xx_all" "$S_CRASH" "$S_HANG"
    printf '   errors by SQLSTATE class:'
    psql_db "$SMITH_LOGDB" -tA -F: -c "SELECT left(sqlstate, 2), count(*) FROM error GROUP BY 1 ORDER BY 2 DESC" | tr '\n' ' '
    printf '\n   most frequent errors:\n'
    psql_db "$SMITH_LOGDB" -tA -F$'\t' -c "SELECT count(*), sqlstate, left(split_part(msg, E'\n', 1), 100)
                                             FROM error GROUP BY 2, 3 ORDER BY 1 DESC LIMIT 8" | sed 's/^/     /'
    printf '   errors of queries that call a seg_reco function: %s; by SQLSTATE:' \
        "$(psql_db "$SMITH_LOGDB" -tAc "SELECT count(*) FROM error WHERE query ~ 'seg_reco\.[a-z_0-9]+\('")"
    psql_db "$SMITH_LOGDB" -tA -F: -c "SELECT sqlstate, count(*) FROM error WHERE query ~ 'seg_reco\.[a-z_0-9]+\('
                                        GROUP BY 1 ORDER BY 2 DESC LIMIT 12" | tr '\n' ' '
    printf '\n'
    if [[ -s $OUT/sqlsmith_internal.txt ]]; then
        printf '\n   INTERNAL errors (count x message [origin], then the shortest query):\n'
        sed 's/^/     /' "$OUT/sqlsmith_internal.txt"
    fi
    if [[ -s $OUT/sqlsmith_crashes.txt ]]; then
        printf '\n   CRASHES (server log; DETAIL holds the query):\n'
        sed 's/^/     /' "$OUT/sqlsmith_crashes.txt"
    fi
    if [[ -s $OUT/sqlsmith_hangs.tsv ]]; then
        printf '\n   HANGS (pid, seconds, query):\n'
        sed 's/^/     /' "$OUT/sqlsmith_hangs.tsv"
    fi
}

# ---------------------------------------------------------------------------

M_CALLS=0; M_ERR=0; M_XX=0; M_CRASH=0; M_HANG=0
S_CALLS=0; S_ERR=0; S_XX=0; S_XX_CORE=0; S_CRASH=0; S_HANG=0
if [[ $DO_SMITH -eq 1 ]]; then PACKAGES+=(sqlsmith); fi
if command -v gdb >/dev/null; then :; else PACKAGES+=(gdb); fi
step "packages" ensure_packages
use_fuzz_cluster
SO_PATH=$("$PG_CONFIG" --pkglibdir)/seg_reco.so
if [[ $INSTALLED -eq 0 ]]; then
    step "build into a private server tree" private_install "$(dirname "$DATADIR")/server"
    # shellcheck disable=SC2034  # read by start_cluster (scripts/lib/cluster.sh)
    POSTGRES_BIN=$PRIVATE_POSTGRES
    SO_PATH=$(dirname "$(dirname "$PRIVATE_POSTGRES")")/lib/seg_reco.so
fi
step "fuzz cluster (port $PORT, ${MEM_MB} MB address space per process)" start_limited
step "scratch database $FUZZDB" make_scratch_db
if [[ $DO_MATRIX -eq 1 ]]; then step "bad-input matrix" run_matrix; fi
if [[ $DO_SMITH -eq 1 ]]; then step "sqlsmith ($MINUTES min)" run_sqlsmith; fi
report_matrix
report_sqlsmith
if [[ $KEEP -eq 0 ]]; then
    as_pg "$PGBIN/pg_ctl" -D "$DATADIR" -w -t 120 -m fast stop >/dev/null 2>&1 || true
fi
print_timings
CRASHES=$(( M_CRASH + S_CRASH ))
INTERNAL=$(( M_XX + S_XX ))
HANGS=$(( M_HANG + S_HANG ))
if [[ ${S_XX_CORE:-0} -gt 0 ]]; then
    printf '\n(not counted below: %d internal errors raised inside PostgreSQL by sqlsmith calling core support\nfunctions directly; listed above with their queries)\n' "$S_XX_CORE"
fi
printf '\ncalls %d, clear errors %d, internal errors %d, crashes %d, hangs %d\n' \
    "$(( M_CALLS + S_CALLS ))" "$(( M_ERR + S_ERR ))" "$INTERNAL" "$CRASHES" "$HANGS"
[[ $(( CRASHES + INTERNAL + HANGS )) -eq 0 ]]
