#!/usr/bin/python3
"""Run brokerwatch on the captures named in a .checks file and compare its JSON lines
with the expectations there. Filters and counts, not a golden diff: a check names the
fields that matter.

.checks syntax (one directive per line, lines starting with '#' are comments):
  pcap PATH            capture to read (repeatable; relative to the repository root,
                       or ${PEERS}/... for ../shared/pcaps/peers)
  args ARG...          extra command-line arguments
  expect N K=V ...     exactly N records have every field K equal to V
  expect >=N K=V ...   at least N records match
  absent TEXT          TEXT appears nowhere in stdout or stderr (passwords)
  exit N               expected exit status (default 0)
  skip-if-missing      skip (exit 77) when a capture does not exist
K is a dotted path (alert.kind, mqtt.username); V is compared with the JSON value
rendered as: strings raw, true/false/null, numbers in decimal, arrays and objects as compact
JSON (["a","b"]). V may be '*' for
"present and not null"; in V, \x20 stands for a space (tls.version=TLS\x201.2).
"""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PEERS = os.path.normpath(os.path.join(ROOT, "..", "shared", "pcaps", "peers"))


def render(v):
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True, separators=(",", ":"))
    return str(v)


def get(rec, path):
    cur = rec
    for part in path.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            return KeyError
    return cur


def matches(rec, conds):
    for k, v in conds:
        got = get(rec, k)
        if got is KeyError:
            return False
        if v == "*":
            if got is None:
                return False
            continue
        if render(got) != v:
            return False
    return True


def main():
    if len(sys.argv) != 3:
        print("usage: run_checks.py BROKERWATCH FILE.checks", file=sys.stderr)
        return 2
    exe, chk = sys.argv[1], sys.argv[2]
    pcaps, args, checks, absent = [], [], [], []
    want_exit, skip_missing = 0, False
    with open(chk, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            word, _, rest = line.partition(" ")
            if word == "pcap":
                p = rest.strip().replace("${PEERS}", PEERS)
                pcaps.append(p if os.path.isabs(p) else os.path.join(ROOT, p))
            elif word == "args":
                args += rest.split()
            elif word == "exit":
                want_exit = int(rest)
            elif word == "skip-if-missing":
                skip_missing = True
            elif word == "absent":
                absent.append(rest.strip())
            elif word == "expect":
                parts = rest.split()
                n = parts[0]
                conds = [(k, v.replace("\\x20", " ")) for k, v in (c.split("=", 1) for c in parts[1:])]
                checks.append((lineno, n, conds, " ".join(parts[1:])))
            else:
                print(f"{chk}:{lineno}: unknown directive {word}", file=sys.stderr)
                return 2
    missing = [p for p in pcaps if not os.path.exists(p)]
    if missing:
        if skip_missing:
            print(f"SKIP: capture not available: {missing[0]}")
            return 77
        print(f"missing capture: {missing[0]}", file=sys.stderr)
        return 1
    cmd = [exe, "-q"]
    for p in pcaps:
        cmd += ["-r", p]
    cmd += ["--jsonl", "-", "--sensor-name", "test"] + args
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=240)
    failed = 0
    if proc.returncode != want_exit:
        print(f"exit status {proc.returncode}, expected {want_exit}; stderr:\n{proc.stderr}")
        failed += 1
    recs = []
    for i, line in enumerate(proc.stdout.splitlines(), 1):
        try:
            recs.append(json.loads(line))
        except json.JSONDecodeError as e:
            print(f"output line {i} is not JSON ({e}): {line[:200]}")
            failed += 1
    for lineno, n, conds, text in checks:
        got = sum(1 for r in recs if matches(r, conds))
        ok = got >= int(n[2:]) if n.startswith(">=") else got == int(n)
        if not ok:
            failed += 1
            print(f"{os.path.basename(chk)}:{lineno}: expect {n} {text}: got {got}")
    for text in absent:
        if text in proc.stdout or text in proc.stderr:
            failed += 1
            print(f"forbidden text {text!r} appears in the output")
    passed = len(checks) + len(absent) + 1 - failed
    print(f"{passed} passed, {failed} failed")
    if failed:
        print("--- records ---")
        for r in recs:
            print(json.dumps(r, sort_keys=True)[:400])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
