#!/usr/bin/env python3
"""redis_check.py: checks for tests/scripts/test_redis*.sh (not a test by itself).

A minimal RESP client (no third-party module) and the comparisons the tests make:
  stream-vs-jsonl HOST PORT DB STREAM JSONL   stream entries == the alert lines of JSONL, in order,
                                              json byte for byte, indexed fields == JSON values
  lines-vs-jsonl  OUT JSONL [KIND...]         JSON lines printed by the reader == JSONL alerts
  inventory       HOST PORT DB JSONL          broker hashes + zset == what the session records say
  sensor          HOST PORT DB NAME ALERTS    the sensor hash after a complete run
  pending         HOST PORT DB STREAM GROUP   print the number of pending entries
  dead-read       HOST PORT DB STREAM GROUP CONSUMER N   read N entries as a consumer that dies
Exit 0 when everything matches; otherwise one line per difference and exit 1.
"""
import json
import socket
import sys
from datetime import datetime, timezone


class Resp:
    def __init__(self, host, port, db=0):
        self.s = socket.create_connection((host, int(port)), timeout=10)
        self.f = self.s.makefile("rb")
        if int(db):
            self.cmd("SELECT", str(db))

    def cmd(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.s.sendall(b"".join(out))
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
        if names != ["kind", "severity", "app_proto", "src_ip", "dest_ip", "dest_port", "json"]:
            bad("entry %d (%s): field names/order %s" % (i, fid, names))
        if fields.get("json") != line:
            bad("entry %d (%s): json differs from JSONL line %d" % (i, fid, i))
            continue
        rec = json.loads(line)
        expect = {
            "kind": rec["alert"]["kind"], "severity": rec["alert"]["severity"],
            "app_proto": rec["app_proto"], "src_ip": rec["src_ip"], "dest_ip": rec["dest_ip"],
            "dest_port": str(rec["dest_port"]),
        }
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
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


def inventory(host, port, db, jsonl):
    exp = {}
    with open(jsonl, encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            if rec.get("event_type") != "session":
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
            e["tls"].add("true" if rec["tls"] else "false")
            fs, ls = rec["flow"]["start"], rec["flow"]["end"]
            e["first_seen"] = fs if e["first_seen"] is None else min(e["first_seen"], fs)
            e["last_seen"] = ls if e["last_seen"] is None else max(e["last_seen"], ls)
            ts = iso_epoch(rec["timestamp"])
            e["last_ts"] = ts if e["last_ts"] is None else max(e["last_ts"], ts)
    if not exp:
        bad("no session records in %s" % jsonl)
    r = Resp(host, port, db)
    z = r.cmd("ZRANGE", "brokerwatch:brokers", "0", "-1", "WITHSCORES")
    zs = dict(zip(z[0::2], (float(x) for x in z[1::2])))
    if set(zs) != set(exp):
        bad("brokerwatch:brokers members %s, expected %s" % (sorted(zs), sorted(exp)))
    for member, e in exp.items():
        h = r.cmd("HGETALL", "brokerwatch:broker:" + member)
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
        nclients = r.cmd("SCARD", "brokerwatch:broker:%s:clients" % member)
        if nclients != len(e["clients"]):
            bad("%s: client set has %d members" % (member, nclients))
    print("inventory: %d brokers compared" % len(exp))


def sensor(host, port, db, name, alerts):
    r = Resp(host, port, db)
    h = r.cmd("HGETALL", "brokerwatch:sensor:" + name)
    h = dict(zip(h[0::2], h[1::2]))
    for k in ("packets", "bytes", "kernel_drops", "flows", "alerts", "redis_backlog", "spool_records",
              "spool_bytes", "start_time", "version", "updated", "last_delivered"):
        if k not in h:
            bad("sensor hash: %s missing" % k)
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
    elif op == "inventory":
        inventory(*argv[2:6])
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
