"""A real SMTP server for the mail tests (aiosmtpd), on 127.0.0.1:<port>.

Each accepted message is written to <dir>/received/<n>.json with its envelope and the
decoded headers and bodies. To make the server refuse messages, write "<code> <count>" to
<dir>/control (e.g. "451 2"): the next <count> messages get that reply instead.

    python3 smtp_server.py --port 2525 --dir /tmp/smtp
"""

import argparse
import asyncio
import email
import email.policy
import itertools
import json
import os
import signal
import threading

from aiosmtpd.controller import Controller

REPLIES = {
    451: "451 4.3.0 Erreur temporaire simulée, réessayez plus tard",
    550: "550 5.1.1 Boîte aux lettres inexistante (refus simulé)",
}


class Handler:
    def __init__(self, folder):
        self.folder = folder
        self.received = os.path.join(folder, "received")
        os.makedirs(self.received, exist_ok=True)
        self.counter = itertools.count(1)
        self.lock = threading.Lock()

    def refusal(self):
        path = os.path.join(self.folder, "control")
        with self.lock:
            try:
                with open(path, encoding="utf-8") as f:
                    code, count = f.read().split()
                code, count = int(code), int(count)
            except (OSError, ValueError):
                return None
            if count <= 0:
                return None
            with open(path, "w", encoding="utf-8") as f:
                f.write(f"{code} {count - 1}")
            return REPLIES.get(code, f"{code} Refus simulé")

    async def handle_DATA(self, server, session, envelope):
        refusal = self.refusal()
        if refusal:
            return refusal
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        text = msg.get_body(preferencelist=("plain",))
        html = msg.get_body(preferencelist=("html",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(msg.get("From", "")),
            "to": str(msg.get("To", "")),
            "subject": str(msg.get("Subject", "")),
            "message_id": str(msg.get("Message-ID", "")),
            "text": text.get_content() if text is not None else "",
            "html": html.get_content() if html is not None else "",
        }
        n = next(self.counter)
        path = os.path.join(self.received, f"{n:06d}.json")
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(record, f, ensure_ascii=False)
        os.replace(path + ".tmp", path)
        return "250 2.0.0 Message accepté"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    args = parser.parse_args()
    controller = Controller(Handler(args.dir), hostname="127.0.0.1", port=args.port)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
