# domU test: keep xvda busy (direct writes and reads) until the domain is destroyed.
echo "DOMU-BUSY"
while :; do
  dd if=/dev/zero of=/dev/xvda bs=64k count=64 oflag=direct 2>/dev/null
  dd if=/dev/xvda of=/dev/null bs=64k count=64 iflag=direct 2>/dev/null
done
