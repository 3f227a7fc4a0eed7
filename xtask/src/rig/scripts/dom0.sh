# Scenario dom0: the toolstack is up and Ferrite's binaries run.
. /rig/lib.sh
xl list | grep -q Domain-0 || fail "xl list has no Domain-0"
[ -c /dev/xen/gntdev ] && [ -c /dev/xen/evtchn ] && [ -c /dev/xen/xenbus ] || fail "missing /dev/xen devices: $(ls /dev/xen)"
log "devices: $(ls /dev/xen | tr '\n' ' ')"
