# domU test: xvdb appears (hot-plugged), goes (hot-unplugged) and comes back; then the guest
# powers off with reads of it still in flight.
wait_dev() { i=0; while [ ! -b /dev/xvdb ] && [ $i -lt 900 ]; do sleep 0.1; i=$((i+1)); done; [ -b /dev/xvdb ]; }
wait_gone() { i=0; while [ -b /dev/xvdb ] && [ $i -lt 900 ]; do sleep 0.1; i=$((i+1)); done; [ ! -b /dev/xvdb ]; }
echo "DOMU-HP-WAITING"
wait_dev || exit 1
echo "DOMU-HP-ATTACHED $(dd if=/dev/xvdb bs=16 count=1 iflag=direct 2>/dev/null)"
wait_gone || exit 1
echo "DOMU-HP-DETACHED"
wait_dev || exit 1
echo "DOMU-HP-REATTACHED $(dd if=/dev/xvdb bs=16 count=1 iflag=direct 2>/dev/null)"
( while :; do dd if=/dev/xvdb of=/dev/null bs=1M iflag=direct 2>/dev/null; done ) &
sleep 2
echo "DOMU: powering off with reads in flight"
