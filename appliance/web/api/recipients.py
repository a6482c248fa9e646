"""Recipients (upsert by your own id) and their push devices."""

from __future__ import annotations

import uuid

from litestar import Controller, Response, delete, get, post
from litestar.params import FromPath, JSONBody
from sqlalchemy import delete as sql_delete
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ...db.models import Device, Recipient
from ...errors import NotFound
from ...pipeline.requests import DeviceIn, ExternalId, RecipientIn
from ...pipeline.store import apply_profile
from ..services import ServicesDep
from .schemas import DeviceOut, RecipientOut


class RecipientsController(Controller):
    path = "/v1/recipients"
    tags = ["recipients"]

    @post(
        "/",
        summary="Create or update a recipient by your own id",
        description="Fields you leave out keep their value; `attributes` merge key by key. "
        "Answers 201 when the recipient is new, 200 when it was updated.",
    )
    async def upsert(self, services: ServicesDep, data: JSONBody[RecipientIn]) -> Response[RecipientOut]:
        data.check()
        for attempt in range(2):
            try:
                async with services.database.transaction() as session:
                    recipient = await _find(session, data.id)
                    created = recipient is None
                    if recipient is None:
                        recipient = Recipient(id=uuid.uuid4(), external_id=data.id, attributes={}, devices=[])
                        session.add(recipient)
                    apply_profile(recipient, data.profile_fields())
                    await session.flush()
                    await session.refresh(recipient)
                return Response(recipient_out(recipient), status_code=201 if created else 200)
            except IntegrityError:
                if attempt:  # a concurrent upsert created it first: the second pass updates it
                    raise
        raise AssertionError("unreachable")

    @get("/{recipient_id:str}", summary="A recipient and its devices")
    async def read(self, services: ServicesDep, recipient_id: ExternalId) -> RecipientOut:
        async with services.database.sessions() as session:
            return recipient_out(await _require(session, recipient_id))

    @post("/{recipient_id:str}/devices", summary="Register a push device (idempotent by token)")
    async def add_device(
        self, services: ServicesDep, recipient_id: ExternalId, data: JSONBody[DeviceIn]
    ) -> Response[DeviceOut]:
        async with services.database.transaction() as session:
            recipient = await _require(session, recipient_id)
            device = await session.scalar(select(Device).where(Device.token == data.token))
            created = device is None
            if device is None:
                device = Device(
                    id=uuid.uuid4(), recipient_id=recipient.id, platform=data.platform, token=data.token
                )
                session.add(device)
            else:
                # A token moves with the phone: the newest owner wins.
                device.recipient_id, device.platform = recipient.id, data.platform
            await session.flush()
            await session.refresh(device)
        return Response(
            DeviceOut(device.platform, device.token, device.created_at), status_code=201 if created else 200
        )

    @delete("/{recipient_id:str}/devices/{token:str}", summary="Remove a push device", status_code=204)
    async def remove_device(
        self, services: ServicesDep, recipient_id: ExternalId, token: FromPath[str]
    ) -> None:
        async with services.database.transaction() as session:
            recipient = await _require(session, recipient_id)
            removed = await session.execute(
                sql_delete(Device).where(Device.recipient_id == recipient.id, Device.token == token)
            )
            if removed.rowcount == 0:  # type: ignore[attr-defined]
                raise NotFound("device", token[:12] + "…")


async def _find(session: AsyncSession, external_id: str) -> Recipient | None:
    return await session.scalar(select(Recipient).where(Recipient.external_id == external_id))


async def _require(session: AsyncSession, external_id: str) -> Recipient:
    recipient = await _find(session, external_id)
    if recipient is None:
        raise NotFound("recipient", external_id)
    return recipient


def recipient_out(recipient: Recipient) -> RecipientOut:
    return RecipientOut(
        id=recipient.external_id,
        email=recipient.email,
        phone=recipient.phone,
        locale=recipient.locale,
        timezone=recipient.timezone,
        attributes=recipient.attributes or {},
        devices=[DeviceOut(d.platform, d.token, d.created_at) for d in recipient.devices],
        created_at=recipient.created_at,
        updated_at=recipient.updated_at,
    )
