# Benchmark rig-xenstored: xenstore-bench in a PV domU, through its ring, against dom0's
# xenstored (C or Ferrite's: one scenario each, the same script).
. /rig/lib.sh
domu xsb xsbench "" rignoblk
run_domu xsb 400
grep -a '^BENCH ' /tmp/xsb.cons | tr -d '\r' | prefix "RIG-BENCH $(cat /rig/xenstored) "
