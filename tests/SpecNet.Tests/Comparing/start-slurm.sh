#!/bin/sh
# Starts a single-node Slurm on this machine without systemd (as ../shared/design.md describes), unless one
# already answers. Needs root and Debian's slurm-wlm and munge. Idempotent: the sweep tests run it first.
set -eu
if sinfo -h >/dev/null 2>&1 && [ -n "$(sinfo -h -o %t 2>/dev/null | grep -E 'idle|mix|alloc')" ]; then exit 0; fi
command -v slurmctld >/dev/null || { echo "slurm-wlm is not installed (apt-get install slurm-wlm munge)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "starting Slurm needs root" >&2; exit 2; }
host=$(hostname -s)
state=/tmp/specnet-slurm
mkdir -p "$state/ctld" "$state/d" /etc/slurm
memory=$(awk '/MemTotal/ { print int($2 / 1024 * 0.9) }' /proc/meminfo)
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=specnet
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/d
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd.log
ReturnToService=2
MaxArraySize=10001
NodeName=$host CPUs=$(nproc) RealMemory=$memory State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
if ! pgrep -x munged >/dev/null; then
  [ -f /etc/munge/munge.key ] || { mkdir -p /etc/munge; dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key; }
  mkdir -p /run/munge && chown munge:munge /run/munge
  runuser -u munge -- munged
fi
pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd
for _ in $(seq 1 40); do
  if sinfo -h -o %t 2>/dev/null | grep -qE 'idle|mix|alloc'; then exit 0; fi
  sleep 0.5
done
echo "Slurm did not come up: $(sinfo 2>&1 | tail -1); see $state/slurmctld.log and $state/slurmd.log" >&2
exit 1
