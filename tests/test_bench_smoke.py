"""The benchmarks still run: tiny bounded runs, no timing asserted (benchmarks are not tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "broker.py"
LEGS = ("metadata GET", "JWKS GET", "authorize → code", "code → token", "refresh")


def test_broker_bench_runs_and_reports_every_leg():
    result = subprocess.run(
        [sys.executable, str(BENCH), "--n", "5", "--concurrency", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for leg in LEGS:
        [row] = [line for line in lines if line.startswith(leg)]
        assert row.split()[-1] == "0", row  # its error count
    assert "errors: 0" in lines


def test_broker_bench_refuses_a_non_loopback_url():
    result = subprocess.run(
        [sys.executable, str(BENCH), "--url", "http://example.com", "--n", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2 and "loopback only" in result.stderr


FLOW = BENCH.parent / "flow.py"


def test_flow_bench_signs_in_with_every_method_and_fetches_one_m2m_token_per_process():
    """bench/flow.py against a one-instance cluster (gunicorn, PostgreSQL, nginx): every method
    completes without error, and the customer side asked the broker for one M2M token."""
    result = subprocess.run(
        [sys.executable, str(FLOW), "--n", "3", "--concurrency", "2", "--instances", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for method in ("password", "magic_link", "oidc"):
        [row] = [line for line in lines if line.startswith(f"{method} ")]
        assert row.split()[-1] == "0", row  # its error count
    assert any(line.startswith("M2M token requests by the customer side: 1 ") for line in lines)
    assert any(line.startswith("argon2id verify") for line in lines)
    assert "errors: 0" in lines
