#!/usr/bin/env bash
# Stops the Slurm cluster that tools/start_slurm.sh DIR started: slurmctld first (so no further job
# is launched), then slurmd, then every job still running on the cluster, then munged. Each daemon
# is stopped by the pid in DIR/NAME.pid: SIGTERM, then SIGKILL after 5 s. Succeeds when nothing
# runs from DIR.
set -uo pipefail

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
[ -d "$1" ] || exit 0
dir=$(cd "$1" && pwd)

# Gone, or a zombie its reaper has not collected yet.
gone() { ! kill -0 "$1" 2>/dev/null || grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

stop_daemon() {
    local name=$1 pidfile="$dir/$1.pid" pid
    [ -s "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    case "$pid" in ''|*[!0-9]*) echo "$0: $pidfile does not hold a pid" >&2; rm -f "$pidfile"; return 1 ;; esac
    # A stale pid file (the daemon died without cleaning up) may name an unrelated process by now.
    if ! grep -q "$name" "/proc/$pid/cmdline" 2>/dev/null; then
        rm -f "$pidfile"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 100); do
        gone "$pid" && { rm -f "$pidfile"; return 0; }
        sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null
    rm -f "$pidfile"
}

rc=0
stop_daemon slurmctld || rc=1
stop_daemon slurmd || rc=1

# Jobs outlive slurmd: each runs under a slurmstepd that slurmd started with SLURM_CONF=DIR/slurm.conf
# in its environment (which is how this cluster's steps are told from another cluster's). The
# steps and all their descendants are killed; so is any process that left that tree (a job that
# daemonized something) but carries this cluster's SLURM_CONF and a SLURM_JOB_ID in its environment.
conf="SLURM_CONF=$dir/slurm.conf"
declare -A seen=() parent=()
for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    # The parent pid is the second field after the parenthesised command name (which may hold blanks).
    read -r stat 2>/dev/null < "$p/stat" || continue
    rest=${stat##*) }
    read -r _ ppid _ <<< "$rest"
    parent[$pid]=$ppid
    [ "$pid" != $$ ] || continue
    # /proc/PID/environ holds NUL-terminated entries, which grep -z reads as lines.
    grep -qzxF "$conf" "$p/environ" 2>/dev/null || continue
    read -r comm 2>/dev/null < "$p/comm" || comm=""
    if [ "$comm" = slurmstepd ] || grep -qz '^SLURM_JOB_ID=' "$p/environ" 2>/dev/null; then
        seen[$pid]=1
    fi
done
# Their descendants, through the parent pids.
if [ ${#seen[@]} -gt 0 ]; then
    changed=1
    while [ -n "$changed" ]; do
        changed=""
        for pid in "${!parent[@]}"; do
            if [ -z "${seen[$pid]:-}" ] && [ -n "${seen[${parent[$pid]}]:-}" ]; then
                seen[$pid]=1
                changed=1
            fi
        done
    done
    kill -KILL "${!seen[@]}" 2>/dev/null
    for _ in $(seq 1 100); do
        alive=""
        for pid in "${!seen[@]}"; do gone "$pid" || { alive=1; break; }; done
        [ -z "$alive" ] && break
        sleep 0.05
    done
fi

stop_daemon munged || rc=1
exit $rc
