# Scenario blk: Debian's Linux as a PV domU with xvda served by Ferrite's blkback from a raw
# image (xl writes the vbd nodes; the no-op hotplug script leaves the device to blkback):
# pattern, ext4 and the image's checksum; and xl's verbs on the running guest: `xl list` shows
# it, a line typed through `xl console` reaches its shell and its answer comes back, `xl pause`
# stops it (shown as `p`; a line typed meanwhile is answered only after `xl unpause`), and
# `xl shutdown -w` powers it off through its kernel (control/shutdown).
. /rig/lib.sh
dd if=/dev/zero of=/tmp/disk.img bs=1M count=32 2>/dev/null
blkback > /tmp/blkback.log 2>&1 &
BB=$!
domu blk1 pattern "'format=raw, vdev=xvda, access=rw, script=ferrite-vbd, target=/tmp/disk.img'" rigconsole
start_domu_tty blk1
# privcmd foreign mapping (dom0-sys): console-peek maps the guest's console ring frame
# (console/ring-ref) read-only and prints what is still in it; its last complete line must be
# one xenconsoled delivered. A frame beyond RAM and a domain that does not exist are refused.
waitfor /tmp/blk1.cons 'DOMU-INIT-START' 120
id=$(xl domid blk1)
console-peek "$id" > /tmp/blk1.peek || fail "console-peek $id failed"
# Complete lines only: the echo ends a last partial line (then dropped with it) or adds an empty
# one; a full ring (2048 bytes) may begin mid-line, so its first line goes too.
first=1; [ "$(wc -c < /tmp/blk1.peek)" -ge 2048 ] && first=2
peeked=$( { tr -d '\r' < /tmp/blk1.peek; echo; } | sed '$d' | tail -n +$first | grep -a 'DOMU' | tail -1)
log "console-peek $id: $(wc -c < /tmp/blk1.peek) bytes, last line '$peeked'"
[ -n "$peeked" ] || fail "console-peek: no DOMU line in the guest's console ring"
if console-peek "$id" --frame 0x7fffffff > /dev/null 2> /tmp/peek.err; then fail "console-peek mapped a frame beyond RAM"; fi
log "frame beyond RAM: $(tr "\n" " " < /tmp/peek.err)"
# Xen's answers: a frame beyond RAM would be I/O memory the domain may not map (EPERM); a
# domain that does not exist is ESRCH. Both come back per frame.
grep -q '#0: Operation not permitted' /tmp/peek.err || fail "console-peek: a frame beyond RAM is not EPERM"
if console-peek 31000 --frame 1 > /dev/null 2> /tmp/peek.err; then fail "console-peek mapped a frame of a domain that does not exist"; fi
log "no such domain: $(tr "\n" " " < /tmp/peek.err)"
grep -q '#0: No such process' /tmp/peek.err || fail "console-peek: a missing domain is not ESRCH"
waitfor /tmp/blk1.cons 'DOMU-CONSOLE-READY' 300
row=$(xl list blk1 | tail -1)
log "xl list: $row"
echo "$row" | awk -v id="$id" '$1 == "blk1" && $2 == id && $3 >= 150 && $3 <= 160 && $4 == 1 && $5 !~ /p/ { ok = 1 } END { exit !ok }' \
  || fail "xl list shows '$row' for blk1 (domain $id, 160 MiB, 1 vCPU, running)"
echo "hello-from-dom0" > /tmp/blk1.in
waitfor /tmp/blk1.cons 'DOMU-CONSOLE-GOT hello-from-dom0' 60
log "xl console: the guest answered a typed line"
xl pause blk1 || fail "xl pause blk1"
state=$(xl list blk1 | tail -1 | awk '{print $5}')
log "xl pause: state $state"
case "$state" in *p*) ;; *) fail "xl list shows blk1 as '$state' after xl pause" ;; esac
echo "typed-while-paused" > /tmp/blk1.in
sleep 3
if grep -a -q 'DOMU-CONSOLE-GOT typed-while-paused' /tmp/blk1.cons; then fail "blk1 answered while paused"; fi
xl unpause blk1 || fail "xl unpause blk1"
waitfor /tmp/blk1.cons 'DOMU-CONSOLE-GOT typed-while-paused' 60
state=$(xl list blk1 | tail -1 | awk '{print $5}')
case "$state" in *p*) fail "xl list still shows blk1 paused ('$state')" ;; esac
log "xl unpause: the line typed while paused was answered; state $state"
timeout 120 xl shutdown -w blk1 || fail "xl shutdown -w blk1"
log "xl shutdown -w returned"
waitfor /tmp/blk1.cons 'DOMU-POWEROFF-REQUESTED' 10
finish_domu blk1 60
tr -d '\r' < /tmp/blk1.cons | grep -a -q -F -x -- "$peeked" || fail "console-peek's line '$peeked' is not in the guest's console"
blk_verify blk1 /tmp/disk.img $BB
sed 's/^/BLKBACK: /' /tmp/blkback.log | tail -20
