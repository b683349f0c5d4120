#!/usr/bin/env bash
# The Complete Journey (84.51°/Kroger): campaign reach and coupon redemption
# by campaign type, spend segment and demographic segment, and why none of
# it can be read as the campaigns' effect (bench/completejourney.sql).
#
#   bash bench/completejourney.sh
#
# Loads ../shared/data/completejourney (or $SEG_RECO_SHARED/data/...) into
# schema completejourney of its own database (seg_reco_completejourney) in
# the throwaway cluster of scripts/lib.sh, as a user would: CREATE TABLE,
# \copy, then plain SQL with seg_reco's rfm aggregate and ab_compare.  The
# tables stay for exploring (bash scripts/cluster.sh psql -d
# seg_reco_completejourney).  Nothing is asserted here; the pg_regress test
# ab_completejourney runs the same file and checks its output.
set -euo pipefail
case ${1:-} in
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    '') ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
esac

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
CJDB=seg_reco_completejourney
SHARED=${SEG_RECO_SHARED:-$ROOT/../shared}
[[ -r $SHARED/data/completejourney/campaigns.csv ]] \
    || die "the data are missing: $SHARED/data/completejourney (set SEG_RECO_SHARED to the folder holding data/)"
# the SQL reads .shared/data/completejourney relative to the repository root
ln -sfn "$(cd "$SHARED" && pwd)" "$ROOT/.shared"

step "packages" ensure_packages
step "build and install" build_install
step "cluster" start_cluster

setup_db() {
    psql_db postgres -q -c "DROP DATABASE IF EXISTS $CJDB" -c "CREATE DATABASE $CJDB"
    psql_db "$CJDB" -q -c "CREATE EXTENSION seg_reco"
}
step "database" setup_db
report() {
    (cd "$ROOT" && psql_db "$CJDB" -q -P footer=off -f bench/completejourney.sql)
}
step "load and analyse" report
print_timings
