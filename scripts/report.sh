#!/usr/bin/env bash
# Write the visual report of a database with seg_reco: one self-contained
# HTML file (data and charting library inside; it opens offline) with the
# RFM segments, cluster profiles, CLV and p_alive distributions, cohort
# retention and revenue heatmaps, the recommender comparison, the A/B test
# with its intervals and ROI, and the time of each refresh step.
set -euo pipefail

usage() {
    cat <<'USAGE'
usage: bash scripts/report.sh [--png FILE.png] [DATABASE] [OUT.html]

  DATABASE   a database name or a libpq connection string (default: seg_reco)
  OUT.html   the file to write (default: out/seg_reco_report.html in the
             project folder)
  --png      also render the top of the page (1400 x 1650 pixels) into
             FILE.png with headless Chromium (installed with apt-get when
             missing, as root); docs/report.png is made so from the demo

Connection: the throwaway cluster of scripts/demo.sh (scripts/cluster.sh),
unless PGHOST, PGPORT, PGUSER or PGSERVICE is set or DATABASE is a
connection string ("host=... dbname=..." or "postgresql://..."): then libpq's
usual settings decide.  The role needs to read seg_reco's views and tables
(an analyst role as in the README's "Access for analysts").  Charts whose data are missing say what
to run.  Needs node and npm (installed with apt-get when missing, as root)
and Apache ECharts from the npm registry (npm ci, once).

Environment: SEG_RECO_PGPORT (the throwaway cluster's port, default 54315).
USAGE
}

png=
args=()
while [[ $# -gt 0 ]]; do
    case $1 in
        -h|--help) usage; exit 0 ;;
        --png) [[ $# -ge 2 ]] || { usage >&2; exit 2; }; png=$2; shift ;;
        --png=*) png=${1#--png=} ;;
        -*) printf 'unknown option: %s\n\n' "$1" >&2; usage >&2; exit 2 ;;
        *) args+=("$1") ;;
    esac
    shift
done
[[ ${#args[@]} -le 2 ]] || { usage >&2; exit 2; }
set -- "${args[@]}"

# libpq's own settings, before lib.sh points them at the throwaway cluster
own_connection=0
if [[ -n ${PGHOST:-}${PGPORT:-}${PGUSER:-}${PGSERVICE:-} ]]; then own_connection=1; fi

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

target=${1:-$DB}
out=${2:-$ROOT/out/seg_reco_report.html}
if [[ $target == *=* || $target == postgres://* || $target == postgresql://* ]]; then own_connection=1; fi

if [[ $own_connection -eq 1 ]]; then
    psql_bin=$PGBIN/psql
    [[ -x $psql_bin ]] || psql_bin=$(command -v psql || true)
    [[ -n $psql_bin ]] || die "psql not found (install postgresql-client-15)"
    conn=("$psql_bin" -d "$target")
else
    resolve_dirs
    pg_running || die "the throwaway cluster is not running (bash scripts/demo.sh starts it); for another server set PGHOST/PGPORT or pass a connection string"
    conn=(psql_db "$target")
fi

ensure_echarts
write_report "$out" "${conn[@]}"
say "report written: $out ($(( $(stat -c %s "$out") / 1024 )) kB; open it in a browser, no network needed)"
if [[ -n $png ]]; then
    ensure_chromium
    report_png "$out" "$png"
    say "top of the page: $png ($(( $(stat -c %s "$png") / 1024 )) kB)"
fi
