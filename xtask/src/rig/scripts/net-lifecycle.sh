# Scenario net-lifecycle: the vif of a running Debian domU is detached (`xl network-detach`)
# while dom0 streams to it, and attached again (`xl network-attach`): netback closes and
# releases the device (its TAP gone, no gntdev mapping or TAP descriptor left), the stream to
# the guest fails cleanly, and the re-attached vif gets a new TAP, connects, answers pings and
# moves 4 MiB each way with checksums compared.
. /rig/lib.sh
net_up
SPEC='bridge=xenbr0,script=ferrite-vif,mac=00:16:3e:00:00:01'
CONS=/tmp/netl.cons
listen 5011 again
net_domu netl "rignoblk rignet=reattach" "$SPEC"
start_domu netl
id=$(xl domid netl)
waitfor /tmp/netback.log "vif/$id/0: connected" 120
waitfor "$CONS" 'DOMU-NET-LISTENING reattach' 240
# An endless stream to the guest, so the vif goes mid-transfer.
( dd if=/dev/zero bs=64k 2>/dev/null | timeout 40 nc 10.0.0.2 5010 > /dev/null; echo "$?" > /tmp/stream.rc ) &
sleep 6
log "xl network-detach netl 0 mid-transfer"
xl network-detach netl 0 || fail "network-detach"
waitfor /tmp/netback.log "vif/$id/0: released" 60
waitfor /tmp/netback.log "TAP vif$id.0 removed" 30
if ip link show "vif$id.0" > /dev/null 2>&1; then fail "TAP vif$id.0 still exists"; fi
waitfor "$CONS" 'DOMU-NET-DETACHED' 60
grep -a "vif/$id/0: TX .* packets" /tmp/netback.log | tail -1 | prefix "RIG: before the detach: "
maps=$(grep -c gntdev "/proc/$NB/maps" 2>/dev/null)
taps=$(ls -l "/proc/$NB/fd" 2>/dev/null | grep -c 'net/tun')
log "after the detach netback holds $maps gntdev mapping(s) and $taps TAP descriptor(s)"
[ "$maps" = 0 ] && [ "$taps" = 0 ] || fail "netback leaks after a detach: $maps gntdev maps, $taps TAP fds"
# The stream cannot go on: nc ends (error or timeout) without hanging dom0.
end=$(( $(cut -d. -f1 /proc/uptime) + 120 ))
while [ ! -f /tmp/stream.rc ]; do
  [ "$(cut -d. -f1 /proc/uptime)" -gt $end ] && fail "the stream to the detached vif never ended"
  sleep 1
done
log "the stream to the detached vif ended (nc status $(cat /tmp/stream.rc))"
log "xl network-attach netl"
# network-attach takes the spec's keys as separate words, not one comma-separated string.
xl network-attach netl $(echo "$SPEC" | tr ',' ' ') || fail "network-attach"
# The first connection's line is already in the log: wait for the second one itself.
end=$(( $(cut -d. -f1 /proc/uptime) + 120 ))
until [ "$(grep -a -c "vif/$id/[0-9]*: connected" /tmp/netback.log)" -ge 2 ]; do
  [ "$(cut -d. -f1 /proc/uptime)" -gt $end ] && fail "the vif did not connect a second time"
  sleep 0.5
done
log "netback: $(grep -a "vif/$id/[0-9]*: connected" /tmp/netback.log | tail -1)"
waitfor "$CONS" 'DOMU-NET-REATTACHED' 120
tr -d '\r' < "$CONS" | sed -n 's/.*\(DOMU-NET-REATTACHED.*\)/\1/p' | tail -1 | prefix "RIG: "
replies=$(tr -d '\r' < "$CONS" | sed -n 's/.*DOMU-NET-REATTACHED.* replies=\([0-9]*\).*/\1/p' | tail -1)
[ "${replies:-0}" -ge 3 ] || fail "fewer than 3 ping replies after the re-attach"
round again 4 5011 5012
finish_domu netl 300
kill -0 $NB || fail "netback died"
maps=$(grep -c gntdev "/proc/$NB/maps" 2>/dev/null)
taps=$(ls -l "/proc/$NB/fd" 2>/dev/null | grep -c 'net/tun')
log "at the end netback holds $maps gntdev mapping(s) and $taps TAP descriptor(s)"
[ "$maps" = 0 ] && [ "$taps" = 0 ] || fail "netback leaks: $maps gntdev maps, $taps TAP fds"
grep -a "vif/$id/" /tmp/netback.log | sed 's/^/NETBACK: /' | tail -30
