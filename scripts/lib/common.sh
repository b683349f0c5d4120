# shellcheck shell=bash
# Messages, timed steps, and running commands as the cluster's OS user.
# Sourced through scripts/lib.sh, never run.

# ---------------------------------------------------------------------------
# messages, steps, timings
# ---------------------------------------------------------------------------

STEP_NAMES=()
STEP_SECS=()
CURRENT_STEP=
STEP_T0=

say()  { printf '%s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die()  { printf 'error: %s\n' "$*" >&2; exit 1; }

# elapsed seconds (one decimal) since $1 (an $EPOCHREALTIME value)
_elapsed() {
    local t0=${1/,/.} t1=${EPOCHREALTIME/,/.}
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }'
}

# step NAME cmd...: run cmd (errexit stays in force inside it), print and
# record its wall time.  A failure ends the script through the EXIT trap.
# Never call step inside `if`, `||` or `&&`: that would switch errexit off.
step() {
    local name=$1; shift
    CURRENT_STEP=$name
    STEP_T0=$EPOCHREALTIME
    printf '==> %s\n' "$name"
    "$@"
    local secs
    secs=$(_elapsed "$STEP_T0")
    STEP_NAMES+=("$name")
    STEP_SECS+=("$secs")
    CURRENT_STEP=
    printf '    done in %ss\n' "$secs"
}

print_timings() {
    local i total=0
    printf '\n%-32s %10s\n' "step" "seconds"
    printf '%-32s %10s\n' "--------------------------------" "----------"
    for i in "${!STEP_NAMES[@]}"; do
        printf '%-32s %10s\n' "${STEP_NAMES[$i]}" "${STEP_SECS[$i]}"
        total=$(awk -v a="$total" -v b="${STEP_SECS[$i]}" 'BEGIN { printf "%.1f", a + b }')
    done
    printf '%-32s %10s\n' "total" "$total"
}

_on_exit() {
    local rc=$?
    if [[ $rc -ne 0 && -n $CURRENT_STEP ]]; then
        printf '\nFAILED in step "%s" after %ss (exit code %s). Logs: %s/\n' \
            "$CURRENT_STEP" "$(_elapsed "$STEP_T0")" "$rc" "$STATE" >&2
    fi
}
trap _on_exit EXIT

# print the last lines of a log file, indented
show_tail() {
    local file=$1 n=${2:-40}
    [[ -f $file ]] || return 0
    printf -- '---- last %s lines of %s ----\n' "$n" "$file" >&2
    tail -n "$n" "$file" >&2 || true
    printf -- '---- end of %s ----\n' "$file" >&2
}

is_root() { [[ $(id -u) -eq 0 ]]; }

# the OS user that runs the server
pg_user() { if is_root; then echo postgres; else id -un; fi; }

# run a command as the OS user that owns the cluster (postgres when we are
# root, since PostgreSQL refuses to run as root; otherwise ourselves), from /
# so that an unreadable working directory does not matter.
as_pg() {
    if is_root; then
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && "$@")
    fi
}

# ---------------------------------------------------------------------------
# packages and build
