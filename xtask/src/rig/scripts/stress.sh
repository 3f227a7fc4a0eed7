# Diagnostic stress: the load that made dom0 programs crash at random on QEMU 7.2 TCG (see
# docs/rig.md): two dom0 vCPUs, two 2-vCPU domUs created back to back, both doing direct I/O on
# disks served by blkback, while dom0 runs its tools in a loop. Counts crashes (the dom0
# kernel's "segfault"/"general protection"/"trap" lines) and tool failures; passes only with none.
. /rig/lib.sh
blkback > /tmp/blkback.log 2>&1 &
BB=$!
bad=0
for g in s1 s2; do
  dd if=/dev/zero of=/tmp/$g.img bs=1M count=8 2>/dev/null
  if [ "${STRESS_DISK:-1}" = 1 ]; then
    domu $g busy "'format=raw, vdev=xvda, access=rw, script=ferrite-vbd, target=/tmp/$g.img'"
  else
    domu $g spin "" rignoblk
  fi
  sed -i 's/^vcpus = .*/vcpus = 2/' /tmp/$g.cfg
done
for g in s1 s2; do
  log "xl create $g"
  xl create -p /tmp/$g.cfg || { bad=$((bad+1)); log "xl create $g failed"; }
  ( xl console $g </dev/null 2>&1 | tee /tmp/$g.cons | prefix "[$g] " ) &
  xl unpause $g || { bad=$((bad+1)); log "xl unpause $g failed"; }
done
waitfor /tmp/s1.cons DOMU-BUSY 150
waitfor /tmp/s2.cons DOMU-BUSY 150
log "both guests busy; dom0 tool loop"
end=$(( $(cut -d. -f1 /proc/uptime) + ${STRESS_SECONDS:-75} ))
n=0
while [ "$(cut -d. -f1 /proc/uptime)" -le $end ]; do
  xenstore-read /local/domain/0/name >/dev/null || { bad=$((bad+1)); log "xenstore-read failed"; }
  xenstore-ls /local/domain/0/backend >/dev/null || { bad=$((bad+1)); log "xenstore-ls failed"; }
  xl list >/dev/null || { bad=$((bad+1)); log "xl list failed"; }
  md5sum /rig/bin/blkback >/dev/null || { bad=$((bad+1)); log "md5sum failed"; }
  n=$((n+1))
done
for g in s1 s2; do xl destroy $g || { bad=$((bad+1)); log "xl destroy $g failed"; }; done
waitgone s1 60; waitgone s2 60
kill -0 $BB || { bad=$((bad+1)); log "blkback died"; }
crashes=$(dmesg | grep -c -E 'segfault at|general protection|traps:')
dmesg | grep -E 'segfault at|general protection|traps:' | prefix "RIG: crash: "
log "STRESS loops=$n tool-failures=$bad crashes=$crashes"
[ "$bad" = 0 ] && [ "$crashes" = 0 ] || fail "stress: $bad tool failures, $crashes crashes"
