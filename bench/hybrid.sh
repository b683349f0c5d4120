#!/usr/bin/env bash
# Hybrid recommendations: the quality table (seg_reco.evaluate) for
# popularity, buy-again, ALS, content, the hybrid and the cold start, on
# the demo data and on UCI Online Retail, with a time split: the last
# TEST_DAYS (30) days are the test, the VAL_DAYS (28) days before them the
# validation window on which the default weights were chosen (the weight
# candidates are scored there, never on the test).  Then recommend_for
# latency (pgbench, 2 clients, median) and the recommendations view refresh
# time, coverage and intra-list diversity on the demo data.  The weights
# are chosen by seg_reco.tune_weights on the validation window and stored
# in the setting hybrid_weights, which the test evaluation then uses.
#
#   bash bench/hybrid.sh                      # the project cluster (scripts/lib.sh)
#   HYBRID_BENCH_SOCKDIR=/tmp/hyb_pg HYBRID_BENCH_PORT=55051 bash bench/hybrid.sh   # another server
#
# Environment: DEMO_DB (hybrid_demo), UCI_DB (hybrid_uci), EVAL_CUSTOMERS
# (customers sampled per evaluation, default 2000), TEST_DAYS (30),
# VAL_DAYS (28), PGBENCH_SECONDS (20), SKIP_UCI=1, SKIP_DEMO=1, SKIP_VALIDATION=1,
# REFRESH_ONLY=1 (demo: only the view refresh and its lists),
# FRESH=1 (recreate the databases), UCI_CSV (the UCI file).
set -euo pipefail
# shellcheck source=../scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

DEMO_DB=${DEMO_DB:-hybrid_demo}
UCI_DB=${UCI_DB:-hybrid_uci}
EVAL_CUSTOMERS=${EVAL_CUSTOMERS:-2000}
TEST_DAYS=${TEST_DAYS:-30}
VAL_DAYS=${VAL_DAYS:-28}
PGBENCH_SECONDS=${PGBENCH_SECONDS:-20}
UCI_CSV=${UCI_CSV:-$ROOT/../shared/data/online-retail/online_retail.csv.gz}

if [[ -n ${HYBRID_BENCH_SOCKDIR:-} ]]; then
    SOCKDIR=$HYBRID_BENCH_SOCKDIR
    PORT=${HYBRID_BENCH_PORT:-5432}
else
    start_cluster >/dev/null
fi
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

evaluate_db() {   # evaluate_db db label
    local db=$1 label=$2 end split val
    end=$(psql_db "$db" -tAc "SELECT max(ts)::date FROM seg_reco.transactions")
    split=$(psql_db "$db" -tAc "SELECT '$end'::date + 1 - $TEST_DAYS")
    val=$(psql_db "$db" -tAc "SELECT '$split'::date - $VAL_DAYS")
    say "==> $label: data end $end; validation $val .. $split (exclusive); test $split .. $end"
    if [[ ${SKIP_VALIDATION:-0} != 1 ]]; then
        say "--- validation window: tune_weights scores the candidate weights (NDCG@10) and stores the best"
        q "$db" -c "SELECT mode, weights, round(ndcg_at_k::numeric, 4) AS ndcg_at_10, chosen
                      FROM seg_reco.tune_weights('$val', jsonb_build_object('sample_size', $EVAL_CUSTOMERS,
                                                                           'test_days', $VAL_DAYS))"
    fi
    say "--- test window ($TEST_DAYS days), k = 10, $EVAL_CUSTOMERS customers sampled"
    q "$db" -c "CREATE TEMP TABLE t AS SELECT * FROM seg_reco.evaluate('$split', 10,
                  jsonb_build_object('sample_size', $EVAL_CUSTOMERS), '$label test')" \
      -c "INSERT INTO t SELECT 'hybrid+mmr0.3', mode, customers, precision_at_k, recall_at_k, ndcg_at_k, map_at_k,
                               hit_rate, coverage, diversity, novelty
            FROM seg_reco.evaluate('$split', 10, jsonb_build_object('sample_size', $EVAL_CUSTOMERS,
                 'recommenders', '[\"hybrid\"]'::jsonb, 'diversity', 0.3), '$label test mmr 0.3')" \
      -c "SELECT mode, recommender, customers, round(ndcg_at_k::numeric, 4) AS ndcg, round(precision_at_k::numeric, 4) AS prec,
                 round(recall_at_k::numeric, 4) AS recall, round(map_at_k::numeric, 4) AS map,
                 round(hit_rate::numeric, 3) AS hit, round(coverage::numeric, 3) AS coverage,
                 round(diversity::numeric, 3) AS ild, round(novelty::numeric, 2) AS novelty
            FROM t ORDER BY mode, array_position(ARRAY['popularity', 'buy_again', 'als', 'content', 'hybrid',
                                                       'hybrid+mmr0.3', 'cold_start'], recommender)"
}

# ---------------------------------------------------------------- demo data
if [[ ${SKIP_DEMO:-0} != 1 ]]; then
if fresh_db "$DEMO_DB"; then
    say "==> demo data and the pipeline in $DEMO_DB"
    q "$DEMO_DB" -c "SET client_min_messages = warning" -c "SELECT relation, rows FROM seg_reco.generate_demo_data()" \
      -c "CALL seg_reco.refresh()"
fi
if [[ ${REFRESH_ONLY:-0} != 1 ]]; then
evaluate_db "$DEMO_DB" demo

say "==> recommend_for latency (hybrid, default weights, k 10): pgbench, 2 clients, ${PGBENCH_SECONDS}s"
tmp=$(mktemp -d)
printf '\\set c random(1, 10000)\nSELECT * FROM seg_reco.recommend_for(:c, 10);\n' > "$tmp/rf.sql"
"$PGBIN/pgbench" -h "$SOCKDIR" -p "$PORT" -U postgres -n -c 2 -j 2 -T "$PGBENCH_SECONDS" -f "$tmp/rf.sql" \
    -l --log-prefix="$tmp/log" "$DEMO_DB" 2>&1 | grep -E "^(tps|latency average)"
cat "$tmp"/log* | awk '{print $3}' | sort -n |
    awk '{a[NR] = $1} END {printf "median latency = %.3f ms (%d calls)\n", a[int((NR + 1) / 2)] / 1000, NR}'
rm -rf "$tmp"
fi

say "==> recommendations view: refresh_recommendations() into the emptied idle slot, then the swap (10,000 customers), ms, median of 3"
refresh_ms() {   # psql's \timing of each statement in one session, one number a line
    psql_db "$DEMO_DB" -qAt -c '\timing on' "$@" | awk '/^Time:/ { printf "%.0f\n", $2 }'
}
E='SELECT seg_reco._recommendations_empty_idle(NULL)'
R='SELECT seg_reco.refresh_recommendations()'
cold=(); for i in 1 2 3; do cold+=("$(refresh_ms -c "$E" -c "$R" | tail -n 1)"); done
nojit=(); for i in 1 2 3; do nojit+=("$(refresh_ms -c 'SET jit = off' -c "$E" -c "$R" | tail -n 1)"); done
warm=($(refresh_ms -c "$E" -c "$R" -c "$E" -c "$R" -c "$E" -c "$R" -c "$E" -c "$R" | awk 'NR % 2 == 0'))
printf 'each in a new session:                    %s ms (runs: %s)\n' \
    "$(printf '%s\n' "${cold[@]}" | sort -g | sed -n 2p)" "${cold[*]}"
printf 'each in a new session, jit off (refresh()): %s ms (runs: %s)\n' \
    "$(printf '%s\n' "${nojit[@]}" | sort -g | sed -n 2p)" "${nojit[*]}"
printf 'in one session, after a first refresh:    %s ms (runs: %s)\n' \
    "$(printf '%s\n' "${warm[@]:1}" | sort -g | sed -n 2p)" "${warm[*]:1}"
q "$DEMO_DB" <<'SQL'
SELECT count(DISTINCT customer_id) AS customers,
       round(count(DISTINCT product_id)::numeric / (SELECT count(*) FROM seg_reco.products WHERE active), 3) AS coverage,
       (SELECT round(avg(seg_reco.intra_list_diversity(l))::numeric, 3)
          FROM (SELECT array_agg(product_id) AS l FROM seg_reco.recommendations GROUP BY customer_id) x) AS ild,
       (SELECT value FROM seg_reco.setting_defaults WHERE key = 'recommendations_diversity') AS diversity_setting
  FROM seg_reco.recommendations;
SELECT source, count(*) FROM seg_reco.recommendations GROUP BY source ORDER BY count(*) DESC;
SQL
fi

# ---------------------------------------------------------------- UCI Online Retail
if [[ ${SKIP_UCI:-0} != 1 ]]; then
    [[ -r $UCI_CSV ]] || die "UCI Online Retail not found at $UCI_CSV (set UCI_CSV or SKIP_UCI=1)"
    if fresh_db "$UCI_DB"; then
        say "==> loading UCI Online Retail into $UCI_DB"
        q "$UCI_DB" -v csv="$UCI_CSV" -f "$ROOT/bench/als_uci_load.sql"
    fi
    # an English catalogue: the text search configuration english (as bench/content.sh)
    q "$UCI_DB" -c "INSERT INTO seg_reco.settings VALUES ('content_text_config', '\"english\"')
                      ON CONFLICT (key) DO UPDATE SET value = excluded.value"
    q "$UCI_DB" -c "SET client_min_messages = warning" -c "SELECT seg_reco.build_content() ->> 'terms' AS terms" \
      -c "SELECT seg_reco.build_popularity() ->> 'buyers' AS buyers"
    evaluate_db "$UCI_DB" uci
fi
