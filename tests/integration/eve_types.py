#!/usr/bin/python3
"""Every record brokerwatch writes for the bundled captures agrees with Suricata's EVE types on
the field paths both formats share (tests/integration/eve_paths.txt), the timestamps have EVE's
form, and the TLS fingerprint and serial are the leaf certificate's (checked against tshark's
bytes of the certificate when tshark is installed).

usage: eve_types.py BROKERWATCH            the check over pcaps/*.pcap
       eve_types.py --self-test            the checker flags records that break the rules
"""
import glob
import hashlib
import json
import os
import re
import shutil
import struct
import tempfile
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d+[+\-]\d+$")   # EVE's timestamp pattern


def load_paths(path):
    types, seen = {}, set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].split()
            if not line:
                continue
            types[line[0]] = line[1]
            if len(line) > 2 and line[2] == "seen":
                seen.add(line[0])
    return types, seen


def is_type(v, t):
    if t == "string":
        return isinstance(v, str)
    if t == "integer":
        return isinstance(v, int) and not isinstance(v, bool)
    if t == "number":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if t == "boolean":
        return isinstance(v, bool)
    if t == "object":
        return isinstance(v, dict)
    if t == "array":
        return isinstance(v, list)
    raise ValueError("unknown type " + t)


def walk(v, path=""):
    """(path, value) of every member, arrays' elements as path[]."""
    if isinstance(v, dict):
        for k, x in v.items():
            p = k if not path else path + "." + k
            yield p, x
            yield from walk(x, p)
    elif isinstance(v, list):
        for x in v:
            yield path + "[]", x
            yield from walk(x, path + "[]")


def problems(rec, types, found):
    """The rule breaks in one record; adds the shared paths it holds to found."""
    out = []
    ts = rec.get("timestamp")
    if not isinstance(ts, str) or not TS.match(ts):
        out.append("timestamp %r is not in EVE's form" % (ts,))
    for p, v in walk(rec):
        t = types.get(p)
        if t is None and (p.startswith("stats.") and "stats.**" in types):
            t = "object" if isinstance(v, dict) else types["stats.**"]
            found.add("stats.**")
        if t is None:
            continue
        found.add(p)
        if not is_type(v, t):
            out.append("%s is %s, EVE has %s" % (p, json.dumps(v)[:60], t))
    return out


def run(binary, pcap, extra):
    r = subprocess.run([binary, "-q", "-r", pcap, "--jsonl", "-", "--session-log", "--stats-interval", "1"] + extra,
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise SystemExit("FAIL: %s exited %d: %s" % (pcap, r.returncode, r.stderr.strip()[-300:]))
    return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]


def probe_flood(path, n=64):
    """n one-packet flows from distinct sources, each starting like an MQTT CONNECT: under
    --max-probes 16 the sensor refuses most of them and says so in a capacity record."""
    connect = bytes.fromhex("101000044d5154540402003c0004") + b"abcd"
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for i in range(n):
            tcp = struct.pack("!HHIIBBHHH", 40000 + i, 1883, 1000, 0, 5 << 4, 0x18, 65535, 0, 0) + connect
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), i, 0, 64, 6, 0,
                             bytes([198, 18, i >> 8, i & 255]), bytes([127, 0, 0, 1]))
            frame = b"\x00" * 12 + b"\x08\x00" + ip + tcp
            f.write(struct.pack("<IIII", 1700000000 + i, 0, len(frame), len(frame)) + frame)


def leaf_certs(pcap):
    """SHA-1 and serial of each leaf certificate tshark sees in the capture."""
    r = subprocess.run(["tshark", "-n", "-r", pcap, "-Y", "tls.handshake.certificate", "-T", "fields",
                        "-e", "tls.handshake.certificate", "-e", "x509af.serialNumber"],
                       capture_output=True, text=True, timeout=120)
    out = set()
    for line in r.stdout.splitlines():
        cols = line.split("\t")
        der = bytes.fromhex(cols[0].split(",")[0].replace(":", ""))
        out.add(":".join("%02x" % b for b in hashlib.sha1(der).digest()))
    return out


def self_test(types):
    good = {"timestamp": "2026-01-01T00:00:00.000001+0000", "event_type": "alert", "src_port": 1,
            "alert": {"severity": 2, "signature_id": 8510001, "metadata": {"signature_severity": ["medium"]}},
            "tls": {"version": "TLS 1.2", "ja3": {"hash": "ab"}}, "stats": {"capture": {"kernel_drops": 0}}}
    if problems(good, types, set()):
        raise SystemExit("FAIL: self-test: a good record is flagged: %s" % problems(good, types, set()))
    bad = [("timestamp", {"timestamp": "2026-01-01T00:00:00.000001Z"}),
           ("alert.severity", {"alert": {"severity": "medium"}}),
           ("tls ", {"tls": False}),
           ("tls.ja3.hash", {"tls": {"ja3": {"hash": None}}}),
           ("src_port", {"src_port": "1883"}),
           ("alert.metadata.signature_severity[]", {"alert": {"metadata": {"signature_severity": [1]}}}),
           ("stats.capture.kernel_drops", {"stats": {"capture": {"kernel_drops": "0"}}}),
           ("flow.alerted", {"flow": {"alerted": 1}})]
    for what, change in bad:
        rec = json.loads(json.dumps(good))
        for k, v in change.items():
            rec[k] = v
        got = problems(rec, types, set())
        if not any(g.startswith(what.strip()) for g in got):
            raise SystemExit("FAIL: self-test: %s not flagged in %s (got %s)" % (what, rec, got))
    print("ok: self-test: %d broken records flagged, the good one passes" % len(bad))


def main():
    types, must_see = load_paths(os.path.join(ROOT, "tests", "integration", "eve_paths.txt"))
    if sys.argv[1:] == ["--self-test"]:
        self_test(types)
        return 0
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    binary = sys.argv[1]
    found, bad, n, kinds = set(), [], 0, set()
    fps, want_fps = set(), set()
    have_tshark = shutil.which("tshark") is not None
    pcaps = sorted(glob.glob(os.path.join(ROOT, "pcaps", "*.pcap")))
    runs = [(p, []) for p in pcaps]
    # a run under tiny caps, so that capacity records are checked too
    tmp = tempfile.mkdtemp(prefix="bw-eve-")
    probe_flood(os.path.join(tmp, "flood.pcap"))
    runs.append((os.path.join(tmp, "flood.pcap"), ["--max-probes", "16"]))
    for pcap, extra in runs:
        recs = run(binary, pcap, extra)
        for rec in recs:
            n += 1
            kinds.add(rec.get("event_type"))
            for p in problems(rec, types, found):
                bad.append("%s: %s record: %s" % (os.path.basename(pcap), rec.get("event_type"), p))
            fp = (rec.get("tls") or {}).get("fingerprint")
            if fp:
                fps.add(fp)
        if have_tshark and any("tls" in r for r in recs):
            want_fps |= leaf_certs(pcap)
    shutil.rmtree(tmp, ignore_errors=True)
    for p in bad[:30]:
        print("FAIL:", p)
    missing = sorted(must_see - found)
    if missing:
        print("FAIL: the captures never produced these shared paths:", ", ".join(missing))
    for k in ("alert", "session", "stats", "capacity"):
        if k not in kinds:
            print("FAIL: no %s record was checked" % k)
            bad.append(k)
    if have_tshark:
        if not fps or fps - want_fps:
            print("FAIL: tls.fingerprint not the SHA-1 of a leaf tshark sees: %s" % sorted(fps - want_fps))
            bad.append("fingerprint")
        else:
            print("ok: %d TLS fingerprints are the SHA-1 of the leaf certificates tshark sees" % len(fps))
    else:
        print("note: tshark not installed; fingerprints not cross-checked")
    if bad or missing:
        return 1
    print("ok: %d records of %d runs (%s) agree with EVE on %d shared paths" %
          (n, len(runs), ", ".join(sorted(kinds)), len(found)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
