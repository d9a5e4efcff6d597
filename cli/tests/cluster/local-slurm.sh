#!/usr/bin/env bash
# A throw-away one-node Slurm cluster on loopback, for the cluster tests (and for trying
# `weft slurm` by hand). Needs root and Debian's `slurmctld slurmd slurm-client munge`.
#
#   local-slurm.sh start DIR [CPUS]   # writes DIR/slurm.conf, starts munged, slurmctld, slurmd
#   local-slurm.sh stop DIR           # stops them by their PID files
#
# Everything (config, state, spool, logs, the munge socket and key) lives under DIR, so it
# neither needs nor disturbs a system Slurm/munge; clients find it through SLURM_CONF=DIR/slurm.conf.
# Ports are picked free at start. The node reports CPUS CPUs (default 4, overriding what the
# machine has, so that 4 array tasks run at once on a 2-core machine). MAX_ARRAY_SIZE sets the
# array size limit (default 1001, as Slurm).
set -euo pipefail
cmd=${1:?start|stop}
dir=$(realpath -m "${2:?DIR}")
cpus=${3:-4}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

stop() {
  for p in slurmd slurmctld munged; do
    if [ -f "$dir/run/$p.pid" ]; then
      pid=$(cat "$dir/run/$p.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$dir/run/$p.pid"
    fi
  done
}

case "$cmd" in
start)
  [ "$(id -u)" -eq 0 ] || { echo "local-slurm.sh: needs root" >&2; exit 3; }
  for b in munged slurmctld slurmd sbatch; do
    command -v "$b" >/dev/null || { echo "local-slurm.sh: $b missing (apt-get install slurmctld slurmd slurm-client munge)" >&2; exit 3; }
  done
  mkdir -p "$dir"/{run,state,spool,log,munge}
  host=$(hostname -s)
  mem=$(awk '/MemTotal/ {print int($2/1024/2)}' /proc/meminfo)
  ctld_port=$(free_port); d_port=$(free_port)
  # munge: own key, socket and state under DIR (munged insists on tight permissions).
  chown munge:munge "$dir/munge" 2>/dev/null || true
  chmod 700 "$dir/munge"
  if [ ! -f "$dir/munge/munge.key" ]; then
    dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  fi
  chown munge:munge "$dir/munge/munge.key"; chmod 400 "$dir/munge/munge.key"
  runuser -u munge -- munged --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.sock" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/seed" --force
  for _ in $(seq 50); do [ -S "$dir/munge/munge.sock" ] && break; sleep 0.1; done
  cp "$dir/munge/munged.pid" "$dir/run/munged.pid"
  cat > "$dir/slurm.conf" <<CONF
ClusterName=weft-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.sock
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
  # Wait until the node is idle: jobs submitted earlier would only pend.
  for _ in $(seq 100); do
    state=$(sinfo -h -o %t 2>/dev/null || true)
    [ "$state" = idle ] && { echo "slurm up: SLURM_CONF=$dir/slurm.conf"; exit 0; }
    sleep 0.2
  done
  echo "local-slurm.sh: node did not come up (state '${state:-?}'); logs in $dir/log" >&2
  tail -n 20 "$dir/log/"*.log >&2 || true
  stop
  exit 1
  ;;
stop) stop ;;
*) echo "usage: local-slurm.sh start|stop DIR" >&2; exit 2 ;;
esac
