# domU test: a read-only disk reads (dom0's pattern) and refuses writes.
dev=/dev/xvda
[ "$(blockdev --getro $dev)" = 1 ] || { echo "DOMU: xvda not read-only"; exit 1; }
head=$(dd if=$dev bs=16 count=1 2>/dev/null)
echo "DOMU: first bytes: $head"
[ "$head" = "ferrite-readonly" ] || exit 1
if echo x | dd of=$dev bs=512 count=1 conv=sync oflag=direct 2>/dev/null; then
  echo "DOMU: write to a read-only disk succeeded"; exit 1
fi
echo "DOMU-RO-OK"
