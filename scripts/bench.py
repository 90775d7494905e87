#!/usr/bin/python3
"""Throughput benchmark: brokerwatch side by side with a bare libpcap read loop.

Builds (from the tree) scripts/bench/readloop.c, a loop that only fetches every packet of a
capture with pcap_next_ex(): the floor no sensor reading that file can beat. Generates a capture
of the mix a SPAN port sees (defaults: about 1.6 M packets, 970 MB, 100 k flows: 8 k broker
sessions copied from the bundled real captures with new client addresses, 92 k short HTTP and
TLS flows, and 19 bulk flows carrying about half the bytes), keeps it in the page cache, and
times whole processes, alternating the read loop and the sensor (once per --workers value) in
every round. Prints per configuration the median time and its spread, the ratio to the read
loop, packets/s, Gbit/s, peak RSS, and the alerts found against the generator's truth (the
bundled captures' .checks files times the copies). Then the cost per packet with 10 k and with
100 k flows open at once (same flows, same packets, only the concurrency differs): it must not
grow with the flow count. --scale 2 doubles the mix (peak RSS must stay flat). --against EXE
times another build in the same rounds, for comparing two builds on a machine whose speed drifts.
--halves also times one-worker processes that each take half the address pairs (a BPF filter)
and read the whole file, alone and side by side: what parting the work costs with no sharing.

usage: scripts/bench.py [--runs N] [--workers 1,2] [--scale K] [--keep DIR] [--against EXE]
                        [--halves] [--no-concurrency] [BROKERWATCH]
       scripts/bench.py --live [--rates 1000,2000] [--pps] [-r FILE] [--live-packets N]
                        [--settle S] [-B MIB] [--scale K] [--keep DIR] [BROKERWATCH]
       (--live: the capture replayed into a veth at each rate; see docs/performance.md)
"""
import argparse
import glob
import json
import os
import random
import re
import statistics
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PCAPS = os.path.join(ROOT, "pcaps")
CHECKS = os.path.join(ROOT, "tests", "integration")

# ---- packets -------------------------------------------------------------------------------

ETH_V4 = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00"


def tcp4(src, dst, sp, dp, seq, ack, flags, payload=b""):
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 40 + len(payload), 0, 0x4000, 64, 6, 0, src, dst)
    tcp = struct.pack(">HHIIBBHHH", sp, dp, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 0x50, flags,
                      65535, 0, 0)
    return ETH_V4 + ip + tcp + payload


SYN, ACK, PSH, FIN = 0x02, 0x10, 0x08, 0x01


def conversation(rnd, cli, srv, cport, sport, t, exchanges, gap_us=200):
    """A TCP conversation: handshake, the given (from_client, payload) exchanges, close.
    Returns [(ts_us, frame)]."""
    out = []
    cs, ss = rnd.randrange(1 << 32), rnd.randrange(1 << 32)
    out.append((t, tcp4(cli, srv, cport, sport, cs, 0, SYN)))
    out.append((t + gap_us, tcp4(srv, cli, sport, cport, ss, cs + 1, SYN | ACK)))
    cs, ss = cs + 1, ss + 1
    t += 2 * gap_us
    out.append((t, tcp4(cli, srv, cport, sport, cs, ss, ACK)))
    for from_cli, data in exchanges:
        t += gap_us
        if from_cli:
            out.append((t, tcp4(cli, srv, cport, sport, cs, ss, ACK | PSH, data)))
            cs += len(data)
        else:
            out.append((t, tcp4(srv, cli, sport, cport, ss, cs, ACK | PSH, data)))
            ss += len(data)
    t += gap_us
    out.append((t, tcp4(cli, srv, cport, sport, cs, ss, ACK)))
    out.append((t + gap_us, tcp4(cli, srv, cport, sport, cs, ss, FIN | ACK)))
    out.append((t + 2 * gap_us, tcp4(srv, cli, sport, cport, ss, cs + 1, FIN | ACK)))
    out.append((t + 3 * gap_us, tcp4(cli, srv, cport, sport, cs + 1, ss + 1, ACK)))
    return out


def client_hello(rnd, sni):
    """A TLS 1.2 ClientHello record with an SNI (no broker ALPN): a web client's first bytes."""
    name = sni.encode()
    sni_ext = struct.pack(">HHHBH", 0, len(name) + 5, len(name) + 3, 0, len(name)) + name
    ext = sni_ext + b"\x00\x0b\x00\x02\x01\x00" + b"\x00\x0a\x00\x04\x00\x02\x00\x17"
    body = (b"\x03\x03" + rnd.randbytes(32) + b"\x20" + rnd.randbytes(32) +
            b"\x00\x04\x13\x01\xc0\x2f" + b"\x01\x00" + struct.pack(">H", len(ext)) + ext)
    hs = b"\x01" + struct.pack(">I", len(body))[1:] + body
    return b"\x16\x03\x01" + struct.pack(">H", len(hs)) + hs


def noise_flow(n, t, rnd):
    """A short web flow: HTTP on 80 or TLS on 443, a request and a few response segments."""
    cli = bytes((172, 16 + (n >> 16) % 16, (n >> 8) & 255, n & 255))
    srv = bytes((192, 168, 1 + n % 7, 1 + n % 200))
    cport = 1024 + (n * 7919) % 60000
    if n % 2:
        req = b"GET /item/%d HTTP/1.1\r\nHost: shop%d.example\r\nUser-Agent: bench\r\n\r\n" % (n, n % 97)
        sport = 80
    else:
        req = client_hello(rnd, "cdn%d.example.net" % (n % 997))
        sport = 443
    blob = rnd.randbytes(1448)
    tail = blob[:200 + n % 1000]
    return conversation(rnd, cli, srv, cport, sport, t, [(True, req), (False, blob), (False, blob),
                                                         (False, tail)])


def bulk_flow(n, t0, span_us, nbytes, rnd):
    """A long download (SSH or TLS on 443), 1448-byte segments, an ACK every second segment,
    spread evenly over span_us."""
    cli = bytes((10, 200, 0, 10 + n))
    srv = bytes((10, 201, 0, 10 + n))
    cport, sport = 40000 + n, 22 if n % 2 else 443
    cs, ss = rnd.randrange(1 << 32), rnd.randrange(1 << 32)
    out = [(t0, tcp4(cli, srv, cport, sport, cs, 0, SYN)),
           (t0 + 100, tcp4(srv, cli, sport, cport, ss, cs + 1, SYN | ACK))]
    cs, ss = cs + 1, ss + 1
    first = b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n" if sport == 22 else client_hello(rnd, "backup.example")
    out.append((t0 + 200, tcp4(cli, srv, cport, sport, cs, ss, ACK | PSH, first)))
    cs += len(first)
    blob = rnd.randbytes(1448)
    nseg = max(1, nbytes // 1448)
    step = max(1, span_us // nseg)
    t = t0 + 300
    for i in range(nseg):
        out.append((t, tcp4(srv, cli, sport, cport, ss, cs, ACK, blob)))
        ss += 1448
        if i % 2:
            out.append((t + 1, tcp4(cli, srv, cport, sport, cs, ss, ACK)))
        t += step
    out.append((t, tcp4(cli, srv, cport, sport, cs, ss, FIN | ACK)))
    out.append((t + 100, tcp4(srv, cli, sport, cport, ss, cs + 1, FIN | ACK)))
    return out


# ---- the bundled broker sessions -----------------------------------------------------------

def read_pcap(path):
    data = open(path, "rb").read()
    magic = struct.unpack("<I", data[:4])[0]
    e = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    nano = magic in (0xA1B23C4D, 0x4D3CB2A1, 0x3C4DB2A1)
    linktype = struct.unpack(e + "I", data[20:24])[0]
    off, pkts = 24, []
    while off + 16 <= len(data):
        sec, frac, caplen, _ = struct.unpack(e + "IIII", data[off:off + 16])
        pkts.append((sec * 1000000 + (frac // 1000 if nano else frac), data[off + 16:off + 16 + caplen]))
        off += 16 + caplen
    return linktype, pkts


def l3(frame):
    """(ip version, header offset of the addresses, address length, TCP offset) or None."""
    if len(frame) < 14:
        return None
    et = struct.unpack(">H", frame[12:14])[0]
    if et == 0x0800 and len(frame) >= 34 and frame[23] == 6:
        return 4, 26, 4, 14 + (frame[14] & 15) * 4
    if et == 0x86DD and len(frame) >= 54 and frame[20] == 6:
        return 6, 22, 16, 54
    return None


def endpoints(frame):
    h = l3(frame)
    if not h or len(frame) < h[3] + 14:
        return None
    _, a, n, t = h
    sp, dp = struct.unpack(">HH", frame[t:t + 4])
    return (frame[a:a + n], sp), (frame[a + n:a + 2 * n], dp), frame[t + 13]


def client_endpoints(pkts):
    """Per TCP flow of a capture, its client endpoint: the SYN's sender, else the higher port."""
    flows = {}
    for _, fr in pkts:
        e = endpoints(fr)
        if not e:
            continue
        src, dst, flags = e
        key = tuple(sorted((src, dst)))
        if flags & SYN and not flags & ACK:
            flows[key] = src
        elif key not in flows:
            flows[key] = None
    out = set()
    for (x, y), c in flows.items():
        out.add(c if c else (x if x[1] > y[1] else y))
    return out


def remap(frame, clients, n):
    """Give every client endpoint of the frame the copy's own address: copy n is new clients."""
    e = endpoints(frame)
    if not e:
        return frame
    ver, a, alen, _ = l3(frame)
    new = (bytes((10, (n >> 16) & 255, (n >> 8) & 255, n & 255)) if ver == 4 else
           b"\xfd\x00" + b"\x00" * 10 + struct.pack(">I", n))
    b = bytearray(frame)
    if e[0] in clients:
        b[a:a + alen] = new
    if e[1] in clients:
        b[a + alen:a + 2 * alen] = new
    return bytes(b)


def truth_of(name):
    """Alerts a bundled capture must raise, from its .checks file: total, and per kind."""
    path = os.path.join(CHECKS, name + ".checks")
    total, lines = None, {}
    if not os.path.exists(path):
        return None, {}
    for line in open(path):
        m = re.match(r"expect (\d+) event_type=alert\s*$", line)
        if m:
            total = int(m.group(1))
        m = re.match(r"expect (\d+) alert\.kind=(\w+)", line)
        if m:
            lines.setdefault(m.group(2), []).append(int(m.group(1)))
    # Lines of one kind either split it by session (their sum counts) or refine one line
    # (the largest counts): take whichever reading adds up to the capture's total.
    for pick in (sum, max):
        kinds = {k: pick(v) for k, v in lines.items() if pick(v)}
        if sum(kinds.values()) == total:
            return total, kinds
    return total, None


def bundled_start():
    """Capture time of the latest bundled capture: the mix starts there, so every certificate the
    TLS captures made for themselves is already valid (an earlier clock would call them not yet
    valid) and the expired ones stay expired."""
    return max(read_pcap(p)[1][0][0] for p in glob.glob(os.path.join(PCAPS, "*.pcap")))


def broker_copies(nsessions, span_us, t0):
    caps = []
    for path in sorted(glob.glob(os.path.join(PCAPS, "*.pcap"))):
        lt, pkts = read_pcap(path)
        name = os.path.basename(path)[:-5]
        total, kinds = truth_of(name)
        if lt != 1 or not pkts or total is None:
            continue
        clients = client_endpoints(pkts)
        caps.append((name, pkts, clients, total, kinds))
    per_copy = sum(len(c[2]) for c in caps)
    copies = max(1, round(nsessions / per_copy))
    frames, truth, n = [], {"total": 0, "kinds": {}}, 0
    for c in range(copies):
        start = t0 + c * span_us // copies
        for i, (name, pkts, clients, total, kinds) in enumerate(caps):
            n += 1
            base = pkts[0][0]
            for ts, fr in pkts:
                frames.append((start + i * 3000 + ts - base, remap(fr, clients, n)))
            truth["total"] += total
            if kinds is None:
                raise SystemExit(f"bench: cannot read the alerts per kind of {name}.checks")
            for k, v in kinds.items():
                truth["kinds"][k] = truth["kinds"].get(k, 0) + v
    return frames, copies * per_copy, truth


def write_pcap(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for ts, fr in frames:
            f.write(struct.pack("<IIII", ts // 1000000, ts % 1000000, len(fr), len(fr)))
            f.write(fr)


def build_mix(path, scale):
    rnd = random.Random(20261202)
    t0, span = bundled_start(), 120 * 1_000_000 * scale
    frames, sessions, truth = broker_copies(8000 * scale, span, t0)
    for n in range(92000 * scale):
        frames += noise_flow(n, t0 + rnd.randrange(span), rnd)
    for n in range(19):
        frames += bulk_flow(n, t0 + n * 1000, span - 2_000_000, 510_000_000 * scale // 19, rnd)
    frames.sort(key=lambda x: x[0])
    write_pcap(path, frames)
    meta = {"packets": len(frames), "bytes": sum(len(f) for _, f in frames),
            "flows": sessions + 92000 * scale + 19, "broker_sessions": sessions, "truth": truth}
    json.dump(meta, open(path + ".json", "w"))


def build_concurrency(path, concurrent, flows=100_000, per_flow=10):
    """flows short TCP flows, in waves of `concurrent` open at once; within a wave every flow
    sends one packet per round. Same flows and packets whatever the concurrency."""
    rnd = random.Random(concurrent)
    t, frames = 1_764_000_000 * 1_000_000, []
    blob = rnd.randbytes(600)
    for w0 in range(0, flows, concurrent):
        wave = range(w0, min(flows, w0 + concurrent))
        state = {}
        for n in wave:
            cli = bytes((172, 20 + (n >> 16) % 8, (n >> 8) & 255, n & 255))
            srv = bytes((192, 168, 9, 1 + n % 250))
            cs, ss = rnd.randrange(1 << 32), rnd.randrange(1 << 32)
            state[n] = [cli, srv, 1024 + n % 60000, 80, cs + 1, ss + 1]
            frames.append((t, tcp4(cli, srv, state[n][2], 80, cs, 0, SYN)))
            t += 1
        for n in wave:
            cli, srv, cp, sp, cs, ss = state[n]
            frames.append((t, tcp4(srv, cli, sp, cp, ss - 1, cs, SYN | ACK)))
            t += 1
        for r in range(per_flow - 2):
            for n in wave:
                st = state[n]
                cli, srv, cp, sp, cs, ss = st
                if r == 0:
                    data = b"GET /%d HTTP/1.1\r\nHost: h\r\n\r\n" % n
                    frames.append((t, tcp4(cli, srv, cp, sp, cs, ss, ACK | PSH, data)))
                    st[4] += len(data)
                else:
                    frames.append((t, tcp4(srv, cli, sp, cp, ss, cs, ACK, blob)))
                    st[5] += len(blob)
                t += 1
    write_pcap(path, frames)
    json.dump({"packets": len(frames), "bytes": sum(len(f) for _, f in frames), "flows": flows,
               "concurrent": concurrent}, open(path + ".json", "w"))


# ---- measuring -----------------------------------------------------------------------------

def build_readloop(outdir):
    exe = os.path.join(outdir, "readloop")
    src = os.path.join(ROOT, "scripts", "bench", "readloop.c")
    subprocess.run(["cc", "-O2", "-o", exe, src, "-lpcap"], check=True)
    return exe


def run_rss(cmd):
    import time
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    el = time.perf_counter() - t0
    err = p.stderr.read().decode(errors="replace")
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode:
        sys.stderr.write(err)
        raise SystemExit(f"bench: {' '.join(cmd)} failed with status {p.returncode}")
    return el, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def run_together(cmds):
    """Processes started at once: (seconds until the last ends, CPU seconds of all)."""
    import time
    t0 = time.perf_counter()
    ps = [subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for c in cmds]
    cpu = 0.0
    for p in ps:
        _, status, usage = os.wait4(p.pid, 0)
        if os.waitstatus_to_exitcode(status):
            raise SystemExit(f"bench: {' '.join(p.args)} failed with status {status}")
        cpu += usage.ru_utime + usage.ru_stime
    return time.perf_counter() - t0, cpu


def halves_filters(path):
    """Two BPF filters that part a capture's IPv4 address pairs in two: one bit of the sum of
    the two addresses' last bytes (the same whichever end sent the packet), the bit that parts
    the packets most evenly. Returns (filter of each half, packets of each half)."""
    counts = [[0, 0] for _ in range(8)]
    with open(path, "rb") as f:
        head = f.read(24)
        e = "<" if struct.unpack("<I", head[:4])[0] in (0xA1B2C3D4, 0xA1B23C4D) else ">"
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                break
            frame = f.read(struct.unpack(e + "IIII", rec)[2])
            if len(frame) >= 34 and frame[12:14] == b"\x08\x00":
                s = frame[29] + frame[33]
                for b in range(8):
                    counts[b][(s >> b) & 1] += 1
    bit = min(range(8), key=lambda b: abs(counts[b][0] - counts[b][1]))
    expr = f"((ip[15] + ip[19]) & {1 << bit})"
    return [f"{expr} = 0", f"{expr} != 0"], counts[bit]


def sensor_cmd(exe, cap, workers, out=os.devnull):
    cmd = [exe, "-q", "-r", cap, "-o", out]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    return cmd


def alerts_of(path):
    kinds, keys = {}, set()
    for line in open(path):
        r = json.loads(line)
        if r.get("event_type") != "alert":
            continue
        k = r["alert"]["kind"]
        kinds[k] = kinds.get(k, 0) + 1
        keys.add((k, r.get("src_ip"), r.get("src_port"), r.get("dest_ip"), r.get("dest_port"),
                  r.get("timestamp")))
    return kinds, keys


def spread(xs):
    m = statistics.median(xs)
    return m, (max(xs) - min(xs)) / m * 100 if m else 0.0


def ensure(path, builder, *args):
    if not os.path.exists(path) or not os.path.exists(path + ".json"):
        # Built in another process: a large parent would inflate nothing here (children are
        # measured alone with wait4), but it keeps this process small and quick to fork.
        subprocess.run([sys.executable, os.path.abspath(__file__), "--build-only", builder, path]
                       + [str(a) for a in args], check=True)
    subprocess.run(["cat", path], stdout=subprocess.DEVNULL, check=True)   # into the page cache
    return json.load(open(path + ".json"))


# ---- live capture --------------------------------------------------------------------------
# --live: the same capture replayed by tcpreplay into a veth pair, the sensor capturing the far end
# and writing to Redis; per rate: what was sent, what the kernel and the sensor got, the alerts
# against an offline read of the same file, and how long an alert took to reach the stream.
# Everything lives in a network namespace of its own (bwbench<PID>): both veth ends, the sensor,
# tcpreplay and redis-server on the namespace's loopback. The host's interfaces and loopback ports
# (shared with everyone on the machine) stay untouched, nothing else sends on the veth, and the
# sensor reaches Redis over TCP on loopback as it does next to a local Redis; the CPU is the same.

def add_live_args(ap):
    g = ap.add_argument_group("live capture (--live; needs root, ip netns, tcpreplay, redis-server)")
    g.add_argument("--live", action="store_true", help="replay the capture into a veth at --rates")
    g.add_argument("--rates", default="1000,2000",
                   help="tcpreplay rates, Mbit/s (default 1000,2000); with --pps, packets/s")
    g.add_argument("--pps", action="store_true", help="--rates are packets/s (tcpreplay --pps)")
    g.add_argument("-r", dest="live_file", metavar="FILE",
                   help="replay this pcap instead of the generated mix")
    g.add_argument("--live-packets", type=int, metavar="N",
                   help="replay only the first N packets (a short run; both reads use the cut)")
    g.add_argument("--settle", type=float, default=2.0,
                   help="seconds to wait after tcpreplay ends before stopping the sensor (default 2: "
                        "well over the 30 ms a session lingers after its reset)")
    g.add_argument("--live-workers", type=int, metavar="N",
                   help="--workers N for the live sensor (default: its own, one per core)")
    g.add_argument("-B", dest="live_buffer", type=int, metavar="MIB",
                   help="the sensor's -B (default: the sensor's own default)")
    g.add_argument("--live-self-check", action="store_true",
                   help="check the live mode's parsing (rates, tcpreplay's summary, keys, cut) and exit")
    g.add_argument("--live-dump", metavar="DIR",
                   help="write each rate's stream entries to DIR/rate-R.jsonl (kind, timestamp, "
                        "entry ID, delay ms) and the sensor's stderr to DIR/rate-R.err")


def parse_rates(text):
    """'1000,2000' -> [1000.0, 2000.0]; refuses empty, zero or negative rates."""
    try:
        rates = [float(x) for x in text.split(",")]
    except ValueError:
        raise SystemExit(f"bench: --rates '{text}': a comma list of numbers, e.g. 100,300")
    if not rates or any(r <= 0 for r in rates):
        raise SystemExit(f"bench: --rates '{text}': every rate must be above 0")
    return rates


def cut_pcap(src, dst, n):
    """The first n packets of a classic pcap file src, written to dst."""
    with open(src, "rb") as f, open(dst, "wb") as o:
        hdr = f.read(24)
        if len(hdr) < 24 or struct.unpack("<I", hdr[:4])[0] not in (0xA1B2C3D4, 0xD4C3B2A1, 0xA1B23C4D, 0x4D3CB2A1):
            raise SystemExit(f"bench: --live-packets: {src} is not a classic pcap file")
        e = "<" if struct.unpack("<I", hdr[:4])[0] in (0xA1B2C3D4, 0xA1B23C4D) else ">"
        o.write(hdr)
        for _ in range(n):
            rec = f.read(16)
            if len(rec) < 16:
                break
            o.write(rec + f.read(struct.unpack(e + "IIII", rec)[2]))


def sh(*cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


class LiveNet:
    """Namespace bwbench<PID> with a veth pair (tx end for tcpreplay, rx end for the sensor) and a
    redis-server on the namespace's loopback; removed by close()."""

    def __init__(self, tmpdir):
        pid = os.getpid()
        self.ns, self.tx, self.rx = f"bwbench{pid}", f"bwb{pid}t", f"bwb{pid}r"
        self.redis = None
        sh("ip", "netns", "add", self.ns)
        try:
            self.run("ip", "link", "add", self.tx, "type", "veth", "peer", "name", self.rx)
            for dev in (self.tx, self.rx):
                # No IPv6 on the pair: no router solicitation or MLD packet joins the replay.
                self.run("sysctl", "-qw", f"net.ipv6.conf.{dev}.disable_ipv6=1")
                self.run("ip", "link", "set", dev, "up")
            self.run("ip", "link", "set", "lo", "up")
            self.port = int(self.run(sys.executable, "-c", "import socket; s = socket.socket(); "
                                     "s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])",
                                     capture_output=True, text=True).stdout)
            self.redis_log = open(os.path.join(tmpdir, "redis.log"), "w")
            self.redis = subprocess.Popen(self.wrap("redis-server", "--bind", "127.0.0.1", "--port",
                                                    str(self.port), "--save", "", "--appendonly", "no",
                                                    "--dir", tmpdir, "--daemonize", "no"),
                                          stdout=self.redis_log, stderr=subprocess.STDOUT)
            import time
            for _ in range(100):
                if self.cli("PING", check=False).strip() == '"PONG"':
                    break
                time.sleep(0.05)
            else:
                raise SystemExit(f"bench: redis-server did not start in {self.ns} (see {tmpdir}/redis.log)")
        except BaseException:
            self.close()
            raise

    def wrap(self, *cmd):
        return ["ip", "netns", "exec", self.ns, *cmd]

    def run(self, *cmd, **kw):
        return sh(*self.wrap(*cmd), **kw)

    def cli(self, *args, check=True):
        """One Redis command, the reply as redis-cli --json prints it (RESP2)."""
        return subprocess.run(self.wrap("redis-cli", "-2", "--json", "-p", str(self.port), *args),
                              capture_output=True, text=True, check=check).stdout

    def close(self):
        if self.redis:
            self.redis.terminate()
            self.redis.wait()
            self.redis = None
        subprocess.run(["ip", "netns", "del", self.ns], stderr=subprocess.DEVNULL)


def alert_keys(records):
    """Alerts as a multiset keyed like the offline mode's (kind, client, broker) but without the
    timestamp: live, packets carry the time they were replayed, not the file's."""
    from collections import Counter
    return Counter((r["alert"]["kind"], r.get("src_ip"), r.get("src_port"), r.get("dest_ip"),
                    r.get("dest_port")) for r in records if r.get("event_type") == "alert")


def ts_us(text):
    """'2026-12-02T14:46:22.123456+0000' (or ...Z) -> microseconds since the epoch (UTC)."""
    import calendar
    import time
    whole, frac = re.sub(r"(Z|[+-]00:?00)$", "", text).split(".")
    return calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) * 1_000_000 + int(frac.ljust(6, "0")[:6])


def percentile(xs, q):
    """Nearest-rank percentile of a sorted list."""
    return xs[min(len(xs) - 1, max(0, -(-len(xs) * q // 100) - 1))]


def tcpreplay_counts(text):
    """(packets sent, packets failed) from tcpreplay's own summary."""
    sent = re.search(r"Successful packets:\s+(\d+)", text)
    failed = re.search(r"Failed packets:\s+(\d+)", text)
    if not sent:
        raise SystemExit("bench: cannot read tcpreplay's summary:\n" + text)
    return int(sent.group(1)), int(failed.group(1)) if failed else 0


def live_rate(a, net, cap, rate, n, tmpdir):
    """One rate: start the sensor on the rx end, replay, stop; returns the row."""
    import time
    sensor = f"bench-live-{n}"
    err_path = os.path.join(tmpdir, f"{sensor}.err")
    jsonl = os.path.join(tmpdir, f"{sensor}.jsonl")
    # The JSON lines with --session-log say when each session ended: which alerts waited for it.
    cmd = [a.exe, "-i", net.rx, "-v", "-o", jsonl, "--session-log", "--sensor-name", sensor, "--redis",
           f"redis://127.0.0.1:{net.port}"]
    if a.live_buffer:
        cmd += ["-B", str(a.live_buffer)]
    if a.live_workers:
        cmd += ["--workers", str(a.live_workers)]
    with open(err_path, "w") as err:
        p = subprocess.Popen(net.wrap(*cmd), stdout=subprocess.DEVNULL, stderr=err)
    try:
        for _ in range(200):
            if "capturing on" in open(err_path).read():
                break
            if p.poll() is not None:
                raise SystemExit(f"bench: the sensor exited at start:\n{open(err_path).read()}")
            time.sleep(0.05)
        else:
            raise SystemExit(f"bench: the sensor did not start:\n{open(err_path).read()}")
        speed = ["--pps", f"{rate:g}"] if a.pps else ["--mbps", f"{rate:g}"]
        rp = subprocess.run(net.wrap("tcpreplay", "-i", net.tx, *speed, cap), capture_output=True, text=True)
        if rp.returncode:
            raise SystemExit(f"bench: tcpreplay failed:\n{rp.stdout}{rp.stderr}")
        sent, failed = tcpreplay_counts(rp.stdout)
        rated = re.search(r"Rated:\s+[\d.]+ Bps,\s+([\d.]+) Mbps,\s+([\d.]+) pps", rp.stdout)
        time.sleep(a.settle)
        stop_ms = time.time() * 1000
        cpu = sensor_cpu(p.pid)                 # `ip netns exec` became the sensor: same PID
        p.terminate()
        p.wait()
    except BaseException:
        if p.poll() is None:
            p.kill()
            p.wait()
        raise
    errtext = open(err_path).read()
    if p.returncode:
        raise SystemExit(f"bench: the sensor failed (status {p.returncode}):\n{errtext}")
    stats = [json.loads(l) for l in errtext.splitlines() if l.startswith("{") and '"event_type":"stats"' in l]
    if not stats:
        raise SystemExit(f"bench: no stats line at the sensor's exit:\n{errtext}")
    capst = stats[-1]["stats"]["capture"]
    entries = json.loads(net.cli("XRANGE", f"brokerwatch:{{{sensor}}}:alerts", "-", "+"))
    ends = {(r["flow_id"], r["timestamp"]) for r in map(json.loads, open(jsonl))
            if r.get("event_type") == "session"}
    records, delays, end_delays, at_exit = [], [], [], 0
    for eid, fields in entries:
        f = dict(zip(fields[::2], fields[1::2]))
        r = json.loads(f["json"])
        records.append(r)
        id_ms = int(eid.split("-")[0])
        if id_ms >= stop_ms:
            at_exit += 1          # finished by the sensor's exit, not by a packet: no delay
        elif (r["flow_id"], r["timestamp"]) in ends:
            end_delays.append(id_ms - ts_us(r["timestamp"]) / 1000)   # decided by the session's end
        else:
            delays.append(id_ms - ts_us(r["timestamp"]) / 1000)
    if a.live_dump:
        os.makedirs(a.live_dump, exist_ok=True)
        with open(os.path.join(a.live_dump, f"rate-{rate:g}.jsonl"), "w") as o:
            for (eid, _), r in zip(entries, records):
                o.write(json.dumps({"kind": r["alert"]["kind"], "timestamp": r["timestamp"], "id": eid,
                                    "src": f"{r.get('src_ip')}:{r.get('src_port')}",
                                    "delay_ms": int(eid.split("-")[0]) - ts_us(r["timestamp"]) / 1000}) + "\n")
        with open(os.path.join(a.live_dump, f"rate-{rate:g}.err"), "w") as o:
            o.write(errtext)
    delays.sort()
    end_delays.sort()
    return {"rate": rate, "sent": sent, "failed": failed,
            "rated_mbps": float(rated.group(1)) if rated else None,
            "rated_pps": float(rated.group(2)) if rated else None,
            "kernel_received": capst["kernel_received"], "kernel_drops": capst["kernel_drops"],
            "interface_drops": capst["interface_drops"], "sensor_packets": capst["packets"],
            "alerts": alert_keys(records), "at_exit": at_exit, "delays": delays,
            "end_delays": end_delays, "cpu": cpu}


def sensor_cpu(pid):
    """User and system time of a running process so far, in seconds (None if gone)."""
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def compare(live, offline):
    """'same' or what differs, per kind."""
    if live == offline:
        return "same"
    missing, extra = offline - live, live - offline
    kinds = {}
    for (k, *_), c in missing.items():
        kinds.setdefault(k, [0, 0])[0] += c
    for (k, *_), c in extra.items():
        kinds.setdefault(k, [0, 0])[1] += c
    return "; ".join(f"{k} -{m} +{x}" for k, (m, x) in sorted(kinds.items()))


def live_self_check():
    """--live-self-check: the parsing the live mode relies on, on fixed inputs; no root needed."""
    from collections import Counter
    assert parse_rates("100,300") == [100.0, 300.0] and parse_rates("2.5") == [2.5]
    for bad in ("", "0", "100,-1", "fast", "100,,300"):
        try:
            parse_rates(bad)
        except SystemExit:
            continue
        raise AssertionError(f"--rates '{bad}' was accepted")
    assert percentile(list(range(1, 101)), 99) == 99 and percentile([7.0], 99) == 7.0
    assert percentile(list(range(1, 101)), 50) == 50
    assert ts_us("1970-01-01T00:00:01.000002Z") == 1_000_002
    assert ts_us("2026-12-02T14:46:22.5Z") - ts_us("2026-12-02T14:46:21.000000Z") == 1_500_000
    summary = ("Actual: 50000 packets (28388371 bytes) sent in 2.27 seconds\n"
               "Statistics for network device: bwb1t\n\tSuccessful packets:        49998\n"
               "\tFailed packets:            2\n")
    assert tcpreplay_counts(summary) == (49998, 2)
    one = {"event_type": "alert", "alert": {"kind": "plaintext_session"}, "src_ip": "10.0.0.1",
           "src_port": 4000, "dest_ip": "10.1.0.1", "dest_port": 1883, "timestamp": "x"}
    other = dict(one, alert={"kind": "auth_failure"})
    k1, k2 = alert_keys([one, one, other]), alert_keys([one, other, {"event_type": "session"}])
    assert k1 == Counter({("plaintext_session", "10.0.0.1", 4000, "10.1.0.1", 1883): 2,
                          ("auth_failure", "10.0.0.1", 4000, "10.1.0.1", 1883): 1})
    assert compare(k1, k1) == "same" and compare(k2, k1) == "plaintext_session -1 +0"
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(PCAPS, "mqtt_creds.pcap")
        cut_pcap(src, os.path.join(d, "cut.pcap"), 3)
        assert read_pcap(os.path.join(d, "cut.pcap"))[1] == read_pcap(src)[1][:3]
    print("bench.py --live: self-check passed")
    return 0


def live_main(a):
    import time
    rates = parse_rates(a.rates)
    if not os.access(a.exe, os.X_OK):
        raise SystemExit(f"bench: {a.exe} is not an executable (build it first: cmake --build build)")
    for tool in ("ip", "tcpreplay", "redis-server", "redis-cli"):
        if not any(os.access(os.path.join(d, tool), os.X_OK) for d in os.environ["PATH"].split(":") + ["/usr/sbin", "/sbin"]):
            raise SystemExit(f"bench: --live needs {tool}")
    if os.geteuid() != 0:
        raise SystemExit("bench: --live needs root (network namespace, veth, packet capture)")
    tmp = tempfile.TemporaryDirectory()
    outdir = a.keep or tmp.name
    os.makedirs(outdir, exist_ok=True)
    if a.live_file:
        cap = a.live_file
    else:
        cap = os.path.join(outdir, f"mix-x{a.scale}.pcap")
        ensure(cap, "mix", a.scale)
    if a.live_packets:
        cut = os.path.join(tmp.name, f"first-{a.live_packets}.pcap")
        cut_pcap(cap, cut, a.live_packets)
        cap = cut
    subprocess.run(["cat", cap], stdout=subprocess.DEVNULL, check=True)    # into the page cache
    offline_out = os.path.join(tmp.name, "offline.jsonl")
    subprocess.run([a.exe, "-q", "-r", cap, "-o", offline_out], check=True)
    offline = alert_keys(json.loads(l) for l in open(offline_out))
    load = open("/proc/loadavg").read().split()[:3]
    print(f"live: {cap}; offline read: {sum(offline.values()):,} alerts; "
          f"load average {' '.join(load)} ({os.cpu_count()} CPUs)")
    unit = "pps" if a.pps else "Mbit/s"
    print(f"\n{'rate ' + unit:>12} {'sent':>10} {'got Mbit/s':>10} {'got kpps':>8} {'kernel rx':>10} {'k drops':>8} "
          f"{'if drops':>8} {'sensor':>10} {'alerts':>8} {'vs offline':>10} "
          f"{'delay ms median':>15} {'p99':>6} {'max':>6} {'at end':>6} {'p99':>6} {'max':>6} "
          f"{'all p99':>7} {'at exit':>7} {'CPU s':>6}")
    try:
        net = LiveNet(tmp.name)
    except subprocess.CalledProcessError as e:
        raise SystemExit(f"bench: cannot set up the namespace: {' '.join(e.cmd)} failed (status {e.returncode})")
    try:
        for n, rate in enumerate(rates):
            row = live_rate(a, net, cap, rate, n, tmp.name)
            d = row["delays"]
            med = f"{statistics.median(d):.1f}" if d else "-"
            p99 = f"{percentile(d, 99):.1f}" if d else "-"
            mx = f"{d[-1]:.1f}" if d else "-"
            e = row["end_delays"]
            ep99 = f"{percentile(e, 99):.0f}" if e else "-"
            emx = f"{e[-1]:.0f}" if e else "-"
            every = sorted(d + e)
            ap99 = f"{percentile(every, 99):.1f}" if every else "-"
            got = f"{row['rated_mbps']:.0f}" if row["rated_mbps"] is not None else "-"
            kpps = f"{row['rated_pps'] / 1000:.0f}" if row["rated_pps"] is not None else "-"
            print(f"{rate:12g} {row['sent']:10,} {got:>10} {kpps:>8} {row['kernel_received']:10,} "
                  f"{row['kernel_drops']:8,} {row['interface_drops']:8,} {row['sensor_packets']:10,} "
                  f"{sum(row['alerts'].values()):8,} {compare(row['alerts'], offline):>10} "
                  f"{med:>15} {p99:>6} {mx:>6} {len(e):6,} {ep99:>6} {emx:>6} {ap99:>7} {row['at_exit']:7,} "
                  f"{row['cpu'] if row['cpu'] is None else format(row['cpu'], '.2f'):>6}", flush=True)
            if row["failed"]:
                print(f"  tcpreplay: {row['failed']:,} packets failed to send")
            time.sleep(0.5)
    finally:
        net.close()
    return 0



def halves(a, cap, npk):
    """--halves: what parting the work by address pair costs on this machine without any
    sharing: one-worker processes, each reading the whole file and keeping half the address
    pairs (a BPF filter), alone and both at once, against one process taking all."""
    filters, counts = halves_filters(cap)
    one = sensor_cmd(a.exe, cap, 1)
    cmds = [one + [f] for f in filters]
    t = {k: [] for k in ("all", "a", "b", "both", "none")}
    c = {k: [] for k in t}
    for _ in range(a.runs):
        for k, cmd in (("all", [one]), ("a", [cmds[0]]), ("b", [cmds[1]]), ("both", cmds),
                       ("none", [one + ["ip[0] = 0"]])):
            el, cp = run_together(cmd)
            t[k].append(el)
            c[k].append(cp)
    print(f"\nhalves (--workers 1 processes, each reading the whole file; half the address pairs "
          f"each by '{filters[0]}' and '{filters[1]}'):")
    rows = (("all pairs", "all", npk), ("half A alone", "a", counts[0]), ("half B alone", "b", counts[1]),
            ("A and B at once", "both", None), ("no pair (read)", "none", 0))
    for label, k, n in rows:
        rr = [x / y for x, y in zip(t[k], t["all"])]
        pk = f"{n:>10,} packets" if n is not None else f"{'':>18}"
        print(f"  {label:16} {statistics.median(t[k]):6.3f} s {pk}  {statistics.median(rr):.2f} of all "
              f"(per round {min(rr):.2f} to {max(rr):.2f}), CPU {statistics.median(c[k]):.3f} s")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="alternated rounds (default 5)")
    ap.add_argument("--workers", default="1,2", help="--workers values to time (default 1,2)")
    ap.add_argument("--scale", type=int, default=1, help="multiply the mix (2: the memory check)")
    ap.add_argument("--keep", metavar="DIR", help="keep (and reuse) the generated captures in DIR")
    ap.add_argument("--no-concurrency", action="store_true", help="skip the 10 k / 100 k flows test")
    ap.add_argument("--against", metavar="EXE", help="another build, timed in the same rounds (A/B)")
    ap.add_argument("--halves", action="store_true",
                    help="also time two --workers 1 processes each taking half the address pairs")
    ap.add_argument("--build-only", nargs="+", help=argparse.SUPPRESS)
    ap.add_argument("exe", nargs="?", default=os.path.join(ROOT, "build", "brokerwatch"))
    add_live_args(ap)
    a = ap.parse_args()
    if a.live_self_check:
        return live_self_check()
    if a.live:
        return live_main(a)
    if a.build_only:
        kind, path, *rest = a.build_only
        if kind == "mix":
            build_mix(path, int(rest[0]))
        else:
            build_concurrency(path, int(rest[0]))
        return 0
    for exe in filter(None, (a.exe, a.against)):
        if not os.access(exe, os.X_OK):
            raise SystemExit(f"bench: {exe} is not an executable (build it first: cmake --build build)")
    helptext = subprocess.run([a.exe, "--help"], capture_output=True, text=True).stdout
    has_workers = "--workers" in helptext
    workers = [int(w) for w in a.workers.split(",")] if has_workers else [None]
    if not has_workers:
        print("note: this brokerwatch has no --workers; timing its single pipeline only")

    tmp = tempfile.TemporaryDirectory()
    outdir = a.keep or tmp.name
    os.makedirs(outdir, exist_ok=True)
    readloop = build_readloop(tmp.name)
    cap = os.path.join(outdir, f"mix-x{a.scale}.pcap")
    meta = ensure(cap, "mix", a.scale)
    npk, nby = meta["packets"], meta["bytes"]
    print(f"capture: {npk:,} packets, {nby / 1e6:,.0f} MB, {meta['flows']:,} flows "
          f"({meta['broker_sessions']:,} broker sessions), {cap}")

    times = {"readloop": []}
    rss = {w: [] for w in workers}
    cpu = {w: [] for w in workers}
    other = {w: [] for w in workers}                 # --against: the other build, same rounds
    for w in workers:
        times[w] = []
    for _ in range(a.runs):
        times["readloop"].append(run_rss([readloop, cap])[0])
        for w in workers:
            el, r, c = run_rss(sensor_cmd(a.exe, cap, w))
            times[w].append(el)
            rss[w].append(r)
            cpu[w].append(c)
            if a.against:
                other[w].append(run_rss(sensor_cmd(a.against, cap, w))[0])
    base, base_sp = spread(times["readloop"])
    print(f"\n{'':16} {'median s':>9} {'spread':>7} {'x read':>7} {'packets/s':>12} {'Gbit/s':>7} {'peak RSS':>9} {'CPU s':>6}")
    print(f"{'read loop':16} {base:9.3f} {base_sp:6.1f}% {1.0:7.2f} {npk / base:12,.0f} {nby * 8 / base / 1e9:7.2f} {'':>9}")
    for w in workers:
        m, sp = spread(times[w])
        label = "brokerwatch" if w is None else f"--workers {w}"
        print(f"{label:16} {m:9.3f} {sp:6.1f}% {m / base:7.2f} {npk / m:12,.0f} {nby * 8 / m / 1e9:7.2f} "
              f"{max(rss[w]):7.0f} MiB {statistics.median(cpu[w]):6.3f}")
    if len(workers) > 1 and workers[0] is not None:
        w1 = statistics.median(times[workers[0]])
        for w in workers[1:]:
            # each round's own ratio too: its runs are seconds apart, so a machine whose speed
            # drifts from minute to minute moves both alike
            rr = [b / x for x, b in zip(times[workers[0]], times[w])]
            cr = [b / x for x, b in zip(cpu[workers[0]], cpu[w])]
            print(f"--workers {w} / --workers {workers[0]}: {statistics.median(times[w]) / w1:.2f} "
                  f"(per round: median {statistics.median(rr):.2f}, {min(rr):.2f} to {max(rr):.2f}); "
                  f"CPU time {statistics.median(cr):.2f} times as much")
    if a.against:
        print(f"\nagainst {a.against} (timed in the same rounds):")
        for w in workers:
            label = "brokerwatch" if w is None else f"--workers {w}"
            m, sp = spread(other[w])
            rr = [y / x for x, y in zip(times[w], other[w])]
            print(f"  {label:14} {m:9.3f} s {sp:6.1f}%  its time / this build's, per round: median "
                  f"{statistics.median(rr):.2f}, {min(rr):.2f} to {max(rr):.2f}")

    if a.halves:
        halves(a, cap, npk)

    truth = meta["truth"]
    print(f"\nalerts (truth from the bundled captures' .checks: {truth['total']:,})")
    sets = {}
    for w in workers:
        out = os.path.join(tmp.name, f"alerts-{w}.jsonl")
        subprocess.run(sensor_cmd(a.exe, cap, w, out), check=True)
        kinds, keys = alerts_of(out)
        sets[w] = keys
        found = sum(kinds.values())
        label = "brokerwatch" if w is None else f"--workers {w}"
        diff = {k: (kinds.get(k, 0), v) for k, v in truth["kinds"].items() if kinds.get(k, 0) != v}
        extra = {k: n for k, n in kinds.items() if k not in truth["kinds"]}
        verdict = "= truth" if found == truth["total"] and not diff and not extra else "DIFFERS"
        print(f"  {label:14} {found:,} {verdict}" +
              "".join(f"; {k} {g:,} (truth {t:,})" for k, (g, t) in sorted(diff.items())) +
              "".join(f"; {k} {n:,} (truth 0)" for k, n in sorted(extra.items())))
    if len(sets) > 1:
        ref = sets[workers[0]]
        for w in workers[1:]:
            same = sets[w] == ref
            print(f"  --workers {w} vs --workers {workers[0]}: "
                  f"{'the same alerts' if same else f'{len(sets[w] ^ ref)} alerts differ'}")

    if not a.no_concurrency:
        print("\ncost per packet by flows open at once (100 k flows, 10 packets each; --workers 1):")
        w = workers[0]
        concs = (10_000, 100_000)
        paths = {c: os.path.join(outdir, f"conc-{c}.pcap") for c in concs}
        cms = {c: ensure(paths[c], "conc", c) for c in concs}
        rl = {c: [] for c in concs}
        bw = {c: [] for c in concs}
        for _ in range(a.runs):                  # both captures in every round
            for c in concs:
                rl[c].append(run_rss([readloop, paths[c]])[0])
                bw[c].append(run_rss(sensor_cmd(a.exe, paths[c], w))[0])
        costs = {}
        for c in concs:
            r, b = statistics.median(rl[c]), statistics.median(bw[c])
            costs[c] = (b - r) / cms[c]["packets"] * 1e9
            print(f"  {c:>7,} open: {cms[c]['packets']:,} packets, read loop {r:.3f} s, sensor {b:.3f} s, "
                  f"sensor cost {costs[c]:.0f} ns/packet beyond the read")
        # The sensor reads a file faster than the read loop (its own reader), so "beyond the read"
        # can come near 0; the growth itself is the sensor's own two times, round by round.
        grow = [(y - x) / cms[concs[1]]["packets"] * 1e9 for x, y in zip(bw[concs[0]], bw[concs[1]])]
        print(f"  100 k open - 10 k open: {statistics.median(grow):+.0f} ns/packet "
              f"(per round {min(grow):+.0f} to {max(grow):+.0f})")
        if costs[concs[0]] >= 20 and costs[concs[1]] > 0:
            print(f"  100 k / 10 k: {costs[concs[1]] / costs[concs[0]]:.2f}")
        else:                                    # a ratio of two near-zero differences is noise
            print("  100 k / 10 k: not shown, the 10 k cost beyond the read loop is under 20 ns/packet")
    return 0


if __name__ == "__main__":
    sys.exit(main())
