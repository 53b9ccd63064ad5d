"""HTTP errors for the authorization servers in this repository (the mock broker, the OIDC
stand-in): OAuth-style JSON on protocol endpoints, where a program reads the answer, and a
page on everything a person opens."""

from __future__ import annotations

from collections.abc import Callable

from flask import Response, jsonify, request
from werkzeug.exceptions import HTTPException


def json_or_page(
    json_prefixes: tuple[str, ...], error_page: Callable[[str, str, int], Response]
) -> Callable[[HTTPException], Response]:
    """An HTTPException handler: JSON under `json_prefixes`, `error_page(...)` elsewhere."""

    def handle(error: HTTPException) -> Response:
        status = error.code or 500
        if request.path.startswith(json_prefixes):
            response = jsonify(
                error="invalid_request" if status < 500 else "server_error",
                error_description=error.description,
            )
            response.status_code = status
            return response
        return error_page(error.name.lower().replace(" ", "_"), error.description or "", status)

    return handle
