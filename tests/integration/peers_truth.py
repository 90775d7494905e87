#!/usr/bin/python3
"""Run brokerwatch with --session-log on the peer captures (../shared/pcaps/peers, third-party
test data, never copied into this repository) and compare every session listed in their
truth.jsonl for one protocol with what the sensor reports: version, username/password flags,
the broker's answer (MQTT CONNACK code; AMQP accepted). Entries judged wrong in truth.jsonl are
skipped below, each with the reason; streams where nothing proves a broker (NOT_A_SESSION) must
stay unreported.

usage: peers_truth.py BROKERWATCH mqtt|amqp
"""
import collections
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PEERS = os.path.normpath(os.path.join(ROOT, "..", "shared", "pcaps", "peers"))

# (pcap, stream) -> why the truth row is not used. Keep each reason specific.
SKIP = {
}

# (pcap, stream) -> why the sensor must report no session there although tshark decodes the
# protocol: checked (a session reported for one of these fails). Keep each reason specific.
NOT_A_SESSION = {
    ("ntop-nDPI/amqp.pcap", 0): "midstream, only the client's basic.publish frames: the broker sends no "
        "byte in the capture, and a client's frames alone prove no broker",
    ("ntop-nDPI/amqp.pcap", 2): "midstream, only the client's basic.publish frames: the broker sends no "
        "byte in the capture, and a client's frames alone prove no broker",
}


ID_MAX = 256   # bytes of a user name or client id the facts keep whole


def same_user(facts, truth):
    """The user name as sent, byte for byte, up to 256 bytes (Azure IoT Hub names run past 100);
    a longer one is its first 256 bytes with "username_truncated": true."""
    reported = facts.get("username")
    if reported is None:
        return False
    if len(truth.encode()) <= ID_MAX:
        return reported == truth and not facts.get("username_truncated")
    return reported.encode() == truth.encode()[:ID_MAX] and facts.get("username_truncated") is True


def endpoint(ip, port):
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def main():
    exe, proto = sys.argv[1], sys.argv[2]
    truth_path = os.path.join(PEERS, "truth.jsonl")
    if not os.path.exists(truth_path):
        print(f"SKIP: {truth_path} not available")
        return 77
    rows = [json.loads(l) for l in open(truth_path, encoding="utf-8")]
    rows = [r for r in rows if r["protocol"] == proto]
    by_pcap = collections.defaultdict(list)
    for r in rows:
        by_pcap[r["pcap"]].append(r)
    passed = failed = skipped = 0
    for pcap, truths in sorted(by_pcap.items()):
        path = os.path.join(PEERS, pcap)
        proc = subprocess.run([exe, "-q", "-r", path, "--session-log", "--jsonl", "-", "--sensor-name", "peers"],
                              capture_output=True, text=True, errors="replace", timeout=240)
        if proc.returncode != 0:
            print(f"FAIL {pcap}: exit {proc.returncode}: {proc.stderr.strip()}")
            failed += len(truths)
            continue
        sessions = {}
        for line in proc.stdout.splitlines():
            rec = json.loads(line)
            if rec.get("event_type") != "session" or rec.get("app_proto") != proto:
                continue
            key = (endpoint(rec["src_ip"], rec["src_port"]), endpoint(rec["dest_ip"], rec["dest_port"]))
            sessions.setdefault(key, rec)
        for t in truths:
            tag = f"{pcap}#{t['stream']} {t['client']}->{t['server']}"
            why = SKIP.get((pcap, t["stream"]))
            if why:
                print(f"SKIP {tag}: {why}")
                skipped += 1
                continue
            rec = sessions.get((t["client"], t["server"]))
            unproven = NOT_A_SESSION.get((pcap, t["stream"]))
            if unproven:
                if rec is None:
                    passed += 1
                else:
                    print(f"FAIL {tag}: reported as a {proto} session, but {unproven}")
                    failed += 1
                continue
            if rec is None:
                print(f"FAIL {tag}: no {proto} session reported")
                failed += 1
                continue
            facts = rec.get(proto, {})
            problems = []
            if t["version"] is not None and facts.get("protocol_version") != t["version"]:
                problems.append(f"version {facts.get('protocol_version')!r} != {t['version']!r}")
            if t["version"] is None and not facts.get("midstream"):
                problems.append("not reported as midstream")
            if t["username_flag"] is not None:
                # Announced but not read (a CONNECT cut short): null with the anomaly, never "".
                unread = facts.get("username") is None and "username_unread" in facts.get("anomalies", [])
                if t["username_flag"] and t.get("username") is None and facts.get("username") is None and not unread:
                    problems.append("username flag set, username null without the username_unread anomaly")
                elif (facts.get("username") is not None or unread) != t["username_flag"]:
                    problems.append(f"username {facts.get('username')!r} vs flag {t['username_flag']}")
                elif t["username_flag"] and t.get("username") and not same_user(facts, t["username"]):
                    problems.append(f"username {facts.get('username')!r} != {t['username']!r}")
            if t["password_flag"] is not None and bool(facts.get("password_present")) != t["password_flag"]:
                problems.append(f"password_present {facts.get('password_present')} != {t['password_flag']}")
            if proto == "mqtt" and t["connack"] is not None:
                got = (facts.get("connack") or {}).get("return_code")
                if got != t["connack"]:
                    problems.append(f"connack {got} != {t['connack']}")
            if proto == "amqp" and t.get("accepted") is not None and facts.get("accepted") != t["accepted"]:
                problems.append(f"accepted {facts.get('accepted')} != {t['accepted']}")
            if problems:
                print(f"FAIL {tag}: " + "; ".join(problems))
                failed += 1
            else:
                passed += 1
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
