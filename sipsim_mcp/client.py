"""The SIPSIM v2 API client: one keep-alive `httpx.AsyncClient`, least-privilege tokens per request,
envelope decoding, keyset pagination and bounded retries of reads."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

import anyio
import httpx
from pydantic import BaseModel, ValidationError

from . import __version__
from .auth import ScopedAuth, TokenProvider
from .config import Settings
from .endpoints import Endpoint
from .errors import MissingScopeError, SipsimAPIError
from .models import ErrorEnvelope, Pagination, SuccessEnvelope
from .retry import RETRYABLE_STATUS, RetryPolicy, parse_retry_after

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
QueryValue = str | int | float | bool | datetime | list[str] | list[int] | tuple[Any, ...] | None


@dataclass(frozen=True)
class ApiResponse:
    """A decoded success envelope."""

    status: int
    request_id: str | None
    data: Any
    pagination: Pagination | None = None


def encode_query(params: Mapping[str, QueryValue]) -> dict[str, str]:
    """Query parameters as SIPSIM reads them: lists comma-separated, datetimes ISO 8601 UTC, None dropped."""
    encoded: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            encoded[key] = "true" if value else "false"
        elif isinstance(value, datetime):
            encoded[key] = value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        elif isinstance(value, list | tuple):
            if value:
                encoded[key] = ",".join(str(item) for item in value)
        else:
            encoded[key] = str(value)
    return encoded


class SipsimClient:
    """Talks to the SIPSIM v2 API. No call site touches tokens: `call()` picks the scope of the endpoint."""

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        client_id, client_secret = settings.require_credentials()
        self.settings = settings
        self._retry = retry or RetryPolicy()
        self._http = httpx.AsyncClient(
            base_url=settings.api_url,
            timeout=httpx.Timeout(settings.timeout),
            headers={"Accept": "application/json", "User-Agent": f"sipsim-mcp/{__version__}"},
            transport=transport,
        )
        self.tokens = TokenProvider(
            self._http,
            token_url=settings.token_url,
            client_id=client_id,
            client_secret=client_secret,
            retry=self._retry,
            clock=clock,
        )

    async def __aenter__(self) -> SipsimClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def scope_for(self, endpoint: Endpoint) -> str:
        """The configured scope this endpoint's token will carry, or MissingScopeError naming the choices."""
        scope = endpoint.scope_for(self.settings.scopes)
        if scope is None:
            needed = " or ".join(endpoint.scopes)
            raise MissingScopeError(
                f"{endpoint.method} {endpoint.path} needs the scope {needed}, which is not in SIPSIM_SCOPES. "
                f"If your SIPSIM integration has it, add it to SIPSIM_SCOPES.",
                missing=frozenset(endpoint.scopes),
            )
        return scope

    async def call(
        self,
        endpoint: Endpoint,
        *,
        path_params: Mapping[str, object] | None = None,
        params: Mapping[str, QueryValue] | None = None,
        json_body: Any = None,
    ) -> ApiResponse:
        """Send one request and decode the envelope. Reads are retried; writes are sent exactly once."""
        auth = ScopedAuth(self.tokens, frozenset({self.scope_for(endpoint)}))
        path = endpoint.render(**(path_params or {}))
        query = encode_query(params or {})
        retryable = endpoint.method == "GET"
        waited = 0.0
        for attempt in range(1, self._retry.attempts + 1):
            started = time.monotonic()
            try:
                response = await self._http.request(endpoint.method, path, params=query, json=json_body, auth=auth)
            except httpx.TransportError as exc:
                failure = SipsimAPIError(
                    method=endpoint.method,
                    path=path,
                    status=None,
                    errors=[f"could not reach SIPSIM ({type(exc).__name__}); check SIPSIM_API_URL and the network"],
                )
                wait = self._retry.backoff(attempt)
            else:
                logger.debug(
                    "%s %s -> %s in %.0f ms",
                    endpoint.method,
                    path,
                    response.status_code,
                    (time.monotonic() - started) * 1000,
                )
                if response.status_code not in RETRYABLE_STATUS:
                    return self._decode(response, endpoint.method, path)
                failure = self._error(response, endpoint.method, path)
                wait = failure.retry_after if failure.retry_after is not None else self._retry.backoff(attempt)
            if not retryable or attempt == self._retry.attempts or waited + wait > self._retry.budget:
                raise failure
            logger.info("%s; retrying in %.1f s (try %d of %d)", failure, wait, attempt + 1, self._retry.attempts)
            await anyio.sleep(wait)
            waited += wait
        raise AssertionError("unreachable")  # pragma: no cover

    async def pages(
        self,
        endpoint: Endpoint,
        *,
        params: Mapping[str, QueryValue] | None = None,
        limit: int = 1000,
        page: str | None = None,
    ) -> AsyncIterator[ApiResponse]:
        """Each page of a list endpoint in turn, following the keyset `page` token until `has_more` is false."""
        while True:
            response = await self.call(endpoint, params={**(params or {}), "limit": limit, "page": page})
            yield response
            pagination = response.pagination
            if pagination is None or not pagination.has_more or not pagination.page:
                return
            page = pagination.page

    async def items(
        self, endpoint: Endpoint, model: type[M], *, params: Mapping[str, QueryValue] | None = None
    ) -> AsyncIterator[M]:
        """Every item of a list endpoint, across all pages, decoded as `model`."""
        async for response in self.pages(endpoint, params=params):
            for item in response.data or []:
                yield model.model_validate(item)

    async def fetch(
        self,
        endpoint: Endpoint,
        model: type[M],
        *,
        path_params: Mapping[str, object] | None = None,
        params: Mapping[str, QueryValue] | None = None,
        json_body: Any = None,
    ) -> tuple[M, ApiResponse]:
        """`call()` and decode `data` as `model`."""
        response = await self.call(endpoint, path_params=path_params, params=params, json_body=json_body)
        try:
            return model.model_validate(response.data), response
        except ValidationError as exc:
            raise SipsimAPIError(
                method=endpoint.method,
                path=endpoint.render(**(path_params or {})),
                status=response.status,
                errors=[f"unexpected response data for {model.__name__}: {exc.error_count()} field error(s)"],
                request_id=response.request_id,
            ) from None

    def _decode(self, response: httpx.Response, method: str, path: str) -> ApiResponse:
        if response.status_code >= 400:
            raise self._error(response, method, path)
        if response.status_code == 204 or not response.content:
            return ApiResponse(status=response.status_code, request_id=_header_request_id(response), data=None)
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise SipsimAPIError(
                method=method,
                path=path,
                status=response.status_code,
                errors=["SIPSIM answered with a body that is not JSON; try again, and report it if it persists"],
                request_id=_header_request_id(response),
            ) from None
        request_id = _header_request_id(response)
        if isinstance(body, dict) and isinstance(body.get("request_id"), str):
            request_id = body["request_id"]
        try:
            if not (isinstance(body, dict) and "data" in body):
                raise ValueError("not an envelope")
            envelope = SuccessEnvelope.model_validate(body)
        except ValueError:  # a 2xx is SIPSIM's answer whatever its shape: the caller decides what it means
            return ApiResponse(status=response.status_code, request_id=request_id, data=body)
        return ApiResponse(
            status=envelope.status,
            request_id=envelope.request_id or request_id,
            data=envelope.data,
            pagination=envelope.pagination,
        )

    def _error(self, response: httpx.Response, method: str, path: str) -> SipsimAPIError:
        try:
            envelope = ErrorEnvelope.model_validate_json(response.content)
            errors = envelope.errors or [str(m) for m in (envelope.model_extra or {}).values() if isinstance(m, str)]
            request_id = envelope.request_id
        except ValidationError:
            errors, request_id = [f"HTTP {response.status_code} {response.reason_phrase}".strip()], None
        return SipsimAPIError(
            method=method,
            path=path,
            status=response.status_code,
            errors=errors,
            request_id=request_id or _header_request_id(response),
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )


def _header_request_id(response: httpx.Response) -> str | None:
    return response.headers.get("X-Request-Id")
