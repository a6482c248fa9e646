"""Topics over the API: create or rename, list with counts, page through and change subscribers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, Response, delete, get, post, put
from litestar.params import JSONBody, Parameter

from ...audiences import topics
from ...audiences.topics import MAX_IDS_PER_CALL, TOPIC_KEY_HINT, TOPIC_KEY_PATTERN, is_topic_key
from ...errors import InvalidRequest, NotFound, RequestRejected
from ...pipeline.requests import ExternalId
from ..services import ServicesDep

TopicKey = Annotated[str, Parameter(description=f"matches `{TOPIC_KEY_PATTERN}`")]
IdList = Annotated[list[ExternalId], msgspec.Meta(max_length=MAX_IDS_PER_CALL)]


class TopicIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class SubscribersIn(msgspec.Struct, forbid_unknown_fields=True):
    """Recipients by your own ids; an id in neither list keeps its subscription as it is."""

    add: IdList = []
    remove: IdList = []


class TopicOut(msgspec.Struct):
    key: str
    name: str
    subscribers: int
    created_at: datetime


class SubscribersChanged(msgspec.Struct):
    added: int  # newly subscribed (those already subscribed are not counted)
    removed: int
    unknown: int  # ids of no recipient: nothing was done for them
    unknown_ids: list[str]  # the first 100 of them


class TopicsController(Controller):
    path = "/v1/topics"
    tags = ["topics"]

    @put(
        "/{key:str}",
        summary="Create a topic, or rename it",
        description=f"The key matches `{TOPIC_KEY_PATTERN}`. Answers 201 when the topic is new, 200 when "
        "it was renamed.",
    )
    async def put_topic(
        self, services: ServicesDep, key: TopicKey, data: JSONBody[TopicIn]
    ) -> Response[TopicOut]:
        _check_key(key)
        async with services.database.transaction() as session:
            created = await topics.put_topic(session, key, data.name)
        return Response(await _topic(services, key), status_code=201 if created else 200)

    @get("/", summary="Topics by key, with their subscriber counts")
    async def list_topics(
        self,
        services: ServicesDep,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
        after: Annotated[
            str | None, Parameter(max_length=64, description="page: only keys after this one")
        ] = None,
    ) -> list[TopicOut]:
        async with services.database.sessions() as session:
            found = await topics.topic_summaries(session, limit=limit, after=after)
        return [TopicOut(t.key, t.name, t.subscribers, t.created_at) for t in found]

    @get("/{key:str}", summary="A topic and its subscriber count")
    async def read_topic(self, services: ServicesDep, key: TopicKey) -> TopicOut:
        return await _topic(services, key)

    @delete(
        "/{key:str}", status_code=204, summary="Delete a topic and its subscriptions (not the recipients)"
    )
    async def delete_topic(self, services: ServicesDep, key: TopicKey) -> None:
        async with services.database.transaction() as session:
            await topics.delete_topic(session, key)

    @get("/{key:str}/subscribers", summary="A page of the topic's subscribers: their ids, in order")
    async def subscribers(
        self,
        services: ServicesDep,
        key: TopicKey,
        limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
        after: Annotated[
            str | None,
            Parameter(max_length=255, description="page: only ids after this one (the last you got)"),
        ] = None,
    ) -> list[str]:
        async with services.database.sessions() as session:
            return await topics.subscriber_ids(session, key, limit=limit, after=after)

    @post(
        "/{key:str}/subscribers",
        status_code=200,
        summary="Subscribe and unsubscribe recipients in bulk",
        description=f"Up to {MAX_IDS_PER_CALL:,} ids in `add` and `remove` together. Adding creates the "
        "topic when it does not exist yet. Ids of no recipient are counted and listed in `unknown_ids`.",
    )
    async def change(
        self, services: ServicesDep, key: TopicKey, data: JSONBody[SubscribersIn]
    ) -> SubscribersChanged:
        _check_key(key)
        _check_lists(data)
        async with services.database.transaction() as session:
            done = await topics.change_subscribers(session, key, add=data.add, remove=data.remove)
        return SubscribersChanged(done.added, done.removed, done.unknown, done.unknown_ids)


def _check_key(key: str) -> None:
    # Checked here rather than by a `pattern`, so the answer says what a key may hold in words.
    if not is_topic_key(key):
        raise InvalidRequest("key", f"{key[:80]!r}: a topic key {TOPIC_KEY_HINT}")


def _check_lists(data: SubscribersIn) -> None:
    if len(data.add) + len(data.remove) > MAX_IDS_PER_CALL:
        raise RequestRejected(
            "remove", f"`add` and `remove` hold more than {MAX_IDS_PER_CALL:,} ids together; split the call"
        )
    both = set(data.add) & set(data.remove)
    if both:
        raise RequestRejected("remove", f"{sorted(both)[0]!r} is in both `add` and `remove`; keep it in one")


async def _topic(services: ServicesDep, key: str) -> TopicOut:
    async with services.database.sessions() as session:
        found = await topics.topic_summaries(session, limit=1, key=key)
    if not found:
        raise NotFound("topic", key)
    topic = found[0]
    return TopicOut(topic.key, topic.name, topic.subscribers, topic.created_at)
