#!/usr/bin/env bash
# test_flood.sh BROKERWATCH SRCDIR: hostile load mixed with the bundled real sessions, under
# small caps so it is quick: a flood of spoofed one-packet MQTT CONNECTs, one of AMQP protocol
# headers, and a SYN flood (tests/scripts/flood.py builds the captures in a temp dir). Every real
# alert must come out, none on a flood flow, the refusals must show as capacity records, and the
# peak RSS must stay under the pools' bounds (measured with the plain build: ASan's shadow memory
# is no measure). The same at the default caps and full size: scripts/flood-check (by hand).
set -u
exe=$1 src=$2
caps="--max-flows 2048 --max-probes 256 --max-probes-per-source 64 --max-sessions 64 --stream-memcap 2M"
rss=()
[[ -x $src/build/brokerwatch ]] && rss=(--rss-binary "$src/build/brokerwatch")
status=0
run() {
    echo "== $*"
    /usr/bin/python3 "$src/tests/scripts/flood.py" "$exe" "$@" --args "$caps" "${rss[@]}" || status=1
}
keep=$(mktemp -d /tmp/bwflood-caps.$$.XXXX)
trap 'rm -rf "$keep"' EXIT
run mqtt 5000 --expect probes --keep "$keep"
run amqp 5000 --expect probes
run syn 12000 --expect flows

# Evidence under the flood (-w, a hold of 64 slots): the flood's slots are taken back, every
# alerted real session still has its packets in the file, nothing refused.
"$exe" -q -v -r "$keep/flood_mqtt.pcap" $caps -o "$keep/ev.jsonl" -w "$keep/ev.pcap" --evidence-memcap 512K \
    --evidence-bytes 8K 2>"$keep/ev.err"
alerted=$(/usr/bin/python3 -c 'import json, sys
print(len({r["flow_id"] for r in map(json.loads, open(sys.argv[1])) if r["event_type"] == "alert"}))' "$keep/ev.jsonl")
evs=$(grep -o '"evidence":{"sessions":[0-9]*' "$keep/ev.err" | tail -1 | grep -o '[0-9]*$')
if [[ ${evs:-0} -eq $alerted && $alerted -gt 0 ]] && grep -q '"hold_refused":0,"hold_reclaimed":[1-9]' "$keep/ev.err"; then
    echo "ok   evidence: $evs sessions written for $alerted alerted sessions, the flood's slots taken back"
else
    echo "FAIL evidence: ${evs:-?} sessions written for $alerted alerted: $(grep -o '"evidence":{[^}]*}' "$keep/ev.err" | tail -1)"
    status=1
fi

# Capacity records reach Redis too (scripts/test provides a server): entries of the sensor's
# stats stream, beside the alerts in its alert stream.
if [[ -n ${BW_TEST_REDIS_PORT:-} ]] && command -v redis-cli >/dev/null; then
    name="bwflood-$$"
    rc() { redis-cli -h "${BW_TEST_REDIS_HOST:-127.0.0.1}" -p "$BW_TEST_REDIS_PORT" "$@"; }
    "$exe" -q -r "$keep/flood_mqtt.pcap" $caps --sensor-name "$name" \
        --redis "redis://${BW_TEST_REDIS_HOST:-127.0.0.1}:$BW_TEST_REDIS_PORT" 2>/dev/null
    entries=$(rc XRANGE "brokerwatch:{$name}:stats" - + | grep -c '"event_type":"capacity"')
    probes=$(rc XRANGE "brokerwatch:{$name}:stats" - + | grep -c '"resource":"probes"')
    alerts=$(rc XRANGE "brokerwatch:{$name}:alerts" - + | grep -c '"event_type":"alert"')
    rc DEL "brokerwatch:{$name}:stats" "brokerwatch:{$name}:alerts" "brokerwatch:{$name}:sensor" \
        "brokerwatch:{$name}:brokers" "brokerwatch:{$name}:clients" >/dev/null
    rc ZREM brokerwatch:sensors "$name" >/dev/null
    if ((entries > 0 && probes == entries && alerts > 0)); then
        echo "ok   redis: $entries capacity entries (probes) in the stats stream, $alerts alerts in the alert stream"
    else
        echo "FAIL redis: $entries capacity entries ($probes for probes), $alerts alerts"
        status=1
    fi
else
    echo "skip redis: no test Redis (BW_TEST_REDIS_PORT) or no redis-cli"
fi
exit $status
