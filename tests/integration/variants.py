#!/usr/bin/python3
"""Re-encapsulate and disturb a real Ethernet capture in memory, run brokerwatch on each
variant, and require the same alerts as the original: link types (802.1Q, QinQ, Linux SLL and
SLL2, raw IP, NULL/LOOP), reassembly hazards (segments split in two and reordered, every packet
mirrored twice as SPAN ports do) and a pcapng container.

usage: variants.py BROKERWATCH CAPTURE.pcap
"""
import json
import os
import struct
import subprocess
import sys
import tempfile


def read_pcap(path):
    data = open(path, "rb").read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        e = "<"
    elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
        e = ">"
    else:
        raise SystemExit(f"{path}: not a pcap file")
    nano = magic in (0xA1B23C4D, 0x4D3CB2A1)
    linktype = struct.unpack(e + "I", data[20:24])[0]
    off, pkts = 24, []
    while off + 16 <= len(data):
        sec, frac, caplen, _ = struct.unpack(e + "IIII", data[off:off + 16])
        usec = frac // 1000 if nano else frac
        pkts.append((sec, usec, data[off + 16:off + 16 + caplen]))
        off += 16 + caplen
    return linktype, pkts


def write_pcap(path, linktype, pkts):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype))
        for sec, usec, frame in pkts:
            f.write(struct.pack("<IIII", sec, usec, len(frame), len(frame)))
            f.write(frame)


def write_pcapng(path, linktype, pkts):
    def block(btype, body):
        body += b"\0" * (-len(body) % 4)
        n = 12 + len(body)
        return struct.pack("<II", btype, n) + body + struct.pack("<I", n)
    with open(path, "wb") as f:
        f.write(block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)))
        f.write(block(1, struct.pack("<HHI", linktype, 0, 262144)))
        for sec, usec, frame in pkts:
            ts = sec * 1000000 + usec
            f.write(block(6, struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(frame), len(frame)) + frame))


def ethertype_and_l3(frame):
    return struct.unpack(">H", frame[12:14])[0], frame[14:]


def vlan(pkts, tags):
    out = []
    for sec, usec, fr in pkts:
        et, l3 = ethertype_and_l3(fr)
        hdr = fr[:12]
        for tpid, vid in tags:
            hdr += struct.pack(">HH", tpid, vid)
        out.append((sec, usec, hdr + struct.pack(">H", et) + l3))
    return out


def sll(pkts):
    return [(s, u, struct.pack(">HHH8sH", 0, 772, 6, b"\0" * 8, ethertype_and_l3(fr)[0]) + ethertype_and_l3(fr)[1])
            for s, u, fr in pkts]


def sll2(pkts):
    return [(s, u, struct.pack(">HHIHBB8s", ethertype_and_l3(fr)[0], 0, 1, 772, 0, 6, b"\0" * 8) + ethertype_and_l3(fr)[1])
            for s, u, fr in pkts]


def raw(pkts):
    return [(s, u, ethertype_and_l3(fr)[1]) for s, u, fr in pkts]


def null(pkts):
    out = []
    for s, u, fr in pkts:
        et, l3 = ethertype_and_l3(fr)
        fam = 2 if et == 0x0800 else 10
        out.append((s, u, struct.pack("<I", fam) + l3))
    return out


def tcp_split_reorder(pkts):
    """Split every TCP payload of 2+ bytes in two segments and send the second half first."""
    out = []
    for s, u, fr in pkts:
        et, l3 = ethertype_and_l3(fr)
        if et != 0x0800 or l3[9] != 6:
            out.append((s, u, fr))
            continue
        ihl = (l3[0] & 15) * 4
        total = struct.unpack(">H", l3[2:4])[0]
        thl = (l3[ihl + 12] >> 4) * 4
        payload = l3[ihl + thl:total]
        if len(payload) < 2:
            out.append((s, u, fr))
            continue
        seq = struct.unpack(">I", l3[ihl + 4:ihl + 8])[0]
        half = len(payload) // 2
        parts = [(seq + half, payload[half:]), (seq, payload[:half])]
        for pseq, data in parts:
            ip = bytearray(l3[:ihl + thl])
            struct.pack_into(">H", ip, 2, ihl + thl + len(data))
            struct.pack_into(">I", ip, ihl + 4, pseq & 0xFFFFFFFF)
            out.append((s, u, fr[:14] + bytes(ip) + data))
    return out


def duplicate(pkts):
    out = []
    for p in pkts:
        out += [p, p]
    return out


def alerts(exe, path):
    proc = subprocess.run([exe, "-q", "-r", path, "--jsonl", "-", "--sensor-name", "v"],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        return None, proc.stderr.strip()
    res = []
    for line in proc.stdout.splitlines():
        r = json.loads(line)
        if r["event_type"] == "alert":
            proto = r.get(r["app_proto"], {})
            res.append((r["alert"]["kind"], r["src_ip"], r["src_port"], r["dest_ip"], r["dest_port"],
                        proto.get("username"), proto.get("protocol_version")))
    return sorted(res), ""


def main():
    exe, src = sys.argv[1], sys.argv[2]
    lt, pkts = read_pcap(src)
    if lt != 1:
        raise SystemExit(f"{src}: link type {lt}, this test rewrites Ethernet captures")
    want, err = alerts(exe, src)
    if not want:
        print(f"the original capture gives no alert ({err}): nothing to compare")
        print("0 passed, 1 failed")
        return 1
    variants = [
        ("vlan", 1, vlan(pkts, [(0x8100, 100)]), write_pcap),
        ("qinq", 1, vlan(pkts, [(0x88A8, 200), (0x8100, 100)]), write_pcap),
        ("sll", 113, sll(pkts), write_pcap),
        ("sll2", 276, sll2(pkts), write_pcap),
        ("raw", 101, raw(pkts), write_pcap),
        ("null", 0, null(pkts), write_pcap),
        ("split-reordered", 1, tcp_split_reorder(pkts), write_pcap),
        ("mirrored-twice", 1, duplicate(pkts), write_pcap),
        ("pcapng", 1, pkts, write_pcapng),
    ]
    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, linktype, vp, writer in variants:
            path = os.path.join(tmp, name + ".cap")
            writer(path, linktype, vp)
            got, err = alerts(exe, path)
            if got == want:
                passed += 1
            else:
                failed += 1
                print(f"FAIL {name}: {err or ''}\n  want {want}\n  got  {got}")
    print(f"{os.path.basename(src)}: {len(want)} alerts in every variant" if not failed else "")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
