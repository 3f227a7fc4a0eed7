# Scenario blk-hostile: a frontend of ours in one domU sends malformed requests and a jumping
# producer index straight onto the ring; blkback answers each with an error and closes that
# device, then serves a well-behaved Debian domU running the pattern/ext4 test. (Sequential:
# with two domUs starting at once, dom0 programs crash at random on this rig; see docs/rig.md.)
. /rig/lib.sh
blkback > /tmp/blkback.log 2>&1 &
BB=$!
dd if=/dev/zero of=/tmp/good.img bs=1M count=16 2>/dev/null
dd if=/dev/zero of=/tmp/x.img bs=1M count=4 2>/dev/null
domu blkx hostile "" rignoblk
start_domu blkx
waitfor /tmp/blkx.cons DOMU-HOSTILE-WAITING 120
xl block-attach blkx 'format=raw, vdev=xvdc, access=rw, script=ferrite-vbd, target=/tmp/x.img' || fail "block-attach"
finish_domu blkx 120
grep -a -q HOSTILE-PASS /tmp/blkx.cons || fail "hostile frontend was not answered as expected"
domu blkg pattern "'format=raw, vdev=xvda, access=rw, script=ferrite-vbd, target=/tmp/good.img'"
run_domu blkg 300
sum=$(grep -a 'DOMU-DISK-MD5' /tmp/blkg.cons | tail -1 | awk '{print $NF}' | tr -d '\r')
[ -n "$sum" ] && [ "$sum" = "$(md5sum /tmp/good.img | cut -d' ' -f1)" ] || fail "good domU's image checksum differs"
kill -0 $BB || fail "blkback died"
grep -a -E "broke the ring|refused|queue 0:" /tmp/blkback.log | prefix "RIG: "
