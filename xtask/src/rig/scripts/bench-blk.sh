# Benchmark rig-blk: the same fio jobs in a PV domU against a RAM-backed image (dom0's tmpfs),
# served by Ferrite's blkback with its thread-pool engine, then with its io_uring engine, then
# by Linux's in-kernel xen-blkback (loaded only then, with the stock `block` hotplug script and
# a loop device), in the same boot.
. /rig/lib.sh
dd if=/dev/zero of=/tmp/bench.img bs=1M count=128 2>/dev/null
blkback --io pool > /tmp/blkback.log 2>&1 &
BB=$!
domu benchf fio "'format=raw, vdev=xvda, access=rw, script=ferrite-vbd, target=/tmp/bench.img'"
sed -i 's/^memory = .*/memory = 512/' /tmp/benchf.cfg
run_domu benchf 400
grep -a '^BENCH ' /tmp/benchf.cons | tr -d '\r' | prefix "RIG-BENCH pool "
kill $BB; wait $BB 2>/dev/null
sed 's/^/BLKBACK: /' /tmp/blkback.log | tail -8
blkback --io uring > /tmp/blkback.log 2>&1 &
BB=$!
domu benchu fio "'format=raw, vdev=xvda, access=rw, script=ferrite-vbd, target=/tmp/bench.img'"
sed -i 's/^memory = .*/memory = 512/' /tmp/benchu.cfg
run_domu benchu 400
grep -a '^BENCH ' /tmp/benchu.cons | tr -d '\r' | prefix "RIG-BENCH uring "
kill $BB; wait $BB 2>/dev/null
sed 's/^/BLKBACK: /' /tmp/blkback.log | tail -8
modprobe xen-blkback || fail "modprobe xen-blkback"
domu benchk fio "'format=raw, vdev=xvda, access=rw, target=/tmp/bench.img'"
sed -i 's/^memory = .*/memory = 512/' /tmp/benchk.cfg
run_domu benchk 400
grep -a '^BENCH ' /tmp/benchk.cons | tr -d '\r' | prefix "RIG-BENCH linux "
