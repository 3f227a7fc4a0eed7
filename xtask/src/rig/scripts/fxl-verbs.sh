# Scenario fxl-verbs: fxl's console, monitor and device verbs on a Debian PV domU that fxl
# creates (domU test `shell`: a shell on its console runs each line typed there).
# - `create -c` shows the guest's console from before it runs; what is typed reaches it; Ctrl-]
#   detaches and the domain runs on; `fxl console` attaches again and ends by itself when the
#   domain dies.
# - vcpu-set brings a second vCPU up and takes it down, as the guest's /sys shows.
# - block-attach gives the running guest a disk it reads; block-detach takes it away (blkback
#   releases it); network-attach gives it a NIC with the MAC asked for, network-detach removes
#   it; block-list and network-list print what xl's print.
# - on_reboot="restart": the guest reboots, the monitor destroys it and builds it again (a new
#   domid, /init again); on_crash="rename-restart": its kernel crashes (sysrq c), the monitor
#   keeps the crashed domain as v1-<UTC time> (xl list shows it crashed) and builds v1 again;
#   on_poweroff="destroy": it powers off and the monitor destroys it (gone from xl list and
#   xenstore, and no fxl process left).
. /rig/lib.sh
blkback > /tmp/blkback.log 2>&1 &
BB=$!
net_up
dd if=/dev/zero of=/tmp/hp.img bs=1M count=8 2>/dev/null
printf 'ferrite-hotplug1' | dd of=/tmp/hp.img conv=notrunc 2>/dev/null
domu v1 shell "" rignoblk
printf 'maxvcpus = 2\non_reboot = "restart"\non_crash = "rename-restart"\n' >> /tmp/v1.cfg
cat /tmp/v1.cfg | prefix "RIG: v1.cfg: "
# The consoles' stdin: a FIFO this shell keeps open for writing (and reading, so opening it
# never blocks).
mkfifo /tmp/v1.in
exec 3<>/tmp/v1.in
# ask CMD PATTERN SECONDS FILE: type CMD on the console (again every 2 s) until FILE shows PATTERN.
ask() {
  end=$(( $(cut -d. -f1 /proc/uptime) + $3 ))
  until grep -a -q "$2" "$4" 2>/dev/null; do
    [ "$(cut -d. -f1 /proc/uptime)" -gt $end ] && fail "no '$2' on the console ($4) after typing '$1' for $3 s"
    printf '%s\n' "$1" >&3; sleep 2
  done
}
# ended PID SECONDS: wait until process PID has ended (a zombie counts).
ended() {
  end=$(( $(cut -d. -f1 /proc/uptime) + $2 ))
  while [ -e "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; do
    [ "$(cut -d. -f1 /proc/uptime)" -gt $end ] && return 1; sleep 0.5
  done
}
# rebuilt OLD WHY: waits up to 180 s for v1 to be a domain other than OLD, whose ID it leaves
# in `new` (fails with WHY otherwise).
rebuilt() {
  end=$(( $(cut -d. -f1 /proc/uptime) + 180 ))
  until new=$(fxl domid v1 2>/dev/null) && [ "$new" != "$1" ]; do
    [ "$(cut -d. -f1 /proc/uptime)" -gt $end ] && fail "$2: $(xl list | tr '\n' ';')"; sleep 1
  done
}
# fields FILE: FILE's words, one line each as it has them (compares xl's tables field by field).
fields() { awk '{ $1 = $1; print }' "$1"; }
# console N: a new `fxl console v1` reading the FIFO, its output in /tmp/v1.cN (PID in CPID).
console() {
  : > "/tmp/v1.c$1"
  fxl console v1 <&3 > "/tmp/v1.c$1" 2>&1 &
  CPID=$!
  ( tail -f "/tmp/v1.c$1" | prefix "[v1 c$1] " ) &
}

log "fxl create -c v1"
: > /tmp/v1.c1
fxl create -c /tmp/v1.cfg <&3 > /tmp/v1.c1 2> /tmp/v1.create &
C1=$!
( tail -f /tmp/v1.c1 | prefix "[v1 c1] " ) &
waitfor /tmp/v1.c1 'DOMU-INIT-START' 180
waitfor /tmp/v1.c1 'DOMU-SHELL-READY' 60
prefix "RIG: fxl create: " < /tmp/v1.create
id=$(fxl domid v1) || fail "fxl domid v1"
log "v1 is domain $id"
ps | grep '[f]xl monitor' | prefix "RIG: "
[ "$(ps | grep -c "[f]xl monitor $id")" = 1 ] || fail "no monitor for domain $id"
ask 'echo DOMU-ECHO $((6*7))' 'DOMU-ECHO 42' 60 /tmp/v1.c1
log "what was typed on create -c's console ran in the guest"

# vcpu-set: cpu1 starts absent (maxvcpus 2, vcpus 1); vcpu-set 2 makes it present (Linux's
# xen cpu_hotplug; onlining it is then the guest's business, which udev does and the shell does
# here), vcpu-set 1 takes it away again.
ask 'echo DOMU-CPUS-A present $(cat /sys/devices/system/cpu/present) online $(cat /sys/devices/system/cpu/online) end' 'DOMU-CPUS-A present 0 online 0 end' 60 /tmp/v1.c1
fxl vcpu-set v1 2 || fail "fxl vcpu-set v1 2"
[ "$(xenstore-read /local/domain/$id/cpu/1/availability)" = online ] || fail "cpu/1/availability after vcpu-set 2"
ask 'echo DOMU-CPUS-B present $(cat /sys/devices/system/cpu/present) end' 'DOMU-CPUS-B present 0-1 end' 60 /tmp/v1.c1
ask 'echo 1 > /sys/devices/system/cpu/cpu1/online; echo DOMU-CPUS-C online $(cat /sys/devices/system/cpu/online) end' 'DOMU-CPUS-C online 0-1 end' 60 /tmp/v1.c1
xl vcpu-list v1 | prefix "RIG: after vcpu-set 2: "
[ "$(xl vcpu-list v1 | awk 'NR>1 && $3 == 1 { print $4 }')" != - ] || fail "xl vcpu-list: vCPU 1 is not up"
fxl vcpu-set v1 1 || fail "fxl vcpu-set v1 1"
ask 'echo DOMU-CPUS-D present $(cat /sys/devices/system/cpu/present) online $(cat /sys/devices/system/cpu/online) end' 'DOMU-CPUS-D present 0 online 0 end' 60 /tmp/v1.c1
xl vcpu-list v1 | prefix "RIG: after vcpu-set 1: "
fxl vcpu-set v1 3 2> /tmp/err && fail "vcpu-set beyond maxvcpus succeeded"
log "vcpu-set 3: $(cat /tmp/err)"

# block-attach, block-list, block-detach.
ask 'modprobe xen-blkfront; echo DOMU-BLKFRONT-$?' 'DOMU-BLKFRONT-0' 60 /tmp/v1.c1
fxl block-attach v1 'format=raw, vdev=xvdb, access=rw, script=ferrite-vbd, target=/tmp/hp.img' || fail "fxl block-attach"
ask 'echo DOMU-XVDB $(dd if=/dev/xvdb bs=16 count=1 iflag=direct 2>/dev/null)' 'DOMU-XVDB ferrite-hotplug1' 90 /tmp/v1.c1
xl block-list v1 > /tmp/xl.blk; fxl block-list v1 > /tmp/fxl.blk || fail "fxl block-list"
prefix "RIG: xl:  " < /tmp/xl.blk; prefix "RIG: fxl: " < /tmp/fxl.blk
[ "$(fields /tmp/xl.blk)" = "$(fields /tmp/fxl.blk)" ] || fail "block-list differs from xl's"
grep -q '^51728 ' /tmp/fxl.blk || fail "block-list has no xvdb"
fxl block-attach v1 'format=raw, vdev=xvdb, access=rw, script=ferrite-vbd, target=/tmp/hp.img' 2> /tmp/err && fail "a second xvdb was attached"
log "second block-attach: $(cat /tmp/err)"
fxl block-detach v1 xvdb || fail "fxl block-detach"
ask '[ -b /dev/xvdb ] || echo DOMU-XVDB-GONE' 'DOMU-XVDB-GONE' 60 /tmp/v1.c1
for p in /local/domain/$id/device/vbd/51728 /local/domain/0/backend/vbd/$id/51728 /libxl/$id/device/vbd/51728; do
  xenstore-read "$p" > /dev/null 2>&1 && fail "$p still in xenstore after block-detach"
done
waitfor /tmp/blkback.log ': released' 30
sleep 1
noleaks $BB hp.img
fxl block-detach v1 xvdb 2> /tmp/err && fail "block-detach of a detached disk succeeded"
log "block-detach again: $(cat /tmp/err)"

# network-attach, network-list, network-detach.
ask 'modprobe xen-netfront; echo DOMU-NETFRONT-$?' 'DOMU-NETFRONT-0' 60 /tmp/v1.c1
fxl network-attach v1 bridge=xenbr0 script=ferrite-vif mac=00:16:3e:00:00:42 || fail "fxl network-attach"
waitfor /tmp/netback.log "vif/$id/0: connected" 90
ask 'echo DOMU-MAC $(cat /sys/class/net/eth0/address)' 'DOMU-MAC 00:16:3e:00:00:42' 60 /tmp/v1.c1
xl network-list v1 > /tmp/xl.nic; fxl network-list v1 > /tmp/fxl.nic || fail "fxl network-list"
prefix "RIG: xl:  " < /tmp/xl.nic; prefix "RIG: fxl: " < /tmp/fxl.nic
[ "$(fields /tmp/xl.nic)" = "$(fields /tmp/fxl.nic)" ] || fail "network-list differs from xl's"
fxl network-detach v1 0 || fail "fxl network-detach"
waitfor /tmp/netback.log "vif/$id/0: released" 60
ask '[ -e /sys/class/net/eth0 ] || echo DOMU-ETH0-GONE' 'DOMU-ETH0-GONE' 60 /tmp/v1.c1
xenstore-read /local/domain/0/backend/vif/$id/0 > /dev/null 2>&1 && fail "the vif's backend is still in xenstore"
[ "$(fxl network-list v1 | wc -l)" = 1 ] || fail "network-list still shows a vif"

# Ctrl-] detaches create -c's console; the domain runs on.
printf '\035' >&3
ended $C1 20 || fail "fxl create -c did not detach on Ctrl-]"
[ "$(fxl domid v1)" = "$id" ] || fail "v1 is gone after the detach"
log "Ctrl-] detached; v1 runs on"
console 2
ask 'echo DOMU-AGAIN $((40+2))' 'DOMU-AGAIN 42' 60 /tmp/v1.c2

# on_reboot="restart": a new domain, through /init again; the old one and its console gone.
log "reboot -f in v1"
printf 'reboot -f\n' >&3
rebuilt "$id" "v1 was not restarted"
nid=$new
log "v1 restarted as domain $nid"
ended $CPID 30 || fail "fxl console did not end when its domain died"
xenstore-read /local/domain/$id/name > /dev/null 2>&1 && fail "domain $id is still in xenstore"
xl list | awk -v id="$id" 'NR>1 && $2 == id { f = 1 } END { exit f }' || fail "domain $id is still in xl list"
console 3
waitfor /tmp/v1.c3 'DOMU-INIT-START' 180
waitfor /tmp/v1.c3 'DOMU-SHELL-READY' 60
ask 'echo DOMU-REBORN $((2+3))' 'DOMU-REBORN 5' 60 /tmp/v1.c3

# on_crash="rename-restart": the crashed domain stays under a new name, v1 is built again.
log "sysrq crash in v1"
printf 'echo c > /proc/sysrq-trigger\n' >&3
rebuilt "$nid" "v1 was not restarted after its crash"
cid=$new
kept=$(xl list | awk -v id="$nid" 'NR>1 && $2 == id { print $1, $5 }')
log "v1 restarted as domain $cid after its crash; domain $nid kept: $kept"
case "$kept" in
  v1-20[0-9][0-9][01][0-9][0-3][0-9]T[0-2][0-9][0-5][0-9]Z\ *c*) ;;
  *) fail "the crashed domain $nid is not kept as v1-<time>, crashed: '$kept'" ;;
esac
fxl destroy "$nid" || fail "fxl destroy of the kept domain $nid"
ended $CPID 30 || fail "fxl console did not end when the crashed domain was destroyed"
nid=$cid
console 4
waitfor /tmp/v1.c4 'DOMU-INIT-START' 180
waitfor /tmp/v1.c4 'DOMU-SHELL-READY' 60
ask 'echo DOMU-THIRD $((3+4))' 'DOMU-THIRD 7' 60 /tmp/v1.c4

# on_poweroff="destroy": gone, everywhere; the monitor and the console end.
log "poweroff -f in v1"
printf 'poweroff -f\n' >&3
end=$(( $(cut -d. -f1 /proc/uptime) + 120 ))
while fxl domid v1 > /dev/null 2>&1; do
  [ "$(cut -d. -f1 /proc/uptime)" -gt $end ] && fail "v1 was not destroyed after powering off: $(xl list | tr '\n' ';')"; sleep 1
done
ended $CPID 30 || fail "fxl console did not end when the domain was destroyed"
for p in /local/domain/$nid /libxl/$nid /local/domain/0/backend/console/$nid; do
  xenstore-read "$p" > /dev/null 2>&1 && fail "$p still in xenstore"
done
end=$(( $(cut -d. -f1 /proc/uptime) + 30 ))
while pidof fxl > /dev/null; do
  [ "$(cut -d. -f1 /proc/uptime)" -gt $end ] && { ps | grep '[f]xl'; fail "fxl processes left"; }; sleep 0.5
done
xl list | prefix "RIG: at the end: "
prefix "RIG: monitor log: " < /var/log/xen/fxl-v1.log
