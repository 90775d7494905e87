#!/usr/bin/env bash
# test_report.sh: the exposure report after replaying every bundled capture: rows and totals
# as the captures make them (pcaps/README.md), in the table, the file and the JSON; -q keeps the
# table off stderr; user names only with --show-usernames.
set -uo pipefail
bin=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
args=()
for p in "$src"/pcaps/*.pcap; do args+=(-r "$p"); done
fail=0
"$bin" "${args[@]}" -o /dev/null --report-json "$tmp/r.json" 2>"$tmp/stderr" || { echo "FAIL: run"; fail=1; }
"$bin" -q "${args[@]}" -o /dev/null --report "$tmp/r.txt" --show-usernames 2>"$tmp/quiet" || { echo "FAIL: run -q"; fail=1; }
[[ ! -s $tmp/quiet ]] || { echo "FAIL: -q still wrote to stderr:"; cat "$tmp/quiet"; fail=1; }
/usr/bin/python3 - "$tmp" <<'PY' || fail=1
import json, sys
tmp = sys.argv[1]
r = json.load(open(f"{tmp}/r.json"))
ok = bad = 0
def check(cond, what):
    global ok, bad
    if cond: ok += 1
    else:
        bad += 1; print("FAIL:", what)
# Brokers in the bundled captures: mosquitto (and RabbitMQ's MQTT plugin) on 127.0.0.1:1883,
# ::1:1883, 11883 (non-standard port), 9001 (WebSocket), TLS 8883, weak TLS 8884, ALPN on 18883;
# RabbitMQ AMQP on 5672, 5673 (non-standard port), TLS 5671.
t = r["totals"]
want = {"brokers": 10, "plaintext": 6, "tls": 4, "anonymous": 3, "cleartext_credentials": 6, "weak_tls": 1}
check(t == want, f"totals {t} != {want}")
rows = {(b["ip"], b["port"]): b for b in r["brokers"]}
b = rows.get(("127.0.0.1", 1883), {})
check(b.get("app_proto") == "mqtt" and sorted(b.get("versions", [])) == ["3.1", "3.1.1", "5.0"], f"1883 row {b}")
check(b.get("anonymous_accepted") is True and b.get("tls") is False, "1883 anonymous, plaintext")
check(b.get("auth_failures", 0) >= 14, f"1883 auth failures {b.get('auth_failures')}")
b = rows.get(("127.0.0.1", 5672), {})
check(b.get("app_proto") == "amqp" and sorted(b.get("versions", [])) == ["0-9-1", "1.0"], f"5672 row {b}")
check((b.get("product") or "").startswith("RabbitMQ"), f"5672 product {b.get('product')}")
b = rows.get(("127.0.0.1", 8884), {})
check(b.get("tls") is True and b.get("weak_tls") is True and b.get("tls_version") == "TLSv1.1", f"8884 row {b}")
b = rows.get(("127.0.0.1", 18883), {})
check(b.get("tls") is True and b.get("app_proto") == "mqtt", f"18883 row {b}")
check(("::1", 1883) in rows, "IPv6 broker row")
check("usernames" not in r["brokers"][0], "user names without --show-usernames")
txt = open(f"{tmp}/r.txt").read()
check("Totals: 10 brokers, 6 plaintext only, 4 with TLS, 3 accept anonymous clients, "
      "6 leak credentials in cleartext, 1 with weak TLS" in txt, "text totals line")
check("users in cleartext: alice" in txt, "--show-usernames lists users")
err = open(f"{tmp}/stderr").read()
check("Totals: 10 brokers" in err, "the table goes to stderr by default")
print(f"{ok} passed, {bad} failed")
sys.exit(1 if bad else 0)
PY
exit $fail
