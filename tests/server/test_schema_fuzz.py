"""Schema fuzzing with schemathesis against the server's own /openapi.json, a bounded number of examples per
operation: no 5xx, and every response (errors too) matches the schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.server.conftest import seed_registry
from tests.server.live import LiveServer


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    path = root / "reg" / "registry.db"
    tokens = seed_registry(path)  # its own registry: the fuzzer commits, moves labels and makes tokens
    with LiveServer(path, root, args=("--max-watch", "0.2", "--render-timeout", "1")) as server:
        yield server, tokens["admin"]


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_no_server_errors_and_responses_match_the_schema(fuzzed):
    # the operations are walked here rather than with schema.parametrize(): schemathesis' lazy pytest loader
    # reads a private attribute that pytest 9 no longer has
    server, token = fuzzed
    auth = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json", headers=auth)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25
    failures = []
    for operation in operations:

        @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                  database=None)
        @given(case=operation.as_strategy())
        def check(case):
            case.call_and_validate(headers=auth, timeout=30, checks=CHECKS)

        try:
            check()
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.label}: {str(exc)[:2000]}")
    assert not failures, "\n\n".join(failures)
