#!/usr/bin/env bash
# test_live.sh: live capture end to end. A network namespace holds a veth pair; the sensor
# captures on one end (-i) while tcpreplay sends a bundled capture into the other. The alerts
# must be those the same capture gives when read with -r; the sensor runs as nobody (-Z). Skipped (77) where namespaces or
# tcpreplay are not available.
set -uo pipefail
bin=$1 src=$2
pcap=$src/pcaps/mqtt_creds.pcap
skip() { echo "SKIP: $*"; exit 77; }
command -v tcpreplay >/dev/null || skip "tcpreplay is not installed (scripts/test installs it)"
[[ -r $pcap ]] || skip "$pcap is missing"
ns=bwlive$$
ip netns add "$ns" 2>/dev/null || skip "cannot create a network namespace here (ip netns add)"
tmp=$(mktemp -d)
pid=
cleanup() {
    [[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    ip netns del "$ns" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
ip netns exec "$ns" ip link add va type veth peer name vb || skip "veth not available"
ip netns exec "$ns" ip link set va up
ip netns exec "$ns" ip link set vb up
ip netns exec "$ns" ip link set lo up

ip netns exec "$ns" "$bin" -i vb -Z nobody -o "$tmp/live.jsonl" --sensor-name live 2>"$tmp/err" &
pid=$!
for _ in $(seq 100); do
    grep -q "capturing on vb" "$tmp/err" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || { cat "$tmp/err"; echo "FAIL: sensor exited"; exit 1; }
    sleep 0.1
done
grep -q "capturing on vb" "$tmp/err" || { cat "$tmp/err"; echo "FAIL: sensor did not start"; exit 1; }
# -Z nobody: once capturing, the sensor is no longer root and holds no capability.
uid=$(awk '/^Uid:/ {print $3}' "/proc/$pid/status")
capeff=$(awk '/^CapEff:/ {print $2}' "/proc/$pid/status")
[[ $uid == "$(id -u nobody)" && $capeff == 0000000000000000 ]] ||
    { echo "FAIL: still privileged after -Z nobody (uid $uid, CapEff $capeff)"; exit 1; }
ip netns exec "$ns" tcpreplay -q -i va "$pcap" >/dev/null 2>&1 || { echo "FAIL: tcpreplay"; exit 1; }
# The alerts leave when the broker's answer is seen: wait for them, bounded.
for _ in $(seq 100); do
    [[ $(grep -c '"event_type":"alert"' "$tmp/live.jsonl" 2>/dev/null) -ge 2 ]] && break
    sleep 0.1
done
kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
"$bin" -q -r "$pcap" -o "$tmp/file.jsonl" --sensor-name live
fail=0
[[ $rc -eq 0 ]] || { echo "FAIL: sensor exit status $rc after SIGTERM"; fail=1; }
# Same kinds, clients, brokers and user names as the offline read.
summary() { /usr/bin/python3 -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["event_type"] == "alert":
        print(r["alert"]["kind"], r["src_ip"], r["dest_ip"], r["dest_port"], r.get("mqtt", {}).get("username"))
' "$1" | sort; }
live=$(summary "$tmp/live.jsonl") file=$(summary "$tmp/file.jsonl")
if [[ -z $file ]]; then echo "FAIL: the offline read found no alert"; fail=1; fi
if [[ "$live" != "$file" ]]; then
    echo "FAIL: live alerts differ from the offline read"
    echo "live:"; echo "$live"; echo "file:"; echo "$file"
    fail=1
fi
grep -q "S3cret-alice-pw" "$tmp/live.jsonl" "$tmp/err" && { echo "FAIL: password in output"; fail=1; }
((fail)) && exit 1
echo "live capture: $(echo "$live" | wc -l) alerts, same as the offline read"
echo "1 passed, 0 failed"
