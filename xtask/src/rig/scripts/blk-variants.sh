# Scenario blk-variants: the pattern/ext4 test with persistent grants and indirect descriptors
# turned off in the frontend and a 4-page ring (ring-page-order 2), then a read-only disk — a
# block device opened with O_DIRECT — (the guest cannot write; the disk is unchanged).
. /rig/lib.sh
blkback > /tmp/blkback.log 2>&1 &
BB=$!
dd if=/dev/zero of=/tmp/v.img bs=1M count=16 2>/dev/null
domu blkv pattern "'format=raw, vdev=xvda, access=rw, script=ferrite-vbd, target=/tmp/v.img'" \
  "rigmod=feature_persistent=0,max_indirect_segments=0,max_ring_page_order=2"
run_domu blkv 300
sum=$(grep -a 'DOMU-DISK-MD5' /tmp/blkv.cons | tail -1 | awk '{print $NF}' | tr -d '\r')
[ -n "$sum" ] && [ "$sum" = "$(md5sum /tmp/v.img | cut -d' ' -f1)" ] || fail "image checksum differs"
grep -a -q 'feature_persistent:N' /tmp/blkv.cons || fail "persistent grants were not off"
grep -q "connected, 1 queue(s), 4 ring page(s) each" /tmp/blkback.log || fail "no 4-page ring"
log "variant persistent=0 indirect=0 ring-page-order=2 passed"
# The read-only disk is a block device (brd's /dev/ram0), served with O_DIRECT.
kill $BB; wait $BB 2>/dev/null
blkback --direct-io >> /tmp/blkback.log 2>&1 &
BB=$!
dd if=/dev/zero of=/dev/ram0 bs=1M count=4 2>/dev/null
printf 'ferrite-readonly' | dd of=/dev/ram0 conv=notrunc 2>/dev/null
before=$(md5sum /dev/ram0 | cut -d' ' -f1)
domu blkro readonly "'format=raw, vdev=xvda, access=ro, script=ferrite-vbd, target=/dev/ram0'"
run_domu blkro 200
[ "$before" = "$(md5sum /dev/ram0 | cut -d' ' -f1)" ] || fail "read-only disk changed"
log "read-only block device with O_DIRECT passed"
kill -0 $BB || fail "blkback died"
grep -c released /tmp/blkback.log | prefix "RIG: devices released: "
