#!/usr/bin/env bash
# test_alert_text.sh: one line per alert where a person looks, JSON everywhere else. On a terminal
# (script(1) gives the sensor one) without -o: a column header, then one line per alert with time,
# severity, kind, client -> broker and summary, the same alerts as the JSON run, severities in colour
# unless NO_COLOR. Piped, or with -o: JSON lines. --format json|text forces either way; --format text
# into a file has no terminal codes; --session-log adds session lines; a bad --format is a usage error.
set -uo pipefail
bin=$1 src=$2
command -v script >/dev/null || { echo "SKIPPED: script(1) is not installed (util-linux)"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bw-text.$$.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
cap=$src/pcaps/mqtt_default_creds.pcap
cap2=$src/pcaps/mqtt_bruteforce.pcap

# ontty OUT CMD...: run CMD with stdout and stderr on a terminal; OUT gets what it printed, with
# script's own header line and the terminal's CR removed.
ontty() {
    local out=$1
    shift
    local cmd
    printf -v cmd '%q ' "$@"
    script -qec "$cmd" "$out.raw" >/dev/null 2>&1 </dev/null
    local rc=$?
    grep -v '^Script started on ' "$out.raw" | grep -v '^Script done on ' | tr -d '\r' | grep -v '^$' >"$out"
    return $rc
}

"$bin" -q -r "$cap" -r "$cap2" >"$tmp/piped.jsonl" || bad "piped run failed"
/usr/bin/python3 - "$tmp/piped.jsonl" >"$tmp/want" <<'PY' || bad "piped output is not JSON lines"
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    a = r["alert"]
    cli = f"{r['src_ip']}:{r['src_port']}"
    srv = f"[{r['dest_ip']}]:{r['dest_port']}" if ":" in r["dest_ip"] else f"{r['dest_ip']}:{r['dest_port']}"
    t = r["timestamp"][:19].replace("T", " ")
    print(f"{t}  {a['metadata']['signature_severity'][0]:<8}  {a['kind']:<21}  {cli + ' -> ' + srv:<44}  {a['summary']}")
PY
nwant=$(wc -l <"$tmp/want")
[[ $nwant -gt 10 ]] && ok || bad "only $nwant alerts in the test captures"

# A terminal, no -o: text, and the lines are exactly the JSON records' fields.
ontty "$tmp/tty" "$bin" -q -r "$cap" -r "$cap2" && ok || bad "terminal run failed"
sed 's/\x1b\[K//g; s/\x1b\[[0-9;]*m//g' "$tmp/tty" >"$tmp/tty.plain"
head -1 "$tmp/tty.plain" | grep -q '^TIME (UTC) *SEVERITY *KIND *CLIENT -> BROKER *SUMMARY$' && ok || bad "no column header: $(head -1 "$tmp/tty.plain")"
tail -n +2 "$tmp/tty.plain" >"$tmp/got"
diff -u "$tmp/want" "$tmp/got" >"$tmp/diff" && ok || { bad "terminal lines differ from the JSON records:"; head -20 "$tmp/diff"; }
grep -q '"event_type"' "$tmp/tty" && bad "JSON on the terminal" || ok
grep -q $'\x1b\\[1;31mcritical\x1b\\[0m' "$tmp/tty" && ok || bad "critical not in colour on the terminal"
ontty "$tmp/nocolour" env NO_COLOR=1 "$bin" -q -r "$cap"
grep -q $'\x1b\\[[0-9;]*m' "$tmp/nocolour" && bad "colour despite NO_COLOR" || ok
grep -q 'critical  default_credentials' "$tmp/nocolour" && ok || bad "NO_COLOR run lost its lines"

# A terminal, but --format json or -o: JSON lines.
ontty "$tmp/tty-json" "$bin" -q -r "$cap" --format json
[[ $(grep -c '^{"timestamp"' "$tmp/tty-json") -eq $(wc -l <"$("$bin" -q -r "$cap" >"$tmp/one.jsonl"; echo "$tmp/one.jsonl")") ]] &&
    ok || bad "--format json on a terminal: $(head -2 "$tmp/tty-json")"
ontty "$tmp/tty-o" "$bin" -q -r "$cap" -o "$tmp/o.jsonl"
[[ ! -s $tmp/tty-o ]] && ok || bad "-o still wrote alerts to the terminal: $(head -2 "$tmp/tty-o")"
/usr/bin/python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$tmp/o.jsonl" && ok || bad "-o is not JSON lines"

# Piped or into a file with --format text: the same lines, no terminal codes, no header.
"$bin" -q -r "$cap" -r "$cap2" --format text >"$tmp/text.pipe" || bad "--format text run failed"
diff -q "$tmp/want" "$tmp/text.pipe" >/dev/null && ok || bad "--format text on a pipe differs: $(head -2 "$tmp/text.pipe")"
"$bin" -q -r "$cap" --format text -o "$tmp/alerts.txt" >"$tmp/stdout" || bad "--format text -o failed"
[[ ! -s $tmp/stdout ]] && ok || bad "--format text -o wrote to stdout"
grep -q $'\x1b' "$tmp/alerts.txt" && bad "terminal codes in a text file" || ok
grep -q 'critical  default_credentials' "$tmp/alerts.txt" && ok || bad "--format text -o: no lines"

# --session-log: a line per session too.
"$bin" -q -r "$cap" --format text --session-log >"$tmp/sess.txt"
grep -Eq '^[0-9-]+ [0-9:]+  -         session  +127\.0\.0\.1:[0-9]+ -> 127\.0\.0\.1:1883 +MQTT [0-9.]+ session from 127\.0\.0\.1 to 127\.0\.0\.1:1883 ended \(fin\); alerts: plaintext_session, cleartext_credentials, default_credentials$' "$tmp/sess.txt" &&
    ok || bad "session line: $(grep session "$tmp/sess.txt" | head -1)"

# A bad value: exit 2, one line.
"$bin" -r "$cap" --format xml >/dev/null 2>"$tmp/err"
rc=$?
[[ $rc -eq 2 && $(wc -l <"$tmp/err") -eq 1 ]] && grep -q "format wants json or text, not 'xml'" "$tmp/err" && ok ||
    bad "--format xml: exit $rc: $(cat "$tmp/err")"
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
