#!/usr/bin/env python3
"""redis_check.py: checks for tests/scripts/test_redis*.sh (not a test by itself).

A minimal RESP client (no third-party module; follows Redis Cluster MOVED/ASK redirections) and
the comparisons the tests make:
  stream-vs-jsonl HOST PORT DB STREAM JSONL   stream entries == the alert lines of JSONL, in order,
                                              json byte for byte, indexed fields == JSON values
  lines-vs-jsonl  OUT JSONL [KIND...]         JSON lines printed by the reader == JSONL alerts
  merged          OUT JSONL...                the reader's lines: each JSONL's alerts once, in its
                                              order, and the whole merged by timestamp
  inventory       HOST PORT DB SENSOR JSONL   broker hashes + zset == what the session records say
  sensor          HOST PORT DB NAME ALERTS    the sensor hash, registry and stats stream after a run
  pending         HOST PORT DB STREAM GROUP   print the number of pending entries
  dead-read       HOST PORT DB STREAM GROUP CONSUMER N   read N entries as a consumer that dies
Exit 0 when everything matches; otherwise one line per difference and exit 1.
"""
import json
import socket
import sys
from datetime import datetime, timezone


def key(sensor, what):
    """A sensor's key: every one carries the hash tag {SENSOR} (docs/redis.md)."""
    return "brokerwatch:{%s}:%s" % (sensor, what)


class Conn:
    def __init__(self, host, port, db=0):
        self.s = socket.create_connection((host, int(port)), timeout=10)
        self.f = self.s.makefile("rb")
        if int(db):
            self.cmd("SELECT", str(db))

    def send(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.s.sendall(b"".join(out))

    def cmd(self, *args):
        self.send(*args)
        return self.read()

    def read(self):
        line = self.f.readline()
        if not line:
            raise EOFError("connection closed")
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)[:-2]
            return data.decode()
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise RuntimeError("bad RESP type %r" % t)


class Resp:
    """Commands to one server, or to whichever cluster node a MOVED/ASK reply names."""

    def __init__(self, host, port, db=0):
        self.db = db
        self.conns = {}
        self.home = (host, int(port))

    def conn(self, addr):
        if addr not in self.conns:
            self.conns[addr] = Conn(addr[0], addr[1], self.db)
        return self.conns[addr]

    def cmd(self, *args):
        addr, asking = self.home, False
        for _ in range(6):
            c = self.conn(addr)
            try:
                if asking:
                    c.cmd("ASKING")
                return c.cmd(*args)
            except RuntimeError as e:
                words = str(e).split()
                if words and words[0] in ("MOVED", "ASK") and len(words) == 3:
                    host, _, port = words[2].rpartition(":")
                    addr, asking = (host or addr[0], int(port)), words[0] == "ASK"
                    continue
                raise
        raise RuntimeError("too many redirections")


problems = []


def bad(msg):
    problems.append(msg)
    print("MISMATCH: " + msg)


def alerts_of(path):
    lines = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line and json.loads(line).get("event_type") == "alert":
                lines.append(line)
    return lines


# The indexed fields of an alert's stream entry, in order, and where each comes from in the JSON.
INDEXED = {
    "sensor": lambda r: r["sensor"],
    "ts": lambda r: r["timestamp"],
    "kind": lambda r: r["alert"]["kind"],
    "severity": lambda r: r["alert"]["metadata"]["signature_severity"][0],
    "app_proto": lambda r: r["app_proto"],
    "src_ip": lambda r: r["src_ip"],
    "dest_ip": lambda r: r["dest_ip"],
    "dest_port": lambda r: str(r["dest_port"]),
}


def indexed(rec):
    return {k: f(rec) for k, f in INDEXED.items()}


def stream_vs_jsonl(host, port, db, stream, jsonl):
    r = Resp(host, port, db)
    entries, start = [], "-"
    while True:
        page = r.cmd("XRANGE", stream, start, "+", "COUNT", "1000")
        if not page:
            break
        entries += page
        if len(page) < 1000:
            break
        start = "(" + page[-1][0]
    want = alerts_of(jsonl)
    if len(entries) != len(want):
        bad("stream has %d entries, JSONL has %d alerts" % (len(entries), len(want)))
    for i, (ent, line) in enumerate(zip(entries, want)):
        fid, kv = ent
        fields = dict(zip(kv[0::2], kv[1::2]))
        names = kv[0::2]
        if names != list(INDEXED) + ["json"]:
            bad("entry %d (%s): field names/order %s" % (i, fid, names))
        if fields.get("json") != line:
            bad("entry %d (%s): json differs from JSONL line %d" % (i, fid, i))
            continue
        rec = json.loads(line)
        expect = indexed(rec)
        for k, v in expect.items():
            if fields.get(k) != v:
                bad("entry %d (%s): %s=%r, JSON says %r" % (i, fid, k, fields.get(k), v))
        got = json.loads(fields["json"])
        if got != rec:
            bad("entry %d: parsed JSON differs" % i)
    print("stream-vs-jsonl: %d entries compared" % len(entries))


def lines_vs_jsonl(out, jsonl, kinds):
    want = alerts_of(jsonl)
    if kinds:
        want = [l for l in want if json.loads(l)["alert"]["kind"] in kinds]
    with open(out, encoding="utf-8") as f:
        got = [l.rstrip("\n") for l in f if l.strip()]
    if got != want:
        bad("%s: %d lines, expected %d (first difference at %s)" % (
            out, len(got), len(want),
            next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))))
    print("lines-vs-jsonl: %d lines" % len(got))


def iso_epoch(s):
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%f%z").replace(tzinfo=timezone.utc).timestamp()


def merged(out, jsonls):
    """The reader's merged output: every alert of every run once, each run's in its order, and
    the whole in timestamp order."""
    with open(out, encoding="utf-8") as f:
        got = [l.rstrip("\n") for l in f if l.strip()]
    want = [alerts_of(j) for j in jsonls]
    if sorted(got) != sorted(l for w in want for l in w):
        bad("%s: %d lines, the runs have %d alerts (missing %d, extra %d)" % (
            out, len(got), sum(len(w) for w in want),
            len(set(l for w in want for l in w) - set(got)), len(set(got) - set(l for w in want for l in w))))
    for j, w in zip(jsonls, want):
        mine = set(w)
        if [l for l in got if l in mine] != w:
            bad("%s: the alerts of %s are not in their order" % (out, j))
    ts = [json.loads(l)["timestamp"] for l in got]
    if ts != sorted(ts):
        i = next(i for i in range(1, len(ts)) if ts[i] < ts[i - 1])
        bad("%s: not merged by time (line %d at %s after %s)" % (out, i + 1, ts[i], ts[i - 1]))
    print("merged: %d lines from %d runs" % (len(got), len(jsonls)))


def inventory(host, port, db, sensor, jsonl):
    exp = {}
    with open(jsonl, encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            if rec.get("event_type") != "session":
                continue
            # The inventory holds the sessions a broker answered (docs/alerts.md); --session-log
            # also logs the others, marked broker_answered false.
            if not rec.get("flow", {}).get("broker_answered", True):
                continue
            member = "%s:%d" % (rec["dest_ip"], rec["dest_port"])
            proto = rec.get(rec["app_proto"]) or {}
            alerts = rec.get("alerts", [])
            e = exp.setdefault(member, {
                "sessions": 0, "clients": set(), "auth_failures": 0, "cleartext_credentials": 0,
                "default_credentials": 0, "anonymous_accepted": False, "versions": set(),
                "tls": set(), "first_seen": None, "last_seen": None, "app_proto": rec["app_proto"],
                "mechanisms": set(), "last_ts": None})
            e["sessions"] += 1
            e["clients"].add(rec["src_ip"])
            e["auth_failures"] += "auth_failure" in alerts
            e["cleartext_credentials"] += "cleartext_credentials" in alerts
            e["default_credentials"] += "default_credentials" in alerts
            e["anonymous_accepted"] |= "anonymous_session" in alerts
            if proto.get("protocol_version"):
                e["versions"].add(proto["protocol_version"])
            if proto.get("mechanism"):
                e["mechanisms"].add(proto["mechanism"])
            for m in proto.get("mechanisms_offered") or []:
                e["mechanisms"].add(m)
            e["tls"].add("true" if rec["encrypted"] else "false")
            fs, ls = rec["flow"]["start"], rec["flow"]["end"]
            e["first_seen"] = fs if e["first_seen"] is None else min(e["first_seen"], fs)
            e["last_seen"] = ls if e["last_seen"] is None else max(e["last_seen"], ls)
            ts = iso_epoch(rec["timestamp"])
            e["last_ts"] = ts if e["last_ts"] is None else max(e["last_ts"], ts)
    if not exp:
        bad("no session records in %s" % jsonl)
    r = Resp(host, port, db)
    z = r.cmd("ZRANGE", key(sensor, "brokers"), "0", "-1", "WITHSCORES")
    zs = dict(zip(z[0::2], (float(x) for x in z[1::2])))
    if set(zs) != set(exp):
        bad("%s members %s, expected %s" % (key(sensor, "brokers"), sorted(zs), sorted(exp)))
    for member, e in exp.items():
        h = r.cmd("HGETALL", key(sensor, "broker:" + member))
        h = dict(zip(h[0::2], h[1::2]))
        want = {
            "app_proto": e["app_proto"], "sessions": str(e["sessions"]), "clients": str(len(e["clients"])),
            "auth_failures": str(e["auth_failures"]),
            "cleartext_credentials": str(e["cleartext_credentials"]),
            "default_credentials": str(e["default_credentials"]),
            "anonymous_accepted": "true" if e["anonymous_accepted"] else "false",
            "versions": ",".join(sorted(e["versions"])), "mechanisms": ",".join(sorted(e["mechanisms"])),
            "tls": e["tls"].pop() if len(e["tls"]) == 1 else "mixed",
            "first_seen": e["first_seen"], "last_seen": e["last_seen"],
        }
        for k, v in want.items():
            if h.get(k) != v:
                bad("%s: %s=%r, expected %r" % (member, k, h.get(k), v))
        for k in ("product", "version", "address", "sensor"):
            if k not in h:
                bad("%s: field %s missing" % (member, k))
        if member in zs and abs(zs[member] - e["last_ts"]) > 0.001:
            bad("%s: zset score %f, expected %f" % (member, zs[member], e["last_ts"]))
        nclients = r.cmd("SCARD", key(sensor, "broker:%s:clients" % member))
        if nclients != len(e["clients"]):
            bad("%s: client set has %d members" % (member, nclients))
    print("inventory: %d brokers compared" % len(exp))


def sensor(host, port, db, name, alerts):
    r = Resp(host, port, db)
    h = r.cmd("HGETALL", key(name, "sensor"))
    h = dict(zip(h[0::2], h[1::2]))
    for k in ("packets", "bytes", "kernel_drops", "flows", "alerts", "redis_backlog", "spool_records",
              "spool_bytes", "start_time", "version", "last_seen", "last_delivered", "stream"):
        if k not in h:
            bad("sensor hash: %s missing" % k)
    if h.get("stream") != key(name, "alerts"):
        bad("sensor hash: stream %r" % h.get("stream"))
    now = datetime.now(timezone.utc).timestamp()
    if "last_seen" in h and not now - 60 < iso_epoch(h["last_seen"]) <= now + 1:
        bad("sensor hash: last_seen %r is not the wall clock of the run" % h["last_seen"])
    score = r.cmd("ZSCORE", "brokerwatch:sensors", name)
    if score is None or not now - 60 < float(score) <= now + 1:
        bad("registry brokerwatch:sensors: %s has score %r" % (name, score))
    # the stats stream: pushes of the counters, the last one the run's final counters
    st = r.cmd("XREVRANGE", key(name, "stats"), "+", "-", "COUNT", "1")
    if not st:
        bad("stats stream %s is empty" % key(name, "stats"))
    else:
        f = dict(zip(st[0][1][0::2], st[0][1][1::2]))
        rec = json.loads(f["json"])
        if f.get("event_type") != "stats" or rec.get("event_type") != "stats" or f.get("sensor") != name:
            bad("stats stream entry: %r" % {k: v for k, v in f.items() if k != "json"})
        if f.get("ts") != rec.get("timestamp") or "last_seen" not in f:
            bad("stats stream entry: ts %r for a record of %r" % (f.get("ts"), rec.get("timestamp")))
        if str(rec["stats"]["capture"]["packets"]) != h.get("packets"):
            bad("stats stream: last entry says %r packets, the hash %r" % (rec["stats"]["capture"]["packets"], h.get("packets")))
    if h.get("alerts") != alerts:
        bad("sensor hash: alerts=%r, expected %s" % (h.get("alerts"), alerts))
    if int(h.get("packets", "0")) <= 0:
        bad("sensor hash: no packets")
    if h.get("redis_backlog") != "0" or h.get("spool_records") != "0":
        bad("sensor hash: backlog %r spool %r after a complete run" % (h.get("redis_backlog"), h.get("spool_records")))
    print("sensor: %d fields" % len(h))


def pending(host, port, db, stream, group):
    r = Resp(host, port, db)
    print(r.cmd("XPENDING", stream, group)[0])


def dead_read(host, port, db, stream, group, consumer, n):
    r = Resp(host, port, db)
    try:
        r.cmd("XGROUP", "CREATE", stream, group, "0", "MKSTREAM")
    except RuntimeError as e:
        if "BUSYGROUP" not in str(e):
            raise
    got = r.cmd("XREADGROUP", "GROUP", group, consumer, "COUNT", n, "STREAMS", stream, ">")
    for ent in (got[0][1] if got else []):
        print(json.loads(dict(zip(ent[1][0::2], ent[1][1::2]))["json"])["flow_id"], ent[0])


def main(argv):
    op = argv[1]
    if op == "stream-vs-jsonl":
        stream_vs_jsonl(*argv[2:7])
    elif op == "lines-vs-jsonl":
        lines_vs_jsonl(argv[2], argv[3], set(argv[4:]))
    elif op == "merged":
        merged(argv[2], argv[3:])
    elif op == "inventory":
        inventory(*argv[2:7])
    elif op == "sensor":
        sensor(*argv[2:7])
    elif op == "pending":
        pending(*argv[2:7])
    elif op == "dead-read":
        dead_read(*argv[2:9])
    else:
        print("unknown check " + op)
        return 2
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
