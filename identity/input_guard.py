"""Refuse NUL characters in any request input, before anything reads it (E2).

Shared by the three apps of this repository (customer side, mock broker, OIDC stand-in).

No legitimate value here contains U+0000, and PostgreSQL cannot store one in a text column:
letting it through turns a garbled request into a database error (a 500) instead of a clear
400. One check at the edge covers every field of every method, present and future. (JSON
bodies are validated field by field by the endpoints that take them.)
"""

from __future__ import annotations

from flask import Flask, abort, request


def init_app(app: Flask) -> None:
    app.before_request(_refuse_nul)


def _refuse_nul() -> None:
    fields = [request.args, request.cookies]
    if request.mimetype in {"application/x-www-form-urlencoded", "multipart/form-data"}:
        fields.append(request.form)
    texts = [request.path]
    for multidict in fields:
        for key, value in multidict.items(multi=True):
            texts += (key, value)
    if any("\x00" in text for text in texts):
        abort(400)
