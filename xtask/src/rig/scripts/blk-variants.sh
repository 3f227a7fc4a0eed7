# Scenario blk-variants: the pattern/ext4 test in a 2-vCPU domU (two queues, checked in xenstore
# and in blkback's per-queue request counts) with persistent grants and indirect descriptors
# turned off in the frontend and 4-page rings (ring-page-order 2), on the io_uring engine; then a
# read-only disk — a block device opened with O_DIRECT, on the thread-pool engine, in the guest's
# persistent grants — (the guest cannot write; the disk is unchanged).
. /rig/lib.sh
blkback > /tmp/blkback.log 2>&1 &
BB=$!
dd if=/dev/zero of=/tmp/v.img bs=1M count=16 2>/dev/null
domu blkv pattern "'format=raw, vdev=xvda, access=rw, script=ferrite-vbd, target=/tmp/v.img'" \
  "rigmod=feature_persistent=0,max_indirect_segments=0,max_ring_page_order=2"
# Two vCPUs: blkfront negotiates two queues (one per vCPU), each with its 4-page ring.
sed -i 's/^vcpus = .*/vcpus = 2/' /tmp/blkv.cfg
start_domu blkv
waitfor /tmp/blkback.log "connected, 2 queue(s), 4 ring page(s) each" 200
fe=/local/domain/$(xl domid blkv)/device/vbd/51712
nq=$(xenstore-read $fe/multi-queue-num-queues)
log "frontend $fe: multi-queue-num-queues=$nq, $(xenstore-list $fe | grep queue- | tr '\n' ' ')"
[ "$nq" = 2 ] || fail "multi-queue-num-queues is '$nq', not 2"
for q in 0 1; do
  xenstore-read $fe/queue-$q/event-channel >/dev/null && xenstore-read $fe/queue-$q/ring-ref3 >/dev/null ||
    fail "no queue-$q/event-channel or ring-ref3 under $fe"
done
finish_domu blkv 300
grep -a -q 'DOMU-PARALLEL-OK on 2 vCPUs' /tmp/blkv.cons || fail "no parallel reads on both vCPUs"
# Both queues carried requests (each queue logs its count when the device disconnects).
for q in 0 1; do
  c=$(grep -a "/51712: queue $q: [0-9]* requests" /tmp/blkback.log | head -1 | sed 's/.*queue [0-9]*: \([0-9]*\) requests.*/\1/')
  log "queue $q: ${c:-no} requests"
  [ -n "$c" ] && [ "$c" -gt 0 ] || fail "queue $q carried no requests"
done
sum=$(grep -a 'DOMU-DISK-MD5' /tmp/blkv.cons | tail -1 | awk '{print $NF}' | tr -d '\r')
[ -n "$sum" ] && [ "$sum" = "$(md5sum /tmp/v.img | cut -d' ' -f1)" ] || fail "image checksum differs"
grep -a -q 'feature_persistent:N' /tmp/blkv.cons || fail "persistent grants were not off"
grep -q 'persistent grants off' /tmp/blkback.log || fail "blkback did not see persistent grants off"
log "variant persistent=0 indirect=0 ring-page-order=2, 2 queues passed"
# The read-only disk is a block device (brd's /dev/ram0), served with O_DIRECT.
kill $BB; wait $BB 2>/dev/null
# (This one uses the thread-pool engine, so both engines see guest I/O in the rig.)
blkback --direct-io --io pool >> /tmp/blkback.log 2>&1 &
BB=$!
dd if=/dev/zero of=/dev/ram0 bs=1M count=4 2>/dev/null
printf 'ferrite-readonly' | dd of=/dev/ram0 conv=notrunc 2>/dev/null
before=$(md5sum /dev/ram0 | cut -d' ' -f1)
domu blkro readonly "'format=raw, vdev=xvda, access=ro, script=ferrite-vbd, target=/dev/ram0'"
run_domu blkro 200
[ "$before" = "$(md5sum /dev/ram0 | cut -d' ' -f1)" ] || fail "read-only disk changed"
grep -q 'persistent grants on, Pool engine' /tmp/blkback.log || fail "the read-only disk was not served by the pool"
log "read-only block device with O_DIRECT passed"
kill -0 $BB || fail "blkback died"
grep -c released /tmp/blkback.log | prefix "RIG: devices released: "
