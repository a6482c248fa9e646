"""Topics and bulk recipient imports over the REST API, on SQLite + in-process and PostgreSQL + Redis.

Given recipients, an integrator makes topics, subscribes and unsubscribes thousands of them per
call, pages through the subscribers, and imports recipients in bulk from NDJSON or CSV: good rows
are saved, each bad one is reported with its line, field and reason.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from litestar.testing import AsyncTestClient

from appliance.audiences.import_rows import CsvRows, ImportRow, Rejection
from tests.conftest import AUTH, Stack

CSV = {**AUTH, "Content-Type": "text/csv"}
NDJSON = {**AUTH, "Content-Type": "application/x-ndjson"}


# ---------- helpers ----------


async def make_recipients(client: AsyncTestClient, *ids: str, **profile: Any) -> None:
    for external_id in ids:
        response = await client.post("/v1/recipients", json={"id": external_id, **profile}, headers=AUTH)
        assert response.status_code in (200, 201), response.text


async def change(client: AsyncTestClient, topic: str, **lists: list[str]) -> dict[str, Any]:
    response = await client.post(f"/v1/topics/{topic}/subscribers", json=lists, headers=AUTH)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def subscribers(client: AsyncTestClient, topic: str, query: str = "") -> list[str]:
    response = await client.get(f"/v1/topics/{topic}/subscribers{query}", headers=AUTH)
    assert response.status_code == 200, response.text
    return list(response.json())


async def import_body(client: AsyncTestClient, body: str | bytes, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.post("/v1/recipients/import", content=body, headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def recipient(client: AsyncTestClient, external_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/recipients/{external_id}", headers=AUTH)
    assert response.status_code == 200, response.text
    return dict(response.json())


def rejected(report: dict[str, Any]) -> list[tuple[int, str, str]]:
    return [(row["line"], row["id"], row["field"]) for row in report["rejected_rows"]]


def error_field(response: Any) -> str:
    return str(response.json()["errors"][0]["field"])


# ---------- topics ----------


async def test_a_topic_is_created_renamed_listed_with_counts_and_deleted(stack: Stack) -> None:
    client = stack.client
    created = await client.put("/v1/topics/product.news", json={"name": "Product news"}, headers=AUTH)
    renamed = await client.put("/v1/topics/product.news", json={"name": "What's new"}, headers=AUTH)
    await client.put("/v1/topics/alerts", json={"name": "Alerts"}, headers=AUTH)
    await make_recipients(client, "t-ada", "t-bob")
    await change(client, "product.news", add=["t-ada", "t-bob"])

    assert (created.status_code, renamed.status_code) == (201, 200)
    listed = (await client.get("/v1/topics", headers=AUTH)).json()
    assert [(t["key"], t["name"], t["subscribers"]) for t in listed] == [
        ("alerts", "Alerts", 0),
        ("product.news", "What's new", 2),
    ]
    page = (await client.get("/v1/topics?limit=1&after=alerts", headers=AUTH)).json()
    assert [t["key"] for t in page] == ["product.news"]
    one = await client.get("/v1/topics/product.news", headers=AUTH)
    assert one.json()["subscribers"] == 2

    assert (await client.delete("/v1/topics/product.news", headers=AUTH)).status_code == 204
    assert (await client.get("/v1/topics/product.news", headers=AUTH)).status_code == 404
    assert (await recipient(client, "t-ada"))["id"] == "t-ada"  # the recipients stay


async def test_a_topic_key_out_of_pattern_is_refused_naming_the_key(stack: Stack) -> None:
    for key in ("Product", "-news", "a" * 65, "news!"):
        response = await stack.client.put(f"/v1/topics/{key}", json={"name": "x"}, headers=AUTH)
        assert response.status_code == 422, key
        assert error_field(response) == "key"
        assert "lowercase letters" in response.json()["detail"]
    no_name = await stack.client.put("/v1/topics/news", json={"name": ""}, headers=AUTH)
    assert no_name.status_code == 422
    assert error_field(no_name) == "name"


async def test_subscribers_are_added_and_removed_in_bulk_and_unknown_ids_are_reported(stack: Stack) -> None:
    client = stack.client
    known = [f"bulk-{n:03d}" for n in range(30)]
    await make_recipients(client, *known)
    unknown = [f"ghost-{n:03d}" for n in range(150)]

    # Adding to a topic that does not exist yet creates it.
    first = await change(client, "weekly", add=known[:20] + unknown)
    again = await change(client, "weekly", add=known[10:25], remove=known[:5])

    assert first == {"added": 20, "removed": 0, "unknown": 150, "unknown_ids": unknown[:100]}
    assert again == {"added": 5, "removed": 5, "unknown": 0, "unknown_ids": []}
    assert await subscribers(client, "weekly", "?limit=1000") == known[5:25]
    assert (await client.get("/v1/topics/weekly", headers=AUTH)).json()["name"] == "weekly"


async def test_bulk_changes_are_refused_when_they_cannot_be_applied(stack: Stack) -> None:
    client = stack.client
    await make_recipients(client, "r-1")

    gone = await client.post("/v1/topics/nowhere/subscribers", json={"remove": ["r-1"]}, headers=AUTH)
    both = await client.post(
        "/v1/topics/news/subscribers", json={"add": ["r-1"], "remove": ["r-1"]}, headers=AUTH
    )
    many = [f"id-{n}" for n in range(6_000)]
    too_many = await client.post(
        "/v1/topics/news/subscribers", json={"add": many, "remove": many}, headers=AUTH
    )
    bad_id = await client.post("/v1/topics/news/subscribers", json={"add": ["has space"]}, headers=AUTH)

    assert gone.status_code == 404
    assert (both.status_code, error_field(both)) == (422, "remove")
    assert (too_many.status_code, error_field(too_many)) == (422, "remove")
    assert "10,000" in too_many.json()["detail"]
    assert (bad_id.status_code, error_field(bad_id)) == (422, "add[0]")


async def test_ten_thousand_ids_go_in_one_call(stack: Stack) -> None:
    client = stack.client
    ids = [f"many-{n:05d}" for n in range(10_000)]
    lines = "\n".join(json.dumps({"id": external_id}) for external_id in ids[:6_000])
    await import_body(client, lines, NDJSON)

    done = await change(client, "big", add=ids)

    assert (done["added"], done["unknown"], len(done["unknown_ids"])) == (6_000, 4_000, 100)
    listed = (await client.get("/v1/topics/big", headers=AUTH)).json()
    assert listed["subscribers"] == 6_000


async def test_subscribers_page_by_id_without_gaps_or_repeats(stack: Stack) -> None:
    client = stack.client
    ids = sorted(f"page-{n:02d}" for n in range(25))
    await make_recipients(client, *ids)
    await change(client, "digest", add=ids)

    pages, after = [], ""
    while True:
        page = await subscribers(client, "digest", f"?limit=10{after}")
        if not page:
            break
        pages.append(page)
        after = f"&after={page[-1]}"

    assert [len(page) for page in pages] == [10, 10, 5]
    assert [external_id for page in pages for external_id in page] == ids
    assert (await client.get("/v1/topics/nothing/subscribers", headers=AUTH)).status_code == 404


# ---------- NDJSON import ----------


async def test_an_ndjson_import_saves_good_lines_and_reports_bad_ones(stack: Stack) -> None:
    client = stack.client
    body = "\n".join(
        [
            json.dumps({"id": "nd-1", "email": "one@example.com", "attributes": {"plan": "pro"}}),
            json.dumps({"id": "nd-2", "email": "not-an-email"}),
            json.dumps({"id": "nd-3", "timezone": "Mars/Olympus_Mons"}),
            json.dumps({"email": "nobody@example.com"}),
            "",
            "{not json",
            json.dumps(
                {
                    "id": "nd-4",
                    "locale": "fr-CA",
                    "topics": ["news", "fr"],
                    "attributes": {"n": [1, {"a": None}]},
                }
            ),
            json.dumps({"id": "nd-5", "unknown": 1}),
        ]
    )

    report = await import_body(client, body, NDJSON)

    assert (report["imported"], report["created"], report["updated"], report["rejected"]) == (2, 2, 0, 5)
    assert rejected(report) == [
        (2, "nd-2", "email"),
        (3, "nd-3", "timezone"),
        (4, "", "id"),
        (6, "", "line"),
        (8, "nd-5", "unknown"),
    ]
    messages = {row["field"]: row["message"] for row in report["rejected_rows"]}
    assert messages["email"] == "must be an email address such as alice@example.com"
    assert messages["timezone"] == "unknown time zone 'Mars/Olympus_Mons'"
    saved = await recipient(client, "nd-4")
    assert (saved["locale"], saved["attributes"]) == ("fr-CA", {"n": [1, {"a": None}]})
    assert await subscribers(client, "fr") == ["nd-4"]


# ---------- CSV import ----------


async def test_a_csv_import_saves_good_rows_and_reports_each_bad_one(stack: Stack) -> None:
    client = stack.client
    body = (
        "id,email,phone,locale,timezone\n"
        "csv-1,ada@example.com,+14155550100,en-GB,Europe/London\n"
        "csv-2,not-an-email,,,\n"
        "csv-3,,,,Atlantis/Capital\n"
        ",nobody@example.com,,,\n"
        "csv-4,,12345,,\n"
        "csv-5,grace@example.com,,en-US\n"
        "csv-6,,,,UTC\n"
    )

    report = await import_body(client, body, CSV)

    assert (report["imported"], report["created"], report["rejected"]) == (2, 2, 5)
    assert rejected(report) == [
        (3, "csv-2", "email"),
        (4, "csv-3", "timezone"),
        (5, "", "id"),
        (6, "csv-4", "phone"),
        (7, "csv-5", "line"),
    ]
    assert "4 cells" in report["rejected_rows"][-1]["message"]
    saved = await recipient(client, "csv-1")
    assert (saved["email"], saved["phone"], saved["timezone"]) == (
        "ada@example.com",
        "+14155550100",
        "Europe/London",
    )


async def test_a_csv_import_merges_attributes_and_keeps_fields_left_empty(stack: Stack) -> None:
    client = stack.client
    await make_recipients(
        client, "merge-1", email="old@example.com", locale="de", attributes={"plan": "free", "since": 2019}
    )
    body = (
        "id,email,locale,attr.plan,attr.seats:number,attr.vip:bool,attr.note\n"
        'merge-1,,,pro,12,true,"says ""hi"", often"\n'
        "merge-2,new@example.com,,basic,2.5,false,\n"
    )

    report = await import_body(client, body, CSV)

    assert (report["imported"], report["created"], report["updated"]) == (2, 1, 1)
    merged = await recipient(client, "merge-1")
    assert merged["email"] == "old@example.com"  # an empty cell keeps the value
    assert merged["locale"] == "de"
    assert merged["attributes"] == {
        "plan": "pro",
        "since": 2019,
        "seats": 12,
        "vip": True,
        "note": 'says "hi", often',
    }
    assert (await recipient(client, "merge-2"))["attributes"] == {"plan": "basic", "seats": 2.5, "vip": False}


async def test_an_id_repeated_in_a_file_is_applied_in_order_and_the_last_value_wins(stack: Stack) -> None:
    client = stack.client
    body = (
        "id,email,attr.plan,attr.team,topics\n"
        "dup-1,first@example.com,free,red,news\n"
        "dup-2,other@example.com,,,\n"
        "dup-1,second@example.com,pro,,alerts\n"
    )

    report = await import_body(client, body, CSV)

    assert (report["imported"], report["created"], report["updated"], report["rejected"]) == (3, 2, 1, 0)
    saved = await recipient(client, "dup-1")
    assert saved["email"] == "second@example.com"
    assert saved["attributes"] == {"plan": "pro", "team": "red"}
    assert await subscribers(client, "news") == ["dup-1"]
    assert await subscribers(client, "alerts") == ["dup-1"]


async def test_the_topics_column_subscribes_and_creates_missing_topics(stack: Stack) -> None:
    client = stack.client
    await client.put("/v1/topics/news", json={"name": "News"}, headers=AUTH)
    body = "\n".join(["id,topics", "top-1,news; weekly", "top-2,weekly", "top-3,", "top-4,News Letter"])

    report = await import_body(client, body, CSV)

    assert (report["imported"], report["rejected"]) == (3, 1)
    assert rejected(report) == [(5, "top-4", "topics")]
    assert await subscribers(client, "news") == ["top-1"]
    assert await subscribers(client, "weekly") == ["top-1", "top-2"]
    topics = {t["key"]: t for t in (await client.get("/v1/topics", headers=AUTH)).json()}
    assert (topics["news"]["name"], topics["weekly"]["name"]) == ("News", "weekly")

    again = await import_body(client, "id,topics\ntop-1,news\n", CSV)  # already subscribed: kept, once
    assert again["updated"] == 1
    assert await subscribers(client, "news") == ["top-1"]


async def test_spreadsheet_exports_are_read_as_written(stack: Stack) -> None:
    client = stack.client
    body = '\ufeffid,email,attr.address\r\nxl-1,xl@example.com,"1 Main St\r\nSpringfield"\r\nxl-2,,\r\n\r\n'

    report = await import_body(client, body.encode(), CSV)

    assert (report["imported"], report["rejected"]) == (2, 0)
    assert (await recipient(client, "xl-1"))["attributes"] == {"address": "1 Main St\r\nSpringfield"}


async def test_a_file_that_cannot_be_read_is_refused_before_anything_is_imported(stack: Stack) -> None:
    client = stack.client
    unknown_column = await client.post("/v1/recipients/import", content="id,mail\nx-1,a@b.co\n", headers=CSV)
    no_id = await client.post("/v1/recipients/import", content="email\na@b.co\n", headers=CSV)
    empty = await client.post("/v1/recipients/import", content="", headers=CSV)
    wrong_type = await client.post(
        "/v1/recipients/import", content="id\nx-1\n", headers={**AUTH, "Content-Type": "text/plain"}
    )
    latin1 = await client.post(
        "/v1/recipients/import",
        content="id\nx-1\n",
        headers={**AUTH, "Content-Type": "text/csv; charset=latin-1"},
    )

    assert (unknown_column.status_code, error_field(unknown_column)) == (422, "header")
    assert "'mail'" in unknown_column.json()["detail"]
    assert (no_id.status_code, error_field(no_id)) == (422, "header")
    assert (empty.status_code, error_field(empty)) == (422, "body")
    assert wrong_type.status_code == 415
    assert latin1.status_code == 415
    assert (await client.get("/v1/recipients/x-1", headers=AUTH)).status_code == 404
    unauthenticated = await client.post(
        "/v1/recipients/import", content="id\nx-1\n", headers={"Content-Type": "text/csv"}
    )
    assert unauthenticated.status_code == 401


async def test_a_line_that_is_not_utf8_is_rejected_alone(stack: Stack) -> None:
    body = "id,attr.city\nu8-1,Z\u00fcrich\n".encode() + b"u8-2,Z\xfcrich\n" + b"u8-3,Bern\n"

    report = await import_body(stack.client, body, CSV)

    assert (report["imported"], rejected(report)) == (2, [(3, "", "line")])
    assert "UTF-8" in report["rejected_rows"][0]["message"]


# ---------- a large import ----------


def big_csv(rows: int, chunk_rows: int = 1000) -> Iterator[bytes]:
    """A generated CSV. The test client sends a body in one piece; served by uvicorn the import reads
    it as it arrives (the times in docs/api.md were measured that way, with `clarion serve` and curl)."""
    yield b"id,email,phone,locale,timezone,attr.plan,attr.seats:number,topics\n"
    for start in range(0, rows, chunk_rows):
        lines = [
            f"big-{n:06d},big{n}@example.com,+1415555{n % 10_000:04d},en-US,Europe/Paris,"
            f"{'pro' if n % 3 else 'free'},{n % 50},news;{'vip' if n % 10 == 0 else 'weekly'}\n"
            for n in range(start, min(start + chunk_rows, rows))
        ]
        yield "".join(lines).encode()


async def test_a_hundred_thousand_csv_rows_are_imported_in_one_request(stack: Stack) -> None:
    rows = 100_000
    started = time.perf_counter()
    response = await stack.client.post(
        "/v1/recipients/import", content=b"".join(big_csv(rows)), headers=CSV, timeout=600
    )
    elapsed_s = time.perf_counter() - started
    backend = "SQLite" if stack.settings.embedded else "PostgreSQL"
    print(f"\n{rows:,} CSV rows in one request on {backend}: {elapsed_s:.1f} s")

    assert response.status_code == 200, response.text
    assert response.json() == {
        "imported": rows,
        "created": rows,
        "updated": 0,
        "rejected": 0,
        "rejected_rows": [],
    }
    topics = {t["key"]: t["subscribers"] for t in (await stack.client.get("/v1/topics", headers=AUTH)).json()}
    assert topics == {"news": rows, "vip": rows // 10, "weekly": rows - rows // 10}
    last = await recipient(stack.client, f"big-{rows - 1:06d}")
    assert last["attributes"] == {"plan": "pro" if (rows - 1) % 3 else "free", "seats": (rows - 1) % 50}


# ---------- the CSV reader alone ----------


def read_csv(*chunks: bytes) -> list[ImportRow | Rejection]:
    reader = CsvRows()
    found = [item for chunk in chunks for item in reader.feed(chunk)]
    return [*found, *reader.close()]


def test_a_quoted_cell_may_span_lines_and_chunks() -> None:
    parsed = read_csv(b'id,attr.note\nq-1,"one\n', b'two, ""three""\nfour"\n', b"q-2,plain")

    rows = [item for item in parsed if isinstance(item, ImportRow)]
    assert [(row.line, row.recipient.id) for row in rows] == [(2, "q-1"), (5, "q-2")]
    assert rows[0].recipient.attributes == {"note": 'one\ntwo, "three"\nfour'}


def test_a_stray_quote_inside_a_cell_does_not_swallow_the_next_rows() -> None:
    parsed = read_csv(b'id,attr.name\ns-1,O"Brien\ns-2,Smith\n')

    assert [(item.line, item.recipient.id) for item in parsed if isinstance(item, ImportRow)] == [
        (2, "s-1"),
        (3, "s-2"),
    ]
