#!/bin/sh
# The PV domU's /init on the reference rig: load the frontends, run /test.sh, power off.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev; mount -t tmpfs tmp /tmp
echo "DOMU-INIT-START uptime=$(cut -d' ' -f1 /proc/uptime) cmdline=$(cat /proc/cmdline)"
# Frontend module parameters come from the kernel command line (blkfront.x=y): modprobe reads them.
for m in $(cat /modules); do modprobe "$m" || echo "DOMU: modprobe $m failed"; done
if sh /test.sh; then echo "DOMU-PASS"; else echo "DOMU-FAIL status=$?"; fi
echo "DOMU-DONE uptime=$(cut -d' ' -f1 /proc/uptime)"
sync
poweroff -f
