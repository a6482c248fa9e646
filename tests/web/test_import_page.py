"""The "Import recipients" page, asserted as HTML through the test client, over both stacks.

An operator uploads a small CSV with one bad row: the good rows are saved, the page counts them,
lists the bad one with its line and reason, and offers it as a CSV download.
"""

from __future__ import annotations

import base64
import html
from typing import Any

from tests.conftest import AUTH, Stack
from tests.web.test_ui_pages import Tags, csrf_token, sign_in

PEOPLE_CSV = (
    b"id,email,timezone,attr.plan,topics\n"
    b"page-1,ada@example.com,Europe/London,pro,news\n"
    b"page-2,not-an-email,,free,news\n"
    b"page-3,grace@example.com,,free,\n"
)


async def upload(stack: Stack, content: bytes, filename: str = "people.csv", token: str | None = None) -> Any:
    token = token if token is not None else await csrf_token(stack.client, "/ui/import")
    return await stack.client.post(
        "/ui/import", data={"_csrf_token": token}, files={"file": (filename, content, "text/csv")}
    )


async def test_the_import_page_is_in_the_navigation_and_offers_an_upload_form(stack: Stack) -> None:
    await sign_in(stack.client)

    page = await stack.client.get("/ui/import")

    assert page.status_code == 200
    tags = Tags(page.text)
    current = [a for a in tags.all("a") if a.get("aria-current") == "page"]
    assert [a["href"] for a in current] == ["/ui/import"]
    form = next(f for f in tags.all("form") if f.get("action") == "/ui/import")
    assert (form["method"], form["enctype"]) == ("post", "multipart/form-data")
    assert any(i.get("type") == "file" and i.get("name") == "file" for i in tags.all("input"))
    assert "attr.&lt;name&gt;" in page.text


async def test_an_upload_saves_good_rows_and_offers_the_rejected_ones_as_csv(stack: Stack) -> None:
    await sign_in(stack.client)

    response = await upload(stack, PEOPLE_CSV)
    text = response.text

    assert response.status_code == 200
    assert "Imported with some rows rejected" in text
    stats = dict(zip(_between(text, "<dt>", "</dt>"), _between(text, "<dd>", "</dd>"), strict=False))
    assert {k: stats[k] for k in ("Imported", "Created", "Updated", "Rejected")} == {
        "Imported": "2",
        "Created": "2",
        "Updated": "0",
        "Rejected": "1",
    }
    assert "must be an email address such as alice@example.com" in text
    link = next(a for a in Tags(text).all("a") if a.get("download"))
    assert link["download"] == "rejected-rows.csv"
    prefix = "data:text/csv;charset=utf-8;base64,"
    assert str(link["href"]).startswith(prefix)
    report = base64.b64decode(str(link["href"])[len(prefix) :]).decode()
    assert report.splitlines() == [
        "line,id,field,message",
        "3,page-2,email,must be an email address such as alice@example.com",
    ]
    saved = await stack.client.get("/v1/recipients/page-1", headers=AUTH)
    assert saved.json()["attributes"] == {"plan": "pro"}
    assert (await stack.client.get("/v1/topics/news/subscribers", headers=AUTH)).json() == ["page-1"]


async def test_a_clean_upload_has_nothing_to_download(stack: Stack) -> None:
    await sign_in(stack.client)

    response = await upload(stack, b"id\nclean-1\nclean-2\n", filename="clean.csv")

    assert response.status_code == 200
    assert "Import complete" in response.text
    assert not [a for a in Tags(response.text).all("a") if a.get("download")]


async def test_an_upload_says_why_nothing_was_imported(stack: Stack) -> None:
    await sign_in(stack.client)

    bad_header = await upload(stack, b"identifier,email\nx,y\n")
    token = await csrf_token(stack.client, "/ui/import")
    no_file = await stack.client.post(
        "/ui/import", data={"_csrf_token": token}, files={"file": ("", b"", "application/octet-stream")}
    )

    assert bad_header.status_code == 422
    assert "Nothing was imported" in html.unescape(bad_header.text)
    assert "unknown column 'identifier'" in html.unescape(bad_header.text)
    assert no_file.status_code == 422
    assert "Choose a CSV or NDJSON file" in no_file.text


async def test_an_ndjson_file_is_read_as_ndjson(stack: Stack) -> None:
    await sign_in(stack.client)
    lines = b'{"id": "nd-1", "attributes": {"score": 7}}\n{"id": "nd-2", "timezone": "Nowhere/Land"}\n'

    response = await upload(stack, lines, filename="people.ndjson")

    assert response.status_code == 200
    assert "unknown time zone" in html.unescape(response.text)
    saved = await stack.client.get("/v1/recipients/nd-1", headers=AUTH)
    assert saved.json()["attributes"] == {"score": 7}


async def test_an_upload_needs_a_signed_in_operator_and_a_csrf_token(stack: Stack) -> None:
    anonymous = await stack.client.post("/ui/import", files={"file": ("p.csv", PEOPLE_CSV, "text/csv")})
    await sign_in(stack.client)
    forged = await upload(stack, PEOPLE_CSV, token="forged")

    assert anonymous.status_code in (303, 403)
    assert forged.status_code == 403
    assert (await stack.client.get("/v1/recipients/page-1", headers=AUTH)).status_code == 404


def _between(text: str, start: str, end: str) -> list[str]:
    return [part.split(end, 1)[0].strip() for part in text.split(start)[1:]]
