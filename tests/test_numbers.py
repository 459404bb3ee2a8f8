"""Tests for sipsim_mcp.api.numbers: written forms to E.164, errors, formatting and regions."""

from __future__ import annotations

import pytest

from sipsim_mcp.api.numbers import NumberError, format_number, looks_like_number, normalize_number, parse_region


@pytest.mark.parametrize(
    ("text", "region", "e164"),
    [
        # France
        ("+33 6 12 34 56 78", None, "+33612345678"),
        ("+33612345678", None, "+33612345678"),
        ("+33 (0)6 12 34 56 78", None, "+33612345678"),
        ("0033612345678", None, "+33612345678"),
        ("00 33 6 12 34 56 78", "US", "+33612345678"),
        ("06.12.34.56.78", "FR", "+33612345678"),
        ("06 12 34 56 78", "fr", "+33612345678"),
        ("06-12-34-56-78", "FR", "+33612345678"),
        ("tel:+33612345678", None, "+33612345678"),
        ("TEL:+33-6-12-34-56-78", None, "+33612345678"),
        ("  +33 1 23 45 67 89  ", None, "+33123456789"),
        # United States
        ("(212) 555-0142", "US", "+12125550142"),
        ("212-555-0142", "US", "+12125550142"),
        ("+1 212 555 0142", None, "+12125550142"),
        ("001 212 555 0142", None, "+12125550142"),
        ("011 33 6 12 34 56 78", "US", "+33612345678"),
        ("1 (212) 555-0142", "US", "+12125550142"),
        ("tel:+1-212-555-0142", None, "+12125550142"),
        # Germany
        ("030 1234567", "DE", "+49301234567"),
        ("+49 30 1234567", None, "+49301234567"),
        ("+49 (0)30 1234567", None, "+49301234567"),
        ("0049 30 1234567", None, "+49301234567"),
        ("0151 23456789", "DE", "+4915123456789"),
        ("030/1234567", "DE", "+49301234567"),
        # United Kingdom
        ("020 7946 0018", "GB", "+442079460018"),
        ("+44 (0)20 7946 0018", None, "+442079460018"),
        ("0044 20 7946 0018", None, "+442079460018"),
        ("07700 900123", "GB", "+447700900123"),
        ("07700 900123", "uk", "+447700900123"),
        # A number with country code ignores the default region.
        ("+44 20 7946 0018", "FR", "+442079460018"),
    ],
)
def test_normalize_number(text: str, region: str | None, e164: str) -> None:
    assert normalize_number(text, region) == e164


def test_possible_but_unassigned_numbers_are_accepted() -> None:
    # +33 9 99... is a possible French length even if phonenumbers' metadata does not list the range.
    assert normalize_number("+33 9 99 99 99 99") == "+33999999999"


@pytest.mark.parametrize("text", ["06 12 34 56 78", "(212) 555-0142", "020 7946 0018"])
def test_national_form_without_region(text: str) -> None:
    with pytest.raises(NumberError) as info:
        normalize_number(text)
    message = str(info.value)
    assert repr(text) in message
    assert "country code" in message
    assert "SIPSIM_DEFAULT_REGION" in message


@pytest.mark.parametrize("text", ["", "   ", None])
def test_empty(text: str | None) -> None:
    with pytest.raises(NumberError, match="empty"):
        normalize_number(text, "FR")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "region"),
    [
        ("hello", None),
        ("hello", "FR"),
        ("Jean Dupont", "FR"),
        ("1-800-FLOWERS", "US"),
        ("+1 212 555 0142 ext 12", None),
        ("+33 6 12 34 56 78 #", None),
        ("6+33 12 34 56 78", None),
        ("+", None),
        ("tel:", None),
    ],
)
def test_garbage(text: str, region: str | None) -> None:
    with pytest.raises(NumberError, match="not a phone number") as info:
        normalize_number(text, region)
    assert "+33612345678" in str(info.value)


@pytest.mark.parametrize(
    ("text", "region", "reason"),
    [
        ("+33 6 12", None, "too short"),
        ("12345", "FR", "too short"),
        ("06 12", "FR", "too short"),
        ("+33 6 12 34 56 78 90 12", None, "too long"),
        ("+1 212 555 01", None, "too short"),
        ("555-0142", "US", "without its area code"),
        ("+999 1234567", None, "unknown country code"),
        ("+49 1", None, "too short"),
        ("+44 20 7946 0018 1234567", None, "too long"),
        ("+123456789012345678901", None, "too long"),
    ],
)
def test_not_possible(text: str, region: str | None, reason: str) -> None:
    with pytest.raises(NumberError, match=reason) as info:
        normalize_number(text, region)
    message = str(info.value)
    assert repr(text) in message
    assert "+33612345678" in message


def test_unknown_default_region() -> None:
    with pytest.raises(NumberError, match="Unknown region 'XX'"):
        normalize_number("06 12 34 56 78", "XX")


@pytest.mark.parametrize(
    ("e164", "human"),
    [
        ("+33612345678", "+33 6 12 34 56 78"),
        ("+12125550142", "+1 212-555-0142"),
        ("+49301234567", "+49 30 1234567"),
        ("+442079460018", "+44 20 7946 0018"),
    ],
)
def test_format_number(e164: str, human: str) -> None:
    assert format_number(e164) == human


@pytest.mark.parametrize("text", ["garbage", "", "0612345678", "+999"])
def test_format_number_returns_unparsable_input_unchanged(text: str) -> None:
    assert format_number(text) == text


@pytest.mark.parametrize(
    ("code", "region"),
    [
        ("FR", "FR"),
        ("fr", "FR"),
        (" us ", "US"),
        ("De", "DE"),
        ("GB", "GB"),
        ("uk", "GB"),
        (None, None),
        ("", None),
    ],
)
def test_parse_region(code: str | None, region: str | None) -> None:
    assert parse_region(code) == region


@pytest.mark.parametrize("code", ["XX", "FRA", "france", "1", "EU"])
def test_parse_region_unknown(code: str) -> None:
    with pytest.raises(NumberError) as info:
        parse_region(code)
    message = str(info.value)
    assert repr(code) in message
    assert "ISO 3166" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+33 6 12 34 56 78", True),
        ("0612345678", True),
        ("06.12.34.56.78", True),
        ("(212) 555-0142", True),
        ("tel:+33612345678", True),
        ("123456", True),
        ("12345", False),
        ("+33 6", False),
        ("Jean Dupont", False),
        ("Dupont 0612345678", False),
        ("ACME Corp", False),
        ("", False),
        ("   ", False),
    ],
)
def test_looks_like_number(text: str, expected: bool) -> None:
    assert looks_like_number(text) is expected
