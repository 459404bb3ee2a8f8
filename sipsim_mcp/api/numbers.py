"""Phone numbers in any common written form, normalised to E.164 with ``phonenumbers``."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from .errors import UserError

__all__ = [
    "NumberError",
    "display_number",
    "format_number",
    "looks_like_number",
    "normalize_number",
    "number_key",
    "parse_region",
]

ACCEPTED = (
    "Write the number in E.164 form with its country code, like +33612345678 (spaces, dots, dashes, "
    "brackets, a '00' international prefix and a 'tel:' prefix are fine), or in national form like "
    "06 12 34 56 78 when SIPSIM_DEFAULT_REGION is set (e.g. FR)."
)

_REGION_ALIASES = {"UK": "GB"}
_TEL_PREFIX = re.compile(r"^tel:(//)?", re.IGNORECASE)
_ALLOWED = re.compile(r"\+?[\d\s().\-/]+")
_SEPARATORS = re.compile(r"[\s().\-/]")


@cache
def _lib() -> Any:
    """``phonenumbers``, imported on first use (a server that only starts or lists does not pay for it)."""
    import phonenumbers

    return phonenumbers


@cache
def _explanations() -> tuple[dict[int, str], dict[int, str]]:
    """Why a number is not possible, and why it could not be parsed, in words."""
    result, error = _lib().ValidationResult, _lib().NumberParseException
    reasons = {
        result.TOO_SHORT: "too short",
        result.TOO_LONG: "too long",
        result.INVALID_LENGTH: "not a possible length for its country",
        result.INVALID_COUNTRY_CODE: "an unknown country code",
        result.IS_POSSIBLE_LOCAL_ONLY: "a local number without its area code",
    }
    parse_errors = {
        error.INVALID_COUNTRY_CODE: "unknown country code",
        error.NOT_A_NUMBER: "not a number",
        error.TOO_SHORT_AFTER_IDD: "too short after the international prefix",
        error.TOO_SHORT_NSN: "too short",
        error.TOO_LONG: "too long",
    }
    return reasons, parse_errors


class NumberError(UserError, ValueError):
    """A phone number or region that cannot be used; the message says why and what is accepted."""


def parse_region(code: str | None) -> str | None:
    """Validate an ISO 3166 alpha-2 region ("fr" -> "FR"); None or blank gives None."""
    if code is None or not code.strip():
        return None
    region = code.strip().upper()
    region = _REGION_ALIASES.get(region, region)
    if region not in _lib().SUPPORTED_REGIONS:
        raise NumberError(f"Unknown region {code!r}: use an ISO 3166 alpha-2 country code such as FR, US, DE or GB.")
    return region


def normalize_number(text: str, default_region: str | None = None) -> str:
    """Return ``text`` as E.164 ("+33612345678"); NumberError if it is not a possible phone number.

    National forms need ``default_region``. Possible but unassigned numbers are accepted, since
    ``phonenumbers`` metadata lags behind real-world allocations.
    """
    region = parse_region(default_region)
    raw = (text or "").strip()
    if not raw:
        raise NumberError(f"The phone number is empty. {ACCEPTED}")
    cleaned = _TEL_PREFIX.sub("", raw).strip()
    if not _ALLOWED.fullmatch(cleaned):
        raise NumberError(
            f"{raw!r} is not a phone number: only digits, a leading '+' and separators "
            f"(spaces . - / ( )) are allowed. {ACCEPTED}"
        )
    compact = _SEPARATORS.sub("", cleaned)
    if compact.startswith("00"):
        cleaned = "+" + compact[2:]
    if not cleaned.startswith("+") and region is None:
        raise NumberError(
            f"{raw!r} is in national form and no default region is set: write it with its country code "
            "(e.g. +33 6 12 34 56 78) or set SIPSIM_DEFAULT_REGION (e.g. FR)."
        )
    phonenumbers = _lib()
    reasons, parse_errors = _explanations()
    try:
        number = phonenumbers.parse(cleaned, region)
    except phonenumbers.NumberParseException as exc:
        why = parse_errors.get(exc.error_type, "unreadable")
        raise NumberError(f"{raw!r} is not a valid phone number ({why}). {ACCEPTED}") from exc
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason != phonenumbers.ValidationResult.IS_POSSIBLE and not phonenumbers.is_valid_number(number):
        where = f"+{number.country_code}"
        raise NumberError(
            f"{raw!r} is not a possible phone number for {where}: it is "
            f"{reasons.get(reason, 'not possible')}. {ACCEPTED}"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def format_number(e164: str) -> str:
    """Human form for confirmations ("+33 6 12 34 56 78"); the input unchanged if it cannot be parsed."""
    phonenumbers = _lib()
    try:
        number = phonenumbers.parse(e164, None)
    except (phonenumbers.NumberParseException, TypeError):
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def looks_like_number(text: str) -> bool:
    """True when ``text`` is only digits, '+' and separators with at least 6 digits (a number, not a name)."""
    cleaned = _TEL_PREFIX.sub("", (text or "").strip()).strip()
    return bool(_ALLOWED.fullmatch(cleaned)) and sum(c.isdigit() for c in cleaned) >= 6


def number_key(text: str | None) -> str | None:
    """What two spellings of one number share (+33612345678, 33612345678, 0612345678): its last 9 digits,
    or all of them when shorter. For comparing numbers SIPSIM returns, whose form is INFERRED."""
    digits = "".join(ch for ch in text or "" if ch.isdigit())
    return digits[-9:] or None


def display_number(text: str | None, default_region: str | None = None) -> str | None:
    """A number SIPSIM returned, in E.164 when it came without its '+' (33612345678) or in national form and
    can be read as a possible number; otherwise unchanged."""
    if not text or text.startswith("+") or not text.isdigit():
        return text
    phonenumbers = _lib()
    for candidate, region in ((text, default_region), ("+" + text.removeprefix("00"), None)):
        if region is None and not candidate.startswith("+"):
            continue
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return text
