# Scenario blk-hostile: a well-behaved Debian domU does continuous verified I/O on a disk served
# by blkback; while it does, a frontend of ours in a second domU sends malformed requests and a
# jumping producer index straight onto the ring of its own disk on the same blkback. blkback
# answers each bad request with an error and closes that device, and the good domU's I/O goes on
# correct (every round's checksum, the image's checksum at the end). The hostile frontend then
# reconnects the same device and is served again.
. /rig/lib.sh
blkback > /tmp/blkback.log 2>&1 &
BB=$!
dd if=/dev/zero of=/tmp/good.img bs=1M count=8 2>/dev/null
dd if=/dev/zero of=/tmp/x.img bs=1M count=4 2>/dev/null
dd if=/dev/zero of=/tmp/stop.img bs=1M count=1 2>/dev/null
rounds() { grep -a -c 'DOMU-STEADY-ROUND [0-9]* ok' /tmp/blkg.cons; }
domu blkg steady "'format=raw, vdev=xvda, access=rw, script=ferrite-vbd, target=/tmp/good.img'"
start_domu blkg
waitfor /tmp/blkg.cons 'DOMU-STEADY-ROUND 1 ok' 200
# The hostile guest is created and runs while the good one is mid-I/O.
domu blkx hostile "" rignoblk
start_domu blkx
waitfor /tmp/blkx.cons DOMU-HOSTILE-WAITING 120
r0=$(rounds)
xl block-attach blkx 'format=raw, vdev=xvdc, access=rw, script=ferrite-vbd, target=/tmp/x.img' || fail "block-attach"
finish_domu blkx 120
grep -a -q HOSTILE-PASS /tmp/blkx.cons || fail "hostile frontend was not answered as expected"
grep -a -q "51744: frontend broke the ring; closing" /tmp/blkback.log || fail "blkback did not close the hostile device"
# The same frontend then reconnected (Closed -> Initialising): blkback went back to InitWait,
# served a fresh ring, and the page it wrote there is in the image (4 KiB of 0xa5 at sector 16).
grep -a -q "51744: Closed -> InitWait" /tmp/blkback.log || fail "blkback did not take the hostile frontend back to InitWait"
[ "$(dd if=/tmp/x.img bs=4096 skip=2 count=1 2>/dev/null | tr -cd '\245' | wc -c)" = 4096 ] || fail "the write after reconnection is not in the image"
[ "$(grep -a -c '51744: connected, ' /tmp/blkback.log)" = 2 ] || fail "the hostile device did not connect exactly twice"
r1=$(rounds)
grep -a -q 'DOMU-STEADY-ROUND [0-9]* BAD' /tmp/blkg.cons && fail "good domU saw bad data"
grep -a -q 'DOMU-FAIL' /tmp/blkg.cons && fail "good domU failed"
log "good domU: $r0 rounds before the hostile disk came, $r1 when the hostile guest was gone"
# The good domU goes on being served after the hostile device was dropped: one more round.
end=$(( $(cut -d. -f1 /proc/uptime) + 120 ))
while [ "$(rounds)" -le "$r1" ]; do
  [ "$(cut -d. -f1 /proc/uptime)" -gt $end ] && fail "good domU made no progress after the hostile one"
  sleep 0.5
done
xl block-attach blkg 'format=raw, vdev=xvdb, access=rw, script=ferrite-vbd, target=/tmp/stop.img' || fail "block-attach stop"
finish_domu blkg 200
log "good domU: $(rounds) rounds in all"
sum=$(grep -a 'DOMU-DISK-MD5' /tmp/blkg.cons | tail -1 | awk '{print $NF}' | tr -d '\r')
[ -n "$sum" ] && [ "$sum" = "$(md5sum /tmp/good.img | cut -d' ' -f1)" ] || fail "good domU's image checksum differs"
kill -0 $BB || fail "blkback died"
grep -a -E "broke the ring|refused|queue [0-9]:" /tmp/blkback.log | prefix "RIG: "
