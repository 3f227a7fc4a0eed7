# domU test: eth0 on the vif (xen-netfront), 10.0.0.2/24 unless said: ping dom0 (10.0.0.1), then two
# rounds, first with netfront's offloads (checksum, SG, TSO) and then with all of them off
# (`ethtool -K`): in each, at once, receive MB MiB from dom0 and send MB MiB to dom0; the
# checksums are printed for dom0 to compare. With `rignet=quick` on the command line: one
# round of 4 MiB with the offloads on; with `rignet=big`, one of 256 MiB; with `rignet=sink`, only a listener that takes anything
# until the domain is destroyed; with `rignet=steady`, a ping every half second runs in the
# background throughout (its count printed at the end) and two rounds go: `steady` of 32 MiB,
# whose sending starts only once dom0's data comes (dom0 chooses when), then `after` of 4 MiB.
# With `rignet=reattach`: a listener takes dom0's stream until eth0 goes (the vif detached),
# then the vif that comes back is set up again, pings dom0 and a round `again` of 4 MiB goes.
# `rigip=A.B.C.D` gives the guest another address; with `rigpeer=A.B.C.D` it also pings that
# other guest (through netback twice: its TX ring, the bridge, the peer's RX ring) once the
# peer answers, and prints the replies.
set -e
addr=10.0.0.2; peer=
for w in $(cat /proc/cmdline); do
  case "$w" in
    rigip=*) addr=${w#rigip=} ;;
    rigpeer=*) peer=${w#rigpeer=} ;;
  esac
done
modprobe xen-netfront
i=0; while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done
[ -e /sys/class/net/eth0 ] || { echo "DOMU: no eth0"; exit 1; }
ip link set dev eth0 up
ip addr add "$addr/24" dev eth0
echo "DOMU: eth0 $(cat /sys/class/net/eth0/address) mtu $(cat /sys/class/net/eth0/mtu)"
ping -c 5 -W 3 10.0.0.1 > /tmp/ping 2>&1 || true
sed 's/^/DOMU: /' /tmp/ping
echo "DOMU-NET-PING replies=$(grep -c 'bytes from' /tmp/ping)"
[ "$(grep -c 'bytes from' /tmp/ping)" -ge 3 ]
if [ -n "$peer" ]; then
  i=0
  while [ $i -lt 30 ] && ! ping -c 1 -W 2 "$peer" > /dev/null 2>&1; do i=$((i+1)); done
  ping -c 5 -W 3 "$peer" > /tmp/peerping 2>&1 || true
  sed 's/^/DOMU: /' /tmp/peerping
  echo "DOMU-NET-PEER-PING replies=$(grep -c 'bytes from' /tmp/peerping)"
fi

# round NAME MB INPORT OUTPORT
round() {
  ethtool -k eth0 2>/dev/null | grep -E '^(tx-checksumming|scatter-gather|tcp-segmentation-offload|rx-checksumming):' | tr '\n' ' ' | sed "s/^/DOMU: $1 offloads: /"; echo
  # The listener's stdin never ends: busybox nc half-closes on stdin EOF, which would end
  # the sender early.
  sleep 1000 | nc -l -p "$3" > "${RDIR:-/tmp}/in-$1" &
  LST=$!
  echo "DOMU-NET-LISTENING $1"
  dd if=/dev/urandom of="${RDIR:-/tmp}/out-$1" bs=1M count="$2" 2>/dev/null
  echo "DOMU-NET-OUT-MD5 $1 $(md5sum "${RDIR:-/tmp}/out-$1" | cut -d' ' -f1)"
  if [ "$1" = steady ]; then
    i=0
    while [ "$(stat -c %s "${RDIR:-/tmp}/in-$1" 2>/dev/null || echo 0)" = 0 ]; do
      i=$((i+1)); [ $i -gt 600 ] && { echo "DOMU: $1: nothing from dom0"; return 1; }
      sleep 0.5
    done
  fi
  # 300 s, and 3 s more per MiB (256 MiB under TCG).
  limit=$((300 + $2 * 3))
  timeout $limit nc 10.0.0.1 "$4" < "${RDIR:-/tmp}/out-$1" > /dev/null &
  SND=$!
  i=0
  while [ "$(stat -c %s "${RDIR:-/tmp}/in-$1" 2>/dev/null || echo 0)" -lt $(($2 * 1048576)) ]; do
    i=$((i+1)); [ $i -gt $limit ] && { echo "DOMU: $1: only $(stat -c %s "${RDIR:-/tmp}/in-$1") bytes from dom0"; return 1; }
    sleep 1
  done
  echo "DOMU-NET-IN-MD5 $1 $(md5sum "${RDIR:-/tmp}/in-$1" | cut -d' ' -f1)"
  kill $LST 2>/dev/null || true
  # The sender ends when dom0, having everything, closes its listener.
  wait $SND || true
  echo "DOMU-NET-SENT $1"
  rm -f "${RDIR:-/tmp}/in-$1" "${RDIR:-/tmp}/out-$1"
}
if grep -q 'rignet=sink' /proc/cmdline; then
  # Takes whatever dom0 sends until dom0 destroys this domain.
  sleep 1000 | nc -l -p 5006 > /dev/null &
  echo "DOMU-NET-LISTENING sink"
  sleep 1000
  exit 1
fi
if grep -q 'rignet=reattach' /proc/cmdline; then
  # Takes dom0's stream until the vif goes, then waits for it to come back.
  sleep 1000 | nc -l -p 5010 > /dev/null &
  echo "DOMU-NET-LISTENING reattach"
  i=0; while [ -e /sys/class/net/eth0 ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done
  [ -e /sys/class/net/eth0 ] && { echo "DOMU: eth0 never went"; exit 1; }
  echo "DOMU-NET-DETACHED"
  i=0; dev=
  while [ -z "$dev" ] && [ $i -lt 1200 ]; do
    dev=$(ls /sys/class/net | grep '^eth' | head -1); sleep 0.1; i=$((i+1))
  done
  [ -n "$dev" ] || { echo "DOMU: no interface came back"; exit 1; }
  ip link set dev "$dev" up
  ip addr add "$addr/24" dev "$dev"
  ping -c 5 -W 3 10.0.0.1 > /tmp/ping 2>&1 || true
  echo "DOMU-NET-REATTACHED dev=$dev replies=$(grep -c 'bytes from' /tmp/ping)"
  round again 4 5012 5011
  exit 0
fi
if grep -q 'rignet=steady' /proc/cmdline; then
  ping -i 0.5 10.0.0.1 > /tmp/bgping 2>&1 &
  PING=$!
  round steady 32 5006 5005
  round after 4 5008 5007
  kill $PING 2>/dev/null || true
  sleep 1
  last=$(sed -n 's/.*seq=\([0-9]*\).*/\1/p' /tmp/bgping | tail -1)
  echo "DOMU-NET-BGPING sent=$(( ${last:-0} + 1 )) replies=$(grep -c 'bytes from' /tmp/bgping)"
  exit 0
fi
if grep -q 'rignet=quick' /proc/cmdline; then
  round quick 4 5006 5005
  exit 0
fi
if grep -q 'rignet=big' /proc/cmdline; then
  # 256 MiB each way at once: both files in a tmpfs of their own (the root's is half of RAM).
  mkdir -p /big && mount -t tmpfs -o size=600m tmpfs /big
  RDIR=/big
  round big 256 5006 5005
  exit 0
fi
round on 32 5002 5001
ethtool -K eth0 tx off sg off tso off gso off rx off 2>&1 | sed 's/^/DOMU: ethtool: /'
round off 8 5004 5003
grep -H . /sys/class/net/eth0/statistics/rx_packets /sys/class/net/eth0/statistics/tx_packets /sys/class/net/eth0/statistics/rx_errors 2>/dev/null | sed 's/^/DOMU: /'
