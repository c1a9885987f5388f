"""What tenant-scoped DynamoDB credentials (ABAC) cost an API request: printed figures.

Run: python bench/abac.py [--calls 20000] [--tenants 50]. Needs nothing but the dev venv: STS is
the embedded moto server (its AssumeRole answers in well under a millisecond; AWS's takes tens
of milliseconds: see "cold tenant" below for what the service adds on top of it), DynamoDB is
moto's too (a GetItem is the same request whichever credentials sign it).

Prints, per call of `store.dynamodb.client()`, median and p95:
- own client: no tenant bound (the worker, JIT, retention, the local run);
- warm tenant: a route bound to a tenant whose credentials are cached (every request but the
  first of a tenant per container, for 13 minutes of each 15);
- cold tenant: the first request of a tenant in a container: AssumeRole + a new client;
and one GetItem through each client (the signing does not depend on where the keys came from).
"""

import argparse
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "shared")]


def timed(call: Callable[[], object], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1e6)
    return samples


def line(label: str, samples: list[float]) -> str:
    p95 = statistics.quantiles(samples, n=20)[-1] if len(samples) > 20 else max(samples)
    median = statistics.median(samples)
    return f"  {label:<46} median {median:10.1f} us   p95 {p95:10.1f} us   (n={len(samples)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--tenants", type=int, default=50)
    args = parser.parse_args()

    from local_run.aws import start_embedded_aws
    from local_run.template import create_resources, function_environment, load_template

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server, _ = start_embedded_aws(0)
    try:
        template = load_template()
        os.environ.update(function_environment(template, create_resources(template)))
        os.environ["TENANT_ROLE_ARN"] = "arn:aws:iam::123456789012:role/tenant-items"
        report(measure(args.calls, args.tenants), args)
    finally:
        server.stop()


def measure(calls: int, tenants: int) -> dict[str, list[float]]:
    from scenario_migration import identity
    from scenario_migration.identity import ALL_ROLES, Identity
    from scenario_migration.store import dynamodb, tenant_credentials

    dynamodb.client.cache_clear()
    key = {"pk": {"S": "T#acme#P#bench"}, "sk": {"S": "PLAN"}}
    table = os.environ["PLANS_TABLE"]
    figures = {"own": timed(dynamodb.client, calls), "cold": []}
    for i in range(tenants):
        with identity.acting_as(Identity(f"bench-{i}", ALL_ROLES, "bench")):
            figures["cold"].extend(timed(dynamodb.client, 1))
    bench = Identity("bench-0", ALL_ROLES, "bench")
    with identity.acting_as(bench):
        figures["warm"] = timed(dynamodb.client, calls)

    def get_item() -> None:
        dynamodb.client().get_item(TableName=table, Key=key)

    figures["own_get"], figures["scoped_get"] = [], []
    for _ in range(300):  # interleaved, so that warm-up and load fall on both alike
        figures["own_get"].extend(timed(get_item, 1))
        with identity.acting_as(bench):
            figures["scoped_get"].extend(timed(get_item, 1))
    scoped = tenant_credentials.tenant_clients(dynamodb._client_with)
    figures["assume"] = timed(lambda: scoped._assume("bench-x"), 20)  # without the cache's bookkeeping
    return figures


def report(figures: dict[str, list[float]], args: argparse.Namespace) -> None:
    print(f"bench/abac.py: {args.calls} calls, {args.tenants} tenants; load average {os.getloadavg()}")
    print("store.dynamodb.client(), per call:")
    print(line("own client (no tenant bound)", figures["own"]))
    print(line("warm tenant (credentials cached)", figures["warm"]))
    print(line("cold tenant (AssumeRole on moto + new client)", figures["cold"]))
    print(line("  of which AssumeRole + client, uncached", figures["assume"]))
    print("one GetItem on moto (for scale):")
    print(line("through the own client", figures["own_get"]))
    print(line("through a tenant's client", figures["scoped_get"]))
    extra = statistics.median(figures["warm"]) - statistics.median(figures["own"])
    print(
        f"Per request once warm: +{extra:.1f} us over the own client. Per tenant per container, every "
        f"13 min: one AssumeRole (AWS: tens of ms) + {statistics.median(figures['cold']) / 1000:.1f} ms here."
    )


if __name__ == "__main__":
    main()
