# Scenario xenstored-hostile: Ferrite's xenstored (dom0's only one) against a hostile domU on its
# ring (xenstore-hostile: every quota pushed past, other domains' nodes, dropped transactions
# and watches, then a request flood), while a second domU's disk handshake with blkback goes
# through xenstore and completes within a bound; the daemon's memory stays bounded.
. /rig/lib.sh
XS=$(cat /run/xen/xenstored.pid)
rss() { awk '/VmRSS/{print $2}' "/proc/$XS/status"; }
r0=$(rss)
dd if=/dev/zero of=/tmp/disk.img bs=1M count=32 2>/dev/null
blkback > /tmp/blkback.log 2>&1 &
BB=$!
domu xsh xshostile "" rignoblk
start_domu xsh
h=$(xl domid xsh)
end=$(( $(cut -d. -f1 /proc/uptime) + 240 ))
until grep -a -q 'XSH-FLOOD-START' /tmp/xsh.cons; do
  if [ "$(cut -d. -f1 /proc/uptime)" -gt $end ] || grep -a -q 'DOMU-FAIL' /tmp/xsh.cons; then
    xenstore-control quota "$h" | prefix "RIG: quota: "
    fail "the hostile domU did not reach its flood"
  fi
  sleep 1
done
oks=$(grep -a -c 'XSH-OK' /tmp/xsh.cons)
log "hostile domain $h: $oks checks passed, flooding; xenstored RSS ${r0} -> $(rss) kB"
[ "$oks" -ge 10 ] || fail "hostile domU: $oks checks, want 10"
t0=$(cut -d. -f1 /proc/uptime)
domu good pattern "'format=raw, vdev=xvda, access=rw, script=ferrite-vbd, target=/tmp/disk.img'"
start_domu good
waitfor /tmp/blkback.log 'connected' 240
t1=$(cut -d. -f1 /proc/uptime)
log "during the flood: xl create of good -> blkback connected in $((t1 - t0)) s (bound 150 s)"
[ $((t1 - t0)) -le 150 ] || fail "the good domU's handshake took $((t1 - t0)) s"
finish_domu good 300
grep -a -q 'XSH-FLOOD-DONE' /tmp/xsh.cons && fail "the flood ended before the good domU finished"
r1=$(rss)
xenstore-write "/local/domain/$h/data/stop" 1 || fail "writing the stop flag"
finish_domu xsh 120
grep -a 'XSH-FLOOD-DONE' /tmp/xsh.cons | tail -1
r2=$(rss)
log "xenstored RSS: ${r0} kB at start, ${r1} kB after the flood, ${r2} kB after both domUs"
[ $((r1 - r0)) -le 16384 ] || fail "xenstored grew by $((r1 - r0)) kB under the flood"
if xenstore-read "/local/domain/$h/name" >/dev/null 2>&1; then fail "domain $h's directory outlived it"; fi
kill -0 "$XS" || fail "xenstored died"
kill -0 $BB || fail "blkback died"
grep -a 'XSH-OK' /tmp/xsh.cons | tr -d '\r' | sed 's/^/RIG: /'
