# domU test: no netfront; netfront-hostile drives the vif (devid 0) by hand.
modprobe xen-gntalloc && modprobe xen-evtchn || exit 1
i=0; while [ ! -c /dev/xen/gntalloc ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
echo "DOMU-NETHOSTILE-START"
netfront-hostile 0
