#!/usr/bin/python3
"""Workers change where a flow is handled, never what is found: every bundled capture and every
peer capture (../shared/pcaps/peers, when present) is read with --workers 1 and with 2 and 3
workers, and the runs must give the same alerts and the same session records (as sets: records
of different workers interleave; flow_id is a per-run hash), the same exposure report (brokers,
totals, exposure classes, alerts, timeline) and the same packet count. Each capture is its own
run, so a finding can only come from that capture.

One more capture is made here from the bundled ones, long enough (over 6 MiB) that a file read
with workers goes round the capture's kept buffers many times (workers read the frames where the
reader keeps them): every bundled Ethernet IPv4 capture in turn, over and over, each copy with
addresses of its own (checksums adjusted) and later times, so copies never meet in one flow,
brute-force window or broker memory.

The long one is also read cut in the middle of a record (the same error line, after the same
records) and with a filter. A third one is the long one with every record at one time (packet time never moves). A fourth
one has every bundled capture once, each with addresses of its own, all at once (the
copies overlap in time): many address pairs side by side, as test_live.sh replays it live.

usage: workers_equal.py BROKERWATCH PCAP...
       workers_equal.py --many-pairs OUT PCAP...     (only write that capture)
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PEERS = os.path.normpath(os.path.join(ROOT, "..", "shared", "pcaps", "peers"))


def peer_captures():
    out = []
    if not os.path.isdir(PEERS):
        return out
    for d, _, files in os.walk(PEERS):
        for f in files:
            if f.endswith((".pcap", ".pcapng", ".cap")):
                out.append(os.path.join(d, f))
    return sorted(out)


def _csum_fix(b, at, old, new):
    """RFC 1624: the ones' complement checksum at b[at:at+2] after 16-bit words old became new."""
    hc = struct.unpack(">H", b[at:at + 2])[0]
    c = ~hc & 0xffff
    for o, n in zip(old, new):
        c += (~o & 0xffff) + n
        c = (c & 0xffff) + (c >> 16)
        c = (c & 0xffff) + (c >> 16)
    b[at:at + 2] = struct.pack(">H", ~c & 0xffff)


def _segments(pcaps):
    """The records (ts, bytes) of every Ethernet IPv4-only classic pcap among pcaps."""
    out = []
    for p in pcaps:
        with open(p, "rb") as f:
            b = f.read()
        if len(b) < 24 or struct.unpack("<IHHiIII", b[:24])[0] != 0xa1b2c3d4 or struct.unpack("<I", b[20:24])[0] != 1:
            continue
        recs, o, ok = [], 24, True
        while o + 16 <= len(b):
            sec, usec, cl, wl = struct.unpack("<IIII", b[o:o + 16])
            d = b[o + 16:o + 16 + cl]
            if len(d) < 34 or d[12:14] != b"\x08\x00" or (d[14] >> 4) != 4:
                ok = False
                break
            recs.append((sec * 1000000 + usec, wl, d))
            o += 16 + cl
        if ok and recs:
            out.append(recs)
    return out


def _copy(recs, k, start):
    """One capture's records with addresses of copy k (10.k.k.n, checksums adjusted), its first
    packet at time start: [(ts, wirelen, bytes)]."""
    addrs, t0, out = {}, recs[0][0], []
    for ts, wl, d in recs:
        d = bytearray(d)
        ihl = (d[14] & 15) * 4
        old = [struct.unpack(">H", d[26 + i:28 + i])[0] for i in (0, 2, 4, 6)]
        for a in (26, 30):
            orig = bytes(d[a:a + 4])
            if orig not in addrs:
                addrs[orig] = bytes((10, k >> 8, k & 255, len(addrs) + 1))
            d[a:a + 4] = addrs[orig]
        new = [struct.unpack(">H", d[26 + i:28 + i])[0] for i in (0, 2, 4, 6)]
        _csum_fix(d, 24, old, new)
        frag = struct.unpack(">H", d[20:22])[0] & 0x1fff
        if d[23] == 6 and not frag and len(d) >= 14 + ihl + 18:
            _csum_fix(d, 14 + ihl + 16, old, new)
        out.append((start + max(0, ts - t0), wl, bytes(d)))
    return out


def _write(path, recs):
    out = bytearray(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1))
    for when, wl, d in recs:
        out += struct.pack("<IIII", when // 1000000, when % 1000000, len(d), wl) + d
    with open(path, "wb") as f:
        f.write(out)
    return path


def long_capture(pcaps, path, size=6 << 20):
    """The bundled captures one after the other, over and over, until size bytes."""
    segs = _segments(pcaps)
    out, total = [], 0
    t, k = 1700000000 * 1000000, 0
    while total < size and segs:
        for recs in segs:
            k += 1
            c = _copy(recs, k, t)
            out += c
            total += sum(16 + len(d) for _, _, d in c)
            t += max(0, recs[-1][0] - recs[0][0]) + 1000000
    return _write(path, out)


def one_time(path_in, path):
    """The same records, every one at one and the same time (a hostile file: packet time never
    moves, so no worker's clock ever passes another's)."""
    b = bytearray(open(path_in, "rb").read())
    o = 24
    while o + 16 <= len(b):
        struct.pack_into("<II", b, o, 1700000000, 0)
        o += 16 + struct.unpack("<I", b[o + 8:o + 12])[0]
    with open(path, "wb") as f:
        f.write(b)
    return path


def many_pairs(pcaps, path, stagger_us=100000):
    """Every bundled capture once, each with addresses of its own, all at once: copy k starts
    stagger_us after copy k-1, so some 40 address pairs talk side by side (a live replay of it
    takes about 8 s)."""
    out, segs = [], _segments(pcaps)
    t0 = min(recs[0][0] for recs in segs)          # the captures' own time (their certificates')
    for k, recs in enumerate(segs, 1):
        out += _copy(recs, k, t0 + k * stagger_us)
    out.sort(key=lambda r: r[0])
    return _write(path, out)


def cut(path_in, path):
    """The capture cut in the middle of a record (2/3 of the way in): an error at the end."""
    b = open(path_in, "rb").read()
    with open(path, "wb") as f:
        f.write(b[:len(b) * 2 // 3 | 1])
    return path


def run(exe, pcap, workers, tmp, bpf=None):
    jl = os.path.join(tmp, "w%d.jsonl" % workers)
    rj = os.path.join(tmp, "w%d.report.json" % workers)
    for p in (jl, rj):
        if os.path.exists(p):
            os.unlink(p)
    try:
        p = subprocess.run([exe, "--workers", str(workers), "--session-log", "-r", pcap, "-o", jl,
                            "--report-json", rj] + ([bpf] if bpf else []), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        return -1, ["(still running after 300 s: killed)"], {}, None
    recs, packets = [], None
    for line in p.stderr.splitlines():             # the exit summary: "brokerwatch: N packets, ..."
        if line.startswith("brokerwatch: ") and " packets, " in line:
            packets = line.split()[1]
        if line.startswith("brokerwatch: cannot read capture"):
            recs.append(line)                      # an error line is the same whoever reads
    with open(jl, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r["event_type"] == "stats":
                continue
            r.pop("flow_id", None)
            recs.append(json.dumps(r, sort_keys=True))
    with open(rj, encoding="utf-8") as f:
        rep = json.load(f)
    if rep:
        rep["run"].pop("generated", None)
    return p.returncode, sorted(recs), rep, packets


def main():
    exe = sys.argv[1]
    pcaps = sys.argv[2:] + peer_captures()
    bad = 0
    compared = 0
    alerts = 0
    with tempfile.TemporaryDirectory() as tmp:
        pcaps.append(long_capture(sys.argv[2:], os.path.join(tmp, "long.pcap")))
        # long enough (12 MiB) that the records of one worker fill its ring while the writer
        # waits on another (whose clock never passes theirs)
        pcaps.append(one_time(long_capture(sys.argv[2:], os.path.join(tmp, "long12.pcap"), 12 << 20),
                              os.path.join(tmp, "one-time.pcap")))
        pcaps.append(many_pairs(sys.argv[2:], os.path.join(tmp, "pairs.pcap")))
        pcaps.append(cut(os.path.join(tmp, "long.pcap"), os.path.join(tmp, "cut.pcap")))
        runs = [(p, None) for p in pcaps] + [(os.path.join(tmp, "long.pcap"), "tcp port 1883")]
        for pcap, bpf in runs:
            rc1, rec1, rep1, pk1 = run(exe, pcap, 1, tmp, bpf)
            if rc1 not in (0, 1):                      # 1: a runtime error, said; else a crash
                bad += 1
                print("MISMATCH: %s --workers 1: exit %d" % (os.path.relpath(pcap, ROOT), rc1))
            for w in (2, 3):
                rc, rec, rep, pk = run(exe, pcap, w, tmp, bpf)
                name = "%s --workers %d%s" % (os.path.relpath(pcap, ROOT), w, " '%s'" % bpf if bpf else "")
                if rc != rc1:
                    bad += 1
                    print("MISMATCH: %s: exit %d, one worker %d" % (name, rc, rc1))
                if rec != rec1:
                    bad += 1
                    s1, s2 = set(rec1), set(rec)
                    print("MISMATCH: %s: records differ (%d only with one worker, %d only here)" %
                          (name, len(s1 - s2), len(s2 - s1)))
                    for x in sorted(s1 - s2)[:2]:
                        print("  one worker:", x[:400])
                    for x in sorted(s2 - s1)[:2]:
                        print("  here:      ", x[:400])
                if rep != rep1:
                    bad += 1
                    keys = [k for k in rep1 if rep1.get(k) != rep.get(k)]
                    print("MISMATCH: %s: exposure report differs in %s" % (name, ", ".join(keys)))
                if pk != pk1 or pk is None:
                    bad += 1
                    print("MISMATCH: %s: %r packets counted, one worker %r" % (name, pk, pk1))
                compared += 1
            alerts += sum(1 for r in rec1 if '"event_type": "alert"' in r)
    print("workers_equal: %d captures, %d comparisons, %d alerts each, %d mismatches" %
          (len(runs), compared, alerts, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--many-pairs":
        many_pairs(sys.argv[3:], sys.argv[2])
        sys.exit(0)
    sys.exit(main())
