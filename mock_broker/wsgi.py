"""The mock broker's WSGI entry point for production-style servers.

    gunicorn -c deploy/gunicorn_broker.py            # the config names mock_broker.wsgi:app

Configuration comes from the MOCK_BROKER_* environment variables (mock_broker/config.py).
"""

from __future__ import annotations

from mock_broker import create_app

app = create_app()
