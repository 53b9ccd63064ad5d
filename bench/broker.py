"""Benchmark the mock broker's own legs over real HTTP, in isolation from the customer side.

Why: the broker sits on every sign-in, so its per-leg cost (discovery, JWKS, the
authorize→code flow, code→token, refresh) is what an MCP client feels. The run is bounded
(`--n` operations per leg at `--concurrency`), stops by itself, and talks only to 127.0.0.1:
a broker it starts in-process (werkzeug, threaded, fresh SQLite file) or `--url` of a
running one (seeded with the development values, e.g. `make run`).

    python bench/broker.py [--n 200] [--concurrency 4] [--url http://127.0.0.1:5001]

Exit status 1 if any request failed.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests

from bench.common import percentile, positive
from mock_broker.seed import DEV_RESOURCE_ID
from tests.broker.flows import TIMEOUT, Broker, LoginFlow, live_broker, redirect_query

METADATA_PATH = ".well-known/oauth-authorization-server"

#: Codes live at most 60 s (B3): legs run in rounds this size, each round's codes exchanged
#: right after they were made, whatever `--n` is.
ROUND = 200


@dataclass
class Leg:
    name: str
    requests_per_op: int
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    wall: float = 0.0


def run_leg(leg: Leg, pool: ThreadPoolExecutor, op: Callable, inputs: list) -> list:
    """Run `op` once per input on the pool; time each call; returns the successful results."""

    def timed(item):
        started = time.perf_counter()
        try:
            result = op(item)
        except Exception as error:  # any failure is an error of this leg, counted, not raised
            return None, time.perf_counter() - started, error
        return result, time.perf_counter() - started, None

    started = time.perf_counter()
    outcomes = list(pool.map(timed, inputs))
    leg.wall += time.perf_counter() - started
    results = []
    for result, seconds, error in outcomes:
        leg.latencies.append(seconds)
        if error is None:
            results.append(result)
        else:
            leg.errors += 1
            if leg.errors == 1:
                print(f"first {leg.name} error: {error!r}", file=sys.stderr)
    return results


def get_ok(url: str) -> None:
    response = requests.get(url, timeout=TIMEOUT)
    if response.status_code != 200:
        raise RuntimeError(f"GET {url}: {response.status_code}")


def authorize_to_code(broker: Broker) -> tuple[LoginFlow, str]:
    """authorize (PKCE, demo client) → profile posted with the M2M token → callback →
    consent approved (skipped if the broker remembers consent): the code."""
    flow = broker.start_login(scope="notes:read offline_access")
    posted = flow.post_profile()
    if posted.status_code != 200:
        raise RuntimeError(f"profile post: {posted.status_code} {posted.text[:200]}")
    landing = flow.callback()
    if landing.status_code == 200:
        landing = flow.submit_consent(landing.text, "approve")
    if landing.status_code != 302:
        raise RuntimeError(f"callback/consent: {landing.status_code}")
    return flow, redirect_query(landing)["code"]


def exchange(flow_and_code: tuple[LoginFlow, str]) -> str:
    flow, code = flow_and_code
    response = flow.exchange(code)
    if response.status_code != 200:
        raise RuntimeError(f"code exchange: {response.status_code} {response.text[:200]}")
    return response.json()["refresh_token"]


def refresh(broker: Broker, refresh_token: str) -> None:
    response = broker.refresh(refresh_token)
    if response.status_code != 200:
        raise RuntimeError(f"refresh: {response.status_code} {response.text[:200]}")


def benchmark(broker: Broker, n: int, concurrency: int) -> list[Leg]:
    metadata_url = f"{broker.url}/resources/{DEV_RESOURCE_ID}/{METADATA_PATH}"
    legs = {
        "metadata": Leg("metadata GET", 1),
        "jwks": Leg("JWKS GET", 1),
        "authorize": Leg("authorize → code", 4),
        "token": Leg("code → token", 1),
        "refresh": Leg("refresh", 1),
    }
    broker.cached_m2m_token()  # the customer side caches it; fetched once, outside the timing
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for start in range(0, n, ROUND):
            size = min(ROUND, n - start)
            run_leg(legs["metadata"], pool, get_ok, [metadata_url] * size)
            run_leg(legs["jwks"], pool, get_ok, [f"{broker.url}/keys"] * size)
            codes = run_leg(legs["authorize"], pool, authorize_to_code, [broker] * size)
            tokens = run_leg(legs["token"], pool, exchange, codes)
            run_leg(legs["refresh"], pool, lambda token: refresh(broker, token), tokens)
    # An op that never ran because the previous leg failed is an error too.
    legs["token"].errors += legs["authorize"].errors
    legs["refresh"].errors += legs["token"].errors
    return list(legs.values())


def report(legs: list[Leg], target: str, n: int, concurrency: int) -> int:
    print(
        f"mock broker at {target}: n={n} per leg, concurrency={concurrency}, "
        f"Python {platform.python_version()}, nproc={os.cpu_count()}"
    )
    columns = ("ops/s", "req/s", "p50 ms", "p95 ms", "p99 ms")
    print(f"{'leg':<18}" + "".join(f"{name:>9}" for name in columns) + f"{'errors':>8}")
    total_errors = 0
    for leg in legs:
        ops = len(leg.latencies) / leg.wall if leg.wall else 0.0
        ms = [percentile(leg.latencies, p) * 1000 if leg.latencies else 0.0 for p in (50, 95, 99)]
        print(
            f"{leg.name:<18}{ops:>9.1f}{ops * leg.requests_per_op:>9.1f}"
            f"{ms[0]:>9.1f}{ms[1]:>9.1f}{ms[2]:>9.1f}{leg.errors:>8}"
        )
        total_errors += leg.errors
    print(f"errors: {total_errors}")
    return 1 if total_errors else 0


@contextmanager
def in_process_broker() -> Iterator[Broker]:
    """A fresh broker on an OS-chosen 127.0.0.1 port, on a throwaway SQLite database."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    with tempfile.TemporaryDirectory(prefix="bench-broker-") as directory:
        database = f"sqlite:///{Path(directory) / 'broker.sqlite3'}"
        # Every sign-in shows and approves the consent page (consent memory stays off).
        with live_broker(database) as broker:
            yield broker


def loopback_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname != "127.0.0.1" or parts.path not in ("", "/"):
        raise argparse.ArgumentTypeError("--url must be http://127.0.0.1:PORT (loopback only)")
    return url.rstrip("/")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=positive, default=200, help="operations per leg")
    parser.add_argument("--concurrency", type=positive, default=4, help="threads")
    parser.add_argument("--url", type=loopback_url, help="a running broker on 127.0.0.1")
    args = parser.parse_args(argv)
    if args.url:
        broker = Broker(app=None, url=args.url)  # type: ignore[arg-type]
        legs = benchmark(broker, args.n, args.concurrency)
        return report(legs, args.url, args.n, args.concurrency)
    with in_process_broker() as broker:
        legs = benchmark(broker, args.n, args.concurrency)
    return report(legs, "in-process werkzeug", args.n, args.concurrency)


if __name__ == "__main__":
    sys.exit(main())
