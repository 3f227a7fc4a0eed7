# Benchmark rig-create: `xl create` of a Debian PV domU (160 MiB, no disk, computing until it is
# destroyed) until it is built
# (xl returns) and until its /init starts (DOMU-INIT-START on its console), then `xl destroy`,
# several rounds, timed by dom0's clock. The same script runs on Xen and on Ferrite; xtask
# prints each figure and the ratio Ferrite / Xen.
. /rig/lib.sh
rounds=4
domu bc spin "" rignoblk
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
r=1
while [ $r -le $rounds ]; do
  rm -f /tmp/bc.cons
  t0=$(up)
  xl create /tmp/bc.cfg >/tmp/bc.create 2>&1 || { cat /tmp/bc.create; fail "round $r: xl create"; }
  t1=$(up)
  ( xl console bc </dev/null > /tmp/bc.cons 2>&1 ) &
  waitfor /tmp/bc.cons 'DOMU-INIT-START' 120
  t2=$(up)
  d0=$(up)
  xl destroy bc || fail "round $r: xl destroy"
  d1=$(up)
  waitgone bc 60 || fail "round $r: the domU outlived xl destroy"
  echo "RIG-BENCH round $r: built $(sub $t0 $t1) s, /init $(sub $t0 $t2) s, destroyed $(sub $d0 $d1) s"
  # The first round warms dom0's page cache with the kernel; the figures are the rest's.
  if [ $r -gt 1 ]; then
    echo "RIG-BENCH create BENCH xl-built-$r $(sub $t0 $t1) s"
    echo "RIG-BENCH create BENCH xl-init-$r $(sub $t0 $t2) s"
    echo "RIG-BENCH create BENCH xl-destroy-$r $(sub $d0 $d1) s"
  fi
  r=$((r + 1))
done
