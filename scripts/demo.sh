#!/usr/bin/env bash
# Build seg_reco, start a throwaway PostgreSQL 15 cluster inside the project
# folder, load demo data and plant a past campaign with a known effect in it
# (generate_demo_campaign), refresh the models, print the analyst report and
# write it as charts into one HTML file (out/seg_reco_report.html).
# Safe to run again: the cluster, database and data are reused.
set -euo pipefail

usage() {
    cat <<'USAGE'
usage: bash scripts/demo.sh [--rebuild] [--help]

  --rebuild   drop and recreate the extension and regenerate the demo data
  --help      show this text

Environment: SEG_RECO_PGPORT (default 54315), CI=true (build with -Werror).
Run as root on Debian 12; missing packages are installed with apt-get.
USAGE
}

rebuild=0
for arg in "$@"; do
    case $arg in
        --rebuild) rebuild=1 ;;
        -h|--help) usage; exit 0 ;;
        *) printf 'unknown option: %s\n\n' "$arg" >&2; usage >&2; exit 2 ;;
    esac
done

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
REBUILD=$rebuild
SHOW_PROGRESS=1

report() {
    if [[ -f $ROOT/scripts/report.sql ]]; then
        psql_db "$DB" -q -f "$ROOT/scripts/report.sql"
    else
        psql_db "$DB" -q -c "
            SELECT 'customers' AS relation, count(*) AS rows FROM seg_reco.customers
            UNION ALL SELECT 'products', count(*) FROM seg_reco.products
            UNION ALL SELECT 'transactions', count(*) FROM seg_reco.transactions
            UNION ALL SELECT 'digital_events', count(*) FROM seg_reco.digital_events"
    fi
}

setup_all
step "demo campaign" ensure_demo_campaign
step "refresh models" refresh_pipeline

# the recommender comparison of the report: once per data set (evaluate trains
# its own models on the past; about half a minute)
evaluate_recommenders() {
    local have
    have=$(psql_db "$DB" -At -c "SELECT count(*) FROM seg_reco.evaluation_runs WHERE name = 'demo report'")
    if [[ $have -gt 0 ]]; then
        say "    reusing the stored evaluation run (seg_reco.evaluation_runs)"
        return 0
    fi
    psql_progress "$DB" -q -o /dev/null -c "SELECT * FROM seg_reco.evaluate(seg_reco.default_as_of() - 29, 10, '{\"sample_size\": 1000}', 'demo report')" |
        sed -u 's/^/    /'
}
step "evaluate recommenders" evaluate_recommenders
step "analyst report" report

# the same as charts: one HTML file (scripts/report.sh writes it again)
REPORT_HTML=$ROOT/out/seg_reco_report.html
visual_report() {
    ensure_echarts
    write_report "$REPORT_HTML" psql_db "$DB"
    say "    $REPORT_HTML ($(( $(stat -c %s "$REPORT_HTML") / 1024 )) kB, opens offline in any browser)"
}
step "visual report (HTML)" visual_report
print_timings
connection_help
printf '\nVisual report: %s\n' "$REPORT_HTML"
