# Scenario fxl-soak: 20 cycles of `fxl create` (with its monitor) of a Debian PV domU with a disk
# on blkback and a vif on netback: the guest boots, powers off, and its monitor destroys it;
# every 5th is `fxl destroy`ed while it runs. Afterwards nothing may have leaked: the
# hypervisor's free memory, xenstore's nodes, dom0's event channels and user processes, and the
# grant mappings of xenstored, xenconsoled, blkback and netback are where the first cycle left
# them, no fxl process is left, and xl list shows dom0 alone.
. /rig/lib.sh
cycles=20
blkback > /tmp/blkback.log 2>&1 &
BB=$!
net_up
xs_nodes() { xenstore-ls / 2>/dev/null | wc -l; }
# User processes (kernel threads have no command line and come and go).
procs() {
  n=0
  for p in /proc/[0-9]*; do [ -n "$(tr -d '\0' < "$p/cmdline" 2>/dev/null)" ] && n=$((n + 1)); done
  echo $n
}
gauges() { echo "free_memory $(free_mb) MiB, xenstore nodes $(xs_nodes), event channels $(evtchns), grant mappings $(gnt_maps $BB $NB), processes $(procs)"; }
dd if=/dev/zero of=/tmp/soak.img bs=1M count=8 2>/dev/null
domu soak none "'format=raw, vdev=xvda, access=rw, script=ferrite-vbd, target=/tmp/soak.img'"
echo "vif = [ 'bridge=xenbr0,script=ferrite-vif' ]" >> /tmp/soak.cfg
i=1
start=$(up)
while [ $i -le $cycles ]; do
  fxl create -q /tmp/soak.cfg 2> /tmp/soak.create || fail "cycle $i: fxl create: $(cat /tmp/soak.create)"
  if [ $((i % 5)) = 0 ]; then
    sleep 2
    # It may have powered off and been destroyed already.
    fxl destroy soak 2>/dev/null || ! fxl domid soak >/dev/null 2>&1 || fail "cycle $i: fxl destroy"
  fi
  end=$(( $(cut -d. -f1 /proc/uptime) + 120 ))
  while fxl domid soak > /dev/null 2>&1; do
    [ "$(cut -d. -f1 /proc/uptime)" -gt $end ] && fail "cycle $i: the domU did not end: $(xl list | tr '\n' ';')"; sleep 0.5
  done
  # Until the hypervisor forgot it and its monitor ended.
  n=0
  while xl list | awk 'NR>1 && $1!="Domain-0"' | grep -q . || pidof fxl > /dev/null; do
    n=$((n + 1)); [ $n -gt 100 ] && fail "cycle $i: a domU or an fxl process is left: $(xl list | tr '\n' ';') $(pidof fxl)"; sleep 0.2
  done
  if [ $i = 1 ]; then
    sleep 1
    g1=$(gauges)
    log "after cycle 1: $g1"
  fi
  [ $((i % 5)) = 0 ] && log "cycle $i: $(gauges)"
  i=$((i + 1))
done
end=$(up)
sleep 1
g2=$(gauges)
log "after $cycles cycles ($start s to $end s): $g2"
[ "$g2" = "$g1" ] || fail "leak: after cycle 1 '$g1', after cycle $cycles '$g2'"
for d in /libxl /vm /local/domain/0/backend/vbd /local/domain/0/backend/vif /local/domain/0/backend/console; do
  left=$(xenstore-list "$d" 2>/dev/null | tr '\n' ' ')
  [ -z "$left" ] || fail "$d still holds: $left"
done
[ "$(xenstore-list /local/domain | tr '\n' ' ')" = "0 " ] || fail "/local/domain holds $(xenstore-list /local/domain | tr '\n' ' ')"
grep -c ': released' /tmp/blkback.log | prefix "RIG: blkback released devices: "
