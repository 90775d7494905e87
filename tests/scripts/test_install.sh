#!/usr/bin/env bash
# test_install.sh: `cmake --install` of the build under test into a scratch prefix: the programs,
# the man pages (mandoc -T lint clean at warning level, and every option of --help documented there
# and nothing more), the systemd unit (systemd-analyze verify on an instance of it, with the man
# page it names found), the environment file (valid for systemd and the shell) and the logrotate
# snippet. The Debian package and the unit's command line run for real: test_package.sh.
set -uo pipefail
bin=$(realpath "$1") src=$(realpath "$2")
build=$(dirname "$bin")
BW_PROG=${0##*/}
. "$src/scripts/common.sh"
bw_tmpdir
tmp=$BW_TMP
bw_install_trap
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
skip() { echo "SKIP: $*"; exit 77; }
[[ -r $build/CMakeCache.txt ]] || skip "$build is not a CMake build directory"

pfx=$tmp/prefix
cmake --install "$build" --prefix "$pfx" >"$tmp/install.log" 2>&1 && ok || { cat "$tmp/install.log"; bad "cmake --install failed"; }
for f in sbin/brokerwatch bin/brokerwatch-alerts share/man/man8/brokerwatch.8 share/man/man1/brokerwatch-alerts.1 \
         lib/systemd/system/brokerwatch@.service etc/default/brokerwatch etc/logrotate.d/brokerwatch \
         lib/sysusers.d/brokerwatch.conf lib/tmpfiles.d/brokerwatch.conf; do
    [[ -s $pfx/$f ]] && ok || bad "not installed: $f"
done
[[ -x $pfx/sbin/brokerwatch && -x $pfx/bin/brokerwatch-alerts ]] && ok || bad "programs not executable"
"$pfx/sbin/brokerwatch" --version | grep -q '^brokerwatch [0-9]' && ok || bad "installed brokerwatch does not run"

# ---- man pages ------------------------------------------------------------------------------------
for m in share/man/man8/brokerwatch.8 share/man/man1/brokerwatch-alerts.1; do
    if mandoc -T lint -W warning "$pfx/$m" >"$tmp/lint" 2>&1; then ok; else bad "mandoc -T lint $m: $(cat "$tmp/lint")"; fi
    mandoc -T ascii "$pfx/$m" >/dev/null 2>&1 && ok || bad "mandoc cannot render $m"
done
# Every long option of --help is in the man page (as .Fl -name) and the page has none more.
help_vs_man() {  # help_vs_man PROGRAM PAGE
    "$1" --help | grep -o -- '--[a-z][a-z-]*' | sort -u >"$tmp/help.opts"
    grep -o 'Fl -[a-z][a-z-]*' "$2" | sed 's/^Fl /-/' | sort -u >"$tmp/man.opts"
    local d
    d=$(diff "$tmp/help.opts" "$tmp/man.opts")
    [[ -z $d ]] && ok || bad "$(basename "$2"): options differ from --help (< only in --help, > only in the page): $d"
    # and the short options of --help ("  -x, --long")
    local s missing=""
    for s in $("$1" --help | sed -n 's/^  -\([a-zA-Z]\),.*/\1/p'); do
        grep -q "Fl $s\b\|Fl [a-zA-Z]*$s" "$2" || missing+=" -$s"
    done
    [[ -z $missing ]] && ok || bad "$(basename "$2"): short options not documented:$missing"
}
help_vs_man "$pfx/sbin/brokerwatch" "$pfx/share/man/man8/brokerwatch.8"
help_vs_man "$pfx/bin/brokerwatch-alerts" "$pfx/share/man/man1/brokerwatch-alerts.1"
# -vv: the page says what the second -v adds, as --help does
helptext=$("$pfx/sbin/brokerwatch" --help)
grep -q 'Fl vv' "$pfx/share/man/man8/brokerwatch.8" && grep -q -- '-vv' <<<"$helptext" && ok ||
    bad "-vv is not explained in both --help and the man page"
# the signals are documented where an operator looks
for s in SIGHUP SIGUSR1 SIGTERM; do
    grep -q "Dv $s" "$pfx/share/man/man8/brokerwatch.8" && ok || bad "$s missing from brokerwatch(8)"
done

# ---- the systemd unit -----------------------------------------------------------------------------
unit=$pfx/lib/systemd/system/brokerwatch@.service
grep -q "^ExecStart=$pfx/sbin/brokerwatch -i %I -Z brokerwatch " "$unit" && ok || bad "ExecStart does not run the installed sensor: $(grep ^ExecStart "$unit")"
grep -q "^EnvironmentFile=-$pfx/etc/default/brokerwatch$" "$unit" && ok || bad "EnvironmentFile is not the installed one"
for k in ProtectSystem=strict ProtectHome=yes PrivateTmp=yes NoNewPrivileges=yes Restart=on-failure \
         'ReadWritePaths=/var/log/brokerwatch /var/spool/brokerwatch'; do
    grep -qx "$k" "$unit" && ok || bad "unit lacks $k"
done
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$unit")
for c in $caps; do
    case $c in CAP_NET_RAW|CAP_SETUID|CAP_SETGID|CAP_SETPCAP|CAP_DAC_OVERRIDE|CAP_CHOWN) ok ;;
        *) bad "capability $c in the bounding set: not needed to open the capture or drop privileges" ;; esac
done
grep -q '^RestrictAddressFamilies=AF_PACKET AF_INET AF_INET6 AF_UNIX AF_NETLINK$' "$unit" && ok || bad "RestrictAddressFamilies"
if command -v systemd-analyze >/dev/null; then
    mkdir -p "$tmp/units"
    cp "$unit" "$tmp/units/brokerwatch@lo.service"
    # MANPATH: Documentation=man:brokerwatch(8) must resolve to the installed page.
    if MANPATH=$pfx/share/man systemd-analyze verify "$tmp/units/brokerwatch@lo.service" >"$tmp/verify" 2>&1 ||
       { grep -q "Command 'man" "$tmp/verify" && ! command -v man >/dev/null &&
         systemd-analyze verify --man=no "$tmp/units/brokerwatch@lo.service" >"$tmp/verify" 2>&1; }; then
        [[ ! -s $tmp/verify ]] && ok || bad "systemd-analyze verify warns: $(cat "$tmp/verify")"
    else
        bad "systemd-analyze verify: $(cat "$tmp/verify")"
    fi
    if systemd-analyze security --offline=yes "$tmp/units/brokerwatch@lo.service" >"$tmp/security" 2>&1; then
        sed -n 's/^→ Overall exposure level for \(.*\)/systemd-analyze security: \1/p' "$tmp/security"
    fi
else
    bad "systemd-analyze is not installed (scripts/test installs systemd)"
fi

# ---- environment file and logrotate snippet --------------------------------------------------------
env=$pfx/etc/default/brokerwatch
# KEY=value lines only (systemd's EnvironmentFile), and the shell reads the same values.
grep -vE '^\s*(#|$)' "$env" | grep -vE '^[A-Z_]+="[^"]*"$' >"$tmp/envbad"
[[ ! -s $tmp/envbad ]] && ok || bad "environment file lines systemd may read differently: $(cat "$tmp/envbad")"
(set -a; . "$env"; [[ -v BROKERWATCH_OPTS && -v BROKERWATCH_FILTER ]]) && ok || bad "environment file lacks BROKERWATCH_OPTS/FILTER"
# the options it sets are ones the sensor takes
(set -a; . "$env"; "$pfx/sbin/brokerwatch" $BROKERWATCH_OPTS -r "$src/pcaps/mqtt_creds.pcap" -q -o /dev/null) && ok ||
    bad "the environment file's BROKERWATCH_OPTS are refused by the sensor"
grep -q '^/var/log/brokerwatch/\*.jsonl {' "$pfx/etc/logrotate.d/brokerwatch" &&
    grep -q "systemctl reload 'brokerwatch@\*.service'" "$pfx/etc/logrotate.d/brokerwatch" && ok ||
    bad "logrotate snippet does not rotate the service's files and signal it"

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
