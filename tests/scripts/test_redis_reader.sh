#!/usr/bin/env bash
# test_redis_reader.sh: brokerwatch-alerts against streams two sensors filled from the bundled
# captures: by default every registered sensor's alerts, each once, in its order, merged by time;
# --sensor NAME gives one sensor's, equal to its JSONL; each filter (--kind, --severity, --broker,
# --app) and --count / --since (ID and time) select exactly what the JSONL says; a table on a
# terminal; --follow prints alerts as they arrive, also from a sensor that starts later; a consumer
# group splits the work between two readers with every entry acknowledged once, --claim-idle takes
# over what a dead consumer left pending; a filtered group reader acknowledges only what it prints
# (the rest stays pending for others, --ack-filtered acknowledges it); an empty or missing stream
# and an empty registry are said in one line on a terminal; --kind lists the valid kinds; one-line
# errors with exit 1 (runtime) and 2 (usage). Database 10 of the shared test Redis.
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

# No sensor yet: said in one line on a terminal, nothing on stdout; silent when not a terminal.
TERM=dumb script -qec "$alerts_bin --redis $url" /dev/null >"$tmp/tty" 2>&1; rc=$?
tr -d '\r' <"$tmp/tty" >"$tmp/msg"
[[ $rc -eq 0 && $(grep -c . "$tmp/msg") -eq 1 ]] && grep -q "no sensor has written to Redis at $RHOST:$RPORT/$db yet" "$tmp/msg" && ok ||
    bad "empty registry on a terminal: exit $rc: $(cat "$tmp/msg")"
R >"$tmp/got" 2>"$tmp/err"; [[ ! -s $tmp/got && ! -s $tmp/err ]] && ok || bad "empty registry, not a terminal: $(cat "$tmp/err")"

# Two sensors: t-reader replays every capture, t-r2 the MQTT ones at the same time (interleaved).
# shellcheck disable=SC2086
"$bin" -q $files --sensor-name t-reader -o "$tmp/ref.jsonl" --redis "$url" 2>"$tmp/err" || bad "fill: $(cat "$tmp/err")"
rl_files 'mqtt_*.pcap'
# shellcheck disable=SC2086
"$bin" -q $RL_FILES --sensor-name t-r2 -o "$tmp/ref2.jsonl" --redis "$url" 2>"$tmp/err" || bad "fill t-r2: $(cat "$tmp/err")"
grep '"event_type":"alert"' "$tmp/ref.jsonl" >"$tmp/all"
n=$(wc -l <"$tmp/all")

# By default: both sensors' alerts, each once and in its order, merged by capture time.
R >"$tmp/got" 2>"$tmp/err"
"$BW_PY" "$check_py" merged "$tmp/got" "$tmp/ref.jsonl" "$tmp/ref2.jsonl" && ok || bad "default output is not both sensors merged"
R --group gm --consumer c1 >"$tmp/got" 2>"$tmp/err"
"$BW_PY" "$check_py" merged "$tmp/got" "$tmp/ref.jsonl" "$tmp/ref2.jsonl" && ok || bad "a group over both sensors is not merged"
R --count 7 >"$tmp/got"
"$BW_PY" - "$tmp/got" "$tmp/ref.jsonl" "$tmp/ref2.jsonl" <<'EOF' && ok || bad "--count over both sensors: not the newest 7, oldest first"
import json, sys
got = [l.rstrip("\n") for l in open(sys.argv[1])]
every = sorted((json.loads(l)["timestamp"], l.rstrip("\n")) for f in sys.argv[2:] for l in open(f) if '"event_type":"alert"' in l)
assert [json.loads(l)["timestamp"] for l in got] == [t for t, _ in every[-7:]], got
EOF

# One sensor (--sensor): JSON lines by default when stdout is not a terminal, oldest first
R() { "$alerts_bin" --redis "$url" --sensor t-reader "$@"; }
R >"$tmp/got" 2>"$tmp/err"; same "--sensor: default output" "$tmp/got" "$tmp/all"
R --json >"$tmp/got"; same "--json" "$tmp/got" "$tmp/all"
"$alerts_bin" --redis "$url" --stream 'brokerwatch:{t-reader}:alerts' >"$tmp/got"; same "--stream" "$tmp/got" "$tmp/all"

# filters
R --kind auth_failure >"$tmp/got"; jq_sel 'r["alert"]["kind"] == "auth_failure"' >"$tmp/want"; same "--kind" "$tmp/got" "$tmp/want"
R --kind auth_failure,bruteforce --kind default_credentials >"$tmp/got"
jq_sel 'r["alert"]["kind"] in ("auth_failure", "bruteforce", "default_credentials")' >"$tmp/want"; same "--kind list" "$tmp/got" "$tmp/want"
R --severity high >"$tmp/got"; jq_sel 'r["alert"]["metadata"]["signature_severity"][0] in ("high", "critical")' >"$tmp/want"; same "--severity high" "$tmp/got" "$tmp/want"
R --severity critical >"$tmp/got"; jq_sel 'r["alert"]["metadata"]["signature_severity"][0] == "critical"' >"$tmp/want"; same "--severity critical" "$tmp/got" "$tmp/want"
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
id10=$(rcli xrange 'brokerwatch:{t-reader}:alerts' - + COUNT 10 | awk 'NR % 19 == 1' | sed -n 10p)
R --since "$id10" >"$tmp/got"; tail -n +10 "$tmp/all" >"$tmp/want"; same "--since ID" "$tmp/got" "$tmp/want"
R --since "$id10" --count 4 >"$tmp/got"; sed -n 10,13p "$tmp/all" >"$tmp/want"; same "--since ID --count 4" "$tmp/got" "$tmp/want"
first_ms=${id10%-*}
iso=$("$BW_PY" -c 'import sys, datetime; t = int(sys.argv[1]); print(datetime.datetime.fromtimestamp(t / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t % 1000))' "$first_ms")
R --since "$iso" >"$tmp/got"
# entries of the same millisecond before id10 come too: compare with what the ID form gives from <ms>-0
R --since "$first_ms-0" >"$tmp/want"; same "--since TIME ($iso)" "$tmp/got" "$tmp/want"
R --since 2099-01-01 >"$tmp/got"; [[ ! -s $tmp/got ]] && ok || bad "--since in the future printed alerts"

# a table on a terminal (script gives the reader a pty), with a header and one row per alert
TERM=dumb script -qec "$alerts_bin --redis $url --sensor t-reader --kind auth_failure" /dev/null >"$tmp/tty" 2>&1
tr -d '\r' <"$tmp/tty" >"$tmp/table"
head -1 "$tmp/table" | grep -q '^TIME (UTC)  *SEVERITY  *KIND  *CLIENT -> BROKER  *SUMMARY' && ok || bad "table header: $(head -2 "$tmp/table")"
[[ $(($(grep -c . "$tmp/table") - 1)) -eq $(jq_sel 'r["alert"]["kind"] == "auth_failure"' | wc -l) ]] && ok || bad "table rows: $(cat "$tmp/table")"
grep -Eq '^20[0-9-]+ [0-9:]+  medium  +auth_failure +127\.0\.0\.1:[0-9]+ -> 127\.0\.0\.1:1883 +MQTT broker' "$tmp/table" && ok || bad "table row format: $(sed -n 2p "$tmp/table")"

# several sensors: the table names each alert's sensor
TERM=dumb script -qec "$alerts_bin --redis $url --kind auth_failure" /dev/null >"$tmp/tty" 2>&1
tr -d '\r' <"$tmp/tty" >"$tmp/table"
head -1 "$tmp/table" | grep -q '^TIME (UTC)  *SENSOR  *SEVERITY  *KIND' && ok || bad "table with sensors: $(head -2 "$tmp/table")"
grep -Eq '^20[0-9-]+ [0-9:]+  t-r2  +medium  +auth_failure ' "$tmp/table" && ok || bad "table row with its sensor: $(sed -n 2p "$tmp/table")"

# --kind with an unknown name lists the valid ones
R --kind foo >"$tmp/out" 2>"$tmp/err"; rc=$?
[[ $rc -eq 2 ]] && grep -q "unknown --kind 'foo'; the kinds are plaintext_session, anonymous_session, .*weak_tls" "$tmp/err" && ok ||
    bad "--kind foo: exit $rc: $(cat "$tmp/err")"

# an empty or a missing stream: one line on a terminal
rcli xgroup create test:empty g '$' MKSTREAM >/dev/null
for k in test:empty test:missing; do
    TERM=dumb script -qec "$alerts_bin --redis $url --stream $k" /dev/null >"$tmp/tty" 2>&1
    tr -d '\r' <"$tmp/tty" >"$tmp/msg"
    want_msg="stream $k is empty at $RHOST:$RPORT/$db"
    [[ $k == test:missing ]] && want_msg="stream $k does not exist at $RHOST:$RPORT/$db"
    [[ $(grep -c . "$tmp/msg") -eq 1 ]] && grep -q "$want_msg" "$tmp/msg" && ok || bad "$k on a terminal: $(cat "$tmp/msg")"
done
TERM=dumb script -qec "$alerts_bin --redis $url --sensor t-reader --kind wildcard_subscribe --app amqp" /dev/null >"$tmp/tty" 2>&1
tr -d '\r' <"$tmp/tty" >"$tmp/msg"
grep -q "no alert matches the filters ($n read)" "$tmp/msg" && ok || bad "nothing matching on a terminal: $(cat "$tmp/msg")"

# errors: one line, exit 2 for usage, 1 at runtime
for args in "--severity bogus" "--kind nope" "--app stomp" "--group g" "--broker 1.2.3" "--count 0" \
            "--since yesterday" "--claim-idle 5" "--json --table" "--frobnicate" "--ack-filtered" \
            "--sensor a{b}" "--stream s --sensor x" "--brokers -f" "--sensors --group g --consumer c"; do
    # shellcheck disable=SC2086
    R $args >"$tmp/out" 2>"$tmp/err"; rc=$?
    [[ $rc -eq 2 && $(wc -l <"$tmp/err") -eq 1 && ! -s $tmp/out ]] && ok || bad "'$args': exit $rc, stderr: $(cat "$tmp/err")"
done
port=$(bw_free_port 127.0.0.1)
"$alerts_bin" --redis "redis://127.0.0.1:$port" >"$tmp/out" 2>"$tmp/err"; rc=$?
[[ $rc -eq 1 && $(wc -l <"$tmp/err") -eq 1 ]] && grep -q "cannot connect to Redis at 127.0.0.1:$port" "$tmp/err" && ok || bad "refused connection: exit $rc: $(cat "$tmp/err")"
rcli set test:notastream x >/dev/null
"$alerts_bin" --redis "$url" --stream test:notastream >"$tmp/out" 2>"$tmp/err"; rc=$?
[[ $rc -eq 1 ]] && grep -q "holds a string, not a stream" "$tmp/err" && ok || bad "wrong key type: exit $rc: $(cat "$tmp/err")"

# --follow: alerts appear as the sensor writes them
bw_start_bg f_pid "$tmp/follow.out" "$alerts_bin" --redis "$url" --stream test:follow -f
# and following every sensor: one that registers after the reader started is picked up
bw_start_bg fa_pid "$tmp/follow-all.out" "$alerts_bin" --redis "$url" -f
sleep 0.5
"$bin" -q -r "$src/pcaps/mqtt_bruteforce.pcap" -o "$tmp/follow.jsonl" --redis "$url" --redis-stream test:follow \
    --sensor-name t-follow 2>"$tmp/err"
"$bin" -q -r "$src/pcaps/mqtt_bruteforce.pcap" -o "$tmp/follow-new.jsonl" --redis "$url" --sensor-name t-new 2>"$tmp/err"
want=$(grep -c '"event_type":"alert"' "$tmp/follow.jsonl")
for _ in $(seq 100); do [[ $(grep -c . "$tmp/follow.out") -ge $want ]] && break; sleep 0.1; done
for _ in $(seq 150); do [[ $(grep -c . "$tmp/follow-all.out") -ge $((2 * want)) ]] && break; sleep 0.1; done
bw_stop_pid "$f_pid" INT
bw_stop_pid "$fa_pid" INT
"$BW_PY" "$check_py" lines-vs-jsonl "$tmp/follow.out" "$tmp/follow.jsonl" && ok || bad "--follow output"
"$BW_PY" "$check_py" merged "$tmp/follow-all.out" "$tmp/follow.jsonl" "$tmp/follow-new.jsonl" && ok ||
    bad "--follow of every sensor: the alerts of both (one registered later) once each, in order"

# consumer group: two readers share the work, every entry printed once and acknowledged
S='brokerwatch:{t-reader}:alerts'
R --group g1 --consumer c1 --count 20 >"$tmp/c1" 2>"$tmp/err" || bad "group c1: $(cat "$tmp/err")"
R --group g1 --consumer c2 >"$tmp/c2" 2>"$tmp/err" || bad "group c2: $(cat "$tmp/err")"
[[ $(wc -l <"$tmp/c1") -eq 20 ]] && ok || bad "c1 read $(wc -l <"$tmp/c1"), want 20"
cat "$tmp/c1" "$tmp/c2" >"$tmp/got"; same "group: c1 + c2" "$tmp/got" "$tmp/all"
[[ $("$BW_PY" "$check_py" pending "$RHOST" "$RPORT" "$db" "$S" g1) -eq 0 ]] && ok || bad "group g1: entries left pending"
R --group g1 --consumer c3 >"$tmp/got"; [[ ! -s $tmp/got ]] && ok || bad "group g1: a third reader found work left"

# a consumer that dies after reading: its entries stay pending until --claim-idle takes them
"$BW_PY" "$check_py" dead-read "$RHOST" "$RPORT" "$db" "$S" g2 dead 5 >/dev/null
R --group g2 --consumer c4 >"$tmp/c4"
[[ $(wc -l <"$tmp/c4") -eq $((n - 5)) ]] && ok || bad "g2/c4 without --claim-idle read $(wc -l <"$tmp/c4"), want $((n - 5))"
[[ $("$BW_PY" "$check_py" pending "$RHOST" "$RPORT" "$db" "$S" g2) -eq 5 ]] && ok || bad "the dead consumer's 5 entries should still be pending"
sleep 0.2
R --group g2 --consumer c5 --claim-idle 100 >"$tmp/c5"
head -n 5 "$tmp/all" >"$tmp/want"; same "--claim-idle took the dead consumer's entries" "$tmp/c5" "$tmp/want"
[[ $("$BW_PY" "$check_py" pending "$RHOST" "$RPORT" "$db" "$S" g2) -eq 0 ]] && ok || bad "g2: entries pending after the claim"

# a filtered group reader acknowledges only what it prints: the rest stays pending for others
R --group g3 --consumer crit --severity critical >"$tmp/crit"
jq_sel 'r["alert"]["metadata"]["signature_severity"][0] == "critical"' >"$tmp/want"; same "group + --severity critical" "$tmp/crit" "$tmp/want"
ncrit=$(wc -l <"$tmp/want")
[[ $("$BW_PY" "$check_py" pending "$RHOST" "$RPORT" "$db" "$S" g3) -eq $((n - ncrit)) ]] && ok ||
    bad "g3: the $((n - ncrit)) entries the filter left out should stay pending"
# run again: its own pending entries are read again, nothing new printed, nothing acknowledged
R --group g3 --consumer crit --severity critical >"$tmp/got"; [[ ! -s $tmp/got ]] && ok || bad "g3 again printed $(wc -l <"$tmp/got")"
[[ $("$BW_PY" "$check_py" pending "$RHOST" "$RPORT" "$db" "$S" g3) -eq $((n - ncrit)) ]] && ok || bad "g3: a second run acknowledged entries it did not print"
# on a terminal it says what stays pending
TERM=dumb script -qec "$alerts_bin --redis $url --sensor t-reader --group g3 --consumer crit --severity critical --json" /dev/null >"$tmp/tty" 2>&1
tr -d '\r' <"$tmp/tty" | grep -q "$((n - ncrit)) entries the filters left out stay pending for group g3 (--ack-filtered acknowledges them)" && ok ||
    bad "g3 on a terminal: $(tr -d '\r' <"$tmp/tty")"
# another consumer takes over only what it prints: the authentication failures
sleep 0.2
R --group g3 --consumer auth --kind auth_failure --claim-idle 100 >"$tmp/auth"
jq_sel 'r["alert"]["kind"] == "auth_failure"' >"$tmp/want"; same "g3: --claim-idle with a filter took its kind" "$tmp/auth" "$tmp/want"
nauth=$(wc -l <"$tmp/want")
[[ $("$BW_PY" "$check_py" pending "$RHOST" "$RPORT" "$db" "$S" g3) -eq $((n - ncrit - nauth)) ]] && ok ||
    bad "g3: after the auth_failure consumer, $((n - ncrit - nauth)) should be pending"
# --ack-filtered: a reader that prints plaintext sessions acknowledges all it reads
sleep 0.2
R --group g3 --consumer rest --kind plaintext_session --claim-idle 100 --ack-filtered >"$tmp/rest"
jq_sel 'r["alert"]["kind"] == "plaintext_session"' >"$tmp/want"; same "g3: --ack-filtered printed its kind" "$tmp/rest" "$tmp/want"
[[ $("$BW_PY" "$check_py" pending "$RHOST" "$RPORT" "$db" "$S" g3) -eq 0 ]] && ok || bad "g3: --ack-filtered left entries pending"

# --brokers (the inventory test is in test_redis_stream.sh): one row per broker, filters apply
R --brokers --broker 127.0.0.1:9001 --json >"$tmp/got"
[[ $(wc -l <"$tmp/got") -eq 1 ]] && grep -q '"address":"127.0.0.1:9001"' "$tmp/got" && ok || bad "--brokers --broker: $(cat "$tmp/got")"

# --sensors: every registered sensor with its last_seen and counters
"$alerts_bin" --redis "$url" --sensors --json >"$tmp/sensors"
"$BW_PY" - "$tmp/sensors" "$tmp/ref.jsonl" <<'EOF' && ok || bad "--sensors: $(cat "$tmp/sensors")"
import json, sys
rows = {r["sensor"]: r for r in map(json.loads, open(sys.argv[1]))}
assert set(rows) == {"t-reader", "t-r2", "t-follow", "t-new"}, rows
alerts = sum(1 for l in open(sys.argv[2]) if '"event_type":"alert"' in l)
assert rows["t-reader"]["alerts"] == alerts and rows["t-reader"]["silent_s"] < 120, rows["t-reader"]
assert rows["t-follow"]["stream"] == "test:follow", rows["t-follow"]
EOF

finish
