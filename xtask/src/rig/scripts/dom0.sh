# Scenario dom0: the toolstack is up and Ferrite's binaries run.
. /rig/lib.sh
xl list | grep -q Domain-0 || fail "xl list has no Domain-0"
[ -c /dev/xen/gntdev ] && [ -c /dev/xen/evtchn ] && [ -c /dev/xen/xenbus ] || fail "missing /dev/xen devices: $(ls /dev/xen)"
log "devices: $(ls /dev/xen | tr '\n' ' ')"
# blkback connects to xenstore, watches its backend directory and asks Xen its version
# (privcmd), then idles until killed.
blkback > /tmp/blkback.log 2>&1 &
BB=$!
sleep 2
kill -0 $BB || fail "blkback exited"
kill $BB
prefix "RIG: " < /tmp/blkback.log
grep -q "on Xen 4.17, serving /local/domain/0/backend/vbd" /tmp/blkback.log || fail "blkback did not start"
