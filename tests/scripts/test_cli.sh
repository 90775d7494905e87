#!/usr/bin/env bash
# test_cli.sh: the command line as a user meets it: exit statuses, one-line errors that name the
# file and the cause, alerts kept when a capture is cut short, stdin, BPF filters, several files.
set -uo pipefail
bin=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
expect_rc() { local want=$1; shift; "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?; [[ $rc -eq $want ]] && ok || bad "$* -> exit $rc, want $want: $(cat "$tmp/err")"; }
one_line_err() { [[ $(wc -l <"$tmp/err") -eq 1 ]] && grep -q "$1" "$tmp/err" && ok || bad "stderr should be one line containing '$1': $(cat "$tmp/err")"; }

cap=$src/pcaps/mqtt_bruteforce.pcap

expect_rc 0 "$bin" --help;            grep -q "Usage: brokerwatch" "$tmp/out" && ok || bad "--help text"
expect_rc 0 "$bin" --version;         grep -q "^brokerwatch [0-9]" "$tmp/out" && ok || bad "--version text"
expect_rc 2 "$bin";                   one_line_err "no input"
expect_rc 2 "$bin" -r "$cap" --frobnicate;  one_line_err "unknown option '--frobnicate'"
expect_rc 2 "$bin" -r "$cap" --max-flows x; one_line_err "max-flows"
expect_rc 1 "$bin" -r "$tmp/missing.pcap";  one_line_err "missing.pcap.*No such file"
printf 'this is not a capture\n' >"$tmp/text.pcap"
expect_rc 1 "$bin" -r "$tmp/text.pcap";     one_line_err "text.pcap"
expect_rc 1 "$bin" -r "$cap" 'tcp port port'; one_line_err "filter"
expect_rc 1 "$bin" -r "$cap" -o /nonexistent-dir/x.jsonl; one_line_err "/nonexistent-dir/x.jsonl"

# A capture cut in the middle of a packet: exit 1, one line naming the file, and the alerts
# found before the cut are written.
full=$("$bin" -q -r "$cap" | grep -c '"event_type":"alert"')
size=$(stat -c %s "$cap")
head -c $((size * 2 / 3)) "$cap" >"$tmp/cut.pcap"
"$bin" -q -r "$tmp/cut.pcap" >"$tmp/out" 2>"$tmp/err"; rc=$?
[[ $rc -eq 1 ]] && ok || bad "truncated capture: exit $rc, want 1"
one_line_err "cut.pcap"
got=$(grep -c '"event_type":"alert"' "$tmp/out")
[[ $got -gt 0 && $got -le $full ]] && ok || bad "truncated capture: $got alerts written (full capture: $full)"
/usr/bin/python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$tmp/out" && ok || bad "output is not JSON lines"

# stdin, and a BPF filter that removes everything
"$bin" -q -r - <"$cap" >"$tmp/stdin.jsonl" 2>"$tmp/err" && ok || bad "-r - failed: $(cat "$tmp/err")"
[[ $(grep -c '"event_type":"alert"' "$tmp/stdin.jsonl") -eq $full ]] && ok || bad "stdin gives other alerts"
"$bin" -q -r "$cap" tcp port 9 >"$tmp/none.jsonl" && ok || bad "filtered run failed"
[[ ! -s $tmp/none.jsonl ]] && ok || bad "BPF filter did not filter"
# two files are one capture, in order; -o appends to a file
"$bin" -q -r "$cap" -r "$src/pcaps/mqtt_creds.pcap" -o "$tmp/two.jsonl" && ok || bad "two files"
want=$(( full + $("$bin" -q -r "$src/pcaps/mqtt_creds.pcap" | grep -c '"event_type":"alert"') ))
[[ $(grep -c '"event_type":"alert"' "$tmp/two.jsonl") -eq $want ]] && ok || bad "two files: alert count"
# -v prints the counters as one JSON line at exit
"$bin" -q -v -r "$cap" >/dev/null 2>"$tmp/err"
grep -q '"event_type":"stats"' "$tmp/err" && ok || bad "-v counters"

# The progress line: on a terminal only (script(1) gives one), erased at the end; never in a file.
"$bin" -r "$src/pcaps/amqp10_plain_fail.pcap" --pace 4 -o /dev/null 2>"$tmp/err"
grep -q $'\r\\[' "$tmp/err" && bad "progress line written to a file" || ok
if command -v script >/dev/null; then
    script -qc "'$bin' -r '$src/pcaps/amqp10_plain_fail.pcap' --pace 4 -o /dev/null" "$tmp/tty" >/dev/null 2>&1
    grep -q '% ' "$tmp/tty" && grep -q $'\e\\[K' "$tmp/tty" && ok || bad "no progress line on a terminal"
    script -qc "'$bin' -q -r '$src/pcaps/amqp10_plain_fail.pcap' --pace 4 -o /dev/null" "$tmp/tty" >/dev/null 2>&1
    grep -q '% ' "$tmp/tty" && bad "progress line despite -q" || ok
fi

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
