# Scenario fxl: Ferrite's toolstack CLI beside xl on one host. xl creates a Debian PV domU
# (domU test `spin`, one blkback disk it never connects); fxl's list, list --json, info, domid,
# domname, vcpu-list, uptime and block-list must show what xl shows, field by field; fxl's
# pause, unpause, rename, mem-max, mem-set, vcpu-pin, shutdown/reboot and destroy must act as
# xl, xenstore and blkback see; fxl dmesg holds Xen's banner; fxl create -n reads the config.
. /rig/lib.sh
bad=0
check() { # check WHAT: count a failure (the scenario fails at the end, after every check ran)
  bad=$((bad+1)); log "FXL-CHECK-FAIL: $*"
}

# One disk served by blkback, which the guest never connects (no xen-blkfront: `rignoblk`): it
# gives block-list a row and destroy a backend to close.
dd if=/dev/zero of=/tmp/g1.img bs=1M count=8 2>/dev/null
blkback > /tmp/blkback.log 2>&1 &
BB=$!
domu g1 spin "'format=raw, vdev=xvda, access=rw, script=ferrite-vbd, target=/tmp/g1.img'" rignoblk
# The dry run reads the same file xl will use.
fxl create -n /tmp/g1.cfg memory=160 > /tmp/g1.json || check "fxl create -n failed"
prefix "RIG: create -n: " < /tmp/g1.json | head -12
# fxl's plan of the layout, beside libxenguest's (XLVVV: lines below).
{ tr -d '\n' < /tmp/g1.json | sed 's/  */ /g; s/.*"layout": //; s/}, {/}\n{/g'; echo; } | prefix "FXLLAYOUT: "
grep -q '"name": "phys2mach"' /tmp/g1.json || check "fxl create -n: no layout"
grep -q '"name": "g1"' /tmp/g1.json && grep -q '"memory_mib": 160' /tmp/g1.json || check "fxl create -n: wrong configuration"
fxl create -n /tmp/g1.cfg memroy=1 2> /tmp/err && check "fxl create -n accepted memroy="
grep -q 'command line:1: unknown key "memroy" (did you mean "memory"?)' /tmp/err || check "fxl create -n: wrong error: $(cat /tmp/err)"

# libxenguest's layout of g1 (`xl -vvv`: xc_dom_alloc_segment and domainbuilder lines), for the
# host test of fxl's builder layout (dom0/fxl/tests/fixtures/xl-create-vvv.txt).
log "XLVVV: memory 160 MiB, kernel $(wc -c < /guest/vmlinuz) bytes, ramdisk $(wc -c < /guest/initrd.gz) bytes"
xl -vvv create -p /tmp/g1.cfg 2> /tmp/g1.vvv || { tail -n 40 /tmp/g1.vvv; fail "xl -vvv create g1"; }
grep -a -E 'domainbuilder|xc_dom' /tmp/g1.vvv | prefix "XLVVV: "
log "g1 created"
( xl console g1 </dev/null 2>&1 | tee /tmp/g1.cons | prefix "[g1] " ) &
xl unpause g1
waitfor /tmp/g1.cons DOMU-BUSY 180
id=$(xl domid g1)
log "g1 is domain $id"

# list: the header and every field but the time; r and b change from one instant to the next,
# so only p s c d are compared exactly.
xl list > /tmp/xl.list; fxl list > /tmp/fxl.list || check "fxl list failed"
prefix "RIG: xl:  " < /tmp/xl.list; prefix "RIG: fxl: " < /tmp/fxl.list
[ "$(head -1 /tmp/xl.list)" = "$(head -1 /tmp/fxl.list)" ] || check "list header differs"
fields() { awk 'NR>1 { print $1, $2, $3, $4, substr($5, 3, 4) }' "$1"; }
[ "$(fields /tmp/xl.list)" = "$(fields /tmp/fxl.list)" ] || check "list fields differ: xl '$(fields /tmp/xl.list | tr '\n' ';')' fxl '$(fields /tmp/fxl.list | tr '\n' ';')'"
awk 'NR>1 && $5 !~ /^[r-][b-][p-][s-][c-][d-]$/ { exit 1 }' /tmp/fxl.list || check "fxl list: bad state letters"
xl list g1 > /tmp/xl.one; fxl list g1 > /tmp/fxl.one || check "fxl list g1 failed"
[ "$(fields /tmp/xl.one)" = "$(fields /tmp/fxl.one)" ] || check "list g1 differs"
fxl list nosuch 2> /tmp/err && check "fxl list nosuch succeeded"

# list --json: one object per domain, with the same name, ID, memory and vCPUs.
fxl list --json > /tmp/fxl.json || check "fxl list --json failed"
n_json=$(grep -c '"domid":' /tmp/fxl.json); n_xl=$(($(wc -l < /tmp/xl.list) - 1))
[ "$n_json" = "$n_xl" ] || check "list --json has $n_json domains, xl list $n_xl"
tr -d ' \n' < /tmp/fxl.json > /tmp/fxl.json1
grep -q "^\[{\"name\":\"Domain-0\",\"domid\":0,.*},{\"name\":\"g1\",\"domid\":$id,\"uuid\":\"[0-9a-f-]*\",\"state\":\"[r-][b-]----\",.*}\]$" /tmp/fxl.json1 || check "list --json: unexpected shape: $(cat /tmp/fxl.json1)"
memkib=$(sed -n 's/.*"name":"g1".*"mem_kib":\([0-9]*\).*/\1/p' /tmp/fxl.json1)
[ "$((memkib / 1024))" = "$(awk '$1 == "g1" { print $3 }' /tmp/xl.list)" ] || check "list --json mem_kib $memkib"

# info: every field fxl prints equals xl's.
xl info > /tmp/xl.info; fxl info > /tmp/fxl.info || check "fxl info failed"
prefix "RIG: fxl info: " < /tmp/fxl.info
while IFS= read -r line; do
  key=${line%%:*}; key=$(echo $key)
  want=$(grep "^$key *:" /tmp/xl.info | head -1)
  [ -n "$want" ] || { check "xl info has no '$key'"; continue; }
  [ "$want" = "$line" ] || check "info '$key': xl '$want' fxl '$line'"
done < /tmp/fxl.info
for k in host nr_cpus cores_per_socket threads_per_core cpu_mhz total_memory free_memory xen_major xen_minor xen_extra xen_caps; do
  grep -q "^$k *:" /tmp/fxl.info || check "fxl info has no $k"
done

# domid, domname.
[ "$(fxl domid g1)" = "$id" ] || check "fxl domid g1: '$(fxl domid g1)'"
[ "$(fxl domname "$id")" = g1 ] || check "fxl domname $id: '$(fxl domname "$id")'"
[ "$(fxl domname 0)" = Domain-0 ] || check "fxl domname 0"
fxl domid nosuch 2> /tmp/err && check "fxl domid nosuch succeeded"
grep -q "Can't get domid of domain name 'nosuch'" /tmp/err || check "fxl domid nosuch: $(cat /tmp/err)"

# vcpu-list: header, name, ID, vCPU, online or not, and both affinities.
xl vcpu-list > /tmp/xl.vcpu; fxl vcpu-list > /tmp/fxl.vcpu || check "fxl vcpu-list failed"
prefix "RIG: xl:  " < /tmp/xl.vcpu; prefix "RIG: fxl: " < /tmp/fxl.vcpu
[ "$(head -1 /tmp/xl.vcpu)" = "$(head -1 /tmp/fxl.vcpu)" ] || check "vcpu-list header differs"
vfields() { awk 'NR>1 { $4 = ""; $6 = ""; print $0 "|" substr($5, 3, 1) }' "$1" | sed 's/ [-r][-b]- / /'; }
[ "$(vfields /tmp/xl.vcpu)" = "$(vfields /tmp/fxl.vcpu)" ] || check "vcpu-list differs: xl '$(vfields /tmp/xl.vcpu | tr '\n' ';')' fxl '$(vfields /tmp/fxl.vcpu | tr '\n' ';')'"

# uptime: the same domains.
xl uptime > /tmp/xl.up; fxl uptime > /tmp/fxl.up || check "fxl uptime failed"
prefix "RIG: fxl: " < /tmp/fxl.up
[ "$(awk '{ print $1, $2 }' /tmp/xl.up)" = "$(awk '{ print $1, $2 }' /tmp/fxl.up)" ] || check "uptime differs: $(cat /tmp/xl.up)"

# dmesg: the ring holds Xen's banner, as xl's does.
xl dmesg > /tmp/xl.dmesg; fxl dmesg > /tmp/fxl.dmesg || check "fxl dmesg failed"
log "dmesg: xl $(wc -c < /tmp/xl.dmesg) bytes, fxl $(wc -c < /tmp/fxl.dmesg) bytes"
if grep -q 'Xen version 4.17' /tmp/xl.dmesg; then
  grep -q 'Xen version 4.17' /tmp/fxl.dmesg || check "fxl dmesg has no Xen banner"
else
  log "the ring has wrapped: xl dmesg has no banner either"
fi
[ "$(head -3 /tmp/xl.dmesg)" = "$(head -3 /tmp/fxl.dmesg)" ] || check "dmesg starts differently"

# pause, unpause: seen by xl list.
fxl pause g1 || check "fxl pause failed"
st=$(xl list g1 | awk 'NR==2 { print $5 }'); log "after fxl pause: $st"
case $st in ??p???) ;; *) check "xl list after fxl pause: $st";; esac
fxl unpause g1 || check "fxl unpause failed"
st=$(xl list g1 | awk 'NR==2 { print $5 }'); log "after fxl unpause: $st"
case $st in ??-???) ;; *) check "xl list after fxl unpause: $st";; esac
fxl unpause g1 2> /tmp/err && check "a second unpause succeeded (Xen's EINVAL expected)"
log "second unpause: $(cat /tmp/err)"

# rename: seen by xl; a name in use is refused.
fxl rename g1 g1r || check "fxl rename failed"
[ "$(xl domid g1r)" = "$id" ] || check "xl does not see g1r"
fxl rename g1r Domain-0 2> /tmp/err && check "rename to Domain-0 succeeded"
log "rename to Domain-0: $(cat /tmp/err)"

# mem-max: getdomaininfo's max_pages (fxl list --json) and memory/static-max; not below target.
fxl mem-max g1r 200m || check "fxl mem-max failed"
maxkib=$(fxl list --json g1r | sed -n 's/.*"max_mem_kib": \([0-9]*\).*/\1/p')
[ "$maxkib" = $((200 * 1024 + 1024)) ] || check "max_mem_kib after mem-max 200m: $maxkib"
[ "$(xenstore-read /local/domain/$id/memory/static-max)" = 204800 ] || check "static-max: $(xenstore-read /local/domain/$id/memory/static-max)"
fxl mem-max g1r 100m 2> /tmp/err && check "mem-max below the target succeeded"
log "mem-max 100m: $(cat /tmp/err)"

# mem-set: memory/target, /vm/<uuid>/memory and max_mem as libxl writes them; above static-max
# refused; the guest's balloon follows, as xl list shows.
vm=$(xenstore-read /local/domain/$id/vm)
fxl mem-set g1r 128m || check "fxl mem-set failed"
[ "$(xenstore-read /local/domain/$id/memory/target)" = 131072 ] || check "target after mem-set 128m: $(xenstore-read /local/domain/$id/memory/target)"
[ "$(xenstore-read "$vm/memory")" = 128 ] || check "$vm/memory after mem-set 128m: $(xenstore-read "$vm/memory")"
maxkib=$(fxl list --json g1r | sed -n 's/.*"max_mem_kib": \([0-9]*\).*/\1/p')
[ "$maxkib" = $((128 * 1024 + 1024)) ] || check "max_mem_kib after mem-set 128m: $maxkib"
fxl mem-set g1r 300m 2> /tmp/err && check "mem-set above static-max succeeded"
log "mem-set 300m: $(cat /tmp/err)"
end=$(( $(cut -d. -f1 /proc/uptime) + 60 ))
until [ "$(xl list g1r | awk 'NR==2 { print $3 }')" -le 129 ]; do
  [ "$(cut -d. -f1 /proc/uptime)" -gt $end ] && { check "the balloon did not follow: $(xl list g1r | tail -1)"; break; }
  sleep 1
done
log "after mem-set 128m: $(xl list g1r | tail -1)"

# vcpu-pin: seen by xl vcpu-list (hard is field 7, soft field 9); a CPU that does not exist is
# refused.
fxl vcpu-pin g1r 0 1 || check "fxl vcpu-pin g1r 0 1 failed"
aff=$(xl vcpu-list g1r | awk 'NR==2 { print $7, $9 }'); log "after vcpu-pin 0 1: $aff"
[ "$aff" = "1 all" ] || check "xl vcpu-list after fxl vcpu-pin 0 1: $aff"
fxl vcpu-pin g1r all all 0 || check "fxl vcpu-pin g1r all all 0 failed"
aff=$(xl vcpu-list g1r | awk 'NR==2 { print $7, $9 }'); log "after vcpu-pin all all 0: $aff"
[ "$aff" = "all 0" ] || check "xl vcpu-list after fxl vcpu-pin all all 0: $aff"
[ "$(xl vcpu-list g1r | awk 'NR==2 { print $7, $8, $9 }')" = "$(fxl vcpu-list g1r | awk 'NR==2 { print $7, $8, $9 }')" ] || check "vcpu-list affinity differs after vcpu-pin"
fxl vcpu-pin g1r 0 5 2> /tmp/err && check "vcpu-pin to CPU 5 succeeded"
log "vcpu-pin 0 5: $(cat /tmp/err)"

# shutdown, reboot: control/shutdown written (seen while the guest is paused), -w keeps waiting
# while the domain runs, and the guest's kernel takes the request (clears the node). This domU's
# init is a shell that ignores the signals a request turns into, so it stays up.
fxl pause g1r || check "fxl pause g1r failed"
fxl shutdown g1r || check "fxl shutdown failed"
[ "$(xenstore-read /local/domain/$id/control/shutdown)" = poweroff ] || check "control/shutdown after fxl shutdown: '$(xenstore-read /local/domain/$id/control/shutdown)'"
fxl reboot g1r || check "fxl reboot failed"
[ "$(xenstore-read /local/domain/$id/control/shutdown)" = reboot ] || check "control/shutdown after fxl reboot: '$(xenstore-read /local/domain/$id/control/shutdown)'"
timeout 3 fxl shutdown -w g1r 2> /tmp/err && check "fxl shutdown -w returned while the domain runs"
log "shutdown -w for 3 s: $(tr '\n' ' ' < /tmp/err)"
grep -q 'Waiting for 1 domains' /tmp/err || check "fxl shutdown -w: $(cat /tmp/err)"
fxl unpause g1r || check "fxl unpause g1r failed"
end=$(( $(cut -d. -f1 /proc/uptime) + 30 ))
until [ -z "$(xenstore-read /local/domain/$id/control/shutdown)" ]; do
  [ "$(cut -d. -f1 /proc/uptime)" -gt $end ] && { check "the guest did not take the shutdown request"; break; }
  sleep 0.5
done
log "after the request: $(xl list g1r | tail -1)"
fxl shutdown -a g1r 2> /tmp/err && check "fxl shutdown -a DOMAIN succeeded"

# block-list: xl's header and fields.
xl block-list g1r > /tmp/xl.blk; fxl block-list g1r > /tmp/fxl.blk || check "fxl block-list failed"
prefix "RIG: xl:  " < /tmp/xl.blk; prefix "RIG: fxl: " < /tmp/fxl.blk
[ "$(head -1 /tmp/xl.blk)" = "$(head -1 /tmp/fxl.blk)" ] || check "block-list header differs"
[ "$(awk 'NR>1 { print $1, $2, $3, $4, $5, $6, $7 }' /tmp/xl.blk)" = "$(awk 'NR>1 { print $1, $2, $3, $4, $5, $6, $7 }' /tmp/fxl.blk)" ] || check "block-list rows differ"
[ "$(wc -l < /tmp/fxl.blk)" = 2 ] || check "block-list: $(wc -l < /tmp/fxl.blk) lines"

# network-list: xl's header, and no vif.
xl network-list g1r > /tmp/xl.nic; fxl network-list g1r > /tmp/fxl.nic || check "fxl network-list failed"
[ "$(cat /tmp/xl.nic)" = "$(cat /tmp/fxl.nic)" ] || check "network-list differs: xl '$(cat /tmp/xl.nic)' fxl '$(cat /tmp/fxl.nic)'"

# destroy: the domain leaves xl list, and its xenstore directories go.
log "destroy $id (vm $vm)"
fxl destroy g1r 2> /tmp/err || check "fxl destroy failed: $(cat /tmp/err)"
[ -s /tmp/err ] && log "fxl destroy said: $(cat /tmp/err)"
end=$(( $(cut -d. -f1 /proc/uptime) + 60 ))
while xl list | awk -v id="$id" 'NR>1 && $2 == id { f = 1 } END { exit !f }'; do
  [ "$(cut -d. -f1 /proc/uptime)" -gt $end ] && { check "domain $id still in xl list: $(xl list | tr '\n' ';')"; break; }
  sleep 1
done
for p in /local/domain/$id "$vm" /libxl/$id /local/domain/0/backend/console/$id /local/domain/0/backend/vbd/$id; do
  xenstore-read "$p" > /dev/null 2>&1 && check "$p still in xenstore"
done
xl list > /tmp/xl.list; prefix "RIG: after destroy: " < /tmp/xl.list
fxl destroy 0 2> /tmp/err && check "fxl destroy 0 succeeded"
# blkback let the device go: no descriptor of the image, no grant mapping.
sleep 1
grep -a -E "51712|released" /tmp/blkback.log | prefix "RIG: "
kill -0 $BB || check "blkback died"
fds=$(ls -l "/proc/$BB/fd" 2>/dev/null | grep -c /tmp/g1.img)
[ "$fds" = 0 ] || check "blkback holds $fds descriptor(s) of the image after fxl destroy"

log "FXL checks failed: $bad"
[ "$bad" = 0 ] || fail "fxl: $bad check(s) failed"
