"""Development only: /dev/outbox lists the mail the local SMTP sink received.

`make run` starts an SMTP sink (aiosmtpd) that writes every message into the Maildir named by
DEV_MAIL_DIR; this page reads it, so QA can follow magic links with no mail server. The
blueprint is registered only when APP_ENV=development: in production the page does not exist.
"""

from __future__ import annotations

import email
import mailbox
import re
from email.policy import default
from email.utils import parsedate_to_datetime
from pathlib import Path

from flask import Blueprint, Flask, current_app, render_template

bp = Blueprint("dev_outbox", __name__, url_prefix="/dev")

_LINK = re.compile(r"https?://\S+")


def init_app(app: Flask) -> None:
    if app.config["APP_ENV"] == "development" and app.config.get("DEV_MAIL_DIR"):
        app.register_blueprint(bp)


def maildir(directory: str | Path) -> mailbox.Maildir:
    """The Maildir at `directory`, created complete (tmp/, new/, cur/) if any part is missing."""
    for part in ("tmp", "new", "cur"):
        (Path(directory) / part).mkdir(parents=True, exist_ok=True)
    return mailbox.Maildir(directory, factory=None)


def received(directory: str | Path, limit: int = 50) -> list[dict]:
    """The newest messages first: headers, plain text and the links in it."""
    box = maildir(directory)
    messages = []
    for key in box.iterkeys():
        message = email.message_from_bytes(box.get_bytes(key), policy=default)
        body = message.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        messages.append(
            {
                "to": message["To"],
                "subject": message["Subject"],
                "date": parsedate_to_datetime(message["Date"]) if message["Date"] else None,
                "text": text,
                "links": _LINK.findall(text),
            }
        )
    messages.sort(key=lambda item: item["date"].timestamp() if item["date"] else 0, reverse=True)
    return messages[:limit]


@bp.get("/outbox")
def outbox():
    return render_template("dev_outbox.html", messages=received(current_app.config["DEV_MAIL_DIR"]))
