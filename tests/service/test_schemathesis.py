"""A bounded, stateless schemathesis run over the ``/v1`` API's own OpenAPI document against the
real server, with an admin key: no answer is a 5xx. Deterministic (``derandomize``) and small
(``MAX_EXAMPLES`` per operation). Left out: ``DELETE /v1/keys/{key_id}`` (it would revoke the
session's keys) and ``POST /v1/detect`` (a run takes seconds and changes the trends other tests
read); both have their own tests."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings

MAX_EXAMPLES = 12


@pytest.fixture(scope="module")
def api_schema(server, detected):
    schema = schemathesis.openapi.from_url(server.url + "/v1/openapi.json", timeout=60)
    return schema.exclude(method="DELETE").exclude(path="/detect")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_no_5xx_over_the_openapi_document(case, server):
    response = case.call(
        base_url=server.url + "/v1", headers={"Authorization": f"Bearer {server.keys['admin']}"}, timeout=120
    )
    assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:300])
