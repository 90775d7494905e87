#!/usr/bin/env bash
# test_package.sh: the Debian package end to end, as an operator meets it. scripts/package builds
# it; `apt-get install ./brokerwatch_*.deb` installs it (the brokerwatch system user, its log and
# spool directories); the installed unit verifies; then the unit's own ExecStart line, expanded as
# systemd does (instance = a veth in a network namespace of this test, options from the installed
# /etc/default/brokerwatch), runs under the unit's capability bounding set and no_new_privs: it
# captures, drops to brokerwatch with no capability, no_new_privs and seccomp in every thread,
# writes alerts into /var/log/brokerwatch; the installed logrotate snippet rotates the file, SIGHUP
# (what ExecReload sends) moves the sensor to the new file with nothing lost; SIGUSR1 reports;
# SIGTERM ends it cleanly. `apt-get purge` removes it again. Needs root, apt and network namespaces;
# skipped (77) only where those are missing.
set -uo pipefail
bin=$(realpath "$1") src=$(realpath "$2")
BW_PROG=${0##*/}
. "$src/scripts/common.sh"
bw_tmpdir
tmp=$BW_TMP
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
skip() { echo "SKIP: $*"; exit 77; }
((EUID == 0)) || skip "installing a package needs root"
command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || skip "no apt-get/dpkg-deb here"
command -v tcpreplay >/dev/null || skip "tcpreplay is not installed (scripts/test installs it)"
dpkg-query -W -f='${db:Status-Abbrev}' brokerwatch 2>/dev/null | grep -q '^ii' &&
    skip "a brokerwatch package is installed on this machine already; not touching it"

ns=bwpkg$$
ifc=bwp$$                                  # the instance name: brokerwatch@$ifc
installed=0 pid=
cleanup() {
    local rc=$?
    [[ -n $pid ]] && kill -KILL "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    ip netns del "$ns" 2>/dev/null
    ((installed)) && DEBIAN_FRONTEND=noninteractive apt-get purge -y -q -o DPkg::Lock::Timeout=300 brokerwatch >/dev/null 2>&1
    rm -rf "$tmp"
    return "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
apt_get() { DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=300 "$@"; }

# ---- build and install ----------------------------------------------------------------------------
# Reuse the tree's gcc Release build when there is one (scripts/test makes build/), else build.
reuse=
grep -qs '^CMAKE_BUILD_TYPE:STRING=Release$' "$src/build/CMakeCache.txt" && reuse=$src/build
deb=$(BW_PKG_BUILD_DIR=$reuse "$src/scripts/package" "$tmp/pkg" 2>"$tmp/package.err" | tail -1)
[[ -f $deb && $deb == */brokerwatch_*.deb ]] || { cat "$tmp/package.err"; echo "FAIL: scripts/package made no package"; exit 1; }
ok
if apt_get install "$deb" >"$tmp/apt.log" 2>&1; then installed=1; ok; else cat "$tmp/apt.log"; echo "FAIL: apt-get install $deb"; exit 1; fi
sbin=/usr/sbin/brokerwatch
"$sbin" --version | grep -q '^brokerwatch [0-9]' && ok || bad "installed $sbin does not run"
[[ -x /usr/bin/brokerwatch-alerts ]] && ok || bad "brokerwatch-alerts not installed"
uid=$(id -u brokerwatch 2>/dev/null)
[[ -n $uid && $uid -lt 1000 ]] && ok || bad "no brokerwatch system user (uid '$uid')"
[[ $(getent passwd brokerwatch | cut -d: -f7) == */nologin || $(getent passwd brokerwatch | cut -d: -f7) == /bin/false ]] && ok ||
    bad "the brokerwatch user can log in: $(getent passwd brokerwatch)"
[[ $(stat -c '%U %a' /var/log/brokerwatch) == "brokerwatch 750" && $(stat -c '%U %a' /var/spool/brokerwatch) == "brokerwatch 750" ]] && ok ||
    bad "directories: $(stat -c '%n %U %a' /var/log/brokerwatch /var/spool/brokerwatch 2>&1)"
for m in /usr/share/man/man8/brokerwatch.8.gz /usr/share/man/man1/brokerwatch-alerts.1.gz; do
    zcat "$m" | mandoc -T lint -W warning >"$tmp/lint" 2>&1 && ok || bad "installed $m: $(cat "$tmp/lint")"
done
unit=/usr/lib/systemd/system/brokerwatch@.service
mkdir -p "$tmp/units"
cp "$unit" "$tmp/units/brokerwatch@$ifc.service"
systemd-analyze verify --man=no "$tmp/units/brokerwatch@$ifc.service" >"$tmp/verify" 2>&1 && [[ ! -s $tmp/verify ]] && ok ||
    bad "systemd-analyze verify on the installed unit: $(cat "$tmp/verify")"
logrotate -d /etc/logrotate.d/brokerwatch >"$tmp/lr.debug" 2>&1 && ! grep -qi 'error' "$tmp/lr.debug" && ok ||
    bad "logrotate -d on the installed snippet: $(grep -i error "$tmp/lr.debug")"

# ---- the unit's command line, as systemd would run it --------------------------------------------
ip netns add "$ns" 2>/dev/null || skip "cannot create a network namespace here"
ip netns exec "$ns" ip link add va type veth peer name "$ifc" || skip "veth not available"
ip netns exec "$ns" ip link set va up
ip netns exec "$ns" ip link set "$ifc" up
exec_line=$(sed -n 's/^ExecStart=//p' "$unit")
exec_line=${exec_line//%I/$ifc}
exec_line=${exec_line//%i/$ifc}
exec_line=${exec_line//%H/$(hostname)}
# EnvironmentFile=, then $VAR split at spaces and "${VAR}" as one word: what the shell does too.
set -a
. /etc/default/brokerwatch
set +a
eval "argv=($exec_line)"
[[ ${argv[0]} == "$sbin" && " ${argv[*]} " == *" -Z brokerwatch "* ]] && ok || bad "ExecStart: ${argv[*]}"
# CapabilityBoundingSet= and NoNewPrivileges= of the unit, by setpriv.
bset=-all
for c in $(sed -n 's/^CapabilityBoundingSet=//p' "$unit"); do
    c=${c#CAP_}
    bset+=",+${c,,}"
done
log=/var/log/brokerwatch/$ifc.jsonl
ip netns exec "$ns" setpriv --bounding-set="$bset" --no-new-privs "${argv[@]}" 2>"$tmp/svc.err" &
pid=$!
for _ in $(seq 100); do
    grep -q "capturing on $ifc as brokerwatch" "$tmp/svc.err" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
grep -q "capturing on $ifc as brokerwatch" "$tmp/svc.err" || { cat "$tmp/svc.err"; echo "FAIL: the unit's command line did not start"; exit 1; }
ok
# every thread: brokerwatch's uid, no capability, no_new_privs, seccomp filter
for st in /proc/"$pid"/task/*/status; do
    read -r u nnp sc prm eff < <(awk '/^Uid:/{u=$2} /^NoNewPrivs:/{n=$2} /^Seccomp:/{s=$2} /^CapPrm:/{p=$2} /^CapEff:/{e=$2} END{print u, n, s, p, e}' "$st")
    [[ $u == "$uid" && $nnp == 1 && $sc == 2 && $prm == 0000000000000000 && $eff == 0000000000000000 ]] && ok ||
        bad "$st: uid $u NoNewPrivs $nnp Seccomp $sc CapPrm $prm CapEff $eff"
done
ip netns exec "$ns" tcpreplay -q -i va "$src/pcaps/mqtt_creds.pcap" >/dev/null 2>&1 || bad "tcpreplay"
bw_wait_grep "$log" '"event_type":"alert"' 10 && ok || bad "no alert in $log"
sleep 0.5
[[ $(stat -c %U "$log") == brokerwatch ]] && ok || bad "$log belongs to $(stat -c %U "$log"), not brokerwatch"
first=$(grep -c '"event_type":"alert"' "$log")
# logrotate with the installed snippet (its postrotate asks systemd, absent here), then the HUP
# that ExecReload sends.
logrotate -f -s "$tmp/lr.state" /etc/logrotate.d/brokerwatch >"$tmp/lr.log" 2>&1 || bad "logrotate: $(cat "$tmp/lr.log")"
[[ -s $log.1 && -e $log && ! -s $log ]] && ok || bad "logrotate did not rotate $log: $(ls -la /var/log/brokerwatch)"
kill -HUP "$pid"
sleep 0.3
kill -0 "$pid" 2>/dev/null && ok || bad "the sensor ended on SIGHUP: $(cat "$tmp/svc.err")"
ip netns exec "$ns" tcpreplay -q -i va "$src/pcaps/mqtt_bruteforce.pcap" >/dev/null 2>&1 || bad "tcpreplay"
want=$("$sbin" -q -r "$src/pcaps/mqtt_bruteforce.pcap" | grep -c '"event_type":"alert"')
for _ in $(seq 100); do
    [[ $(grep -c '"event_type":"alert"' "$log" 2>/dev/null) -ge $want ]] && break
    sleep 0.1
done
[[ $(grep -c '"event_type":"alert"' "$log") -eq $want && $(grep -c '"event_type":"alert"' "$log.1") -eq $first ]] && ok ||
    bad "after rotation: $(grep -c '"event_type":"alert"' "$log") alerts in the new file (want $want), $(grep -c '"event_type":"alert"' "$log.1") in the old (want $first)"
kill -USR1 "$pid"
bw_wait_grep "$tmp/svc.err" '^brokerwatch exposure report' 5 && ok || bad "no report on SIGUSR1"
kill -TERM "$pid"
wait "$pid"; rc=$?
pid=
[[ $rc -eq 0 ]] && ok || bad "exit $rc after SIGTERM: $(tail -3 "$tmp/svc.err")"
grep -q 'seccomp\|SIGSYS' "$tmp/svc.err" && bad "the sandbox refused something: $(cat "$tmp/svc.err")" || ok
ip netns del "$ns"

# ---- remove -------------------------------------------------------------------------------------
apt_get purge brokerwatch >"$tmp/apt.log" 2>&1 && ok || bad "apt-get purge: $(tail -3 "$tmp/apt.log")"
installed=0
[[ ! -e $sbin && ! -e $unit && ! -e /etc/default/brokerwatch && ! -e /var/log/brokerwatch ]] && ok ||
    bad "left behind after purge: $(ls -d $sbin $unit /etc/default/brokerwatch /var/log/brokerwatch 2>/dev/null)"

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
