"""The SIPSIM v2 API client: one keep-alive `httpx.AsyncClient`, least-privilege tokens per request,
envelope decoding, keyset pagination and bounded retries of reads."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cache, cached_property
from typing import Any, TypeVar

import anyio
import httpx
from pydantic import BaseModel, ValidationError
from pydantic_core import from_json

from .. import __version__
from .auth import ScopedAuth, TokenProvider
from .config import Settings
from .endpoints import Endpoint
from .errors import MissingScopeError, ResponseShapeError, SipsimAPIError, TokenError, shape_problems
from .models import ErrorEnvelope, ListEnvelope, Pagination, SipsimModel, SuccessEnvelope
from .retry import RETRYABLE_STATUS, Failed, RetryPolicy, parse_retry_after, retrying

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
    method: str = "GET"
    path: str = ""
    raw: Any = field(default=None, repr=False)  # the decoded body as sent (for doctor --probe; None when typed)

    def items(self) -> list[Any]:
        """`data` of a list response; ResponseShapeError if it is not a list."""
        if self.data is None:
            return []
        if not isinstance(self.data, list):
            raise self.shape_error([f"data: expected a list, got {type(self.data).__name__}"])
        return self.data

    def shape_error(self, fields: list[str]) -> ResponseShapeError:
        return ResponseShapeError(
            method=self.method, path=self.path, status=self.status, fields=fields, request_id=self.request_id
        )

    def read(self, model: type[M], item: Any, where: str = "data") -> M:
        """`item` (a part of `data`) decoded as `model`; ResponseShapeError naming the fields that did not fit."""
        try:
            return model.model_validate(item)
        except ValidationError as exc:
            raise self.shape_error(shape_problems(exc.errors(include_url=False), where)) from None

    def next_page(self, requested_limit: int, previous: str | None = None) -> tuple[str | None, bool]:
        """The token of the next page (None at the end), and whether more calls may exist that cannot be
        fetched: a full page without pagination, `has_more` without a token, or a token that repeats."""
        count = len(self.data) if isinstance(self.data, list) else 0
        pagination = self.pagination
        full = count >= (pagination.limit if pagination and pagination.limit else requested_limit) > 0
        if pagination is None:
            return None, full
        if pagination.has_more is False:
            return None, False
        if pagination.page and pagination.page != previous:
            return pagination.page, False
        return None, bool(pagination.has_more) or (pagination.has_more is None and full) or bool(pagination.page)


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
    """Talks to the SIPSIM v2 API. No call site touches tokens: `request()` picks the scope of the endpoint."""

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._credentials = settings.require_credentials()
        self.settings = settings
        self._retry = retry or RetryPolicy()
        self._transport = transport
        self._clock = clock

    @cached_property
    def _http(self) -> httpx.AsyncClient:
        """Created on first use: a server that is only listed never loads TLS certificates."""
        return httpx.AsyncClient(
            base_url=self.settings.api_url,
            timeout=httpx.Timeout(self.settings.timeout),
            headers={"Accept": "application/json", "User-Agent": f"sipsim-mcp/{__version__}"},
            transport=self._transport,
        )

    @cached_property
    def tokens(self) -> TokenProvider:
        client_id, client_secret = self._credentials
        return TokenProvider(
            self._http,
            token_url=self.settings.token_url,
            client_id=client_id,
            client_secret=client_secret,
            retry=self._retry,
            clock=self._clock,
        )

    async def __aenter__(self) -> SipsimClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if "_http" in self.__dict__:
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

    async def request(
        self,
        endpoint: Endpoint,
        *,
        path_params: Mapping[str, object] | None = None,
        params: Mapping[str, QueryValue] | None = None,
        json_body: Any = None,
        items: type[SipsimModel] | None = None,
    ) -> ApiResponse:
        """Send one request and decode the envelope. Reads are retried; writes are sent exactly once. With
        `items`, a list response whose items all fit that model has them read as such in one pass; otherwise
        `data` holds them as sent (to be read one by one).

        Where the docs disagree on the scope (`calls.create` or `calls.write`), a 403 (or a scope SIPSIM does
        not grant) with one configured scope leads to one try with the other: nothing was done the first time.
        A write that takes longer than `write_deadline` in all is abandoned (SipsimAPIError without a status).
        A redirect is an error: SIPSIM's API does not redirect, so it names a wrong URL or a login page.
        """
        self.scope_for(endpoint)
        path = endpoint.render(**(path_params or {}))
        query = encode_query(params or {})
        if endpoint.method == "GET":
            return await self._scoped(endpoint, path, query, json_body, items)
        with anyio.move_on_after(self.write_deadline):
            return await self._scoped(endpoint, path, query, json_body, items)
        raise SipsimAPIError(
            method=endpoint.method,
            path=path,
            status=None,
            errors=[f"SIPSIM did not answer within {self.write_deadline:g} s (SIPSIM_TIMEOUT, the whole request)"],
        )

    @property
    def write_deadline(self) -> float:
        """Seconds a write may take in all (token, connect, send and the whole answer): after it, the request is
        abandoned and its outcome unknown. A read's deadline is per step (each connect, write or read)."""
        return self.settings.timeout

    async def _scoped(
        self,
        endpoint: Endpoint,
        path: str,
        query: dict[str, str],
        json_body: Any,
        items: type[SipsimModel] | None,
    ) -> ApiResponse:
        """The request, with the next configured scope when SIPSIM refused the first (see `request`)."""
        choices = [scope for scope in endpoint.scopes if scope in self.settings.scopes]
        for index, scope in enumerate(choices):
            last = index == len(choices) - 1
            try:
                return await self._send(endpoint, scope, path, query, json_body, items)
            except MissingScopeError:
                if last:
                    raise
            except TokenError as exc:
                if exc.error != "invalid_scope" or last:
                    raise
            except SipsimAPIError as exc:
                if exc.status != 403 or last:
                    exc.scopes_tried = tuple(choices[: index + 1])
                    raise
            logger.info("%s %s refused with the scope %s; trying %s", endpoint.method, path, scope, choices[index + 1])
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(
        self,
        endpoint: Endpoint,
        scope: str,
        path: str,
        query: dict[str, str],
        json_body: Any,
        items: type[SipsimModel] | None = None,
    ) -> ApiResponse:
        auth = ScopedAuth(self.tokens, frozenset({scope}))
        tries = retrying(self._retry, retry=endpoint.method == "GET")  # a write is sent once
        wait = next(tries)
        while True:
            if wait is not None:
                await self._retry.sleep(wait)
            started = time.monotonic()
            try:
                response = await self._http.request(endpoint.method, path, params=query, json=json_body, auth=auth)
            except httpx.TransportError as exc:
                unreachable = SipsimAPIError(
                    method=endpoint.method,
                    path=path,
                    status=None,
                    errors=[f"could not reach SIPSIM ({type(exc).__name__}); check SIPSIM_API_URL and the network"],
                )
                wait = tries.send(Failed(unreachable))
                continue
            logger.debug(
                "%s %s -> %s in %.0f ms",
                endpoint.method,
                path,
                response.status_code,
                (time.monotonic() - started) * 1000,
            )
            if response.status_code not in RETRYABLE_STATUS:
                return self._decode(response, endpoint.method, path, items)
            failure = self._error(response, endpoint.method, path)
            wait = tries.send(Failed(failure, failure.retry_after))

    async def pages(
        self,
        endpoint: Endpoint,
        *,
        params: Mapping[str, QueryValue] | None = None,
        limit: int = 1000,
        page: str | None = None,
    ) -> AsyncGenerator[ApiResponse, None]:
        """Each page of a list endpoint in turn, following the keyset `page` token while SIPSIM gives one
        (unless `has_more` is false)."""
        while True:
            response = await self.request(endpoint, params={**(params or {}), "limit": limit, "page": page})
            yield response
            page, uncertain = response.next_page(limit, page)
            if uncertain:
                logger.warning(
                    "%s %s: SIPSIM gave no next page token; the list may be incomplete", endpoint.method, endpoint.path
                )
            if page is None:
                return

    async def items(
        self, endpoint: Endpoint, model: type[M], *, params: Mapping[str, QueryValue] | None = None
    ) -> AsyncIterator[M]:
        """Every item of a list endpoint, across all pages, decoded as `model` (an item that cannot be read
        is left out and logged, never the whole list)."""
        async for response in self.pages(endpoint, params=params):
            for index, item in enumerate(response.items()):
                try:
                    yield response.read(model, item, f"data.{index}")
                except ResponseShapeError as exc:
                    logger.warning("%s", exc)

    async def fetch(
        self,
        endpoint: Endpoint,
        model: type[M],
        *,
        path_params: Mapping[str, object] | None = None,
        params: Mapping[str, QueryValue] | None = None,
        json_body: Any = None,
    ) -> tuple[M, ApiResponse]:
        """`request()` and decode `data` as `model`."""
        response = await self.request(endpoint, path_params=path_params, params=params, json_body=json_body)
        return response.read(model, response.data), response

    def _decode(
        self, response: httpx.Response, method: str, path: str, items: type[SipsimModel] | None = None
    ) -> ApiResponse:
        if response.status_code >= 300:
            raise self._error(response, method, path)
        request_id = _header_request_id(response)
        if response.status_code == 204 or not response.content:
            return ApiResponse(response.status_code, request_id, None, method=method, path=path)
        if items is not None:
            try:
                page = _listed(items).model_validate_json(response.content)
            except ValidationError:
                pass  # not an envelope, or an item that does not fit: read below as plain JSON
            else:
                return _enveloped(response, page, request_id, method, path)
        try:
            body = _parse(response)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise SipsimAPIError(
                method=method,
                path=path,
                status=response.status_code,
                errors=["SIPSIM answered with a body that is not JSON; try again, and report it if it persists"],
                request_id=request_id,
            ) from None
        if isinstance(body, dict) and isinstance(body.get("request_id"), str):
            request_id = body["request_id"]
        try:
            if not (isinstance(body, dict) and "data" in body):
                raise ValueError("not an envelope")
            envelope = SuccessEnvelope.model_validate(body)
        except ValueError:  # a 2xx is SIPSIM's answer whatever its shape: the caller decides what it means
            return ApiResponse(response.status_code, request_id, body, method=method, path=path, raw=body)
        return _enveloped(response, envelope, request_id, method, path, raw=body)

    def _error(self, response: httpx.Response, method: str, path: str) -> SipsimAPIError:
        errors: list[str] = []
        request_id = None
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if isinstance(body, dict):
            envelope = ErrorEnvelope.model_validate(body)
            errors, request_id = envelope.messages(), envelope.request_id
        elif isinstance(body, list | str):
            errors = ErrorEnvelope(errors=body).messages()
        errors = errors or [f"HTTP {response.status_code} {response.reason_phrase}".strip()]
        return SipsimAPIError(
            method=method,
            path=path,
            status=response.status_code,
            errors=errors,
            request_id=request_id or _header_request_id(response),
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )


def _enveloped(
    response: httpx.Response, envelope: SuccessEnvelope, request_id: str | None, method: str, path: str, raw: Any = None
) -> ApiResponse:
    """The response of a success envelope (its own request id first, else the header's)."""
    return ApiResponse(
        status=response.status_code,
        request_id=envelope.request_id or request_id,
        data=envelope.data,
        pagination=envelope.pagination,
        method=method,
        path=path,
        raw=raw,
    )


@cache
def _listed(items: type[SipsimModel]) -> type[ListEnvelope[Any]]:
    """The envelope of a list of `items`, kept here: pydantic keeps a parametrized model only while something
    refers to it, and builds its validator again each time it makes it anew."""
    return ListEnvelope[items]  # type: ignore[valid-type]


def _parse(response: httpx.Response) -> Any:
    """The JSON body, parsed from its bytes by pydantic's parser (a 1000-call page in about half the time of
    `json`); a body that parser refuses (not UTF-8, say) is parsed as `httpx` would, with its errors."""
    try:
        return from_json(response.content, cache_strings="keys")
    except ValueError:
        return response.json()


def _header_request_id(response: httpx.Response) -> str | None:
    return response.headers.get("X-Request-Id")
