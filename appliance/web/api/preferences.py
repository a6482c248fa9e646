"""What each recipient receives, over the API: preferences, their consent log, and unsubscribes
arriving by mail (the `mailto:` target of List-Unsubscribe)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, ParamSpec, TypeVar

from litestar import Controller, Request, get, post, put
from litestar.params import JSONBody, Parameter
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ...catalog import Catalog
from ...config.schema import CategoryConfig, ClarionConfig
from ...db.models import MAX_ROW_ID, ConsentEvent, Recipient
from ...db.types import utcnow
from ...errors import NotFound, RequestRejected
from ...pipeline.requests import ExternalId, PreferencesIn, UnsubscribeIn
from ...preferences import ledger
from ...preferences.ledger import PreferenceChange
from ...preferences.links import LinkProblem, Unsubscribe, token_in_subject
from ...preferences.matrix import CategorySetting, matrix, problems, unsubscribe_from
from ..problems import field_error, problem
from ..services import Services, ServicesDep
from .schemas import (
    CategoryPreferencesOut,
    ChannelPreferenceOut,
    ConsentEventOut,
    ConsentPage,
    PreferencesOut,
    UnsubscribedOut,
)

P = ParamSpec("P")
T = TypeVar("T")


class PreferencesController(Controller):
    path = "/v1"
    tags = ["preferences"]

    @get(
        "/recipients/{recipient_id:str}/preferences",
        summary="What a recipient receives",
        description="Every category of the config, each channel with `enabled` and where that comes "
        "from (`source`: the recipient's choice or the category's default). `unsubscribed_all` turns off "
        "every category with `opt_out: true` whatever its channels say; the others are always sent.",
    )
    async def read(self, services: ServicesDep, recipient_id: ExternalId) -> PreferencesOut:
        async with services.database.sessions() as session:
            recipient = await _recipient(session, recipient_id)
            return await _preferences_out(session, services.catalog, recipient)

    @put(
        "/recipients/{recipient_id:str}/preferences",
        summary="Change what a recipient receives",
        description="Merges: only the entries given change. `categories.<category>.<channel>` sets one "
        "channel of one category; channels and categories left out keep their setting, and "
        "`unsubscribed_all` left out keeps its value. All or nothing: one invalid entry (an unknown "
        "category or channel, a category that cannot be opted out of) rejects the request with a 422 "
        "listing every one, and nothing is written. Every change is recorded in the consent log with "
        "the source `api:<API key name>`. Answers with the preferences after the change.",
    )
    async def update(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        recipient_id: ExternalId,
        data: JSONBody[PreferencesIn],
    ) -> PreferencesOut:
        wanted = _checked(services.catalog.config, data)
        source = f"api:{request.state.caller}"
        return await _once_more_on_conflict(_update, services, recipient_id, wanted, source)

    @get("/recipients/{recipient_id:str}/consent", summary="A recipient's consent log, newest first")
    async def consent(
        self,
        services: ServicesDep,
        recipient_id: ExternalId,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
        before: Annotated[
            int | None, Parameter(ge=1, le=MAX_ROW_ID, description="page: the `next` of the previous page")
        ] = None,
    ) -> ConsentPage:
        async with services.database.sessions() as session:
            recipient = await _recipient(session, recipient_id)
            # One more than asked tells whether another page follows.
            events = await ledger.consent_log(session, recipient.id, before=before, limit=limit + 1)
        page = [_event_out(event) for event in events[:limit]]
        return ConsentPage(events=page, next=page[-1].id if len(events) > limit else None)

    @post(
        "/unsubscribes",
        status_code=200,
        summary="Unsubscribe by token (the mailto: target of List-Unsubscribe)",
        description="For an inbound-mail hook: pass the `subject` of a mail sent to "
        "`preference_center.unsubscribe_mailto` (`unsubscribe <token>`), or the `token` alone. "
        "Turns off every channel of the token's category, recorded with the source `mailto`. "
        "Repeating it changes nothing and answers the same.",
    )
    async def unsubscribe(self, services: ServicesDep, data: JSONBody[UnsubscribeIn]) -> UnsubscribedOut:
        field, token = _token(data)
        wanted = _read_token(services.catalog, field, token)
        rules = services.catalog.config.categories.get(wanted.category)
        if rules is None or not rules.opt_out:  # the config changed since the link was sent
            raise RequestRejected(field, f"{wanted.category} can no longer be unsubscribed from")
        return await _once_more_on_conflict(_unsubscribe, services, field, wanted, rules)


async def _update(
    services: Services, recipient_id: str, wanted: PreferenceChange, source: str
) -> PreferencesOut:
    async with services.database.transaction() as session:
        recipient = await _recipient(session, recipient_id, lock=True)
        await ledger.change(session, recipient, wanted, source=source, now=utcnow())
        await session.flush()
        return await _preferences_out(session, services.catalog, recipient)


async def _unsubscribe(
    services: Services, field: str, wanted: Unsubscribe, rules: CategoryConfig
) -> UnsubscribedOut:
    async with services.database.transaction() as session:
        recipient = await session.scalar(
            select(Recipient).where(Recipient.id == wanted.recipient_id).with_for_update()
        )
        if recipient is None:
            raise RequestRejected(field, "the recipient of this token no longer exists")
        change = unsubscribe_from(wanted.category, rules)
        await ledger.change(session, recipient, change, source="mailto", now=utcnow())
        return UnsubscribedOut(recipient=recipient.external_id, category=wanted.category)


async def _once_more_on_conflict(apply: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
    """`apply`, run again if another writer inserted the same preference row first.

    Our writers lock the recipient's row; the preference center does not, so a one-click unsubscribe
    can still race one of ours on PostgreSQL. The second pass finds the row and changes only the rest.
    """
    try:
        return await apply(*args, **kwargs)
    except IntegrityError:
        return await apply(*args, **kwargs)


async def _recipient(session: AsyncSession, external_id: str, *, lock: bool = False) -> Recipient:
    # Locked while changing, so concurrent changes to one recipient log consistent old -> new values.
    query = select(Recipient).where(Recipient.external_id == external_id)
    recipient = await session.scalar(query.with_for_update() if lock else query)
    if recipient is None:
        raise NotFound("recipient", external_id)
    return recipient


def _checked(config: ClarionConfig, data: PreferencesIn) -> PreferenceChange:
    """The change asked for, or a 422 naming every entry the config does not allow."""
    wanted = PreferenceChange(data.unsubscribed_all, data.channels())
    found = list(problems(config, wanted))
    # An empty entry changes nothing, but a misspelt category name is still worth naming.
    found += [
        (f"categories.{name}", f"unknown category {name!r}; known: {', '.join(config.categories)}")
        for name, channels in data.categories.items()
        if not channels and name not in config.categories
    ]
    found = list(dict.fromkeys(found))  # one per category, not one per channel of it
    if found:
        errors = [field_error(field, message) for field, message in found]
        raise problem(422, "Request rejected", found[0][1], errors=errors)
    return wanted


async def _preferences_out(session: AsyncSession, catalog: Catalog, recipient: Recipient) -> PreferencesOut:
    choices = (await ledger.choices_for(session, [recipient]))[recipient.id]
    return PreferencesOut(
        recipient=recipient.external_id,
        unsubscribed_all=choices.unsubscribed_all,
        categories={setting.name: _category_out(setting) for setting in matrix(catalog.config, choices)},
        preferences_url=catalog.links.preferences_url(recipient.id),
    )


def _category_out(setting: CategorySetting) -> CategoryPreferencesOut:
    rules = setting.rules
    return CategoryPreferencesOut(
        title=rules.display_title,
        description=rules.description,
        opt_out=rules.opt_out,
        default=rules.default,
        channels={
            item.channel.value: ChannelPreferenceOut(item.enabled, "recipient" if item.chosen else "default")
            for item in setting.channels
        },
    )


def _event_out(event: ConsentEvent) -> ConsentEventOut:
    return ConsentEventOut(
        event.id, event.created_at, event.subject, event.old, event.new, event.source, event.detail
    )


def _token(data: UnsubscribeIn) -> tuple[str, str]:
    """(the field it came from, the token)."""
    if (data.token is None) == (data.subject is None):
        raise RequestRejected("token", "send either `token`, or the mail's `subject` (`unsubscribe <token>`)")
    if data.token is not None:
        return "token", data.token
    token = token_in_subject(data.subject or "")
    if token is None:
        raise RequestRejected(
            "subject", "expected `unsubscribe <token>`, as the List-Unsubscribe mailto: sets"
        )
    return "subject", token


def _read_token(catalog: Catalog, field: str, token: str) -> Unsubscribe:
    try:
        return catalog.links.read_unsubscribe(token)
    except LinkProblem as exc:
        if exc.expired:
            raise RequestRejected(field, "the unsubscribe link has expired; nothing was changed") from None
        raise RequestRejected(field, "not a valid unsubscribe token; nothing was changed") from None
