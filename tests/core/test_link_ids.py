"""Order link ids: Bybit's alphabet and length, uniqueness, round-trip, garbage-proof decode."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from core.ids import BotCode
from core.link_ids import ALPHABET, MAX_LENGTH, LinkIdFactory, Reason, decode, is_valid

codes = st.from_regex(r"[a-z0-9]{2,8}", fullmatch=True)
reasons = st.sampled_from(list(Reason))


class _FrozenClock:
    """A clock stuck at one instant (or any instant we choose), to stress the counter."""

    def __init__(self, ns: int) -> None:
        self.ns = ns

    def time_ns(self) -> int:
        return self.ns


@given(code=codes, reason=reasons, ms=st.integers(min_value=0, max_value=2**43))
def test_every_id_fits_bybit_and_round_trips(code: str, reason: Reason, ms: int) -> None:
    factory = LinkIdFactory(BotCode(code), clock=_FrozenClock(ms * 1_000_000))  # type: ignore[arg-type]
    link_id = factory.new(reason)
    assert len(link_id) <= MAX_LENGTH
    assert ALPHABET.fullmatch(link_id) and is_valid(link_id)
    decoded = decode(link_id)
    assert decoded is not None
    assert decoded.bot_code == code
    assert decoded.reason is reason
    assert decoded.issued_at == datetime.fromtimestamp(ms / 1000, tz=UTC)


def test_ids_are_unique_within_a_process_even_when_the_clock_stands_still() -> None:
    factory = LinkIdFactory(BotCode("ss1"), clock=_FrozenClock(1_700_000_000_000_000_000))  # type: ignore[arg-type]
    ids: list[str] = []

    def issue() -> None:
        ids.extend(factory.new(Reason.ENTRY) for _ in range(2000))

    threads = [threading.Thread(target=issue) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ids) == len(set(ids)) == 8000


def test_the_clock_going_backwards_does_not_reuse_an_id() -> None:
    clock = _FrozenClock(1_700_000_000_000_000_000)
    factory = LinkIdFactory(BotCode("ss1"), clock=clock)  # type: ignore[arg-type]
    first = factory.new(Reason.ENTRY)
    clock.ns -= 3_600 * 10**9
    second = factory.new(Reason.ENTRY)
    assert first != second
    assert decode(second).issued_at >= decode(first).issued_at  # type: ignore[union-attr]


def test_two_runs_of_one_bot_do_not_collide_at_the_same_instant() -> None:
    clock = _FrozenClock(1_700_000_000_000_000_000)
    runs = [LinkIdFactory(BotCode("ss1"), clock=clock) for _ in range(50)]  # type: ignore[arg-type]
    assert len({run.new(Reason.ENTRY) for run in runs}) == 50


def test_the_documented_example_decodes() -> None:
    decoded = decode("ss1-en-mi3k9q2a-1f")
    assert decoded is not None
    assert (decoded.bot_code, decoded.reason, decoded.counter) == ("ss1", Reason.ENTRY, 51)
    assert decoded.human("shortseller_001").startswith("shortseller_001:entry:20")


@given(st.one_of(st.text(max_size=60), st.binary().map(repr), st.none(), st.integers()))
def test_decoding_garbage_never_raises(value: object) -> None:
    result = decode(value)
    assert result is None or result.bot_code.isalnum()


def test_foreign_and_malformed_ids_are_unattributed() -> None:
    for foreign in (
        "",
        "manual-order",
        "shortseller_001:entry:1700000000000",
        "SS1-en-1-1",
        "ss1-entry-1-1",
        "ss1-en--1",
        "x" * 37,
        "ss1-en-1-1-extra",
    ):
        assert decode(foreign) is None, foreign


def test_reason_labels_are_the_report_words() -> None:
    assert Reason.TRAIL.label == "trail"
    assert Reason.from_label("trail") is Reason.TRAIL
    assert Reason.from_label("tr") is Reason.TRAIL
