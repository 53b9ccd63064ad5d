"""gunicorn configuration for the mock broker: `gunicorn -c deploy/gunicorn_broker.py`.

Sizing and logging come from the environment (deploy/gunicorn_settings.py); the app reads its
own MOCK_BROKER_* settings (mock_broker/config.py).
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

wsgi_app = "mock_broker.wsgi:app"
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8001")
proc_name = "mock-broker"
