# domU test: eth0 on the vif (xen-netfront), 10.0.0.2/24: ping dom0 (10.0.0.1), then at once
# receive 32 MiB from dom0 on port 5002 and send 32 MiB to dom0's port 5001; the checksums are
# printed for dom0 to compare.
set -e
MB=32
modprobe xen-netfront
i=0; while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done
[ -e /sys/class/net/eth0 ] || { echo "DOMU: no eth0"; exit 1; }
ip link set dev eth0 up
ip addr add 10.0.0.2/24 dev eth0
echo "DOMU: eth0 $(cat /sys/class/net/eth0/address) mtu $(cat /sys/class/net/eth0/mtu)"
ping -c 5 -W 3 10.0.0.1 > /tmp/ping 2>&1 || true
sed 's/^/DOMU: /' /tmp/ping
echo "DOMU-NET-PING replies=$(grep -c 'bytes from' /tmp/ping)"
# The listener's stdin never ends: busybox nc half-closes on stdin EOF, which would end the
# sender early.
sleep 1000 | nc -l -p 5002 > /tmp/in &
LST=$!
echo "DOMU-NET-LISTENING"
dd if=/dev/urandom of=/tmp/out bs=1M count=$MB 2>/dev/null
echo "DOMU-NET-OUT-MD5 $(md5sum /tmp/out | cut -d' ' -f1)"
timeout 300 nc 10.0.0.1 5001 < /tmp/out > /dev/null &
SND=$!
i=0
while [ "$(stat -c %s /tmp/in 2>/dev/null || echo 0)" -lt $((MB * 1048576)) ]; do
  i=$((i+1)); [ $i -gt 300 ] && { echo "DOMU: only $(stat -c %s /tmp/in) bytes from dom0"; exit 1; }
  sleep 1
done
echo "DOMU-NET-IN-MD5 $(md5sum /tmp/in | cut -d' ' -f1)"
kill $LST 2>/dev/null || true
# The sender ends when dom0, having everything, closes its listener.
wait $SND || true
echo "DOMU-NET-SENT"
grep -H . /sys/class/net/eth0/statistics/rx_packets /sys/class/net/eth0/statistics/tx_packets /sys/class/net/eth0/statistics/rx_errors 2>/dev/null | sed 's/^/DOMU: /'
[ "$(grep -c 'bytes from' /tmp/ping)" -ge 3 ]
