#!/usr/bin/python3
"""Hostile load mixed with real sessions: build a capture of every bundled session (pcaps/*.pcap,
one after another, shifted forward in time only so certificate dates keep their meaning) merged
by time with a generated flood, run brokerwatch on the real sessions alone and on the mix, and
check that
  - every alert of the real sessions alone comes out of the mix too,
  - no alert is about a flood flow (their sources are 198.18.0.0/15),
  - the refusals show as "capacity" records (and on stderr, and in the exit line),
  - the sensor's peak RSS stays under the bound: the real-only run's RSS plus the pools'
    memory bounds it reports (-v), or --rss-limit MiB when given.

Floods: mqtt (spoofed one-packet MQTT CONNECTs with credentials), amqp (one-packet AMQP 0-9-1
protocol headers), syn (SYNs that never finish a handshake). All to the broker of the real
sessions (127.0.0.1, ports 1883 / 5672).

usage: flood.py BROKERWATCH KIND COUNT [--args "SENSOR ARGS"] [--rss-binary BIN] [--rss-limit MIB]
                [--keep DIR] [--span SECONDS] [--expect RESOURCE]...
Exit 0 when every check holds; prints one line per check and a summary with the figures.
"""
import argparse
import collections
import glob
import heapq
import json
import os
import random
import shlex
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import variants  # noqa: E402  (pcap reader)

FLOOD_NET = (198, 18)          # 198.18.0.0/15, RFC 2544 benchmarking addresses
BROKER = bytes((127, 0, 0, 1))


def real_sessions():
    """Every bundled Ethernet capture, laid end to end from after the latest one's start."""
    caps = []
    for path in sorted(glob.glob(os.path.join(ROOT, "pcaps", "*.pcap"))):
        lt, pkts = variants.read_pcap(path)
        if lt == 1 and pkts:
            caps.append([(s * 1_000_000 + u, fr) for s, u, fr in pkts])
    t = max(c[0][0] for c in caps) + 1_000_000
    out = []
    for c in caps:
        base = c[0][0]
        for ts, fr in c:
            out.append((t + ts - base, fr))
        t += c[-1][0] - base + 2_000_000      # two seconds between captures
    out.sort(key=lambda x: x[0])
    return out


def str16(b):
    return struct.pack(">H", len(b)) + b


def varint(n):
    out = b""
    while True:
        d, n = n & 0x7F, n >> 7
        out += bytes([d | (0x80 if n else 0)])
        if not n:
            return out


def mqtt_connect(i):
    vh = b"\x00\x04MQTT\x04\xc2\x00\x3c"     # 3.1.1, user + password + clean session
    body = vh + str16(b"flood-%d" % i) + str16(b"flooduser") + str16(b"fl00d-pw")
    return b"\x10" + varint(len(body)) + body


AMQP_HDR = b"AMQP\x00\x00\x09\x01"


def flood_frames(kind, count, t0, t1, seed):
    """(ts, frame) in time order: one packet per spoofed flow."""
    rnd = random.Random(seed)
    eth = b"\x02" * 12 + b"\x08\x00"
    dport = 5672 if kind == "amqp" else 1883
    span = max(t1 - t0, 1)
    for i in range(count):
        ts = t0 + span * i // count
        src = bytes((FLOOD_NET[0], FLOOD_NET[1] + rnd.randrange(2), rnd.randrange(256), rnd.randrange(1, 255)))
        sport = rnd.randrange(1024, 65536)
        if kind == "syn":
            payload, flags = b"", 0x02
        elif kind == "mqtt":
            payload, flags = mqtt_connect(i), 0x18
        else:
            payload, flags = AMQP_HDR, 0x18
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 40 + len(payload), i & 0xFFFF, 0, 64, 6, 0, src, BROKER)
        tcp = struct.pack(">HHIIBBHHH", sport, dport, rnd.getrandbits(32), 0 if flags == 0x02 else rnd.getrandbits(32),
                          5 << 4, flags, 65535, 0, 0)
        yield ts, eth + ip + tcp + payload


def write_pcap(path, frames):
    n = nbytes = 0
    with open(path, "wb", buffering=1 << 20) as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for ts, fr in frames:
            f.write(struct.pack("<IIII", ts // 1_000_000, ts % 1_000_000, len(fr), len(fr)))
            f.write(fr)
            n += 1
            nbytes += len(fr)
    return n, nbytes


def run(exe, pcap, args):
    """Run the sensor; returns (rc, records, stderr lines, peak RSS MiB, seconds)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        proc = subprocess.Popen([exe, "-v", "-r", pcap, "-o", "-", "--sensor-name", "flood"] + args,
                                stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)      # this child's own peak, nobody else's
        el = time.perf_counter() - t
        out.seek(0)
        err.seek(0)
        recs = [json.loads(l) for l in out.read().decode("utf-8", "replace").splitlines() if l.startswith("{")]
        errl = err.read().decode("utf-8", "replace").splitlines()
    rc = os.waitstatus_to_exitcode(status)
    return rc, recs, errl, usage.ru_maxrss / 1024.0, el


def stats_of(errl):
    for l in errl:
        if l.startswith("{") and '"event_type":"stats"' in l:
            return json.loads(l)["stats"]
    return None


def alert_keys(recs):
    return collections.Counter((r["alert"]["kind"], r["src_ip"], r["src_port"], r["dest_ip"], r["dest_port"])
                               for r in recs if r.get("event_type") == "alert")


def is_flood(ip):
    p = ip.split(".")
    return len(p) == 4 and int(p[0]) == FLOOD_NET[0] and int(p[1]) in (FLOOD_NET[1], FLOOD_NET[1] + 1)


def is_asan(exe):
    with open(exe, "rb") as f:
        return b"__asan_init" in f.read()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("exe")
    ap.add_argument("kind", choices=["mqtt", "amqp", "syn"])
    ap.add_argument("count", type=int)
    ap.add_argument("--args", default="", help="sensor arguments (caps) for both runs")
    ap.add_argument("--rss-binary", help="measure peak RSS with this (non-ASan) build instead")
    ap.add_argument("--rss-limit", type=float, help="peak RSS limit in MiB (default: caps' sum)")
    ap.add_argument("--expect", action="append", default=[], help="a capacity resource that must be reported")
    ap.add_argument("--keep", help="keep the captures in this directory")
    ap.add_argument("--span", type=float, help="seconds of packet time the flood lasts (default: all of it)")
    a = ap.parse_args()
    sargs = shlex.split(a.args)
    failures = []

    def check(ok, what):
        print(("ok   " if ok else "FAIL ") + what)
        if not ok:
            failures.append(what)

    with tempfile.TemporaryDirectory(prefix="bwflood-") as tmp:
        d = a.keep or tmp
        os.makedirs(d, exist_ok=True)
        real = real_sessions()
        t0, t1 = real[0][0] - 5_000_000, real[-1][0] + 1_000_000
        real_path, mix_path = os.path.join(d, "real.pcap"), os.path.join(d, f"flood_{a.kind}.pcap")
        write_pcap(real_path, real)
        f1 = min(t1, t0 + int(a.span * 1e6)) if a.span else t1
        npk, nbytes = write_pcap(mix_path, heapq.merge(real, flood_frames(a.kind, a.count, t0, f1, 7),
                                                       key=lambda x: x[0]))
        print(f"capture: {npk} packets ({a.count} {a.kind} flood flows, {len(real)} real packets), "
              f"{nbytes / 1e6:.1f} MB, {(t1 - t0) / 1e6:.0f} s of packet time")

        rc0, recs0, err0, rss0, _ = run(a.exe, real_path, sargs)
        rc, recs, errl, rss, el = run(a.exe, mix_path, sargs)
        check(rc0 == 0 and rc == 0, f"exit status 0 (real alone {rc0}, mix {rc})")
        want, got = alert_keys(recs0), alert_keys(recs)
        missing = [k for k, n in want.items() if got.get(k, 0) < n]
        check(sum(want.values()) > 0, f"the real sessions alone raise {sum(want.values())} alerts")
        check(not missing, f"every real alert found in the mix ({sum(want.values()) - len(missing)} of "
                           f"{sum(want.values())} kinds per session){': missing ' + str(missing[:5]) if missing else ''}")
        flood_alerts = [r for r in recs if r.get("event_type") == "alert" and is_flood(r["src_ip"])]
        check(not flood_alerts, f"no alert on a flood flow ({len(flood_alerts)})")
        extra = sum((got - want).values())
        check(extra == 0, f"no alert beyond the real sessions' ({extra})")
        cap = [r for r in recs if r.get("event_type") == "capacity"]
        by_res = collections.defaultdict(int)
        for r in cap:
            by_res[r["capacity"]["resource"]] += r["capacity"]["refused"]
        for res in a.expect:
            check(by_res.get(res, 0) > 0, f"capacity records for {res} ({by_res.get(res, 0)} refused)")
        lines = [l for l in errl if l.startswith("brokerwatch: capacity: ")]
        check(len(lines) == len(cap), f"one stderr line per capacity record ({len(lines)} lines, {len(cap)} records)")
        summary = [l for l in errl if l.startswith("brokerwatch: ") and " packets, " in l]
        check(bool(summary) and (" refused " in summary[-1]) == bool(cap),
              f"the exit line says what was refused: {summary[-1] if summary else '(none)'}")
        st = stats_of(errl)
        # Peak memory: a build without ASan (its shadow memory and quarantine are no measure).
        rss_exe = a.rss_binary if a.rss_binary else (None if is_asan(a.exe) else a.exe)
        if rss_exe and os.path.exists(rss_exe) and not is_asan(rss_exe):
            _, _, e0, r_rss0, _ = run(rss_exe, real_path, sargs)
            _, _, e1, r_rss, r_el = run(rss_exe, mix_path, sargs)
            mb = (stats_of(e1) or {}).get("memory_bounds")
            check(mb is not None, "the sensor reports its pools' memory bounds (-v)")
            mb = mb or {"none": 0}
            bound = a.rss_limit if a.rss_limit else r_rss0 + sum(mb.values()) / 1048576.0
            check(r_rss < bound, f"peak RSS {r_rss:.1f} MiB < {bound:.1f} MiB "
                                 f"(real alone {r_rss0:.1f} MiB, pools' bounds {sum(mb.values()) / 1048576.0:.1f} MiB)")
            rss, el = r_rss, r_el
        else:
            print(f"skip peak RSS: {a.exe} is an ASan build and no plain build was given")
        print(f"figures: {a.kind} flood of {a.count}: {npk} packets in {el:.2f} s, peak RSS {rss:.1f} MiB, "
              f"alerts {sum(got.values())} (real alone {sum(want.values())}), capacity records {len(cap)}: "
              + ", ".join(f"{k} refused {v}" for k, v in sorted(by_res.items()))
              + (f"; probes high water {st['probes']['high_water']}, sessions high water "
                 f"{st['flows']['sessions_high_water']}, flows high water {st['flows']['high_water']}" if st else ""))
    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
