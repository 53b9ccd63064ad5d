"""Benchmark complete federated sign-ins over real HTTP, for each login method.

One flow is what an MCP client and its user do: authorize at the broker → the customer's login
page → sign in (password; magic link through a real SMTP sink; upstream OIDC through the
stand-in) → the customer posts the profile to the broker (M2M) → broker callback → consent →
code → token. `--n` flows per method run at `--concurrency`, each as a fresh user, and the run
prints flows/s, p50/p95/p99 per flow and per hop, the M2M token requests the customer side
made (one per process per token lifetime, not one per sign-in), and the errors (must be 0).

For the password method it also times one argon2id verification at the configured parameters
and prints the hash-bound limit (cores ÷ verify time) and the fraction of it achieved; with
the cluster it prints the CPU each component spent per flow, which says where the rest went.

    python bench/flow.py [--n 100] [--concurrency 4] [--methods password,magic_link,oidc]
                         [--instances 2] [--workers 1] [--threads 4]
    python bench/flow.py --make-run [--n 20]

Default target: the production shape (tests/cluster.py) on this machine: nginx round-robin in
front of `--instances` gunicorn processes of each app (each `--workers` by `--threads`), one
PostgreSQL server started for the run, the OIDC stand-in and an SMTP sink; the magic-link
limits are raised because every sign-in comes from 127.0.0.1. `--make-run`: the stack `make
run` serves on ports 5000 to 5002 (start it with LOGIN_METHOD_MAGIC_LINK_ADDRESS_LIMIT=100000 for
magic links and LOGIN_REQUEST_ADDRESS_LIMIT=100000; users are added to its SQLite database).
Exit status 1 if any flow failed.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import re
import resource
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402 - after the path set-up, like bench/broker.py

from bench.common import percentile, positive  # noqa: E402
from identity.passwords import PasswordHasher  # noqa: E402
from mock_broker import seed as broker_seed  # noqa: E402
from tests.cluster import Cluster, Endpoint, m2m_tokens_issued  # noqa: E402
from tests.databases import PostgresServer  # noqa: E402
from tests.federated import METHODS, SIGN_IN, finish_at_broker  # noqa: E402
from tests.mail_sink import MaildirInbox  # noqa: E402
from tests.stack import Browser  # noqa: E402

PASSWORD = "bench passphrase, long enough for the policy"  # noqa: S105 - bench users only
ID_SEGMENT = re.compile(r"/[A-Za-z0-9_-]{20,}")


@dataclass
class MakeRun:
    """The stack `make run` serves (scripts/run_stack.py): its ports, Maildir and databases."""

    idp: Endpoint = field(default_factory=lambda: Endpoint("http://127.0.0.1:5000"))
    broker: Endpoint = field(default_factory=lambda: Endpoint("http://127.0.0.1:5001"))
    upstream: Endpoint = field(default_factory=lambda: Endpoint("http://127.0.0.1:5002"))
    mail: MaildirInbox = field(default_factory=lambda: MaildirInbox(ROOT / "instance/dev-mail"))
    customer_database: str = f"sqlite:///{ROOT / 'instance/identity.sqlite3'}"
    broker_database: str = f"sqlite:///{ROOT / 'instance/mock_broker.sqlite3'}"
    pids: dict[str, list[int]] = field(default_factory=dict)
    customer_processes: int = 1

    @property
    def demo_redirect_uri(self) -> str:
        return broker_seed.demo_redirect_uri(self.broker.url)

    def describe(self) -> str:
        return "the `make run` stack (flask dev servers, SQLite)"


@contextmanager
def cluster(instances: int, workers: int, threads: int) -> Iterator[Cluster]:
    database = PostgresServer()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-flow-") as directory:
            limits = {
                "LOGIN_METHOD_MAGIC_LINK_ADDRESS_LIMIT": "1000000",
                "LOGIN_METHOD_MAGIC_LINK_EMAIL_LIMIT": "1000000",
                "LOGIN_REQUEST_ADDRESS_LIMIT": "1000000",
            }
            running = Cluster(
                Path(directory),
                lambda name: database.create_database(),
                instances=instances,
                workers=workers,
                threads=threads,
                customer_env=limits,
            )
            running.pids["postgres"] = [postmaster_pid(database)]
            with running:
                yield running
    finally:
        database.stop()


def postmaster_pid(database: PostgresServer) -> int:
    return int((database.data / "postmaster.pid").read_text().split()[0])


def add_users(target: Any, emails: list[str]) -> None:
    """Verified users with one shared password hash (hashing each would only slow set-up)."""
    from app import create_app
    from identity import db, users

    application = create_app(
        {
            "APP_ENV": "development",
            "SECRET_KEY": secrets.token_hex(32),
            "DATABASE_URL": target.customer_database,
            "BROKER_ENV_URL": target.broker.url,
        }
    )
    with application.app_context():
        shared_hash = PasswordHasher().hash(PASSWORD)
        for email in emails:
            user = users.create_user(email, None, name="Bench User", email_verified=True)
            user.password_hash = shared_hash
        db.session().commit()
        db.engine().dispose()


# -- measuring ----------------------------------------------------------------------------


@dataclass
class Results:
    flows: list[float] = field(default_factory=list)
    hops: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: int = 0
    wall: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def hop_name(target: Any, response: requests.Response) -> str:
    app = "upstream"
    for name, endpoint in (("customer", target.idp), ("broker", target.broker)):
        if response.url.startswith(endpoint.url + "/"):
            app = name
    path = ID_SEGMENT.sub("/{id}", requests.utils.urlparse(response.url).path)
    return f"{app} {response.request.method} {path}"


def one_flow(target: Any, method: str, email: str, results: Results) -> None:
    hops: list[tuple[str, float]] = []
    browser = Browser(target)
    browser.hooks["response"].append(
        lambda response, *args, **kwargs: hops.append(
            (hop_name(target, response), response.elapsed.total_seconds())
        )
    )
    started = time.perf_counter()
    try:
        authorization = browser.authorize()
        login = browser.page("GET", authorization.login_url)
        handed_off = SIGN_IN[method](target, browser, login, email, PASSWORD)
        redirect = finish_at_broker(browser, handed_off)
        begun = time.perf_counter()
        token = browser.exchange(redirect["code"][0], authorization.verifier)
        hops.append(("broker POST /oauth/token", time.perf_counter() - begun))
        if token.status_code != 200:
            raise RuntimeError(f"token: {token.status_code} {token.text[:200]}")
    except Exception as error:  # counted and reported, never raised: the run goes on
        with results.lock:
            results.errors += 1
            if results.errors == 1:
                print(f"first {method} error: {error!r}"[:2000], file=sys.stderr)
        return
    elapsed = time.perf_counter() - started
    with results.lock:
        results.flows.append(elapsed)
        for name, seconds in hops:
            results.hops[name].append(seconds)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes and all their descendants (from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    parent_of: dict[int, int] = {}
    used: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # exited meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        parent_of[int(entry.name)] = int(fields[1])
        used[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    wanted = set(pids)
    changed = True
    while changed:
        more = {pid for pid, parent in parent_of.items() if parent in wanted} - wanted
        wanted |= more
        changed = bool(more)
    return sum(used.get(pid, 0.0) for pid in wanted)


def cpu_snapshot(target: Any) -> dict[str, float]:
    snapshot = {role: cpu_seconds(pids) for role, pids in target.pids.items()}
    usage = resource.getrusage(resource.RUSAGE_SELF)
    snapshot["bench client"] = usage.ru_utime + usage.ru_stime
    return snapshot


def run_method(target: Any, method: str, n: int, concurrency: int) -> Results:
    tag = secrets.token_hex(3)
    emails = [f"bench-{method.replace('_', '-')}-{tag}-{i}@example.com" for i in range(n + 1)]
    if method != "oidc":  # the OIDC method creates its users on first sign-in (JIT)
        add_users(target, emails)
    results = Results()
    one_flow(target, method, emails[-1], Results())  # warm-up: connections, caches, imports
    before = cpu_snapshot(target)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for email in emails[:-1]:
            pool.submit(one_flow, target, method, email, results)
    results.wall = time.perf_counter() - started
    after = cpu_snapshot(target)
    results.cpu = {role: after[role] - before[role] for role in after}
    return results


def argon2_verify_seconds(samples: int = 31) -> float:
    """Median time of one verification at the configured parameters (identity/passwords.py)."""
    hasher = PasswordHasher()
    stored = hasher.hash(PASSWORD)
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        hasher.verify(PASSWORD, stored)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


# -- report -------------------------------------------------------------------------------


def report(target: Any, results: dict[str, Results], args: argparse.Namespace, m2m: int) -> int:
    cores = os.cpu_count() or 1
    print(
        f"federated sign-ins against {target.describe()}: n={args.n} per method, "
        f"concurrency={args.concurrency}, nproc={cores}, Python {platform.python_version()}"
    )
    print(f"{'method':<12}{'flows/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for method, result in results.items():
        rate = len(result.flows) / result.wall if result.wall else 0.0
        ms = [percentile(result.flows, p) * 1000 if result.flows else 0.0 for p in (50, 95, 99)]
        print(f"{method:<12}{rate:>9.1f}{ms[0]:>9.0f}{ms[1]:>9.0f}{ms[2]:>9.0f}{result.errors:>8}")

    for method, result in results.items():
        print(f"\n{method}: per hop (ms){'':<40}{'n':>6}{'p50':>8}{'p95':>8}{'p99':>8}")
        for name, seconds in result.hops.items():
            p = [percentile(seconds, pct) * 1000 for pct in (50, 95, 99)]
            print(f"  {name:<58}{len(seconds):>6}{p[0]:>8.1f}{p[1]:>8.1f}{p[2]:>8.1f}")
        if result.cpu and result.flows:
            per_flow = ", ".join(
                f"{role} {seconds * 1000 / len(result.flows):.0f}"
                for role, seconds in result.cpu.items()
            )
            print(f"  CPU ms per flow: {per_flow}")

    print(
        f"\nM2M token requests by the customer side: {m2m} "
        f"({target.customer_processes} customer process(es): the goal is one per process "
        "per token lifetime)"
    )
    if "password" in results:
        verify = args.verify_seconds
        limit = cores / verify
        password = results["password"]
        achieved = len(password.flows) / password.wall if password.wall else 0.0
        params = PasswordHasher().context.to_dict()
        print(
            f"argon2id verify (m={params['argon2__memory_cost']} KiB, "
            f"t={params['argon2__time_cost']}, p={params['argon2__parallelism']}): "
            f"{verify * 1000:.1f} ms → hash-bound limit {limit:.1f} sign-ins/s on {cores} cores; "
            f"password flows achieved {achieved:.1f}/s = {achieved / limit:.2f} of it"
        )
        customer_cpu = password.cpu.get("customer", 0.0) / max(1, len(password.flows))
        if customer_cpu:
            # The whole stack shares this machine's cores; the customer side's own share says
            # how close it alone would come to the hash-bound limit with the cores to itself.
            print(
                f"customer side: {customer_cpu * 1000:.0f} ms CPU per password flow, "
                f"{verify / customer_cpu:.2f} of it the hash: alone on {cores} cores it would "
                f"reach {cores / customer_cpu:.1f}/s = {verify / customer_cpu:.2f} of the limit"
            )
    errors = sum(result.errors for result in results.values())
    print(f"errors: {errors}")
    return 1 if errors else 0


def method_list(text: str) -> list[str]:
    methods = [name.strip() for name in text.split(",") if name.strip()]
    unknown = set(methods) - set(METHODS)
    if unknown or not methods:
        raise argparse.ArgumentTypeError(f"methods are {', '.join(METHODS)}")
    return methods


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=positive, default=100, help="flows per method")
    parser.add_argument("--concurrency", type=positive, default=2 * (os.cpu_count() or 1))
    parser.add_argument("--methods", type=method_list, default=list(METHODS))
    parser.add_argument("--instances", type=positive, default=2, help="gunicorn per app")
    parser.add_argument("--workers", type=positive, default=1, help="per gunicorn")
    parser.add_argument("--threads", type=positive, default=4, help="per worker")
    parser.add_argument("--make-run", action="store_true", help="use a running `make run`")
    args = parser.parse_args(argv)
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd: a line per command

    @contextmanager
    def target_of() -> Iterator[Any]:
        if args.make_run:
            yield MakeRun()
        else:
            with cluster(args.instances, args.workers, args.threads) as running:
                yield running

    # Timed on the quiet machine, before anything else starts.
    args.verify_seconds = argon2_verify_seconds() if "password" in args.methods else 0.0
    with target_of() as target:
        m2m_before = m2m_tokens_issued(target.broker_database)
        results = {
            method: run_method(target, method, args.n, args.concurrency) for method in args.methods
        }
        m2m = m2m_tokens_issued(target.broker_database) - m2m_before
    return report(target, results, args, m2m)


if __name__ == "__main__":
    sys.exit(main())
