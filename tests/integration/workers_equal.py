#!/usr/bin/python3
"""Workers change where a flow is handled, never what is found: every bundled capture and every
peer capture (../shared/pcaps/peers, when present) is read with --workers 1 and with 2 and 3
workers, and the runs must give the same alerts and the same session records (as sets: records
of different workers interleave; flow_id is a per-run hash), the same exposure report (brokers,
totals, exposure classes, alerts, timeline) and the same packet count. Each capture is its own
run, so a finding can only come from that capture.

usage: workers_equal.py BROKERWATCH PCAP...
"""
import json
import os
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


def run(exe, pcap, workers, tmp):
    jl = os.path.join(tmp, "w%d.jsonl" % workers)
    rj = os.path.join(tmp, "w%d.report.json" % workers)
    for p in (jl, rj):
        if os.path.exists(p):
            os.unlink(p)
    p = subprocess.run([exe, "--workers", str(workers), "--session-log", "-r", pcap, "-o", jl,
                        "--report-json", rj], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    recs, packets = [], None
    for line in p.stderr.splitlines():             # the exit summary: "brokerwatch: N packets, ..."
        if line.startswith("brokerwatch: ") and " packets, " in line:
            packets = line.split()[1]
    with open(jl, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r["event_type"] == "stats":
                continue
            r.pop("flow_id", None)
            recs.append(json.dumps(r, sort_keys=True))
    with open(rj, encoding="utf-8") as f:
        rep = json.load(f)
    rep["run"].pop("generated", None)
    return p.returncode, sorted(recs), rep, packets


def main():
    exe = sys.argv[1]
    pcaps = sys.argv[2:] + peer_captures()
    bad = 0
    compared = 0
    alerts = 0
    with tempfile.TemporaryDirectory() as tmp:
        for pcap in pcaps:
            rc1, rec1, rep1, pk1 = run(exe, pcap, 1, tmp)
            for w in (2, 3):
                rc, rec, rep, pk = run(exe, pcap, w, tmp)
                name = "%s --workers %d" % (os.path.relpath(pcap, ROOT), w)
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
          (len(pcaps), compared, alerts, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
