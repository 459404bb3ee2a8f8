"""Typed models of the SIPSIM v2 API objects, envelopes and webhook payloads.

Every model keeps fields it does not know (`extra="allow"`): the real API returns more than the docs
show. Field names the docs do not show are INFERRED (see README, "Documented vs inferred"); the Call
object is the largest such guess, so every one of its fields is optional.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field, SecretStr

from .shaping import DropNone


class SipsimModel(DropNone):
    """Base of every API object: unknown fields are accepted and kept (and nulls left out when serialized)."""

    model_config = ConfigDict(extra="allow")


# --- envelopes -----------------------------------------------------------------------------------


class Pagination(SipsimModel):
    """Keyset pagination block of a list response."""

    count: int | None = None
    limit: int | None = None
    page: str | None = Field(None, description="Opaque token for the next page; absent on the last page")
    has_more: bool = False


class SuccessEnvelope(SipsimModel):
    """`{status, request_id, timestamp, data, pagination}` around every successful API response."""

    status: int
    request_id: str | None = None
    timestamp: str | None = None
    data: Any = None
    pagination: Pagination | None = None


class ErrorEnvelope(SipsimModel):
    """`{status, errors[], request_id, path}` around every API error."""

    status: int | None = None
    errors: list[str] = Field(default_factory=list)
    request_id: str | None = None
    path: str | None = None


class TokenResponse(SipsimModel):
    """OAuth 2.0 client-credentials token response (not wrapped in the envelope)."""

    access_token: SecretStr
    token_type: str = "Bearer"
    expires_in: int = 7200
    scope: str | None = None
    created_at: int | None = None


class OAuthErrorBody(SipsimModel):
    """RFC 6749 section 5.2 error body of the token endpoint."""

    error: str
    error_description: str | None = None


# --- objects -------------------------------------------------------------------------------------


class Account(SipsimModel):
    id: int
    company_name: str | None = None
    email: str | None = None


class PhoneGroup(SipsimModel):
    group_id: int | None = None
    group_title: str | None = None


class OutboundSetting(SipsimModel):
    outbound_number: str | None = None
    use_different_outbound_number: bool | None = None
    outbound_number_phone_id: int | None = None


class RecordSetting(SipsimModel):
    record_inbound_call: bool | None = None
    record_outbound_call: bool | None = None


class VoicemailSetting(SipsimModel):
    allow_voicemail: bool | None = None
    voicemail_file_id: int | None = None


class ForcedForwarding(SipsimModel):
    enabled: bool | None = None
    forward_number: str | None = None


class ConditionalForwarding(SipsimModel):
    enabled: bool | None = None
    timeout_seconds: int | None = None
    forward_number: str | None = None


class ForwardingSetting(SipsimModel):
    forced: ForcedForwarding | None = None
    conditional: ConditionalForwarding | None = None


class AudioSetting(SipsimModel):
    inbound_call_preroll_id: int | None = None
    outbound_call_preroll_id: int | None = None
    no_answer_file_id: int | None = None
    wait_preroll_dial: int | None = None


class Phone(SipsimModel):
    """A phone line (number) of the account, with its settings."""

    id: int
    name: str | None = None
    status: Literal["not_activated", "active", "inactive"] | str | None = None
    internal_number: int | None = None
    number: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    group: PhoneGroup | None = None
    outbound_setting: OutboundSetting | None = None
    record_setting: RecordSetting | None = None
    voicemail_setting: VoicemailSetting | None = None
    forwarding_setting: ForwardingSetting | None = None
    audio_setting: AudioSetting | None = None


class Tag(SipsimModel):
    id: int
    name: str
    color: str | None = None
    description: str | None = None


class CallTag(SipsimModel):
    """A tag as carried on a call (INFERRED shape)."""

    id: int | None = None
    name: str
    color: str | None = None


class Call(SipsimModel):
    """One call of the history. Only id, direction, caller_number and receiver_number are documented."""

    id: int | str
    pbx_id: str | None = None
    direction: str | None = None
    call_type: Literal["inbound", "outgoing", "missed", "voicemail"] | str | None = None
    status: str | None = None
    start_time: datetime | None = None
    answer_time: datetime | None = None
    end_time: datetime | None = None
    duration: int | None = None
    wait_time: int | None = None
    caller_number: str | None = None
    caller_name: str | None = None
    receiver_number: str | None = None
    phone_id: int | None = None
    phone_name: str | None = None
    employee_id: int | None = None
    employee_name: str | None = None
    tags: list[CallTag] = Field(default_factory=list)
    recording_url: str | None = None
    voicemail_url: str | None = None


class InitiatedCall(SipsimModel):
    """What click-to-call (`POST /calls`, INFERRED) answers."""

    id: int | str | None = None
    pbx_id: str | None = None
    status: str | None = None
    phone_id: int | None = None
    number: str | None = None
    created_at: datetime | None = None


class Segment(SipsimModel):
    """One transcript piece; channel 0 is the first party, 1 the second (REST encoding)."""

    channel: int | str | None = None
    start: float | None = None
    end: float | None = None
    text: str = ""


class Transcription(SipsimModel):
    call_id: int | str | None = None
    speech_state: str | None = None
    payload: list[Segment] = Field(default_factory=list)


class Summary(SipsimModel):
    id: int | None = None
    call_id: int | str | None = None
    summary: str | None = None
    status: str | None = Field(None, description="processing or done (INFERRED)")


class WebhookEvent(SipsimModel):
    event: str


class WebhookSetting(SipsimModel):
    """The "full current webhook setting" `POST /webhooks/{event}` answers (structure UNKNOWN)."""

    url: str | None = None
    events: list[WebhookEvent] = Field(default_factory=list)


class Deleted(SipsimModel):
    id: int | str | None = None
    deleted: bool | None = None


# --- webhook payloads (what SIPSIM POSTs to the integration's URL) --------------------------------


class CallEventPayload(SipsimModel):
    """Call-lifecycle events: incoming_call_*, outgoing_call_*, voicemail."""

    event: str
    caller: str | None = None
    receiver: str | None = None
    time: str | None = None
    pbx_id: str | None = None
    duration: int | None = Field(None, description="Seconds; on *_call_end and voicemail")
    audio_path: str | None = Field(None, description="Recording or voicemail URL; on *_call_end and voicemail")
    status: str | None = Field(None, description="ANSWER, MISSED, BUSY or NOANSWER; on *_call_end")


class TagsEventPayload(CallEventPayload):
    tags: list[str] = Field(default_factory=list, description="Full current list of tag names on the call")


class SpeechSegment(SipsimModel):
    text: str = ""
    start: float | None = None
    end: float | None = None
    start_sec: float | None = None
    channel: str | None = Field(None, description="'left' = caller, 'right' = team member")


class SpeechEventPayload(SipsimModel):
    call_id: int | str | None = None
    speech_state: str | None = None
    payload: list[SpeechSegment] = Field(default_factory=list)


class SummaryEventPayload(SipsimModel):
    id: int | None = None
    summary: str | None = None
    call_id: int | str | None = None


class SmsEventPayload(SipsimModel):
    event: str = "sms"
    caller: str | None = None
    receiver: str | None = None
    message: str | None = None
    time: str | None = None
    direction: str | None = Field(None, description="inbound or outbound")


class CriterionScore(SipsimModel):
    name: str
    score: int | None = None
    feedback: str | None = None


class RatingEventPayload(SipsimModel):
    event: str = "rating"
    call_id: int | str | None = None
    overall_score: int | None = None
    criteria_scores: list[CriterionScore] = Field(default_factory=list)
    highlights: list[str] = Field(default_factory=list)
    improvements: list[str] = Field(default_factory=list)


class TestEventPayload(SipsimModel):
    __test__ = False  # not a pytest class

    event: str = "test"
    message: str | None = None
    timestamp: str | None = None
    pbx_id: str | None = None


WebhookPayload = (
    CallEventPayload
    | TagsEventPayload
    | SpeechEventPayload
    | SummaryEventPayload
    | SmsEventPayload
    | RatingEventPayload
    | TestEventPayload
)

#: Each webhook event: (when it fires, payload model). Order as `GET /webhooks/available` lists them.
WEBHOOK_EVENTS: dict[str, tuple[str, type[SipsimModel]]] = {
    "incoming_call_start": ("A caller dials a SIPSIM number", CallEventPayload),
    "incoming_call_start_chain_member_call": ("A dial-chain member's phone starts ringing", CallEventPayload),
    "incoming_call_end_chain_member_call": ("A dial-chain member stops ringing", CallEventPayload),
    "incoming_call_answer": ("A team member answers an incoming call", CallEventPayload),
    "incoming_call_end": ("An incoming call ends (answered, missed, busy, no answer)", CallEventPayload),
    "outgoing_call_start": ("An outgoing call is placed (phone, API or click-to-call)", CallEventPayload),
    "outgoing_call_answer": ("The remote party answers an outgoing call", CallEventPayload),
    "outgoing_call_end": ("An outgoing call ends", CallEventPayload),
    "voicemail": ("A caller leaves a voicemail", CallEventPayload),
    "tags": ("Tags are added, changed or removed on a call", TagsEventPayload),
    "speech": ("A transcription is finished", SpeechEventPayload),
    "summary": ("An AI summary is generated", SummaryEventPayload),
    "sms": ("An SMS is received or sent", SmsEventPayload),
    "rating": ("An AI quality rating is generated", RatingEventPayload),
}


def parse_webhook(body: dict[str, Any]) -> WebhookPayload:
    """Decode a webhook body by its `event` (speech and summary payloads carry none: told by their fields)."""
    event = body.get("event")
    if event == "test":
        return TestEventPayload.model_validate(body)
    if event in WEBHOOK_EVENTS:
        return WEBHOOK_EVENTS[event][1].model_validate(body)  # type: ignore[return-value]
    if "speech_state" in body:
        return SpeechEventPayload.model_validate(body)
    if "summary" in body:
        return SummaryEventPayload.model_validate(body)
    raise ValueError(f"Unknown webhook payload (event={event!r})")
