# Scenario xenstored: Ferrite's xenstored is dom0's only xenstored. dom0's kernel talks to it
# through its ring (/proc/xen/xsd_kva), xl, xen-init-dom0, xenconsoled and blkback through the
# socket, and two Debian PV domUs through their rings (grant ref 1, event channel): the first
# runs the blk pattern test on blkback and powers off (VIRQ_DOM_EXC: @releaseDomain, xl's
# monitor destroys it, the daemon releases it); the second is destroyed while it computes.
. /rig/lib.sh
XS=$(cat /run/xen/xenstored.pid)
exe=$(readlink "/proc/$XS/exe")
log "xenstored pid $XS: $exe"
[ "$exe" = /rig/bin/xenstored ] || fail "dom0's xenstored is not Ferrite's ($exe)"
n=$(pidof xenstored | wc -w)
[ "$n" = 1 ] || fail "$n xenstored processes"
grep -q "serving dom0's ring" /tmp/xenstored.log || fail "xenstored does not serve dom0's ring"
# dom0's kernel probed xenbus through our ring and wrote its features (drivers/xen/manage.c).
v=$(xenstore-read /local/domain/0/control/feature-poweroff) || fail "no control/feature-poweroff from dom0's kernel"
[ "$v" = 1 ] || fail "control/feature-poweroff is '$v'"
log "dom0's kernel wrote control/feature-poweroff=$v through its ring"
xenstore-read /local/domain/0/name | grep -qx Domain-0 || fail "xen-init-dom0 did not name dom0"

dd if=/dev/zero of=/tmp/disk.img bs=1M count=32 2>/dev/null
blkback > /tmp/blkback.log 2>&1 &
BB=$!
domu xs1 pattern "'format=raw, vdev=xvda, access=rw, script=ferrite-vbd, target=/tmp/disk.img'"
start_domu xs1
waitfor /tmp/xs1.cons 'DOMU-INIT-START' 120
id=$(xl domid xs1)
# The guest's frontend reached Connected through its own ring.
waitfor /tmp/blkback.log 'connected' 120
st=$(xenstore-read "/local/domain/$id/device/vbd/51712/state") || fail "no frontend state for domain $id"
log "domain $id: vbd frontend state $st"
grep -q "domain $id: ring connected" /tmp/xenstored.log || fail "domain $id's ring was not connected"
finish_domu xs1 300
waitfor /tmp/xenstored.log "domain $id is gone" 60
log "domain $id released: $(grep "domain $id" /tmp/xenstored.log | tr '\n' ';')"
sum=$(grep -a 'DOMU-DISK-MD5' /tmp/xs1.cons | tail -1 | awk '{print $NF}' | tr -d '\r')
img=$(md5sum /tmp/disk.img | cut -d' ' -f1)
log "image md5 dom0=$img domU=$sum"
[ -n "$sum" ] && [ "$sum" = "$img" ] || fail "image checksum differs"
if xenstore-read "/local/domain/$id/name" >/dev/null 2>&1; then fail "domain $id's directory outlived it"; fi

domu xs2 spin "" rignoblk
start_domu xs2
waitfor /tmp/xs2.cons 'DOMU-BUSY' 120
id2=$(xl domid xs2)
log "xl destroy xs2 (domain $id2)"
xl destroy xs2 || fail "xl destroy xs2"
waitfor /tmp/xenstored.log "domain $id2 is gone" 60
if xenstore-ls /local/domain 2>/dev/null | grep -q "^$id2 "; then fail "domain $id2's directory outlived it"; fi
others=$(xl list | awk 'NR>1 && $1!="Domain-0"' | wc -l)
[ "$others" = 0 ] || fail "xl list still shows $others domU(s)"
kill -0 "$XS" || fail "xenstored died"
kill -0 $BB || fail "blkback died"
if grep -q 'ring Ring\|ring Proto' /tmp/xenstored.log; then fail "a ring was declared broken"; fi
log "xenstored: $(grep VmRSS /proc/$XS/status)"
sed 's/^/XENSTORED: /' /tmp/xenstored.log | tail -20
