"""The problem body: extension members add to the RFC 9457 members, never replace them."""

from __future__ import annotations

from api.core.errors import InvalidParameter


def test_extension_members_never_replace_status_or_code() -> None:
    body = InvalidParameter("bad layout", field="layout", status="draft", code="x", type="y").to_problem("/p")
    assert body["status"] == 422 and body["code"] == "invalid_parameter"
    assert body["type"].endswith("/invalid_parameter") and body["instance"] == "/p"
    assert body["field"] == "layout" and body["detail"] == "bad layout"
