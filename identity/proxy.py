"""Running behind a reverse proxy: trust its forwarded headers, and only when told to.

Throttles (C10) and the audit trail (E1) key on `request.remote_addr`. Behind a proxy that is
the proxy's address — every client would share one throttle bucket — unless the app reads the
client's address from `X-Forwarded-For`. But any client can send that header, so it is trusted
only for the number of proxy hops the deployment declares (`TRUSTED_PROXY_HOPS` on the customer
side, `MOCK_BROKER_TRUSTED_PROXY_HOPS` on the broker), and never by default.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix


def parse_hops(name: str, value: object) -> int:
    """A hop count: a whole number, 0 or more; ValueError with the setting's name otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a whole number of proxy hops (0 = no proxy)")
    try:
        hops = int(str(value).strip() or "0")
    except ValueError:
        raise ValueError(f"{name} must be a whole number of proxy hops (0 = no proxy)") from None
    if hops < 0:
        raise ValueError(f"{name} must be 0 or more")
    return hops


def init_app(app: Flask, hops: int) -> None:
    """Apply ProxyFix for `hops` trusted proxies (x_for, x_proto, x_host, x_port); 0: none."""
    if hops > 0:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops
        )
