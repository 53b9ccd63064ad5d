"""A real SMTP server (aiosmtpd) on a free loopback port, writing what it receives to a
Maildir — the same sink `make run` starts for QA. Tests wait for a message by polling."""

from __future__ import annotations

import email
import mailbox
import socket
import time
from collections import defaultdict
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _RecordingMailbox(Mailbox):
    """aiosmtpd's Maildir handler, also keeping the messages in arrival order."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.received: list[EmailMessage] = []
        self.by_recipient: dict[str, list[EmailMessage]] = defaultdict(list)

    def handle_message(self, message) -> None:
        super().handle_message(message)
        parsed = email.message_from_bytes(message.as_bytes(), policy=default)
        self.received.append(parsed)
        # Indexed once on arrival: waiting for one recipient's mail stays cheap however much
        # else has arrived (bench/flow.py waits for hundreds at once).
        self.by_recipient[str(parsed["To"])].append(parsed)


class Inbox:
    """Mail that arrives somewhere, read by polling (never by sleeping a fixed time)."""

    def messages(self) -> list[EmailMessage]:
        raise NotImplementedError

    def messages_to(self, to: str) -> list[EmailMessage]:
        return [message for message in self.messages() if message["To"] == to]

    def wait_for(self, to: str, count: int = 1, timeout: float = 10.0) -> list[EmailMessage]:
        """The messages to `to`, once at least `count` have arrived (polling, bounded)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.messages_to(to)
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"{count} message(s) to {to} did not arrive in {timeout}s")
            time.sleep(0.02)  # poll interval of the Maildir, not a wait for readiness


class MaildirInbox(Inbox):
    """A Maildir another process's sink writes (e.g. `make run`'s instance/dev-mail)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def messages(self) -> list[EmailMessage]:
        box = mailbox.Maildir(self.directory, create=False)
        # Maildir names start with the delivery time: sorted keys are (about) arrival order.
        return [
            email.message_from_bytes(box.get_bytes(key), policy=default)
            for key in sorted(box.keys())
        ]


class MailSink(Inbox):
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.handler = _RecordingMailbox(directory)
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> MailSink:
        self.controller.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.controller.stop()

    def messages(self) -> list[EmailMessage]:
        """Everything received so far, oldest first."""
        return list(self.handler.received)

    def messages_to(self, to: str) -> list[EmailMessage]:
        return list(self.handler.by_recipient.get(to, ()))
