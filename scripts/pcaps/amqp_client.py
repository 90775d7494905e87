#!/usr/bin/python3
"""AMQP clients for the captures of scripts/pcaps/amqp.sh (run with Debian's /usr/bin/python3:
python3-pika, python3-amqp and python3-qpid-proton are Debian packages).

  amqp_client.py pika     [--port P] [--user U --password PW] [--expect ok|refused|gave-up]
                          [--count N] [--attempts N] [--gap S] [--no-auth-failure-close]
                          [--give-up S]
      AMQP 0-9-1 with pika (PLAIN): open, declare an auto-delete queue, publish N messages,
      close. --attempts repeats the whole connection (new TCP session each time).
      --no-auth-failure-close: the capabilities pika announces, less authentication_failure_close
      (as older clients send them), so RabbitMQ answers a wrong password by closing the
      connection after a delay instead of with Connection.Close 403. --give-up S: pika abandons
      the connection attempt after S seconds (it closes the socket first).
  amqp_client.py pika-midstream --ready FILE --go FILE [--count N]
      pika connects as guest and declares its queue, writes "connected" to --ready, waits
      for --go to exist, then publishes N messages (and reads them back) and closes.
  amqp_client.py pyamqp   [--port P] --user U --password PW [--login-method AMQPLAIN]
      AMQP 0-9-1 with py-amqp (python3-amqp): open, publish one message, close.
  amqp_client.py proton   [--port P] [--mech PLAIN|ANONYMOUS|none] [--user U --password PW]
                          [--container-id ID] [--expect ok|refused] [--timeout S]
      AMQP 1.0 with Qpid Proton's BlockingConnection: SASL (none: no SASL layer at all),
      open, send one message to --address, close.

Exit status 0 when the outcome is the expected one (--expect), 1 otherwise.
"""
import argparse
import os
import sys
import time

HOST = "127.0.0.1"


def say(*a):
    print(*a, flush=True)


def pika_once(args, n):
    import pika
    import pika.exceptions as pe
    from pika.adapters.utils.connection_workflow import AMQPConnectorException

    props = {"connection_name": f"bw-pika-{n}"}
    if args.no_auth_failure_close:
        # pika merges these over its own, the capabilities table as a whole.
        props["capabilities"] = {"basic.nack": True, "connection.blocked": True,
                                 "consumer_cancel_notify": True, "publisher_confirms": True}
    params = pika.ConnectionParameters(
        host=HOST, port=args.port, virtual_host=args.vhost,
        credentials=pika.PlainCredentials(args.user, args.password),
        connection_attempts=1, retry_delay=0, socket_timeout=5,
        blocked_connection_timeout=5, stack_timeout=args.give_up or 10,
        client_properties=props)
    t0 = time.monotonic()
    try:
        conn = pika.BlockingConnection(params)
    except (pe.ProbableAuthenticationError, pe.AuthenticationError,
            pe.ProbableAccessDeniedError, pe.ConnectionClosedByBroker) as e:
        say(f"attempt {n}: refused after {time.monotonic() - t0:.1f} s: {e!r}")
        return "refused"
    except (pe.AMQPConnectionError, AMQPConnectorException) as e:
        if not args.give_up:
            raise
        say(f"attempt {n}: gave up after {time.monotonic() - t0:.1f} s: {e!r}")
        return "gave-up"
    ch = conn.channel()
    q = ch.queue_declare(queue="", exclusive=True, auto_delete=True).method.queue
    for i in range(args.count):
        ch.basic_publish(exchange="", routing_key=q, body=f"reading {i}".encode())
    conn.close()
    say(f"attempt {n}: ok, {args.count} message(s) to {q}")
    return "ok"


def cmd_pika(args):
    bad = 0
    for n in range(1, args.attempts + 1):
        if pika_once(args, n) != args.expect:
            bad += 1
        if n < args.attempts and args.gap:
            time.sleep(args.gap)
    return 1 if bad else 0


def cmd_pika_midstream(args):
    import pika

    params = pika.ConnectionParameters(
        host=HOST, port=args.port, credentials=pika.PlainCredentials("guest", "guest"),
        connection_attempts=1, socket_timeout=5, heartbeat=0,
        client_properties={"connection_name": "bw-pika-midstream"})
    conn = pika.BlockingConnection(params)
    ch = conn.channel()
    q = ch.queue_declare(queue="", exclusive=True, auto_delete=True).method.queue
    with open(args.ready, "w") as f:
        f.write("connected\n")
    deadline = time.monotonic() + 30
    while not os.path.exists(args.go):
        if time.monotonic() > deadline:
            say("no go file within 30 s")
            return 1
        conn.sleep(0.05)
    for i in range(args.count):
        ch.basic_publish(exchange="", routing_key=q, body=f"flow {i}".encode())
        conn.sleep(0.1)
    got = 0
    for _ in range(args.count):
        m, _props, _body = ch.basic_get(q, auto_ack=True)
        if m is not None:
            got += 1
    conn.close()
    say(f"published {args.count}, read back {got}")
    return 0 if got == args.count else 1


def cmd_pyamqp(args):
    import amqp

    conn = amqp.Connection(host=f"{HOST}:{args.port}", userid=args.user,
                           password=args.password, virtual_host=args.vhost,
                           login_method=args.login_method, connect_timeout=5,
                           client_properties={"connection_name": "bw-pyamqp"})
    conn.connect()
    ch = conn.channel()
    q, _, _ = ch.queue_declare(queue="", exclusive=True, auto_delete=True)
    ch.basic_publish(amqp.Message("reading 0"), exchange="", routing_key=q)
    conn.close()
    say(f"ok ({args.login_method}), 1 message to {q}")
    return 0


def cmd_proton(args):
    from proton import ConnectionException, Message, Timeout
    from proton.reactor import Container
    from proton.utils import BlockingConnection

    cont = Container()
    cont.container_id = args.container_id          # sent in the client's open
    if args.mech == "none":                        # AMQP 1.0 header 0.1.0.0: no SASL layer
        kw = {"sasl_enabled": False}
    else:
        kw = {"allowed_mechs": args.mech, "allow_insecure_mechs": True}
    if args.user is not None:
        kw["user"] = args.user
        kw["password"] = args.password
    try:
        conn = BlockingConnection(f"amqp://{HOST}:{args.port}", timeout=args.timeout,
                                  container=cont, **kw)
    except (ConnectionException, Timeout) as e:
        say(f"refused: {type(e).__name__}: {e}")
        return 0 if args.expect == "refused" else 1
    try:
        snd = conn.create_sender(args.address)
        snd.send(Message(body="reading 0"))
        conn.close()
    except Exception as e:
        say(f"failed after open: {type(e).__name__}: {e}")
        return 1
    say(f"ok ({args.mech}), 1 message to {args.address}")
    return 0 if args.expect == "ok" else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("pika")
    p.add_argument("--port", type=int, default=5672)
    p.add_argument("--vhost", default="/")
    p.add_argument("--user", default="guest")
    p.add_argument("--password", default="guest")
    p.add_argument("--expect", choices=("ok", "refused", "gave-up"), default="ok")
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--attempts", type=int, default=1)
    p.add_argument("--gap", type=float, default=0.1)
    p.add_argument("--no-auth-failure-close", action="store_true")
    p.add_argument("--give-up", type=float, default=0)
    p.set_defaults(fn=cmd_pika)

    p = sub.add_parser("pika-midstream")
    p.add_argument("--port", type=int, default=5672)
    p.add_argument("--ready", required=True)
    p.add_argument("--go", required=True)
    p.add_argument("--count", type=int, default=5)
    p.set_defaults(fn=cmd_pika_midstream)

    p = sub.add_parser("pyamqp")
    p.add_argument("--port", type=int, default=5672)
    p.add_argument("--vhost", default="/")
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--login-method", default="AMQPLAIN")
    p.set_defaults(fn=cmd_pyamqp)

    p = sub.add_parser("proton")
    p.add_argument("--port", type=int, default=5672)
    p.add_argument("--mech", default="PLAIN")
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--container-id", default="bw-proton")
    p.add_argument("--address", default="/topic/plant.line8.temp")
    p.add_argument("--expect", choices=("ok", "refused"), default="ok")
    p.add_argument("--timeout", type=float, default=8)
    p.set_defaults(fn=cmd_proton)

    args = ap.parse_args()
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
