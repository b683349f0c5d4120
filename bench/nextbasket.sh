#!/usr/bin/env bash
# The repeat-aware next-basket model against its references: on the demo
# data and on UCI Online Retail, with bench/hybrid.sh's time split (the last
# TEST_DAYS (30) days are the test, the VAL_DAYS (28) days before them the
# validation window), seg_reco's recommenders (evaluate: buy-again, the
# next-basket source alone, ALS, the hybrid) side by side with
# bench/nextbasket_ref.py's numpy TIFU-KNN and UP-CF@r and the plain
# ordering by how many receipts held each product (then the latest).
# Everything is tuned on the validation window only: seg_reco's
# tune_nextbasket (the TIFU-KNN parameters) then tune_weights (the blend's
# weights, the default candidates), the references' parameter grids
# (nextbasket_ref.py --tune-split).  Then the test window, k = 10.
#
#   bash bench/nextbasket.sh                  # the project cluster (scripts/lib.sh)
#   NB_BENCH_SOCKDIR=/tmp/x NB_BENCH_PORT=5432 bash bench/nextbasket.sh   # another server
#
# Environment: DEMO_DB (nextbasket_demo), UCI_DB (nextbasket_uci),
# EVAL_CUSTOMERS (2000), TEST_DAYS (30), VAL_DAYS (28), SKIP_DEMO=1,
# SKIP_UCI=1, SKIP_REF=1 (no Python reference), SKIP_TUNE=1 (the shipped
# defaults), FRESH=1 (recreate the databases), UCI_CSV (the UCI file),
# PYTHON (a python3 with numpy, default /usr/bin/python3), DEMO_REF_GRID
# (small: the references' smaller parameter grids on the demo data, where the
# full ones took over 77 minutes on a shared 2-core machine; full) and
# UCI_REF_GRID (full).
set -euo pipefail
# shellcheck source=../scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

# shellcheck source=bench/nextbasket_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/nextbasket_env.sh"
UCI_CSV=${UCI_CSV:-$ROOT/../shared/data/online-retail/online_retail.csv.gz}
q() { local db=$1; shift; psql_db "$db" -q -P footer=off "$@"; }

fresh_db() {   # fresh_db name -> 0 when (re)created
    local db=$1
    if [[ ${FRESH:-0} == 1 ]]; then
        psql_db postgres -q -c "DROP DATABASE IF EXISTS $db"
    fi
    if [[ -z $(psql_db postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'") ]]; then
        psql_db postgres -q -c "CREATE DATABASE $db"
        q "$db" -c "CREATE EXTENSION seg_reco"
        return 0
    fi
    return 1
}

eval_test() {   # eval_test db label split what
    local db=$1 label=$2 split=$3 what=$4
    say "--- test window, $what: seg_reco.evaluate, k = 10, $EVAL_CUSTOMERS customers sampled"
    q "$db" -c "SET client_min_messages = warning" \
      -c "SELECT mode, recommender, customers, round(ndcg_at_k::numeric, 4) AS ndcg,
                 round(precision_at_k::numeric, 4) AS prec, round(recall_at_k::numeric, 4) AS recall,
                 round(map_at_k::numeric, 4) AS map, round(hit_rate::numeric, 3) AS hit
            FROM seg_reco.evaluate('$split', 10, jsonb_build_object('sample_size', $EVAL_CUSTOMERS,
                 'recommenders', '[\"popularity\", \"buy_again\", \"nextbasket\", \"als\", \"content\", \"hybrid\"]'::jsonb),
                 '$label nextbasket bench, $what')
           WHERE mode IN ('all', 'new')"
}

bench_db() {   # bench_db db label ref_grid
    local db=$1 label=$2 grid=$3 end split val
    end=$(psql_db "$db" -tAc "SELECT max(ts)::date FROM seg_reco.transactions")
    split=$(psql_db "$db" -tAc "SELECT '$end'::date + 1 - $TEST_DAYS")
    val=$(psql_db "$db" -tAc "SELECT '$split'::date - $VAL_DAYS")
    say "==> $label: data end $end; validation $val .. $split (exclusive); test $split .. $end"
    q "$db" -c "SET client_min_messages = warning" -c "SELECT seg_reco.build_content() ->> 'terms' AS terms" \
      -c "SELECT seg_reco.build_popularity() ->> 'buyers' AS buyers" >/dev/null
    # the owner's settings from an earlier run go: the shipped defaults first
    q "$db" -c "DELETE FROM seg_reco.settings WHERE key = 'hybrid_weights' OR key LIKE 'nextbasket%'"
    eval_test "$db" "$label" "$split" "shipped defaults"
    if [[ ${SKIP_TUNE:-0} != 1 ]]; then
        say "--- validation: tune_nextbasket (the next-basket source alone, NDCG@10, mode all)"
        q "$db" -c "SET client_min_messages = warning" \
          -c "SELECT params, round(ndcg_at_k::numeric, 4) AS ndcg_at_10, chosen
                FROM seg_reco.tune_nextbasket('$val', jsonb_build_object('sample_size', $EVAL_CUSTOMERS,
                                                                        'test_days', $VAL_DAYS))"
        say "--- validation: tune_weights (the blend, default candidates)"
        q "$db" -c "SET client_min_messages = warning" \
          -c "SELECT mode, weights, round(ndcg_at_k::numeric, 4) AS ndcg_at_10, chosen
                FROM seg_reco.tune_weights('$val', jsonb_build_object('sample_size', $EVAL_CUSTOMERS,
                                                                     'test_days', $VAL_DAYS))"
        eval_test "$db" "$label" "$split" "tuned on the validation window"
    fi
    if [[ ${SKIP_REF:-0} != 1 ]]; then
        say "--- references (bench/nextbasket_ref.py, numpy; $grid grids tuned on the validation window)"
        PSQL="$PGBIN/psql -h $SOCKDIR -p $PORT -U postgres" \
            "$PYTHON" "$ROOT/bench/nextbasket_ref.py" "$db" "$split" --tune-split "$val" \
            --tune-days "$VAL_DAYS" --sample "$EVAL_CUSTOMERS" --grid "$grid"
    fi
}

if [[ ${SKIP_DEMO:-0} != 1 ]]; then
    if fresh_db "$DEMO_DB"; then
        say "==> demo data in $DEMO_DB"
        q "$DEMO_DB" -c "SET client_min_messages = warning" -c "SELECT relation, rows FROM seg_reco.generate_demo_data()"
    fi
    bench_db "$DEMO_DB" demo "${DEMO_REF_GRID:-small}"
fi

if [[ ${SKIP_UCI:-0} != 1 ]]; then
    [[ -r $UCI_CSV ]] || die "UCI Online Retail not found at $UCI_CSV (set UCI_CSV or SKIP_UCI=1)"
    if fresh_db "$UCI_DB"; then
        say "==> loading UCI Online Retail into $UCI_DB"
        q "$UCI_DB" -v csv="$UCI_CSV" -f "$ROOT/bench/als_uci_load.sql"
    fi
    # an English catalogue: the text search configuration english (as bench/content.sh)
    q "$UCI_DB" -c "INSERT INTO seg_reco.settings VALUES ('content_text_config', '\"english\"')
                      ON CONFLICT (key) DO UPDATE SET value = excluded.value"
    bench_db "$UCI_DB" uci "${UCI_REF_GRID:-full}"
fi
