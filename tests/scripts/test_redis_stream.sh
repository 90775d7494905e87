#!/usr/bin/env bash
# test_redis_stream.sh: what reaches Redis is what the JSONL sink writes. One replay of the bundled
# captures with both sinks: every entry of the sensor's stream (brokerwatch:{SENSOR}:alerts) equals
# the JSONL alert line byte for byte and in order, its indexed fields (sensor, ts, kind, ...) equal
# the JSON's values; PUBLISH carries the same lines; a JSONL-only run gives the same alerts (adding
# Redis changes nothing); the broker inventory, the sensor hash (last_seen), the registry and the
# stats stream match the session records and counters; the reader merges two sensors'
# inventories; the stream is trimmed with --redis-maxlen; a sensor name that would break the hash
# tag is refused; the password never shows in ps. Uses database 9 of the shared test Redis
# (scripts/test), flushed first.
set -uo pipefail
bin=$1 src=$2
. "$src/tests/scripts/redis_lib.sh"

rl_shared_redis
db=9
url="redis://$RHOST:$RPORT/$db"
rcli() { redis-cli -h "$RHOST" -p "$RPORT" -n "$db" "$@"; }
rcli flushdb >/dev/null
rl_files
files=$RL_FILES

# A subscriber for --redis-publish (channels are server-wide: only this test publishes).
bw_start_bg sub_pid "$tmp/sub.raw" redis-cli -h "$RHOST" -p "$RPORT" --raw SUBSCRIBE brokerwatch:alerts
for _ in $(seq 50); do
    [[ $(redis-cli -h "$RHOST" -p "$RPORT" PUBSUB NUMSUB brokerwatch:alerts | tail -1) -ge 1 ]] && break
    sleep 0.1
done

# shellcheck disable=SC2086
"$bin" $files --sensor-name t-stream --session-log -o "$tmp/both.jsonl" \
    --redis "$url" --redis-publish >"$tmp/out" 2>"$tmp/err"
rc=$?
[[ $rc -eq 0 ]] && ok || bad "replay with --redis: exit $rc: $(cat "$tmp/err")"
[[ ! -s $tmp/out ]] && ok || bad "with -o, nothing should go to stdout"
nalerts=$(grep -c '"event_type":"alert"' "$tmp/both.jsonl")
[[ $nalerts -gt 20 ]] && ok || bad "only $nalerts alerts in the bundled captures"
grep -q "redis: $nalerts alerts delivered to $RHOST:$RPORT/$db" "$tmp/err" && ok || bad "final line: $(cat "$tmp/err")"

"$BW_PY" "$check_py" stream-vs-jsonl "$RHOST" "$RPORT" "$db" 'brokerwatch:{t-stream}:alerts' "$tmp/both.jsonl" && ok ||
    bad "stream entries differ from the JSONL sink's lines"
grep -q "(stream brokerwatch:{t-stream}:alerts)" "$tmp/err" && ok || bad "final line names the stream: $(cat "$tmp/err")"
# every key of the sensor carries its hash tag; the registry is the one key outside it
others=$(rcli --scan | grep -v '^brokerwatch:{t-stream}:' | grep -vx 'brokerwatch:sensors')
[[ -z $others ]] && ok || bad "keys outside the sensor's hash tag: $others"

# The PUBLISHed lines, in order (redis-cli --raw prints message / channel / payload).
for _ in $(seq 50); do
    [[ $(grep -c '^{' "$tmp/sub.raw") -ge $nalerts ]] && break
    sleep 0.1
done
bw_stop_pid "$sub_pid"
grep '^{' "$tmp/sub.raw" >"$tmp/pub.jsonl"
"$BW_PY" "$check_py" lines-vs-jsonl "$tmp/pub.jsonl" "$tmp/both.jsonl" && ok || bad "PUBLISHed lines differ"

# The same replay with JSONL only: same alerts, so the Redis sink does not change the records.
# shellcheck disable=SC2086
"$bin" -q $files --sensor-name t-stream >"$tmp/only.jsonl"
grep '"event_type":"alert"' "$tmp/both.jsonl" >"$tmp/both.alerts"
grep '"event_type":"alert"' "$tmp/only.jsonl" >"$tmp/only.alerts"    # stats records aside
cmp -s "$tmp/only.alerts" "$tmp/both.alerts" && ok || bad "JSONL-only run gives other alerts"

# Session records go to the inventory, not to the stream; the inventory matches them.
"$BW_PY" "$check_py" inventory "$RHOST" "$RPORT" "$db" t-stream "$tmp/both.jsonl" && ok || bad "broker inventory"
"$BW_PY" "$check_py" sensor "$RHOST" "$RPORT" "$db" t-stream "$nalerts" && ok || bad "sensor hash"

# The reader shows the inventory as a table: one row per broker, with the IPv6 one bracketed.
"$alerts_bin" --redis "$url" --brokers --table >"$tmp/brokers.txt" 2>&1 && ok || bad "--brokers failed: $(cat "$tmp/brokers.txt")"
nb=$(rcli zcard 'brokerwatch:{t-stream}:brokers')
[[ $(($(wc -l <"$tmp/brokers.txt") - 1)) -eq $nb ]] && ok || bad "--brokers: $(wc -l <"$tmp/brokers.txt") lines for $nb brokers"
grep -q '^BROKER  *PROTOCOL  *TLS  *ANONYMOUS  *CREDENTIALS SEEN  *FAILURES' "$tmp/brokers.txt" && ok || bad "--brokers header"
grep -q '^\[::1\]:1883 ' "$tmp/brokers.txt" && ok || bad "--brokers: IPv6 broker row"
"$alerts_bin" --redis "$url" --brokers --json | "$BW_PY" -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin]
assert rows and all(isinstance(r["sessions"], int) and r["tls"] in (True, False, "mixed") for r in rows), rows
' && ok || bad "--brokers --json"

# A second run adds to the inventory (counters grow, first_seen stays), never replaces it.
before=$(rcli hget 'brokerwatch:{t-stream}:broker:127.0.0.1:1883' sessions)
"$bin" -q -r "$src/pcaps/mqtt_creds.pcap" --sensor-name t-stream --redis "$url" 2>"$tmp/err"
after=$(rcli hget 'brokerwatch:{t-stream}:broker:127.0.0.1:1883' sessions)
[[ $after -eq $((before + 1)) ]] && ok || bad "inventory sessions $before -> $after after one more session"

# Another sensor has its own inventory; the reader merges both: counters add up, both sensors named.
"$bin" -q -r "$src/pcaps/mqtt_creds.pcap" --sensor-name t-other --redis "$url" 2>"$tmp/err"
"$alerts_bin" --redis "$url" --brokers --json --broker 127.0.0.1:1883 >"$tmp/merged.json"
"$BW_PY" - "$tmp/merged.json" "$after" <<'EOF' && ok || bad "--brokers does not merge the sensors' inventories: $(cat "$tmp/merged.json")"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 1 and rows[0]["sessions"] == int(sys.argv[2]) + 1, rows
assert sorted(rows[0]["sensors"]) == ["t-other", "t-stream"], rows
EOF

# A sensor name with a brace would break the hash tag: refused in one line before anything runs.
"$bin" -r "$src/pcaps/mqtt_creds.pcap" --sensor-name 'a{b}' --redis "$url" >"$tmp/out" 2>"$tmp/err"; rc=$?
[[ $rc -eq 1 && $(wc -l <"$tmp/err") -eq 1 ]] && grep -q "sensor name 'a{b}' cannot name Redis keys" "$tmp/err" && ok ||
    bad "sensor name with braces: exit $rc: $(cat "$tmp/err")"

# --redis-maxlen trims the stream (approximately, as MAXLEN ~ does: whole macro nodes).
# shellcheck disable=SC2086
"$bin" -q $files $files --sensor-name t-trim --redis "$url" \
    --redis-stream test:trim --redis-maxlen 10 --redis-queue 64K 2>"$tmp/err"
len=$(rcli xlen test:trim)
[[ $len -lt $nalerts && $len -ge 10 ]] && ok || bad "--redis-maxlen 10: stream has $len entries ($nalerts+ written)"

# A small memory queue that wraps around many times: reading files, a full queue waits for the
# writer (nothing dropped), and the records come out whole and in order.
# shellcheck disable=SC2086
"$bin" -q $files $files $files --sensor-name t-wrap --redis "$url" --redis-stream test:wrap \
    --redis-queue 64K -o "$tmp/wrap.jsonl" 2>"$tmp/err" && ok || bad "small queue: $(cat "$tmp/err")"
"$BW_PY" "$check_py" stream-vs-jsonl "$RHOST" "$RPORT" "$db" test:wrap "$tmp/wrap.jsonl" && ok ||
    bad "small queue: stream differs from the JSONL sink"

# The password stays out of ps: the URL in argv is overwritten once parsed.
pwdir="$tmp/pw-redis"
rl_start_redis pw_pid pw_port "$pwdir" --appendonly no --requirepass 'S3cret-pw'
bw_start_bg run_pid "$tmp/pw.err" "$bin" -q -r "$src/pcaps/mqtt_bruteforce.pcap" --pace 2 \
    --redis "redis://:S3cret-pw@127.0.0.1:$pw_port" -o /dev/null
sleep 0.5
cmdline=$(tr '\0' ' ' <"/proc/$run_pid/cmdline" 2>/dev/null)
[[ -n $cmdline && $cmdline != *S3cret-pw* && $cmdline == *'redis://:*********@127.0.0.1'* ]] && ok ||
    bad "password visible or argv not scrubbed: '$cmdline'"
bw_stop_pid "$run_pid" INT
bw_stop_pid "$pw_pid"

finish
