# domU test: fio on xvda — 4 KiB random read and write IOPS, 1 MiB sequential read and write
# throughput — printed as "BENCH <name> <value> <unit>" lines (terse output: field 8 = read
# IOPS, 7 = read KiB/s, 49 = write IOPS, 48 = write KiB/s).
run() {
  name=$1; shift
  out=$(fio --name="$name" --filename=/dev/xvda --direct=1 --ioengine=libaio --iodepth=16 \
    --size=96M --runtime=12 --time_based --ramp_time=2 --minimal "$@" 2>&1) || { echo "$out"; return 1; }
  echo "$out" | tail -1 | awk -F';' -v n="$name" '{
    if (n == "randread") print "BENCH randread " $8 " IOPS";
    if (n == "randwrite") print "BENCH randwrite " $49 " IOPS";
    if (n == "seqread") print "BENCH seqread " int($7 / 1024) " MiB/s";
    if (n == "seqwrite") print "BENCH seqwrite " int($48 / 1024) " MiB/s";
  }'
}
run randread --rw=randread --bs=4k &&
run randwrite --rw=randwrite --bs=4k &&
run seqread --rw=read --bs=1M &&
run seqwrite --rw=write --bs=1M
