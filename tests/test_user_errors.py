"""Every error a model may read is a `UserError`, and one place turns any of them into the tool's answer."""

from __future__ import annotations

import pytest
from mcp.server.mcpserver.exceptions import ToolError

from sipsim_mcp.api.errors import SipsimAPIError, UserError
from sipsim_mcp.api.numbers import NumberError, normalize_number
from sipsim_mcp.language.directory import LookupFailed
from sipsim_mcp.language.windows import WindowError, parse_timezone
from sipsim_mcp.mcp.register import told
from sipsim_mcp.tools.inventory import TOOLS_BY_NAME
from sipsim_mcp.tools.scan import PageTokenError


@pytest.mark.parametrize("family", [SipsimAPIError, LookupFailed, WindowError, NumberError, PageTokenError])
def test_each_family_a_model_may_read_is_a_user_error(family):
    assert issubclass(family, UserError)


def test_a_new_user_error_reaches_the_model_as_its_message_not_as_an_unexpected_error():
    class ForgottenError(UserError):
        pass

    with pytest.raises(ToolError) as raised, told(TOOLS_BY_NAME["list_tags"]):
        raise ForgottenError("The widget is asleep: wake it with wake_widget, then try again.")
    assert str(raised.value) == "The widget is asleep: wake it with wake_widget, then try again."


def test_language_errors_keep_their_message_through_the_one_place():
    for failing in (lambda: parse_timezone("Europe/Pariss"), lambda: normalize_number("call me maybe")):
        with pytest.raises(ToolError) as raised, told(TOOLS_BY_NAME["list_calls"]):
            failing()
        assert str(raised.value) == str(raised.value.__cause__) and str(raised.value)


def test_anything_else_is_not_dressed_as_a_message_for_the_model():
    with pytest.raises(KeyError), told(TOOLS_BY_NAME["list_tags"]):
        raise KeyError("internal")
