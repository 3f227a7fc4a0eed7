# Helpers for dom0 scenario scripts on the reference rig (sourced by /rig/scenario.sh).
up() { cut -d' ' -f1 /proc/uptime; }
log() { echo "RIG: [$(up)] $*"; }
prefix() { while IFS= read -r l; do echo "$1$l"; done; }
fail() {
  [ -f /tmp/blkback.log ] && tail -n 40 /tmp/blkback.log | prefix "BLKBACK: "
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

# run_domu NAME TIMEOUT_SECONDS: create NAME from /tmp/NAME.cfg, wait for it to end, and fail unless
# its console shows DOMU-PASS.
run_domu() {
  log "xl create $1"
  xl create -p "/tmp/$1.cfg" || fail "xl create $1"
  log "$1 created"
  # The guest's console goes to the serial log, each line tagged with its name.
  ( xl console "$1" </dev/null 2>&1 | prefix "[$1] " ) &
  xl unpause "$1"
  waitgone "$1" "$2" || { xl destroy "$1"; fail "$1 did not finish"; }
  log "$1 gone"
  grep -a -q 'DOMU-PASS' "/var/log/xen/guest-$1.log" || fail "$1 did not pass"
}
