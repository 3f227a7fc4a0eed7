# Scenario blk-lifecycle: hot-unplug and re-attach of a disk while the guest runs, the guest
# powering off with I/O in flight, a guest destroyed (domain death) in the middle of I/O, and
# nothing left behind in blkback (descriptors of the image, gntdev mappings) after each.
. /rig/lib.sh
blkback > /tmp/blkback.log 2>&1 &
BB=$!
dd if=/dev/zero of=/tmp/hp.img bs=1M count=8 2>/dev/null
printf 'ferrite-hotplug1' | dd of=/tmp/hp.img conv=notrunc 2>/dev/null
SPEC='format=raw, vdev=xvdb, access=rw, script=ferrite-vbd, target=/tmp/hp.img'
domu blkh hotplug ""
start_domu blkh
waitfor /tmp/blkh.cons DOMU-HP-WAITING 120
xl block-attach blkh "$SPEC" || fail "block-attach"
waitfor /tmp/blkh.cons DOMU-HP-ATTACHED 60
xl block-detach blkh xvdb || fail "block-detach"
waitfor /tmp/blkh.cons DOMU-HP-DETACHED 60
sleep 1
noleaks $BB hp.img
printf 'ferrite-hotplug2' | dd of=/tmp/hp.img conv=notrunc 2>/dev/null
xl block-attach blkh "$SPEC" || fail "block-attach again"
waitfor /tmp/blkh.cons DOMU-HP-REATTACHED 60
grep -a -q 'DOMU-HP-REATTACHED ferrite-hotplug2' /tmp/blkh.cons || fail "re-attached disk shows stale data"
finish_domu blkh 120
# The guest powered off with direct reads in flight; xl tore the device down.
sleep 2
noleaks $BB hp.img
# Domain death: the frontend never closes; xl tears the backend down.
dd if=/dev/zero of=/tmp/d.img bs=1M count=8 2>/dev/null
domu blkd busy "'format=raw, vdev=xvda, access=rw, script=ferrite-vbd, target=/tmp/d.img'"
start_domu blkd
waitfor /tmp/blkd.cons DOMU-BUSY 120
sleep 3
xl destroy blkd || fail "xl destroy"
waitgone blkd 60 || fail "blkd still there"
sleep 2
noleaks $BB d.img
kill -0 $BB || fail "blkback died"
grep -a -E "queue 0:|released" /tmp/blkback.log | prefix "RIG: "
# Three devices came and went (two attaches of xvdb, one xvda): each released exactly once.
n=$(grep -c released /tmp/blkback.log)
[ "$n" = 3 ] || fail "devices released $n times, not 3"
