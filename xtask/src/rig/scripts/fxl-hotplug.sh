# Scenario fxl-hotplug: fxl runs hotplug scripts as libxl does, so Linux's in-kernel backends
# serve its domains (none of Ferrite's backends runs here): with xen-blkback and xen-netback
# loaded, `fxl create` of a Debian PV domU with a file disk and the default script `block`
# (a loop device, then `physical-device` for blkback) passes the blk pattern test, and a second
# one with `vif=['bridge=xenbr0']` and the default `vif-bridge` (the kernel's vif<id>.0
# enslaved to xenbr0, `hotplug-status=connected`, which the kernel's netback waits for before
# Connected) pings dom0 and moves 4 MiB each way; `fxl network-attach` gives it a second vif
# (vif-bridge again); `fxl destroy` runs `remove`/`offline`: the loop device is released, the
# vifs leave the bridge, and no backend directory is left.
. /rig/lib.sh
modprobe xen-blkback || fail "modprobe xen-blkback"
modprobe xen-netback || fail "modprobe xen-netback"
brctl addbr xenbr0 2>/dev/null || ip link add name xenbr0 type bridge || fail "no bridge"
ip addr add 10.0.0.1/24 dev xenbr0 || fail "address on xenbr0"
ip link set dev xenbr0 up || fail "xenbr0 up"
loops() { losetup -a 2>/dev/null | grep -c '/tmp/h1.img'; }

# The disk: `block add` sets up the loop device, blkback opens it.
dd if=/dev/zero of=/tmp/h1.img bs=1M count=16 2>/dev/null
domu h1 pattern "'format=raw, vdev=xvda, access=rw, target=/tmp/h1.img'"
log "fxl create h1"
fxl create -p -e /tmp/h1.cfg 2> /tmp/fxl.err || fail "fxl create h1: $(cat /tmp/fxl.err)"
id=$(fxl domid h1) || fail "fxl domid h1"
be=/local/domain/0/backend/vbd/$id/51712
pd=$(xenstore-read "$be/physical-device" 2>/dev/null)
node=$(xenstore-read "$be/node" 2>/dev/null)
log "h1 is domain $id: block script gave physical-device ${pd:-none}, node ${node:-none}"
[ -n "$pd" ] && [ -n "$node" ] || fail "the block script did not run (no physical-device/node)"
[ "$(loops)" = 1 ] || fail "no loop device on /tmp/h1.img: $(losetup -a | tr '\n' ';')"
( xl console h1 </dev/null 2>&1 | tee /tmp/h1.cons | prefix "[h1] " ) &
fxl unpause h1 || fail "fxl unpause h1"
waitfor /tmp/h1.cons 'DOMU-DONE' 300
grep -a -q 'DOMU-PASS' /tmp/h1.cons || fail "h1 did not pass"
fxl destroy h1 2> /tmp/err || fail "fxl destroy h1: $(cat /tmp/err)"
waitgone h1 60 || fail "h1 still there"
sum=$(grep -a 'DOMU-DISK-MD5' /tmp/h1.cons | tail -1 | awk '{print $NF}' | tr -d '\r')
img=$(md5sum /tmp/h1.img | cut -d' ' -f1)
log "image md5 dom0=$img domU=$sum"
[ -n "$sum" ] && [ "$sum" = "$img" ] || fail "image checksum differs"
[ "$(loops)" = 0 ] || fail "block remove did not release the loop device: $(losetup -a | tr '\n' ';')"
xenstore-read "$be" > /dev/null 2>&1 && fail "$be still in xenstore"
log "h1 destroyed: loop device released, backend gone"

# The vif: `vif-bridge online` puts the kernel's vif in xenbr0.
CONS=/tmp/h2.cons
listen 5005 quick
net_domu h2 "rignoblk rignet=quick" "bridge=xenbr0,mac=00:16:3e:00:00:21"
log "fxl create h2"
fxl create -p -e /tmp/h2.cfg 2> /tmp/fxl.err || fail "fxl create h2: $(cat /tmp/fxl.err)"
id=$(fxl domid h2) || fail "fxl domid h2"
be=/local/domain/0/backend/vif/$id/0
[ "$(xenstore-read "$be/hotplug-status" 2>/dev/null)" = connected ] || fail "vif-bridge did not report connected"
brctl show xenbr0 2>/dev/null | grep -q "vif$id.0" || ip link show "vif$id.0" | grep -q 'master xenbr0' || fail "vif$id.0 is not in xenbr0"
log "vif$id.0 in xenbr0, hotplug-status connected"
( xl console h2 </dev/null 2>&1 | tee /tmp/h2.cons | prefix "[h2] " ) &
fxl unpause h2 || fail "fxl unpause h2"
waitfor /tmp/h2.cons 'DOMU-NET-PING' 240
replies=$(tr -d '\r' < /tmp/h2.cons | sed -n 's/.*DOMU-NET-PING replies=\([0-9]*\).*/\1/p' | tail -1)
log "h2 ping replies: ${replies:-none}"
[ "${replies:-0}" -ge 3 ] || fail "h2: fewer than 3 ping replies"
round quick 4 5005 5006
# A second vif while it runs: network-attach runs vif-bridge for it too.
fxl network-attach h2 bridge=xenbr0 mac=00:16:3e:00:00:22 2> /tmp/err || fail "fxl network-attach: $(cat /tmp/err)"
[ "$(xenstore-read "/local/domain/0/backend/vif/$id/1/hotplug-status" 2>/dev/null)" = connected ] || fail "vif-bridge did not run for the attached vif"
brctl show xenbr0 2>/dev/null | grep -q "vif$id.1" || ip link show "vif$id.1" | grep -q 'master xenbr0' || fail "vif$id.1 is not in xenbr0"
log "network-attach: vif$id.1 in xenbr0"
waitfor /tmp/h2.cons 'DOMU-DONE' 300
fxl destroy h2 2> /tmp/err || fail "fxl destroy h2: $(cat /tmp/err)"
waitgone h2 60 || fail "h2 still there"
sleep 1
for v in "vif$id.0" "vif$id.1"; do
  ip link show "$v" > /dev/null 2>&1 && fail "$v still exists"
done
xenstore-ls /local/domain/0/backend 2>/dev/null | grep -q "^ *$id = " && fail "a backend directory of domain $id is left"
log "h2 destroyed: its vifs gone"
