"""The typed models read the SIPSIM docs' own examples, and keep fields the docs do not show."""

from __future__ import annotations

import pytest

from sipsim_mcp.api.models import (
    WEBHOOK_EVENTS,
    CallEventPayload,
    ErrorEnvelope,
    Phone,
    RatingEventPayload,
    SmsEventPayload,
    SpeechEventPayload,
    SuccessEnvelope,
    SummaryEventPayload,
    Tag,
    TagsEventPayload,
    TestEventPayload,
    TokenResponse,
    Transcription,
    parse_webhook,
)

PHONE = {
    "id": 123,
    "name": "Sales Department Phone",
    "status": "active",
    "internal_number": 101,
    "number": "+33612345678",
    "created_at": "2024-01-15T10:30:00Z",
    "updated_at": "2024-06-20T14:45:00Z",
    "group": {"group_id": 5, "group_title": "Sales Team"},
    "outbound_setting": {
        "outbound_number": "+33987654321",
        "use_different_outbound_number": False,
        "outbound_number_phone_id": None,
    },
    "record_setting": {"record_inbound_call": True, "record_outbound_call": True},
    "voicemail_setting": {"allow_voicemail": True, "voicemail_file_id": None},
    "forwarding_setting": {
        "forced": {"enabled": False, "forward_number": None},
        "conditional": {"enabled": True, "timeout_seconds": 25, "forward_number": "+33555888999"},
    },
    "audio_setting": {
        "inbound_call_preroll_id": None,
        "outbound_call_preroll_id": None,
        "no_answer_file_id": None,
        "wait_preroll_dial": 0,
    },
}


def test_the_documented_phone_example():
    phone = Phone.model_validate(PHONE)
    assert phone.group.group_title == "Sales Team"
    assert phone.forwarding_setting.conditional.timeout_seconds == 25
    assert phone.record_setting.record_inbound_call is True


def test_unknown_fields_are_kept_at_every_level():
    phone = Phone.model_validate({**PHONE, "sip_login": "u101", "group": {**PHONE["group"], "color": "blue"}})
    assert phone.model_extra == {"sip_login": "u101"}
    assert phone.group.model_extra == {"color": "blue"}
    assert phone.model_dump(mode="json")["sip_login"] == "u101"


def test_the_documented_envelopes_and_token_response():
    success = SuccessEnvelope.model_validate(
        {
            "status": 200,
            "request_id": "550e8400-e29b-41d4-a716-446655440000",
            "timestamp": "2024-01-15T10:30:00Z",
            "data": [{"id": 1, "name": "Important", "color": "#FF0000"}],
            "pagination": {"count": 2, "limit": 1000, "has_more": False},
        }
    )
    assert [Tag.model_validate(t).name for t in success.data] == ["Important"]
    assert success.pagination.has_more is False and success.pagination.page is None
    error = ErrorEnvelope.model_validate(
        {"status": 409, "errors": ["Tag with this name already exists"], "request_id": "x", "path": "/api/v2/tags"}
    )
    assert error.errors == ["Tag with this name already exists"] and error.path == "/api/v2/tags"
    token = TokenResponse.model_validate(
        {
            "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
            "token_type": "Bearer",
            "expires_in": 7200,
            "scope": "account.read calls.read phones.read",
            "created_at": 1705312200,
        }
    )
    assert token.expires_in == 7200 and "eyJ" not in repr(token)


def test_a_transcription_with_its_segments():
    text = Transcription.model_validate(
        {
            "speech_state": "speech_recognized",
            "payload": [{"channel": 0, "start": 0.0, "end": 2.5, "text": "Bonjour, société SIPSIM"}],
        }
    )
    assert text.payload[0].text.startswith("Bonjour")


@pytest.mark.parametrize(
    ("body", "model"),
    [
        (
            {
                "event": "incoming_call_end",
                "caller": "+33612345678",
                "receiver": "+33184880101",
                "time": "2024-01-15T10:30:00Z",
                "pbx_id": "call_abc123",
                "duration": 120,
                "audio_path": "https://app.sipsim.com/recordings/call_abc123.mp3",
                "status": "ANSWER",
            },
            CallEventPayload,
        ),
        (
            {
                "event": "tags",
                "caller": "+33612345678",
                "receiver": "+33184880101",
                "time": "2024-01-15T10:30:00Z",
                "pbx_id": "call_abc123",
                "tags": ["VIP", "Lead"],
            },
            TagsEventPayload,
        ),
        (
            {
                "call_id": 12345,
                "speech_state": "speech_stored",
                "payload": [{"text": "Bonjour", "start": 0.1, "end": 1.2, "start_sec": 0.1, "channel": "left"}],
            },
            SpeechEventPayload,
        ),
        ({"id": 7, "summary": "Le client demande un devis.", "call_id": 12345}, SummaryEventPayload),
        (
            {
                "event": "sms",
                "caller": "+33612345678",
                "receiver": "+33184880101",
                "message": "Rappelez-moi",
                "time": "2024-01-15T10:30:00Z",
                "direction": "inbound",
            },
            SmsEventPayload,
        ),
        (
            {
                "event": "rating",
                "call_id": 12345,
                "overall_score": 8,
                "criteria_scores": [{"name": "Politeness", "score": 9, "feedback": "Warm greeting"}],
                "highlights": ["Clear answer"],
                "improvements": ["Confirm the callback time"],
            },
            RatingEventPayload,
        ),
        (
            {"event": "test", "message": "Test webhook", "timestamp": "2024-01-15T10:30:00Z", "pbx_id": "test_000000"},
            TestEventPayload,
        ),
    ],
)
def test_webhook_payloads_decode_by_event(body, model):
    payload = parse_webhook(body)
    assert type(payload) is model
    assert payload.model_dump(mode="json") == body


def test_the_fourteen_subscribable_events_are_known():
    assert len(WEBHOOK_EVENTS) == 14 and "test" not in WEBHOOK_EVENTS


def test_an_unknown_webhook_payload_is_refused():
    with pytest.raises(ValueError, match="Unknown webhook payload"):
        parse_webhook({"event": "teleport"})
