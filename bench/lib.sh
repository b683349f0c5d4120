# shellcheck shell=bash
# Helpers shared by bench/scale.sh and bench/incremental.sh.  Sourced, never
# run; the caller sets `set -euo pipefail` and HERE (bench/), SOCK and
# PGPORT_ (--socket/--port: a running server) first.

# bench_connect: psql_db and say, either for the running server of
# --socket/--port or for scripts/lib.sh's cluster (built, installed and
# started here: SEG_RECO_PGBIN and SEG_RECO_PGPORT choose which)
bench_connect() {
    if [[ -n $SOCK ]]; then
        PGBIN=${SEG_RECO_PGBIN:-/usr/lib/postgresql/15/bin}
        psql_db() { local db=$1; shift; "$PGBIN/psql" -X -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PGPORT_" -U postgres -d "$db" "$@"; }
        say() { printf '%s\n' "$*"; }
    else
        # shellcheck source=scripts/lib.sh
        source "$HERE/../scripts/lib.sh"
        step "build and install into $("$PG_CONFIG" --pkglibdir)" build_install
        step "cluster" start_cluster
    fi
}

# bench_fresh_db DB: a new database with seg_reco in it
bench_fresh_db() {
    local db=$1
    psql_db postgres -q -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
    psql_db "$db" -q -c "SET client_min_messages = warning" -c "CREATE EXTENSION seg_reco"
}

# timed DB SQL LOG [last]: SQL in a new session with \timing; prints the
# longest statement's time (ms): the work, not the BEGIN or ROLLBACK around
# it; with "last", the last statement's (e.g. the second of two calls: the
# warm one); "-" when none
timed() {
    local db=$1 sql=$2 log=$3 which=${4:-longest}
    psql_db "$db" -At >"$log" 2>&1 <<SQL
SET client_min_messages = warning;
\timing on
$sql
SQL
    awk -v last="$([[ $which == last ]] && echo 1 || echo 0)" \
        '/^Time: /{ if (last || $2 + 0 > t + 0) t = $2 } END { print (t == "" ? "-" : t) }' "$log"
}

# run_sampled DB SQL LOG: SQL in a new session with \timing, sampling the
# backend's RssAnon (private memory) every 0.5 s meanwhile; prints
# "<ms> <VmHWM kB> <peak RssAnon kB> <ok|failed>" (ms: the longest statement)
run_sampled() {
    local db=$1 sql=$2 log=$3 pid='' bg ms hwm anon=0 a status=ok
    ( psql_db "$db" -At <<SQL
SELECT 'PID ' || pg_backend_pid();
SET client_min_messages = warning;
\timing on
$sql
\timing off
SELECT 'VmHWM ' || substring(pg_catalog.pg_read_file('/proc/self/status') from 'VmHWM:\s*([0-9]+)');
SQL
    ) >"$log" 2>&1 &
    bg=$!
    while kill -0 "$bg" 2>/dev/null; do
        [[ -z $pid ]] && pid=$(awk '/^PID /{ print $2; exit }' "$log" 2>/dev/null || true)
        if [[ -n $pid && -r /proc/$pid/status ]]; then
            a=$(awk '/^RssAnon:/{ print $2 }' "/proc/$pid/status" 2>/dev/null || true)
            [[ -n $a && $a -gt $anon ]] && anon=$a
        fi
        sleep 0.5
    done
    wait "$bg" || status=failed
    ms=$(awk '/^Time: /{ if ($2 + 0 > t + 0) t = $2 } END { print (t == "" ? "-" : t) }' "$log")
    hwm=$(awk '/^VmHWM /{ print $2 }' "$log")
    printf '%s %s %s %s\n' "$ms" "${hwm:--}" "$anon" "$status"
}

# last_run DB: the newest run_id of refresh_log
last_run() {
    psql_db "$1" -At -c "SELECT max(run_id) FROM seg_reco.refresh_log"
}

# run_steps DB RUN: "step|ms|peak MB|kind" per step of a refresh_log run, in order
run_steps() {
    psql_db "$1" -At -c "SELECT step, round(duration_ms), coalesce(round(peak_memory_bytes / 1048576.0), -1), coalesce(kind, '-')
                           FROM seg_reco.refresh_log WHERE run_id = $2 ORDER BY started_at, step"
}

# make_day DB: public.bench_day, one day of lines: those of the day of the
# last 90 whose count is nearest the mean per day (about 0.14% of the lines
# of the demo data), moved to the day after the last, with new ids; prints
# "<lines> <customers>".  Not loaded: load_day does that.
make_day() {
    local db=$1
    psql_db "$db" -q <<'SQL'
SET client_min_messages = warning;
DROP TABLE IF EXISTS public.bench_day;
CREATE TABLE public.bench_day AS
WITH pick AS (
    SELECT x.d, (SELECT max(ts)::date + 1 FROM seg_reco.transactions) - x.d AS shift
      FROM (SELECT t.ts::date AS d, count(*) AS n FROM seg_reco.transactions t
             WHERE t.ts >= (SELECT max(ts)::date - 90 FROM seg_reco.transactions) GROUP BY 1) x
     ORDER BY abs(x.n - (SELECT count(*)::numeric / (max(ts)::date - min(ts)::date + 1) FROM seg_reco.transactions)), x.d
     LIMIT 1)
SELECT t.line_id + 1000000000000 AS line_id, t.receipt_id + 1000000000000 AS receipt_id, t.customer_id, t.product_id,
       t.store_id, t.ts + p.shift * interval '1 day' AS ts, t.quantity, t.unit_price, t.discount, t.amount, t.channel
  FROM seg_reco.transactions t, pick p WHERE t.ts::date = p.d;
SQL
    psql_db "$db" -At -F ' ' -c "SELECT count(*), count(DISTINCT customer_id) FROM public.bench_day"
}

# load_day DB LOG: INSERT the day's lines (capture triggers on, kept); prints ms
load_day() {
    timed "$1" "INSERT INTO seg_reco.transactions SELECT * FROM public.bench_day;" "$2"
}
