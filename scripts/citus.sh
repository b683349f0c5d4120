#!/usr/bin/env bash
# Citus for seg_reco: build it from the vendored source archive, and manage
# a throwaway Citus cluster (a coordinator and two workers on one machine).
set -euo pipefail

usage() {
    cat <<'USAGE'
usage: bash scripts/citus.sh build|start|stop|status|remove|psql [node] [psql args...]

  build    build and install Citus 13.0.5 from ../shared/vendor (unless installed);
           installs Debian packages it needs when run as root
  start    build if needed, start the coordinator and two workers, create
           database seg_reco with citus and seg_reco (no build of seg_reco:
           make install it first)
  stop     stop the three nodes
  status   where the nodes live and whether they run
  remove   stop the nodes and delete their data directories
  psql     psql on the coordinator (or: psql worker1|worker2 ...)

Environment: SEG_RECO_CITUS_PGPORT (default 54351: coordinator; workers +1, +2),
SEG_RECO_SHARED (the folder holding vendor/, default ../shared).
USAGE
}

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cmd=${1:-}
[[ $# -gt 0 ]] && shift
case $cmd in
    build)
        ensure_citus
        ;;
    start)
        ensure_citus
        start_citus_cluster
        say ""
        say "Connect:   $PGBIN/psql -h $CITUS_SOCK -p $CITUS_PORT -U postgres $DB"
        say "      or   bash scripts/citus.sh psql"
        ;;
    stop)
        stop_citus_cluster
        ;;
    status)
        for i in "${!CITUS_NODES[@]}"; do
            n=${CITUS_NODES[$i]}
            if _citus_pg_running "$n"; then s=running; else s="not running"; fi
            say "$n: port $(citus_port "$i"), data $CITUS_BASE/$n, $s"
        done
        say "sockets: $CITUS_SOCK"
        ;;
    remove)
        stop_citus_cluster
        rm -rf "$CITUS_BASE"
        say "removed $CITUS_BASE"
        ;;
    psql)
        node=0
        case ${1:-} in
            coordinator) node=0; shift ;;
            worker1) node=1; shift ;;
            worker2) node=2; shift ;;
        esac
        _citus_pg_running "${CITUS_NODES[$node]}" || die "the Citus ${CITUS_NODES[$node]} is not running: bash scripts/citus.sh start"
        exec "$PGBIN/psql" -X -h "$CITUS_SOCK" -p "$(citus_port "$node")" -U postgres -d "$DB" "$@"
        ;;
    -h|--help|help)
        usage
        ;;
    *)
        usage >&2
        exit 2
        ;;
esac
