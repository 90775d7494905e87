#!/usr/bin/env bash
# test_tls_known_broker.sh: a TLS session on a port nobody associates with brokers, no SNI or
# ALPN hint, counts as the broker's when the same server spoke MQTT in clear earlier in the run;
# without that earlier session it is plain TLS and not reported. Built from the real capture
# pcaps/tls_mixed.pcap (plaintext on 1883, then TLS on 8883) with 8883 rewritten to 9443.
# The memory never overrides what the hello itself names: after AMQP in clear from 127.0.0.1
# (pcaps/amqp_guest.pcap), a TLS client offering ALPN "mqtt" to that server on 18883
# (pcaps/tls_alpn_nonstd.pcap) is MQTT.
set -uo pipefail
bin=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 - "$src" "$tmp" <<'PY' || exit 1
import struct, sys
sys.path.insert(0, sys.argv[1] + "/tests/integration")
import variants
lt, pkts = variants.read_pcap(sys.argv[1] + "/pcaps/tls_mixed.pcap")
def port_swap(fr, old, new):
    et, l3 = variants.ethertype_and_l3(fr)
    if et != 0x0800 or l3[9] != 6:
        return fr
    ihl = (l3[0] & 15) * 4
    b = bytearray(fr)
    for off in (14 + ihl, 14 + ihl + 2):
        if struct.unpack(">H", b[off:off + 2])[0] == old:
            struct.pack_into(">H", b, off, new)
    return bytes(b)
moved = [(s, u, port_swap(f, 8883, 9443)) for s, u, f in pkts]
variants.write_pcap(sys.argv[2] + "/known.pcap", lt, moved)
def is_tls_port(f):
    et, l3 = variants.ethertype_and_l3(f)
    ihl = (l3[0] & 15) * 4
    return 9443 in struct.unpack(">HH", l3[ihl:ihl + 4])
variants.write_pcap(sys.argv[2] + "/alone.pcap", lt, [p for p in moved if is_tls_port(p[2])])
PY
fail=0 pass=0
"$bin" -q -r "$tmp/known.pcap" --session-log >"$tmp/known.jsonl" || { echo "FAIL: run"; exit 1; }
"$bin" -q -r "$tmp/alone.pcap" --session-log >"$tmp/alone.jsonl" || { echo "FAIL: run"; exit 1; }
n=$(grep '"event_type":"session"' "$tmp/known.jsonl" | grep '"dest_port":9443' | grep -c '"encrypted":true,' )
if [[ $n -eq 1 ]]; then pass=$((pass + 1)); echo "ok: TLS on 9443 after plaintext MQTT from the same server is the broker's"
else fail=$((fail + 1)); echo "FAIL: expected 1 TLS broker session on 9443, got $n"; fi
m=$(grep -c '"dest_port":9443' "$tmp/alone.jsonl")
if [[ $m -eq 0 ]]; then pass=$((pass + 1)); echo "ok: the same TLS session alone is not reported"
else fail=$((fail + 1)); echo "FAIL: TLS on 9443 with no evidence reported as a broker ($m records)"; fi
"$bin" -q --workers 1 -r "$src/pcaps/amqp_guest.pcap" -r "$src/pcaps/tls_alpn_nonstd.pcap" --session-log \
    >"$tmp/named.jsonl" || { echo "FAIL: run"; exit 1; }
got=$(grep '"event_type":"session"' "$tmp/named.jsonl" | grep '"dest_port":18883,' | grep -o '"app_proto":"[a-z]*"')
if [[ $got == '"app_proto":"mqtt"' ]]; then pass=$((pass + 1)); echo "ok: ALPN mqtt beats the server's AMQP past"
else fail=$((fail + 1)); echo "FAIL: TLS with ALPN mqtt after AMQP in clear on the same server: ${got:-no session}"; fi
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
