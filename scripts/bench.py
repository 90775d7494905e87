#!/usr/bin/python3
"""Throughput benchmark: builds a large capture in a temp dir from the bundled captures (each
session replayed many times with new client addresses and ports, interleaved with non-broker TCP
flows that must be bypassed), runs build/brokerwatch on it several times, and prints packets/s,
Mbit/s, peak memory and the alert count (which must scale with the copies).

usage: scripts/bench.py [--copies N] [--noise-flows N] [--runs N] [BROKERWATCH]
"""
import argparse
import glob
import os
import random
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import variants  # noqa: E402  (pcap reader/writer)


def remap(frame, n):
    """Give the client side of an IPv4 frame a new address and port, so copies are new flows."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00":
        return None
    ip = bytearray(frame)
    ihl = (ip[14] & 15) * 4
    if ip[23] != 6:
        return None
    sport, dport = struct.unpack(">HH", ip[14 + ihl:14 + ihl + 4])
    client = 10 << 24 | (n & 0xFFFFFF)
    port = 20000 + n % 40000
    # the side that is not the broker port is the client
    broker_ports = {1883, 5672, 11883, 9001, 8883}
    if dport in broker_ports or sport > dport:
        struct.pack_into(">I", ip, 26, client)
        struct.pack_into(">H", ip, 14 + ihl, port)
    else:
        struct.pack_into(">I", ip, 30, client)
        struct.pack_into(">H", ip, 14 + ihl + 2, port)
    return bytes(ip)


def noise_flow(n, t0):
    """A non-broker TCP conversation: handshake, 20 data segments, close."""
    rnd = random.Random(n)
    cli = (172, 16, (n >> 8) & 255, n & 255)
    srv = (192, 168, 1, 1 + n % 200)
    out = []
    def pkt(src, dst, sp, dp, seq, ack, fl, data=b""):
        iph = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 40 + len(data), 0, 0, 64, 6, 0, bytes(src), bytes(dst))
        tcp = struct.pack(">HHIIBBHHH", sp, dp, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, fl, 65535, 0, 0)
        return b"\x02" * 12 + b"\x08\x00" + iph + tcp + data
    sp, dp = 30000 + n % 30000, 443 if n % 2 else 80
    cs, ss = rnd.randrange(1 << 32), rnd.randrange(1 << 32)
    t = t0
    out.append((t, pkt(cli, srv, sp, dp, cs, 0, 0x02)))
    out.append((t + 1, pkt(srv, cli, dp, sp, ss, cs + 1, 0x12)))
    cs += 1
    ss += 1
    for i in range(20):
        body = (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" if i == 0 else rnd.randbytes(1200))
        if i % 2 == 0:
            out.append((t + 2 + i, pkt(cli, srv, sp, dp, cs, ss, 0x18, body)))
            cs += len(body)
        else:
            out.append((t + 2 + i, pkt(srv, cli, dp, sp, ss, cs, 0x18, body)))
            ss += len(body)
    out.append((t + 30, pkt(cli, srv, sp, dp, cs, ss, 0x11)))
    out.append((t + 31, pkt(srv, cli, dp, sp, ss, cs + 1, 0x11)))
    return out


def build(path, copies, noise):
    sessions = []
    for cap in sorted(glob.glob(os.path.join(ROOT, "pcaps", "*.pcap"))):
        lt, pkts = variants.read_pcap(cap)
        if lt == 1:
            sessions.append(pkts)
    frames, t = [], 1_700_000_000 * 1_000_000
    n = 0
    for c in range(copies):
        for pk in sessions:
            n += 1
            base = pk[0][0] * 1_000_000 + pk[0][1] if pk else 0
            for sec, usec, fr in pk:
                m = remap(fr, n)
                if m:
                    frames.append((t + (sec * 1_000_000 + usec - base), m))
            t += 1000
    for i in range(noise):
        frames += noise_flow(i, t + i * 50)
    frames.sort(key=lambda x: x[0])
    variants.write_pcap(path, 1, [(ts // 1_000_000, ts % 1_000_000, fr) for ts, fr in frames])
    return len(frames), sum(len(fr) for _, fr in frames)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=200)
    ap.add_argument("--noise-flows", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--build-only", metavar="PCAP", help=argparse.SUPPRESS)
    ap.add_argument("exe", nargs="?", default=os.path.join(ROOT, "build", "brokerwatch"))
    a = ap.parse_args()
    if a.build_only:
        print(*build(a.build_only, a.copies, a.noise_flows))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        cap = os.path.join(tmp, "bench.pcap")
        # Built in another process: the sensor's children are forked from this one, and a large
        # parent would inflate their measured peak memory.
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--copies", str(a.copies),
                              "--noise-flows", str(a.noise_flows), "--build-only", cap],
                             capture_output=True, text=True, check=True).stdout.split()
        npk, nbytes = int(out[0]), int(out[1])
        print(f"capture: {npk} packets, {nbytes / 1e6:.1f} MB ({a.copies} copies of the bundled sessions, "
              f"{a.noise_flows} non-broker flows)")
        best = None
        for _ in range(a.runs):
            t0 = time.perf_counter()
            p = subprocess.run([a.exe, "-q", "-r", cap, "-o", os.devnull], capture_output=True, text=True)
            el = time.perf_counter() - t0
            if p.returncode:
                print(p.stderr)
                return 1
            best = el if best is None else min(best, el)
        out_path = os.path.join(tmp, "alerts.jsonl")
        proc = subprocess.Popen([a.exe, "-q", "-r", cap, "-o", out_path])
        _, _, usage = os.wait4(proc.pid, 0)          # this child's own peak, nobody else's
        proc.returncode = 0
        alerts = open(out_path).read().count('"event_type":"alert"')
        rss = usage.ru_maxrss / 1024
        print(f"best of {a.runs}: {best:.3f} s  {npk / best:,.0f} packets/s  {nbytes * 8 / best / 1e6:,.0f} Mbit/s  "
              f"peak RSS {rss:.0f} MiB  alerts {alerts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
