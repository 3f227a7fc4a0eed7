# Scenario create-soak: xl creates and destroys a Debian PV domU again and again (200 cycles, or
# RIG_SOAK_CYCLES from xtask's environment, in /rig/soak-cycles): each one is built, boots to
# /init, powers off and is destroyed by xl's monitor; every 5th is instead `xl destroy`ed while
# it runs. Afterwards nothing may have leaked: the hypervisor's free memory (`xl info`, and on
# Ferrite the exact free-frame count of each destruction in `xl dmesg`), dom0's event channels
# (/proc/interrupts) and the grant mappings xenstored and xenconsoled hold (gntdev in their
# maps) are where the first cycle left them, and `xl list` shows dom0 alone.
. /rig/lib.sh
cycles=200
[ -s /rig/soak-cycles ] && cycles=$(cat /rig/soak-cycles)
ferrite_free() { xl dmesg | sed -n 's/.*free frames \([0-9]*\).*/\1/p' | tail -1; }
ferrite=0
xl info | grep -q '^xen_extra .*ferrite' && ferrite=1
domu soak none "" rignoblk
i=1
start=$(up)
while [ $i -le $cycles ]; do
  xl create "/tmp/soak.cfg" >/tmp/soak.create 2>&1 || { cat /tmp/soak.create; fail "cycle $i: xl create"; }
  if [ $((i % 5)) = 0 ]; then
    sleep 2
    # It may have powered off already; then there is nothing left to destroy.
    xl destroy soak 2>/dev/null || ! xl domid soak >/dev/null 2>&1 || fail "cycle $i: xl destroy"
  fi
  waitgone soak 120 || fail "cycle $i: the domU did not end"
  # xl's monitor destroys a powered-off domain; wait until Xen (or Ferrite) forgot it.
  n=0
  while xl list | awk 'NR>1 && $1!="Domain-0"' | grep -q .; do
    n=$((n + 1)); [ $n -gt 100 ] && fail "cycle $i: xl list still shows a domU"; sleep 0.2
  done
  if [ $i = 1 ]; then
    sleep 1
    free1=$(free_mb); ev1=$(evtchns); gnt1=$(gnt_maps); ff1=$(ferrite_free)
    log "after cycle 1: free_memory ${free1} MiB, dom0 event channels $ev1, grant mappings $gnt1"
  fi
  [ $((i % 20)) = 0 ] && log "cycle $i: free_memory $(free_mb) MiB, event channels $(evtchns), grant mappings $(gnt_maps)"
  i=$((i + 1))
done
end=$(up)
sleep 1
free2=$(free_mb); ev2=$(evtchns); gnt2=$(gnt_maps)
log "after $cycles cycles ($start s to $end s): free_memory ${free2} MiB, dom0 event channels $ev2, grant mappings $gnt2"
[ "$free2" = "$free1" ] || fail "free memory went from $free1 to $free2 MiB"
[ "$ev2" = "$ev1" ] || fail "dom0's event channels went from $ev1 to $ev2"
[ "$gnt2" = "$gnt1" ] || fail "xenstored/xenconsoled grant mappings went from $gnt1 to $gnt2"
if [ $ferrite = 1 ]; then
  # Ferrite logs its free frames at each destruction and when the last foreign mapping of a
  # dead domain's frames goes (xenstored and xenconsoled unmap the rings after
  # @releaseDomain): the last count now must be the one the first cycle left.
  xl dmesg | grep 'free frames' | tail -3 | prefix "FERRITE: "
  ff2=$(ferrite_free)
  log "Ferrite's free frames: $ff1 after cycle 1, $ff2 after cycle $cycles"
  [ -n "$ff1" ] && [ "$ff2" = "$ff1" ] || fail "Ferrite's free frames went from $ff1 to $ff2"
fi
