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
run mqtt 5000 --expect probes
run amqp 5000 --expect probes
run syn 12000 --expect flows
exit $status
