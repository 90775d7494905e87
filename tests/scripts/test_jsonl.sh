#!/usr/bin/env bash
# test_jsonl.sh: the JSON lines file holds whole records only. A sensor killed with SIGKILL at
# several moments of a paced replay (no chance to flush or clean up) leaves a file that ends at a
# record boundary, every line parseable, appended run after run. A file an earlier writer left
# without a final newline gets one before the first new record, so every new record parses.
set -uo pipefail
bin=$(realpath "$1") src=$(realpath "$2")
BW_PROG=${0##*/}
. "$src/scripts/common.sh"
bw_tmpdir
tmp=$BW_TMP
bw_install_trap
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

cap=$src/pcaps/mqtt_bruteforce.pcap
# bad_lines FILE [SKIP]: how many lines after the first SKIP are not JSON objects
bad_lines() {
    "$BW_PY" - "$1" "${2:-0}" <<'EOF'
import json, sys
n = 0
for i, line in enumerate(open(sys.argv[1], "rb")):
    if i < int(sys.argv[2]):
        continue
    try:
        if not isinstance(json.loads(line), dict):
            n += 1
    except ValueError:
        n += 1
print(n)
EOF
}
last_byte() { tail -c 1 "$1" | od -An -c | tr -d ' '; }

nref=$("$bin" -q -r "$cap" --session-log | wc -l)

# ---- SIGKILL at different moments, all appending to one file ---------------------------------------
out=$tmp/killed.jsonl
total=0
for t in 0.7 1.3 1.9 2.6 3.2; do
    bw_start_bg pid "$tmp/kill.err" "$bin" -r "$cap" --pace 0.3 --session-log -o "$out"
    sleep "$t"
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null
    bw_stop_pid "$pid"
    if [[ -s $out ]]; then
        [[ $(last_byte "$out") == '\n' ]] && ok || bad "after SIGKILL at ${t}s the file does not end at a record boundary"
    fi
    total=$(wc -l <"$out")
done
[[ $total -gt 0 ]] && ok || bad "nothing written before the kills"
[[ $(bad_lines "$out") -eq 0 ]] && ok || bad "$(bad_lines "$out") lines are not whole records after the kills"
# a full run appended after them: its records all there, all whole
before=$(wc -l <"$out")
"$bin" -q -r "$cap" --session-log -o "$out" && ok || bad "run after the kills failed"
[[ $(($(wc -l <"$out") - before)) -eq $nref && $(bad_lines "$out") -eq 0 ]] && ok ||
    bad "appending after the kills: $(($(wc -l <"$out") - before)) new records (want $nref), $(bad_lines "$out") bad lines"

# ---- a file that ends inside a record --------------------------------------------------------------
printf '{"event_type":"alert","sensor":"cut-here' >"$tmp/torn.jsonl"
"$bin" -q -r "$cap" --session-log -o "$tmp/torn.jsonl" && ok || bad "run on a torn file failed"
[[ $(head -1 "$tmp/torn.jsonl") == '{"event_type":"alert","sensor":"cut-here' ]] && ok ||
    bad "the earlier bytes must stay as they were, on a line of their own"
[[ $(($(wc -l <"$tmp/torn.jsonl") - 1)) -eq $nref && $(bad_lines "$tmp/torn.jsonl" 1) -eq 0 ]] && ok ||
    bad "after a torn line: $(($(wc -l <"$tmp/torn.jsonl") - 1)) records (want $nref), $(bad_lines "$tmp/torn.jsonl" 1) not whole"
# the same through stdout appending (>>)
printf '{"cut' >"$tmp/torn2.jsonl"
"$bin" -q -r "$cap" --session-log >>"$tmp/torn2.jsonl" && ok || bad "run on stdout >> failed"
[[ $(bad_lines "$tmp/torn2.jsonl" 1) -eq 0 && $(($(wc -l <"$tmp/torn2.jsonl") - 1)) -eq $nref ]] && ok ||
    bad "stdout appended to a torn file: records do not parse"
# a file that ends with a newline gets no empty line
"$bin" -q -r "$cap" -o "$tmp/twice.jsonl"
"$bin" -q -r "$cap" -o "$tmp/twice.jsonl"
empty=$(grep -c '^$' "$tmp/twice.jsonl")
[[ $empty -eq 0 ]] && ok || bad "$empty empty lines between two runs"

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
