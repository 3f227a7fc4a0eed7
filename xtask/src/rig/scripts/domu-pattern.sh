# domU test: a known pattern across the whole of xvda, read back; ext4 made, used and checked;
# the disk's final checksum printed for dom0 to compare with the image.
set -e
dev=/dev/xvda
bytes=$(blockdev --getsize64 $dev)
mb=$((bytes / 1048576))
echo "DOMU: xvda $bytes bytes, ro=$(blockdev --getro $dev)"
grep -H . /sys/block/xvda/queue/max_segments /sys/module/xen_blkfront/parameters/* 2>/dev/null | sed 's/^/DOMU: /'
pattern() { i=0; while [ $i -lt $mb ]; do yes "ferrite-blk $i" | head -c 1048576; i=$((i+1)); done; }
want=$(pattern | md5sum | cut -d' ' -f1)
pattern | dd of=$dev bs=1M iflag=fullblock oflag=direct 2>/dev/null
echo 3 > /proc/sys/vm/drop_caches
got=$(dd if=$dev bs=1M iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
echo "DOMU: pattern want=$want got=$got"
[ "$want" = "$got" ]
echo "DOMU-PATTERN-OK"
# With several vCPUs (blkfront then uses a queue per vCPU), direct reads of the first 8 MiB from
# every vCPU at once, each checked against the pattern, so that every queue carries I/O.
n=$(nproc)
if [ "$n" -gt 1 ]; then
  first=$(i=0; while [ $i -lt 8 ]; do yes "ferrite-blk $i" | head -c 1048576; i=$((i+1)); done | md5sum)
  for c in $(seq 0 $((n - 1))); do
    taskset -c $c sh -c "dd if=$dev bs=64k count=128 iflag=direct 2>/dev/null | md5sum > /tmp/p$c" &
  done
  wait
  for c in $(seq 0 $((n - 1))); do [ "$(cat /tmp/p$c)" = "$first" ]; done
  echo "DOMU-PARALLEL-OK on $n vCPUs"
fi
mkfs.ext4 -q -F $dev
mkdir -p /mnt/x && mount -t ext4 $dev /mnt/x
dd if=/dev/urandom of=/mnt/x/f bs=64k count=64 2>/dev/null
a=$(md5sum < /mnt/x/f)
umount /mnt/x && echo 3 > /proc/sys/vm/drop_caches && mount -t ext4 $dev /mnt/x
b=$(md5sum < /mnt/x/f)
[ "$a" = "$b" ]
rm /mnt/x/f && fstrim -v /mnt/x 2>&1 | sed 's/^/DOMU: /' || true
umount /mnt/x
e2fsck -f -n $dev >/tmp/fsck.log 2>&1 || { cat /tmp/fsck.log; exit 1; }
echo "DOMU-FSCK-OK"
sync
echo "DOMU-DISK-MD5 $(dd if=$dev bs=1M iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)"
