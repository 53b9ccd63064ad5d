"""Both apps the way production runs them: several gunicorn processes each on one database,
behind nginx with round-robin, plus the upstream OIDC stand-in and an SMTP sink.

Why: teams run more than one process per app, so nothing either app needs from one request to
the next may live in process memory. The multi-instance tests (tests/test_multi_instance.py)
walk every login method through this cluster and pin single requests to one instance to show
that each piece of shared state holds across instances; bench/flow.py measures it.

nginx (the Debian package) listens on two free loopback ports, one per app. Requests go
round-robin to the app's instances, except when they carry `X-Test-Instance: <n>`: then to
instance n only (a test-only `map`, so a test can choose where each step lands). Every answer
carries `X-Served-By: <instance address>`. Both apps trust exactly one proxy hop.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
from sqlalchemy import create_engine, func, select

from mock_broker import seed as broker_seed
from mock_broker.models import IssuedToken, TokenKind
from tests.mail_sink import MailSink, free_port

REPO = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
PIN_HEADER = "X-Test-Instance"
SERVED_BY_HEADER = "X-Served-By"
BOOT_TIMEOUT = 60.0


def wait_until_healthy(url: str, process: subprocess.Popen, log: Path) -> None:
    """Poll `url`/healthz until it answers 200; fail with the log if the process exits."""
    deadline = time.monotonic() + BOOT_TIMEOUT
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}:\n{log.read_text()}")
        try:
            if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):  # still booting
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{url}/healthz did not answer in {BOOT_TIMEOUT}s:\n{log.read_text()}"
            )
        time.sleep(0.05)  # poll interval, not a wait for readiness


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def base_environment() -> dict[str, str]:
    """What every child process inherits: PATH and locale only, never the test's settings."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TZ")
    return {key: os.environ[key] for key in keep if key in os.environ}


class Gunicorn:
    """One gunicorn process on a loopback port: `start()` returns at once, `wait()` until it
    is healthy (so that several boot side by side), `stop()` terminates it."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, port: int) -> None:
        self.args, self.env, self.log, self.port = args, env, log, port
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> Gunicorn:
        environment = {
            **base_environment(),
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "LOG_FORMAT": "json",
            **self.env,
        }
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                [str(GUNICORN), *self.args], cwd=REPO, env=environment, stdout=output, stderr=output
            )
        return self

    def wait(self) -> None:
        assert self.process is not None
        wait_until_healthy(self.url, self.process, self.log)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)


@contextmanager
def gunicorn(config: str, env: dict[str, str], log: Path) -> Iterator[str]:
    """gunicorn with `config` (deploy/) on a free loopback port; yields its URL once healthy.
    "{url}" in an `env` value becomes that URL (an app that must know its own address)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {key: value.replace("{url}", url) for key, value in env.items()}
    server = Gunicorn(["-c", config], env, log, port).start()
    try:
        server.wait()
        yield server.url
    finally:
        server.stop()


def flask_command(app: str, env: dict[str, str], *args: str) -> str:
    """Run `flask --app <app> <args>` as operators do; its output, or the failure's."""
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", app, *args],
        cwd=REPO,
        env={**base_environment(), **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(f"flask --app {app} {' '.join(args)}:\n{result.stdout}{result.stderr}")
    return result.stdout


NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
{upstreams}
{servers}
}}
"""

NGINX_SERVER = """\
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://${name}_pool;
            # A failed instance is an error the tests must see, not a retry on the other one.
            proxy_next_upstream off;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $host;
            proxy_set_header X-Forwarded-Port $server_port;
            add_header {served_by} $upstream_addr always;
        }}
    }}
"""


def nginx_upstreams(name: str, ports: list[int]) -> str:
    """The round-robin pool, one single-server pool per instance, and the pinning map."""
    servers = "".join(f" server 127.0.0.1:{port};" for port in ports)
    lines = [f"    upstream {name} {{{servers} }}"]
    pins = []
    for index, port in enumerate(ports):
        lines.append(f"    upstream {name}_{index} {{ server 127.0.0.1:{port}; }}")
        pins.append(f' "{index}" {name}_{index};')
    header = "$http_" + PIN_HEADER.lower().replace("-", "_")
    lines.append(f"    map {header} ${name}_pool {{ default {name};{''.join(pins)} }}")
    return "\n".join(lines)


@contextmanager
def nginx(pools: dict[str, tuple[int, list[int]]]) -> Iterator[subprocess.Popen]:
    """nginx in front of `pools` ({name: (listen port, instance ports)}), until the block ends.

    Its files live in a fresh directory anyone may traverse: when the tests run as root,
    nginx's workers run as an unprivileged user.
    """
    directory = Path(tempfile.mkdtemp(prefix="test-nginx-"))
    directory.chmod(0o755)
    (directory / "tmp").mkdir()
    conf = directory / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(
            dir=directory,
            upstreams="\n".join(nginx_upstreams(name, ports) for name, (_, ports) in pools.items()),
            servers="".join(
                NGINX_SERVER.format(port=port, name=name, served_by=SERVED_BY_HEADER)
                for name, (port, _) in pools.items()
            ),
        )
    )
    log = directory / "error.log"
    with log.open("ab") as output:  # nginx's messages before it opens its own error log
        process = subprocess.Popen(
            [NGINX, "-p", str(directory), "-c", str(conf)], stdout=output, stderr=output
        )
    try:
        for port, _ in pools.values():
            wait_until_healthy(f"http://127.0.0.1:{port}", process, log)
        yield process
    finally:
        stop_process(process)
        shutil.rmtree(directory, ignore_errors=True)


def m2m_tokens_issued(broker_database: str) -> int:
    """How many client-credentials tokens the broker has signed (its issued-token log)."""
    engine = create_engine(broker_database)
    try:
        with engine.connect() as connection:
            return connection.scalar(
                select(func.count())
                .select_from(IssuedToken)
                .where(IssuedToken.kind == TokenKind.M2M)
            )
    finally:
        engine.dispose()


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


@dataclass(frozen=True)
class Endpoint:
    """An app as clients see it: the proxy's URL, and the addresses of the instances behind."""

    url: str
    instances: tuple[str, ...] = ()

    def instance_of(self, response: requests.Response) -> int:
        """Which instance answered `response` (by the proxy's X-Served-By header)."""
        return self.instances.index(response.headers[SERVED_BY_HEADER])


class Cluster:
    """`instances` gunicorn processes of each app (each `workers` by `threads`), on databases
    made by `database_url(name)`, behind nginx; the OIDC stand-in and an SMTP sink beside."""

    def __init__(
        self,
        directory: Path,
        database_url: Callable[[str], str],
        instances: int = 2,
        workers: int = 1,
        threads: int = 4,
        customer_env: dict[str, str] | None = None,
        broker_env: dict[str, str] | None = None,
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.instances = instances
        self.customer_processes = instances * workers
        self.sizing = {"WEB_CONCURRENCY": str(workers), "GUNICORN_THREADS": str(threads)}
        self.mail = MailSink(directory / "mail")
        customer_port, broker_port, upstream_port = free_port(), free_port(), free_port()
        self.customer_ports = [free_port() for _ in range(instances)]
        self.broker_ports = [free_port() for _ in range(instances)]
        self.idp = self._endpoint(customer_port, self.customer_ports)
        self.broker = self._endpoint(broker_port, self.broker_ports)
        self.upstream = Endpoint(f"http://127.0.0.1:{upstream_port}")
        self.customer_database = database_url("identity")
        self.broker_database = database_url("broker")
        # Shared by every instance of an app, as a deployment's secret store would provide.
        self.customer_env = {
            "APP_ENV": "development",
            "SECRET_KEY": secrets.token_hex(32),
            "DATABASE_URL": self.customer_database,
            "PUBLIC_URL": self.idp.url,
            "BROKER_ENV_URL": self.broker.url,
            "TRUSTED_PROXY_HOPS": "1",
            "MAIL_PORT": str(self.mail.port),
            "DEV_MAIL_DIR": str(self.mail.directory),
            "LOGIN_METHOD_OIDC_STANDIN_ISSUER": self.upstream.url,
            # Every sign-in comes from 127.0.0.1 (E4's limit has tests of its own).
            "LOGIN_REQUEST_ADDRESS_LIMIT": "1000000",
            **(customer_env or {}),
        }
        self.broker_env = {
            "MOCK_BROKER_ENV_URL": self.broker.url,
            "MOCK_BROKER_SECRET_KEY": secrets.token_hex(32),
            "MOCK_BROKER_DATABASE_URL": self.broker_database,
            "MOCK_BROKER_LOGIN_ENDPOINT": f"{self.idp.url}/login",
            "MOCK_BROKER_TRUSTED_PROXY_HOPS": "1",
            **(broker_env or {}),
        }
        self.upstream_env = {
            "UPSTREAM_IDP_ISSUER": self.upstream.url,
            "UPSTREAM_IDP_DATABASE_URL": database_url("upstream"),
            "UPSTREAM_IDP_SIGNING_KEY_FILE": str(directory / "upstream-signing-key.pem"),
            "UPSTREAM_IDP_REDIRECT_URIS": f"{self.idp.url}/login/oidc/standin/callback",
        }
        self._running = ExitStack()
        #: Process ids by role ("customer", "broker", "upstream", "nginx"): gunicorn masters
        #: (their workers are their children) and nginx's master, for CPU accounting.
        self.pids: dict[str, list[int]] = {}

    @staticmethod
    def _endpoint(port: int, instance_ports: list[int]) -> Endpoint:
        return Endpoint(f"http://127.0.0.1:{port}", tuple(f"127.0.0.1:{p}" for p in instance_ports))

    @property
    def demo_redirect_uri(self) -> str:
        return broker_seed.demo_redirect_uri(self.broker.url)

    def describe(self) -> str:
        workers, threads = self.sizing["WEB_CONCURRENCY"], self.sizing["GUNICORN_THREADS"]
        return (
            f"nginx → {self.instances} customer + {self.instances} broker gunicorn processes "
            f"({workers} worker(s) x {threads} threads each), one database server"
        )

    def log(self, name: str) -> Path:
        return self.directory / f"{name}.log"

    def flask(self, app: str, *args: str) -> str:
        """An operator's `flask` command against this cluster's database for `app`."""
        env = {
            "app": self.customer_env,
            "mock_broker": self.broker_env,
            "upstream_idp": self.upstream_env,
        }[app]
        return flask_command(app, env, *args)

    def m2m_tokens_issued(self) -> int:
        return m2m_tokens_issued(self.broker_database)

    def __enter__(self) -> Cluster:
        self.flask("mock_broker", "init-db")
        self.flask("upstream_idp", "init-db")
        self.flask("app", "init-db")
        self.flask("app", "seed-demo")
        try:
            self._start()
        except BaseException:
            self._running.close()
            raise
        return self

    def _start(self) -> None:
        self._running.enter_context(self.mail)
        servers = [
            Gunicorn(
                ["-c", "deploy/gunicorn_broker.py"],
                {**self.broker_env, **self.sizing},
                self.log(f"broker-{index}"),
                port,
            )
            for index, port in enumerate(self.broker_ports)
        ]
        servers += [
            Gunicorn(
                ["-c", "deploy/gunicorn_customer.py"],
                {**self.customer_env, **self.sizing},
                self.log(f"customer-{index}"),
                port,
            )
            for index, port in enumerate(self.customer_ports)
        ]
        # The stand-in is not a production app: the shared settings, its factory, one process.
        servers.append(
            Gunicorn(
                [
                    *("-c", "deploy/gunicorn_settings.py", "upstream_idp:create_app()"),
                    *("--bind", f"127.0.0.1:{port_of(self.upstream.url)}"),
                ],
                {**self.upstream_env, "WEB_CONCURRENCY": "1"},
                self.log("upstream"),
                port_of(self.upstream.url),
            )
        )
        # Boot every process at once (each takes a second or two), then wait for each.
        for server in servers:
            self._running.callback(server.stop)
            server.start()
        for server in servers:
            server.wait()
        for role in ("customer", "broker", "upstream"):
            self.pids[role] = [
                server.process.pid for server in servers if server.log.name.startswith(role)
            ]
        proxy = self._running.enter_context(
            nginx(
                {
                    "customer": (port_of(self.idp.url), self.customer_ports),
                    "broker": (port_of(self.broker.url), self.broker_ports),
                }
            )
        )
        self.pids["nginx"] = [proxy.pid]

    def __exit__(self, *exc_info: object) -> None:
        self._running.close()
