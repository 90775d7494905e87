#!/usr/bin/python3
"""mqtt_bytewise.py: an MQTT client that sends its CONNECT one byte per TCP segment.

Used by scripts/pcaps/mqtt.sh for pcaps/mqtt_bytewise.pcap: TCP_NODELAY and a short
sleep after every one-byte send() put each byte of the CONNECT in its own segment, the
worst case for a sensor's reassembly and incremental parser. It then reads the CONNACK,
prints its return code, sends DISCONNECT and closes. Standard library only.

usage: mqtt_bytewise.py [--host H] [--port N] [--mqtt-version 4|5] [--client-id ID]
                        [--username U] [--password P] [--delay SECONDS]
Exit status: 0 accepted, 1 refused, 2 error.
"""
import argparse
import socket
import struct
import sys
import time


def varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def utf8(s):
    b = s.encode("utf-8")
    return struct.pack(">H", len(b)) + b


def connect_packet(level, client_id, username, password, keepalive):
    flags = 0x02  # clean session / clean start
    if username is not None:
        flags |= 0x80
    if password is not None:
        flags |= 0x40
    var = utf8("MQTT") + bytes([level, flags]) + struct.pack(">H", keepalive)
    if level == 5:
        var += varint(0)  # no CONNECT properties
    payload = utf8(client_id)
    if username is not None:
        payload += utf8(username)
    if password is not None:
        pw = password.encode("utf-8")
        payload += struct.pack(">H", len(pw)) + pw
    body = var + payload
    return bytes([0x10]) + varint(len(body)) + body


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        buf += chunk
    return buf


def read_packet(sock):
    first = read_exact(sock, 1)[0]
    mult, rlen = 1, 0
    for _ in range(4):
        b = read_exact(sock, 1)[0]
        rlen += (b & 0x7F) * mult
        mult *= 128
        if not b & 0x80:
            break
    return first >> 4, read_exact(sock, rlen)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1883)
    ap.add_argument("--mqtt-version", type=int, choices=(4, 5), default=4)
    ap.add_argument("--client-id", default="bw-bytewise")
    ap.add_argument("--username")
    ap.add_argument("--password")
    ap.add_argument("--keepalive", type=int, default=30)
    ap.add_argument("--delay", type=float, default=0.02)
    a = ap.parse_args()

    pkt = connect_packet(a.mqtt_version, a.client_id, a.username, a.password, a.keepalive)
    fam = socket.AF_INET6 if ":" in a.host else socket.AF_INET
    try:
        with socket.socket(fam, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.settimeout(10)
            s.connect((a.host, a.port))
            for i in range(len(pkt)):
                s.sendall(pkt[i:i + 1])
                time.sleep(a.delay)
            ptype, body = read_packet(s)
            if ptype != 2 or len(body) < 2:
                print(f"expected CONNACK, got packet type {ptype}", file=sys.stderr)
                return 2
            code = body[1]
            print(f"CONNECT sent in {len(pkt)} one-byte segments; CONNACK code {code}")
            s.sendall(b"\xe0\x00")  # DISCONNECT
            return 0 if code == 0 else 1
    except OSError as e:
        print(f"mqtt_bytewise: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
