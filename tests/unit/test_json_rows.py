"""Rows as one JSON document (db/json_rows.py): what a provider hands back goes in as text."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from email.message import EmailMessage

import msgspec
import pytest

from appliance.db.json_rows import json_document


def test_a_header_object_given_as_a_message_id_is_written_as_its_text() -> None:
    mime = EmailMessage()
    mime["Message-ID"] = "<1@example.com>"
    at, delivery_id = datetime(2026, 12, 6, 22, 0, tzinfo=UTC), uuid.uuid4()

    document = json_document([{"id": delivery_id, "message_id": mime["Message-ID"], "at": at}])

    assert msgspec.json.decode(document) == [
        {"id": str(delivery_id), "message_id": "<1@example.com>", "at": "2026-12-06T22:00:00Z"}
    ]


def test_a_value_with_no_json_form_is_refused() -> None:
    with pytest.raises(TypeError, match="cannot write object values as JSON"):
        json_document([{"value": object()}])
