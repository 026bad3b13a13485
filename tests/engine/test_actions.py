"""The table of actions and close reasons: one row per code, reasons rendered from templates."""

import math

import numpy as np
import pytest

from engine.enums import Action, CloseReason, NoRoll
from engine.policy.actions import (
    ACTIONS,
    CLOSE_REASONS,
    NO_ROLL_TEXT,
    REASON_FIELDS,
    meta_tables,
    reason_text,
    reason_texts,
)


def test_tables_follow_the_codes():
    assert [(a.code, a.name) for a in ACTIONS] == list(zip(Action, Action._fields, strict=True))
    assert [(r.code, r.name) for r in CLOSE_REASONS] == list(
        zip(CloseReason, CloseReason._fields, strict=True)
    )
    assert set(NO_ROLL_TEXT) == set(NoRoll)
    assert all(a.label and a.description and a.reason for a in ACTIONS)
    assert {a.name for a in ACTIONS if a.traded} == {"sell", "roll"}


VALUES = dict(
    best_instrument="BTC-7JAN22-50000-C",
    best_score=6.125,
    sold_instrument="BTC-14JAN22-52000-C",
    sold_score=7.0,
    min_score=5.0,
    captured_share=0.8134,
    tp_threshold_pct=80.0,
    no_roll=NoRoll.too_close_to_expiry,
)


@pytest.mark.parametrize(
    ("action", "text"),
    [
        (Action.sell, "sold BTC-14JAN22-52000-C (score 7.00 >= 5)"),
        (Action.position_open, "a covered call is open: hold"),
        (Action.below_threshold, "best candidate BTC-7JAN22-50000-C scores 6.12 < 5"),
        (
            Action.roll,
            "took profit: 81% of the premium captured (threshold 80%) and rolled into "
            "BTC-14JAN22-52000-C (score 7.00)",
        ),
        (
            Action.take_profit,
            "took profit: 81% of the premium captured (threshold 80%); no roll: too close to "
            "expiry",
        ),
    ],
)
def test_reason_text_renders_the_template(action, text):
    assert reason_text(action, **VALUES) == text


def test_reason_texts_equal_one_by_one_rendering():
    rng = np.random.default_rng(3)
    n = 400
    actions = rng.integers(0, len(Action), n)
    columns = {
        "best_instrument": [f"BTC-7JAN22-{k}-C" for k in rng.integers(1, 9, n) * 1000],
        "best_score": rng.uniform(0, 10, n),
        "sold_instrument": [f"BTC-14JAN22-{k}-C" for k in rng.integers(1, 9, n) * 1000],
        "sold_score": rng.uniform(0, 10, n),
        "min_score": np.full(n, 5.5),
        "captured_share": rng.uniform(-1, 1, n),
        "tp_threshold_pct": np.full(n, 62.5),
        "no_roll": rng.integers(0, len(NoRoll), n),
    }
    assert set(columns) == set(REASON_FIELDS)
    many = reason_texts(
        actions, lambda idx: {k: [v[i] for i in idx] for k, v in columns.items()}
    ).to_list()
    one = [reason_text(int(a), **{k: v[i] for k, v in columns.items()}) for i, a in
           enumerate(actions)]  # fmt: skip
    assert many == one


def test_meta_tables_are_json_ready():
    meta = meta_tables()
    assert [a["name"] for a in meta["actions"]] == list(Action._fields)
    assert [r["name"] for r in meta["close_reasons"]] == list(CloseReason._fields)
    assert not any(
        isinstance(v, float) and math.isnan(v) for a in meta["actions"] for v in a.values()
    )
