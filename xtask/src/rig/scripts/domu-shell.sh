# domU test: a shell on the PV console: each line typed there (dom0's `fxl console` and
# `fxl create -c` feed it) runs, until one reboots or powers the guest off.
stty -echo 2>/dev/null
echo "DOMU-SHELL-READY"
while read -r cmd; do eval "$cmd"; done
