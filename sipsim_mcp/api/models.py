"""Typed models of the SIPSIM v2 API objects, envelopes and webhook payloads.

Every model keeps fields it does not know (`extra="allow"`): the real API returns more than the docs
show. Field names the docs do not show are INFERRED (see README, "Documented vs inferred"); the Call
object is the largest such guess, so every one of its fields is optional.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    SecretStr,
    WithJsonSchema,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema
from pydantic_core import core_schema as cs

from .numbers import display_number
from .shaping import DropNone


class SipsimModel(DropNone):
    """Base of every API object: unknown fields are accepted and kept (and nulls left out when serialized).

    A value of an optional field that cannot be read becomes the field's default (null) instead of failing
    the object (the answers count such fields as missing). Only a required field (the documented ids, a tag's
    name) that cannot be read fails the object. pydantic-core does this itself: no Python runs per object.
    """

    model_config = ConfigDict(extra="allow", defer_build=True)  # validators built on first use, not at start-up
    #: Field names the SIPSIM docs show for this object; the others are INFERRED.
    DOCUMENTED: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __get_pydantic_core_schema__(cls, source: type[BaseModel], handler: GetCoreSchemaHandler) -> CoreSchema:
        schema = handler(source)
        model = schema
        while model["type"] != "model":  # under a model validator's function schema
            model = model["schema"]
        for field in model["schema"]["fields"].values():
            if field["schema"]["type"] == "default":  # an optional field
                field["schema"]["on_error"] = "default"
        return schema


# --- lenient readers of INFERRED values ------------------------------------------------------------

_CLOCK = re.compile(r"(?:(\d+):)?(\d{1,2}):(\d{2})(?:\.\d+)?")


def _seconds(value: Any) -> Any:
    """Seconds from an int, a float, a numeric string or H:MM:SS / MM:SS."""
    if type(value) is int:
        return value
    if value is None or isinstance(value, bool):
        return None if value is None else _fail("a duration")
    if isinstance(value, int | float):
        return round(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            return round(float(text))
        except ValueError:
            pass
        if m := _CLOCK.fullmatch(text):
            return int(m.group(1) or 0) * 3600 + int(m.group(2)) * 60 + int(m.group(3))
    return _fail("a duration")


def _fail(what: str) -> Any:
    raise ValueError(f"not {what}")


def _epoch(value: Any) -> Any:
    """Epoch seconds or milliseconds (also as numeric strings) as a number pydantic reads as seconds."""
    if type(value) is str and value[4:5] == "-":  # ISO 8601, the documented form: pydantic reads it
        return value
    if isinstance(value, str) and value.strip().lstrip("-").replace(".", "", 1).isdigit():
        value = float(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value / 1000 if abs(value) > 1e11 else value
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _utc(value: datetime | None) -> datetime | None:
    """A time without a zone is UTC (the docs give every time in UTC)."""
    return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


def _text(value: Any) -> Any:
    """Numbers given where text was expected (a phone number without +) are read as text."""
    if type(value) is str or value is None:
        return value
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _url(value: Any) -> Any:
    return None if value is False or value == "" else value


def _word(case: str) -> Any:
    def read(value: Any) -> Any:
        if value is None:
            return None
        text = str(value).strip()
        return (text.upper() if case == "upper" else text.lower()) or None

    return read


def _token(value: Any) -> Any:
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else (value or None)


def _tag_refs(value: Any) -> Any:
    """A call's tags given as objects, ids, names, one name, or null."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    refs: list[Any] = []
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool):
            refs.append({"id": item})
        elif isinstance(item, str):
            refs.append({"name": item})
        else:
            refs.append(item)
    return refs


class Expect:
    """Field metadata for `doctor --probe`: the JSON types the docs show (or we inferred) for a field, and for
    a field with a fixed vocabulary, its words (reported as seen: they are codes, never caller data)."""

    def __init__(self, *kinds: str, words: tuple[str, ...] = (), form: str | None = None) -> None:
        self.kinds = kinds
        self.words = words
        self.form = form  # "time" or "number": the probe reports the format of the text, not the text


def _id(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


class Fast:
    """Field metadata: a value already in `form` (the documented or usual shape, or null) is read by
    pydantic-core alone, with no Python call; any other value goes on to the lenient readers declared before
    it. `form` accepts only values those readers read the same way, so either way gives the same result."""

    def __init__(self, form: CoreSchema | type, *, nullable: bool = True) -> None:
        self.form = form
        self.nullable = nullable

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        lenient = handler(source)
        form = self.form if isinstance(self.form, dict) else handler.generate_schema(self.form)
        form = cs.nullable_schema(form) if self.nullable else form

        def described(_: Any, json_handler: GetJsonSchemaHandler) -> JsonSchemaValue:
            return json_handler(lenient)  # the fast form says nothing new: described as the lenient one

        return cs.union_schema([form, lenient], mode="left_to_right", metadata={"pydantic_js_functions": [described]})


_TEXT = cs.str_schema(strict=True)
_ISO_ZONED = cs.chain_schema([cs.str_schema(strict=True, pattern=r"^.{4}-"), cs.datetime_schema(tz_constraint="aware")])

Id = Annotated[
    int | str,
    BeforeValidator(_id),
    Fast(cs.union_schema([cs.int_schema(strict=True), _TEXT]), nullable=False),
    WithJsonSchema({"type": ["integer", "string"]}),
    Expect("integer"),
]
"""An id: integer in most examples, a string (`call_123`) in others (D4); both are kept as given."""
Seconds = Annotated[int | None, BeforeValidator(_seconds), Fast(cs.int_schema(strict=True))]
Instant = Annotated[
    datetime | None, BeforeValidator(_epoch), AfterValidator(_utc), Fast(_ISO_ZONED), Expect("string", form="time")
]
Text = Annotated[str | None, BeforeValidator(_text), Fast(_TEXT)]
Number = Annotated[
    str | None,
    BeforeValidator(_text),
    AfterValidator(display_number),
    Fast(cs.str_schema(strict=True, pattern=r"^\+")),
    Expect("string", form="number"),
]
"""A phone number: E.164 is documented; one without its '+' gets it back when that makes a possible number."""
Url = Annotated[str | None, BeforeValidator(_url), Fast(cs.str_schema(strict=True, min_length=1))]
Upper = Annotated[
    str | None, BeforeValidator(_word("upper")), Fast(cs.str_schema(strict=True, pattern=r"^[A-Z0-9_]+$"))
]
Lower = Annotated[
    str | None, BeforeValidator(_word("lower")), Fast(cs.str_schema(strict=True, pattern=r"^[a-z0-9_]+$"))
]


# --- envelopes -----------------------------------------------------------------------------------


class Pagination(SipsimModel):
    """Keyset pagination block of a list response."""

    DOCUMENTED = frozenset({"count", "limit", "page", "has_more"})

    count: int | None = None
    limit: int | None = None
    page: Annotated[str | None, BeforeValidator(_token)] = Field(
        None, description="Opaque token for the next page; absent on the last page"
    )
    has_more: bool | None = None


class SuccessEnvelope(SipsimModel):
    """`{status, request_id, timestamp, data, pagination}` around every successful API response."""

    status: int | None = None
    request_id: Text = None
    timestamp: str | None = None
    data: Any = None
    pagination: Pagination | None = None


Item = TypeVar("Item", bound=SipsimModel)


class ListEnvelope(SuccessEnvelope, Generic[Item]):
    """A list response every item of which reads as `Item` (the whole body read in one pass from its bytes)."""

    data: list[Item]


class ErrorEnvelope(SipsimModel):
    """`{status, errors[], request_id, path}` around every API error (also `errors` as a string or objects,
    or `message` / `error` instead)."""

    status: int | None = None
    errors: Any = None
    request_id: Text = None
    path: str | None = None

    def messages(self) -> list[str]:
        """The readable text of the error, whichever form it came in."""
        found = _messages(self.errors)
        for key in ("message", "error", "error_description", "detail"):
            found += _messages((self.model_extra or {}).get(key))
        return list(dict.fromkeys(found))


def _messages(value: Any) -> list[str]:
    if value is None or value == "" or isinstance(value, bool):
        return []
    if isinstance(value, str | int | float):
        return [str(value)]
    if isinstance(value, list):
        return [text for item in value for text in _messages(item)]
    if isinstance(value, dict):
        text = next((value[k] for k in ("message", "detail", "error", "msg", "title") if value.get(k)), None)
        where = next((value[k] for k in ("field", "param", "path", "pointer", "code") if value.get(k)), None)
        if text is not None:
            return [f"{where}: {text}" if where else str(text)]
        return [f"{key}: {'; '.join(_messages(item))}" for key, item in value.items() if _messages(item)]
    return [str(value)]


def _scopes(value: Any) -> Any:
    """Granted scopes separated by spaces or commas (or given as a list)."""
    if isinstance(value, list):
        value = " ".join(str(item) for item in value)
    return " ".join(value.replace(",", " ").split()) if isinstance(value, str) else None


def _lifetime(value: Any) -> Any:
    """`expires_in` as seconds; missing, null or unreadable means the documented 7200."""
    try:
        seconds = _seconds(value)
    except ValueError:
        return 7200
    return seconds if seconds is not None and seconds > 0 else 7200


class TokenResponse(SipsimModel):
    """OAuth 2.0 client-credentials token response (not wrapped in the envelope)."""

    DOCUMENTED = frozenset({"access_token", "token_type", "expires_in", "scope", "created_at"})

    access_token: SecretStr
    token_type: str | None = "Bearer"
    expires_in: Annotated[int, BeforeValidator(_lifetime)] = 7200
    scope: Annotated[str | None, BeforeValidator(_scopes)] = None
    created_at: Instant = None


class OAuthErrorBody(SipsimModel):
    """RFC 6749 section 5.2 error body of the token endpoint."""

    error: str
    error_description: str | None = None


# --- objects -------------------------------------------------------------------------------------


class Account(SipsimModel):
    DOCUMENTED = frozenset({"id", "company_name", "email"})

    id: Id
    company_name: str | None = None
    email: str | None = None


class PhoneGroup(SipsimModel):
    DOCUMENTED = frozenset({"group_id", "group_title"})

    group_id: Id | None = None
    group_title: str | None = None


class OutboundSetting(SipsimModel):
    DOCUMENTED = frozenset({"outbound_number", "use_different_outbound_number", "outbound_number_phone_id"})

    outbound_number: Number = None
    use_different_outbound_number: bool | None = None
    outbound_number_phone_id: Id | None = None


class RecordSetting(SipsimModel):
    DOCUMENTED = frozenset({"record_inbound_call", "record_outbound_call"})

    record_inbound_call: bool | None = None
    record_outbound_call: bool | None = None


class VoicemailSetting(SipsimModel):
    DOCUMENTED = frozenset({"allow_voicemail", "voicemail_file_id"})

    allow_voicemail: bool | None = None
    voicemail_file_id: Id | None = None


class ForcedForwarding(SipsimModel):
    DOCUMENTED = frozenset({"enabled", "forward_number"})

    enabled: bool | None = None
    forward_number: Number = None


class ConditionalForwarding(SipsimModel):
    DOCUMENTED = frozenset({"enabled", "timeout_seconds", "forward_number"})

    enabled: bool | None = None
    timeout_seconds: Seconds = None
    forward_number: Number = None


class ForwardingSetting(SipsimModel):
    DOCUMENTED = frozenset({"forced", "conditional"})

    forced: ForcedForwarding | None = None
    conditional: ConditionalForwarding | None = None


class AudioSetting(SipsimModel):
    DOCUMENTED = frozenset(
        {"inbound_call_preroll_id", "outbound_call_preroll_id", "no_answer_file_id", "wait_preroll_dial"}
    )

    inbound_call_preroll_id: Id | None = None
    outbound_call_preroll_id: Id | None = None
    no_answer_file_id: Id | None = None
    wait_preroll_dial: int | None = None


class Phone(SipsimModel):
    """A phone line (number) of the account, with its settings."""

    DOCUMENTED = frozenset(
        {
            "id",
            "name",
            "status",
            "internal_number",
            "number",
            "created_at",
            "updated_at",
            "group",
            "outbound_setting",
            "record_setting",
            "voicemail_setting",
            "forwarding_setting",
            "audio_setting",
        }
    )

    id: Id
    name: Text = None
    status: Annotated[Lower, Expect("string", words=("not_activated", "active", "inactive"))] = Field(
        None, description="not_activated, active or inactive"
    )
    internal_number: int | None = None
    number: Number = None
    created_at: Instant = None
    updated_at: Instant = None
    group: PhoneGroup | None = None
    outbound_setting: OutboundSetting | None = None
    record_setting: RecordSetting | None = None
    voicemail_setting: VoicemailSetting | None = None
    forwarding_setting: ForwardingSetting | None = None
    audio_setting: AudioSetting | None = None


class Tag(SipsimModel):
    DOCUMENTED = frozenset({"id", "name", "color", "description"})

    id: Id
    name: str
    color: str | None = None
    description: str | None = None


class CallTag(SipsimModel):
    """A tag as carried on a call (INFERRED shape): an object, or just its id or name."""

    id: Id | None = None
    name: Text = None
    color: str | None = None


class CallFacts(SipsimModel):
    """The fields of a call that counts, groups and filters read: summaries read only these, and skip the
    rest of each call. Only id, direction, caller_number and receiver_number are documented."""

    model_config = ConfigDict(extra="ignore")
    DOCUMENTED = frozenset({"id", "direction", "caller_number", "receiver_number"})

    id: Annotated[Id, Expect("integer", "string")]  # both in the docs (D4)
    direction: Annotated[Lower, Expect("string", words=("inbound", "outgoing"))] = None
    call_type: Annotated[Lower, Expect("string", words=("inbound", "outgoing", "missed", "voicemail"))] = Field(
        None, description="inbound, outgoing, missed or voicemail"
    )
    status: Annotated[Upper, Expect("string", words=("ANSWER", "MISSED", "BUSY", "NOANSWER"))] = Field(
        None, description="ANSWER, MISSED, BUSY or NOANSWER"
    )
    start_time: Instant = None
    duration: Seconds = None
    wait_time: Seconds = None
    caller_number: Number = None
    caller_name: Text = None
    receiver_number: Number = None
    phone_id: Id | None = None
    phone_name: Text = None
    employee_id: Id | None = None
    employee_name: Text = None
    tags: Annotated[list[CallTag], BeforeValidator(_tag_refs), Fast(list[CallTag], nullable=False)] = Field(
        default_factory=list
    )


class Call(CallFacts):
    """One call of the history: its facts, the other fields we know of, and any unknown ones (kept)."""

    model_config = ConfigDict(extra="allow")

    pbx_id: Text = None
    answer_time: Instant = None
    end_time: Instant = None
    recording_url: Url = None
    voicemail_url: Url = None


class InitiatedCall(SipsimModel):
    """What click-to-call (`POST /calls`, INFERRED) answers."""

    id: Id | None = None
    pbx_id: Text = None
    status: str | None = None
    phone_id: Id | None = None
    number: Number = None
    created_at: Instant = None


class Segment(SipsimModel):
    """One transcript piece; channel 0 is the first party, 1 the second (REST encoding)."""

    DOCUMENTED = frozenset({"channel", "start", "end", "text"})

    channel: int | str | None = None
    start: float | None = None
    end: float | None = None
    text: str = ""


class Transcription(SipsimModel):
    DOCUMENTED = frozenset({"speech_state", "payload"})

    call_id: Id | None = None
    speech_state: str | None = None
    payload: list[Segment] = Field(default_factory=list)


class Summary(SipsimModel):
    id: Id | None = None
    call_id: Id | None = None
    summary: str | None = None
    status: str | None = Field(None, description="processing or done (INFERRED)")
    created_at: Instant = None


class WebhookEvent(SipsimModel):
    DOCUMENTED = frozenset({"event"})

    event: str


class WebhookSetting(SipsimModel):
    """The "full current webhook setting" `POST /webhooks/{event}` answers (structure UNKNOWN)."""

    url: str | None = None
    events: list[WebhookEvent] = Field(default_factory=list)


class Deleted(SipsimModel):
    id: Id | None = None
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
