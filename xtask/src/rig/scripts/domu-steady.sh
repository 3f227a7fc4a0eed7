# domU test: continuous verified I/O on xvda until dom0 hot-plugs xvdb (the stop signal). Each
# round writes a pattern of its own over the whole disk (O_DIRECT) and reads it back; a round
# whose checksum differs fails the test. Prints the disk's final checksum for dom0.
set -e
dev=/dev/xvda
mb=$(( $(blockdev --getsize64 $dev) / 1048576 ))
pattern() { i=0; while [ $i -lt $mb ]; do yes "ferrite-steady $1 $i" | head -c 1048576; i=$((i+1)); done; }
r=0
while [ ! -b /dev/xvdb ] && [ $r -lt 200 ]; do
  r=$((r+1))
  want=$(pattern $r | md5sum | cut -d' ' -f1)
  pattern $r | dd of=$dev bs=1M iflag=fullblock oflag=direct 2>/dev/null
  got=$(dd if=$dev bs=1M iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
  [ "$want" = "$got" ] || { echo "DOMU-STEADY-ROUND $r BAD want=$want got=$got"; exit 1; }
  echo "DOMU-STEADY-ROUND $r ok"
done
[ -b /dev/xvdb ] || { echo "DOMU: no stop signal"; exit 1; }
echo "DOMU-STEADY-STOP after $r rounds"
sync
echo "DOMU-DISK-MD5 $(dd if=$dev bs=1M iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)"
