"""POST /v1/notifications, the batch variant, and GET /v1/notifications/{id}."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, HeaderParameter, JSONBody
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ...campaigns.topic_sends import send_to_topic
from ...db.models import Notification
from ...db.types import utcnow
from ...errors import NotFound, RequestRejected
from ...pipeline.requests import BatchIn, IdempotencyKey, NotificationIn, decode_item
from ...pipeline.status import notification_status
from ...pipeline.store import Stored
from ...pipeline.submit import Submission, submit
from ...scheduling.jobs import release_later
from ..problems import rejected_body
from ..services import Services, ServicesDep
from .campaigns import set_going
from .schemas import (
    Accepted,
    AttemptOut,
    BatchItemOut,
    BatchOut,
    DeliveryOut,
    EventOut,
    NotificationOut,
    TopicAccepted,
)


class NotificationsController(Controller):
    path = "/v1/notifications"
    tags = ["notifications"]

    @post(
        "/",
        status_code=202,
        summary="Send a notification",
        description="Validates, stores and enqueues one notification. With a future `send_at` (ISO 8601 "
        "with an offset) it is stored now and enqueued then: its deliveries stay `queued` with that "
        "`not_before`. With an `Idempotency-Key`, a repeat of the same request returns the first answer; "
        'a different body with the same key is a 422. `"to": {"topic": key}` sends to every subscriber '
        "of the topic instead: the answer names the campaign that fans it out.",
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        data: JSONBody[NotificationIn],
        idempotency_key: Annotated[IdempotencyKey | None, HeaderParameter(name="Idempotency-Key")] = None,
    ) -> Response[Accepted | TopicAccepted]:
        if data.to.topic is not None:
            return await _send_to_topic(services, request, data, idempotency_key)
        [result] = await _submit(services, request, [Submission(data, idempotency_key)])
        if isinstance(result, RequestRejected):
            raise result
        headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
        return Response(Accepted(id=str(result.notification_id)), status_code=202, headers=headers)

    @post(
        "/batch",
        status_code=200,
        summary="Send up to 1,000 notifications",
        description="Each item is validated and answered on its own: `status` 202 with its `id`, or a "
        "problem in `error`. Items may carry their own `idempotency_key` and `send_at`.",
    )
    async def create_batch(
        self, request: Request[Any, Any, Any], services: ServicesDep, data: JSONBody[BatchIn]
    ) -> BatchOut:
        submissions = [_decode(index, raw) for index, raw in enumerate(data.notifications)]
        results = await _submit(services, request, submissions)
        items = [_batch_item(index, result) for index, result in enumerate(results)]
        accepted = sum(1 for item in items if item.status == 202)
        return BatchOut(accepted=accepted, rejected=len(items) - accepted, results=items)

    @get("/{notification_id:uuid}", summary="A notification with its deliveries and attempts")
    async def read(self, services: ServicesDep, notification_id: FromPath[uuid.UUID]) -> NotificationOut:
        async with services.database.sessions() as session:
            notification = await session.scalar(
                select(Notification).where(Notification.id == notification_id)
            )
            if notification is None:
                raise NotFound("notification", str(notification_id))
            return notification_out(notification)


async def _submit(
    services: Services, request: Request[Any, Any, Any], submissions: list[Submission | RequestRejected]
) -> list[Stored | RequestRejected]:
    results = await submit(
        submissions,
        catalog=services.catalog,
        committer=services.committer,
        caller=request.state.caller,
    )
    # Committed but held for `send_at`: the scheduler enqueues them then.
    await release_later(services.scheduler, (item for item in results if isinstance(item, Stored)))
    return results


async def _send_to_topic(
    services: Services, request: Request[Any, Any, Any], data: NotificationIn, idempotency_key: str | None
) -> Response[Accepted | TopicAccepted]:
    data.to.check("to.")
    for attempt in range(2):
        try:
            async with services.database.transaction() as session:
                campaign, replayed = await send_to_topic(
                    session,
                    services.catalog,
                    data,
                    caller=request.state.caller,
                    idempotency_key=idempotency_key,
                    now=utcnow(),
                )
            break
        except IntegrityError:  # the same key, sent twice at once: the second pass replays the first
            if attempt:
                raise
    if not replayed:
        await set_going(services, campaign)
    answer = TopicAccepted(
        campaign_id=str(campaign.id),
        topic=str(data.to.topic),
        state=campaign.state,
        progress_url=f"/v1/campaigns/{campaign.id}",
    )
    return Response(answer, status_code=202, headers={"Idempotent-Replayed": "true"} if replayed else {})


def _decode(index: int, raw: dict[str, Any]) -> Submission | RequestRejected:
    try:
        submission = Submission(decode_item(raw, NotificationIn))
    except RequestRejected as exc:
        return exc
    if submission.request.to.topic is not None:
        return RequestRejected(
            "to.topic", "send to a topic with POST /v1/notifications, one at a time: each is a campaign"
        )
    return submission


def _batch_item(index: int, result: Stored | RequestRejected) -> BatchItemOut:
    if isinstance(result, RequestRejected):
        return BatchItemOut(index=index, status=result.status_code, error=rejected_body(result))
    return BatchItemOut(index=index, status=202, id=str(result.notification_id))


def notification_out(notification: Notification) -> NotificationOut:
    deliveries = [
        DeliveryOut(
            id=str(d.id),
            channel=d.channel,
            status=d.status,
            priority=d.priority,
            provider=d.provider,
            provider_message_id=d.provider_message_id,
            tries=d.attempt_count,
            error=d.last_error,
            created_at=d.created_at,
            sent_at=d.sent_at,
            not_before=d.not_before if d.status == "queued" else None,
            attempts=[
                AttemptOut(
                    a.provider,
                    a.outcome,
                    a.started_at,
                    round(a.latency_ms, 2),
                    a.provider_message_id,
                    a.error,
                )
                for a in d.attempts
            ],
            events=[EventOut(e.kind, e.provider, e.occurred_at, e.automated) for e in d.events],
        )
        for d in notification.deliveries
    ]
    return NotificationOut(
        id=str(notification.id),
        status=notification_status(d.status for d in notification.deliveries),
        recipient=notification.recipient.external_id,
        category=notification.category,
        template=notification.template,
        priority=notification.priority,
        data=notification.data,
        created_at=notification.created_at,
        deliveries=deliveries,
    )
