"""The customer side's WSGI entry point for production servers.

    gunicorn -c deploy/gunicorn_customer.py          # the config names wsgi:app

Configuration comes from the environment (identity/config.py), checked as each worker builds
the app, so a misconfigured deployment fails at start (gunicorn exits on a worker boot error).
"""

from __future__ import annotations

from app import create_app

app = create_app()
