#!/usr/bin/env bash
# test_redis_reader.sh: brokerwatch-alerts against a stream the sensor filled from the bundled
# captures: JSON lines equal the sensor's; each filter (--kind, --severity, --broker, --app) and
# --count / --since (ID and time) select exactly what the JSONL says; a table on a terminal;
# --follow prints alerts as they arrive; a consumer group splits the work between two readers with
# every entry acknowledged once, and --claim-idle takes over what a dead consumer left pending;
# one-line errors with exit 1 (runtime) and 2 (usage). Database 10 of the shared test Redis.
set -uo pipefail
bin=$1 src=$2
. "$src/tests/scripts/redis_lib.sh"

rl_shared_redis
db=10
url="redis://$RHOST:$RPORT/$db"
rcli() { redis-cli -h "$RHOST" -p "$RPORT" -n "$db" "$@"; }
rcli flushdb >/dev/null
rl_files
files=$RL_FILES
R() { "$alerts_bin" --redis "$url" "$@"; }
jq_sel() {   # jq_sel PYTHON-EXPR: the alert lines of ref.jsonl for which EXPR (on r) holds
    "$BW_PY" -c '
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["event_type"] == "alert" and eval(sys.argv[2]):
        print(l, end="")' "$tmp/ref.jsonl" "$1"
}
same() {     # same NAME FILE-GOT FILE-WANT
    if cmp -s "$2" "$3" && [[ -s $3 ]]; then ok; else bad "$1: $(wc -l <"$2") lines, want $(wc -l <"$3")"; fi
}

# shellcheck disable=SC2086
"$bin" -q $files --sensor-name t-reader -o "$tmp/ref.jsonl" --redis "$url" 2>"$tmp/err" || bad "fill: $(cat "$tmp/err")"
grep '"event_type":"alert"' "$tmp/ref.jsonl" >"$tmp/all"
n=$(wc -l <"$tmp/all")

# JSON lines by default when stdout is not a terminal: the sensor's lines, oldest first
R >"$tmp/got" 2>"$tmp/err"; same "default output" "$tmp/got" "$tmp/all"
R --json >"$tmp/got"; same "--json" "$tmp/got" "$tmp/all"

# filters
R --kind auth_failure >"$tmp/got"; jq_sel 'r["alert"]["kind"] == "auth_failure"' >"$tmp/want"; same "--kind" "$tmp/got" "$tmp/want"
R --kind auth_failure,bruteforce --kind default_credentials >"$tmp/got"
jq_sel 'r["alert"]["kind"] in ("auth_failure", "bruteforce", "default_credentials")' >"$tmp/want"; same "--kind list" "$tmp/got" "$tmp/want"
R --severity high >"$tmp/got"; jq_sel 'r["alert"]["severity"] in ("high", "critical")' >"$tmp/want"; same "--severity high" "$tmp/got" "$tmp/want"
R --severity critical >"$tmp/got"; jq_sel 'r["alert"]["severity"] == "critical"' >"$tmp/want"; same "--severity critical" "$tmp/got" "$tmp/want"
R --broker 127.0.0.1:9001 >"$tmp/got"; jq_sel 'r["dest_ip"] == "127.0.0.1" and r["dest_port"] == 9001' >"$tmp/want"; same "--broker IP:PORT" "$tmp/got" "$tmp/want"
R --broker 127.0.0.1 >"$tmp/got"; jq_sel 'r["dest_ip"] == "127.0.0.1"' >"$tmp/want"; same "--broker IP" "$tmp/got" "$tmp/want"
R --broker '[0:0::1]:1883' >"$tmp/got"; jq_sel 'r["dest_ip"] == "::1" and r["dest_port"] == 1883' >"$tmp/want"; same "--broker [IPv6]:PORT" "$tmp/got" "$tmp/want"
R --broker ::1 >"$tmp/got"; same "--broker IPv6" "$tmp/got" "$tmp/want"
R --app mqtt --severity medium --kind plaintext_session >"$tmp/got"
jq_sel 'r["app_proto"] == "mqtt" and r["alert"]["kind"] == "plaintext_session"' >"$tmp/want"; same "--app + --severity + --kind" "$tmp/got" "$tmp/want"
R --app amqp >"$tmp/got"; jq_sel 'r["app_proto"] == "amqp"' >"$tmp/want"
cmp -s "$tmp/got" "$tmp/want" && ok || bad "--app amqp"

# --count: the newest N; --since ID / TIME: from there on; both: the first N from there
R --count 5 >"$tmp/got"; tail -n 5 "$tmp/all" >"$tmp/want"; same "--count 5" "$tmp/got" "$tmp/want"
R --count 3 --kind cleartext_credentials >"$tmp/got"; jq_sel 'r["alert"]["kind"] == "cleartext_credentials"' | tail -n 3 >"$tmp/want"; same "--count with --kind" "$tmp/got" "$tmp/want"
id10=$(rcli xrange brokerwatch:alerts - + COUNT 10 | awk 'NR % 15 == 1' | sed -n 10p)
R --since "$id10" >"$tmp/got"; tail -n +10 "$tmp/all" >"$tmp/want"; same "--since ID" "$tmp/got" "$tmp/want"
R --since "$id10" --count 4 >"$tmp/got"; sed -n 10,13p "$tmp/all" >"$tmp/want"; same "--since ID --count 4" "$tmp/got" "$tmp/want"
first_ms=${id10%-*}
iso=$("$BW_PY" -c 'import sys, datetime; t = int(sys.argv[1]); print(datetime.datetime.fromtimestamp(t / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t % 1000))' "$first_ms")
R --since "$iso" >"$tmp/got"
# entries of the same millisecond before id10 come too: compare with what the ID form gives from <ms>-0
R --since "$first_ms-0" >"$tmp/want"; same "--since TIME ($iso)" "$tmp/got" "$tmp/want"
R --since 2099-01-01 >"$tmp/got"; [[ ! -s $tmp/got ]] && ok || bad "--since in the future printed alerts"

# a table on a terminal (script gives the reader a pty), with a header and one row per alert
TERM=dumb script -qec "$alerts_bin --redis $url --kind auth_failure" /dev/null >"$tmp/tty" 2>&1
tr -d '\r' <"$tmp/tty" >"$tmp/table"
head -1 "$tmp/table" | grep -q '^TIME (UTC)  *SEVERITY  *KIND  *CLIENT -> BROKER  *SUMMARY' && ok || bad "table header: $(head -2 "$tmp/table")"
[[ $(($(grep -c . "$tmp/table") - 1)) -eq $(jq_sel 'r["alert"]["kind"] == "auth_failure"' | wc -l) ]] && ok || bad "table rows: $(cat "$tmp/table")"
grep -Eq '^20[0-9-]+ [0-9:]+  medium  +auth_failure +127\.0\.0\.1:[0-9]+ -> 127\.0\.0\.1:1883 +MQTT broker' "$tmp/table" && ok || bad "table row format: $(sed -n 2p "$tmp/table")"

# errors: one line, exit 2 for usage, 1 at runtime
for args in "--severity bogus" "--kind nope" "--app stomp" "--group g" "--broker 1.2.3" "--count 0" \
            "--since yesterday" "--claim-idle 5" "--json --table" "--frobnicate"; do
    # shellcheck disable=SC2086
    R $args >"$tmp/out" 2>"$tmp/err"; rc=$?
    [[ $rc -eq 2 && $(wc -l <"$tmp/err") -eq 1 && ! -s $tmp/out ]] && ok || bad "'$args': exit $rc, stderr: $(cat "$tmp/err")"
done
port=$(bw_free_port 127.0.0.1)
"$alerts_bin" --redis "redis://127.0.0.1:$port" >"$tmp/out" 2>"$tmp/err"; rc=$?
[[ $rc -eq 1 && $(wc -l <"$tmp/err") -eq 1 ]] && grep -q "cannot connect to Redis at 127.0.0.1:$port" "$tmp/err" && ok || bad "refused connection: exit $rc: $(cat "$tmp/err")"
rcli set test:notastream x >/dev/null
R --stream test:notastream >"$tmp/out" 2>"$tmp/err"; rc=$?
[[ $rc -eq 1 ]] && grep -q "holds a string, not a stream" "$tmp/err" && ok || bad "wrong key type: exit $rc: $(cat "$tmp/err")"

# --follow: alerts appear as the sensor writes them
bw_start_bg f_pid "$tmp/follow.out" "$alerts_bin" --redis "$url" --stream test:follow -f
sleep 0.5
"$bin" -q -r "$src/pcaps/mqtt_bruteforce.pcap" -o "$tmp/follow.jsonl" --redis "$url" --redis-stream test:follow 2>"$tmp/err"
want=$(grep -c '"event_type":"alert"' "$tmp/follow.jsonl")
for _ in $(seq 100); do [[ $(grep -c . "$tmp/follow.out") -ge $want ]] && break; sleep 0.1; done
bw_stop_pid "$f_pid" INT
"$BW_PY" "$check_py" lines-vs-jsonl "$tmp/follow.out" "$tmp/follow.jsonl" && ok || bad "--follow output"

# consumer group: two readers share the work, every entry printed once and acknowledged
R --group g1 --consumer c1 --count 20 >"$tmp/c1" 2>"$tmp/err" || bad "group c1: $(cat "$tmp/err")"
R --group g1 --consumer c2 >"$tmp/c2" 2>"$tmp/err" || bad "group c2: $(cat "$tmp/err")"
[[ $(wc -l <"$tmp/c1") -eq 20 ]] && ok || bad "c1 read $(wc -l <"$tmp/c1"), want 20"
cat "$tmp/c1" "$tmp/c2" >"$tmp/got"; same "group: c1 + c2" "$tmp/got" "$tmp/all"
[[ $("$BW_PY" "$check_py" pending "$RHOST" "$RPORT" "$db" brokerwatch:alerts g1) -eq 0 ]] && ok || bad "group g1: entries left pending"
R --group g1 --consumer c3 >"$tmp/got"; [[ ! -s $tmp/got ]] && ok || bad "group g1: a third reader found work left"

# a consumer that dies after reading: its entries stay pending until --claim-idle takes them
"$BW_PY" "$check_py" dead-read "$RHOST" "$RPORT" "$db" brokerwatch:alerts g2 dead 5 >/dev/null
R --group g2 --consumer c4 >"$tmp/c4"
[[ $(wc -l <"$tmp/c4") -eq $((n - 5)) ]] && ok || bad "g2/c4 without --claim-idle read $(wc -l <"$tmp/c4"), want $((n - 5))"
[[ $("$BW_PY" "$check_py" pending "$RHOST" "$RPORT" "$db" brokerwatch:alerts g2) -eq 5 ]] && ok || bad "the dead consumer's 5 entries should still be pending"
sleep 0.2
R --group g2 --consumer c5 --claim-idle 100 >"$tmp/c5"
head -n 5 "$tmp/all" >"$tmp/want"; same "--claim-idle took the dead consumer's entries" "$tmp/c5" "$tmp/want"
[[ $("$BW_PY" "$check_py" pending "$RHOST" "$RPORT" "$db" brokerwatch:alerts g2) -eq 0 ]] && ok || bad "g2: entries pending after the claim"

# --brokers (the inventory test is in test_redis_stream.sh): one row per broker, filters apply
R --brokers --broker 127.0.0.1:9001 --json >"$tmp/got"
[[ $(wc -l <"$tmp/got") -eq 1 ]] && grep -q '"address":"127.0.0.1:9001"' "$tmp/got" && ok || bad "--brokers --broker: $(cat "$tmp/got")"

finish
