# Scenario net-big: 256 MiB of random data each way at once between a Debian PV domU (768 MiB,
# 2 vCPUs, netfront with its offloads and 2 queues) and dom0 over Ferrite's netback, MD5s
# compared; netback's counters at the disconnect account for at least the 256 MiB each way.
. /rig/lib.sh
net_up --max-queues 2
# Both 256 MiB files in a tmpfs of their own (the root's is half of dom0's RAM).
mkdir -p /big && mount -t tmpfs -o size=600m tmpfs /big || fail "tmpfs /big"
RDIR=/big
CONS=/tmp/netb.cons
listen 5005 big
net_domu netb "rignoblk rignet=big" "bridge=xenbr0,script=ferrite-vif,mac=00:16:3e:00:00:05"
sed -i 's/^memory = .*/memory = 768/; s/^vcpus = .*/vcpus = 2/' /tmp/netb.cfg
start_domu netb
id=$(xl domid netb)
# (lib.sh's waitgone sets `id` too.)
nid=$id
waitfor /tmp/netback.log "vif/$id/0: connected, 2 queues" 120
round big 256 5005 5006
finish_domu netb 600
waitfor /tmp/netback.log "vif/$nid/0: released" 60
line=$(grep -a "vif/$nid/0: TX .* packets" /tmp/netback.log | tail -1)
log "counters: $line"
tx=$(echo "$line" | sed -n 's/.*: TX [0-9]* packets \([0-9]*\) bytes.*/\1/p')
rx=$(echo "$line" | sed -n 's/.*; RX [0-9]* packets \([0-9]*\) bytes.*/\1/p')
[ "${tx:-0}" -ge 268435456 ] && [ "${rx:-0}" -ge 268435456 ] || fail "netback moved TX ${tx:-?} RX ${rx:-?} bytes, under 256 MiB"
kill -0 $NB || fail "netback died"
