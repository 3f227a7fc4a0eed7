#!/bin/sh
# The PV domU's /init on the reference rig: load the frontend (with the module parameters the
# domU's command line names in rigmod=a=1,b=2), run /tests/<rigtest>.sh, power off — or, with
# rigconsole, stay up answering each line typed on its console (DOMU-CONSOLE-GOT) until the
# toolstack asks it to power off or reboot (control/shutdown: the kernel's orderly_poweroff runs
# /sbin/poweroff, which signals this init).
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev; mount -t tmpfs tmp /tmp
test=none; modargs=; blkfront=1; console=0
for w in $(cat /proc/cmdline); do
  case "$w" in
    rigtest=*) test=${w#rigtest=} ;;
    rigmod=*) modargs=$(echo "${w#rigmod=}" | tr ',' ' ') ;;
    rignoblk) blkfront=0 ;;
    rigconsole) console=1 ;;
  esac
done
echo "DOMU-INIT-START test=$test uptime=$(cut -d' ' -f1 /proc/uptime)"
[ $blkfront = 1 ] && { modprobe xen-blkfront $modargs || echo "DOMU: modprobe xen-blkfront failed"; }
modprobe ext4 || echo "DOMU: modprobe ext4 failed"
i=0; while [ $blkfront = 1 ] && [ ! -b /dev/xvda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
if [ -f "/tests/$test.sh" ] && sh "/tests/$test.sh"; then echo "DOMU-PASS"; else echo "DOMU-FAIL test=$test"; fi
echo "DOMU-DONE uptime=$(cut -d' ' -f1 /proc/uptime)"
sync
if [ $console = 1 ]; then
  # busybox poweroff/reboot without -f signal PID 1: USR2 and TERM. A trap runs once `wait`
  # returns, so the console reader runs in the background.
  trap 'echo "DOMU-POWEROFF-REQUESTED"; sync; poweroff -f' USR2
  trap 'echo "DOMU-REBOOT-REQUESTED"; sync; reboot -f' TERM
  ( while read -r l; do echo "DOMU-CONSOLE-GOT $l"; done ) < /dev/hvc0 &
  echo "DOMU-CONSOLE-READY"
  while :; do sleep 1 & wait $!; done
fi
poweroff -f
