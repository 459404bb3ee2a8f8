"""The inventory: every tool, its SIPSIM operation and scope, its annotations, input and output.

Tools are registered from this table and nothing else; the README's tool table, the bundle manifest
and the tools/list snapshot are checked against it by the tests.
"""

from __future__ import annotations

from ..api import endpoints as ep
from ..api.models import Phone, Summary, Tag, WebhookSetting
from . import account, ai, calls, insights, lines, tags
from .base import ToolSpec, read, write
from .views import CALLS_DASHBOARD

TAG_EXISTS = {409: "A tag with that name already exists: use it (list_tags shows its id) instead of creating it."}
TAG_NAME_TAKEN = {409: "Another tag already has that name: pick another name, or use the existing tag."}
NO_TRANSCRIPT = {
    404: "If the call exists, it has no transcription yet: ask for one with request_transcription (the "
    "call needs a recording), then read it again in a minute."
}
NO_SUMMARY = {
    404: "If the call exists, it has no summary yet: ask for one with request_summary (it needs a "
    "finished transcription)."
}
UNKNOWN_EVENT = {404: "list_webhook_events shows the event names."}

# fmt: off
TOOLS: tuple[ToolSpec, ...] = (
    # name                      title                           endpoint                  input                  output                handler
    read("get_account",         "Get account",                  ep.GET_ACCOUNT,           account.NoInput,       account.AccountView,  account.get_account),
    read("list_calls",          "List calls",                   ep.LIST_CALLS,            calls.ListCallsInput,  calls.CallPage,       calls.list_calls,
         view=CALLS_DASHBOARD),
    read("summarize_calls",     "Summarize calls",              ep.LIST_CALLS,            insights.SummarizeInput, insights.CallSummary, insights.summarize_calls,
         view=CALLS_DASHBOARD),
    read("get_call",            "Get call",                     ep.GET_CALL,              calls.GetCallInput,    calls.CallDetail,     calls.get_call),
    write("start_call",         "Start a call (click-to-call)", ep.START_CALL,            calls.StartCallInput,  calls.StartedCall,    calls.start_call,
          destructive=False, idempotent=False, open_world=True, also_needs=("phones.read",)),
    write("tag_call",           "Tag a call",                   ep.TAG_CALL,              calls.CallTagInput,    calls.TaggedCall,     calls.tag_call,
          destructive=False, idempotent=True, also_needs=("tags.read",)),
    write("untag_call",         "Remove a tag from a call",     ep.UNTAG_CALL,            calls.CallTagInput,    calls.TaggedCall,     calls.untag_call,
          destructive=True, idempotent=True, also_needs=("tags.read",)),
    read("list_phones",         "List phone lines",             ep.LIST_PHONES,           lines.ListPhonesInput, lines.LineList,       lines.list_phones),
    read("get_phone",           "Get phone line",               ep.GET_PHONE,             lines.GetPhoneInput,   Phone,                lines.get_phone),
    write("update_phone",       "Update phone line settings",   ep.UPDATE_PHONE,          lines.UpdatePhoneInput, Phone,               lines.update_phone,
          destructive=True, idempotent=True, also_needs=("phones.read",)),
    read("list_tags",           "List tags",                    ep.LIST_TAGS,             tags.NoInput,          tags.TagList,         tags.list_tags),
    write("create_tag",         "Create tag",                   ep.CREATE_TAG,            tags.CreateTagInput,   Tag,                  tags.create_tag,
          destructive=False, idempotent=False, hints=TAG_EXISTS),
    write("update_tag",         "Update tag",                   ep.UPDATE_TAG,            tags.UpdateTagInput,   Tag,                  tags.update_tag,
          destructive=False, idempotent=True, also_needs=("tags.read",), hints=TAG_NAME_TAKEN),
    write("delete_tag",         "Delete tag",                   ep.DELETE_TAG,            tags.DeleteTagInput,   tags.DeletedTag,      tags.delete_tag,
          destructive=True, idempotent=True, also_needs=("tags.read",)),
    read("get_transcription",   "Get call transcription",       ep.GET_TRANSCRIPTION,     ai.TranscriptInput,    ai.TranscriptView,    ai.get_transcription,
         hints=NO_TRANSCRIPT),
    write("request_transcription", "Request call transcription", ep.REQUEST_TRANSCRIPTION, ai.CallInput,        ai.TranscriptionJob,  ai.request_transcription,
          destructive=False, idempotent=True),
    read("get_summary",         "Get call summary",             ep.GET_SUMMARY,           ai.CallInput,          Summary,              ai.get_summary,
         hints=NO_SUMMARY),
    write("request_summary",    "Request call summary",         ep.REQUEST_SUMMARY,       ai.CallInput,          Summary,              ai.request_summary,
          destructive=False, idempotent=True),
    read("list_webhook_events", "List webhook events",          ep.LIST_AVAILABLE_WEBHOOKS, account.NoInput,     account.WebhookEvents, account.list_webhook_events),
    write("enable_webhook",     "Enable webhook event",         ep.ENABLE_WEBHOOK,        account.WebhookInput,  WebhookSetting,       account.enable_webhook,
          destructive=False, idempotent=True, hints=UNKNOWN_EVENT),
    write("disable_webhook",    "Disable webhook event",        ep.DISABLE_WEBHOOK,       account.WebhookInput,  WebhookSetting,       account.disable_webhook,
          destructive=True, idempotent=True, hints=UNKNOWN_EVENT),
)
# fmt: on

TOOLS_BY_NAME = {spec.name: spec for spec in TOOLS}
