# Scenario blk: Debian's Linux as a PV domU with xvda served by Ferrite's blkback from a raw
# image (xl writes the vbd nodes; the no-op hotplug script leaves the device to blkback):
# pattern, ext4 and the image's checksum.
. /rig/lib.sh
dd if=/dev/zero of=/tmp/disk.img bs=1M count=32 2>/dev/null
blkback > /tmp/blkback.log 2>&1 &
BB=$!
domu blk1 pattern "'format=raw, vdev=xvda, access=rw, script=ferrite-vbd, target=/tmp/disk.img'"
run_domu blk1 300
sum=$(grep -a 'DOMU-DISK-MD5' /tmp/blk1.cons | tail -1 | awk '{print $NF}' | tr -d '\r')
img=$(md5sum /tmp/disk.img | cut -d' ' -f1)
log "image md5 dom0=$img domU=$sum"
[ -n "$sum" ] && [ "$sum" = "$img" ] || fail "image checksum differs"
xenstore-ls /local/domain/0/backend 2>/dev/null | head -5
kill -0 $BB || fail "blkback died"
sed 's/^/BLKBACK: /' /tmp/blkback.log | tail -20
