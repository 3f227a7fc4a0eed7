# domU test: eth0 on the vif (xen-netfront), 10.0.0.2/24; ping RTT to dom0 (20 pings, 0.2 s
# apart, after 3 to warm up), then iperf3 against dom0's server: TCP with 1 and 4 streams and
# UDP with 64-byte datagrams at full rate, guest -> dom0 (up) and dom0 -> guest (down, -R);
# each figure printed as "BENCH <name> <value> <unit>" (TCP: the receiver's Mbit/s; UDP: the
# datagrams the receiver got per second); each TCP test's sender line with its retransmissions
# as "BENCHINFO <name> ...".
set -e
modprobe xen-netfront
i=0; while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done
ip link set dev eth0 up
ip addr add 10.0.0.2/24 dev eth0
ping -c 3 -W 3 10.0.0.1 > /dev/null 2>&1 || true
ping -c 20 -i 0.2 10.0.0.1 > /tmp/ping 2>&1
echo "BENCH ping-rtt $(sed -n 's|.*min/avg/max = [0-9.]*/\([0-9.]*\)/.*|\1|p' /tmp/ping) ms"
tcp() {
  name=$1; shift
  out=$(iperf3 -c 10.0.0.1 -t 10 -O 2 -f m "$@" 2>&1) || { echo "$out"; return 1; }
  # The sender's line, with its retransmissions (diagnostic, not a figure).
  echo "$out" | grep sender | tail -1 | sed "s/^/BENCHINFO $name /"
  echo "$out" | grep receiver | tail -1 |
    awk -v n="$name" '{ for (i = 2; i <= NF; i++) if ($i == "Mbits/sec") print "BENCH " n " " $(i-1) " Mbit/s" }'
}
udp() {
  name=$1; shift
  out=$(iperf3 -c 10.0.0.1 -u -b 0 -l 64 -t 10 -f m "$@" 2>&1) || { echo "$out"; return 1; }
  echo "$out" | grep receiver | tail -1 |
    awk -v n="$name" '{ for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+\/[0-9]+$/) { split($i, a, "/"); print "BENCH " n " " int((a[2] - a[1]) / 10) " pps" } }'
}
tcp tcp1-up
tcp tcp4-up -P 4
tcp tcp1-down -R
tcp tcp4-down -R -P 4
udp udp64-up
udp udp64-down -R
