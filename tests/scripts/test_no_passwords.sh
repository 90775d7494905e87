#!/usr/bin/env bash
# test_no_passwords.sh: no password the capture scripts used (scripts/pcaps/passwords.txt) appears
# anywhere in what the sensor writes — alerts, session records, counters, messages, the report,
# the evidence capture (-w, caps raised so that every frame of every alerted session is in it) —
# for every bundled capture, with every record kind switched on.
set -uo pipefail
bin=$1 src=$2
list=$src/scripts/pcaps/passwords.txt
[[ -r $list ]] || { echo "SKIP: $list missing"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
args=()
for p in "$src"/pcaps/*.pcap; do args+=(-r "$p"); done
"$bin" -v "${args[@]}" --session-log -o "$tmp/out.jsonl" -w "$tmp/evidence.pcap" --evidence-packets 100000 \
    --evidence-bytes 4M --evidence-memcap 256M --evidence-after 100000 2>"$tmp/err"
rc=$?
[[ $rc -eq 0 ]] || { echo "FAIL: exit $rc: $(cat "$tmp/err")"; exit 1; }
records=$(wc -l <"$tmp/out.jsonl")
[[ $records -gt 0 ]] || { echo "FAIL: no records at all"; exit 1; }
# the evidence holds every alerted session whole: nothing capped, left out or of another link type
grep -q '"evidence":{"sessions":[1-9]' "$tmp/err" || { echo "FAIL: no evidence written"; exit 1; }
if grep -qE '"(session_caps|sessions_over_total|packets_other_link|hold_refused)":[1-9]' "$tmp/err"; then
    echo "FAIL: evidence was capped: $(grep -o '"evidence":{[^}]*}' "$tmp/err" | tail -1)"
    exit 1
fi
fail=0 n=0
while IFS= read -r pw; do
    [[ -z $pw || $pw == \#* ]] && continue
    n=$((n + 1))
    if grep -qaF -- "$pw" "$tmp/out.jsonl" "$tmp/err" "$tmp/evidence.pcap"; then
        echo "FAIL: password '$pw' appears in the output"
        fail=$((fail + 1))
    fi
done <"$list"
echo "$records records checked against $n passwords"
echo "$((n - fail)) passed, $fail failed"
[[ $fail -eq 0 ]]
