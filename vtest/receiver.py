"""A recording HTTP receiver for the alert tests.

Usage: receiver.py DIR [--tls CERT KEY] [--proxy] [--hang]

Listens on 127.0.0.1 on an ephemeral port and writes the port to DIR/port
once it listens. Each request is appended to DIR/requests.jsonl as one JSON
object: {"method", "target", "headers": [[name, value], ...], "body",
"time"}, where "time" is when the request was read (seconds since the epoch,
as a float).

The status of each reply comes from DIR/statuses if it exists: a
comma-separated list such as "503,503,200", consumed one per request; the
last entry repeats. Without the file every reply is 200. A reply may carry
a Retry-After header: write "429:1" for a 429 with Retry-After: 1.

--tls serves HTTPS with the given certificate and key.
--proxy records requests like the receiver, answers an absolute-URI request
  itself (as if it were the target), and refuses CONNECT with 502 after
  recording it.
--hang accepts connections and never answers (the connections stay open);
  it records nothing, but writes the number of connections it has accepted
  to DIR/connections.
"""

import json
import os
import socket
import ssl
import sys
import threading
import time

directory = sys.argv[1]
args = sys.argv[2:]
tls = None
if "--tls" in args:
    i = args.index("--tls")
    tls = (args[i + 1], args[i + 2])
proxy = "--proxy" in args
hang = "--hang" in args

log_lock = threading.Lock()
status_lock = threading.Lock()
held = []


def next_status():
    path = os.path.join(directory, "statuses")
    with status_lock:
        try:
            with open(path) as f:
                entries = [e.strip() for e in f.read().split(",") if e.strip()]
        except FileNotFoundError:
            return 200, None
        if not entries:
            return 200, None
        first = entries[0]
        if len(entries) > 1:
            with open(path + ".tmp", "w") as f:
                f.write(",".join(entries[1:]))
            os.rename(path + ".tmp", path)
        code, _, retry = first.partition(":")
        return int(code), (retry or None)


def record(entry):
    line = json.dumps(entry) + "\n"
    with log_lock:
        with open(os.path.join(directory, "requests.jsonl"), "a") as f:
            f.write(line)


def read_request(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = [tuple(line.split(":", 1)) for line in lines[1:] if ":" in line]
    headers = [[k.strip(), v.strip()] for k, v in headers]
    length = 0
    for k, v in headers:
        if k.lower() == "content-length":
            length = int(v)
    body = rest
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return {"method": method, "target": target, "headers": headers,
            "body": body.decode("utf-8", "replace"), "time": time.time()}


def serve(conn):
    if hang:
        with log_lock:
            held.append(conn)
            path = os.path.join(directory, "connections")
            with open(path + ".tmp", "w") as f:
                f.write(str(len(held)))
            os.rename(path + ".tmp", path)
        return
    try:
        while True:
            request = read_request(conn)
            if request is None:
                break
            record(request)
            if proxy and request["method"] == "CONNECT":
                conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                break
            status, retry = next_status()
            extra = f"Retry-After: {retry}\r\n" if retry else ""
            reply = (f"HTTP/1.1 {status} X\r\nContent-Length: 2\r\n{extra}"
                     "Content-Type: text/plain\r\n\r\nok")
            conn.sendall(reply.encode())
    except (OSError, ssl.SSLError):
        pass
    finally:
        if not hang:
            conn.close()


listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", 0))
listener.listen(64)
if tls:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls[0], tls[1])
    listener = context.wrap_socket(listener, server_side=True)
with open(os.path.join(directory, "port.tmp"), "w") as f:
    f.write(str(listener.getsockname()[1]))
os.rename(os.path.join(directory, "port.tmp"), os.path.join(directory, "port"))

while True:
    try:
        conn, _ = listener.accept()
    except (OSError, ssl.SSLError):
        time.sleep(0.01)
        continue
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
