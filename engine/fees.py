"""Deribit's BTC/ETH option fees as a dated schedule (sources and history: ``docs/fees.md``).

Each entry holds the fee parameters in force from ``valid_from`` on, and where they were read.
:func:`fees_in_force` picks the entry of an instant. Deribit's fee history could not be
established from the documents available: earlier, higher fees are documented (0.04 % trading,
0.02 % settlement in 2019 and early 2020) but not the date they changed. So the schedule holds
one entry, today's, applied to every date (``valid_from`` is None), and
:func:`fee_schedule_facts` says so in every run's summary.

A run's ``StrategyConfig.fees`` may override the parameters; its defaults equal today's entry.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from engine.config import FeeModel


@dataclass(frozen=True)
class FeeScheduleEntry:
    """Fee parameters in force from ``valid_from`` on (None: from the first date there is)."""

    name: str
    valid_from: datetime | None
    fees: FeeModel
    source: str  # where the parameters were read (docs/fees.md quotes it)


DERIBIT_FEE_SCHEDULE: tuple[FeeScheduleEntry, ...] = (
    FeeScheduleEntry(
        name="deribit-current",
        valid_from=None,
        fees=FeeModel(
            option_fee_rate=0.0003,
            option_fee_cap_pct=12.5,
            settlement_fee_rate=0.00015,
            settlement_fee_cap_pct=12.5,
            settlement_fee_on_dailies=False,
        ),
        source="https://support.deribit.com/hc/en-us/articles/25944746248989-Fees",
    ),
)
# Deribit's own pages show 0.04 % trading and 0.02 % settlement fees from 2019-02-01 until at
# least the launch of daily options on this day; when they fell to today's 0.03 % / 0.015 % is not
# known, so a run starting before it is told that its fees are understated (docs/fees.md)
HIGHER_FEES_SEEN_UNTIL = datetime(2020, 2, 3, tzinfo=UTC)


def fees_in_force(
    t: datetime, *, schedule: tuple[FeeScheduleEntry, ...] = DERIBIT_FEE_SCHEDULE
) -> FeeScheduleEntry:
    """The entry in force at ``t``: the last whose ``valid_from`` is at or before ``t``.

    ``schedule`` is sorted by ``valid_from``; only its first entry may have None (from the start).

    Raises
    ------
    ValueError
        When ``t`` comes before every entry.
    """
    current = None
    for entry in schedule:
        if entry.valid_from is None or entry.valid_from <= t:
            current = entry
    if current is None:
        raise ValueError(f"no fee schedule entry is in force at {t.isoformat()}")
    return current


def _pct(rate: float) -> str:
    return f"{rate * 100:g} %"


def fee_schedule_facts(fees: FeeModel, start: datetime) -> dict:
    """What a run's summary says about its fees: the schedule entry and one sentence.

    ``fees`` are the run's parameters, ``start`` its first instant. The sentence says whether
    the run used Deribit's schedule or fees of its own, and that today's schedule stands for
    every date because the history is not established.
    """
    entry = fees_in_force(start)
    if fees != entry.fees:
        statement = (
            f"fees set by the run's configuration ({_pct(fees.option_fee_rate)} trading, "
            f"{_pct(fees.settlement_fee_rate)} settlement), not Deribit's schedule"
        )
    else:
        statement = (
            f"fees: Deribit's current schedule ({_pct(fees.option_fee_rate)} trading, "
            f"{_pct(fees.settlement_fee_rate)} settlement) applied to every date; "
            "when its earlier, higher fees changed is not established"
        )
        if start < HIGHER_FEES_SEEN_UNTIL:
            statement += (
                " (Deribit documented 0.04 % and 0.02 % until at least "
                f"{HIGHER_FEES_SEEN_UNTIL:%Y-%m-%d}: this run's fees are understated)"
            )
    return {
        "name": entry.name,
        "valid_from": entry.valid_from.isoformat() if entry.valid_from else None,
        "source": entry.source,
        "statement": statement,
    }
