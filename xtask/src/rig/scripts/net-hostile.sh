# Scenario net-hostile: a Debian domU's netfront moves 32 MiB each way over TCP with
# checksums compared, and pings dom0 every half second throughout; while it does, a frontend of
# ours (netfront-hostile) in a second domU sends malformed TX requests and RX ring states to
# netback on its own vif. netback answers the packets Linux's netback drops with
# NETIF_RSP_ERROR, closes only the hostile vif on each request Linux treats as fatal (the
# hostile frontend reconnects each time), refuses to connect rings it cannot serve, stays up, and the good guest's transfers (one more
# after the hostile guest is gone) and pings go on.
. /rig/lib.sh
net_up
CONS=/tmp/netg.cons
listen 5005 steady
listen 5007 after
net_domu netg "rignoblk rignet=steady" "bridge=xenbr0,script=ferrite-vif,mac=00:16:3e:00:00:01"
start_domu netg
idg=$(xl domid netg)
waitfor /tmp/netback.log "vif/$idg/0: connected, 1 queue" 120
waitfor "$CONS" 'DOMU-NET-PING' 240
replies=$(tr -d '\r' < "$CONS" | sed -n 's/.*DOMU-NET-PING replies=\([0-9]*\).*/\1/p' | tail -1)
log "good guest ping replies: ${replies:-none}"
[ "${replies:-0}" -ge 3 ] || fail "good guest: fewer than 3 ping replies"
# The hostile guest: a vif on the same netback and bridge, no netfront.
domu netx nethostile "" "rignoblk"
echo "vif = [ 'bridge=xenbr0,script=ferrite-vif,mac=00:16:3e:00:00:09' ]" >> /tmp/netx.cfg
start_domu netx
idx=$(xl domid netx)
waitfor /tmp/netx.cons NETHOSTILE-WAITING 240
# The good guest's 32 MiB each way starts, and once its data flows the hostile one goes.
( round steady 32 5005 5006 ) > /tmp/round-steady.log 2>&1 &
RS=$!
end=$(( $(cut -d. -f1 /proc/uptime) + 300 ))
while [ "$(stat -c %s /tmp/from-domu-steady 2>/dev/null || echo 0)" -lt 1048576 ]; do
  [ "$(cut -d. -f1 /proc/uptime)" -gt $end ] && fail "no data from the good guest"
  sleep 0.5
done
log "good guest's data flows; the hostile frontend starts"
t0=$(up)
xenstore-write "/local/domain/$idx/data/go" 1 || fail "writing data/go"
finish_domu netx 400
grep -a -q NETHOSTILE-PASS /tmp/netx.cons || fail "the hostile frontend was not answered as expected"
log "hostile frontend done ($t0 to $(up) s); good guest has $(stat -c %s /tmp/from-domu-steady 2>/dev/null || echo 0) bytes sent so far"
closes=$(grep -a -c "vif/$idx/0: frontend broke the ring; closing" /tmp/netback.log)
log "netback closed the hostile vif $closes times on fatal requests"
[ "$closes" = 12 ] || fail "netback closed the hostile vif $closes times, not 12"
grep -a "vif/$idx/0: .*disabling the vif" /tmp/netback.log | prefix "RIG: "
refused=$(grep -a -c "vif/$idx/0: Connect failed" /tmp/netback.log)
log "netback refused $refused connections"
[ "$refused" = 8 ] || fail "netback refused $refused connections of the hostile frontend, not 8"
grep -a "vif/$idx/0: Connect failed" /tmp/netback.log | prefix "RIG: "
kill -0 $NB || fail "netback died"
wait $RS; st=$?
prefix "RIG: steady: " < /tmp/round-steady.log
[ $st = 0 ] || fail "the good guest's transfer during the hostile one failed"
waitfor /tmp/netback.log "TAP vif$idx.0 removed" 60
round after 4 5007 5008
finish_domu netg 300
bg=$(tr -d '\r' < "$CONS" | sed -n 's/.*DOMU-NET-BGPING \(.*\)/\1/p' | tail -1)
log "good guest's background ping: $bg"
sent=$(echo "$bg" | sed -n 's/sent=\([0-9]*\).*/\1/p')
got=$(echo "$bg" | sed -n 's/.*replies=\([0-9]*\).*/\1/p')
[ "${got:-0}" -ge 10 ] && [ $(( ${sent:-0} - ${got:-0} )) -le $(( ${sent:-0} / 10 )) ] || fail "good guest's pings lost: $bg"
kill -0 $NB || fail "netback died"
grep -a "vif/$idg/0: TX .* packets" /tmp/netback.log | tail -1 | prefix "RIG: good counters: "
maps=$(grep -c gntdev "/proc/$NB/maps" 2>/dev/null)
taps=$(ls -l "/proc/$NB/fd" 2>/dev/null | grep -c 'net/tun')
log "netback holds $maps gntdev mapping(s) and $taps TAP descriptor(s)"
[ "$maps" = 0 ] && [ "$taps" = 0 ] || fail "netback leaks: $maps gntdev maps, $taps TAP fds"
grep -a "vif/$idx/0" /tmp/netback.log | sed 's/^/NETBACK: /' | tail -60
