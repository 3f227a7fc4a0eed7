# domU test: no blkfront; blkfront-hostile drives the hot-plugged xvdc (devid 51744) by hand.
modprobe xen-gntalloc && modprobe xen-evtchn || exit 1
i=0; while [ ! -c /dev/xen/gntalloc ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
echo "DOMU-HOSTILE-WAITING"
blkfront-hostile 51744
