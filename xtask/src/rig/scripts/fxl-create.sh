# Scenario fxl-create: `fxl create` builds Debian's Linux as a PV domU (fxl's own domain builder,
# no libxl) with xvda on Ferrite's blkback; the guest reaches /init, passes the blk pattern test
# (the same checks as scenario blk, lib.sh blk_verify), shows in `fxl list` and `xl list`, powers
# off, and `fxl destroy` removes it as `xl list` and xenstore see. Then the same guest by
# `xl create` in this boot, and create -> /init of both compared (FXL-CREATE-RATIO).
. /rig/lib.sh
dd if=/dev/zero of=/tmp/disk.img bs=1M count=32 2>/dev/null
blkback > /tmp/blkback.log 2>&1 &
BB=$!
domu f1 pattern "'format=raw, vdev=xvda, access=rw, script=ferrite-vbd, target=/tmp/disk.img'"

# A kernel that is not one creates nothing and says why.
echo junk > /tmp/junk.img
fxl create -q /tmp/f1.cfg kernel='"/tmp/junk.img"' 2> /tmp/err && fail "fxl create of a junk kernel succeeded"
log "junk kernel: $(cat /tmp/err)"
[ "$(xl list | wc -l)" = 2 ] || fail "a domain was left after a failed create: $(xl list | tr '\n' ';')"

# A failure after createdomain: more memory than Xen has. The half-built domain is destroyed and
# the message names the step.
fxl create -q /tmp/f1.cfg memory=3000 2> /tmp/err && fail "fxl create of a 3000 MiB domain succeeded"
log "3000 MiB: $(cat /tmp/err)"
grep -q 'populate_physmap' /tmp/err && grep -q 'it was destroyed' /tmp/err || fail "fxl create 3000 MiB: wrong message: $(cat /tmp/err)"
end=$(( $(cut -d. -f1 /proc/uptime) + 60 ))
until [ "$(xl list | wc -l)" = 2 ]; do
  [ "$(cut -d. -f1 /proc/uptime)" -gt $end ] && fail "the half-built domain stayed: $(xl list | tr '\n' ';')"; sleep 0.5
done
[ -z "$(xenstore-ls /local/domain 2>/dev/null | grep -v '^0 ' | grep '^[0-9]')" ] || fail "xenstore kept a directory of the half-built domain: $(xenstore-list /local/domain | tr '\n' ' ')"

log "fxl create f1"
t0=$(up)
fxl create -v -p -e /tmp/f1.cfg 2> /tmp/fxl.err || { cat /tmp/fxl.err; fail "fxl create f1: $(cat /tmp/fxl.err)"; }
t1=$(up)
prefix "RIG: fxl create: " < /tmp/fxl.err
id=$(fxl domid f1) || fail "fxl domid f1"
log "f1 is domain $id (fxl create -p took $(awk "BEGIN { printf \"%.2f\", $t1 - $t0 }") s)"
xenstore-ls -p /local/domain/$id 2>&1 | head -60 | prefix "RIG: xs: "
( xl console f1 </dev/null 2>&1 | tee /tmp/f1.cons | prefix "[f1] " ) &
fxl unpause f1 || fail "fxl unpause f1"
until_line /tmp/f1.cons 'DOMU-INIT-START' 120
t2=$(up)
fxl_s=$(awk "BEGIN { printf \"%.2f\", $t2 - $t0 }")
log "FXL-CREATE-TIME fxl create -> /init: $fxl_s s"
fxl list > /tmp/fxl.list || fail "fxl list"
prefix "RIG: fxl list: " < /tmp/fxl.list
awk -v id="$id" '$1 == "f1" && $2 == id { f = 1 } END { exit !f }' /tmp/fxl.list || fail "fxl list does not show f1"
xl list > /tmp/xl.list; prefix "RIG: xl list: " < /tmp/xl.list
awk -v id="$id" '$1 == "f1" && $2 == id { f = 1 } END { exit !f }' /tmp/xl.list || fail "xl list does not show f1"
fxl block-list f1 | prefix "RIG: fxl block-list: "
# The pattern test, then the guest powers off (no monitor, `create -e`: it stays shut down).
waitfor /tmp/f1.cons 'DOMU-DONE' 300
grep -a -q 'DOMU-PASS' /tmp/f1.cons || fail "f1 did not pass"
end=$(( $(cut -d. -f1 /proc/uptime) + 60 ))
until fxl list --json f1 > /tmp/f1.json && grep -q '"shutdown": true' /tmp/f1.json; do
  [ "$(cut -d. -f1 /proc/uptime)" -gt $end ] && fail "f1 did not shut down: $(xl list | tr '\n' ';')"; sleep 0.5
done
log "f1 shut down: $(xl list f1 | tail -1)"
vm=$(xenstore-read /local/domain/$id/vm)
fxl destroy f1 2> /tmp/err || fail "fxl destroy f1: $(cat /tmp/err)"
end=$(( $(cut -d. -f1 /proc/uptime) + 60 ))
while xl list | awk -v id="$id" 'NR>1 && $2 == id { f = 1 } END { exit !f }'; do
  [ "$(cut -d. -f1 /proc/uptime)" -gt $end ] && fail "domain $id still in xl list: $(xl list | tr '\n' ';')"; sleep 1
done
for p in /local/domain/$id "$vm" /libxl/$id /local/domain/0/backend/console/$id /local/domain/0/backend/vbd/$id; do
  xenstore-read "$p" > /dev/null 2>&1 && fail "$p still in xenstore after fxl destroy"
done
xl list | prefix "RIG: after fxl destroy: "
blk_verify f1 /tmp/disk.img $BB

# The same guest by xl, in this boot: create -> /init.
dd if=/dev/zero of=/tmp/disk.img bs=1M count=32 2>/dev/null
sed 's/"f1"/"x1"/' /tmp/f1.cfg > /tmp/x1.cfg
log "xl create x1"
t0=$(up)
xl create -p /tmp/x1.cfg || fail "xl create x1"
log "xl create -p x1 took $(awk "BEGIN { printf \"%.2f\", $(up) - $t0 }") s"
( xl console x1 </dev/null 2>&1 | tee /tmp/x1.cons | prefix "[x1] " ) &
xl unpause x1
until_line /tmp/x1.cons 'DOMU-INIT-START' 120
t3=$(up)
xl_s=$(awk "BEGIN { printf \"%.2f\", $t3 - $t0 }")
log "XL-CREATE-TIME xl create -> /init: $xl_s s"
xl destroy x1
waitgone x1 60 || fail "x1 not gone after xl destroy"

# fxl again, now with the unpacked kernel in fxl's cache (/var/cache/fxl/kernels).
dd if=/dev/zero of=/tmp/disk.img bs=1M count=32 2>/dev/null
sed 's/"f1"/"f2"/' /tmp/f1.cfg > /tmp/f2.cfg
log "fxl create f2 (kernel cached: $(ls /var/cache/fxl/kernels 2>&1 | tr '\n' ' '))"
t0=$(up)
fxl create -v -p /tmp/f2.cfg 2> /tmp/fxl.err || fail "fxl create f2: $(cat /tmp/fxl.err)"
prefix "RIG: fxl create: " < /tmp/fxl.err
( xl console f2 </dev/null 2>&1 | tee /tmp/f2.cons | prefix "[f2] " ) &
fxl unpause f2 || fail "fxl unpause f2"
until_line /tmp/f2.cons 'DOMU-INIT-START' 120
t4=$(up)
warm_s=$(awk "BEGIN { printf \"%.2f\", $t4 - $t0 }")
log "FXL-CREATE-TIME (kernel cached) fxl create -> /init: $warm_s s"
fxl destroy f2 || fail "fxl destroy f2"
waitgone f2 60 || fail "f2 not gone after fxl destroy"

# And once more without the cache, now that this boot has run fxl's code (TCG translates code
# the first time it runs, which weighs on the first create of a boot): decompression included.
rm -rf /var/cache/fxl/kernels
dd if=/dev/zero of=/tmp/disk.img bs=1M count=32 2>/dev/null
sed 's/"f1"/"f3"/' /tmp/f1.cfg > /tmp/f3.cfg
log "fxl create f3 (no cache)"
t0=$(up)
fxl create -v -p /tmp/f3.cfg 2> /tmp/fxl.err || fail "fxl create f3: $(cat /tmp/fxl.err)"
prefix "RIG: fxl create: " < /tmp/fxl.err
( xl console f3 </dev/null 2>&1 | tee /tmp/f3.cons | prefix "[f3] " ) &
fxl unpause f3 || fail "fxl unpause f3"
until_line /tmp/f3.cons 'DOMU-INIT-START' 120
t5=$(up)
again_s=$(awk "BEGIN { printf \"%.2f\", $t5 - $t0 }")
log "FXL-CREATE-TIME (second uncached) fxl create -> /init: $again_s s"
fxl destroy f3 || fail "fxl destroy f3"
log "FXL-CREATE-RATIO fxl/xl create -> /init: first $fxl_s / $xl_s = $(awk "BEGIN { printf \"%.3f\", $fxl_s / $xl_s }"), kernel cached $warm_s / $xl_s = $(awk "BEGIN { printf \"%.3f\", $warm_s / $xl_s }"), second uncached $again_s / $xl_s = $(awk "BEGIN { printf \"%.3f\", $again_s / $xl_s }")"
