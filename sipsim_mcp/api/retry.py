"""Bounded retries with exponential backoff that honours `Retry-After`, written once as a flow (`retrying`)."""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import anyio

logger = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """At most `attempts` tries and `budget` seconds of waiting in all; `sleep` waits between tries."""

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    budget: float = 30.0
    sleep: Callable[[float], Awaitable[None]] = field(default=anyio.sleep, compare=False, repr=False)

    def backoff(self, attempt: int) -> float:
        """Delay before try `attempt + 1` (attempt counts from 1): exponential with jitter."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return ceiling * (0.5 + random.random() / 2)


@dataclass(frozen=True)
class Failed:
    """A try that failed in a way another try may mend: the error, and the wait the server asked for."""

    error: Exception
    retry_after: float | None = None


def retrying(policy: RetryPolicy, *, retry: bool = True) -> Generator[float | None, Failed, None]:
    """The retry policy as a flow, in the manner of an httpx auth flow: it yields before each try the seconds
    to wait (None before the first) and is sent each retryable failure; when no try is left (`retry` false:
    a write, never sent twice), or the wait would overrun the budget, it raises the failure's error. The
    caller makes the tries and stops asking once one succeeds (or fails in a way no retry mends).

        tries = retrying(policy)
        wait = next(tries)
        while True:
            if wait is not None:
                await policy.sleep(wait)
            ...  # try: return on success, raise what no retry mends
            wait = tries.send(Failed(error, retry_after))
    """
    wait: float | None = None
    waited = 0.0
    for attempt in range(1, policy.attempts + 1):
        failed = yield wait
        wait = failed.retry_after if failed.retry_after is not None else policy.backoff(attempt)
        if not retry or attempt == policy.attempts or waited + wait > policy.budget:
            raise failed.error
        logger.info("%s; retrying in %.1f s (try %d of %d)", failed.error, wait, attempt + 1, policy.attempts)
        waited += wait


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or HTTP-date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
