"""The handlers: the preference page and its form, and unsubscribe (the confirmation page and RFC 8058).

A GET never changes anything: mail scanners and link previews follow every link in a message.
Changes happen on POST only, each written to the consent log with where it came from.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from ...config.schema import CategoryConfig
from ...db.models import Recipient
from ...preferences import ledger
from ...preferences.matrix import matrix, unsubscribe_from
from ..services import Services, ServicesDep
from .access import optional_category, recipient_for
from .changes import apply_change
from .forms import change_from_form
from .responses import page, see_other
from .views import preferences_page, unsubscribe_page

PREFERENCE_CENTER = "preference_center"
ONE_CLICK = "one_click"


@get("/preferences/{token:str}", name="center:preferences")
async def show_preferences(
    services: ServicesDep, token: FromPath[str], saved: FromQuery[bool] = False
) -> Template:
    config, links = services.catalog.config, services.catalog.links
    recipient_id = links.read_preferences(token)
    async with services.database.sessions() as session:
        recipient = await recipient_for(session, recipient_id)
        choices = (await ledger.choices_for(session, [recipient]))[recipient.id]
    view = preferences_page(
        config,
        recipient.locale,
        matrix(config, choices),
        unsubscribed_all=choices.unsubscribed_all,
        action=f"/preferences/{token}",
        saved=saved,
    )
    return page("preferences.html", view)


# No CSRF token: there is no cookie or session to ride on. The signed token in the URL is the
# only credential, and a page that could forge this POST would already have to know it.
@post("/preferences/{token:str}", name="center:save")
async def save_preferences(
    request: Request[Any, Any, Any], services: ServicesDep, token: FromPath[str]
) -> Redirect:
    config, links = services.catalog.config, services.catalog.links
    recipient_id = links.read_preferences(token)
    wanted = change_from_form(config, set((await request.form()).keys()))
    await apply_change(services.database, recipient_id, wanted, source=PREFERENCE_CENTER)
    return see_other(f"/preferences/{token}?saved=1")


@get("/unsubscribe/{token:str}", name="center:unsubscribe")
async def confirm_unsubscribe(services: ServicesDep, token: FromPath[str]) -> Template:
    config, links = services.catalog.config, services.catalog.links
    target = links.read_unsubscribe(token)
    rules = optional_category(config, target.recipient_id, target.category)
    async with services.database.sessions() as session:
        recipient = await recipient_for(session, target.recipient_id)
    return _unsubscribe(services, token, recipient, (target.category, rules), done=False)


# RFC 8058: mail providers POST `List-Unsubscribe=One-Click` here without a human, and our own
# confirmation page posts the same field. The body is not required: the signed token is what
# authorises, and a POST is never sent by a scanner that merely follows links. Idempotent: once
# the channels are off, a repeat changes and logs nothing.
@post("/unsubscribe/{token:str}", name="center:unsubscribe-now", status_code=200)
async def unsubscribe_now(services: ServicesDep, token: FromPath[str]) -> Template:
    config, links = services.catalog.config, services.catalog.links
    target = links.read_unsubscribe(token)
    rules = optional_category(config, target.recipient_id, target.category)
    wanted = unsubscribe_from(target.category, rules)
    recipient = await apply_change(services.database, target.recipient_id, wanted, source=ONE_CLICK)
    return _unsubscribe(services, token, recipient, (target.category, rules), done=True)


def _unsubscribe(
    services: Services, token: str, recipient: Recipient, category: tuple[str, CategoryConfig], *, done: bool
) -> Template:
    view = unsubscribe_page(
        services.catalog.config,
        recipient.locale,
        category,
        action=f"/unsubscribe/{token}",
        manage_url=services.catalog.links.preferences_url(recipient.id),
        done=done,
    )
    return page("unsubscribe.html", view)


PAGES = [show_preferences, save_preferences, confirm_unsubscribe, unsubscribe_now]
