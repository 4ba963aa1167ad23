#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, for tests/test_slurm.py and .ci/run.
#   tests/slurm/cluster.sh install   # Debian packages (root)
#   tests/slurm/cluster.sh start     # writes /etc/slurm/*.conf, starts munged, slurmctld, slurmd
#   tests/slurm/cluster.sh stop      # stops the daemons this script started, by pid
# The config must live at /etc/slurm/slurm.conf: the SLURM executor's job step strips
# every SLURM_* variable (SLURM_CONF included) before its inner srun.
set -euo pipefail
# Debian installs the daemons in /usr/sbin, which a clean or non-login shell may not have on PATH.
export PATH="$PATH:/usr/sbin:/sbin"
STATE=${PE_SLURM_STATE:-/tmp/pe-slurm}
NODE=$(hostname -s)

install() {
    if command -v slurmctld >/dev/null && command -v munged >/dev/null; then return; fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd slurm-client munge >/dev/null
}

write_config() {
    local cpus memory name
    cpus=$(nproc)
    memory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
    mkdir -p /etc/slurm "$STATE"/{spool,ctld}
    for name in slurm.conf gres.conf; do  # keep a machine's own config, restored by stop
        if [ -e "/etc/slurm/$name" ] && ! grep -q '^ClusterName=pe-test' /etc/slurm/slurm.conf 2>/dev/null; then
            cp -p "/etc/slurm/$name" "$STATE/$name.orig"
        fi
    done
    cat > /etc/slurm/slurm.conf <<CONF
ClusterName=pe-test
SlurmctldHost=$NODE
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
ProctrackType=proctrack/linuxproc
# task/none breaks the executor's inner 'srun --cpu-bind'
TaskPlugin=task/affinity
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
ReturnToService=2
# no slurmdbd: finished jobs must stay visible to squeue long enough for the status poll
MinJobAge=3600
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
NodeName=$NODE CPUs=$cpus RealMemory=$memory Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
CONF
    # a fake GPU: lets GPU rules ask for --gpus=1 and be scheduled
    cat > /etc/slurm/gres.conf <<CONF
AutoDetect=off
NodeName=$NODE Name=gpu File=/dev/null Count=1
CONF
}

start() {
    install
    write_config
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    if [ ! -s /etc/munge/munge.key ]; then
        dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
    fi
    chown -R munge:munge /etc/munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
    chmod 400 /etc/munge/munge.key
    if ! pgrep -x munged >/dev/null; then
        runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid 2>/dev/null || /usr/sbin/munged --force
        cp /run/munge/munged.pid "$STATE/munged.pid" 2>/dev/null || pgrep -x munged | head -1 > "$STATE/munged.pid"
    fi
    slurmctld
    slurmd
    for _ in $(seq 60); do
        if sinfo -h -N -o '%T' 2>/dev/null | grep -q -E '^idle'; then
            sinfo
            return 0
        fi
        sleep 1
    done
    echo "SLURM node did not become idle; logs in $STATE" >&2
    tail -n 20 "$STATE"/slurmctld.log "$STATE"/slurmd.log >&2 || true
    return 1
}

stop() {
    for daemon in slurmd slurmctld munged; do
        if [ -s "$STATE/$daemon.pid" ]; then
            kill "$(cat "$STATE/$daemon.pid")" 2>/dev/null || true
            rm -f "$STATE/$daemon.pid"
        fi
    done
    # Our slurm.conf must not outlive the daemons: with it, every 'scontrol show config'
    # waits ~9 s for the dead controller, and the SLURM executor plugin runs one when
    # Snakemake loads it, i.e. on every snakemake command.
    local name
    if grep -q '^ClusterName=pe-test' /etc/slurm/slurm.conf 2>/dev/null; then
        for name in slurm.conf gres.conf; do
            rm -f "/etc/slurm/$name"
            if [ -e "$STATE/$name.orig" ]; then mv "$STATE/$name.orig" "/etc/slurm/$name"; fi
        done
    fi
}

"${1:?usage: cluster.sh install|start|stop}"
