"""UTCDateTime writes SQLite's text itself: it must be SQLAlchemy's format to the character,
or comparisons between rows written before and after would go wrong."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from appliance.db.types import UTCDateTime

zones = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
moments = st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(9999, 12, 30), timezones=zones)


@given(moments)
def test_sqlite_text_is_sqlalchemys_own_format_of_the_utc_time(moment: datetime) -> None:
    dialect = sqlite.dialect()
    ours = UTCDateTime().bind_processor(dialect)
    theirs = sqlite.DATETIME().bind_processor(dialect)
    assert ours is not None and theirs is not None
    assert ours(moment) == theirs(moment.astimezone(UTC).replace(tzinfo=None))


def test_a_naive_datetime_is_refused_on_both_databases() -> None:
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        process = UTCDateTime().bind_processor(dialect)
        assert process is not None
        with pytest.raises(ValueError, match="naive datetime"):
            process(datetime(2026, 1, 1))
        assert process(None) is None


@given(st.lists(moments, min_size=2, max_size=20))
def test_sqlite_round_trip_keeps_the_instant_and_orders_by_time(values: list[datetime]) -> None:
    table = Table("t", MetaData(), Column("id", Integer, primary_key=True), Column("at", UTCDateTime()))
    engine = create_engine("sqlite://")
    table.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(insert(table), [{"at": v} for v in values])
        read = connection.execute(select(table.c.at).order_by(table.c.at)).scalars().all()
        first = min(values)
        earlier = connection.execute(select(table.c.at).where(table.c.at < first)).all()
        same = connection.execute(select(table.c.at).where(table.c.at == first)).scalars().all()
    assert read == sorted(values)
    assert all(v.tzinfo is UTC for v in read)
    assert earlier == []
    assert same and all(v == first for v in same)


def test_the_two_wall_times_of_an_autumn_hour_are_two_instants() -> None:
    """Equal as keys in their zone (`fold` is left out of comparisons), an hour apart in UTC."""
    process = UTCDateTime().bind_processor(sqlite.dialect())
    assert process is not None
    first = datetime(2026, 11, 1, 1, 30, tzinfo=ZoneInfo("America/New_York"))
    second = first.replace(fold=1)
    assert (process(first), process(second)) == ("2026-11-01 05:30:00.000000", "2026-11-01 06:30:00.000000")
