#!/usr/bin/env bash
# test_linktype.sh: captures of link types the sensor does not decode (802.11 with radiotap, Linux
# USB, Bluetooth HCI; as pcap and as pcapng) are refused in one line naming the file and the link
# type, exit status 1, never a silent exit 0 with nothing read. A refused file after a good one
# keeps the good file's alerts. The files are written here with python struct: a radiotap header
# and an 802.11 data frame, USB URB headers; the good file is the real pcaps/mqtt_creds.pcap.
set -uo pipefail
bin=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 - "$tmp" <<'PY' || exit 1
import struct, sys
d = sys.argv[1]
def pcap(name, linktype, frames):
    with open(f"{d}/{name}", "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", 1700000000 + i, 0, len(fr), len(fr)) + fr)
def pcapng(name, linktype, frames):
    def block(t, body):
        body += b"\0" * (-len(body) % 4)
        return struct.pack("<II", t, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))
    out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    out += block(1, struct.pack("<HHI", linktype, 0, 65535))
    for i, fr in enumerate(frames):
        out += block(6, struct.pack("<IIIII", 0, 0, i, len(fr), len(fr)) + fr)
    open(f"{d}/{name}", "wb").write(out)
# radiotap: version 0, length 8, no fields; then an 802.11 data frame (FC 0x0801, to-DS) with
# an LLC/SNAP header and an IPv4/TCP packet inside, which a sensor reading it as Ethernet would
# mangle rather than refuse.
ip = bytes.fromhex("4500002800010000400600007f0000017f000001") + bytes.fromhex("c350075b0000000100000000500220000000000000")[:20]
wifi = struct.pack("<BBHI", 0, 0, 8, 0) + struct.pack("<HH6s6s6sH", 0x0108, 0, b"\1" * 6, b"\2" * 6, b"\3" * 6, 0) \
       + bytes.fromhex("aaaa030000000800") + ip
usb = struct.pack("<QBBBBHBBqiiII8sii", 1, ord("S"), 2, 0x81, 1, 0, 0, 0, 0, 0, 0, 8, 0, b"\0" * 8, 0, 0) + b"\0" * 8
pcap("radiotap.pcap", 127, [wifi, wifi])
pcap("usb.pcap", 220, [usb])
pcap("bluetooth.pcap", 201, [b"\0\0\0\1\4\x0e\4\1\3\x0c\0"])
pcapng("radiotap.pcapng", 127, [wifi])
PY
fail=0 pass=0
check() {  # file, the link type name the line must carry
    local f=$1 want=$2 out err rc
    out=$("$bin" -r "$tmp/$f" --jsonl - 2>"$tmp/err"); rc=$?
    err=$(cat "$tmp/err")
    if [[ $rc -eq 1 && $(wc -l <"$tmp/err") -eq 1 && $err == *"'$tmp/$f'"* && $err == *"$want"* &&
          $err == *"does not decode"* && -z $out ]]; then
        pass=$((pass + 1)); echo "ok: $f refused: $err"
    else
        fail=$((fail + 1)); echo "FAIL: $f: exit $rc, stdout '${out:0:200}', stderr: $err"
    fi
}
check radiotap.pcap IEEE802_11_RADIO
check radiotap.pcapng IEEE802_11_RADIO
check usb.pcap USB_LINUX_MMAPPED
check bluetooth.pcap BLUETOOTH_HCI_H4_WITH_PHDR
# A good file first: its alerts are written, then the refusal, exit 1.
"$bin" -q -r "$src/pcaps/mqtt_creds.pcap" -r "$tmp/usb.pcap" --jsonl - >"$tmp/mixed.jsonl" 2>"$tmp/err"; rc=$?
n=$(grep -c '"event_type":"alert"' "$tmp/mixed.jsonl")
if [[ $rc -eq 1 && $n -ge 1 ]] && grep -q "usb.pcap': link type USB_LINUX_MMAPPED" "$tmp/err"; then
    pass=$((pass + 1)); echo "ok: a refused second file keeps the first file's $n alerts, exit 1"
else
    fail=$((fail + 1)); echo "FAIL: good file then USB file: exit $rc, $n alerts, stderr: $(cat "$tmp/err")"
fi
# Live: libpcap's D-Bus capture (link type DBUS, on a private session bus started here) is an
# interface no decoding applies to: refused at start in one line, exit 1, before any capture.
if command -v dbus-daemon >/dev/null && "$bin" -D 2>/dev/null | grep -q dbus-session; then
    bus=$(dbus-daemon --session --print-address=1 --print-pid=1 --fork 2>/dev/null)
    baddr=$(sed -n 1p <<<"$bus") bpid=$(sed -n 2p <<<"$bus")
    DBUS_SESSION_BUS_ADDRESS=$baddr timeout 10 "$bin" -i dbus-session -o "$tmp/live.jsonl" 2>"$tmp/err"; rc=$?
    [[ -n $bpid ]] && kill "$bpid" 2>/dev/null
    err=$(cat "$tmp/err")
    if [[ $rc -eq 1 && $(wc -l <"$tmp/err") -eq 1 && $err == *"interface 'dbus-session': link type DBUS"* &&
          $err == *"does not decode"* ]]; then
        pass=$((pass + 1)); echo "ok: live interface of an unsupported link type refused: $err"
    else
        fail=$((fail + 1)); echo "FAIL: live dbus-session: exit $rc, stderr: $err"
    fi
else
    echo "note: no dbus-daemon or no D-Bus capture in libpcap: the live refusal is not exercised"
fi
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
