# netns_lib.sh, sourced by the live tests: a network namespace of the test's own holding a veth
# pair, va (the end a replay goes into) and vb (the end the sensor captures), both up, with IPv6
# off on both so that no router solicitation joins a replay. bw_ns_up NAME makes it (and $tmp, a
# new directory) or skips the test (exit 77); at exit the sensor in $pid, if any, is stopped, and
# the namespace and $tmp are removed. summary FILE: the alerts of a JSON lines file, one line each
# (kind, client, broker, port, MQTT user name), sorted: what a live run and an offline read of the
# same capture must share.
bw_ns_cleanup() {
    [[ -n ${pid:-} ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    ip netns del "$ns" 2>/dev/null
    rm -rf "$tmp"
}

bw_ns_up() {
    ns=$1
    ip netns add "$ns" 2>/dev/null || { echo "SKIP: cannot create a network namespace here (ip netns add)"; exit 77; }
    tmp=$(mktemp -d)
    pid=
    trap bw_ns_cleanup EXIT
    ip netns exec "$ns" ip link add va type veth peer name vb || { echo "SKIP: veth not available"; exit 77; }
    for i in va vb; do
        ip netns exec "$ns" sh -c "echo 1 > /proc/sys/net/ipv6/conf/$i/disable_ipv6" 2>/dev/null
        ip netns exec "$ns" ip link set "$i" up
    done
    ip netns exec "$ns" ip link set lo up
}

summary() { python3 -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["event_type"] == "alert":
        print(r["alert"]["kind"], r["src_ip"], r["dest_ip"], r["dest_port"], r.get("mqtt", {}).get("username"))
' "$1" | sort; }
