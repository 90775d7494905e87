# scripts/pcaps/amqp.sh: AMQP captures for scripts/make-pcaps (sourced; defines and
# registers cases, runs nothing by itself). Broker: Debian's rabbitmq-server 3.10 (AMQP 0-9-1
# on its TCP listener; AMQP 1.0 from its rabbitmq_amqp1_0 plugin on the same listener).
# Clients: pika, py-amqp (python3-amqp) and Qpid Proton through amqp_client.py, and
# amqp-tools' amqp-publish. Every case runs in its own network namespace (see make-pcaps).
# Every password used here is listed in scripts/pcaps/passwords.txt (tests grep the
# sensor's output for them), except guest, which is also a user name.
# What each capture shows and the verdicts it should produce: pcaps/README.md.

AMQP_PW_ORDERS=Orders-amqp-pw-77       # orders, a user made with rabbitmqctl (pika, PLAIN)
AMQP_PW_GUEST_WRONG=Wrong-amqp-pw-5    # guest with a wrong password (pika)
AMQP_PW_AMQPLAIN=Amqplain-pw-42        # billing, AMQPLAIN (py-amqp)
AMQP_PW_NONSTD=Nonstd-amqp-pw-5673     # sensor02 on port 5673 (pika)
AMQP_PW_PROTON=Proton-pw-1010          # telemetry, AMQP 1.0 SASL PLAIN (Qpid Proton)
AMQP_PW_PROTON_WRONG=Wrong-proton-pw-3 # telemetry with a wrong password, AMQP 1.0
AMQP_PW_BRUTE_PREFIX=Amqp-brute-       # bruteforce guesses for guest: Amqp-brute-01 .. 12
AMQP_PW_SILENT_WRONG=Silent-amqp-pw-8  # guest, wrong, client without authentication_failure_close
AMQP_PW_GIVEUP_WRONG=Giveup-amqp-pw-9  # guest, wrong, the same client giving up after 1 s

AMQP_BASE_PKGS="rabbitmq-server python3 tcpdump iproute2"
AMQP_PIKA_PKGS="$AMQP_BASE_PKGS python3-pika"
AMQP_TOOLS_PKGS="$AMQP_BASE_PKGS amqp-tools"
AMQP_PYAMQP_PKGS="$AMQP_BASE_PKGS python3-amqp"
AMQP_PROTON_PKGS="$AMQP_BASE_PKGS python3-qpid-proton"

# amqp_rabbitmq [PORT [PLUGIN...]]: RabbitMQ listening on 127.0.0.1:PORT (default 5672) only,
# with the given plugins; node name, HOME (Erlang cookie) and all RABBITMQ_* dirs under the
# private work dir; epmd started by us in the foreground, so stopped by PID. Waits for the
# port, then for the node to finish booting (so rabbitmqctl works at once).
amqp_rabbitmq() {
    local port=${1:-5672}
    shift
    local plugins
    plugins=$(IFS=,; echo "$*")
    [[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]] ||
        { bw_pcap_skip "rabbitmq-server is not installed"; return; }
    local d=$PWD/rabbitmq
    mkdir -p "$d/home" "$d/log" "$d/mnesia" || return 1
    export HOME=$d/home RABBITMQ_NODENAME=rabbit@localhost RABBITMQ_MNESIA_BASE=$d/mnesia
    export RABBITMQ_LOG_BASE=$d/log RABBITMQ_ENABLED_PLUGINS_FILE=$d/enabled_plugins
    export RABBITMQ_CONFIG_FILE=$d/rabbitmq.conf
    echo "[$plugins]." >"$d/enabled_plugins"
    cat >"$d/rabbitmq.conf" <<EOF
listeners.tcp.default = 127.0.0.1:$port
EOF
    local epmd
    bw_start_bg epmd epmd.log epmd -address 127.0.0.1
    bw_wait_listen 4369 10 "$epmd" || { bw_pcap_skip "epmd did not start"; return; }
    bw_start_bg AMQP_BROKER_PID rabbitmq.log /usr/lib/rabbitmq/bin/rabbitmq-server
    if ! bw_wait_listen "$port" 90 "$AMQP_BROKER_PID"; then
        tail -n 20 rabbitmq.log >&2
        bw_pcap_skip "rabbitmq-server did not open port $port within 90 s"
        return
    fi
    if ! amqp_ctl await_startup --timeout 60; then
        bw_log "rabbitmq-server did not finish booting"
        return 1
    fi
}

# amqp_ctl ARGS...: rabbitmqctl against our node (its output goes to rabbitmqctl.log).
amqp_ctl() {
    printf '$ rabbitmqctl %s\n' "$*" >>rabbitmqctl.log
    timeout 60 /usr/lib/rabbitmq/bin/rabbitmqctl -n "$RABBITMQ_NODENAME" "$@" \
        >>rabbitmqctl.log 2>&1 || { cat rabbitmqctl.log >&2; return 1; }
}

# amqp_add_user USER PASSWORD: a user with full permissions on vhost /.
amqp_add_user() {
    amqp_ctl add_user "$1" "$2" && amqp_ctl set_permissions -p / "$1" '.*' '.*' '.*'
}

# amqp_run CMD...: run one client (at most 20 s), log what it said and its exit status.
# Unlike mq_run, a client that fails fails the capture: amqp_client.py exits 0 only when
# the outcome is the expected one (--expect refused for the refusals).
amqp_run() {
    printf '$ %s\n' "$*" >>clients.log
    timeout 20 "$@" >>clients.log 2>&1
    local rc=$?
    echo "exit $rc" >>clients.log
    ((rc == 0)) || { cat clients.log >&2; bw_log "client failed (exit $rc): $*"; return 1; }
}

amqp_py() { amqp_run "$BW_PY" "$BW_PCAPS_DIR/amqp_client.py" "$@"; }

# amqp_finish: stop the capture and show what the clients said.
amqp_finish() {
    bw_capture_stop
    sed 's/^/    /' clients.log
}

amqp_case_guest() {
    amqp_rabbitmq 5672 || return
    bw_capture_start "$BW_OUT" tcp port 5672 || return
    amqp_py pika --user guest --password guest --count 2 || return
    amqp_finish
}

amqp_case_user() {
    amqp_rabbitmq 5672 || return
    amqp_add_user orders "$AMQP_PW_ORDERS" || return
    bw_capture_start "$BW_OUT" tcp port 5672 || return
    amqp_py pika --user orders --password "$AMQP_PW_ORDERS" --count 2 || return
    amqp_finish
}

amqp_case_wrong_password() {
    amqp_rabbitmq 5672 || return
    bw_capture_start "$BW_OUT" tcp port 5672 || return
    amqp_py pika --user guest --password "$AMQP_PW_GUEST_WRONG" --expect refused || return
    amqp_finish
}

amqp_case_amqp_tools() {
    amqp_rabbitmq 5672 || return
    bw_capture_start "$BW_OUT" tcp port 5672 || return
    # No -u/--username, no --password: amqp-publish logs in as guest/guest.
    amqp_run amqp-publish --server=127.0.0.1 --port=5672 --routing-key=bw.tools \
        --body=reading-0 || return
    amqp_finish
}

amqp_case_amqplain() {
    amqp_rabbitmq 5672 || return
    amqp_add_user billing "$AMQP_PW_AMQPLAIN" || return
    bw_capture_start "$BW_OUT" tcp port 5672 || return
    amqp_py pyamqp --user billing --password "$AMQP_PW_AMQPLAIN" --login-method AMQPLAIN ||
        return
    amqp_finish
}

amqp_case_nonstd_port() {
    amqp_rabbitmq 5673 || return
    amqp_add_user sensor02 "$AMQP_PW_NONSTD" || return
    bw_capture_start "$BW_OUT" tcp port 5673 || return
    amqp_py pika --port 5673 --user sensor02 --password "$AMQP_PW_NONSTD" || return
    amqp_finish
}

amqp_case_midstream() {
    amqp_rabbitmq 5672 || return
    local cli
    bw_start_bg cli midstream.log "$BW_PY" "$BW_PCAPS_DIR/amqp_client.py" pika-midstream \
        --count 5 --ready "$PWD/ready" --go "$PWD/go"
    if ! bw_wait_grep ready connected 15; then
        cat midstream.log >&2
        bw_log "the long-lived client did not connect"
        return 1
    fi
    # The capture starts now: protocol header, Start..Open-Ok, Channel.Open, Queue.Declare
    # are already past.
    bw_capture_start "$BW_OUT" tcp port 5672 || return
    : >go
    local i
    for ((i = 0; i < 200; i++)); do
        bw_alive "$cli" || break
        sleep 0.1
    done
    bw_stop_pid "$cli"
    bw_capture_stop
    sed 's/^/    /' midstream.log
    grep -q '^published 5, read back 5' midstream.log ||
        { bw_log "the long-lived client did not finish"; return 1; }
}

amqp_case_bruteforce() {
    amqp_rabbitmq 5672 || return
    bw_capture_start "$BW_OUT" tcp port 5672 || return
    local i
    for i in 01 02 03 04 05 06 07 08 09 10 11 12; do
        amqp_py pika --user guest --password "$AMQP_PW_BRUTE_PREFIX$i" --expect refused ||
            return
    done
    amqp_finish
}

amqp_case_silent_close() {
    amqp_rabbitmq 5672 || return
    bw_capture_start "$BW_OUT" tcp port 5672 || return
    # pika without authentication_failure_close in its capabilities: RabbitMQ answers the
    # wrong password with nothing, then closes the connection about 3 s later.
    amqp_py pika --user guest --password "$AMQP_PW_SILENT_WRONG" --no-auth-failure-close \
        --expect refused || return
    # The same client giving up after 1 s: it closes first, before the broker said anything.
    amqp_py pika --user guest --password "$AMQP_PW_GIVEUP_WRONG" --no-auth-failure-close \
        --give-up 1 --expect gave-up || return
    sleep 3   # RabbitMQ closes its end of the abandoned connection after its delay: captured too
    amqp_finish
}

amqp10_case_plain_ok() {
    amqp_rabbitmq 5672 rabbitmq_amqp1_0 || return
    amqp_add_user telemetry "$AMQP_PW_PROTON" || return
    bw_capture_start "$BW_OUT" tcp port 5672 || return
    amqp_py proton --mech PLAIN --user telemetry --password "$AMQP_PW_PROTON" \
        --container-id bw-proton-ok || return
    amqp_finish
}

amqp10_case_plain_fail() {
    amqp_rabbitmq 5672 rabbitmq_amqp1_0 || return
    amqp_add_user telemetry "$AMQP_PW_PROTON" || return
    bw_capture_start "$BW_OUT" tcp port 5672 || return
    # RabbitMQ 3.10 answers a refused sasl-init after 3 s and keeps the socket open; the
    # client closes when the outcome arrives (or after its 8 s timeout).
    amqp_py proton --mech PLAIN --user telemetry --password "$AMQP_PW_PROTON_WRONG" \
        --container-id bw-proton-fail --expect refused --timeout 8 || return
    amqp_finish
}

amqp10_case_anonymous() {
    # rabbitmq_amqp1_0's default_user (guest unless set to none) makes it offer ANONYMOUS
    # and map it to that user.
    amqp_rabbitmq 5672 rabbitmq_amqp1_0 || return
    bw_capture_start "$BW_OUT" tcp port 5672 || return
    amqp_py proton --mech ANONYMOUS --container-id bw-proton-anon || return
    amqp_finish
}

amqp10_case_nosasl() {
    # No SASL layer (header AMQP 0.1.0.0): rabbitmq_amqp1_0 maps the connection to its
    # default_user (guest) and answers the open.
    amqp_rabbitmq 5672 rabbitmq_amqp1_0 || return
    bw_capture_start "$BW_OUT" tcp port 5672 || return
    amqp_py proton --mech none --container-id bw-proton-nosasl || return
    amqp_finish
}

bw_pcap_case amqp_guest amqp_case_guest "$AMQP_PIKA_PKGS" \
    "RabbitMQ 3.10, AMQP 0-9-1: pika as guest/guest (PLAIN), 2 messages"
bw_pcap_case amqp_user amqp_case_user "$AMQP_PIKA_PKGS" \
    "RabbitMQ 3.10, AMQP 0-9-1: pika as orders (rabbitmqctl add_user), PLAIN, 2 messages"
bw_pcap_case amqp_wrong_password amqp_case_wrong_password "$AMQP_PIKA_PKGS" \
    "RabbitMQ 3.10, AMQP 0-9-1: pika as guest with a wrong password, Connection.Close 403"
bw_pcap_case amqp_amqp_tools amqp_case_amqp_tools "$AMQP_TOOLS_PKGS" \
    "RabbitMQ 3.10, AMQP 0-9-1: amqp-publish (rabbitmq-c) with no options, so guest/guest"
bw_pcap_case amqp_amqplain amqp_case_amqplain "$AMQP_PYAMQP_PKGS" \
    "RabbitMQ 3.10, AMQP 0-9-1: py-amqp as billing with login_method AMQPLAIN"
bw_pcap_case amqp_nonstd_port amqp_case_nonstd_port "$AMQP_PIKA_PKGS" \
    "RabbitMQ 3.10 on port 5673 only: pika as sensor02 (PLAIN)"
bw_pcap_case amqp_midstream amqp_case_midstream "$AMQP_PIKA_PKGS" \
    "RabbitMQ 3.10: capture starts after a pika session's handshake; 5 publishes, basic.get"
bw_pcap_case amqp_bruteforce amqp_case_bruteforce "$AMQP_PIKA_PKGS" \
    "RabbitMQ 3.10: 12 pika connections as guest with wrong passwords, each Close 403"
bw_pcap_case amqp_silent_close amqp_case_silent_close "$AMQP_PIKA_PKGS" \
    "RabbitMQ 3.10: pika without authentication_failure_close, wrong password: broker closes; then one giving up first"
bw_pcap_case amqp10_plain_ok amqp10_case_plain_ok "$AMQP_PROTON_PKGS" \
    "RabbitMQ 3.10 amqp1_0 plugin: Qpid Proton, SASL PLAIN as telemetry accepted, 1 message"
bw_pcap_case amqp10_plain_fail amqp10_case_plain_fail "$AMQP_PROTON_PKGS" \
    "RabbitMQ 3.10 amqp1_0 plugin: Qpid Proton, SASL PLAIN with a wrong password (outcome auth)"
bw_pcap_case amqp10_anonymous amqp10_case_anonymous "$AMQP_PROTON_PKGS" \
    "RabbitMQ 3.10 amqp1_0 plugin: Qpid Proton, SASL ANONYMOUS (mapped to guest), 1 message"
bw_pcap_case amqp10_nosasl amqp10_case_nosasl "$AMQP_PROTON_PKGS" \
    "RabbitMQ 3.10 amqp1_0 plugin: Qpid Proton without SASL (header 0.1.0.0), open answered"
