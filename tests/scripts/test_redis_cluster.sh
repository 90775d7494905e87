#!/usr/bin/env bash
# test_redis_cluster.sh: the sink and the reader against a Redis Cluster. Three masters on loopback
# (redis-server --cluster-enabled yes, AOF fsynced on every write, created with redis-cli --cluster
# create); three sensors, named so that their hash tags fall on three different masters, replay
# three bundled captures paced over a few seconds, all given the address of the first node only;
# that node (which also holds the registry and one sensor's keys) is killed with SIGKILL mid-run
# and restarted. Checks: each sensor's keys live on its own master, in one slot; every alert of each
# sensor is in its stream once, in order, equal to the JSONL of the same run; the sensor on the
# killed node said it lost and regained its connection, the others did not notice; a plain
# follower and a consumer-group follower that ran through the outage printed every alert once,
# merged by time; the history read, --sensors and --brokers work through the cluster; the slot of a
# running sensor migrated to another master (ASK, then MOVED) loses and repeats nothing; a
# --redis-stream outside the sensor's slot is refused; --redis-cluster against a single server is
# refused. Starts its own servers on free ports and stops them by PID.
set -uo pipefail
bin=$1 src=$2
. "$src/tests/scripts/redis_lib.sh"

command -v redis-cli >/dev/null || skip "redis-cli is not installed (apt-get install redis-tools)"
major=$(redis-server --version | sed -n 's/.* v=\([0-9]*\)\..*/\1/p')
[[ ${major:-0} -ge 7 ]] || skip "Redis $major: the test gives each node its bus port (cluster-port), Redis 7+"

# ---- a 3-master cluster -----------------------------------------------------------------------
declare -a port bus pid
node_args() {   # node_args I: the command line of node I (the same after a restart)
    echo --bind 127.0.0.1 --port "${port[$1]}" --cluster-port "${bus[$1]}" --cluster-enabled yes \
        --cluster-config-file nodes.conf --cluster-node-timeout 5000 --dir "$tmp/n$1" \
        --appendonly yes --appendfsync always --save '' --daemonize no
}
for i in 1 2 3; do
    port[i]=$(bw_free_port 127.0.0.1)
    bus[i]=$(bw_free_port 127.0.0.1)
    mkdir -p "$tmp/n$i"
    # shellcheck disable=SC2046
    bw_start_bg "pid[$i]" "$tmp/n$i/redis.log" redis-server $(node_args "$i")
done
for i in 1 2 3; do
    bw_wait_listen "${port[i]}" 20 "${pid[i]}" || { tail -n 20 "$tmp/n$i/redis.log"; echo "FAIL: node $i did not start"; exit 1; }
done
redis-cli --cluster create "127.0.0.1:${port[1]}" "127.0.0.1:${port[2]}" "127.0.0.1:${port[3]}" --cluster-yes \
    >"$tmp/create.log" 2>&1 || { cat "$tmp/create.log"; echo "FAIL: redis-cli --cluster create"; exit 1; }
cluster_ok() {
    local i
    for i in 1 2 3; do
        redis-cli -p "${port[i]}" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
    done
}
for _ in $(seq 100); do cluster_ok && break; sleep 0.1; done
cluster_ok && ok || { bad "the cluster did not come up"; finish; }

owner() {       # owner KEY: the index (1-3) of the master serving KEY's slot
    "$BW_PY" - "$(redis-cli -p "${port[1]}" cluster keyslot "$1")" "${port[@]}" <<'EOF'
import json, subprocess, sys
slot, ports = int(sys.argv[1]), sys.argv[2:]
out = subprocess.run(["redis-cli", "-p", ports[0], "--json", "cluster", "slots"], capture_output=True, text=True).stdout
for start, end, master, *replicas in json.loads(out):
    if start <= slot <= end:
        print(ports.index(str(master[1])) + 1)
EOF
}
# Three sensor names whose hash tags fall on masters 1, 2 and 3.
declare -a name
for c in $(seq 1 60); do
    o=$(owner "cl$c")
    [[ -z ${name[o]:-} ]] && name[o]=cl$c
    [[ -n ${name[1]:-} && -n ${name[2]:-} && -n ${name[3]:-} ]] && break
done
[[ -n ${name[1]:-} && -n ${name[2]:-} && -n ${name[3]:-} ]] || { bad "no sensor names for each master"; finish; }
[[ $(owner brokerwatch:sensors) -eq 1 ]] && ok || bad "the registry is expected on the first master (slot 4643)"

# ---- three sensors, one master killed and restarted under them ---------------------------------
caps=("" mqtt_bruteforce amqp_bruteforce mqtt_wildcard)
paces=("" 0.15 0.07 0.0055)          # each replay lasts about 7.5 s
url="redis://127.0.0.1:${port[1]}"   # every sensor and reader knows only the node that dies
R() { "$alerts_bin" --redis "redis://127.0.0.1:${port[2]}" "$@"; }
# (stdout to .out, stderr to .err; --since: every alert from now on, however late the reader starts)
bw_start_bg f_pid "$tmp/follow.out" bash -c 'exec "$@" 2>"$0"' "$tmp/follow.err" \
    "$alerts_bin" --redis "redis://127.0.0.1:${port[2]}" -f --json --since "$(date +%s%3N)"
bw_start_bg g_pid "$tmp/group.out" bash -c 'exec "$@" 2>"$0"' "$tmp/group.err" \
    "$alerts_bin" --redis "redis://127.0.0.1:${port[3]}" -f --json --group soc --consumer w1
for i in 1 2 3; do
    bw_start_bg "run[$i]" "$tmp/s$i.err" "$bin" -r "$src/pcaps/${caps[i]}.pcap" --pace "${paces[i]}" \
        --sensor-name "${name[i]}" -o "$tmp/s$i.jsonl" --redis "$url" --spool "$tmp/spool$i"
done
sleep 2.5
kill -KILL "${pid[1]}"
wait "${pid[1]}" 2>/dev/null
sleep 2
# shellcheck disable=SC2046
bw_start_bg "pid[1]" "$tmp/n1/redis-2.log" redis-server $(node_args 1)
bw_wait_listen "${port[1]}" 20 "${pid[1]}" || { tail "$tmp/n1/redis-2.log"; bad "node 1 did not restart"; finish; }
for i in 1 2 3; do
    for _ in $(seq 300); do bw_alive "${run[i]}" || break; sleep 0.1; done
    wait "${run[i]}"; rc=$?
    [[ $rc -eq 0 ]] && ok || bad "sensor ${name[i]}: exit $rc: $(cat "$tmp/s$i.err")"
done
for _ in $(seq 100); do cluster_ok && break; sleep 0.1; done

for i in 1 2 3; do
    n[i]=$(grep -c '"event_type":"alert"' "$tmp/s$i.jsonl")
    # the sensor's keys: all on its master, in one slot
    keys=$(redis-cli -p "${port[i]}" --scan --pattern "brokerwatch:{${name[i]}}:*" | sort)
    [[ $(wc -l <<<"$keys") -ge 4 ]] && ok || bad "${name[i]}: keys not on master $i: $keys"
    "$BW_PY" "$check_py" stream-vs-jsonl 127.0.0.1 "${port[2]}" 0 "$(rl_stream "${name[i]}")" "$tmp/s$i.jsonl" && ok ||
        bad "${name[i]}: the stream is not every alert once and in order"
done
total=$((n[1] + n[2] + n[3]))
[[ ${n[1]} -gt 20 && ${n[3]} -gt 0 ]] && ok || bad "too few alerts to say anything: ${n[*]}"
grep -q "lost the connection to 127.0.0.1:${port[1]}" "$tmp/s1.err" && grep -q "connected to .* again" "$tmp/s1.err" && ok ||
    bad "${name[1]} did not say it lost and regained its node: $(cat "$tmp/s1.err")"
grep -q "is a cluster; this sensor's keys (brokerwatch:{${name[2]}}:\*, slot [0-9]*) are on 127.0.0.1:${port[2]}" "$tmp/s2.err" && ok ||
    bad "${name[2]}: no line about the cluster: $(cat "$tmp/s2.err")"
for i in 2 3; do
    grep -q "lost the connection" "$tmp/s$i.err" && bad "${name[i]} lost its connection: $(cat "$tmp/s$i.err")" || ok
done

# the followers ran through the outage: every alert once, merged by time (within what had arrived)
for _ in $(seq 150); do
    [[ $(grep -c . "$tmp/follow.out") -ge $total && $(grep -c . "$tmp/group.out") -ge $total ]] && break
    sleep 0.1
done
bw_stop_pid "$f_pid" INT
bw_stop_pid "$g_pid" INT
for f in follow group; do
    "$BW_PY" - "$tmp/$f.out" "$tmp/s1.jsonl" "$tmp/s2.jsonl" "$tmp/s3.jsonl" <<'EOF' && ok || bad "$f reader: $(cat "$tmp/$f.err")"
import json, sys
got = [l.rstrip("\n") for l in open(sys.argv[1]) if l.strip()]
runs = [[l.rstrip("\n") for l in open(f) if '"event_type":"alert"' in l] for f in sys.argv[2:]]
assert sorted(got) == sorted(l for r in runs for l in r), "%d lines for %d alerts" % (len(got), sum(map(len, runs)))
for r in runs:
    mine = set(r)
    assert [l for l in got if l in mine] == r, "a sensor's alerts out of order"
EOF
done
[[ $("$BW_PY" "$check_py" pending 127.0.0.1 "${port[2]}" 0 "$(rl_stream "${name[1]}")" soc) -eq 0 ]] && ok ||
    bad "group soc: entries left pending on ${name[1]}'s stream"

# the history: all three sensors merged by time, read through any node
R >"$tmp/all.out" 2>"$tmp/err"
"$BW_PY" "$check_py" merged "$tmp/all.out" "$tmp/s1.jsonl" "$tmp/s2.jsonl" "$tmp/s3.jsonl" && ok ||
    bad "history through the cluster: $(cat "$tmp/err")"
R --sensors --json >"$tmp/sensors"
[[ $(grep -c '"sensor"' "$tmp/sensors") -eq 3 ]] && ok || bad "--sensors: $(cat "$tmp/sensors")"
R --brokers --json >"$tmp/brokers"
grep -q '"address":"127.0.0.1:1883"' "$tmp/brokers" && grep -q '"address":"127.0.0.1:5672"' "$tmp/brokers" && ok ||
    bad "--brokers through the cluster: $(cat "$tmp/brokers")"
for i in 1 2 3; do
    [[ -z $(ls -A "$tmp/spool$i" 2>/dev/null) ]] && ok || bad "${name[i]}: spool left behind"
done

# resharding under a running sensor: its slot moves from master 2 to master 3 key by key (ASK while
# it migrates, MOVED once it has moved); the stream stays every alert once, in order
slot=$(redis-cli -p "${port[1]}" cluster keyslot "${name[2]}")
id2=$(redis-cli -p "${port[2]}" cluster myid)
id3=$(redis-cli -p "${port[3]}" cluster myid)
bw_start_bg m_run "$tmp/m.err" "$bin" -r "$src/pcaps/amqp_bruteforce.pcap" --pace 0.09 \
    --sensor-name "${name[2]}" -o "$tmp/m.jsonl" --redis "$url"
sleep 1.5
redis-cli -p "${port[3]}" cluster setslot "$slot" importing "$id2" >/dev/null
redis-cli -p "${port[2]}" cluster setslot "$slot" migrating "$id3" >/dev/null
while :; do
    mapfile -t keys < <(redis-cli -p "${port[2]}" cluster getkeysinslot "$slot" 100)
    [[ ${#keys[@]} -gt 0 && -n ${keys[0]} ]] || break
    for k in "${keys[@]}"; do                 # one key at a time, with a sensor writing between
        redis-cli -p "${port[2]}" migrate 127.0.0.1 "${port[3]}" "$k" 0 5000 >/dev/null
        sleep 0.3
    done
done
for i in 1 2 3; do redis-cli -p "${port[i]}" cluster setslot "$slot" node "$id3" >/dev/null; done
echo "info: ASKING calls at master 3: $(redis-cli -p "${port[3]}" info commandstats | grep -o 'cmdstat_asking:calls=[0-9]*')"
for _ in $(seq 300); do bw_alive "$m_run" || break; sleep 0.1; done
wait "$m_run"; rc=$?
[[ $rc -eq 0 ]] && ok || bad "sensor during resharding: exit $rc: $(cat "$tmp/m.err")"
cat "$tmp/s2.jsonl" "$tmp/m.jsonl" >"$tmp/s2-both.jsonl"
"$BW_PY" "$check_py" stream-vs-jsonl 127.0.0.1 "${port[1]}" 0 "$(rl_stream "${name[2]}")" "$tmp/s2-both.jsonl" && ok ||
    bad "after resharding, ${name[2]}'s stream is not every alert once and in order"
[[ -n $(redis-cli -p "${port[3]}" --scan --pattern "brokerwatch:{${name[2]}}:*") &&
   -z $(redis-cli -p "${port[2]}" --scan --pattern "brokerwatch:{${name[2]}}:*") ]] && ok ||
    bad "${name[2]}'s keys did not all move to master 3"
grep -q "127.0.0.1:${port[3]} now serves this sensor's keys" "$tmp/m.err" && ok || bad "no line about the move: $(cat "$tmp/m.err")"

# a stream outside the sensor's slot cannot share its transactions: refused at start
"$bin" -r "$src/pcaps/mqtt_creds.pcap" --sensor-name "${name[2]}" --redis "$url" --redis-stream other:alerts \
    >/dev/null 2>"$tmp/err"; rc=$?
[[ $rc -eq 1 ]] && grep -q "is a cluster and --redis-stream 'other:alerts' is not in the slot" "$tmp/err" && ok ||
    bad "--redis-stream in another slot: exit $rc: $(cat "$tmp/err")"
# --redis-cluster against a server without cluster support
rl_start_redis single_pid single_port "$tmp/single" --appendonly no
"$bin" -r "$src/pcaps/mqtt_creds.pcap" --redis "redis://127.0.0.1:$single_port" --redis-cluster >/dev/null 2>"$tmp/err"; rc=$?
[[ $rc -eq 1 && $(wc -l <"$tmp/err") -eq 1 ]] && grep -q "is not a cluster node" "$tmp/err" && ok ||
    bad "--redis-cluster on a single server: exit $rc: $(cat "$tmp/err")"

finish
