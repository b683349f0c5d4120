#!/usr/bin/env bash
# Manage the throwaway cluster that demo.sh and test.sh use.
set -euo pipefail

usage() {
    cat <<'USAGE'
usage: bash scripts/cluster.sh start|stop|status|remove|psql [psql args...]

  start    install missing packages and start the cluster (no build)
  stop     stop the cluster
  status   show where the cluster lives and whether it runs
  remove   stop the cluster and delete its data directory and state
  psql     open psql on database seg_reco (extra arguments go to psql)

Environment: SEG_RECO_PGPORT (default 54315).
USAGE
}

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cmd=${1:-}
[[ $# -gt 0 ]] && shift
case $cmd in
    start)
        ensure_packages
        start_cluster
        connection_help
        ;;
    stop)
        stop_cluster
        ;;
    status)
        resolve_dirs
        say "data directory:   $DATADIR"
        say "socket directory: $SOCKDIR"
        say "port:             $PORT"
        if pg_running; then
            say "server:           running (pid $(head -n 1 "$DATADIR/postmaster.pid"))"
        else
            say "server:           not running"
        fi
        ;;
    remove)
        resolve_dirs
        stop_cluster
        rm -rf "$ROOT/$DATANAME" "$ROOT/.pgrun" "$FALLBACK" "$STATE"
        say "removed $DATADIR, $SOCKDIR and $STATE"
        ;;
    psql)
        resolve_dirs
        pg_running || die "the cluster is not running: bash scripts/cluster.sh start"
        exec "$PGBIN/psql" -X -h "$SOCKDIR" -p "$PORT" -U postgres -d "$DB" "$@"
        ;;
    -h|--help|help)
        usage
        ;;
    *)
        usage >&2
        exit 2
        ;;
esac
