#!/usr/bin/env bash
# test_report.sh: the exposure report after replaying every bundled capture, in all four forms
# (text, JSON, HTML, CSV) from one run. The numbers are those the captures make (pcaps/README.md)
# and must agree with the run's own records: totals and timeline against the alerts, broker rows
# against the session records, CSV against JSON. The text form fits 120 columns and carries the run's
# header; CSV parses as RFC 4180 with no cell that a spreadsheet takes for a formula; the page is
# self-contained; no report holds a password; -q keeps the table off stderr; a report file that
# cannot be written is one error line and the alerts are still written.
set -uo pipefail
bin=$1 src=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bw-report.$$.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
args=()
for p in "$src"/pcaps/*.pcap; do args+=(-r "$p"); done
fail=0
"$bin" "${args[@]}" --sensor-name rep-test --session-log -o "$tmp/records.jsonl" --report-json "$tmp/r.json" \
    --report-csv "$tmp/r.csv" --report-html "$tmp/r.html" --show-usernames 2>"$tmp/stderr" ||
    { echo "FAIL: run: $(cat "$tmp/stderr")"; fail=1; }
"$bin" -q "${args[@]}" -o /dev/null --report "$tmp/r.txt" --show-usernames --sensor-name rep-test 2>"$tmp/quiet" ||
    { echo "FAIL: run -q"; fail=1; }
[[ ! -s $tmp/quiet ]] || { echo "FAIL: -q still wrote to stderr:"; cat "$tmp/quiet"; fail=1; }
"$bin" -q "${args[@]}" -o /dev/null --report-json "$tmp/hidden.json" 2>/dev/null || { echo "FAIL: run without names"; fail=1; }

# A report file that cannot be written: exit 1, one line naming it. Report files are opened at the
# start (before any privilege drop), so this is said before the capture is read, not after it.
"$bin" -q -r "$src/pcaps/mqtt_creds.pcap" -o "$tmp/kept.jsonl" --report-html /nonexistent-dir/r.html 2>"$tmp/err"
rc=$?
[[ $rc -eq 1 && $(wc -l <"$tmp/err") -eq 1 ]] && grep -q "cannot write the HTML report to '/nonexistent-dir/r.html'" "$tmp/err" ||
    { echo "FAIL: unwritable --report-html: exit $rc: $(cat "$tmp/err")"; fail=1; }
[[ ! -e $tmp/kept.jsonl ]] || { echo "FAIL: the capture was read despite an unwritable report file"; fail=1; }
# A report to a device or a FIFO (another program reading it) is written as it is, not truncated.
"$bin" -q -r "$src/pcaps/mqtt_creds.pcap" -o /dev/null --report /dev/null --report-json /dev/null 2>"$tmp/err"
rc=$?
[[ $rc -eq 0 && ! -s $tmp/err ]] || { echo "FAIL: --report /dev/null: exit $rc: $(cat "$tmp/err")"; fail=1; }
mkfifo "$tmp/fifo"
cat "$tmp/fifo" >"$tmp/from-fifo.json" &
reader=$!
"$bin" -q -r "$src/pcaps/mqtt_creds.pcap" -o /dev/null --report-json "$tmp/fifo" 2>"$tmp/err"
rc=$?
wait "$reader"
[[ $rc -eq 0 ]] && /usr/bin/python3 -c 'import json,sys; r = json.load(open(sys.argv[1])); assert r["totals"]["brokers"] >= 1' \
    "$tmp/from-fifo.json" || { echo "FAIL: --report-json to a FIFO: exit $rc: $(cat "$tmp/err")"; fail=1; }

/usr/bin/python3 - "$tmp" "$src" "${args[@]}" <<'PY' || fail=1
import collections, csv, datetime, json, struct, sys
tmp, src, files = sys.argv[1], sys.argv[2], sys.argv[4::2]
ok = bad = 0
def check(cond, what):
    global ok, bad
    if cond: ok += 1
    else:
        bad += 1; print("FAIL:", what)

recs = [json.loads(l) for l in open(f"{tmp}/records.jsonl")]
alerts = [r for r in recs if r["event_type"] == "alert"]
# The report counts the sessions a broker answered (docs/alerts.md); --session-log also logs the
# others (mqtt_rabbitmq_v5.pcap: a broker that hung up without a byte), marked broker_answered false.
sessions = [r for r in recs if r["event_type"] == "session" and r["flow"]["broker_answered"]]
r = json.load(open(f"{tmp}/r.json"))
t = r["totals"]

# What the captures hold (pcaps/README.md): mosquitto (and RabbitMQ's MQTT plugin) on 127.0.0.1:1883,
# ::1:1883, 11883, 9001 (WebSocket), TLS 8883 (weak: the expired leaf of tls_long_chain), weak TLS
# 8884, ALPN on 18883; RabbitMQ AMQP on 5672, 5673, TLS 5671. Default pairs accepted: admin/admin, pi/raspberry (1883), guest/guest (5672).
want = {"brokers": 10, "plaintext": 6, "tls": 4, "anonymous": 3, "cleartext_credentials": 6,
        "default_credentials": 2, "weak_tls": 2}
check({k: t[k] for k in want} == want, f"totals {t} != {want}")

# The same numbers from the run's own records.
by_broker = collections.defaultdict(list)
for s in sessions:
    by_broker[(s["dest_ip"], s["dest_port"])].append(s)
def any_alert(ss, kind): return any(kind in s["alerts"] for s in ss)
def obj(s): return s.get(s["app_proto"]) or {}
derived = {
    "brokers": len(by_broker),
    "plaintext": sum(not any(s["encrypted"] for s in ss) for ss in by_broker.values()),
    "tls": sum(any(s["encrypted"] for s in ss) for ss in by_broker.values()),
    "anonymous": sum(any_alert(ss, "anonymous_session") for ss in by_broker.values()),
    "cleartext_credentials": sum(any_alert(ss, "cleartext_credentials") for ss in by_broker.values()),
    "default_credentials": sum(any("default_credentials" in s["alerts"] and obj(s).get("accepted") is True
                                   for s in ss) for ss in by_broker.values()),
    "weak_tls": sum(any_alert(ss, "weak_tls") for ss in by_broker.values()),
    "auth_failures": sum(any_alert(ss, "auth_failure") for ss in by_broker.values()),
    "bruteforce": len({(a["dest_ip"], a["dest_port"]) for a in alerts if a["alert"]["kind"] == "bruteforce"}),
    "failed_logins": sum(a["alert"]["kind"] == "auth_failure" for a in alerts),
    "bruteforce_alerts": sum(a["alert"]["kind"] == "bruteforce" for a in alerts),
}
check(t == derived, f"totals {t} != from the records {derived}")
kinds = collections.Counter(a["alert"]["kind"] for a in alerts)
check(all(r["alerts"][k] == kinds.get(k, 0) for k in r["alerts"]), f"alerts by kind {r['alerts']} != {dict(kinds)}")
check(sum(r["exposure"].values()) == t["brokers"], f"exposure classes {r['exposure']} do not add up")
check(r["exposure"]["default_credentials"] == t["default_credentials"], "exposure: default credentials")

# Timeline: fixed buckets over the capture span, every alert in the bucket its time says.
def ts(s): return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%f%z").replace(tzinfo=datetime.timezone.utc).timestamp()
tl = r["timeline"]
start, width = ts(tl["start"]), tl["bucket_us"] / 1e6
check(tl["buckets"] <= 60, f"{tl['buckets']} buckets")
counts = {k: [0] * tl["buckets"] for k in tl["counts"]}
for a in alerts:
    counts[a["alert"]["kind"]][int((ts(a["timestamp"]) - start) // width)] += 1
check(counts == tl["counts"], "timeline buckets differ from the alert times")

# The run header: inputs, span = first and last packet of all the files.
def pcap_times(p):
    d = open(p, "rb").read()
    bo = "<" if struct.unpack("<I", d[:4])[0] in (0xa1b2c3d4, 0xa1b23c4d) else ">"
    nano = struct.unpack(bo + "I", d[:4])[0] == 0xa1b23c4d
    off, out = 24, []
    while off + 16 <= len(d):
        sec, frac, incl, _ = struct.unpack(bo + "IIII", d[off:off + 16])
        out.append(sec + frac / (1e9 if nano else 1e6))
        off += 16 + incl
    return out
times = [x for f in files for x in pcap_times(f)]
run = r["run"]
check(run["sensor"] == "rep-test" and run["inputs"] == files and run["usernames"] == "shown", f"run {run}")
check(abs(ts(run["capture_start"]) - min(times)) < 1e-5 and abs(ts(run["capture_end"]) - max(times)) < 1e-5,
      f"capture span {run['capture_start']} .. {run['capture_end']}")
check(start <= min(times) and start + width * tl["buckets"] > max(times), "timeline covers the capture span")

# Rows against the session records.
rows = {(b["ip"], b["port"]): b for b in r["brokers"]}
check(set(rows) == set(by_broker), "one row per broker of the session records")
for key, ss in by_broker.items():
    b = rows.get(key, {})
    check(b.get("sessions") == len(ss), f"{key} sessions {b.get('sessions')} != {len(ss)}")
    vers = sorted({obj(s).get("protocol_version") for s in ss} - {None})
    check(sorted(b.get("versions", [])) == vers, f"{key} versions {b.get('versions')} != {vers}")
    users = {obj(s)["username"] for s in ss if not s["encrypted"] and obj(s).get("username") is not None}
    if b.get("usernames_capped"):      # the first 8 distinct names, and the cap said
        check(len(b.get("usernames", [])) == 8 and set(b["usernames"]) <= users, f"{key} users {b.get('usernames')} not 8 of {users}")
    else:
        check(set(b.get("usernames", [])) == users, f"{key} users {b.get('usernames')} != {users}")
b = rows.get(("127.0.0.1", 1883), {})
check(b.get("app_proto") == "mqtt" and b.get("versions") == ["3.1", "3.1.1", "3.x", "5.0"], f"1883 row {b}")
check(b.get("exposure") == "default_credentials" and b.get("bruteforce") == 1, f"1883 exposure {b}")
b = rows.get(("127.0.0.1", 5672), {})
check((b.get("product") or "").startswith("RabbitMQ"), f"5672 product {b.get('product')}")
b = rows.get(("127.0.0.1", 8884), {})
check(b.get("tls_version") == "TLSv1.1" and b.get("exposure") == "weak_tls", f"8884 row {b}")
hidden = json.load(open(f"{tmp}/hidden.json"))
check(all("usernames" not in b for b in hidden["brokers"]) and hidden["run"]["usernames"] == "hidden",
      "user names without --show-usernames")

# CSV: RFC 4180 (CRLF), the same rows as the JSON, nothing a spreadsheet would run.
raw = open(f"{tmp}/r.csv", "rb").read()
check(raw.count(b"\r\n") == len(r["brokers"]) + 1, "CSV rows end in CRLF")
rows_csv = list(csv.DictReader(open(f"{tmp}/r.csv", newline="", encoding="utf-8")))
check(len(rows_csv) == len(r["brokers"]), f"{len(rows_csv)} CSV rows")
def csv_users(c, j):
    """The CSV's names as the JSON has them: a cut name ends in "..." there (the JSON says
    usernames_truncated), and a last line "..." says the list was capped."""
    names = [u for u in c["usernames"].split("\n") if u]
    if j.get("usernames_capped") and names and names[-1] == "...":
        names.pop()
    if j.get("usernames_truncated"):
        names = [u[:-3] if u.endswith("...") and u[:-3] in j["usernames"] else u for u in names]
    return set(names)
for c, j in zip(rows_csv, r["brokers"]):
    same = (c["ip"] == j["ip"] and int(c["port"]) == j["port"] and int(c["sessions"]) == j["sessions"]
            and c["exposure"] == j["exposure"] and int(c["default_credentials"]) == j["default_credentials"]
            and csv_users(c, j) == set(j["usernames"]))
    check(same, f"CSV row {c} != JSON {j}")
check(not any(v[:1] in "=+-@" and v for c in rows_csv for v in c.values()), "a CSV cell starts like a formula")

# The text form: the header, totals that count default credentials, 120 columns.
txt = open(f"{tmp}/r.txt").read()
lines = txt.splitlines()
check(max(map(len, lines)) <= 120, f"a text line has {max(map(len, lines))} columns")
check(lines[0] == "brokerwatch exposure report" and lines[1].startswith("  sensor     rep-test (brokerwatch "), "text header")
check(any(l.startswith("  capture    ") for l in lines) and any(l.startswith("  generated  ") for l in lines),
      "text header: capture span, generation time")
flat = " ".join(txt.split())
check("Totals: 10 brokers: 6 plaintext only, 4 with TLS, 3 accept anonymous clients, 6 leak credentials in "
      "cleartext, 2 accept default credentials, 2 with weak TLS; "
      f"{t['failed_logins']} failed logins on {t['auth_failures']} brokers, "
      f"{t['bruteforce_alerts']} brute-force alerts on {t['bruteforce']} brokers" in flat, "text totals")
check("users in cleartext: alice" in flat, "--show-usernames lists users")
err = open(f"{tmp}/stderr").read()
check("Totals: 10 brokers" in err, "the table goes to stderr by default")

# The page: self-contained, escaped, the same totals.
html = open(f"{tmp}/r.html", encoding="utf-8").read()
check(html.startswith("<!DOCTYPE html>") and "<script" not in html.lower(), "HTML: no script")
check("href=" not in html and "src=" not in html and "url(" not in html and "@import" not in html, "HTML: no external asset")
check(f'data-total="brokers"><b>{t["brokers"]}</b> brokers' in html and
      f'data-total="default_credentials"><b>{t["default_credentials"]}</b> accept' in html, "HTML totals")

# Never a password, in any form (passwords.txt lists the captures' passwords).
words = [w.strip() for w in open(f"{src}/scripts/pcaps/passwords.txt") if w.strip() and not w.startswith("#")]
for name in ("r.json", "r.csv", "r.html", "r.txt", "stderr"):
    body = open(f"{tmp}/{name}", encoding="utf-8", errors="replace").read()
    leaked = [w for w in words if w in body]
    check(not leaked, f"{name} holds passwords {leaked}")
print(f"{ok} passed, {bad} failed")
sys.exit(1 if bad else 0)
PY
exit $fail
