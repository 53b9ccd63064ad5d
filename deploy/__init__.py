"""Production entry points: gunicorn configuration for both apps (see gunicorn_settings.py)."""
