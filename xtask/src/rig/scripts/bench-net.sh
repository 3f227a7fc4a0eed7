# Benchmark rig-net: iperf3 between a PV domU and dom0 over xenbr0 (TCP with 1 and 4 streams
# and UDP with 64-byte datagrams, each direction) and ping RTT, with the domU's vif served by
# Ferrite's netback, then by Linux's in-kernel xen-netback (loaded only then, with the stock
# vif-bridge hotplug script), then by netback again, in the same boot (run order A B A, so the
# two netback runs show the noise), after a warm-up run on netback that is not counted.
. /rig/lib.sh
brctl addbr xenbr0 2>/dev/null || ip link add name xenbr0 type bridge || fail "no bridge"
ip addr add 10.0.0.1/24 dev xenbr0 || fail "address on xenbr0"
ip link set dev xenbr0 up || fail "xenbr0 up"
iperf3 -s -D --logfile /tmp/iperf3.log || fail "iperf3 server"
# bench NAME TAG SCRIPT: one guest running the iperf test, its figures tagged TAG.
bench() {
  domu "$1" iperf "" "rignoblk"
  sed -i 's/^memory = .*/memory = 256/' "/tmp/$1.cfg"
  echo "vif = [ 'bridge=xenbr0,$3mac=00:16:3e:00:00:01' ]" >> "/tmp/$1.cfg"
  run_domu "$1" 600
  grep -a '^BENCH ' "/tmp/$1.cons" | tr -d '\r' | prefix "RIG-BENCH $2 "
}
netback > /tmp/netback.log 2>&1 &
NB=$!
# A warm-up guest first, not counted: the first guest after boot ran up to 7x slower than
# later ones on either backend's paths (dom0's and QEMU's code on its first use, perhaps).
bench benchw warm 'script=ferrite-vif,'
bench benchn ours 'script=ferrite-vif,'
kill $NB; wait $NB 2>/dev/null
sed 's/^/NETBACK: /' /tmp/netback.log | grep -a 'TX .* packets'
modprobe xen-netback || fail "modprobe xen-netback"
bench benchk linux ''
rmmod xen-netback || fail "rmmod xen-netback"
netback > /tmp/netback.log 2>&1 &
NB=$!
bench benchn2 ours2 'script=ferrite-vif,'
kill $NB; wait $NB 2>/dev/null
sed 's/^/NETBACK: /' /tmp/netback.log | grep -a 'TX .* packets'
