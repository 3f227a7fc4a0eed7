# Helpers for dom0 scenario scripts on the reference rig (sourced by /rig/scenario.sh).
up() { cut -d' ' -f1 /proc/uptime; }
log() { echo "RIG: [$(up)] $*"; }
fail() { echo "RIG-FAIL $(cat /rig/name): $*"; exit 1; }

# waitgone NAME [TENTHS]: wait until domain NAME no longer exists.
waitgone() {
  i=0; while xl list "$1" >/dev/null 2>&1; do
    i=$((i+1)); [ $i -gt "${2:-1800}" ] && return 1; sleep 0.1
  done
}

# domu NAME TEST DISKSPEC [EXTRA]: write /tmp/NAME.cfg for a PV domU running /tests/TEST.sh.
domu() {
  cat > "/tmp/$1.cfg" <<CFG
name = "$1"
type = "pv"
kernel = "/guest/vmlinuz"
ramdisk = "/guest/initrd.gz"
extra = "console=hvc0 quiet rigtest=$2 $4"
memory = 160
vcpus = 2
disk = [ $3 ]
on_poweroff = "destroy"
on_crash = "destroy"
CFG
}

# run_domu NAME TIMEOUT_TENTHS: create NAME from /tmp/NAME.cfg, wait for it to end, and fail unless
# its console shows DOMU-PASS.
run_domu() {
  log "xl create $1"
  xl create "/tmp/$1.cfg" || fail "xl create $1"
  log "$1 created"
  waitgone "$1" "$2" || { xl destroy "$1"; fail "$1 did not finish"; }
  log "$1 gone"
  grep -a 'DOMU' "/var/log/xen/guest-$1.log" | sed 's/^/DOMU-LOG: /'
  grep -a -q 'DOMU-PASS' "/var/log/xen/guest-$1.log" || fail "$1 did not pass"
}
