# scripts/pcaps/mqtt.sh: MQTT captures for scripts/make-pcaps (sourced; defines and
# registers cases, runs nothing by itself). Brokers: Debian's mosquitto 2.0 and
# rabbitmq-server's MQTT plugin; clients: mosquitto_pub/sub, paho (mqtt_paho.py) and
# mqtt_bytewise.py, mqtt_v5_auth.py. Every case runs in its own network namespace (see make-pcaps).
# Every password used here is listed in scripts/pcaps/passwords.txt (tests grep the
# sensor's output for them), except admin and guest, which are also user names.
# What each capture shows and the verdicts it should produce: pcaps/README.md.

MQ_PW_ALICE=S3cret-alice-pw          # alice's real password (mosquitto password_file)
MQ_PW_ALICE_WRONG=Wrong-alice-pw-1   # a wrong one
MQ_PW_BRUTE_PREFIX=Brute-guess-      # bruteforce guesses: Brute-guess-01 .. Brute-guess-12
MQ_PW_NONSTD=Nonstd-port-pw-11883    # sensor01 on port 11883
MQ_PW_V6=Ipv6-secret-pw              # v6user over ::1
MQ_PW_WS=Ws-secret-pw-9001           # wsuser over websockets
MQ_PW_BYTEWISE=Bytewise-pw-1b1       # bytewise, CONNECT one byte per segment
MQ_PW_GUEST_WRONG=Wrong-guest-pw-4   # guest with a wrong password on RabbitMQ
MQ_PW_TOKEN=Token-only-pw-5v5        # MQTT 5 password without a user name (a token login)
MQ_PW_BIGWILL=Big-will-pw-25k        # bigwill, behind a 25 kB will payload
MQ_PW_AZURE="SharedAccessSignature sr=contoso-hub.azure-devices.net%2Fdevices%2Fthermostat-0042&sig=Azure-sas-sig-0042&se=1767225600"
MQ_PW_LONGUSER=Long-user-pw-300      # the 256- and 300-byte user names
MQ_PW_BROWSER=Browser-ws-pw-9001     # wsbrowser, sent by a page in chromium
# Identities longer than 64 bytes: an Azure IoT Hub device (user name
# <hub>/<device>/?api-version=..., client id = device id); 256- and 300-byte ones.
MQ_AZURE_USER="contoso-hub.azure-devices.net/thermostat-0042/?api-version=2021-04-12"
MQ_AZURE_DEVICE=thermostat-0042
# mq_repeat TEXT N: TEXT repeated to exactly N characters.
mq_repeat() { "$BW_PY" -c 'import sys; s, n = sys.argv[1], int(sys.argv[2]); print((s * n)[:n])' "$@"; }

MQ_PKGS="mosquitto mosquitto-clients python3 tcpdump iproute2"
MQ_PAHO_PKGS="$MQ_PKGS python3-paho-mqtt"
MQ_RABBIT_PKGS="rabbitmq-server mosquitto-clients python3 tcpdump iproute2"

# mq_mosquitto PORT...: write ./mosquitto.conf (common settings + stdin: listeners and
# auth), start mosquitto in the foreground of a background job, wait for every PORT.
mq_mosquitto() {
    {
        echo "user root"
        echo "persistence false"
        echo "per_listener_settings false"
        echo "log_dest stderr"
        echo "log_type all"
        echo "connection_messages true"
        cat
    } >mosquitto.conf
    bw_start_bg MQ_BROKER_PID mosquitto.log mosquitto -c "$PWD/mosquitto.conf"
    local p
    for p in "$@"; do
        if ! bw_wait_listen "$p" 20 "$MQ_BROKER_PID"; then
            cat mosquitto.log >&2
            bw_log "mosquitto is not listening on port $p"
            return 1
        fi
    done
}

# mq_passwd USER PASSWORD [USER PASSWORD...]: ./passwd for mosquitto's password_file.
mq_passwd() {
    rm -f passwd
    while (($# >= 2)); do
        if [[ -f passwd ]]; then
            mosquitto_passwd -b passwd "$1" "$2" || return 1
        else
            mosquitto_passwd -c -b passwd "$1" "$2" || return 1
        fi
        shift 2
    done
    chmod 600 passwd
}

# mq_run CMD...: run one client (at most 20 s), log what it said and its exit status.
# A refused connection is what some captures are for, so its status is not an error.
mq_run() {
    printf '$ %s\n' "$*" >>clients.log
    timeout 20 "$@" >>clients.log 2>&1
    local rc=$?
    echo "exit $rc" >>clients.log
    ((rc != 124)) || { bw_log "client timed out: $*"; return 1; }
    return 0
}

mq_pub() { mq_run mosquitto_pub -h 127.0.0.1 -p 1883 "$@"; }

# mq_finish: stop the capture and show what the clients said.
mq_finish() {
    bw_capture_stop
    sed 's/^/    /' clients.log
}

mq_case_anon_v311() {
    mq_mosquitto 1883 <<'EOF' || return
listener 1883 127.0.0.1
allow_anonymous true
EOF
    bw_capture_start "$BW_OUT" tcp port 1883 || return
    mq_pub -V mqttv311 -i bw-anon-v311 -t plant/line1/temp -m 21.5 || return
    mq_finish
}

mq_case_anon_v31() {
    mq_mosquitto 1883 <<'EOF' || return
listener 1883 127.0.0.1
allow_anonymous true
EOF
    bw_capture_start "$BW_OUT" tcp port 1883 || return
    mq_pub -V mqttv31 -i bw-anon-v31 -t plant/line1/temp -m 21.6 || return
    mq_finish
}

mq_case_anon_v5() {
    mq_mosquitto 1883 <<'EOF' || return
listener 1883 127.0.0.1
allow_anonymous true
EOF
    bw_capture_start "$BW_OUT" tcp port 1883 || return
    mq_pub -V mqttv5 -i bw-anon-v5 -t plant/line1/temp -m 21.7 || return
    mq_finish
}

mq_case_creds() {
    mq_passwd alice "$MQ_PW_ALICE" || return
    mq_mosquitto 1883 <<'EOF' || return
listener 1883 127.0.0.1
allow_anonymous false
password_file passwd
EOF
    bw_capture_start "$BW_OUT" tcp port 1883 || return
    mq_pub -V mqttv311 -i bw-creds -u alice -P "$MQ_PW_ALICE" -t plant/line1/temp -m 21.8 ||
        return
    mq_finish
}

mq_case_default_creds() {
    mq_passwd admin admin pi raspberry || return
    mq_mosquitto 1883 <<'EOF' || return
listener 1883 127.0.0.1
allow_anonymous false
password_file passwd
EOF
    bw_capture_start "$BW_OUT" tcp port 1883 || return
    mq_pub -V mqttv311 -i bw-default-admin -u admin -P admin -t plant/line1/temp -m 21.9 ||
        return
    mq_pub -V mqttv5 -i bw-default-pi -u pi -P raspberry -t plant/line1/temp -m 22.0 || return
    mq_finish
}

mq_case_auth_failure() {
    mq_passwd alice "$MQ_PW_ALICE" || return
    mq_mosquitto 1883 <<'EOF' || return
listener 1883 127.0.0.1
allow_anonymous false
password_file passwd
EOF
    bw_capture_start "$BW_OUT" tcp port 1883 || return
    mq_pub -V mqttv311 -i bw-fail-v311 -u alice -P "$MQ_PW_ALICE_WRONG" -t plant/x -m 1 || return
    mq_pub -V mqttv5 -i bw-fail-v5 -u alice -P "$MQ_PW_ALICE_WRONG" -t plant/x -m 1 || return
    mq_finish
}

mq_case_anon_refused() {
    mq_passwd alice "$MQ_PW_ALICE" || return
    mq_mosquitto 1883 <<'EOF' || return
listener 1883 127.0.0.1
allow_anonymous false
password_file passwd
EOF
    bw_capture_start "$BW_OUT" tcp port 1883 || return
    mq_pub -V mqttv311 -i bw-anon-refused -t plant/x -m 1 || return
    mq_finish
}

mq_case_bruteforce() {
    mq_passwd alice "$MQ_PW_ALICE" || return
    mq_mosquitto 1883 <<'EOF' || return
listener 1883 127.0.0.1
allow_anonymous false
password_file passwd
EOF
    bw_capture_start "$BW_OUT" tcp port 1883 || return
    local i
    for i in 01 02 03 04 05 06 07 08 09 10 11 12; do
        mq_pub -V mqttv311 -i bw-brute -u alice -P "$MQ_PW_BRUTE_PREFIX$i" -t plant/x -m 1 ||
            return
        sleep 0.1
    done
    mq_finish
}

mq_case_wildcard() {
    mq_mosquitto 1883 <<'EOF' || return
listener 1883 127.0.0.1
allow_anonymous true
EOF
    # A retained message, published before the capture, that `#` then receives at once.
    mq_pub -V mqttv311 -i bw-retain -r -t plant/line1/status -m running || return
    bw_capture_start "$BW_OUT" tcp port 1883 || return
    mq_run mosquitto_sub -h 127.0.0.1 -p 1883 -V mqttv5 -i bw-wild-all -t '#' -C 1 -W 5 ||
        return
    # shellcheck disable=SC2016  # '$SYS/#' is the literal topic filter
    mq_run mosquitto_sub -h 127.0.0.1 -p 1883 -V mqttv311 -i bw-wild-sys -t '$SYS/#' \
        -C 1 -W 5 || return
    mq_finish
}

mq_case_nonstd_port() {
    mq_passwd sensor01 "$MQ_PW_NONSTD" || return
    mq_mosquitto 11883 <<'EOF' || return
listener 11883 127.0.0.1
allow_anonymous false
password_file passwd
EOF
    bw_capture_start "$BW_OUT" tcp port 11883 || return
    mq_run mosquitto_pub -h 127.0.0.1 -p 11883 -V mqttv311 -i bw-nonstd -u sensor01 \
        -P "$MQ_PW_NONSTD" -t plant/line3/flow -m 4.2 || return
    mq_finish
}

mq_case_ipv6() {
    mq_passwd v6user "$MQ_PW_V6" || return
    mq_mosquitto 1883 <<'EOF' || return
listener 1883 ::1
allow_anonymous false
password_file passwd
EOF
    bw_capture_start "$BW_OUT" tcp port 1883 || return
    mq_run mosquitto_pub -h ::1 -p 1883 -V mqttv311 -i bw-ipv6 -u v6user -P "$MQ_PW_V6" \
        -t plant/line4/temp -m 19.5 || return
    mq_finish
}

mq_case_websocket() {
    mq_passwd wsuser "$MQ_PW_WS" || return
    # Debian's mosquitto needs a plain listener beside the websockets one.
    mq_mosquitto 1883 9001 <<'EOF' || return
listener 1883 127.0.0.1
listener 9001 127.0.0.1
protocol websockets
allow_anonymous true
password_file passwd
EOF
    bw_capture_start "$BW_OUT" tcp port 9001 || return
    mq_run "$BW_PY" "$BW_PCAPS_DIR/mqtt_paho.py" publish --transport websockets --port 9001 \
        --mqtt-version 3.1.1 --client-id bw-ws-creds --username wsuser --password "$MQ_PW_WS" \
        --topic plant/line5/temp --message 20.1 || return
    mq_run "$BW_PY" "$BW_PCAPS_DIR/mqtt_paho.py" publish --transport websockets --port 9001 \
        --mqtt-version 5 --client-id bw-ws-anon --topic plant/line5/temp --message 20.2 ||
        return
    mq_finish
}

mq_case_bytewise() {
    mq_passwd bytewise "$MQ_PW_BYTEWISE" || return
    mq_mosquitto 1883 <<'EOF' || return
listener 1883 127.0.0.1
allow_anonymous false
password_file passwd
EOF
    bw_capture_start "$BW_OUT" tcp port 1883 || return
    mq_run "$BW_PY" "$BW_PCAPS_DIR/mqtt_bytewise.py" --port 1883 --client-id bw-bytewise \
        --username bytewise --password "$MQ_PW_BYTEWISE" --delay 0.02 || return
    mq_finish
}

mq_case_midstream() {
    mq_mosquitto 1883 <<'EOF' || return
listener 1883 127.0.0.1
allow_anonymous true
EOF
    local cli
    bw_start_bg cli midstream.log "$BW_PY" "$BW_PCAPS_DIR/mqtt_paho.py" midstream \
        --client-id bw-midstream --topic plant/line6/telemetry --message flow \
        --keepalive 2 --idle 3 --count 5 --ready "$PWD/ready" --go "$PWD/go"
    if ! bw_wait_grep ready connected 15; then
        cat midstream.log >&2
        bw_log "the long-lived client did not connect"
        return 1
    fi
    # The capture starts now: CONNECT, CONNACK and SUBSCRIBE are already past.
    bw_capture_start "$BW_OUT" tcp port 1883 || return
    : >go
    local i
    for ((i = 0; i < 300; i++)); do
        bw_alive "$cli" || break
        sleep 0.1
    done
    bw_stop_pid "$cli"
    bw_capture_stop
    sed 's/^/    /' midstream.log
}

# CONNECTs larger than the sensor buffers whole (8 kB): a 25 kB will payload, properties
# then a will; and a 2 kB user property in a CONNECT that is read whole.
mq_case_large_connect() {
    mq_passwd bigwill "$MQ_PW_BIGWILL" || return
    mq_mosquitto 1883 <<'EOF' || return
listener 1883 127.0.0.1
allow_anonymous false
password_file passwd
EOF
    local will prop
    will=$(mq_repeat "last-will-state;" 25000)
    prop=$(mq_repeat "build=2026.11;region=eu-west;" 2048)
    bw_capture_start "$BW_OUT" tcp port 1883 || return
    # 3.1.1: a 25 kB will payload, then the user name and password
    mq_pub -V mqttv311 -i bw-big-will -u bigwill -P "$MQ_PW_BIGWILL" --will-topic plant/line8/lastwill \
        --will-payload "$will" -t plant/line8/temp -m 17.1 || return
    # 5.0: a 2 kB user property
    mq_pub -V mqttv5 -i bw-big-prop -u bigwill -P "$MQ_PW_BIGWILL" -D connect user-property build "$prop" \
        -t plant/line8/temp -m 17.2 || return
    # 5.0: both, the properties and then the will streamed through
    mq_pub -V mqttv5 -i bw-big-both -u bigwill -P "$MQ_PW_BIGWILL" -D connect user-property build "$prop" \
        --will-topic plant/line8/lastwill --will-payload "$will" -t plant/line8/temp -m 17.3 || return
    mq_finish
}

mq_case_long_identity() {
    local u256 u300 c300
    u256=$(mq_repeat "site-a.example/gateway-7/" 256)
    u300=$(mq_repeat "long-user-name-" 300)
    c300=$(mq_repeat "long-client-id-" 300)
    mq_passwd "$MQ_AZURE_USER" "$MQ_PW_AZURE" "$u300" "$MQ_PW_LONGUSER" "$u256" "$MQ_PW_LONGUSER" || return
    mq_mosquitto 1883 <<'EOF' || return
listener 1883 127.0.0.1
allow_anonymous false
password_file passwd
EOF
    bw_capture_start "$BW_OUT" tcp port 1883 || return
    # Azure IoT Hub style: the device id as client id, <hub>/<device>/?api-version=... as user
    # name, a SAS token as password
    mq_pub -V mqttv311 -i "$MQ_AZURE_DEVICE" -u "$MQ_AZURE_USER" -P "$MQ_PW_AZURE" \
        -t "devices/$MQ_AZURE_DEVICE/messages/events/" -m '{"t":21.4}' || return
    # exactly 256 bytes of user name and of client id: kept whole
    mq_pub -V mqttv311 -i "${c300:0:256}" -u "$u256" -P "$MQ_PW_LONGUSER" -t plant/line9/temp -m 16.1 ||
        return
    # 300 bytes of each: the first 256 kept, said to be cut
    mq_pub -V mqttv5 -i "$c300" -u "$u300" -P "$MQ_PW_LONGUSER" -t plant/line9/temp -m 16.2 || return
    mq_finish
}

# A real browser: chromium (headless) loads a page from a loopback web server that sets two
# large cookies; the page opens a WebSocket (subprotocol mqtt) to mosquitto's websockets
# listener, so the upgrade carries chromium's own head (user agent, client hints, the cookies:
# about 3 kB, more than one segment), and sends a CONNECT it builds (mqtt_ws_page.py).
mq_case_ws_browser() {
    mq_passwd wsbrowser "$MQ_PW_BROWSER" || return
    mq_mosquitto 1883 9001 <<'EOF' || return
listener 1883 127.0.0.1
listener 9001 127.0.0.1
protocol websockets
allow_anonymous false
password_file passwd
EOF
    local web chrome i
    MQ_BROWSER_PW=$MQ_PW_BROWSER bw_start_bg web web.log "$BW_PY" "$BW_PCAPS_DIR/mqtt_ws_page.py" \
        --port 8080 --ws-port 9001 --done "$PWD/done" || return
    if ! bw_wait_listen 8080 10 "$web"; then
        cat web.log >&2
        bw_log "the page server did not start"
        return 1
    fi
    bw_capture_start "$BW_OUT" tcp port 9001 || return
    mkdir -p chrome-profile
    bw_start_bg chrome chromium.log chromium --headless --no-sandbox --disable-gpu --disable-quic \
        --no-first-run --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$PWD/chrome-profile" "http://127.0.0.1:8080/"
    for ((i = 0; i < 300; i++)); do
        [[ -e done ]] && break
        bw_alive "$chrome" || break
        sleep 0.1
    done
    sleep 0.5
    bw_stop_pid "$chrome"
    bw_stop_pid "$web"
    bw_capture_stop
    sed 's/^/    /' web.log
    if [[ ! -e done ]]; then
        tail -n 20 chromium.log >&2
        bw_log "the page did not finish its MQTT session"
        return 1
    fi
    sed 's/^/    page: /' done
}

# RabbitMQ with its MQTT plugin: node name, HOME (Erlang cookie) and all RABBITMQ_* dirs
# under the private work dir; epmd started by us in the foreground, so stopped by PID.
mq_rabbitmq() {
    local d=$PWD/rabbitmq
    mkdir -p "$d/home" "$d/log" "$d/mnesia" || return 1
    export HOME=$d/home RABBITMQ_NODENAME=rabbit@localhost RABBITMQ_MNESIA_BASE=$d/mnesia
    export RABBITMQ_LOG_BASE=$d/log RABBITMQ_ENABLED_PLUGINS_FILE=$d/enabled_plugins
    export RABBITMQ_CONFIG_FILE=$d/rabbitmq.conf
    echo '[rabbitmq_mqtt].' >"$d/enabled_plugins"
    cat >"$d/rabbitmq.conf" <<'EOF'
listeners.tcp.default = 127.0.0.1:5672
mqtt.listeners.tcp.default = 127.0.0.1:1883
mqtt.allow_anonymous = false
EOF
    local epmd rmq
    bw_start_bg epmd epmd.log epmd -address 127.0.0.1
    bw_wait_listen 4369 10 "$epmd" || { bw_pcap_skip "epmd did not start"; return; }
    bw_start_bg rmq rabbitmq.log /usr/lib/rabbitmq/bin/rabbitmq-server
    if ! bw_wait_listen 1883 90 "$rmq"; then
        tail -n 20 rabbitmq.log >&2
        bw_pcap_skip "rabbitmq-server did not open its MQTT port within 90 s"
        return
    fi
}

mq_case_rabbitmq_creds() {
    mq_rabbitmq || return
    bw_capture_start "$BW_OUT" tcp port 1883 || return
    mq_pub -V mqttv311 -i bw-rabbit-guest -u guest -P guest -t plant/line7/temp -m 18.5 ||
        return
    mq_finish
}

mq_case_rabbitmq_auth_failure() {
    mq_rabbitmq || return
    bw_capture_start "$BW_OUT" tcp port 1883 || return
    mq_pub -V mqttv311 -i bw-rabbit-fail -u guest -P "$MQ_PW_GUEST_WRONG" -t plant/x -m 1 ||
        return
    mq_finish
}

mq_case_wildcard_multi() {
    mq_mosquitto 1883 <<'EOF' || return
listener 1883 127.0.0.1
allow_anonymous true
EOF
    # A retained message on plant/line1/temp, which plant/+/temp then receives at once (-C 1).
    mq_pub -V mqttv311 -i bw-retain -r -t plant/line1/temp -m 21.0 || return
    bw_capture_start "$BW_OUT" tcp port 1883 || return
    # One SUBSCRIBE each, several filters in it; the one to everything is never the first.
    # The 5.0 ones carry SUBSCRIBE properties before their filters.
    # shellcheck disable=SC2016  # $share / $queue are literal topic filters
    mq_run mosquitto_sub -h 127.0.0.1 -p 1883 -V mqttv5 -i bw-share-v5 -t plant/+/temp \
        -t '$share/ops/#' -D SUBSCRIBE subscription-identifier 7 \
        -D SUBSCRIBE user-property site plant1 -C 1 -W 5 || return
    # shellcheck disable=SC2016
    mq_run mosquitto_sub -h 127.0.0.1 -p 1883 -V mqttv311 -i bw-share-v311 -t plant/+/temp \
        -t plant/line1/status -t '$share/ops/+/#' -C 1 -W 5 || return
    # shellcheck disable=SC2016
    mq_run mosquitto_sub -h 127.0.0.1 -p 1883 -V mqttv5 -i bw-queue-v5 -t plant/+/temp \
        -t '$queue/#' -D SUBSCRIBE user-property site plant1 -C 1 -W 5 || return
    mq_run mosquitto_sub -h 127.0.0.1 -p 1883 -V mqttv5 -i bw-scoped-v5 -t plant/+/temp \
        -t 'plant/line2/#' -C 1 -W 5 || return
    mq_finish
}

mq_case_v5_password_only() {
    mq_mosquitto 1883 <<'EOF' || return
listener 1883 127.0.0.1
allow_anonymous true
EOF
    bw_capture_start "$BW_OUT" tcp port 1883 || return
    mq_run "$BW_PY" "$BW_PCAPS_DIR/mqtt_v5_auth.py" --port 1883 --client-id bw-token-only \
        --password "$MQ_PW_TOKEN" || return
    mq_finish
}

mq_case_v5_reauth() {
    mq_mosquitto 1883 <<'EOF' || return
listener 1883 127.0.0.1
allow_anonymous true
EOF
    bw_capture_start "$BW_OUT" tcp port 1883 || return
    # Enhanced authentication in the CONNECT (no plugin of this mosquitto handles SCRAM).
    mq_run "$BW_PY" "$BW_PCAPS_DIR/mqtt_v5_auth.py" --port 1883 --client-id bw-scram \
        --auth-method SCRAM-SHA-1 --auth-data 'n,,n=alice,r=fyko+d2lbbFgONRv9qkxdawL' || return
    # Accepted without a method, then an AUTH re-authentication naming one.
    mq_run "$BW_PY" "$BW_PCAPS_DIR/mqtt_v5_auth.py" --port 1883 --client-id bw-reauth \
        --reauth-method SCRAM-SHA-1 --reauth-data 'n,,n=alice,r=3rfcNHYJY1ZVvWVs7j' || return
    mq_finish
}

mq_case_rabbitmq_v5() {
    mq_rabbitmq || return
    bw_capture_start "$BW_OUT" tcp port 1883 || return
    mq_run "$BW_PY" "$BW_PCAPS_DIR/mqtt_paho.py" publish --port 1883 --mqtt-version 5 \
        --client-id bw-rabbit-v5-anon --topic plant/line7/temp --message 18.6 || return
    mq_run "$BW_PY" "$BW_PCAPS_DIR/mqtt_paho.py" publish --port 1883 --mqtt-version 5 \
        --client-id bw-rabbit-v5-guest --username guest --password guest \
        --topic plant/line7/temp --message 18.7 || return
    mq_finish
}

bw_pcap_case mqtt_anon_v311 mq_case_anon_v311 "$MQ_PKGS" \
    "mosquitto, anonymous allowed: mosquitto_pub MQTT 3.1.1"
bw_pcap_case mqtt_anon_v31 mq_case_anon_v31 "$MQ_PKGS" \
    "mosquitto, anonymous allowed: mosquitto_pub MQTT 3.1 (MQIsdp)"
bw_pcap_case mqtt_anon_v5 mq_case_anon_v5 "$MQ_PKGS" \
    "mosquitto, anonymous allowed: mosquitto_pub MQTT 5.0"
bw_pcap_case mqtt_creds mq_case_creds "$MQ_PKGS" \
    "mosquitto password_file: alice publishes with her password (3.1.1)"
bw_pcap_case mqtt_default_creds mq_case_default_creds "$MQ_PKGS" \
    "mosquitto password_file: admin/admin (3.1.1) and pi/raspberry (5.0) accepted"
bw_pcap_case mqtt_auth_failure mq_case_auth_failure "$MQ_PKGS" \
    "mosquitto: alice with a wrong password, 3.1.1 (CONNACK 5) and 5.0 (0x87)"
bw_pcap_case mqtt_anon_refused mq_case_anon_refused "$MQ_PKGS" \
    "mosquitto, allow_anonymous false: no credentials, CONNACK 5"
bw_pcap_case mqtt_bruteforce mq_case_bruteforce "$MQ_PKGS" \
    "mosquitto: 12 wrong passwords for alice from one client in about 2 s"
bw_pcap_case mqtt_wildcard mq_case_wildcard "$MQ_PKGS" \
    "mosquitto, anonymous: mosquitto_sub to '#' (5.0) and '\$SYS/#' (3.1.1)"
bw_pcap_case mqtt_nonstd_port mq_case_nonstd_port "$MQ_PKGS" \
    "mosquitto on port 11883: sensor01 publishes with a password"
bw_pcap_case mqtt_ipv6 mq_case_ipv6 "$MQ_PKGS" \
    "mosquitto on [::1]:1883: v6user publishes with a password over IPv6"
bw_pcap_case mqtt_websocket mq_case_websocket "$MQ_PAHO_PKGS" \
    "mosquitto websockets listener 9001: paho with a password (3.1.1) and anonymous (5.0)"
bw_pcap_case mqtt_bytewise mq_case_bytewise "$MQ_PKGS" \
    "mosquitto: CONNECT with a password sent one byte per TCP segment (mqtt_bytewise.py)"
bw_pcap_case mqtt_midstream mq_case_midstream "$MQ_PAHO_PKGS" \
    "mosquitto: capture starts after CONNECT/SUBSCRIBE of a paho session; PUBLISH, PING"
bw_pcap_case mqtt_large_connect mq_case_large_connect "$MQ_PKGS" \
    "mosquitto: CONNECTs with a 25 kB will (3.1.1), a 2 kB user property (5.0), and both (5.0)"
bw_pcap_case mqtt_long_identity mq_case_long_identity "$MQ_PKGS" \
    "mosquitto: an Azure IoT Hub style user name and client id; 256- and 300-byte ones"
bw_pcap_case mqtt_ws_browser mq_case_ws_browser "$MQ_PKGS chromium" \
    "mosquitto websockets: headless chromium's upgrade with 3 kB of cookies, then a CONNECT"
bw_pcap_case mqtt_rabbitmq_creds mq_case_rabbitmq_creds "$MQ_RABBIT_PKGS" \
    "RabbitMQ MQTT plugin: guest/guest accepted (3.1.1)"
bw_pcap_case mqtt_rabbitmq_auth_failure mq_case_rabbitmq_auth_failure "$MQ_RABBIT_PKGS" \
    "RabbitMQ MQTT plugin: guest with a wrong password, CONNACK 4"
bw_pcap_case mqtt_wildcard_multi mq_case_wildcard_multi "$MQ_PKGS" \
    "mosquitto, anonymous: SUBSCRIBEs of several filters, \$share/\$queue ones not first"
bw_pcap_case mqtt_v5_password_only mq_case_v5_password_only "$MQ_PKGS" \
    "mosquitto, anonymous allowed: MQTT 5 CONNECT with a password, no user (mqtt_v5_auth.py)"
bw_pcap_case mqtt_v5_reauth mq_case_v5_reauth "$MQ_PKGS" \
    "mosquitto: MQTT 5 authentication method in CONNECT, and AUTH re-authentication"
bw_pcap_case mqtt_rabbitmq_v5 mq_case_rabbitmq_v5 "$MQ_PAHO_PKGS rabbitmq-server" \
    "RabbitMQ MQTT plugin (3.1.1 only): paho MQTT 5 CONNECTs, anonymous and guest"
