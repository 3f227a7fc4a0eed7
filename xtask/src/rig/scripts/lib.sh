# Helpers for dom0 scenario scripts on the reference rig (sourced by /rig/scenario.sh).
up() { cut -d' ' -f1 /proc/uptime; }
log() { echo "RIG: [$(up)] $*"; }
prefix() { while IFS= read -r l; do echo "$1$l"; done; }
fail() {
  [ -f /tmp/blkback.log ] && tail -n 40 /tmp/blkback.log | prefix "BLKBACK: "
  [ -f /tmp/netback.log ] && tail -n 40 /tmp/netback.log | prefix "NETBACK: "
  [ -f /tmp/xenstored.log ] && tail -n 40 /tmp/xenstored.log | prefix "XENSTORED: "
  echo "RIG-FAIL $(cat /rig/name): $*"; exit 1
}

# waitgone NAME [SECONDS]: wait until domain NAME no longer exists (polling xenstore, which is
# far cheaper under TCG than running xl).
waitgone() {
  id=$(xl domid "$1" 2>/dev/null) || return 0
  end=$(( $(cut -d. -f1 /proc/uptime) + ${2:-180} ))
  while xenstore-read "/local/domain/$id/name" >/dev/null 2>&1; do
    [ "$(cut -d. -f1 /proc/uptime)" -gt $end ] && return 1; sleep 0.5
  done
}

# domu NAME TEST DISKSPEC [EXTRA]: write /tmp/NAME.cfg for a PV domU running /tests/TEST.sh.
domu() {
  cat > "/tmp/$1.cfg" <<CFG
name = "$1"
type = "pv"
kernel = "/guest/vmlinuz"
ramdisk = "/guest/initrd.gz"
extra = "console=hvc0 loglevel=4 rigtest=$2 $4"
memory = 160
vcpus = 1
disk = [ $3 ]
on_poweroff = "destroy"
on_crash = "destroy"
CFG
}

# start_domu NAME: create NAME from /tmp/NAME.cfg and start it; its console goes to the serial
# log (each line tagged with its name) and to /tmp/NAME.cons.
start_domu() {
  log "xl create $1"
  xl create -p "/tmp/$1.cfg" || fail "xl create $1"
  log "$1 created"
  ( xl console "$1" </dev/null 2>&1 | tee "/tmp/$1.cons" | prefix "[$1] " ) &
  xl unpause "$1"
}

# start_domu_tty NAME: start_domu, with `xl console` on a terminal (ptyrun: xenconsole forwards
# what is typed only from a tty) whose input is /tmp/NAME.in (a FIFO held open): type into the
# guest's console with `echo LINE > /tmp/NAME.in`.
start_domu_tty() {
  log "xl create $1"
  xl create -p "/tmp/$1.cfg" || fail "xl create $1"
  log "$1 created"
  rm -f "/tmp/$1.in"; mkfifo "/tmp/$1.in"
  sleep 100000 > "/tmp/$1.in" &
  ( ptyrun xl console "$1" < "/tmp/$1.in" 2>&1 | tr -d '\r' | tee "/tmp/$1.cons" | prefix "[$1] " ) &
  xl unpause "$1"
}

# finish_domu NAME TIMEOUT_SECONDS: wait for NAME to end; fail unless it printed DOMU-PASS.
finish_domu() {
  waitgone "$1" "$2" || { xl destroy "$1"; fail "$1 did not finish"; }
  log "$1 gone"
  sleep 1
  grep -a -q 'DOMU-PASS' "/tmp/$1.cons" || fail "$1 did not pass"
}

# run_domu NAME TIMEOUT_SECONDS: start_domu, then finish_domu.
run_domu() {
  start_domu "$1"
  finish_domu "$1" "$2"
}

# waitfor FILE PATTERN SECONDS: wait until FILE contains PATTERN.
waitfor() {
  end=$(( $(cut -d. -f1 /proc/uptime) + $3 ))
  until grep -a -q "$2" "$1" 2>/dev/null; do
    [ "$(cut -d. -f1 /proc/uptime)" -gt $end ] && fail "no '$2' in $1 after $3 s"; sleep 0.5
  done
}

# noleaks PID FILE: the process holds no descriptor of FILE and no gntdev mapping.
noleaks() {
  fds=$(ls -l "/proc/$1/fd" 2>/dev/null | grep -c "$2")
  maps=$(grep -c gntdev "/proc/$1/maps" 2>/dev/null)
  log "blkback holds $fds descriptor(s) of $2 and $maps gntdev mapping(s)"
  [ "$fds" = 0 ] && [ "$maps" = 0 ] || fail "blkback leaks: $fds fds of $2, $maps gntdev maps"
}

# The net scenarios' rounds with a guest running /tests/net.sh (console in $CONS).
# listen PORT NAME: dom0's listener for round NAME (start it before the round).
# round NAME MB INPORT OUTPORT: what the guest sends arrives on INPORT (listening from before
# the round), what dom0 sends goes to the guest's OUTPORT; both checksums compared.
listen() {
  # The listener's stdin never ends: busybox nc half-closes on stdin EOF.
  sleep 1000 | nc -l -p "$1" > "${RDIR:-/tmp}/from-domu-$2" &
  echo $! > "/tmp/listener-$2"
}
round() {
  dd if=/dev/urandom of="${RDIR:-/tmp}/to-domu-$1" bs=1M count="$2" 2>/dev/null
  sent=$(md5sum "${RDIR:-/tmp}/to-domu-$1" | cut -d' ' -f1)
  waitfor "$CONS" "DOMU-NET-LISTENING $1" 240
  t0=$(up)
  # 300 s, and 3 s more per MiB (256 MiB under TCG).
  limit=$((300 + $2 * 3))
  ( timeout $limit nc 10.0.0.2 "$4" < "${RDIR:-/tmp}/to-domu-$1" > /dev/null ) &
  end=$(( $(cut -d. -f1 /proc/uptime) + limit ))
  first=; tfirst=
  while :; do
    have=$(stat -c %s "${RDIR:-/tmp}/from-domu-$1" 2>/dev/null || echo 0)
    if [ -z "$first" ] && [ "$have" -gt 0 ]; then first=$have; tfirst=$(up); fi
    [ "$have" -ge $(($2 * 1048576)) ] && break
    [ "$(cut -d. -f1 /proc/uptime)" -gt $end ] && fail "$1: only $have bytes from the guest"
    grep -a -q 'DOMU-FAIL' "$CONS" && fail "the guest failed"
    sleep 0.2
  done
  # The guest's sending rate from its first byte on (kB/s, 1000 bytes), for a caller that
  # checks a rate limit.
  ROUND_KBS=$(awk -v b=$(($2 * 1048576 - first)) -v t0="$tfirst" -v t1="$(up)" \
    'BEGIN { d = t1 - t0; if (d < 0.2) d = 0.2; printf "%d", b / d / 1000 }')
  log "offloads $1: guest -> dom0 at $ROUND_KBS kB/s after its first $first bytes"
  got=$(md5sum "${RDIR:-/tmp}/from-domu-$1" | cut -d' ' -f1)
  # Closing the listener ends the guest's sender.
  kill "$(cat "/tmp/listener-$1")" 2>/dev/null
  waitfor "$CONS" "DOMU-NET-IN-MD5 $1" $((120 + $2 / 2))
  tr -d '\r' < "$CONS" > /tmp/cons.txt
  want=$(sed -n "s/.*DOMU-NET-OUT-MD5 $1 \([0-9a-f]*\).*/\1/p" /tmp/cons.txt | tail -1)
  ingot=$(sed -n "s/.*DOMU-NET-IN-MD5 $1 \([0-9a-f]*\).*/\1/p" /tmp/cons.txt | tail -1)
  log "offloads $1: $2 MiB each way by $(up) s (started $t0; includes the guest's dd)"
  log "offloads $1: guest -> dom0: guest md5 $want, dom0 md5 $got"
  [ -n "$want" ] && [ "$want" = "$got" ] || fail "offloads $1: guest -> dom0 checksum differs"
  log "offloads $1: dom0 -> guest: dom0 md5 $sent, guest md5 $ingot"
  [ -n "$ingot" ] && [ "$ingot" = "$sent" ] || fail "offloads $1: dom0 -> guest checksum differs"
  rm -f "${RDIR:-/tmp}/to-domu-$1" "${RDIR:-/tmp}/from-domu-$1"
}

# blk_verify NAME IMAGE BLKBACK_PID: after the `pattern` domU test in NAME passed on blkback: the
# disk's MD5 in the guest equals IMAGE's; blkfront and blkback used persistent grants; the
# device was released and blkback holds nothing of it (shared by `blk` and `fxl-create`).
blk_verify() {
  sum=$(grep -a 'DOMU-DISK-MD5' "/tmp/$1.cons" | tail -1 | awk '{print $NF}' | tr -d '\r')
  img=$(md5sum "$2" | cut -d' ' -f1)
  log "image md5 dom0=$img domU=$sum"
  [ -n "$sum" ] && [ "$sum" = "$img" ] || fail "image checksum differs"
  xenstore-ls /local/domain/0/backend 2>/dev/null | head -5
  kill -0 "$3" || fail "blkback died"
  # blkfront and blkback agreed on persistent grants: requests were served in the guest's own
  # mapped pages, and every mapping went with the device.
  waitfor /tmp/blkback.log ': released' 30
  grep -q 'persistent grants on' /tmp/blkback.log || fail "persistent grants not negotiated"
  pg=$(grep -a 'persistent grants: ' /tmp/blkback.log | tail -1)
  log "$pg"
  mapped=$(echo "$pg" | sed -n 's/.*grants: \([0-9]*\) mapped, \([0-9]*\) requests in place.*/\1/p')
  inplace=$(echo "$pg" | sed -n 's/.*grants: \([0-9]*\) mapped, \([0-9]*\) requests in place.*/\2/p')
  [ "${mapped:-0}" -gt 0 ] && [ "${inplace:-0}" -gt 0 ] || fail "no request served in persistent grants"
  noleaks "$3" "$2"
}

# net_up [NETBACK-OPTION…]: bridge xenbr0 (10.0.0.1/24) up and netback started with the options
# (its pid in NB, its log in /tmp/netback.log).
net_up() {
  brctl addbr xenbr0 2>/dev/null || ip link add name xenbr0 type bridge || fail "no bridge"
  ip addr add 10.0.0.1/24 dev xenbr0 || fail "address on xenbr0"
  ip link set dev xenbr0 up || fail "xenbr0 up"
  netback "$@" > /tmp/netback.log 2>&1 &
  NB=$!
}

# net_domu NAME EXTRA VIFSPEC: /tmp/NAME.cfg for a 256 MiB PV domU running /tests/net.sh, with
# the domU command-line words EXTRA and one vif.
net_domu() {
  domu "$1" net "" "$2"
  sed -i 's/^memory = .*/memory = 256/' "/tmp/$1.cfg"
  echo "vif = [ '$3' ]" >> "/tmp/$1.cfg"
}

# until_line FILE PATTERN SECONDS: like waitfor, polling every 0.1 s (for timings).
until_line() {
  end=$(( $(cut -d. -f1 /proc/uptime) + $3 ))
  until grep -a -q "$2" "$1" 2>/dev/null; do
    [ "$(cut -d. -f1 /proc/uptime)" -gt $end ] && fail "no '$2' in $1 after $3 s"; sleep 0.1
  done
}

# Leak gauges of the soak scenarios: the hypervisor's free memory (MiB), dom0's event channels,
# and the gntdev mappings held by xenstored, xenconsoled and the processes PID… named.
free_mb() { xl info | awk '/^free_memory/ {print $3}'; }
evtchns() { grep -c 'xen-dyn' /proc/interrupts; }
gnt_maps() {
  n=0
  for p in $(pidof xenstored xenconsoled) "$@"; do
    n=$((n + $(grep -c gntdev "/proc/$p/maps")))
  done
  echo $n
}
