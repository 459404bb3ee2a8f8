"""The core: token provider and API client against the simulator over loopback HTTP."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

import anyio
import pytest

from sipsim_mcp.api import endpoints as ep
from sipsim_mcp.api.client import SipsimClient
from sipsim_mcp.api.config import ConfigError, load_settings
from sipsim_mcp.api.errors import MissingScopeError, SipsimAPIError, TokenError
from sipsim_mcp.api.models import Account, Call, Tag
from sipsim_mcp.api.retry import RetryPolicy
from sipsim_mcp.sandbox import ClientSpec, Fault, Sandbox, SandboxConfig

from .conftest import NOW, Waits, settings_for

pytestmark = pytest.mark.anyio

FAST_RETRY = RetryPolicy(attempts=4, base_delay=0.05, max_delay=0.2, budget=5.0)


class FakeClock:
    """A monotonic clock the test moves by hand (token expiry without waiting two hours)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def token_requests(sandbox: Sandbox):
    return [r for r in sandbox.requests if r.path == "/oauth/token"]


def api_requests(sandbox: Sandbox, path_prefix: str = "/api/v2"):
    return [r for r in sandbox.requests if r.path.startswith(path_prefix)]


def client_for(sandbox: Sandbox, waits: Waits | None = None, **overrides) -> SipsimClient:
    """A client of `sandbox` whose retries wait for nothing (the waits they asked for go to `waits`)."""
    clock = overrides.pop("clock", None)
    options = {"retry": replace(FAST_RETRY, sleep=Waits() if waits is None else waits)}
    if clock is not None:
        options["clock"] = clock
    return SipsimClient(settings_for(sandbox, **overrides), **options)


async def test_token_request_is_form_encoded_with_exactly_the_scope_asked(sandbox):
    async with client_for(sandbox) as api:
        await api.request(ep.LIST_TAGS)
        await api.request(ep.GET_ACCOUNT)
    first, second = token_requests(sandbox)
    assert first.method == "POST"
    assert first.content_type.startswith("application/x-www-form-urlencoded")
    assert first.body["grant_type"] == "client_credentials"
    assert first.body["client_id"] == "demo"
    assert first.body["scope"] == "tags.read"
    assert second.body["scope"] == "account.read"
    tags_call, account_call = api_requests(sandbox)
    assert tags_call.token_scopes == ("tags.read",)
    assert account_call.token_scopes == ("account.read",)


async def test_cached_token_is_reused_for_the_same_scope(sandbox):
    async with client_for(sandbox) as api:
        for _ in range(5):
            await api.request(ep.LIST_TAGS)
    assert len(token_requests(sandbox)) == 1
    assert len(api_requests(sandbox)) == 5


async def test_a_new_token_is_fetched_60_seconds_before_expiry(sandbox):
    clock = FakeClock()
    async with client_for(sandbox, clock=clock) as api:
        await api.request(ep.LIST_TAGS)
        clock.now += 7200 - 61  # still more than 60 s left: reuse
        await api.request(ep.LIST_TAGS)
        assert len(token_requests(sandbox)) == 1
        clock.now += 2  # now within 60 s of expiry: a new token, before SIPSIM would refuse the old one
        await api.request(ep.LIST_TAGS)
    assert len(token_requests(sandbox)) == 2
    assert [r.status for r in api_requests(sandbox)] == [200, 200, 200]


async def test_fifty_concurrent_calls_cause_one_token_request(sandbox):
    async with client_for(sandbox) as api, anyio.create_task_group() as group:
        for _ in range(50):
            group.start_soon(api.request, ep.LIST_TAGS)
    assert len(token_requests(sandbox)) == 1
    assert len(api_requests(sandbox)) == 50


async def test_a_401_drops_the_token_and_replays_the_request_once(sandbox):
    async with client_for(sandbox) as api:
        await api.request(ep.GET_ACCOUNT)
        sandbox.expire_tokens()
        sandbox.clear_log()
        response = await api.request(ep.GET_ACCOUNT)
    assert response.status == 200
    assert [(r.method, r.path, r.status) for r in sandbox.requests] == [
        ("GET", "/api/v2/account", 401),
        ("POST", "/oauth/token", 200),
        ("GET", "/api/v2/account", 200),
    ]


async def test_a_second_401_is_not_replayed_again(sandbox):
    sandbox.add_fault(Fault(path="/api/v2/account", status=401, times=5))
    async with client_for(sandbox) as api:
        with pytest.raises(SipsimAPIError) as failure:
            await api.request(ep.GET_ACCOUNT)
    assert failure.value.status == 401
    assert len(api_requests(sandbox)) == 2
    assert len(token_requests(sandbox)) == 2


async def test_invalid_client_is_a_clear_message(sandbox):
    async with client_for(sandbox, client_secret="wrong-secret") as api:
        with pytest.raises(TokenError) as failure:
            await api.request(ep.GET_ACCOUNT)
    message = str(failure.value)
    assert "invalid_client" in message
    assert "SIPSIM_CLIENT_ID" in message and "SIPSIM_CLIENT_SECRET" in message
    assert api_requests(sandbox) == []
    assert len(token_requests(sandbox)) == 1  # a refusal is not retried


async def test_invalid_scope_is_a_clear_message():
    limited = ClientSpec("limited", "limited-secret", scopes=frozenset({"account.read"}))
    with Sandbox(SandboxConfig(anchor=NOW, clients=[limited], calls=200)) as sandbox:
        async with client_for(sandbox, client_id="limited", client_secret="limited-secret") as api:
            with pytest.raises(TokenError) as failure:
                await api.request(ep.LIST_CALLS, params={"start_time": NOW - timedelta(days=1)})
            assert (await api.request(ep.GET_ACCOUNT)).status == 200
    message = str(failure.value)
    assert "invalid_scope" in message
    assert "calls.read" in message
    assert "SIPSIM_SCOPES" in message and "dashboard" in message


async def test_unauthorized_client_is_a_clear_message():
    no_grant = ClientSpec("demo", "demo-secret", grant_types=frozenset())
    with Sandbox(SandboxConfig(anchor=NOW, clients=[no_grant], calls=200)) as sandbox:
        async with client_for(sandbox) as api:
            with pytest.raises(TokenError) as failure:
                await api.request(ep.GET_ACCOUNT)
        assert api_requests(sandbox) == []
    assert "unauthorized_client" in str(failure.value)
    assert "client-credentials grant" in str(failure.value)


async def test_a_scope_the_token_was_not_granted_is_refused_without_an_api_request():
    narrowing = ClientSpec("narrow", "narrow-secret", scopes=frozenset({"account.read"}), narrow_scopes=True)
    with Sandbox(SandboxConfig(anchor=NOW, clients=[narrowing], calls=200)) as sandbox:
        async with client_for(sandbox, client_id="narrow", client_secret="narrow-secret") as api:
            with pytest.raises(MissingScopeError) as failure:
                await api.request(ep.LIST_TAGS)
        assert api_requests(sandbox) == []
        assert token_requests(sandbox)[0].status == 200
    message = str(failure.value)
    assert "tags.read" in message
    assert "SIPSIM_SCOPES" in message and "dashboard" in message


async def test_a_scope_missing_from_the_configuration_is_refused_before_any_request(sandbox):
    async with client_for(sandbox, scopes="account.read") as api:
        with pytest.raises(MissingScopeError) as failure:
            await api.request(ep.LIST_TAGS)
    assert "tags.read" in str(failure.value) and "SIPSIM_SCOPES" in str(failure.value)
    assert sandbox.requests == []


async def test_success_envelope_is_decoded_and_unknown_fields_are_kept(shared_sandbox):
    async with client_for(shared_sandbox) as api:
        account, response = await api.fetch(ep.GET_ACCOUNT, Account)
    assert response.status == 200
    assert len(response.request_id) == 36
    assert account.id == shared_sandbox.data.account["id"]
    assert account.company_name == shared_sandbox.data.account["company_name"]
    # fields the docs do not show are kept, not dropped
    assert account.model_extra["timezone"] == shared_sandbox.data.account["timezone"]


async def test_error_envelope_becomes_one_exception_with_status_messages_and_request_id(shared_sandbox):
    async with client_for(shared_sandbox) as api:
        with pytest.raises(SipsimAPIError) as failure:
            await api.request(ep.GET_CALL, path_params={"call_id": 1})
    error = failure.value
    assert error.status == 404
    assert error.errors == ["Call not found"]
    assert error.request_id and len(error.request_id) == 36
    assert error.request_id in str(error) and "Call not found" in str(error)


async def test_validation_errors_come_back_decoded(shared_sandbox):
    async with client_for(shared_sandbox) as api:
        with pytest.raises(SipsimAPIError) as missing:
            await api.request(ep.LIST_CALLS)
        with pytest.raises(SipsimAPIError) as too_big:
            await api.request(ep.LIST_CALLS, params={"start_time": NOW - timedelta(days=1), "limit": 5000})
    assert (missing.value.status, missing.value.errors) == (422, ["start_time is required"])
    assert too_big.value.status == 422 and "between 20 and 1000" in too_big.value.errors[0]


async def test_pagination_walks_thousands_of_calls_exactly_once(shared_sandbox):
    since = NOW - timedelta(days=400)
    async with client_for(shared_sandbox) as api:
        seen = [call.id async for call in api.items(ep.LIST_CALLS, Call, params={"start_time": since})]
        pages = [page async for page in api.pages(ep.LIST_CALLS, params={"start_time": since}, limit=500)]
    expected = sorted((c["id"] for c in shared_sandbox.data.calls), reverse=True)
    assert len(expected) >= 3000
    assert seen == expected
    assert sum(len(page.data) for page in pages) == len(expected)
    assert all(page.pagination.has_more for page in pages[:-1]) and not pages[-1].pagination.has_more


async def test_a_get_is_retried_after_429_honouring_retry_after(sandbox):
    sandbox.add_fault(Fault(method="GET", path="/api/v2/tags", status=429, headers={"Retry-After": "1"}))
    waits = Waits()
    async with client_for(sandbox, waits) as api:
        response = await api.request(ep.LIST_TAGS)
    assert response.status == 200
    first, second = api_requests(sandbox)
    assert (first.status, second.status) == (429, 200)
    assert waits == [1.0]


async def test_a_retry_after_beyond_the_budget_fails_at_once_and_says_when(sandbox):
    sandbox.add_fault(Fault(method="GET", path="/api/v2/tags", status=429, headers={"Retry-After": "120"}))
    async with client_for(sandbox) as api:
        with pytest.raises(SipsimAPIError) as failure:
            await api.request(ep.LIST_TAGS)
    assert failure.value.status == 429 and failure.value.retry_after == 120
    assert len(api_requests(sandbox)) == 1


async def test_gets_are_retried_on_5xx_a_bounded_number_of_times(sandbox):
    sandbox.add_fault(Fault(method="GET", path="/api/v2/tags", status=503, times=100))
    waits = Waits()
    async with client_for(sandbox, waits) as api:
        with pytest.raises(SipsimAPIError) as failure:
            await api.request(ep.LIST_TAGS)
    assert failure.value.status == 503
    assert len(api_requests(sandbox)) == FAST_RETRY.attempts
    # backing off between tries: half to all of 0.05 s, 0.1 s, then 0.2 s (the longest it waits)
    assert all(ceiling / 2 <= wait <= ceiling for wait, ceiling in zip(waits, [0.05, 0.1, 0.2], strict=True))


async def test_a_post_is_never_sent_twice(sandbox):
    sandbox.add_fault(Fault(method="POST", path="/api/v2/tags", status=503, times=100))
    async with client_for(sandbox) as api:
        with pytest.raises(SipsimAPIError) as failure:
            await api.request(ep.CREATE_TAG, json_body={"name": "Once"})
        with pytest.raises(SipsimAPIError):
            await api.request(ep.CREATE_TAG, json_body={"name": "Twice"})  # a 429 on a write is not retried either
    assert failure.value.status == 503
    posts = api_requests(sandbox, "/api/v2/tags")
    assert [(r.method, r.body["name"]) for r in posts] == [("POST", "Once"), ("POST", "Twice")]


async def test_a_slow_get_times_out_and_is_retried(sandbox):
    sandbox.add_fault(Fault(method="GET", path="/api/v2/tags", delay=2.0))
    async with client_for(sandbox, timeout=0.5) as api:
        response = await api.request(ep.LIST_TAGS)
    assert response.status == 200
    # the simulator logs the abandoned first try once it sees the client leave, maybe after the retry
    for _ in range(500):
        if len(api_requests(sandbox)) >= 2:
            break
        await anyio.sleep(0.01)
    assert len(api_requests(sandbox)) == 2


async def test_a_malformed_body_is_a_clear_error(sandbox):
    sandbox.add_fault(Fault(method="GET", path="/api/v2/account", malformed=True))
    async with client_for(sandbox) as api:
        with pytest.raises(SipsimAPIError) as failure:
            await api.request(ep.GET_ACCOUNT)
    assert "not JSON" in str(failure.value)


async def test_a_failing_token_endpoint_is_retried(sandbox):
    sandbox.add_fault(Fault(path="/oauth/token", status=503, headers={"Retry-After": "0"}))
    waits = Waits()
    async with client_for(sandbox, waits) as api:
        assert (await api.request(ep.LIST_TAGS)).status == 200
    assert [r.status for r in token_requests(sandbox)] == [503, 200]
    assert len(waits) == 1


async def test_an_unreachable_api_is_a_clear_error():
    settings = load_settings(
        client_id="demo",
        client_secret="demo-secret",
        api_url="http://127.0.0.1:9/api/v2",
        token_url="http://127.0.0.1:9/oauth/token",
    )
    async with SipsimClient(settings, retry=FAST_RETRY) as api:
        with pytest.raises(TokenError) as failure:
            await api.request(ep.GET_ACCOUNT)
    assert "Could not reach the SIPSIM token endpoint" in str(failure.value)


@pytest.mark.parametrize("variable", ["api_url", "token_url"])
@pytest.mark.parametrize("url", ["http://app.sipsim.com/api/v2", "http://10.0.0.5:8080/x", "ftp://x/y"])
def test_plain_http_is_refused_off_loopback(variable, url):
    with pytest.raises(ConfigError) as failure:
        load_settings(**{variable: url})
    assert f"SIPSIM_{variable.upper()}" in str(failure.value)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/api/v2", "http://localhost/x", "http://[::1]:80/x", "http://127.8.9.1/x"]
)
def test_plain_http_is_allowed_on_loopback(url):
    assert load_settings(api_url=url).api_url == url.rstrip("/")


def test_missing_credentials_name_the_variables():
    with pytest.raises(ConfigError) as failure:
        SipsimClient(load_settings())
    assert "SIPSIM_CLIENT_ID" in str(failure.value) and "SIPSIM_CLIENT_SECRET" in str(failure.value)


def test_configuration_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("SIPSIM_CLIENT_ID", "abc")
    monkeypatch.setenv("SIPSIM_CLIENT_SECRET", "s3cr3t-value")
    monkeypatch.setenv("SIPSIM_SCOPES", "calls.read tags.read")
    monkeypatch.setenv("SIPSIM_TIMEOUT", "12.5")
    monkeypatch.setenv("SIPSIM_READ_ONLY", "true")
    monkeypatch.setenv("SIPSIM_TOOLS", "list_calls,get_call")
    monkeypatch.setenv("SIPSIM_DEFAULT_REGION", "fr")
    monkeypatch.setenv("SIPSIM_AUDIT_LOG", "${user_config.audit_log}")  # an unset bundle placeholder
    settings = load_settings()
    assert settings.client_id == "abc"
    assert settings.scopes == {"calls.read", "tags.read"}
    assert settings.timeout == 12.5
    assert settings.read_only is True
    assert settings.tools == {"list_calls", "get_call"}
    assert settings.default_region == "FR"
    assert settings.audit_log is None
    assert settings.api_url == "https://app.sipsim.com/api/v2"
    assert "s3cr3t-value" not in repr(settings) and "s3cr3t-value" not in str(settings)


def test_default_scopes_are_the_seven_of_the_auth_page():
    assert load_settings().scopes == set(
        ["account.read", "calls.read", "calls.write", "phones.read", "phones.write", "tags.read", "tags.write"]
    )


async def test_the_secret_and_tokens_never_appear_in_messages_or_logs(sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "demo-secret"
    texts: list[str] = []
    async with client_for(sandbox) as api:
        await api.request(ep.LIST_TAGS)
        sandbox.expire_tokens()
        await api.request(ep.LIST_TAGS)  # 401, new token, replay: all logged at DEBUG/INFO
        await api.fetch(ep.CREATE_TAG, Tag, json_body={"name": "Secretive"})
        texts += [repr(api.settings), repr(api.tokens.__dict__)]
        for failing in (
            api.request(ep.GET_CALL, path_params={"call_id": 1}),
            api.request(ep.CREATE_TAG, json_body={"name": "Secretive"}),
        ):
            with pytest.raises(SipsimAPIError) as failure:
                await failing
            texts.append(str(failure.value))
    async with client_for(sandbox, client_secret="demo-secret-but-wrong") as api:
        with pytest.raises(TokenError) as failure:
            await api.request(ep.LIST_TAGS)
        texts.append(str(failure.value))
    issued = [r for r in sandbox.requests if r.path == "/oauth/token" and r.status == 200]
    assert issued
    everything = "\n".join(texts + [record.getMessage() for record in caplog.records])
    assert secret not in everything and "demo-secret-but-wrong" not in everything
    assert all(r.body["client_secret"] == "[redacted]" for r in token_requests(sandbox))
    for token in sandbox.issued_tokens():
        assert token not in everything
