"""Callers' names for live calls: a webhook names no one (SIPSIM sends numbers only), so a number's name is
read from the newest call of the history that shows one, and kept for a while. A number SIPSIM never named,
a missing `calls.read` scope or an API that fails costs the name only, never the live call."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from ..api import endpoints as ep
from ..api.client import QueryValue, SipsimClient
from ..api.errors import SipsimError
from ..api.models import Call
from ..api.numbers import number_key

#: Seconds a name (or the absence of one) is kept; a failed look-up is tried again sooner.
KEEP_SECONDS = 600.0
RETRY_SECONDS = 30.0
#: How far back the history is searched, and how many of a number's calls are looked at.
LOOK_BACK = timedelta(days=90)
LOOK_AT = 20  # the smallest page SIPSIM serves
#: Look-ups at once, and most names kept.
AT_ONCE = 4
MOST = 5000


class CallerNames:
    """Names of phone numbers as SIPSIM's call history shows them (the `caller_name` of their calls)."""

    def __init__(
        self, api: SipsimClient, now: Callable[[], datetime], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._api = api
        self._now = now
        self._clock = clock
        self._known: dict[str, tuple[float, str | None]] = {}
        self._gate = asyncio.Semaphore(AT_ONCE)

    @property
    def usable(self) -> bool:
        return ep.LIST_CALLS.scope_for(self._api.settings.scopes) is not None

    async def names(self, numbers: Iterable[str | None]) -> dict[str, str]:
        """The known name of each number (numbers without one are left out)."""
        wanted = {key: number for number in numbers if number and (key := number_key(number))}
        if not wanted or not self.usable:
            return {}
        now = self._clock()
        stale = [number for key, number in wanted.items() if self._known.get(key, (0.0, None))[0] <= now]
        if stale:
            await asyncio.gather(*(self._look_up(number) for number in stale))
        found = {number: self._known.get(key, (0.0, None))[1] for key, number in wanted.items()}
        return {number: name for number, name in found.items() if name}

    async def _look_up(self, number: str) -> None:
        key = number_key(number)
        assert key is not None
        params: dict[str, QueryValue] = {"search": number, "limit": LOOK_AT, "start_time": self._now() - LOOK_BACK}
        async with self._gate:
            try:
                page = await self._api.request(ep.LIST_CALLS, params=params)
            except SipsimError:
                self._remember(key, None, RETRY_SECONDS)
                return
        name = None
        for index, raw in enumerate(page.items()):
            try:
                call = page.read(Call, raw, f"data.{index}")
            except SipsimError:
                continue
            if call.caller_name and number_key(call.caller_number) == key:
                name = call.caller_name
                break
        self._remember(key, name, KEEP_SECONDS)

    def _remember(self, key: str, name: str | None, seconds: float) -> None:
        if len(self._known) >= MOST:
            self._known.clear()
        self._known[key] = (self._clock() + seconds, name)
