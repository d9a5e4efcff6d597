#!/usr/bin/env bash
# A throw-away one-node Slurm cluster on loopback, for the cluster tests (and for trying
# `weft slurm` by hand). Needs root and Debian's `slurmctld slurmd slurm-client munge`.
#
#   local-slurm.sh start DIR [CPUS]   # writes DIR/slurm.conf, starts munged, slurmctld, slurmd
#   local-slurm.sh stop DIR           # cancels its jobs, stops its daemons and job steps
#
# Config, state, spool and logs live under DIR, so it neither needs nor disturbs a system
# Slurm/munge; clients find it through SLURM_CONF=DIR/slurm.conf. munged runs as user munge and
# must reach its key and socket, which it cannot inside a private (0700, root) DIR such as a
# test's temporary folder: its key, socket and state go to a munge-owned folder
# /run/weft-munge/<hash of DIR> instead, removed by stop. Ports are picked free at start. The
# node reports CPUS CPUs (default 4, overriding what the machine has, so that 4 array tasks run
# at once on a 2-core machine). MAX_ARRAY_SIZE sets the array size limit (default 1001, as
# Slurm). start first stops whatever an earlier, aborted run in DIR left behind.
set -euo pipefail
cmd=${1:?start|stop}
dir=$(realpath -m "${2:?DIR}")
cpus=${3:-4}
mdir=/run/weft-munge/$(printf %s "$dir" | sha1sum | cut -c1-16)

# Two distinct free ports at once (both sockets stay bound until both are known).
free_ports() {
  python3 -c 'import socket
a, b = socket.socket(), socket.socket()
a.bind(("127.0.0.1", 0)); b.bind(("127.0.0.1", 0))
print(a.getsockname()[1], b.getsockname()[1])'
}

# Whether process $1 is alive.
alive() { kill -0 "$1" 2>/dev/null; }

# Sends TERM to $1, waits up to 5 s, then KILL.
kill_wait() {
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 50); do alive "$1" || return 0; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
}

# The job steps (slurmstepd) of this cluster: they carry its SLURM_CONF and outlive slurmd.
steps() {
  local p
  for p in $(pgrep -x slurmstepd || true); do
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qxF "SLURM_CONF=$dir/slurm.conf" && echo "$p"
  done
  return 0
}

stop() {
  set +e
  # Jobs first, while slurmctld can still cancel them (bounded: 30 s).
  if [ -f "$dir/run/slurmctld.pid" ] && alive "$(cat "$dir/run/slurmctld.pid")"; then
    export SLURM_CONF="$dir/slurm.conf"
    jobs=$(timeout 10 squeue -h -o %F 2>/dev/null | sort -u)
    if [ -n "$jobs" ]; then
      # shellcheck disable=SC2086
      timeout 10 scancel $jobs 2>/dev/null
      for _ in $(seq 150); do
        [ -z "$(timeout 10 squeue -h -o %i 2>/dev/null)" ] && break
        sleep 0.2
      done
    fi
  fi
  for p in slurmd slurmctld munged; do
    if [ -f "$dir/run/$p.pid" ]; then
      kill_wait "$(cat "$dir/run/$p.pid")"
      rm -f "$dir/run/$p.pid"
    fi
  done
  for p in $(steps); do kill_wait "$p"; done
  rm -rf "$mdir"
  set -e
}

# Start failed: show the logs and stop what was started.
on_start_error() {
  set +e
  echo "local-slurm.sh: start failed; logs in $dir/log" >&2
  tail -n 20 "$dir/log/"*.log "$mdir/munged.log" >&2 2>/dev/null
  stop
}

case "$cmd" in
start)
  [ "$(id -u)" -eq 0 ] || { echo "local-slurm.sh: needs root" >&2; exit 3; }
  for b in munged slurmctld slurmd sbatch; do
    command -v "$b" >/dev/null || { echo "local-slurm.sh: $b missing (apt-get install slurmctld slurmd slurm-client munge)" >&2; exit 3; }
  done
  stop # leftovers of an earlier, aborted run in DIR
  rm -rf "$dir/state" "$dir/spool"
  # From here on a failure stops what was started.
  trap on_start_error ERR
  mkdir -p "$dir"/{run,state,spool,log}
  host=$(hostname -s)
  mem=$(awk '/MemTotal/ {print int($2/1024/2)}' /proc/meminfo)
  read -r ctld_port d_port < <(free_ports)
  # munge: own key, socket and state in a folder it owns (munged insists on tight permissions).
  install -d -m 755 /run/weft-munge
  install -d -m 711 -o munge -g munge "$mdir"
  dd if=/dev/urandom of="$mdir/munge.key" bs=1024 count=1 status=none
  chown munge:munge "$mdir/munge.key"
  chmod 400 "$mdir/munge.key"
  runuser -u munge -- munged --key-file="$mdir/munge.key" --socket="$mdir/munge.sock" \
    --pid-file="$mdir/munged.pid" --log-file="$mdir/munged.log" --seed-file="$mdir/seed" --force
  for _ in $(seq 50); do [ -S "$mdir/munge.sock" ] && break; sleep 0.1; done
  cp "$mdir/munged.pid" "$dir/run/munged.pid"
  cat > "$dir/slurm.conf" <<CONF
ClusterName=weft-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$mdir/munge.sock
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
MpiDefault=none
MaxArraySize=${MAX_ARRAY_SIZE:-1001}
SchedulerParameters=sched_interval=1
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF="$dir/slurm.conf"
  slurmctld -f "$dir/slurm.conf"
  slurmd -f "$dir/slurm.conf"
  # Wait (up to 60 s: a loaded 2-core CI machine is slow) until the node is idle: jobs
  # submitted earlier would only pend.
  for _ in $(seq 300); do
    state=$(sinfo -h -o %t 2>/dev/null || true)
    [ "$state" = idle ] && { trap - ERR; echo "slurm up: SLURM_CONF=$dir/slurm.conf"; exit 0; }
    sleep 0.2
  done
  trap - ERR
  echo "local-slurm.sh: node did not come up (state '${state:-?}'); logs in $dir/log" >&2
  tail -n 20 "$dir/log/"*.log >&2 || true
  stop
  exit 1
  ;;
stop) stop ;;
*) echo "usage: local-slurm.sh start|stop DIR" >&2; exit 2 ;;
esac
