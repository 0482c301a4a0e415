#!/usr/bin/env bash
# Starts a throw-away single-node Slurm cluster on this machine for the Slurm executor tests and
# prints the path of its slurm.conf (DIR/slurm.conf) on stdout, nothing else. Callers run sbatch,
# squeue, scontrol, scancel and sinfo with SLURM_CONF set to that path.
#
#   tools/start_slurm.sh DIR     everything lives in DIR (see below)
#   tools/stop_slurm.sh DIR      stops it, and any job still running on it, by the pids in DIR
#
# DIR holds: slurm.conf and an empty plugstack.conf (generated; nothing under /etc/slurm or
# /etc/munge is read, and no cgroup.conf is needed without cgroup plugins), munge/ (munge.key,
# made once and kept; munged's socket munge.socket.2 and its own pid and seed files), state/
# (StateSaveLocation), spool/ (SlurmdSpoolDir), log/ (slurmctld.log, slurmd.log, and the daemons'
# stdout/stderr in *.out; munged, in the foreground, logs only to log/munged.out) and the pid
# files munged.pid, slurmctld.pid, slurmd.pid. state/ and spool/ are emptied on every start, so
# each start is a fresh cluster whose job ids begin at 1. The `munge` and `unmunge` commands reach
# this munged only with -S DIR/munge/munge.socket.2; Slurm is told the socket in slurm.conf.
#
# Harmless noise in the logs: "mpi/pmix_v4: ... can not load PMIx library" (slurmd loads every MPI
# plugin; libpmix is not installed), "Could not open ... state file" (fresh state/), "Node
# configuration differs from hardware" (the node is described by CPUs only), and munged's
# "Unauthorized credential for client UID=0".
#
# The cluster: one node named after `hostname -s` at 127.0.0.1 with the machine's CPU count (nproc)
# and 90% of its memory, one partition `debug` (default, no time limit), select/cons_tres with
# CR_Core_Memory, so jobs may ask for --cpus-per-task and --mem. Memory is only scheduled, not
# enforced (no cgroups: task/none, proctrack/linuxproc). A job that asks for no memory gets
# DefMemPerCPU = RealMemory / CPUs per CPU, not the whole node, so jobs are limited by CPUs.
# Jobs run as the submitting user; the daemons run as root.
#
# No accounting (no slurmdbd, no sacct): a finished job is visible to `scontrol show job ID` (and
# squeue) only until slurmctld purges it, at least MinJobAge seconds after it ended. MinJobAge is
# 5 here ($START_SLURM_MIN_JOB_AGE overrides it), not Slurm's 300, because `sbatch --wait` polls
# slurmctld after 2 s, then multiplies its interval by 4 (8, 32 s) for as long as the interval
# is below MinJobAge / 2: with 300 a 3 s job makes `sbatch --wait` return after 10 s and an 11 s
# job after 42 s; with 5 it polls every 2 s. The price: a finished job's record is gone some 5 to
# 10 s after it ended. `sbatch --wait` exits with the job's exit code (0, or e.g. 3 for `exit 3`),
# and with 1 for a job killed by a signal (scancel: JobState=CANCELLED ExitCode=0:15).
#
# Debian 12 packages `slurmctld slurmd slurm-client munge` (Slurm 22.05) are installed with apt-get
# when missing. Must run as root: slurmd starts jobs as their submitting users and SlurmUser is root.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "$0: must run as root (slurmd launches jobs as their users)" >&2; exit 1; }
mkdir -p "$1"
dir=$(cd "$1" && pwd)

# slurm.conf values cannot hold blanks, AuthInfo is a comma-separated list, and the munge socket
# path must fit a sockaddr_un (107 bytes).
case "$dir" in
    *[[:space:],=\#]*) echo "$0: DIR must not contain blanks, commas, '=' or '#': $dir" >&2; exit 1 ;;
esac
[ ${#dir} -le 80 ] || { echo "$0: DIR is too long for munged's socket path (max 80 characters): $dir" >&2; exit 1; }

missing=""
for cmd in slurmctld slurmd sinfo munged; do
    command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing=1
done
if [ -n "$missing" ]; then
    # policy-rc.d exit 101 keeps the packages' services (munge, slurmctld, slurmd) from starting
    # with the /etc configuration; restored afterwards.
    policy=/usr/sbin/policy-rc.d
    added_policy=""
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy"
        chmod 755 "$policy"
        added_policy=1
    fi
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge; } >&2 || install_failed=1
    [ -z "$added_policy" ] || rm -f "$policy"
    [ -z "${install_failed:-}" ] || { echo "$0: cannot install slurmctld slurmd slurm-client munge with apt-get" >&2; exit 1; }
fi
PATH=$PATH:/usr/sbin:/sbin

for name in munged slurmctld slurmd; do
    if [ -s "$dir/$name.pid" ] && kill -0 "$(cat "$dir/$name.pid")" 2>/dev/null \
        && grep -q "$name" "/proc/$(cat "$dir/$name.pid")/cmdline" 2>/dev/null; then
        echo "$0: $name is already running from $dir (pid $(cat "$dir/$name.pid")); stop it with tools/stop_slurm.sh" >&2
        exit 1
    fi
    rm -f "$dir/$name.pid"
done

# From here on, a start that does not get to the end (an error, or the caller's SIGINT/SIGTERM)
# stops whatever it started.
started=""
trap '[ -n "$started" ] || "$(dirname "$0")/stop_slurm.sh" "$dir" >/dev/null 2>&1' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

rm -rf "$dir/state" "$dir/spool" "$dir/munge/munge.socket.2" "$dir/munge/munge.socket.2.lock"
mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log"
: > "$dir/log/munged.out"
# munged refuses a key, socket or log directory that others may write to.
chmod 755 "$dir/munge"
if [ ! -s "$dir/munge/munge.key" ]; then
    (umask 077; head -c 1024 /dev/urandom > "$dir/munge/munge.key")
fi
chmod 600 "$dir/munge/munge.key"
: > "$dir/plugstack.conf"

# The daemons with only stdin, stdout and stderr open. A descriptor the caller left open would live
# on in them: swift-corelibs-foundation's Process learns that its child exited when a socket it
# hands the child is closed, so a daemon holding that socket makes waitUntilExit hang until the
# cluster stops. Run in the background (`run_daemon ... &`), the exec makes $! the daemon's pid.
# SLURM_CONF is what slurmstepd and the jobs' own Slurm commands find the configuration by, and
# what tools/stop_slurm.sh recognises this cluster's job steps by.
run_daemon() {
    local fd
    for fd in $(ls "/proc/$BASHPID/fd"); do
        [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null
    done
    export SLURM_CONF="$dir/slurm.conf"
    exec "$@"
}

# Running, and not a zombie: the daemons are this script's children until it exits.
alive() { kill -0 "$1" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

# On failure: the daemons started so far are stopped (first, so that a reader of stderr that
# goes away cannot leave them running), then the logs' tails go to stderr.
fail() {
    "$(dirname "$0")/stop_slurm.sh" "$dir" >/dev/null 2>&1 || true
    echo "$0: $1" >&2
    local f
    for f in "$dir/log/munged.out" "$dir/log/slurmctld.log" "$dir/log/slurmctld.out" \
             "$dir/log/slurmd.log" "$dir/log/slurmd.out"; do
        [ -s "$f" ] && { echo "==> $f <==" >&2; tail -n 15 "$f" >&2; }
    done
    exit 1
}

# munged in the foreground (-F, so $! is its pid; it then logs to stderr, not to --log-file) with
# its key, socket, pid and seed files in DIR/munge. Slurm's auth/munge and cred/munge plugins reach
# it through AuthInfo=socket=... in slurm.conf. --force lets it start despite a group-writable
# ancestor directory or a stale socket. Ready once a credential it encodes decodes again.
sock="$dir/munge/munge.socket.2"
run_daemon munged -F --force --key-file="$dir/munge/munge.key" --socket="$sock" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
    --seed-file="$dir/munge/munged.seed" --num-threads=2 \
    </dev/null >>"$dir/log/munged.out" 2>&1 &
echo $! > "$dir/munged.pid"
for _ in $(seq 1 100); do
    [ -S "$sock" ] && munge -n -S "$sock" 2>/dev/null | unmunge -S "$sock" >/dev/null 2>&1 && break
    alive "$(cat "$dir/munged.pid")" || fail "munged exited"
    sleep 0.1
done
[ -S "$sock" ] || fail "munged did not create $sock within 10 s"

host=$(hostname -s)
cpus=$(nproc)
mem_mb=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
real_mem=$(( mem_mb * 9 / 10 ))
def_mem=$(( real_mem / cpus ))
min_job_age=${START_SLURM_MIN_JOB_AGE:-5}

# A port nothing on this machine uses (bound or listening, IPv4 or IPv6): /proc/net/tcp* list
# local ports in hex in column 2.
port_in_use() {
    local hex
    hex=$(printf ':%04X' "$1")
    awk 'NR > 1 { print $2 }' /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -q "$hex\$"
}
random_port() {
    local p
    while :; do
        p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
        port_in_use "$p" || { echo "$p"; return; }
    done
}

write_conf() {
    cat > "$dir/slurm.conf" <<EOF
# Generated by tools/start_slurm.sh: a throw-away single-node cluster living in $dir.
ClusterName=swifttest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$dir/plugstack.conf
MailProg=/bin/true
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$def_mem
# Use the node as described here even when the hardware reports more (or a container hides some).
SlurmdParameters=config_overrides
ReturnToService=2
SlurmdTimeout=300
InactiveLimit=0
# A job asking for more than the node has (say --cpus-per-task=3 on 2 CPUs) is refused by sbatch
# ("Requested node configuration is not available", exit 1) instead of pending forever with
# Reason=PartitionConfig, holding back every job queued after it.
EnforcePartLimits=ALL
# A submitted batch job is scheduled within about a second instead of after the default 3 s.
SchedulerParameters=batch_sched_delay=0
# The job is killed 5 s (not 30 s) after the SIGTERM of scancel or a time limit.
KillWait=5
# See the header: sbatch --wait polls every 2 s only when MinJobAge <= 5.
MinJobAge=$min_job_age
NodeName=$host NodeAddr=127.0.0.1 NodeHostname=$host CPUs=$cpus RealMemory=$real_mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

# slurmctld and slurmd in the foreground (-D); with a port that turned out to be taken after all
# (the check above races with other programs), both are stopped and started again on new ports.
export SLURM_CONF="$dir/slurm.conf"
for attempt in 1 2 3 4 5; do
    ctld_port=$(random_port)
    slurmd_port=$(random_port)
    [ "$slurmd_port" != "$ctld_port" ] || continue
    write_conf
    for f in slurmctld.log slurmctld.out slurmd.log slurmd.out; do : > "$dir/log/$f"; done
    run_daemon slurmctld -D -f "$dir/slurm.conf" </dev/null >>"$dir/log/slurmctld.out" 2>&1 &
    echo $! > "$dir/slurmctld.pid"
    run_daemon slurmd -D -f "$dir/slurm.conf" -N "$host" </dev/null >>"$dir/log/slurmd.out" 2>&1 &
    echo $! > "$dir/slurmd.pid"

    # Ready when the node has registered and is idle (State=UNKNOWN until slurmd reports in).
    deadline=$(( SECONDS + 30 ))
    why="the Slurm node did not become idle within 30 s"
    while [ "$SECONDS" -lt "$deadline" ]; do
        state=$(timeout 5 sinfo -h -N -o '%t' 2>/dev/null || true)
        [ "$state" = idle ] && { started=1; break 2; }
        alive "$(cat "$dir/slurmctld.pid")" || { why="slurmctld exited"; break; }
        alive "$(cat "$dir/slurmd.pid")" || { why="slurmd exited"; break; }
        sleep 0.1
    done
    if grep -qi "address already in use" "$dir/log/slurmctld.log" "$dir/log/slurmd.log" \
        "$dir/log/slurmctld.out" "$dir/log/slurmd.out" 2>/dev/null; then
        for name in slurmd slurmctld; do
            kill -KILL "$(cat "$dir/$name.pid")" 2>/dev/null || true
            rm -f "$dir/$name.pid"
        done
        sleep 0.2
        continue
    fi
    break
done
[ -n "$started" ] || fail "$why (sinfo's node state: ${state:-none})"
echo "$dir/slurm.conf"
