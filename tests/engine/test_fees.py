from datetime import UTC, datetime

import pytest

from engine.config import FeeModel
from engine.fees import (
    DERIBIT_FEE_SCHEDULE,
    HIGHER_FEES_SEEN_UNTIL,
    FeeScheduleEntry,
    fee_schedule_facts,
    fees_in_force,
)


def _day(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, tzinfo=UTC)


def _entry(name: str, valid_from: datetime | None, rate: float) -> FeeScheduleEntry:
    return FeeScheduleEntry(name, valid_from, FeeModel(option_fee_rate=rate), source="test")


DATED = (
    _entry("old", _day(2019, 1, 1), 0.0004),
    _entry("mid", _day(2021, 6, 1), 0.00035),
    _entry("new", _day(2023, 1, 1), 0.0003),
)


def test_the_fee_model_defaults_are_todays_schedule():
    assert FeeModel() == fees_in_force(_day(2025, 6, 1)).fees
    current = DERIBIT_FEE_SCHEDULE[-1].fees
    assert (current.option_fee_rate, current.settlement_fee_rate) == (0.0003, 0.00015)
    assert (current.option_fee_cap_pct, current.settlement_fee_cap_pct) == (12.5, 12.5)
    assert not current.settlement_fee_on_dailies


def test_todays_schedule_stands_for_every_date():
    assert {fees_in_force(_day(y, 1, 1)).name for y in range(2016, 2027)} == {"deribit-current"}


@pytest.mark.parametrize(
    ("t", "name"),
    [
        (_day(2019, 1, 1), "old"),  # from its first day
        (_day(2021, 5, 31), "old"),
        (_day(2021, 6, 1), "mid"),
        (_day(2022, 12, 31), "mid"),
        (_day(2030, 1, 1), "new"),
    ],
)
def test_the_entry_in_force_is_the_last_begun(t, name):
    assert fees_in_force(t, schedule=DATED).name == name


def test_no_entry_before_the_first_dated_one():
    with pytest.raises(ValueError, match="no fee schedule entry is in force at 2018-12-31"):
        fees_in_force(_day(2018, 12, 31), schedule=DATED)


def test_the_summary_says_todays_schedule_stands_for_every_date():
    facts = fee_schedule_facts(FeeModel(), _day(2023, 1, 1))
    assert facts["name"] == "deribit-current" and facts["valid_from"] is None
    assert facts["source"].startswith("https://support.deribit.com/")
    assert facts["statement"] == (
        "fees: Deribit's current schedule (0.03 % trading, 0.015 % settlement) applied to every "
        "date; when its earlier, higher fees changed is not established"
    )


def test_a_run_from_the_documented_higher_fee_years_is_told_its_fees_are_understated():
    early = fee_schedule_facts(FeeModel(), _day(2019, 6, 1))["statement"]
    assert early.endswith("until at least 2020-02-03: this run's fees are understated)")
    later = fee_schedule_facts(FeeModel(), HIGHER_FEES_SEEN_UNTIL)["statement"]
    assert "understated" not in later


def test_fees_of_the_runs_own_are_not_called_deribits():
    fees = FeeModel(option_fee_rate=0.0005, settlement_fee_rate=0.0)
    statement = fee_schedule_facts(fees, _day(2019, 6, 1))["statement"]
    assert statement == (
        "fees set by the run's configuration (0.05 % trading, 0 % settlement), "
        "not Deribit's schedule"
    )
