"""The collector: what start-up built is frozen, and let go of after a config reload."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from appliance import heap


class Config:
    """Stands for a loaded catalog: full of reference cycles, as compiled templates are."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture(autouse=True)
def _thawed() -> Iterator[None]:
    yield
    gc.unfreeze()  # the rest of the test process collects as usual


def test_what_start_up_built_is_left_out_of_collections() -> None:
    built = Config()
    heap.freeze_what_is_built()

    assert gc.get_freeze_count() > 0
    assert not any(obj is built for obj in gc.get_objects())  # no generation holds it


def test_a_reload_lets_the_previous_config_be_collected() -> None:
    old = Config()
    gone = weakref.ref(old)
    heap.freeze_what_is_built()
    del old  # a cycle: only the collector can free it, and it never looks at frozen objects

    heap.freeze_what_is_built()  # after the reload built the new one

    assert gone() is None
