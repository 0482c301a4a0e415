#!/usr/bin/env bash
# Stops the nginx that tools/start_nginx.sh DIR started, by the pid in DIR/nginx.pid: SIGTERM (fast
# shutdown), then SIGKILL of the master and its workers after 5 s. Succeeds when nothing runs from DIR.
set -uo pipefail

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
pidfile="$1/nginx.pid"
[ -s "$pidfile" ] || exit 0
pid=$(cat "$pidfile")
case "$pid" in ''|*[!0-9]*) echo "$0: $pidfile does not hold a pid" >&2; exit 1 ;; esac

# A stale pid file (nginx killed without cleaning up) may name an unrelated process by now.
if ! grep -q nginx "/proc/$pid/cmdline" 2>/dev/null; then
    rm -f "$pidfile"
    exit 0
fi
kill -TERM "$pid" 2>/dev/null
# Gone, or a zombie its reaper has not collected yet.
gone() { ! kill -0 "$pid" 2>/dev/null || grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; }
for _ in $(seq 1 100); do
    gone && { rm -f "$pidfile"; exit 0; }
    sleep 0.05
done
pkill -KILL -P "$pid" 2>/dev/null
kill -KILL "$pid" 2>/dev/null
rm -f "$pidfile"
