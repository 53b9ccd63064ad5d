"""The customer side: a Flask identity provider that hands verified users to the broker.

Run it with `make run` (everything) or `flask --app app run`. See README.md.
"""

from __future__ import annotations

from typing import Any

from dotenv import load_dotenv
from flask import Flask
from flask_wtf.csrf import CSRFProtect

from identity import (
    cli,
    config,
    db,
    dev_outbox,
    input_guard,
    logging_setup,
    mail,
    proxy,
    sessions,
    views,
    web,
)
from identity.passwords import PasswordHasher
from login_methods import registry

csrf = CSRFProtect()


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    if test_config is None:
        load_dotenv()
        settings = config.from_environment()
    else:
        settings = config.from_mapping(test_config)
    app.config.update(settings)
    app.config.update(config.derive_flask_settings(app.config))
    config.check_config(app.config)

    # First, so that every later hook's log lines and early answers carry the request id.
    logging_setup.init_app(app, app.config["LOG_FORMAT"], access_logger="identity.access")
    db.init_app(app)
    input_guard.init_app(app)
    csrf.init_app(app)
    sessions.init_app(app)
    web.init_app(app)
    cli.init_app(app)
    mail.init_app(app)
    dev_outbox.init_app(app)
    app.extensions["identity.password_hasher"] = PasswordHasher()
    app.register_blueprint(views.bp)
    registry.init_app(app)
    proxy.init_app(app, app.config["TRUSTED_PROXY_HOPS"])

    @app.context_processor
    def _product() -> dict[str, Any]:
        return {"product_name": app.config["PRODUCT_NAME"]}

    return app


if __name__ == "__main__":
    create_app().run(host="127.0.0.1", port=5000)
