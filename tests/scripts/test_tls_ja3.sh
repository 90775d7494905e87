#!/usr/bin/env bash
# test_tls_ja3.sh: the JA3 of every ClientHello and the JA3S (hash and text) of every ServerHello
# in the bundled captures, as brokerwatch writes them in its session records, equal what tshark
# computes for the same TCP connection (tls.handshake.ja3 / ja3s / ja3s_full).
set -uo pipefail
bin=$1 src=$2
command -v tshark >/dev/null || { echo "SKIP: tshark missing"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for p in "$src"/pcaps/*.pcap; do
    name=$(basename "$p" .pcap)
    tshark -n -r "$p" -Y 'tls.handshake.type == 1 || tls.handshake.type == 2' -T fields -E separator='|' -E aggregator=';' \
        -e ip.src -e ipv6.src -e tcp.srcport -e ip.dst -e ipv6.dst -e tcp.dstport -e tls.handshake.type \
        -e tls.handshake.ja3 -e tls.handshake.ja3s -e tls.handshake.ja3s_full 2>/dev/null >"$tmp/$name.tshark"
    "$bin" -q -r "$p" --session-log 2>/dev/null | grep '"event_type":"session"' >"$tmp/$name.sessions"
done

python3 - "$tmp" <<'PY'
import glob, json, os, sys
tmp = sys.argv[1]
ok = bad = hellos = 0
def fail(msg):
    global bad
    bad += 1
    print("FAIL:", msg)
for tf in sorted(glob.glob(os.path.join(tmp, "*.tshark"))):
    name = os.path.basename(tf)[:-7]
    # per connection (client address and port, server address and port): what tshark computed
    want = {}
    for line in open(tf):
        f = line.rstrip("\n").split("|")
        if len(f) < 10:
            continue
        src, sport, dst, dport = f[0] or f[1], f[2], f[3] or f[4], f[5]
        types = f[6].split(";")
        if "1" in types and f[7]:
            want.setdefault((src, sport, dst, dport), {})["ja3"] = f[7].split(";")[0]
        if "2" in types and f[8]:
            want.setdefault((dst, dport, src, sport), {})["ja3s"] = (f[8].split(";")[0], f[9].split(";")[0])
    got = {}
    for line in open(os.path.join(tmp, name + ".sessions")):
        r = json.loads(line)
        t = r.get("tls")
        if not t:
            continue
        key = (r["src_ip"], str(r["src_port"]), r["dest_ip"], str(r["dest_port"]))
        got[key] = t
    for key, w in sorted(want.items()):
        if key not in got:
            continue    # a TLS connection no broker claimed is not in the session log
        t = got[key]
        hellos += 1
        if "ja3" in w:
            if (t.get("ja3") or {}).get("hash") == w["ja3"]: ok += 1
            else: fail(f"{name} {key}: ja3 {t.get('ja3')} != tshark {w['ja3']}")
        if "ja3s" in w:
            mine = t.get("ja3s") or {}
            if (mine.get("hash"), mine.get("string")) == w["ja3s"]: ok += 1
            else: fail(f"{name} {key}: ja3s {mine} != tshark {w['ja3s']}")
if hellos < 5:
    fail(f"only {hellos} TLS sessions compared")
print(f"{ok} passed, {bad} failed ({hellos} TLS sessions)")
sys.exit(1 if bad else 0)
PY
