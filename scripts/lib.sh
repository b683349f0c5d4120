# shellcheck shell=bash
# Shared helpers for scripts/demo.sh, scripts/test.sh, scripts/cluster.sh and
# bench/.  Sourced, never run.  The caller sets `set -euo pipefail` first.
# The helpers live in scripts/lib/ by concern:
#   common.sh    messages, timed steps, running commands as the cluster's user
#   build.sh     Debian packages and the build of the extension
#   cluster.sh   the throwaway PostgreSQL cluster
#   db.sh        the database, the extension, demo data, the pipeline
#   report.sh    the visual report (HTML with ECharts) and its Chromium test
#   citus.sh     the Citus build (vendored source) and the Citus cluster
#   tap.sh       the TAP tests (prove), the summary line of the test scripts
#
# Environment:
#   SEG_RECO_PGPORT   port of the throwaway cluster (default 54315; socket only)
#   SEG_RECO_PGBIN    bin directory of the PostgreSQL 15 to build against,
#                     install into and run (default /usr/lib/postgresql/15/bin);
#                     another one (a private copy, e.g. for a long benchmark
#                     that other `make install`s must not disturb) gets a
#                     data directory of its own, .pgdata-alt
#   CI=true           build with WERROR=1; tests that need ../shared fail
#                     instead of being skipped when it is missing

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PGBIN_DEFAULT=/usr/lib/postgresql/15/bin
PGBIN=${SEG_RECO_PGBIN:-$PGBIN_DEFAULT}
PGBIN=${PGBIN%/}
PG_CONFIG=$PGBIN/pg_config
# (the default one may not be installed yet: the packages step installs it)
if [[ $PGBIN != "$PGBIN_DEFAULT" && ! -x $PG_CONFIG ]]; then
    printf 'error: no pg_config in %s (SEG_RECO_PGBIN)\n' "$PGBIN" >&2
    exit 1
fi
# the data directory's name under the project folder: one per installation
DATANAME=.pgdata
if [[ $PGBIN != "$PGBIN_DEFAULT" ]]; then DATANAME=.pgdata-alt; fi
PORT=${SEG_RECO_PGPORT:-54315}
STATE=$ROOT/.seg_reco_state
DB=seg_reco
# data and socket directories: decided by resolve_dirs
DATADIR=
SOCKDIR=
FALLBACK=/var/tmp/seg_reco-$(printf '%s' "$ROOT" | sha256sum | cut -c1-10)

PACKAGES=(postgresql-15 postgresql-server-dev-15 libopenblas-dev postgresql-15-pgtap
          libtap-parser-sourcehandler-pgtap-perl postgresql-15-cron build-essential
          libipc-run-perl pkg-config python3)

EXT_RECREATED=0      # set to 1 by ensure_db when seg_reco was (re)created
REBUILD=0            # demo.sh --rebuild sets 1: clean build, new extension, new data
SHOW_PROGRESS=0      # demo.sh sets 1: a line per step of the demo data and refresh()

for _lib in common build cluster db report citus tap; do
    # shellcheck source=/dev/null
    source "$ROOT/scripts/lib/$_lib.sh"
done
unset _lib
