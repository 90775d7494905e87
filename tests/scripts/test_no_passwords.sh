#!/usr/bin/env bash
# test_no_passwords.sh: no password the capture scripts used (scripts/pcaps/passwords.txt) appears
# anywhere in what the sensor writes — alerts, session records, counters, messages, the report —
# for every bundled capture, with every record kind switched on.
set -uo pipefail
bin=$1 src=$2
list=$src/scripts/pcaps/passwords.txt
[[ -r $list ]] || { echo "SKIP: $list missing"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
args=()
for p in "$src"/pcaps/*.pcap; do args+=(-r "$p"); done
"$bin" -v "${args[@]}" --session-log -o "$tmp/out.jsonl" 2>"$tmp/err"
rc=$?
[[ $rc -eq 0 ]] || { echo "FAIL: exit $rc: $(cat "$tmp/err")"; exit 1; }
records=$(wc -l <"$tmp/out.jsonl")
[[ $records -gt 0 ]] || { echo "FAIL: no records at all"; exit 1; }
fail=0 n=0
while IFS= read -r pw; do
    [[ -z $pw || $pw == \#* ]] && continue
    n=$((n + 1))
    if grep -qF -- "$pw" "$tmp/out.jsonl" "$tmp/err"; then
        echo "FAIL: password '$pw' appears in the output"
        fail=$((fail + 1))
    fi
done <"$list"
echo "$records records checked against $n passwords"
echo "$((n - fail)) passed, $fail failed"
[[ $fail -eq 0 ]]
