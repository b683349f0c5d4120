# shellcheck shell=bash
# The databases, time split and server of bench/nextbasket.sh, shared with
# bench/buy_again_grid.sh (which runs on nextbasket.sh's databases).
# Sourced after scripts/lib.sh, never run.  Environment: DEMO_DB
# (nextbasket_demo), UCI_DB (nextbasket_uci), EVAL_CUSTOMERS (2000),
# TEST_DAYS (30), VAL_DAYS (28), PYTHON (a python3 with numpy, default
# /usr/bin/python3), NB_BENCH_SOCKDIR and NB_BENCH_PORT (another server;
# otherwise scripts/lib.sh's cluster, started here).
# shellcheck disable=SC2034  # read by the scripts that source this
DEMO_DB=${DEMO_DB:-nextbasket_demo}
# shellcheck disable=SC2034
UCI_DB=${UCI_DB:-nextbasket_uci}
# shellcheck disable=SC2034
EVAL_CUSTOMERS=${EVAL_CUSTOMERS:-2000}
# shellcheck disable=SC2034
TEST_DAYS=${TEST_DAYS:-30}
# shellcheck disable=SC2034
VAL_DAYS=${VAL_DAYS:-28}
# shellcheck disable=SC2034
PYTHON=${PYTHON:-/usr/bin/python3}

if [[ -n ${NB_BENCH_SOCKDIR:-} ]]; then
    SOCKDIR=$NB_BENCH_SOCKDIR
    PORT=${NB_BENCH_PORT:-5432}
else
    start_cluster >/dev/null
fi
