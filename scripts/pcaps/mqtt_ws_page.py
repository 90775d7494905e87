#!/usr/bin/python3
"""mqtt_ws_page.py: the web page a real browser loads for pcaps/mqtt_ws_browser.pcap.

Used by scripts/pcaps/mqtt.sh: serves on 127.0.0.1:PORT one page whose response sets two large
cookies (about 2.6 kB together, so the browser's WebSocket upgrade to the broker carries them
and spans more than one TCP segment). The page's script opens a WebSocket with subprotocol
"mqtt" to ws://127.0.0.1:WS_PORT/mqtt, sends an MQTT 3.1.1 CONNECT it builds itself (client id
bw-chromium, user wsbrowser, the password from $MQ_BROWSER_PW), reads the CONNACK, sends
DISCONNECT and reports the outcome to /done, which writes it to the --done file.
Standard library only.

usage: mqtt_ws_page.py --port N --ws-port N --done FILE
"""
import argparse
import http.server
import json
import os
import sys
import urllib.parse

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>brokerwatch websocket page</title></head>
<body><script>
function str(s) { const b = new TextEncoder().encode(s); return [b.length >> 8, b.length & 255, ...b]; }
function varint(n) { const o = []; do { let d = n % 128; n = Math.floor(n / 128); o.push(n ? d | 128 : d); } while (n); return o; }
function report(msg) { fetch("/done?" + encodeURIComponent(msg)); }
const body = [...str("MQTT"), 4, 0xC2, 0, 30, ...str("bw-chromium"), ...str("wsbrowser"), ...str(PASSWORD)];
const connect = new Uint8Array([0x10, ...varint(body.length), ...body]);
const ws = new WebSocket("ws://127.0.0.1:WS_PORT/mqtt", "mqtt");
ws.binaryType = "arraybuffer";
ws.onopen = () => ws.send(connect);
ws.onmessage = (e) => {
  const a = new Uint8Array(e.data);
  ws.send(new Uint8Array([0xE0, 0]));
  ws.close();
  report("protocol " + ws.protocol + ", connack " + Array.from(a).join(" "));
};
ws.onerror = () => report("websocket error");
</script></body></html>
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ws-port", type=int, required=True)
    ap.add_argument("--done", required=True)
    a = ap.parse_args()
    password = os.environ.get("MQ_BROWSER_PW", "")
    page = PAGE.replace("PASSWORD", json.dumps(password)).replace("WS_PORT", str(a.ws_port)).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            if url.path == "/done":
                with open(a.done, "w", encoding="utf-8") as f:
                    f.write(urllib.parse.unquote(url.query) + "\n")
                self.send_response(204)
                self.end_headers()
                return
            if url.path != "/":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.send_header("Cache-Control", "no-store")
            # Large cookies, as web applications set them (session state, consent, analytics).
            self.send_header("Set-Cookie", "bw_session=" + ("s3ss10n-" * 160) + "; Path=/")
            self.send_header("Set-Cookie", "bw_prefs=" + ("lang.en_theme.dark_" * 75) + "; Path=/")
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, fmt, *args):
            sys.stderr.write("page server: " + (fmt % args) + "\n")

    srv = http.server.HTTPServer(("127.0.0.1", a.port), Handler)
    srv.serve_forever()


if __name__ == "__main__":
    main()
