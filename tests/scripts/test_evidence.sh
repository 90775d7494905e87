#!/usr/bin/env bash
# test_evidence.sh: -w writes the alerted sessions of the bundled captures with credentials, and
# tshark reads them back: the same TCP sessions as the alerts name, the same user names as
# tshark sees in the original capture, every password overwritten with '*' (same length, none
# of scripts/pcaps/passwords.txt in the file, which the original does contain), every TCP
# checksum valid; MQTT over WebSocket keeps the client's bytes but for the password; two link
# types in one run both land in the file; the per-session and per-run caps are hit, counted and
# said at exit; the writer appends to its own pcap and refuses a file that is not one.
set -uo pipefail
bin=$1 src=$2
command -v tshark >/dev/null || { echo "SKIP: tshark missing"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
list=$src/scripts/pcaps/passwords.txt
fail=0 pass=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
ts() { tshark -n "$@" 2>/dev/null; }

# Credentials in a capture as tshark decodes them: "user<TAB>password" per CONNECT/Start-Ok/init.
creds() {
    {
        ts -r "$1" -Y 'mqtt.msgtype == 1' -T fields -e mqtt.username -e mqtt.passwd | sed 's/^/mqtt\t/'
        ts -r "$1" -Y 'amqp.method.arguments.response' -T fields -e amqp.method.arguments.mechanism \
            -e amqp.method.arguments.response | sed 's/^/091\t/'
        ts -r "$1" -Y 'amqp.sasl.initResponse' -T fields -e amqp.sasl.mechanism -e amqp.sasl.initResponse \
            | sed 's/^/10\t/'
    } | python3 -c '
import sys
def amqplain(b, key):
    i = b.find(bytes([len(key)]) + key + b"S")
    if i < 0: return b"?"
    i += 2 + len(key)
    n = int.from_bytes(b[i:i + 4], "big")
    return b[i + 4:i + 4 + n]
for line in sys.stdin:
    f = line.rstrip("\n").split("\t")
    if f[0] == "mqtt":
        print(f[1] + "\t" + (f[2] if len(f) > 2 else ""))
        continue
    mech, resp = f[1], bytes.fromhex(f[2].replace(":", "")) if len(f) > 2 else b""
    if mech == "AMQPLAIN":
        u, p = amqplain(resp, b"LOGIN"), amqplain(resp, b"PASSWORD")
    else:
        parts = resp.split(b"\0")
        u, p = (parts[1], b"\0".join(parts[2:])) if len(parts) >= 3 else (b"?", b"?")
    print(u.decode("latin-1") + "\t" + p.decode("latin-1"))
' | sort
}

# TCP sessions as "a:port b:port", sorted, from a capture.
sessions() { ts -r "$1" -T fields -e ip.src -e ipv6.src -e tcp.srcport -e ip.dst -e ipv6.dst -e tcp.dstport |
    awk -F'\t' '{ s = $1 $2 ":" $3; d = $4 $5 ":" $6; print (s < d ? s " " d : d " " s) }' | sort -u; }

# The alerts' sessions, from the JSON lines.
alerted() { python3 -c '
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r.get("event_type") != "alert": continue
    s, d = "%s:%s" % (r["src_ip"], r["src_port"]), "%s:%s" % (r["dest_ip"], r["dest_port"])
    print(s + " " + d if s < d else d + " " + s)
' "$1" | sort -u; }

for cap in mqtt_creds amqp_user amqp10_plain_ok mqtt_bruteforce amqp_amqplain mqtt_bytewise mqtt_ipv6; do
    orig=$src/pcaps/$cap.pcap ev=$tmp/$cap.pcap
    [[ -r $orig ]] || { bad "$cap: capture missing"; continue; }
    # mqtt_bytewise sends its CONNECT a byte per segment: keep all of it
    "$bin" -q -r "$orig" -w "$ev" --evidence-packets 1000 -o "$tmp/$cap.jsonl" 2>"$tmp/$cap.err" ||
        { bad "$cap: exit $?: $(cat "$tmp/$cap.err")"; continue; }
    [[ -s $ev ]] || { bad "$cap: no evidence file"; continue; }
    # the same sessions as the alerts name
    a=$(alerted "$tmp/$cap.jsonl") e=$(sessions "$ev")
    [[ -n $a && $a == "$e" ]] && ok || bad "$cap: sessions in the file '$e' are not the alerted '$a'"
    # the same user names, every password byte a '*', the same length
    co=$(creds "$orig") ce=$(creds "$ev")
    [[ -n $co ]] || { bad "$cap: tshark sees no credentials in the original"; continue; }
    uo=$(cut -f1 <<<"$co") ue=$(cut -f1 <<<"$ce")
    [[ $uo == "$ue" ]] && ok || bad "$cap: user names '$ue', the original has '$uo'"
    masked=$(awk -F'\t' '{ p = $2; gsub(/\*/, "", p); if (p != "" || $2 == "") print "x" }' <<<"$ce")
    [[ -z $masked ]] && ok || bad "$cap: a password is not wholly overwritten: $(cut -f2 <<<"$ce" | tr '\n' ' ')"
    lo=$(awk -F'\t' '{ print length($2) }' <<<"$co") le=$(awk -F'\t' '{ print length($2) }' <<<"$ce")
    [[ $lo == "$le" ]] && ok || bad "$cap: password lengths '$le', the original has '$lo'"
    # no known password in the file (and the original does hold one whole, so the check can
    # fail; mqtt_bytewise has it a byte per frame, checked through tshark above)
    if [[ $cap != mqtt_bytewise ]]; then
        if grep -qaF -f <(grep -v '^#' "$list" | grep .) "$orig"; then ok; else bad "$cap: original holds no listed password"; fi
    fi
    if grep -qaF -f <(grep -v '^#' "$list" | grep .) "$ev"; then bad "$cap: a password is in the evidence file"; else ok; fi
    # every TCP checksum verified good, none bad
    n=$(ts -r "$ev" | wc -l)
    good=$(ts -r "$ev" -o tcp.check_checksum:TRUE -Y 'tcp.checksum.status == 1' | wc -l)
    badck=$(ts -r "$ev" -o tcp.check_checksum:TRUE -Y 'tcp.checksum.status == 0' | wc -l)
    [[ $n -gt 0 && $good -eq $n && $badck -eq 0 ]] && ok || bad "$cap: $n frames, $good good checksums, $badck bad"
done

# MQTT over WebSocket (tshark 4.0 does not read MQTT inside WebSocket frames, so the frames are
# unmasked here): per session, the client's bytes after the upgrade, unmasked, are those of the
# original except the CONNECT's password, which reads as '*' (same length; a session without one
# is unchanged); a listed password is in the original's unmasked bytes and not in the evidence's.
ws_client() { python3 - "$1" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
e = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
off, seen, streams = 24, set(), {}
while off + 16 <= len(data):
    caplen = struct.unpack(e + "I", data[off + 8:off + 12])[0]
    fr = data[off + 16:off + 16 + caplen]
    off += 16 + caplen
    if fr[12:14] != b"\x08\x00" or fr[23] != 6:
        continue
    ihl = (fr[14] & 15) * 4
    t = 14 + ihl
    sport, dport, seq = struct.unpack(">HHI", fr[t:t + 8])
    pay = fr[t + (fr[t + 12] >> 4) * 4:14 + struct.unpack(">H", fr[16:18])[0]]
    key = (fr[26:30], sport)
    if not pay or (key, seq) in seen:
        continue
    seen.add((key, seq))
    streams.setdefault(key, b"")
    streams[key] += pay
for key, s in sorted(streams.items()):
    if not s.startswith(b"GET "):
        continue
    i = s.find(b"\r\n\r\n") + 4
    out = b""
    while i + 2 <= len(s):
        b1 = s[i + 1]
        n, i = b1 & 127, i + 2
        if n == 126:
            n, i = struct.unpack(">H", s[i:i + 2])[0], i + 2
        elif n == 127:
            n, i = struct.unpack(">Q", s[i:i + 8])[0], i + 8
        k = s[i:i + 4] if b1 & 128 else b"\0\0\0\0"
        i += 4 if b1 & 128 else 0
        out += bytes(c ^ k[j & 3] for j, c in enumerate(s[i:i + n]))
        i += n
    # where the first CONNECT's password lies (3.1.1 and 5.0)
    def s16(p): return struct.unpack(">H", out[p:p + 2])[0]
    def past_props(p):                             # a 5.0 property length, then the properties
        m, sh = 0, 0
        while True:
            m |= (out[p] & 127) << sh; sh += 7; p += 1
            if not out[p - 1] & 128: return p + m
    p = 1
    while out[p] & 128: p += 1
    p += 1
    p += 2 + s16(p)
    level, flags = out[p], out[p + 1]
    p += 4
    if level == 5: p = past_props(p)
    p += 2 + s16(p)
    if flags & 4:
        if level == 5: p = past_props(p)
        p += 2 + s16(p); p += 2 + s16(p)
    if flags & 128: p += 2 + s16(p)
    pw = (p + 2, s16(p)) if flags & 64 else (p, 0)
    print("%s:%d %d %d %s" % (".".join(map(str, key[0])), key[1], pw[0], pw[1], out.hex()))
PY
}
for cap in mqtt_websocket mqtt_ws_browser; do
    orig=$src/pcaps/$cap.pcap ev=$tmp/$cap.pcap
    "$bin" -q -r "$orig" -w "$ev" --evidence-packets 1000 -o "$tmp/$cap.jsonl" 2>"$tmp/$cap.err" ||
        { bad "$cap: exit $?: $(cat "$tmp/$cap.err")"; continue; }
    out=$(python3 - <(ws_client "$orig") <(ws_client "$ev") "$list" <<'PY'
import sys
rows = [dict((l.split()[0], l.split()[1:]) for l in open(f)) for f in sys.argv[1:3]]
words = [w.strip().encode() for w in open(sys.argv[3]) if w.strip() and not w.startswith("#")]
o, e = rows
if not o or set(o) != set(e):
    print("sessions %s in the evidence, %s in the original" % (sorted(e), sorted(o))); sys.exit()
if all(int(o[k][1]) == 0 for k in o): print("no session with a password in the original")
for k in o:
    at, n, ob = int(o[k][0]), int(o[k][1]), bytes.fromhex(o[k][2])
    eb = bytes.fromhex(e[k][2])
    if n and not any(w in ob for w in words): print(k, "no listed password in the original"); continue
    if any(w in eb for w in words): print(k, "a listed password in the evidence"); continue
    want = ob[:at] + b"*" * n + ob[at + n:]
    if eb != want:
        d = [i for i in range(min(len(eb), len(want))) if eb[i] != want[i]]
        print(k, "client bytes differ from the original but for the password: %d and %d bytes, first at %s"
              % (len(eb), len(want), d[:1]))
PY
)
    [[ -z $out ]] && ok || bad "$cap: $out"
done

# Two files of two link types in one run (an Ethernet capture and a Linux cooked one made here
# from a real capture): the file takes the first one's link type and the other's packets get its
# link header, so both sessions are in it, as tshark reads them, credentials masked.
python3 - "$src/pcaps/amqp_user.pcap" "$tmp/amqp_user_sll.pcap" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
e = "<" if data[:4] == b"\xd4\xc3\xb2\xa1" else ">"
out = bytearray(struct.pack(e + "IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 113))
off = 24
while off + 16 <= len(data):
    sec, usec, caplen, wire = struct.unpack(e + "IIII", data[off:off + 16])
    fr = data[off + 16:off + 16 + caplen]
    off += 16 + caplen
    sll = struct.pack(">HHH8sH", 0, 1, 6, fr[6:12] + b"\0\0", struct.unpack(">H", fr[12:14])[0])
    out += struct.pack(e + "IIII", sec, usec, caplen - 14 + 16, wire - 14 + 16) + sll + fr[14:]
open(sys.argv[2], "wb").write(out)
PY
linktype() { python3 -c 'import struct,sys; print(struct.unpack("<I", open(sys.argv[1],"rb").read()[20:24])[0])' "$1"; }
for order in eth-first sll-first; do
    a=$src/pcaps/mqtt_creds.pcap b=$tmp/amqp_user_sll.pcap want=1
    [[ $order == sll-first ]] && { a=$tmp/amqp_user_sll.pcap b=$src/pcaps/mqtt_creds.pcap want=113; }
    ev=$tmp/mixed-$order.pcap
    "$bin" -r "$a" -r "$b" -w "$ev" --evidence-packets 1000 -o "$tmp/mixed-$order.jsonl" 2>"$tmp/mixed.err" ||
        { bad "$order: exit $?: $(cat "$tmp/mixed.err")"; continue; }
    [[ $(linktype "$ev") == "$want" ]] && ok || bad "$order: link type $(linktype "$ev"), want $want"
    al=$(alerted "$tmp/mixed-$order.jsonl") se=$(sessions "$ev")
    [[ $(wc -l <<<"$al") -ge 2 && $al == "$se" ]] && ok || bad "$order: sessions in the file '$se' are not the alerted '$al'"
    co=$( { creds "$src/pcaps/mqtt_creds.pcap"; creds "$src/pcaps/amqp_user.pcap"; } | sort) ce=$(creds "$ev")
    [[ $(cut -f1 <<<"$co") == "$(cut -f1 <<<"$ce")" ]] && ok || bad "$order: user names '$(cut -f1 <<<"$ce")', want '$(cut -f1 <<<"$co")'"
    masked=$(awk -F'\t' '{ p = $2; gsub(/\*/, "", p); if (p != "" || $2 == "") print "x" }' <<<"$ce")
    [[ -n $ce && -z $masked ]] && ok || bad "$order: a password is not overwritten: $(cut -f2 <<<"$ce" | tr '\n' ' ')"
    n=$(ts -r "$ev" | wc -l) good=$(ts -r "$ev" -o tcp.check_checksum:TRUE -Y 'tcp.checksum.status == 1' | wc -l)
    [[ $n -gt 0 && $good -eq $n ]] && ok || bad "$order: $n frames, $good good checksums"
    grep -q "packets of another link type written with the file's link header" "$tmp/mixed.err" && ok ||
        bad "$order: the exit line does not say so: $(cat "$tmp/mixed.err")"
done

# Caps: 3 packets per session; the exit line and the counters say it.
cap=$src/pcaps/mqtt_bruteforce.pcap
"$bin" -v -r "$cap" -w "$tmp/small.pcap" --evidence-packets 3 -o /dev/null 2>"$tmp/small.err"
nsess=$(grep -o '"sessions":[0-9]*,"packets"' "$tmp/small.err" | head -1 | grep -o '[0-9]*' | head -1)
frames=$(ts -r "$tmp/small.pcap" | wc -l)
[[ ${nsess:-0} -gt 0 && $frames -le $((3 * nsess)) && $frames -gt 0 ]] && ok ||
    bad "--evidence-packets 3: $frames frames for ${nsess:-?} sessions"
grep -q '"session_caps":[1-9]' "$tmp/small.err" && ok || bad "--evidence-packets 3: not counted in stats"
grep -q 'sessions cut at --evidence-packets' "$tmp/small.err" && ok || bad "--evidence-packets 3: not in the exit line"
"$bin" -v -r "$cap" -w "$tmp/total.pcap" --evidence-max-total 3000 -o /dev/null 2>"$tmp/total.err"
size=$(stat -c %s "$tmp/total.pcap")
[[ $size -le 3000 && $size -gt 24 ]] && ok || bad "--evidence-max-total 3000: the file has $size bytes"
grep -q '"sessions_over_total":[1-9]' "$tmp/total.err" && ok || bad "--evidence-max-total: not counted"
grep -q 'left out at --evidence-max-total' "$tmp/total.err" && ok || bad "--evidence-max-total: not in the exit line"
ts -r "$tmp/total.pcap" >/dev/null && ok || bad "--evidence-max-total: the file does not open"

# Appending: a second run adds its sessions to the same file, which stays one valid capture.
n1=$(ts -r "$tmp/mqtt_creds.pcap" | wc -l)
"$bin" -q -r "$src/pcaps/mqtt_creds.pcap" -w "$tmp/mqtt_creds.pcap" -o /dev/null
n2=$(ts -r "$tmp/mqtt_creds.pcap" | wc -l)
[[ $n2 -eq $((2 * n1)) ]] && ok || bad "append: $n1 frames, then $n2"
# A run without alerts leaves a valid, empty capture.
"$bin" -q -r "$src/pcaps/tls_good.pcap" -w "$tmp/none.pcap" -o "$tmp/none.jsonl"
if grep -q '"event_type":"alert"' "$tmp/none.jsonl"; then :; else
    [[ $(stat -c %s "$tmp/none.pcap") -eq 24 ]] && ts -r "$tmp/none.pcap" >/dev/null && ok || bad "no alerts: not an empty pcap"
fi
# Not a pcap: refused in one line, the file untouched.
echo "notes" >"$tmp/notes.txt"
out=$("$bin" -q -r "$cap" -w "$tmp/notes.txt" -o /dev/null 2>&1); rc=$?
[[ $rc -eq 1 && $out == *"is not a pcap file"* && $(cat "$tmp/notes.txt") == notes ]] && ok ||
    bad "non-pcap -w: exit $rc, '$out'"

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
