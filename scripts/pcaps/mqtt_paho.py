#!/usr/bin/python3
"""mqtt_paho.py: small paho-mqtt (Debian's python3-paho-mqtt 1.6) clients for make-pcaps.

  publish    connect (TCP or WebSockets), publish one message, disconnect.
  midstream  connect, subscribe to TOPIC, create the --ready file, wait for the --go file,
             then publish --count messages at QoS 1 (each echoed back by the broker),
             stay --idle seconds (past a short --keepalive: PINGREQ/PINGRESP), disconnect.
             The capture starts between ready and go: a session whose CONNECT it never saw.

usage: mqtt_paho.py publish [--transport tcp|websockets] [--ws-path /mqtt] [opts]
       mqtt_paho.py midstream --ready FILE --go FILE [--count N] [opts]
Exit status: 0 ok, 1 refused by the broker (or closed without a CONNACK), 2 error.
"""
import argparse
import os
import sys
import threading
import time

import paho.mqtt.client as mqtt


def make_client(a):
    proto = {"3.1": mqtt.MQTTv31, "3.1.1": mqtt.MQTTv311, "5": mqtt.MQTTv5}[a.mqtt_version]
    kw = {"client_id": a.client_id, "protocol": proto, "transport": a.transport}
    if proto != mqtt.MQTTv5:
        kw["clean_session"] = True
    c = mqtt.Client(**kw)
    if a.transport == "websockets":
        c.ws_set_options(path=a.ws_path)
    if a.username is not None:
        c.username_pw_set(a.username, a.password)
    return c


def connect(c, a):
    done = threading.Event()
    result = {}

    def on_connect(client, userdata, flags, rc, properties=None):
        result["rc"] = rc if isinstance(rc, int) else rc.value
        done.set()

    def on_disconnect(client, userdata, rc, properties=None):
        # The broker hung up before any CONNACK (a protocol level it does not speak): stop
        # here, before paho's loop reconnects.
        if "rc" not in result:
            result["rc"] = None
            done.set()

    c.on_connect = on_connect
    c.on_disconnect = on_disconnect
    c.connect(a.host, a.port, keepalive=a.keepalive)
    c.loop_start()
    if not done.wait(10):
        raise TimeoutError("no CONNACK within 10 s")
    return result["rc"]


def cmd_publish(a):
    c = make_client(a)
    rc = connect(c, a)
    print("closed by the broker without a CONNACK" if rc is None else f"CONNACK code {rc}")
    if rc != 0:
        c.loop_stop()
        return 1
    c.publish(a.topic, a.message, qos=a.qos).wait_for_publish(10)
    c.disconnect()
    c.loop_stop()
    return 0


def cmd_midstream(a):
    c = make_client(a)
    got = []
    c.on_message = lambda client, userdata, msg: got.append(msg.payload)
    rc = connect(c, a)
    if rc != 0:
        print(f"refused: CONNACK code {rc}", file=sys.stderr)
        return 1
    c.subscribe(a.topic, qos=1)
    time.sleep(0.3)
    with open(a.ready, "w", encoding="ascii") as f:
        f.write("connected\n")
    deadline = time.time() + 30
    while not os.path.exists(a.go):
        if time.time() > deadline:
            print("no go file within 30 s", file=sys.stderr)
            return 2
        time.sleep(0.05)
    for i in range(a.count):
        c.publish(a.topic, f"{a.message} {i + 1}", qos=1).wait_for_publish(10)
        time.sleep(0.1)
    # Stay idle past the keep-alive so paho sends PINGREQ and the broker PINGRESP, as a
    # long-lived session does between messages.
    time.sleep(a.idle)
    t = time.time() + 5
    while len(got) < a.count and time.time() < t:
        time.sleep(0.05)
    c.disconnect()
    c.loop_stop()
    print(f"published {a.count}, received {len(got)}")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=("publish", "midstream"))
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1883)
    ap.add_argument("--transport", choices=("tcp", "websockets"), default="tcp")
    ap.add_argument("--ws-path", default="/mqtt")
    ap.add_argument("--mqtt-version", choices=("3.1", "3.1.1", "5"), default="3.1.1")
    ap.add_argument("--client-id", default="bw-paho")
    ap.add_argument("--username")
    ap.add_argument("--password")
    ap.add_argument("--keepalive", type=int, default=60)
    ap.add_argument("--topic", default="bw/test")
    ap.add_argument("--message", default="hello")
    ap.add_argument("--qos", type=int, default=0)
    ap.add_argument("--count", type=int, default=5)
    ap.add_argument("--idle", type=float, default=0, help="seconds idle before DISCONNECT")
    ap.add_argument("--ready")
    ap.add_argument("--go")
    a = ap.parse_args()
    try:
        if a.command == "publish":
            return cmd_publish(a)
        if not a.ready or not a.go:
            ap.error("midstream needs --ready and --go")
        return cmd_midstream(a)
    except (OSError, TimeoutError) as e:
        print(f"mqtt_paho: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
