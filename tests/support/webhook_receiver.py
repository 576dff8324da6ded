"""A webhook receiver for the tests, on 127.0.0.1:<port>, that checks every delivery's
signature with an independent implementation of Standard Webhooks (the `standardwebhooks`
package from PyPI).

The secrets to check against are read, at each request, from <dir>/secrets (one per line, in
order). Each request is written to <dir>/received/<n>.json: its webhook-id, timestamp and
signature headers, its JSON body, and `verified`, the indices of the secrets it verifies with
(empty: the signature is wrong). To make the receiver refuse requests, write
"<status> <count> [<retry-after>]" to <dir>/control (e.g. "500 2", "410 1", "503 1 3"): the next
<count> requests get that status (with that Retry-After) and are recorded as refused.

    python3 webhook_receiver.py --port 8099 --dir /tmp/hooks
"""

import argparse
import itertools
import json
import os
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    args = parser.parse_args()
    folder = args.dir
    received = os.path.join(folder, "received")
    os.makedirs(received, exist_ok=True)
    start = len(os.listdir(received)) + 1
    counter = itertools.count(start)
    lock = threading.Lock()

    def refusal():
        path = os.path.join(folder, "control")
        with lock:
            try:
                with open(path, encoding="utf-8") as f:
                    parts = f.read().split()
                status, count = int(parts[0]), int(parts[1])
                retry_after = parts[2] if len(parts) > 2 else None
            except (OSError, ValueError, IndexError):
                return None
            if count <= 0:
                return None
            with open(path, "w", encoding="utf-8") as f:
                f.write(" ".join([str(status), str(count - 1)] + ([retry_after] if retry_after else [])))
            return status, retry_after

    def secrets():
        try:
            with open(os.path.join(folder, "secrets"), encoding="utf-8") as f:
                return [line.strip() for line in f if line.strip()]
        except OSError:
            return []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            verified = []
            for i, secret in enumerate(secrets()):
                try:
                    Webhook(secret).verify(body, headers)
                    verified.append(i)
                except Exception:  # noqa: BLE001 - any failure means "does not verify"
                    pass
            refused = refusal()
            record = {
                "path": self.path,
                "id": headers.get("webhook-id"),
                "timestamp": headers.get("webhook-timestamp"),
                "signature": headers.get("webhook-signature"),
                "verified": verified,
                "refused": refused[0] if refused else None,
                "body": json.loads(body or b"null"),
            }
            with lock:
                n = next(counter)
            tmp = os.path.join(received, f"{n:06}.tmp")
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(record, f, ensure_ascii=False)
            os.replace(tmp, os.path.join(received, f"{n:06}.json"))
            if refused:
                status, retry_after = refused
                self.send_response(status)
                if retry_after:
                    self.send_header("Retry-After", retry_after)
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self.send_response(204)
                self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()


if __name__ == "__main__":
    main()
