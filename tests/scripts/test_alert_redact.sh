#!/usr/bin/env bash
# test_alert_redact.sh: --redact-usernames on every bundled capture. With --redact-key-file the key
# file is created (mode 0600) on first use and reused after; every user name becomes one hmac:
# token, the same in alerts and their summaries, session records, Redis entries and every report
# form, and no name is left anywhere; the same key gives the same tokens on the next run, another key
# others, no key file a key per run. A key file that cannot be read, is a directory or is readable
# by others stops the run with one line.
set -uo pipefail
bin=$1 src=$2
BW_PROG=test_alert_redact
. "$src/scripts/common.sh"
bw_tmpdir
tmp=$BW_TMP
bw_install_trap
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
args=()
for p in "$src"/pcaps/*.pcap; do args+=(-r "$p"); done
reports=(--show-usernames --report "$tmp/REP.txt" --report-json "$tmp/REP.json" --report-csv "$tmp/REP.csv"
         --report-html "$tmp/REP.html")
run() {   # run NAME ARGS...: records in NAME.jsonl, reports NAME.*, stderr NAME.err
    local name=$1
    shift
    "$bin" "${args[@]}" --session-log -o "$tmp/$name.jsonl" "${reports[@]//REP/$name}" "$@" 2>"$tmp/$name.err" ||
        bad "run $name: $(cat "$tmp/$name.err")"
}

run plain
mkdir -p "$tmp/keys"
run k1 --redact-key-file "$tmp/keys/k1"
[[ $(stat -c %a "$tmp/keys/k1") == 600 && $(stat -c %s "$tmp/keys/k1") -eq 32 ]] && ok ||
    bad "key file: mode $(stat -c %a "$tmp/keys/k1"), $(stat -c %s "$tmp/keys/k1") bytes"
grep -q "created the redaction key '$tmp/keys/k1' (key [0-9a-f]\{8\})" "$tmp/k1.err" && ok || bad "no word of the new key: $(cat "$tmp/k1.err")"
cp -p "$tmp/keys/k1" "$tmp/k1.copy"
run k1again --redact-key-file "$tmp/keys/k1"
cmp -s "$tmp/keys/k1" "$tmp/k1.copy" && ok || bad "the key file changed on reuse"
grep -q "created the redaction key" "$tmp/k1again.err" && bad "key created again" || ok
run k2 --redact-key-file "$tmp/keys/k2"
run eph1 --redact-usernames
run eph2 --redact-usernames
grep -q "redacted with a key for this run only" "$tmp/eph1.err" && ok || bad "no word of the per-run key: $(cat "$tmp/eph1.err")"

# Redis gets the same records: one sensor run into a Redis of our own, when there is one.
redis_run=0
if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
    rport=$(bw_free_port 127.0.0.1)
    mkdir -p "$tmp/redis"
    bw_start_bg rpid "$tmp/redis/log" redis-server --bind 127.0.0.1 --port "$rport" --dir "$tmp/redis" \
        --save '' --appendonly no --daemonize no
    if bw_wait_listen "$rport" 20 "$rpid"; then
        run redis --redact-key-file "$tmp/keys/k1" --redis "redis://127.0.0.1:$rport/0" --sensor-name t-redact
        redis-cli -p "$rport" --raw XRANGE 'brokerwatch:{t-redact}:alerts' - + | grep '^{"timestamp"' >"$tmp/redis.stream"
        redis_run=1
    else
        bad "cannot start redis-server"
    fi
else
    echo "note: redis-server not installed, Redis entries not checked"
fi

"$BW_PY" - "$tmp" "$redis_run" <<'PY' || fail=$((fail + 1))
import csv, json, re, sys
tmp, redis_run = sys.argv[1], sys.argv[2] == "1"
ok = bad = 0
def check(cond, what):
    global ok, bad
    if cond: ok += 1
    else:
        bad += 1; print("FAIL:", what)
TOKEN = re.compile(r"^hmac:[0-9a-f]{32}(\.\.\.)?$")
def records(name): return [json.loads(l) for l in open(f"{tmp}/{name}.jsonl")]
def user(r):
    o = r.get(r.get("app_proto")) or {}
    return o.get("username")

plain = records("plain")
names = {user(r) for r in plain} - {None}
check(len(names) >= 8, f"only {len(names)} user names in the captures: {names}")
def mapping(name):
    """name -> token, pairing the records of a run with the plain run's (same captures, same order)."""
    recs = records(name)
    check(len(recs) == len(plain), f"{name}: {len(recs)} records, plain run {len(plain)}")
    m = {}
    for p, r in zip(plain, recs):
        u, t = user(p), user(r)
        if u is None:
            check(t is None, f"{name}: a token where there was no name")
            continue
        check(isinstance(t, str) and TOKEN.match(t), f"{name}: username {t!r} is not a token")
        check(m.setdefault(u, t) == t, f"{name}: '{u}' has two tokens {m[u]} and {t}")
        if p["event_type"] == "alert" and f"'{u}'" in p["alert"]["summary"]:
            check(r["alert"]["summary"] == p["alert"]["summary"].replace(f"'{u}'", f"'{t}'"),
                  f"{name}: summary {r['alert']['summary']!r}")
    check(len(set(m.values())) == len(m), f"{name}: two names share a token")
    return m
k1, k1again, k2, e1, e2 = (mapping(n) for n in ("k1", "k1again", "k2", "eph1", "eph2"))
check(k1 == k1again, "the same key file gave other tokens")
check(all(k1[u] != k2[u] for u in k1), "another key gave the same tokens")
check(all(e1[u] != e2[u] for u in e1), "two runs without a key file gave the same tokens")

def body(path): return open(path, encoding="utf-8", errors="replace").read()
for name in ("k1", "k2", "eph1"):
    everything = "".join(body(f"{tmp}/{name}.{ext}") for ext in ("jsonl", "txt", "json", "csv", "html", "err"))
    leaked = sorted(u for u in names if re.search(r"[\"'>\s,]" + re.escape(u) + r"[\"'<\s,]", everything))
    check(not leaked, f"{name}: user names left in the output: {leaked}")
    m = {"k1": k1, "k2": k2, "eph1": e1}[name]
    rep, plain_rep = json.load(open(f"{tmp}/{name}.json")), json.load(open(f"{tmp}/plain.json"))
    check(rep["run"]["usernames"] == "redacted" and re.match("^[0-9a-f]{8}$", rep["run"].get("redaction_key_id", "")),
          f"{name}: report run {rep['run']}")
    for b, pb in zip(rep["brokers"], plain_rep["brokers"]):
        check(sorted(b["usernames"]) == sorted(m[u] for u in pb["usernames"]), f"{name}: report users of {b['ip']}:{b['port']}")
    rows = list(csv.DictReader(open(f"{tmp}/{name}.csv", newline="", encoding="utf-8")))
    # a last line "..." says a broker's list was capped (8 names)
    check(sorted(t for r in rows for t in r["usernames"].split("\n") if t and t != "...") ==
          sorted(m[u] for pb in plain_rep["brokers"] for u in pb["usernames"]), f"{name}: CSV users")
    txt, html = body(f"{tmp}/{name}.txt"), body(f"{tmp}/{name}.html")
    check(all(m[u] in txt and m[u] in html for pb in plain_rep["brokers"] for u in pb["usernames"]),
          f"{name}: a token missing from the text or HTML report")
if redis_run:
    stream = [json.loads(l) for l in open(f"{tmp}/redis.stream")]
    alerts_k1 = [r for r in records("k1") if r["event_type"] == "alert"]
    check(len(stream) == len(alerts_k1), f"Redis holds {len(stream)} alerts, the file {len(alerts_k1)}")
    check([user(r) for r in stream] == [user(r) for r in alerts_k1], "Redis entries carry other user names than the file")
print(f"{ok} passed, {bad} failed")
sys.exit(1 if bad else 0)
PY

# Key files that cannot be used: exit 1, one line naming the file and why, no alerts lost (none
# are found: the run never starts).
one_line() {   # one_line WANT ARGS...
    local want=$1
    shift
    "$bin" -r "$src/pcaps/mqtt_creds.pcap" -o "$tmp/x.jsonl" "$@" 2>"$tmp/err"
    local rc=$?
    [[ $rc -eq 1 && $(wc -l <"$tmp/err") -eq 1 ]] && grep -q -- "$want" "$tmp/err" && ok ||
        bad "$* -> exit $rc: $(cat "$tmp/err") (want '$want')"
}
one_line "cannot create the redaction key '$tmp/nodir/k': No such file or directory" --redact-key-file "$tmp/nodir/k"
one_line "cannot read the redaction key '$tmp/keys': not a regular file" --redact-key-file "$tmp/keys"
cp "$tmp/keys/k1" "$tmp/keys/shared" && chmod 640 "$tmp/keys/shared"
one_line "redaction key '$tmp/keys/shared' is accessible to other users (mode 0640): chmod 600 it" --redact-key-file "$tmp/keys/shared"
# Unreadable: the sensor as nobody, the key root's own (0600). Root reads everything, so this needs
# another user; setpriv (util-linux) gives one.
if [[ $EUID -eq 0 ]] && command -v setpriv >/dev/null && id nobody >/dev/null 2>&1; then
    chmod 755 "$tmp" "$tmp/keys"
    cp "$src/pcaps/mqtt_creds.pcap" "$tmp/cap.pcap" && chmod 644 "$tmp/cap.pcap"
    setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups "$bin" -r "$tmp/cap.pcap" -o /dev/null \
        --redact-key-file "$tmp/keys/k1" 2>"$tmp/err"
    rc=$?
    [[ $rc -eq 1 && $(wc -l <"$tmp/err") -eq 1 ]] &&
        grep -q "cannot read the redaction key '$tmp/keys/k1': Permission denied" "$tmp/err" && ok ||
        bad "unreadable key: exit $rc: $(cat "$tmp/err")"
else
    echo "note: not root or no setpriv: the unreadable-key case is not checked"
fi
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
