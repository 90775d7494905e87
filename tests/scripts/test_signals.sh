#!/usr/bin/env bash
# test_signals.sh: what each signal does to a running sensor, on a paced replay (the read loop is
# the same one a live capture runs). SIGHUP after a logrotate-style rename: the sensor goes on, the
# records written so far are in the renamed file, the rest in a new file at the old path, none lost,
# none cut, in order (old + new = an undisturbed run, byte for byte). SIGUSR1: the exposure report
# is written while the sensor runs (file and stderr) and again at the end. SIGTERM: a clean finish
# (exit 0, whole records, the report). Live-capture signals: test_live.sh and test_package.sh.
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

cap=$src/pcaps/mqtt_bruteforce.pcap      # 13 sessions over 1.15 s
pace=0.25                                 # about 4.6 s
all_json() { "$BW_PY" -c 'import json,sys; [json.loads(l) for f in sys.argv[1:] for l in open(f)]' "$@"; }
alive_after() {  # alive_after PID SECONDS: sleep, then say whether PID still runs
    sleep "$2"
    bw_alive "$1"
}

"$bin" -q -r "$cap" -o "$tmp/ref.jsonl" --report-json "$tmp/ref.report.json"
nref=$(wc -l <"$tmp/ref.jsonl")
[[ $nref -gt 10 ]] || { echo "FAIL: reference run wrote $nref records"; exit 1; }

# ---- SIGHUP: rotation loses nothing ---------------------------------------------------------------
bw_start_bg pid "$tmp/hup.err" "$bin" -r "$cap" --pace "$pace" -o "$tmp/run.jsonl" --stats-interval 0
sleep 1.8
mv "$tmp/run.jsonl" "$tmp/run.jsonl.1"
kill -HUP "$pid"
alive_after "$pid" 0.3 && ok || bad "the sensor did not survive SIGHUP: $(cat "$tmp/hup.err")"
wait "$pid"; rc=$?
bw_stop_pid "$pid"
[[ $rc -eq 0 ]] && ok || bad "exit $rc after SIGHUP: $(cat "$tmp/hup.err")"
grep -q "SIGHUP: output files reopened" "$tmp/hup.err" && ok || bad "no word of the reopen: $(cat "$tmp/hup.err")"
n1=$(wc -l <"$tmp/run.jsonl.1" 2>/dev/null || echo 0) n2=$(wc -l <"$tmp/run.jsonl" 2>/dev/null || echo 0)
[[ $n1 -gt 0 && $n2 -gt 0 ]] && ok || bad "both files should hold records: renamed $n1, new $n2"
cat "$tmp/run.jsonl.1" "$tmp/run.jsonl" >"$tmp/joined.jsonl" 2>/dev/null
cmp -s "$tmp/joined.jsonl" "$tmp/ref.jsonl" && ok ||
    bad "renamed + new file ($n1 + $n2 lines) differ from an undisturbed run ($nref lines)"
all_json "$tmp/run.jsonl.1" "$tmp/run.jsonl" && ok || bad "a line that is not JSON after the rotation"
[[ $(stat -c %a "$tmp/run.jsonl") == 640 ]] && ok || bad "new file mode $(stat -c %a "$tmp/run.jsonl"), want 640"

# ---- SIGHUP and the evidence capture: two valid captures, together every frame once -----------
"$bin" -q -r "$cap" -o /dev/null -w "$tmp/ref.pcap"
bw_start_bg pid "$tmp/hupw.err" "$bin" -r "$cap" --pace "$pace" -o /dev/null -w "$tmp/ev.pcap" --stats-interval 0
sleep 1.8
mv "$tmp/ev.pcap" "$tmp/ev.pcap.1"
kill -HUP "$pid"
wait "$pid"; rc=$?
bw_stop_pid "$pid"
[[ $rc -eq 0 ]] && ok || bad "-w: exit $rc after SIGHUP: $(cat "$tmp/hupw.err")"
if command -v tshark >/dev/null; then
    frames() { tshark -n -r "$1" -T fields -e frame.time_epoch -e tcp.srcport -e tcp.seq_raw -e tcp.len 2>/dev/null; }
    f1=$(frames "$tmp/ev.pcap.1" | wc -l) f2=$(frames "$tmp/ev.pcap" | wc -l)
    [[ $f1 -gt 0 && $f2 -gt 0 ]] && ok || bad "-w: both captures should hold sessions: renamed $f1, new $f2 frames"
    [[ $(cat <(frames "$tmp/ev.pcap.1") <(frames "$tmp/ev.pcap") | sort) == "$(frames "$tmp/ref.pcap" | sort)" ]] && ok ||
        bad "-w: renamed + new capture differ from an undisturbed run"
fi

# ---- SIGUSR1: the report now, and again at the end ------------------------------------------------
bw_start_bg pid "$tmp/usr1.err" "$bin" -r "$cap" --pace "$pace" -o /dev/null --report-json "$tmp/rep.json"
sleep 2.2
kill -USR1 "$pid"
for _ in $(seq 50); do [[ -s $tmp/rep.json ]] && break; sleep 0.05; done
sleep 0.2                                 # let the rewrite finish
bw_alive "$pid" && ok || bad "the sensor ended on SIGUSR1"
cp "$tmp/rep.json" "$tmp/rep.mid.json" 2>/dev/null
mid=$("$BW_PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); print(sum(b["sessions"] for b in r["brokers"]))' "$tmp/rep.mid.json" 2>&1)
final=$("$BW_PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); print(sum(b["sessions"] for b in r["brokers"]))' "$tmp/ref.report.json")
[[ $mid =~ ^[0-9]+$ && $mid -gt 0 && $mid -lt $final ]] && ok ||
    bad "SIGUSR1 mid-run: report with $mid sessions, want some but fewer than $final"
wait "$pid"; rc=$?
bw_stop_pid "$pid"
[[ $rc -eq 0 ]] && ok || bad "exit $rc after SIGUSR1"
same_report() {  # the two reports, their generation time aside
    "$BW_PY" -c 'import json,sys; a,b=(json.load(open(f)) for f in sys.argv[1:]); [r["run"].pop("generated",None) for r in (a,b)]; sys.exit(a!=b)' "$1" "$2"
}
same_report "$tmp/rep.json" "$tmp/ref.report.json" && ok || bad "the report at the end differs from an undisturbed run's"
# the text report on stderr (the default), once for the signal and once at the end
bw_start_bg pid "$tmp/usr1b.err" "$bin" -r "$cap" --pace "$pace" -o /dev/null
sleep 2.2
kill -USR1 "$pid"
wait "$pid"; rc=$?
bw_stop_pid "$pid"
[[ $rc -eq 0 && $(grep -c '^brokerwatch exposure report' "$tmp/usr1b.err") -eq 2 ]] && ok ||
    bad "SIGUSR1 with the report on stderr: exit $rc, $(grep -c '^brokerwatch exposure report' "$tmp/usr1b.err") reports, want 2"

# ---- SIGTERM: a clean finish ----------------------------------------------------------------------
bw_start_bg pid "$tmp/term.err" "$bin" -r "$cap" --pace "$pace" -o "$tmp/term.jsonl" --report-json "$tmp/term.json"
sleep 1.5
kill -TERM "$pid"
wait "$pid"; rc=$?
bw_stop_pid "$pid"
[[ $rc -eq 0 ]] && ok || bad "exit $rc after SIGTERM: $(cat "$tmp/term.err")"
nt=$(wc -l <"$tmp/term.jsonl")
[[ $nt -gt 0 && $nt -lt $nref ]] && all_json "$tmp/term.jsonl" && ok || bad "after SIGTERM: $nt whole records, want some, fewer than $nref"
"$BW_PY" -c 'import json,sys; json.load(open(sys.argv[1]))' "$tmp/term.json" && ok || bad "no report after SIGTERM"
grep -q "packets, .* alerts" "$tmp/term.err" && ok || bad "no summary line after SIGTERM"

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
