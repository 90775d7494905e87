#!/usr/bin/python3
"""Re-encapsulate and disturb real Ethernet captures in memory, run brokerwatch on each
variant, and require the same alerts as the original: link types (802.1Q, QinQ, Linux SLL and
SLL2, raw IP, NULL/LOOP), reassembly hazards (segments split in two and reordered, every packet
mirrored twice as SPAN ports do), a pcapng container, and the orders a mirror port produces
(SYN-ACK after the client's first data, the first two server segments swapped, a client segment
behind the server ACK that acknowledges it, a reset before the broker's last answer). Snaplen
cuts (-s 96, -s 128) must keep the verdicts the captured bytes prove and invent none.

usage: variants.py BROKERWATCH CAPTURE.pcap [CAPTURE.pcap ...]

With several captures, each kind of variant is one brokerwatch run over all of them: capture k
gets its own addresses (10.k.x.y, fd00:k::...) and its own hour of packet time, so sessions,
brute-force windows and broker memory never mix, and the whole set costs one process per kind.
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


def write_pcap(path, linktype, pkts, snaplen=262144):
    """pkts: (sec, usec, frame) or (sec, usec, captured, wire length) for a cut frame."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype))
        for p in pkts:
            sec, usec, frame = p[:3]
            wire = p[3] if len(p) > 3 else len(frame)
            f.write(struct.pack("<IIII", sec, usec, len(frame), wire))
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
    """Split every TCP payload of 2+ bytes in two segments and send the second half first (but
    for the first segment of each direction of a flow seen without its handshake: that segment is
    where the sensor's view of the stream starts, see midstream_starts)."""
    out = []
    keep = midstream_starts(pkts)
    for n, (s, u, fr) in enumerate(pkts):
        if n in keep:
            out.append((s, u, fr))
            continue
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


# ---- TCP views of Ethernet frames (IPv4 and IPv6, no extension headers: what pcaps/ holds) ----

def tcp_of(fr):
    """(l3 offset, ip header length, tcp header length, src, dst, sport, dport, seq, ack, flags,
    payload) of an Ethernet TCP frame, else None."""
    et, l3 = ethertype_and_l3(fr)
    if et == 0x0800 and len(l3) >= 20 and l3[9] == 6:
        ihl = (l3[0] & 15) * 4
        end = struct.unpack(">H", l3[2:4])[0]
        src, dst = l3[12:16], l3[16:20]
    elif et == 0x86DD and len(l3) >= 40 and l3[6] == 6:
        ihl = 40
        end = 40 + struct.unpack(">H", l3[4:6])[0]
        src, dst = l3[8:24], l3[24:40]
    else:
        return None
    t = l3[ihl:]
    if len(t) < 20:
        return None
    sport, dport, seq, ack = struct.unpack(">HHII", t[:12])
    thl = (t[12] >> 4) * 4
    return dict(ihl=ihl, thl=thl, src=src, dst=dst, sport=sport, dport=dport, seq=seq, ack=ack,
                flags=t[13], payload=l3[ihl + thl:end], v6=et == 0x86DD)


def tcp_rebuild(fr, t, seq=None, payload=None, flags=None, ack=None):
    """The frame with another sequence number, payload, flags or ack (lengths fixed up)."""
    payload = t["payload"] if payload is None else payload
    ip = bytearray(fr[14:14 + t["ihl"] + t["thl"]])
    if t["v6"]:
        struct.pack_into(">H", ip, 4, t["thl"] + len(payload))
    else:
        struct.pack_into(">H", ip, 2, t["ihl"] + t["thl"] + len(payload))
    o = t["ihl"]
    if seq is not None:
        struct.pack_into(">I", ip, o + 4, seq & 0xFFFFFFFF)
    if ack is not None:
        struct.pack_into(">I", ip, o + 8, ack & 0xFFFFFFFF)
    if flags is not None:
        ip[o + 13] = flags
    return fr[:14] + bytes(ip) + payload


SYN, RST, ACK = 0x02, 0x04, 0x10


def after(a, b):
    """Serial a >= b."""
    return ((a - b) & 0xFFFFFFFF) < 0x80000000


def flows(pkts):
    """{flow: [(index, tcp view, from the client)]} in capture order. The client sent the SYN;
    without one, the end on the higher port (pcaps/ clients use ephemeral ports)."""
    out, client = {}, {}
    for i, p in enumerate(pkts):
        t = tcp_of(p[2])
        if not t:
            continue
        a, b = (t["src"], t["sport"]), (t["dst"], t["dport"])
        key = (min(a, b), max(a, b))
        if key not in client:
            if t["flags"] & SYN:
                client[key] = a if not t["flags"] & ACK else b
            else:
                client[key] = a if t["sport"] > t["dport"] else b
        out.setdefault(key, []).append((i, t, a == client[key]))
    return out


def midstream_starts(pkts):
    """Indexes of the first payload segment of each direction of a flow whose SYN was not
    captured. Without the handshake nothing says where a stream begins: the sensor starts it at
    the first segment it sees, and bytes mirrored before that point are not part of it. The SPAN
    variants leave these segments in place; with the handshake every order is fair game."""
    out = set()
    for segs in flows(pkts).values():
        if any(t["flags"] & SYN for _, t, _ in segs):
            continue
        for side in (True, False):
            first = next((i for i, t, c in segs if c == side and t["payload"]), None)
            if first is not None:
                out.add(first)
    return out


def reorder(pkts, moves, replace=None):
    """Packets in a new order: moves {index: index it now follows (-0.5 offsets: precedes)};
    replace {index: [frames]} puts frames in that packet's place. Capture times stay monotonic:
    a moved packet takes the time of the packet it now follows, as a mirror port stamps it."""
    keyed = []
    for i, p in enumerate(pkts):
        pos = moves.get(i, i)
        frames = replace.get(i, [p[2]]) if replace else [p[2]]
        for n, fr in enumerate(frames):
            keyed.append((pos, i, n, (p[0], p[1], fr)))
    keyed.sort(key=lambda k: (k[0], k[1], k[2]))
    out, last = [], (0, 0)
    for _, _, _, (sec, usec, fr) in keyed:
        if (sec, usec) < last:
            sec, usec = last
        last = (sec, usec)
        out.append((sec, usec, fr))
    return out


def synack_late(pkts):
    """The server's SYN-ACK mirrored after the client's first data segment."""
    moves = {}
    for segs in flows(pkts).values():
        sa = next((i for i, t, c in segs if not c and t["flags"] & SYN and t["flags"] & ACK), None)
        data = next((i for i, t, c in segs if c and t["payload"]), None)
        if sa is not None and data is not None and data > sa:
            moves[sa] = data + 0.5
    return reorder(pkts, moves)


def halves(fr, t):
    """The segment as two: (first half, second half) frames."""
    pl, half = t["payload"], len(t["payload"]) // 2
    return (tcp_rebuild(fr, t, payload=pl[:half]),
            tcp_rebuild(fr, t, seq=t["seq"] + half, payload=pl[half:]))


def server_swapped(pkts):
    """The first two server segments swapped before any server byte was delivered: the second
    one right before the first when no client data comes between them, else the first split in
    two, second half first."""
    moves, replace = {}, {}
    keep = midstream_starts(pkts)
    for segs in flows(pkts).values():
        srv = [(i, t) for i, t, c in segs if not c and t["payload"]]
        if not srv or srv[0][0] in keep:
            continue
        a, ta = srv[0]
        between = len(srv) > 1 and any(c and t["payload"] and a < i < srv[1][0] for i, t, c in segs)
        if len(srv) > 1 and not between:
            moves[srv[1][0]] = a - 0.5
        elif len(ta["payload"]) >= 2:
            first, second = halves(pkts[a][2], ta)
            replace[a] = [second, first]
    return reorder(pkts, moves, replace)


def client_delayed(pkts):
    """One direction delayed: every client data segment split in two, its first half mirrored
    right after the first server packet that acknowledges the whole segment (the second half
    keeps its place, so the server's ACK covers a hole the late half fills)."""
    moves, replace, extra = {}, {}, []
    keep = midstream_starts(pkts)
    for segs in flows(pkts).values():
        for i, t, c in segs:
            if not c or not t["payload"] or i in keep:
                continue
            end = (t["seq"] + len(t["payload"])) & 0xFFFFFFFF
            acker = next((j for j, u, cc in segs if j > i and not cc and u["flags"] & ACK
                          and after(u["ack"], end)), None)
            if acker is None:
                continue
            if len(t["payload"]) < 2:
                moves[i] = acker + 0.5
                continue
            first, second = halves(pkts[i][2], t)
            replace[i] = [second]
            extra.append((acker, pkts[i][0], pkts[i][1], first))
    out = list(pkts)
    for k, (acker, sec, usec, fr) in enumerate(extra):
        idx = len(out)
        out.append((sec, usec, fr))
        moves[idx] = acker + 0.5 + k * 1e-6
    return reorder(out, moves, replace)


def rst_early(pkts):
    """A reset mirrored before the broker's last answer: a flow's first RST moved right before
    the last server data segment that preceded it; a flow without one gets the client's RST right
    after that last answer (a client aborting), mirrored before it."""
    moves, extra = {}, []
    for segs in flows(pkts).values():
        rst = next((i for i, t, c in segs if t["flags"] & RST), None)
        limit = rst if rst is not None else len(pkts)
        answers = [i for i, t, c in segs if not c and t["payload"] and i < limit]
        if not answers:
            continue
        last = answers[-1]
        if rst is not None:
            # A mirror reorders packets close in time: only a reset right after the answer (no
            # FIN between, a few packets at most) can be copied before it.
            between = [t for i, t, c in segs if last < i < rst]
            if len(between) <= 3 and not any(t["flags"] & 0x01 for t in between):
                moves[rst] = last - 0.5
            continue
        cli = [(i, t) for i, t, c in segs if c and i < last]
        if not cli:
            continue
        nxt = 0
        for i, t in cli:
            e = t["seq"] + len(t["payload"]) + (1 if t["flags"] & (SYN | 0x01) else 0)
            if not nxt or after(e & 0xFFFFFFFF, nxt):
                nxt = e & 0xFFFFFFFF
        i, t = cli[-1]
        fr = tcp_rebuild(pkts[i][2], t, seq=nxt, payload=b"", flags=RST | ACK)
        extra.append((last, pkts[last][0], pkts[last][1], fr))
    out = list(pkts)
    for k, (last, sec, usec, fr) in enumerate(extra):
        out.append((sec, usec, fr))
        moves[len(out) - 1] = last - 0.5 + k * 1e-6
    return reorder(out, moves)


def cut(pkts, snaplen):
    return [(s, u, fr[:snaplen], len(fr)) for s, u, fr in pkts]


# ---- one run over many captures ----

def relocate(pkts, k):
    """Capture k's own addresses and hour: 10.k.c.d for IPv4 a.b.c.d, fd00:k::(last 12 bytes)
    for IPv6, times + k hours. Returns the packets and {new address text: old address text}."""
    import ipaddress
    names = {}
    out = []
    for sec, usec, *rest in pkts:
        fr = rest[0]
        et, l3 = ethertype_and_l3(fr)
        b = bytearray(fr)
        if et == 0x0800 and len(l3) >= 20:
            for off in (26, 30):
                old = bytes(b[off:off + 4])
                b[off:off + 2] = bytes((10, k))
                names[str(ipaddress.ip_address(bytes(b[off:off + 4])))] = str(ipaddress.ip_address(old))
        elif et == 0x86DD and len(l3) >= 40:
            for off in (22, 38):
                old = bytes(b[off:off + 16])
                b[off:off + 4] = bytes((0xFD, 0, 0, k))
                names[str(ipaddress.ip_address(bytes(b[off:off + 16])))] = str(ipaddress.ip_address(old))
        out.append((sec + k * 3600, usec, bytes(b), *rest[1:]))
    return out, names


def run(exe, paths, extra=()):
    """brokerwatch over the files in one process: (alert records, stats record, stderr) or
    (None, None, stderr) when it failed."""
    cmd = [exe, "-q", "-v", "--jsonl", "-", "--sensor-name", "v", "--session-log"] + list(extra)
    for path in paths:
        cmd += ["-r", path]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        return None, None, proc.stderr.strip()
    recs = [json.loads(line) for line in proc.stdout.splitlines()]
    stats = None
    for line in proc.stderr.splitlines():
        if line.startswith("{") and '"event_type":"stats"' in line:
            stats = json.loads(line)
    return [r for r in recs if r["event_type"] in ("alert", "session")], stats, proc.stderr


def key_of(r):
    """An alert, or a session record (what the session log says of each broker session)."""
    proto = r.get(r["app_proto"], {})
    what = r["alert"]["kind"] if r["event_type"] == "alert" else "session " + r["app_proto"]
    return (what, r["src_ip"], r["src_port"], r["dest_ip"], r["dest_port"],
            proto.get("username"), proto.get("protocol_version"))


def alerts(exe, path):
    recs, _, err = run(exe, [path])
    if recs is None:
        return None, err
    return sorted(key_of(r) for r in recs if r["event_type"] == "alert"), ""


def by_capture(recs, names_of):
    """{capture index: sorted alert keys in the original's addresses}."""
    out = {}
    for r in recs:
        for k, names in enumerate(names_of):
            if r["src_ip"] in names and r["dest_ip"] in names:
                r = dict(r, src_ip=names[r["src_ip"]], dest_ip=names[r["dest_ip"]])
                out.setdefault(k, []).append(r)
                break
        else:
            out.setdefault(-1, []).append(r)
    return out


# ---- what a snaplen cut still proves ----

def mqtt_connect_head(pl):
    """Bytes of an MQTT CONNECT up to and including its flags (fixed header, protocol name,
    level, flags), or None when pl does not start a CONNECT."""
    if len(pl) < 2 or pl[0] != 0x10:
        return None
    n = 1
    while n < len(pl) and pl[n] & 0x80 and n < 4:
        n += 1
    n += 1
    if len(pl) < n + 2:
        return None
    return n + 2 + struct.unpack(">H", pl[n:n + 2])[0] + 2


def must_survive(orig_pkts, cut_pkts, recs):
    """The original's alerts the cut capture's bytes still prove, as key_of() keys without the
    user name: an MQTT session whose CONNECT was captured through its flags and whose CONNACK
    code was captured keeps plaintext_session, cleartext_credentials, auth_failure and
    bruteforce (anonymous_session too for 3.1/3.1.1, whose flags say all; an MQTT 5 CONNECT
    may name an authentication method in the properties after them). Returns (alert, whether
    the cut reached that CONNECT) pairs."""
    wire, snap = flows(orig_pkts), {}
    for key, segs in flows(cut_pkts).items():
        snap[key] = segs
    proved = set()
    for key, segs in wire.items():
        cli = next((t for i, t, c in segs if c and t["payload"]), None)
        srv = next((t for i, t, c in segs if not c and t["payload"]), None)
        cut_segs = snap.get(key, [])
        ccut = next((t for i, t, c in cut_segs if c and t["payload"]), None)
        scut = next((t for i, t, c in cut_segs if not c and t["payload"]), None)
        if not cli or not srv or not ccut or not scut:
            continue
        head = mqtt_connect_head(cli["payload"])
        if head is None or len(ccut["payload"]) < head or len(scut["payload"]) < 4:
            continue
        if cli["seq"] != ccut["seq"] or srv["seq"] != scut["seq"]:
            continue
        level = cli["payload"][head - 2]
        kinds = {"plaintext_session", "cleartext_credentials", "auth_failure", "bruteforce"}
        if level in (3, 4):
            kinds.add("anonymous_session")
        proved.add((key, frozenset(kinds), len(ccut["payload"]) < len(cli["payload"])))
    want = []
    for r in recs:
        a = (bytes_of(r["src_ip"]), r["src_port"])
        b = (bytes_of(r["dest_ip"]), r["dest_port"])
        key = (min(a, b), max(a, b))
        for k, kinds, was_cut in proved:
            if key == k and r["alert"]["kind"] in kinds:
                want.append((r, was_cut))
    return want


def bytes_of(ip):
    import ipaddress
    return ipaddress.ip_address(ip).packed


def short_key(r):
    return (r["alert"]["kind"], r["src_ip"], r["src_port"], r["dest_ip"], r["dest_port"])


# ---- main ----

LINK = [
    ("vlan", 1, lambda p: vlan(p, [(0x8100, 100)]), write_pcap),
    ("qinq", 1, lambda p: vlan(p, [(0x88A8, 200), (0x8100, 100)]), write_pcap),
    ("sll", 113, sll, write_pcap),
    ("sll2", 276, sll2, write_pcap),
    ("raw", 101, raw, write_pcap),
    ("null", 0, null, write_pcap),
    ("split-reordered", 1, tcp_split_reorder, write_pcap),
    ("mirrored-twice", 1, duplicate, write_pcap),
    ("pcapng", 1, lambda p: p, write_pcapng),
]
SPAN = [
    ("synack-late", synack_late),
    ("server-swapped", server_swapped),
    ("client-delayed", client_delayed),
    ("rst-early", rst_early),
]
CUTS = [96, 128]


def main_one(exe, src):
    lt, pkts = read_pcap(src)
    if lt != 1:
        raise SystemExit(f"{src}: link type {lt}, this test rewrites Ethernet captures")
    want, err = alerts(exe, src)
    if not want:
        print(f"the original capture gives no alert ({err}): nothing to compare")
        print("0 passed, 1 failed")
        return 1
    variants = [(n, l, f(pkts), w) for n, l, f, w in LINK] + [(n, 1, f(pkts), write_pcap) for n, f in SPAN]
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


def main_many(exe, srcs):
    caps = []
    for src in srcs:
        lt, pkts = read_pcap(src)
        if lt != 1:
            raise SystemExit(f"{src}: link type {lt}, this test rewrites Ethernet captures")
        caps.append((os.path.basename(src), pkts))
    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        def run_kind(name, make, linktype=1, writer=write_pcap, extra=(), snaplen=262144):
            paths, names_of = [], []
            for k, (cname, pkts) in enumerate(caps):
                moved, names = relocate(pkts, k + 1)
                vp = make(moved)
                path = os.path.join(tmp, f"{name}.{k}.cap")
                if writer is write_pcap:
                    writer(path, linktype, vp, snaplen)
                else:
                    writer(path, linktype, vp)
                paths.append(path)
                names_of.append(names)
            recs, stats, err = run(exe, paths, extra)
            if recs is None:
                return None, None, err
            return by_capture(recs, names_of), stats, err

        base, base_stats, err = run_kind("original", lambda p: p)
        if base is None:
            print(f"FAIL: the originals: {err}")
            return 1
        if -1 in base:
            print(f"FAIL: alerts of no capture: {base[-1]}")
            return 1
        want = {k: sorted(key_of(r) for r in base.get(k, [])) for k in range(len(caps))}

        def compare(name, got):
            nonlocal passed, failed
            bad = [k for k in range(len(caps)) if sorted(key_of(r) for r in got.get(k, [])) != want[k]]
            bad += [-1] if -1 in got else []
            if not bad:
                passed += 1
                return
            failed += 1
            for k in bad:
                g = sorted(key_of(r) for r in got.get(k, []))
                cname = caps[k][0] if k >= 0 else "(no capture)"
                print(f"FAIL {name} {cname}:\n  want {want.get(k)}\n  got  {g}")

        for name, linktype, make, writer in LINK:
            got, _, err = run_kind(name, make, linktype, writer)
            if got is None:
                failed += 1
                print(f"FAIL {name}: {err}")
            else:
                compare(name, got)
        for name, make in SPAN:
            got, st, err = run_kind(name, make)
            if got is None:
                failed += 1
                print(f"FAIL {name}: {err}")
                continue
            compare(name, got)
            # Every byte once and in order: no hole declared that the original has not. (Bytes
            # delivered are not compared: a midstream flow's stream starts where the sensor
            # first sees it, which a reordering before that point moves.)
            for c in ("gaps",):
                if st["stats"]["reassembly"][c] != base_stats["stats"]["reassembly"][c]:
                    failed += 1
                    print(f"FAIL {name}: reassembly {c} {st['stats']['reassembly'][c]}, "
                          f"the originals {base_stats['stats']['reassembly'][c]}")
        for snap in CUTS:
            name = f"cut-{snap}"
            got, _, err = run_kind(name, lambda p: cut(p, snap), snaplen=snap)
            if got is None:
                failed += 1
                print(f"FAIL {name}: {err}")
                continue
            ok = True
            if -1 in got:
                ok = False
                print(f"FAIL {name}: alerts of no capture: {got[-1]}")
            for k, (cname, pkts) in enumerate(caps):
                have = {short_key(r): r for r in got.get(k, []) if r["event_type"] == "alert"}
                orig = {short_key(r) for r in base.get(k, []) if r["event_type"] == "alert"}
                invented = sorted(set(have) - orig)
                need = must_survive(pkts, cut(pkts, snap), [r for r in base.get(k, []) if r["event_type"] == "alert"])
                lost = sorted({short_key(r) for r, _ in need} - set(have))
                # A CONNECT the cut reached is read from its start only: the record says so.
                unmarked = sorted(short_key(r) for r, was_cut in need if was_cut and short_key(r) in have and
                                  have[short_key(r)].get(have[short_key(r)]["app_proto"], {}).get("truncated") is not True)
                if invented or lost or unmarked:
                    ok = False
                    print(f"FAIL {name} {cname}:\n  invented {invented}\n  lost {lost}\n  not marked truncated {unmarked}")
            if ok:
                passed += 1
            else:
                failed += 1
    print(f"{len(caps)} captures, {passed} passed, {failed} failed")
    return 1 if failed else 0


def main():
    args = sys.argv[1:]
    if len(args) < 2:
        raise SystemExit(__doc__)
    if len(args) == 2:
        return main_one(args[0], args[1])
    return main_many(args[0], args[1:])


if __name__ == "__main__":
    sys.exit(main())
