# shellcheck shell=bash
# The database, the extension in it, the demo data and the pipeline.
# Sourced through scripts/lib.sh, never run.

# ---------------------------------------------------------------------------

psql_db() {
    local db=$1; shift
    "$PGBIN/psql" -X -v ON_ERROR_STOP=1 -h "$SOCKDIR" -p "$PORT" -U postgres -d "$db" "$@"
}

# psql_progress DB args...: psql_db, and with SHOW_PROGRESS=1 a line as each
# step of a long call starts and ends (the NOTICE messages of the setting
# seg_reco.progress_messages; inner commands' steps and the timings in
# DETAIL are left out: the refresh log has those), on stdout
psql_progress() {
    if [[ $SHOW_PROGRESS -ne 1 ]]; then
        psql_db "$@"
        return
    fi
    PGOPTIONS="${PGOPTIONS:-} -c seg_reco.progress_messages=on" psql_db "$@" 2>&1 |
        sed -u -e '/^NOTICE:  [a-z_]* > /d' -e 's/^NOTICE:  \([a-z_]*: \)/\1/' \
            -e '/^DETAIL:  [0-9.]* s\(, peak memory [0-9.]* MB\| into the step\)\{0,1\}$/d'
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
    # one record per data directory: a checkout may run clusters of two
    # installations (SEG_RECO_PGBIN), whose databases hold different builds
    local hashfile
    hashfile=$STATE/ext.$(printf '%s' "$DATADIR" | sha256sum | cut -c1-12).hash
    [[ -f $hashfile ]] && old=$(cat "$hashfile")

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
    rm -f "$hashfile"
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
    printf '%s\n' "$hash" >"$hashfile"
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
    psql_progress "$DB" -P footer=off -c "SELECT * FROM seg_reco.generate_demo_data()" | sed -u 's/^/    /'
}

# demo.sh only: the past coffee campaign with a known effect, planted on top
# of the demo data (generate_demo_data itself stays as it is); kept while its
# planted lines are in the data
ensure_demo_campaign() {
    local n
    n=$(psql_db "$DB" -tAc "SELECT count(*) FROM (SELECT 1 FROM seg_reco.demo_campaign_truth d
                                JOIN seg_reco.transactions t ON t.receipt_id = d.planted_receipt_id LIMIT 1) s")
    if [[ $n != 0 && $EXT_RECREATED -eq 0 && $REBUILD -eq 0 ]]; then
        say "    reusing the planted campaign (seg_reco.demo_campaign_truth)"
        return 0
    fi
    psql_db "$DB" -P footer=off -c "SELECT * FROM seg_reco.generate_demo_campaign()" | sed 's/^/    /'
}

# test.sh only: the tests assert what generate_demo_data() planted, so a
# campaign that demo.sh planted on top (its lines have line ids from
# 8,000,000,000,000,000, as generate_demo_campaign() deletes them) goes
# first; demo.sh plants it again at its next run
remove_demo_campaign() {
    local n
    n=$(psql_db "$DB" -tAc "SELECT count(*) FROM (SELECT 1 FROM seg_reco.demo_campaign_truth LIMIT 1) s")
    if [[ $n == 0 ]]; then
        say "    no demo campaign planted"
        return 0
    fi
    psql_db "$DB" -q -v ON_ERROR_STOP=1 <<'SQL'
DELETE FROM seg_reco.transactions t WHERE t.line_id >= 8000000000000000;
DELETE FROM seg_reco.ab_experiments e
 WHERE e.experiment IN (SELECT d.experiment FROM seg_reco.demo_campaign_truth d);
DELETE FROM seg_reco.demo_campaign_truth;
SQL
    say "    removed the demo campaign demo.sh planted (the tests read the demo data as generated)"
}

# everything up to a current extension with demo data, as steps
# run the whole pipeline once (the views the tests and the report read)
refresh_pipeline() {
    psql_progress "$DB" -q -c "CALL seg_reco.refresh()" | sed -u 's/^/    /'
    [[ $SHOW_PROGRESS -eq 1 ]] || return 0
    psql_db "$DB" -q -P footer=off -c "
        SELECT l.step, round(l.duration_ms / 1000, 2) AS seconds, l.row_count AS rows,
               pg_size_pretty(l.peak_memory_bytes) AS peak_memory
          FROM seg_reco.refresh_log l
         WHERE l.run_id = (SELECT max(run_id) FROM seg_reco.refresh_log)
         ORDER BY l.started_at" | sed 's/^/    /'
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
