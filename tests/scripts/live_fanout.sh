#!/usr/bin/env bash
# live_fanout.sh BROKERWATCH SRC [SENSOR ARGS...]: two workers, each reading a socket of its own in
# one PACKET_FANOUT group, on a replay of many address pairs at once (every bundled MQTT and AMQP
# capture once, each with addresses of its own, overlapping in time: workers_equal.py
# --many-pairs) into a veth pair in a network namespace made here. The group's program must give
# both directions of a pair to one socket (else a worker misses the broker's answers, or a brute
# force is split), every packet must reach exactly one socket, both sockets must be used, and the
# alerts must be the offline read's. With -c, one socket and one reader count exactly. Run by test_live.sh (with -Z nobody: the workers confined) and
# by scripts/test's ThreadSanitizer step. Prints one line; exit 0 (passed), 1 (failed), 77
# (namespaces or tcpreplay not available).
set -uo pipefail
bin=$1 src=$2
shift 2
skip() { echo "SKIP: $*"; exit 77; }
command -v tcpreplay >/dev/null || skip "tcpreplay is not installed (scripts/test installs it)"
. "$src/tests/scripts/netns_lib.sh"
bw_ns_up "bwfan$$"
chmod 755 "$tmp"                                   # -Z nobody writes its output here
python3 "$src/tests/integration/workers_equal.py" --many-pairs "$tmp/pairs.pcap" "$src"/pcaps/mqtt_*.pcap \
    "$src"/pcaps/amqp_*.pcap || { echo "FAIL: cannot make the capture of many pairs"; exit 1; }
npk=$(python3 -c '
import struct, sys
b, o, n = open(sys.argv[1], "rb").read(), 24, 0
while o + 16 <= len(b):
    o += 16 + struct.unpack("<I", b[o + 8:o + 12])[0]; n += 1
print(n)' "$tmp/pairs.pcap")
ip netns exec "$ns" "$bin" -v -i vb --workers 2 "$@" -o "$tmp/fan.jsonl" --sensor-name live 2>"$tmp/err" &
pid=$!
for _ in $(seq 100); do
    grep -q "capturing on vb" "$tmp/err" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
grep -q "capturing on vb.* (2 sockets in a PACKET_FANOUT group, one per worker)" "$tmp/err" ||
    { echo "FAIL: no fanout group: $(grep brokerwatch: "$tmp/err" | head -3)"; exit 1; }
ip netns exec "$ns" tcpreplay -q -i va "$tmp/pairs.pcap" >/dev/null 2>&1 || { echo "FAIL: tcpreplay"; exit 1; }
sleep 1
kill -TERM "$pid"; wait "$pid"; rc=$?; pid=
"$bin" -q --workers 1 -r "$tmp/pairs.pcap" -o "$tmp/file.jsonl" --sensor-name live
fan=$(summary "$tmp/fan.jsonl") file=$(summary "$tmp/file.jsonl")
nf=$(echo "$file" | grep -c .)
fail=0
if [[ $rc -ne 0 || $nf -lt 100 || "$fan" != "$file" ]]; then
    echo "FAIL: fanout: exit $rc; alerts differ from the offline read ($(echo "$fan" | grep -c .) live, $nf offline)"
    diff <(echo "$file") <(echo "$fan") | head -10
    grep -v event_type "$tmp/err" | head -5
    fail=1
fi
got=$(sed -n 's/^brokerwatch: \([0-9]*\) packets, .*/\1/p' "$tmp/err")
read -r w0 w1 < <(sed -n 's/^brokerwatch: packets per worker (one socket each): //p' "$tmp/err")
if ! [[ $got == "$npk" && -n $w0 && -n $w1 && $w0 -gt 0 && $w1 -gt 0 && $((w0 + w1)) -eq $npk ]]; then
    echo "FAIL: fanout: $got packets of $npk replayed, per worker '$w0' '$w1'"
    fail=1
fi
grep -q 'SIGSYS\|seccomp\|ThreadSanitizer' "$tmp/err" && { echo "FAIL: $(grep -v event_type "$tmp/err" | head -20)"; fail=1; }
# -c N: one socket and one reader, which counts exactly: the run ends after N packets
ip netns exec "$ns" "$bin" -i vb --workers 2 "$@" -c 100 -o "$tmp/c.jsonl" --sensor-name live 2>"$tmp/cerr" &
pid=$!
for _ in $(seq 100); do grep -q "capturing on vb" "$tmp/cerr" 2>/dev/null && break; sleep 0.1; done
ip netns exec "$ns" tcpreplay -q -i va "$tmp/pairs.pcap" >/dev/null 2>&1
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && { echo "FAIL: -c 100 did not end the live run"; kill -TERM "$pid"; fail=1; }
wait "$pid"; rc=$?; pid=
if [[ $rc -ne 0 ]] || grep -q "PACKET_FANOUT" "$tmp/cerr" || ! grep -q "^brokerwatch: 100 packets," "$tmp/cerr"; then
    echo "FAIL: -c 100 with 2 workers: exit $rc: $(grep -v event_type "$tmp/cerr" | grep -v '^ ' | head -4)"
    fail=1
fi
((fail)) && exit 1
echo "live fanout: a group of 2 sockets: $nf alerts of many address pairs, as offline; packets $w0 + $w1"
