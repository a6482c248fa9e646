"""The operator's own pages: providers, dead letters and the configuration, over both stacks."""

from __future__ import annotations

import asyncio
import html
import shutil
import uuid
from pathlib import Path

from sqlalchemy import select, update

from appliance.catalog import load_catalog
from appliance.db.models import Delivery, DeliveryStatus
from appliance.settings import Settings
from tests.conftest import EXAMPLE_CONFIG, Stack, serving
from tests.web.test_ui_pages import Tags, csrf_token, new_id, order_shipped, send, settled, sign_in


async def test_the_providers_page_shows_every_provider_its_circuit_and_recent_calls(stack: Stack) -> None:
    await settled(stack.client, await send(stack.client, order_shipped(new_id())))
    await sign_in(stack.client, "viewer")
    page = await stack.client.get("/ui/providers")
    assert page.status_code == 200
    cards = {attrs["data-provider"] for attrs in Tags(page.text).all("section") if "data-provider" in attrs}
    assert cards == set(stack.catalog.config.providers)
    assert page.text.count('badge--ok">closed') == len(cards)
    assert 'aria-current="page">Providers' in page.text
    email = page.text.split('data-provider="sandbox_email"', 1)[1].split("</section>", 1)[0]
    assert "<dt>Calls</dt><dd>0</dd>" not in email and "0.0%" in email


async def killed(stack: Stack) -> tuple[str, str]:
    """A real notification whose email delivery then used every try (as a failing provider leaves it)."""
    recipient = new_id()
    notification_id = await send(stack.client, order_shipped(recipient))
    await settled(stack.client, notification_id)
    async with stack.client.app.state.services.database.transaction() as session:
        delivery_id = await session.scalar(
            update(Delivery)
            .where(Delivery.notification_id == uuid.UUID(notification_id), Delivery.channel == "email")
            .values(status=DeliveryStatus.DEAD, attempt_count=5, last_error="HTTP 503 from the provider")
            .returning(Delivery.id)
        )
    return str(delivery_id), recipient


async def status_of(stack: Stack, delivery_id: str) -> str:
    async with stack.client.app.state.services.database.sessions() as session:
        return str(await session.scalar(select(Delivery.status).where(Delivery.id == uuid.UUID(delivery_id))))


async def test_a_dead_letter_is_listed_and_retried_from_the_page_until_it_is_sent(stack: Stack) -> None:
    delivery_id, recipient = await killed(stack)
    await sign_in(stack.client, "marketer")
    page = await stack.client.get("/ui/dead-letters")
    assert f'data-delivery="{delivery_id}"' in page.text and recipient in page.text
    assert "HTTP 503 from the provider" in page.text

    token = await csrf_token(stack.client, "/ui/dead-letters")
    retried = await stack.client.post(
        f"/ui/dead-letters/{delivery_id}/retry", data={"_csrf_token": token}, follow_redirects=False
    )
    assert (retried.status_code, retried.headers["location"]) == (303, "/ui/dead-letters?done=retried")
    after = await stack.client.get("/ui/dead-letters?done=retried")
    assert "Sent again" in after.text and delivery_id not in after.text
    for _ in range(100):
        if await status_of(stack, delivery_id) == "sent":
            break
        await asyncio.sleep(0.05)
    assert await status_of(stack, delivery_id) == "sent"

    twice = await stack.client.post(
        f"/ui/dead-letters/{delivery_id}/retry", data={"_csrf_token": token}, follow_redirects=False
    )
    assert twice.headers.get("location") == "/ui/dead-letters?done=gone", (
        twice.status_code,
        twice.text[:3000],
    )


async def test_a_discarded_dead_letter_is_failed_for_good_and_names_the_operator(stack: Stack) -> None:
    delivery_id, _ = await killed(stack)
    await sign_in(stack.client, "admin")
    token = await csrf_token(stack.client, "/ui/dead-letters")
    await stack.client.post(f"/ui/dead-letters/{delivery_id}/discard", data={"_csrf_token": token})
    assert await status_of(stack, delivery_id) == "failed"
    async with stack.client.app.state.services.database.sessions() as session:
        error = await session.scalar(select(Delivery.last_error).where(Delivery.id == uuid.UUID(delivery_id)))
    assert error == "discarded by ui:admin; HTTP 503 from the provider"


async def test_a_viewer_sees_dead_letters_without_buttons_and_is_refused_a_retry(stack: Stack) -> None:
    delivery_id, _ = await killed(stack)
    await sign_in(stack.client, "viewer")
    page = await stack.client.get("/ui/dead-letters")
    assert delivery_id in page.text and "/retry" not in page.text and "/discard" not in page.text
    token = await csrf_token(stack.client, "/ui/dead-letters")
    refused = await stack.client.post(f"/ui/dead-letters/{delivery_id}/retry", data={"_csrf_token": token})
    assert refused.status_code == 403
    assert await status_of(stack, delivery_id) == "dead"


async def test_no_dead_letters_says_so_and_where_to_look(stack: Stack) -> None:
    await sign_in(stack.client, "viewer")
    page = await stack.client.get("/ui/dead-letters")
    assert "No dead letters" in page.text and 'href="/ui/providers"' in page.text


async def test_dead_letters_page_back_from_a_moment_and_refuse_one_that_is_not(stack: Stack) -> None:
    await sign_in(stack.client, "viewer")
    older = await stack.client.get("/ui/dead-letters", params={"before": "2026-01-01T00:00:00+00:00"})
    assert older.status_code == 200 and "No dead letters" in older.text
    garbled = await stack.client.get("/ui/dead-letters", params={"before": "yesterday-ish"})
    assert garbled.status_code == 400


async def test_the_configuration_page_shows_the_yaml_in_force_with_every_secret_masked(stack: Stack) -> None:
    await sign_in(stack.client, "admin")
    page = await stack.client.get("/ui/config")
    assert page.status_code == 200
    text = html.unescape(page.text)
    config = stack.catalog.config
    secrets = [
        config.server.secret_key.get_secret_value(),
        *(u.password_hash.get_secret_value() for u in config.users),
    ]
    secrets += [k.key.get_secret_value() for k in config.api_keys if k.key is not None]
    assert not [s for s in secrets if s in text]
    assert "${CLARION_SECRET_KEY:-••••••••}" in text  # the reference stays readable, its default does not
    assert "# Clarion demo configuration" in text  # comments are kept
    assert "The file on disk is the one in force." in text
    assert (
        'action="/ui/config/reload"' not in page.text
    )  # this process cannot reload itself (no `clarion serve`)


def example_copy(directory: Path) -> Path:
    """The example config and its template files, somewhere a test may change them."""
    shutil.copytree(EXAMPLE_CONFIG.parent / "templates", directory / "templates")
    config = directory / "clarion.yaml"
    config.write_text(EXAMPLE_CONFIG.read_text())
    return config


async def test_a_changed_file_is_offered_for_reload_and_a_broken_one_lists_its_problems(
    stack_settings: Settings, tmp_path: Path
) -> None:
    config = example_copy(tmp_path)
    async with serving(stack_settings, load_catalog(config), config) as client:
        await sign_in(client, "admin")
        config.write_text(EXAMPLE_CONFIG.read_text().replace("Clarion Demo", "Acme Alerts"))
        changed = await client.get("/ui/config")
        assert "has changed since it was loaded, and it is valid" in changed.text

        config.write_text(EXAMPLE_CONFIG.read_text().replace("strategy: fallback", "strategy: sideways"))
        broken = await client.get("/ui/config")
        line = next(n for n, text in enumerate(config.read_text().splitlines(), 1) if "sideways" in text)
        assert (
            "invalid on disk" in broken.text
            and f"{config}:{line}: categories.reminders.strategy" in broken.text
        )
        token = await csrf_token(client, "/ui/config")
        refused = await client.post("/ui/config/reload", data={"_csrf_token": token})
        assert refused.status_code == 422 and "Clarion Demo" in refused.text
        assert "Not reloaded: the file on disk has problems" in refused.text


async def test_a_reload_that_cannot_happen_says_why(stack: Stack) -> None:
    await sign_in(stack.client, "admin")
    token = await csrf_token(stack.client, "/ui/config")
    refused = await stack.client.post("/ui/config/reload", data={"_csrf_token": token})
    assert refused.status_code == 409
    assert "this process was not started by `clarion serve`" in html.unescape(refused.text)


async def test_only_an_admin_may_reload_the_configuration(stack: Stack) -> None:
    await sign_in(stack.client, "marketer")
    token = await csrf_token(stack.client, "/ui/config")
    refused = await stack.client.post("/ui/config/reload", data={"_csrf_token": token})
    assert refused.status_code == 403 and "Only an admin" in refused.text
