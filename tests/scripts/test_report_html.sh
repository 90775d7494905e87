#!/usr/bin/env bash
# test_report_html.sh: the HTML report as a browser shows it. Headless Chromium (Debian's
# chromium) loads the page the sensor wrote for every bundled capture and the page test_report
# writes from hostile wire strings; from the DOM it built: the totals and every broker row equal the
# JSON report of the same run, the charts are there, no script element exists and the hostile names
# are text, not markup. The screenshot is decoded (PNG through zlib, no imaging library) and must not
# be blank: many colours, and the exposure chart's bar colours really painted.
# Skipped (77) without chromium; scripts/common.sh lists it so CI installs it.
set -uo pipefail
bin=$1 src=$2
command -v chromium >/dev/null || { echo "SKIPPED: chromium is not installed (apt-get install chromium)"; exit 77; }
unit=$(dirname "$bin")/test_report
[[ -x $unit ]] || { echo "FAIL: $unit not built"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bw-html.$$.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail=0

args=()
for p in "$src"/pcaps/*.pcap; do args+=(-r "$p"); done
"$bin" -q "${args[@]}" --sensor-name html-test -o /dev/null --show-usernames \
    --report-html "$tmp/r.html" --report-json "$tmp/r.json" || { echo "FAIL: sensor run"; exit 1; }
"$unit" --html "$tmp/hostile.html" || { echo "FAIL: test_report --html"; exit 1; }

# chromium PAGE MODE...: one headless run with its own profile; stdout kept, chatter dropped.
browse() {
    local page=$1
    shift
    HOME=$tmp timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
        --disable-component-update --disable-sync --no-first-run --hide-scrollbars \
        --user-data-dir="$tmp/profile-$RANDOM" "$@" "file://$page" 2>>"$tmp/chromium.log"
}
browse "$tmp/r.html" --dump-dom >"$tmp/r.dom" || { echo "FAIL: chromium --dump-dom"; tail -5 "$tmp/chromium.log"; fail=1; }
browse "$tmp/hostile.html" --dump-dom >"$tmp/hostile.dom" || { echo "FAIL: chromium --dump-dom (hostile)"; fail=1; }
browse "$tmp/r.html" --window-size=1280,1500 --screenshot="$tmp/r.png" >/dev/null ||
    { echo "FAIL: chromium --screenshot"; tail -5 "$tmp/chromium.log"; fail=1; }
[[ -s $tmp/r.png ]] || { echo "FAIL: no screenshot"; exit 1; }

/usr/bin/python3 - "$tmp" <<'PY' || fail=1
import html.parser, json, struct, sys, zlib
tmp = sys.argv[1]
ok = bad = 0
def check(cond, what):
    global ok, bad
    if cond: ok += 1
    else:
        bad += 1; print("FAIL:", what)

class Dom(html.parser.HTMLParser):
    """What the browser built: element counts, card texts, table rows (cell texts)."""
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.cards, self.rows, self.exposure = {}, {}, [], {}
        self.stack, self.card, self.row, self.cell, self.exp = [], None, None, None, None
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags[tag] = self.tags.get(tag, 0) + 1
        if tag in ("br",):
            if self.cell is not None: self.cell.append("\n")
            if self.card: self.card[1].append(" ")
            return
        self.stack.append((tag, a))
        if "data-total" in a: self.card = [a["data-total"], []]
        if tag == "tr" and "data-broker" in a: self.row = [a["data-broker"], []]
        if tag == "td" and self.row is not None: self.cell = []
        if "data-exposure" in a: self.exp = [a["data-exposure"], []]
    def handle_endtag(self, tag):
        if not self.stack: return
        t, a = self.stack.pop()
        if t == "td" and self.cell is not None:
            self.row[1].append("".join(self.cell).strip()); self.cell = None
        if t == "tr" and self.row is not None and "data-broker" in a:
            self.rows.append(self.row); self.row = None
        if "data-total" in a and self.card:
            self.cards[self.card[0]] = " ".join("".join(self.card[1]).split()); self.card = None
        if "data-exposure" in a and self.exp:
            self.exposure[self.exp[0]] = "".join(self.exp[1]).strip(); self.exp = None
    def handle_data(self, d):
        for x in (self.card, self.exp):
            if x: x[1].append(d)
        if self.cell is not None: self.cell.append(d)

def parse(path):
    p = Dom()
    p.feed(open(path, encoding="utf-8").read())
    return p

rep = json.load(open(f"{tmp}/r.json"))
t = rep["totals"]
d = parse(f"{tmp}/r.dom")
check(d.tags.get("script", 0) == 0, "a script element in the page")
check(d.tags.get("svg", 0) >= 2 and d.tags.get("rect", 0) >= 10, f"charts: {d.tags.get('svg')} svg, {d.tags.get('rect')} rect")
want_cards = {
    "brokers": f"{t['brokers']} brokers", "plaintext": f"{t['plaintext']} plaintext only",
    "tls": f"{t['tls']} with TLS", "anonymous": f"{t['anonymous']} accept anonymous clients",
    "cleartext_credentials": f"{t['cleartext_credentials']} leak credentials in cleartext",
    "default_credentials": f"{t['default_credentials']} accept default credentials",
    "weak_tls": f"{t['weak_tls']} with weak TLS",
    "failed_logins": f"{t['failed_logins']} failed logins on {t['auth_failures']} brokers",
    "bruteforce": f"{t['bruteforce_alerts']} brute-force alerts on {t['bruteforce']} brokers",
}
check(d.cards == want_cards, f"totals on the page {d.cards} != {want_cards}")
check(d.exposure == {k: str(v) for k, v in rep["exposure"].items()}, f"exposure chart {d.exposure} != {rep['exposure']}")
def addr(b): return f"[{b['ip']}]:{b['port']}" if ":" in b["ip"] else f"{b['ip']}:{b['port']}"
check([r[0] for r in d.rows] == [addr(b) for b in rep["brokers"]], "broker rows, in order")
def page_users(cell, b):
    """The page's names as the JSON has them: a cut name ends in "..." on the page (the JSON says
    usernames_truncated), and a last line "..." says the list was capped."""
    names = [u for u in cell.split("\n") if u]
    if b.get("usernames_capped") and names and names[-1] == "...":
        names.pop()
    if b.get("usernames_truncated"):
        names = [u[:-3] if u.endswith("...") and u[:-3] in b["usernames"] else u for u in names]
    return set(names)
for (key, cells), b in zip(d.rows, rep["brokers"]):
    # Broker, Protocol, Exposure, TLS, Sessions, Clients, Anonymous, Cleartext, Default, Failed, Brute, Product, Seen, Users
    got = (cells[0], cells[1].split()[0], int(cells[4]), int(cells[5].rstrip("+")), cells[6] == "accepted",
           int(cells[7]), int(cells[8]), int(cells[9]), int(cells[10]), cells[11],
           page_users(cells[13], b))
    want = (addr(b), b["app_proto"], b["sessions"], b["clients"], b["anonymous_accepted"],
            b["cleartext_credentials"], b["default_credentials"], b["auth_failures"], b["bruteforce"],
            b["product"] or "-", set(b["usernames"]))
    check(got == want, f"row {key}: page {got} != JSON {want}")

h = parse(f"{tmp}/hostile.dom")
check(h.tags.get("script", 0) == 0 and h.tags.get("img", 0) == 0, f"hostile page built elements: {h.tags}")
users = [r[1][13] for r in h.rows if r[1] and len(r[1]) > 13]
check(any(u.split("\n")[0] == "<script>alert(1)</script>" for u in users), f"hostile user name not shown as text: {users}")
check(any('"><img src=x onerror=alert(2)>,"' in r[1][11] for r in h.rows), "hostile product not shown as text")
check(not any("\u202e" in c for r in h.rows for c in r[1]), "a bidi override reached the page")

# The screenshot: decode the PNG (zlib + the five row filters) and look at its colours.
data = open(f"{tmp}/r.png", "rb").read()
check(data[:8] == b"\x89PNG\r\n\x1a\n", "screenshot is a PNG")
off, idat = 8, []
while off < len(data):
    n, typ = struct.unpack(">I4s", data[off:off + 8])
    body = data[off + 8:off + 8 + n]
    if typ == b"IHDR":
        w, hgt, depth, ctype, _, _, inter = struct.unpack(">IIBBBBB", body)
    elif typ == b"IDAT":
        idat.append(body)
    off += 12 + n
check(depth == 8 and ctype in (2, 6) and inter == 0, f"PNG kind depth={depth} colour={ctype} interlace={inter}")
bpp = 3 if ctype == 2 else 4
raw = zlib.decompress(b"".join(idat))
stride = w * bpp
prev = bytearray(stride)
colours = {}
M7, M8 = int.from_bytes(b"\x7f" * stride, "big"), int.from_bytes(b"\x80" * stride, "big")
for y in range(hgt):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    if f == 2:                                      # Up, bytewise without carries (SWAR on one big int)
        a, b = int.from_bytes(line, "big"), int.from_bytes(prev, "big")
        line = bytearray((((a & M7) + (b & M7)) ^ ((a ^ b) & M8)).to_bytes(stride, "big"))
    elif f == 1:
        for i in range(bpp, stride): line[i] = (line[i] + line[i - bpp]) & 255
    elif f == 3:
        for i in range(stride):
            line[i] = (line[i] + ((line[i - bpp] if i >= bpp else 0) + prev[i]) // 2) & 255
    elif f == 4:
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    px = bytes(line)
    for x in range(0, stride, bpp * 2):             # every other pixel is plenty for counting
        k = px[x:x + 3]
        colours[k] = colours.get(k, 0) + 1
    prev = line
check(len(colours) >= 50, f"screenshot looks blank: {len(colours)} distinct colours")
white = colours.get(b"\xff\xff\xff", 0) / max(1, sum(colours.values()))
check(white < 0.97, f"screenshot is {white:.1%} white")
# Bars of the exposure chart (report_html.c colours), painted where a class has brokers.
bar = {"default_credentials": "7b2cbf", "anonymous": "d64545", "cleartext_credentials": "e8833a",
       "weak_tls": "4aa3df", "tls": "2f9e44"}
for cls, hexc in bar.items():
    if rep["exposure"][cls]:
        check(colours.get(bytes.fromhex(hexc), 0) > 50, f"exposure bar '{cls}' (#{hexc}) not painted")
print(f"{ok} passed, {bad} failed ({len(colours)} colours in the screenshot)")
sys.exit(1 if bad else 0)
PY
exit $fail
