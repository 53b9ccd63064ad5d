"""gunicorn configuration for the customer side: `gunicorn -c deploy/gunicorn_customer.py`.

Sizing and logging come from the environment (deploy/gunicorn_settings.py); the app itself
reads its own settings from the environment too (identity/config.py).
"""

import os

from deploy.gunicorn_settings import (  # noqa: F401 - gunicorn reads these module globals
    accesslog,
    errorlog,
    forwarded_allow_ips,
    graceful_timeout,
    logconfig_dict,
    logger_class,
    threads,
    timeout,
    workers,
)

wsgi_app = "wsgi:app"
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
proc_name = "customer-idp"
