#!/bin/sh
# dom0's /init on the reference rig: mount, bring up the Xen toolstack, run the scenario, report.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:/usr/lib/xen-4.17/bin:/rig/bin
up() { cut -d' ' -f1 /proc/uptime; }
# isa-debug-exit at port 0xf4: QEMU exits with (value << 1) | 1.
verdict() { printf "\\$(printf %o "$1")" | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null; }
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm; mount -t devpts devpts /dev/pts; mount -t tmpfs tmp /tmp
# The hotplug scripts' locking.sh stats /dev/stdin: devtmpfs has no such links.
ln -s /proc/self/fd /dev/fd; ln -s fd/0 /dev/stdin; ln -s fd/1 /dev/stdout; ln -s fd/2 /dev/stderr
echo "DOM0-INIT-START uptime=$(up)"
for m in $(cat /rig/modules); do modprobe "$m" || echo "DOM0: modprobe $m failed"; done
mkdir -p /proc/xen && mount -t xenfs xenfs /proc/xen
mkdir -p /run/xen /run/xenstored /var/lib/xen /var/lib/xenstored /var/log/xen /var/lock /run/xen-hotplug
export XENSTORED_ROOTDIR=/var/lib/xenstored
if [ "$(cat /rig/xenstored)" = ferrite ]; then
  # Ferrite's xenstored, the only one: it never forks; its log goes to /tmp/xenstored.log.
  /rig/bin/xenstored --pid-file /run/xen/xenstored.pid > /tmp/xenstored.log 2>&1 &
  echo "DOM0: Ferrite's xenstored started"
else
  xenstored --pid-file /run/xen/xenstored.pid
fi
i=0; while ! xenstore-read -s / >/dev/null 2>&1 && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
xen-init-dom0
xenconsoled --pid-file /run/xenconsoled.pid --log=guest --log-dir=/var/log/xen --timestamp=guest
xl info | grep -E '^(xen_version|nr_cpus|free_memory|xen_caps)'
echo "DOM0-READY uptime=$(up)"
if sh /rig/scenario.sh; then
  echo "RIG-PASS $(cat /rig/name) uptime=$(up)"
  sync; verdict 16
else
  echo "RIG-FAIL $(cat /rig/name) status=$? uptime=$(up)"
  sync; verdict 17
fi
# Only reached if the debug-exit device is missing.
poweroff -f
