# Scenario net: Debian's Linux as a PV domU with eth0 on Ferrite's netback (xl writes the vif
# nodes; the no-op hotplug script ferrite-vif leaves the device to netback, which creates the
# TAP vif<domid>.0 and adds it to xenbr0): the guest pings dom0, then data goes each way at
# once over TCP (busybox nc), checksums compared: 32 MiB with netfront's offloads on, 8 MiB
# with them off (`ethtool -K`); netback's log shows the handshake to Connected and the
# teardown, and the TAP is gone with the domain. This first guest has 2 vCPUs and netback
# offers 2 queues (`--max-queues 2`): netfront uses both, each with its rings, event channels,
# TAP queue and thread.
. /rig/lib.sh
net_up --max-queues 2
CONS=/tmp/net1.cons
listen 5001 on
listen 5003 off
net_domu net1 "rignoblk" "bridge=xenbr0,script=ferrite-vif,mac=00:16:3e:00:00:01"
sed -i 's/^vcpus = .*/vcpus = 2/' /tmp/net1.cfg
start_domu net1
id=$(xl domid net1)
# (lib.sh's waitgone sets `id` too.)
id1=$id
tap="vif$id.0"
waitfor /tmp/netback.log 'connected, 2 queues' 120
log "netback: $(grep -a 'connected, 2 queues' /tmp/netback.log | tail -1)"
[ "$(xenstore-read "/local/domain/0/backend/vif/$id/0/multi-queue-max-queues")" = 2 ] || fail "multi-queue-max-queues is not 2"
[ "$(xenstore-read "/local/domain/$id/device/vif/0/multi-queue-num-queues")" = 2 ] || fail "netfront does not use 2 queues"
xenstore-ls "/local/domain/$id/device/vif/0/queue-1" > /dev/null 2>&1 || fail "no queue-1 keys"
[ "$(ls /sys/class/net/$tap/queues 2>/dev/null | grep -c '^tx-')" -ge 2 ] || fail "$tap has fewer than 2 TAP queues"
ip link show "$tap" > /tmp/tap.show 2>&1 || fail "no TAP $tap"
log "$tap: $(head -1 /tmp/tap.show)"
brctl show xenbr0 2>/dev/null | prefix "RIG: "
brctl show xenbr0 2>/dev/null | grep -q "$tap" || ip link show "$tap" | grep -q 'master xenbr0' || fail "$tap is not in xenbr0"
xenstore-ls "/local/domain/0/backend/vif/$id/0" 2>/dev/null | prefix "RIG: backend: "
waitfor "$CONS" 'DOMU-NET-PING' 240
tr -d '\r' < "$CONS" > /tmp/cons.txt
replies=$(sed -n 's/.*DOMU-NET-PING replies=\([0-9]*\).*/\1/p' /tmp/cons.txt | tail -1)
log "ping replies: ${replies:-none}"
[ "${replies:-0}" -ge 3 ] || fail "fewer than 3 ping replies"
round on 32 5001 5002
round off 8 5003 5004
finish_domu net1 300
# Teardown: the device released, its TAP gone, netback alive.
waitfor /tmp/netback.log ': released' 60
waitfor /tmp/netback.log "TAP $tap removed" 30
if ip link show "$tap" > /dev/null 2>&1; then fail "TAP $tap still exists"; fi
log "$tap gone"
kill -0 $NB || fail "netback died"
grep -a 'TX .* packets' /tmp/netback.log | tail -3 | prefix "RIG: counters: "
grep -a -q "vif/$id1/0/queue-1: TX" /tmp/netback.log || fail "no counters of queue 1"
maps=$(grep -c gntdev "/proc/$NB/maps" 2>/dev/null)
taps=$(ls -l "/proc/$NB/fd" 2>/dev/null | grep -c 'net/tun')
log "netback holds $maps gntdev mapping(s) and $taps TAP descriptor(s)"
[ "$maps" = 0 ] && [ "$taps" = 0 ] || fail "netback leaks: $maps gntdev maps, $taps TAP fds"
# Frontends on one event channel for both rings: netback restarted without offering split
# event channels; a second guest pings dom0 and a third guest, and moves 4 MiB each way, its
# sending limited by `rate=4Mb/s@20ms` (xl writes `rate` = 10000,20000: 10 kB per 20 ms):
# what it sends must come at no more than 500 kB/s (15 % allowed for the sampling), what it
# receives is not limited.
kill $NB; wait $NB 2>/dev/null
log "netback restarted with --no-split-event-channels"
netback --no-split-event-channels >> /tmp/netback.log 2>&1 &
NB=$!
# A third guest (10.0.0.3) comes first and only listens; it is destroyed mid-transfer below.
CONS=/tmp/net3.cons
net_domu net3 "rignoblk rignet=sink rigip=10.0.0.3" "bridge=xenbr0,script=ferrite-vif,mac=00:16:3e:00:00:03"
start_domu net3
id3=$(xl domid net3)
waitfor "$CONS" 'DOMU-NET-LISTENING sink' 240
# The second guest also pings the third: domU to domU through netback on both sides.
CONS=/tmp/net2.cons
listen 5005 quick
net_domu net2 "rignoblk rignet=quick rigpeer=10.0.0.3" "bridge=xenbr0,script=ferrite-vif,mac=00:16:3e:00:00:02,rate=4Mb/s@20ms"
start_domu net2
id2=$(xl domid net2)
waitfor /tmp/netback.log "vif/$id2/0: connected, 1 queue, 1 event channel" 120
log "netback: $(grep -a "vif/$id2/0: connected, 1 queue, 1 event channel" /tmp/netback.log | tail -1)"
if xenstore-read "/local/domain/$id2/device/vif/0/event-channel-tx" > /dev/null 2>&1; then fail "net2 uses split event channels"; fi
grep -a "vif/$id2/0: connected.*TX rate limit 10000,20000 " /tmp/netback.log > /dev/null || fail "netback did not take net2's rate limit"
waitfor "$CONS" 'DOMU-NET-PING' 240
replies=$(tr -d '\r' < "$CONS" | sed -n 's/.*DOMU-NET-PING replies=\([0-9]*\).*/\1/p' | tail -1)
log "net2 ping replies: ${replies:-none}"
[ "${replies:-0}" -ge 3 ] || fail "net2: fewer than 3 ping replies"
waitfor "$CONS" 'DOMU-NET-PEER-PING' 120
replies=$(tr -d '\r' < "$CONS" | sed -n 's/.*DOMU-NET-PEER-PING replies=\([0-9]*\).*/\1/p' | tail -1)
log "net2 -> net3 ping replies: ${replies:-none}"
[ "${replies:-0}" -ge 3 ] || fail "net2: fewer than 3 ping replies from net3"
round quick 4 5005 5006
[ "$ROUND_KBS" -le 575 ] || fail "net2 sent at $ROUND_KBS kB/s, over its 500 kB/s limit"
finish_domu net2 300
waitfor /tmp/netback.log "TAP vif$id2.0 removed" 60
if ip link show "vif$id2.0" > /dev/null 2>&1; then fail "TAP vif$id2.0 still exists"; fi
kill -0 $NB || fail "netback died"
# Domain death mid-transfer: the third guest is destroyed while dom0 streams to it; the vif is
# released, its TAP gone, netback alive and holding nothing.
CONS=/tmp/net3.cons
# An endless stream, so the guest is always mid-transfer when it dies.
( dd if=/dev/zero bs=64k 2>/dev/null | timeout 120 nc 10.0.0.3 5006 > /dev/null ) &
DS=$!
sleep 6
log "xl destroy net3 mid-transfer"
xl destroy net3 || fail "xl destroy net3"
waitgone net3 60 || fail "net3 still there"
waitfor /tmp/netback.log "TAP vif$id3.0 removed" 60
if ip link show "vif$id3.0" > /dev/null 2>&1; then fail "TAP vif$id3.0 still exists"; fi
kill $DS 2>/dev/null
kill -0 $NB || fail "netback died"
grep -a "vif/$id3/0: TX .* packets" /tmp/netback.log | tail -1 | prefix "RIG: net3 counters: "
maps=$(grep -c gntdev "/proc/$NB/maps" 2>/dev/null)
taps=$(ls -l "/proc/$NB/fd" 2>/dev/null | grep -c 'net/tun')
log "after the destroy netback holds $maps gntdev mapping(s) and $taps TAP descriptor(s)"
[ "$maps" = 0 ] && [ "$taps" = 0 ] || fail "netback leaks after a destroy: $maps gntdev maps, $taps TAP fds"
sed 's/^/NETBACK: /' /tmp/netback.log | tail -40
