"""Black-76 pricing core: textbook values, properties, kernel = reference, edge cases, day count."""

import json
import math
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from engine.pricing import (
    IV_STATUS_DESCRIPTIONS,
    IVStatus,
    delta_coin,
    delta_usd,
    expiry_datetime,
    gamma,
    greeks,
    implied_vol,
    implied_vol_with_status,
    nb,
    option_price,
    t_years_to_expiry,
    theta,
    vega,
    year_fraction,
)
from tests.reference.pricing import (
    black76_greeks_ref,
    black76_price_coin_ref,
    black76_price_ref,
    implied_vol_ref,
    norm_cdf,
)

PROPERTY = settings(max_examples=300)
forwards = st.floats(100.0, 200_000.0)
log_moneyness = st.floats(-1.5, 1.5)  # strike = forward * exp(m)
years = st.floats(1e-3, 3.0)
vols = st.floats(0.05, 3.0)


def _close(a: float, b: float, scale: float, rel: float = 1e-9) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-10 * scale)


# --- textbook and Deribit values -------------------------------------------------------------


def test_hull_bsm_example_42_40() -> None:
    """Hull, Options, Futures, and Other Derivatives, the Black-Scholes-Merton worked example:
    S0 = 42, K = 40, r = 10 %, sigma = 20 %, T = 0.5 gives c = 4.76 and p = 0.81. Black-76 on the
    forward F = S0 e^{rT}, discounted by e^{-rT}, must give the same prices."""
    S0, K, r, T, sigma = 42.0, 40.0, 0.10, 0.5, 0.20
    F, df = S0 * math.exp(r * T), math.exp(-r * T)
    assert round(df * option_price(F, K, T, sigma, True, inverse=False), 2) == 4.76
    assert round(df * option_price(F, K, T, sigma, False, inverse=False), 2) == 0.81


def test_hull_black_model_futures_put() -> None:
    """Hull, Black's model example: a European put futures option on crude oil with F = K = 20,
    T = 4 months, r = 9 %, sigma = 25 % is worth p = 1.12 (= e^{-rT} x undiscounted Black-76)."""
    F, K, T, r, sigma = 20.0, 20.0, 4 / 12, 0.09, 0.25
    assert round(math.exp(-r * T) * option_price(F, K, T, sigma, False, inverse=False), 2) == 1.12


def test_hull_greek_letters_example() -> None:
    """Hull's greek-letters example: S0 = 49, K = 50, r = 5 %, sigma = 20 %, T = 20 weeks:
    c = 2.40 (the $240,000 for 100,000 calls), delta = 0.522, gamma = 0.066, vega = 12.1 per unit
    of sigma. Mapped to Black-76: same d1; spot vega = e^{-rT} x forward vega, spot gamma =
    e^{rT} x forward gamma."""
    S0, K, r, sigma, T = 49.0, 50.0, 0.05, 0.20, 20 / 52
    F = S0 * math.exp(r * T)
    g = greeks(F, K, T, sigma, True)
    assert round(math.exp(-r * T) * g.price_usd, 2) == 2.40
    assert round(g.delta_usd, 3) == 0.522
    assert round(math.exp(r * T) * g.gamma, 3) == 0.066
    assert round(math.exp(-r * T) * g.vega * 100, 1) == 12.1


def test_recorded_deribit_ticker_mark_and_greeks(api_responses_dir: Path) -> None:
    """A recorded public/ticker of BTC-27SEP24-40000-C: mark price and greeks in Deribit's units."""
    path = api_responses_dir / "ccxt" / "public_ticker_option_BTC-27SEP24-40000-C.json"
    tick = json.loads(path.read_text())["result"]
    now = datetime.fromtimestamp(tick["timestamp"] / 1000, UTC)
    T = t_years_to_expiry(now, date(2024, 9, 27))
    F, sigma = tick["underlying_price"], tick["mark_iv"] / 100
    g = greeks(F, 40_000.0, T, sigma, True)
    assert abs(g.price_coin - tick["mark_price"]) < 5e-5  # mark is rounded to 1e-4 BTC
    assert abs(g.delta_usd - tick["greeks"]["delta"]) < 1e-4
    assert round(g.gamma, 5) == tick["greeks"]["gamma"]
    assert g.vega == pytest.approx(tick["greeks"]["vega"], rel=1e-4)
    assert g.theta == pytest.approx(tick["greeks"]["theta"], rel=2e-4)
    assert implied_vol(tick["mark_price"], F, 40_000.0, T, True) == pytest.approx(sigma, abs=1e-3)


# --- properties --------------------------------------------------------------------------------


@PROPERTY
@given(forwards, log_moneyness, years, vols)
def test_put_call_parity_usd_and_coin(F: float, m: float, T: float, sigma: float) -> None:
    K = F * math.exp(m)
    call_usd, put_usd = option_price(F, K, T, sigma, [True, False], inverse=False)
    assert _close(call_usd - put_usd, F - K, max(F, K))
    call_coin, put_coin = option_price(F, K, T, sigma, [True, False])
    assert _close(call_coin - put_coin, (F - K) / F, max(F, K) / F)


@PROPERTY
@given(forwards, st.floats(-6.0, 6.0), st.floats(1e-6, 5.0), st.floats(0.0, 10.0), st.booleans())
def test_price_within_no_arbitrage_bounds(F, m, T, sigma, is_call) -> None:
    K = F * math.exp(m)
    price = option_price(F, K, T, sigma, is_call, inverse=False)
    intrinsic = max(F - K, 0.0) if is_call else max(K - F, 0.0)
    assert intrinsic <= price <= (F if is_call else K)


@PROPERTY
@given(forwards, log_moneyness, years, vols, vols, st.booleans())
def test_price_increases_with_sigma(F, m, T, s1, s2, is_call) -> None:
    K = F * math.exp(m)
    lo, hi = option_price(F, K, T, sorted([s1, s2]), is_call)
    assert hi >= lo - 1e-12


@PROPERTY
@given(forwards, log_moneyness, log_moneyness, years, vols)
def test_call_falls_and_put_rises_with_strike(F, m1, m2, T, sigma) -> None:
    K = F * np.exp(sorted([m1, m2]))
    call = option_price(F, K, T, sigma, True)
    put = option_price(F, K, T, sigma, False)
    assert call[1] <= call[0] + 1e-12
    assert put[1] >= put[0] - 1e-12


@PROPERTY
@given(forwards, log_moneyness, years, years, vols, st.booleans())
def test_price_increases_with_time(F, m, T1, T2, sigma, is_call) -> None:
    short, long = option_price(F, F * math.exp(m), sorted([T1, T2]), sigma, is_call)
    assert long >= short - 1e-12


@PROPERTY
@given(
    forwards,
    log_moneyness,
    st.one_of(st.floats(-0.5, 3.0), st.just(0.0)),
    st.one_of(st.floats(0.0, 5.0), st.just(0.0)),
    st.booleans(),
)
def test_kernels_equal_reference(F, m, T, sigma, is_call) -> None:
    K = F * math.exp(m)
    ref = black76_greeks_ref(F, K, T, sigma, is_call)
    g = greeks(F, K, T, sigma, is_call)
    scales = (F, 1.0, 1.0 / F, F / 100, F / 365)
    fields = (g.price_usd, g.delta_usd, g.gamma, g.vega, g.theta)
    for got, want, scale in zip(fields, ref, scales, strict=True):
        assert _close(got, want, scale), (got, want)
    ref_coin = black76_price_coin_ref(F, K, T, sigma, is_call)
    assert _close(option_price(F, K, T, sigma, is_call), ref_coin, 1.0)
    assert _close(g.price_coin, ref_coin, 1.0)
    assert _close(g.delta_coin, ref[1] - ref_coin, 1.0)
    assert _close(nb.black76_price_nb(F, K, T, sigma, is_call), ref[0], F)
    if is_call:
        assert _close(nb.call_price_coin_nb(F, K, T, sigma), ref_coin, 1.0)
    assert _close(nb.norm_cdf_nb(m * 4), norm_cdf(m * 4), 1.0)


# (F, log-moneyness, T, sigma) with the special cases the delta kernels treat apart
call_delta_inputs = (
    forwards,
    st.floats(-6.0, 6.0),
    st.one_of(st.floats(-0.5, 3.0), st.just(0.0), st.just(math.nan)),
    st.one_of(st.floats(0.0, 5.0), st.just(0.0), st.just(math.inf)),
)


@PROPERTY
@given(*call_delta_inputs)
def test_call_delta_then_price_equals_the_one_pass_kernel(F, m, T, sigma) -> None:
    """The prepare phase's split (delta first, the price only for a candidate that can rank)
    gives the one-pass kernel's delta and price to the last bit, special cases included."""
    K = F * math.exp(m)
    want_price, want_delta = nb.black76_price_delta_nb(F, K, T, sigma, True)
    delta, sd, d1, n1 = nb.call_delta_first_nb(F, K, T, sigma)
    price = nb.call_price_after_delta_nb(F, K, T, sigma, sd, d1, n1)
    pairs = (
        (delta, want_delta),
        (price, want_price),
        (nb.call_delta_nb(F, K, T, sigma), want_delta),
    )
    assert all(a == b or (math.isnan(a) and math.isnan(b)) for a, b in pairs), pairs


@PROPERTY
@given(*call_delta_inputs)
def test_call_d1_then_delta_equals_the_delta_kernel(F, m, T, sigma) -> None:
    """``call_d1_nb`` and ``call_delta_of_d1_nb`` are ``call_delta_first_nb``'s arithmetic to
    the bit; d1 is NaN exactly where that kernel computes none (invalid input, no vol left)."""
    K = F * math.exp(m)
    delta, sd, d1, _ = nb.call_delta_first_nb(F, K, T, sigma)
    got = nb.call_d1_nb(F, K, T, sigma)
    if math.isnan(got):
        assert math.isnan(delta) or sd == 0.0 or not sd > 0.0
        return
    assert got == d1
    assert nb.call_delta_of_d1_nb(got, K < F) == delta


@PROPERTY
@given(
    st.one_of(st.floats(1e-6, 1.0 - 1e-6), st.sampled_from([0.05, 0.1, 0.25, 0.4, 0.5, 0.6])),
    st.sampled_from([-1.0, 1.0]),
    st.one_of(st.just(0.0), st.floats(1e-9, 3.0)),
)
def test_a_d1_clearly_off_a_delta_level_puts_the_delta_on_that_side(level, side, dist) -> None:
    """From ``delta_level_d1_nb``'s bounds outwards the delta, either formula, is strictly on
    the d1's side of the level; the bounds sit within a relative 1e-6 of the level's quantile."""
    below, above = nb.delta_level_d1_nb(level)
    quantile = nb.norm_ppf_nb(level)
    assert below < quantile < above
    assert above - below <= 2.1e-6 * max(1.0, abs(quantile))
    edge = above if side > 0 else below
    d1 = edge + side * dist * max(1.0, abs(edge))
    for itm in (False, True):
        delta = nb.call_delta_of_d1_nb(d1, itm)
        assert delta > level if side > 0 else delta < level


def test_a_delta_level_outside_zero_one_is_never_sure() -> None:
    for level in (0.0, 1.0, -0.1, 1.5, math.nan):
        assert nb.delta_level_d1_nb(level) == (-math.inf, math.inf)


@PROPERTY
@given(forwards, log_moneyness, years, vols, st.booleans(), st.booleans())
def test_implied_vol_round_trip_and_reference(F, m, T, sigma, is_call, inverse) -> None:
    K = F * math.exp(m)
    price_usd = black76_price_ref(F, K, T, sigma, is_call)
    vega_per_sigma = black76_greeks_ref(F, K, T, sigma, is_call)[3] * 100
    # The price must carry the vol: enough vega for double precision to pin sigma to ~1e-9.
    assume(vega_per_sigma > 1e-6 * max(F, K))
    price = price_usd / F if inverse else price_usd
    solved, status = nb.implied_vol_nb(price, F, K, T, is_call, inverse)
    ref_sigma, ref_status = implied_vol_ref(price, F, K, T, is_call, inverse)
    assert status == ref_status == IVStatus.OK
    assert solved == pytest.approx(sigma, abs=1e-7)
    assert solved == pytest.approx(ref_sigma, abs=1e-7)
    assert implied_vol(price, F, K, T, is_call, inverse) == solved


def test_implied_vol_solves_every_price_the_pricer_makes() -> None:
    """200k random options, from deep ITM to far OTM and hours to years: each price is either
    solved to a vol that reprices it, or (time value too small to carry a vol) BELOW_BRACKET."""
    rng = np.random.default_rng(7)
    n = 200_000
    F = rng.uniform(1_000.0, 150_000.0, n)
    K = F * np.exp(rng.normal(0.0, 0.6, n))
    T = np.exp(rng.uniform(np.log(1e-4), np.log(3.0), n))
    sigma = rng.uniform(0.05, 5.0, n)
    is_call = rng.random(n) < 0.5
    price = option_price(F, K, T, sigma, is_call)
    solved, status = implied_vol_with_status(price, F, K, T, is_call)
    ok = status == IVStatus.OK
    assert set(np.unique(status[~ok])) <= {IVStatus.BELOW_BRACKET}
    intrinsic_coin = np.where(is_call, np.maximum(F - K, 0), np.maximum(K - F, 0)) / F
    assert (price[~ok] - intrinsic_coin[~ok] < 1e-13).all()  # only nil time value is unsolved
    repriced = option_price(F[ok], K[ok], T[ok], solved[ok], is_call[ok])
    np.testing.assert_allclose(repriced, price[ok], rtol=1e-9, atol=1e-10)  # 1e-10 coin
    # A far-OTM quote where plain Newton from above used to crawl past the iteration limit.
    far = option_price(112_681.0, 149_666.0, 0.0035, 0.2834, True)
    assert implied_vol(far, 112_681.0, 149_666.0, 0.0035, True) == pytest.approx(0.2834, rel=1e-6)


@PROPERTY
@given(st.floats(1_000.0, 100_000.0), st.floats(-0.5, 0.5), st.floats(0.01, 2.0),
       st.floats(0.1, 2.0), st.booleans())  # fmt: skip
def test_greeks_match_finite_differences(F, m, T, sigma, is_call) -> None:
    K = F * math.exp(m)

    def usd(F=F, T=T, sigma=sigma):
        return option_price(F, K, T, sigma, is_call, inverse=False)

    g = greeks(F, K, T, sigma, is_call)
    h = 1e-4 * F * min(1.0, sigma * math.sqrt(T))  # steps scale with the price curve's width
    fd_delta = (usd(F=F + h) - usd(F=F - h)) / (2 * h)
    fd_gamma = (usd(F=F + 2 * h) - 2 * usd() + usd(F=F - 2 * h)) / (2 * h) ** 2
    fd_vega = (usd(sigma=sigma + 1e-5) - usd(sigma=sigma - 1e-5)) / 2e-5 / 100
    fd_theta = -(usd(T=T + 1e-5 * T) - usd(T=T - 1e-5 * T)) / (2e-5 * T) / 365
    coin = option_price(F + h, K, T, sigma, is_call) - option_price(F - h, K, T, sigma, is_call)
    fd_delta_coin = F * coin / (2 * h)
    assert math.isclose(g.delta_usd, fd_delta, abs_tol=1e-7)
    assert math.isclose(g.delta_coin, fd_delta_coin, abs_tol=1e-7)
    assert math.isclose(g.gamma, fd_gamma, rel_tol=1e-4, abs_tol=1e-6 / (F * sigma * T**0.5))
    assert math.isclose(g.vega, fd_vega, rel_tol=1e-6, abs_tol=1e-9 * F)
    assert math.isclose(g.theta, fd_theta, rel_tol=1e-5, abs_tol=1e-9 * F)
    assert gamma(F, K, T, sigma) == g.gamma and vega(F, K, T, sigma) == g.vega
    assert theta(F, K, T, sigma) == g.theta
    assert delta_usd(F, K, T, sigma, is_call) == g.delta_usd
    assert delta_coin(F, K, T, sigma, is_call) == pytest.approx(g.delta_coin, abs=1e-15)


# --- shapes, edge cases and validation ---------------------------------------------------------


def test_scalars_give_floats_and_arrays_keep_their_shape() -> None:
    assert type(option_price(100_000.0, 110_000.0, 0.1, 0.5, True)) is float
    assert option_price(np.array([1e5]), 1.1e5, 0.1, 0.5, True).shape == (1,)
    grid = option_price(np.array([[9e4], [1e5], [1.1e5]]), np.array([9e4, 1e5]), 0.1, 0.5, True)
    assert grid.shape == (3, 2)
    assert grid[2, 0] == option_price(1.1e5, 9e4, 0.1, 0.5, True)
    empty = greeks(np.array([]), 1e5, 0.1, 0.5, True)
    assert all(field.shape == (0,) for field in empty)
    sigma, status = implied_vol_with_status(np.array([]), 1e5, 1e5, 0.1, True)
    assert sigma.shape == status.shape == (0,) and status.dtype == np.int8


@pytest.mark.parametrize(
    ("position", "bad"),
    [(i, v) for i in range(4) for v in (math.nan, math.inf)] + [(2, -math.inf)],
)
def test_non_finite_inputs_give_nan_without_raising(position: int, bad: float) -> None:
    good = [1e5, 1e5, 0.1, 0.5]  # forward, strike, t_years, sigma
    args = [bad if i == position else v for i, v in enumerate(good)]
    assert all(math.isnan(v) for v in greeks(*args, True))
    assert math.isnan(implied_vol(0.05, *args[:3], True)) or position == 3
    batch = [np.array([bad, v]) if i == position else v for i, v in enumerate(good)]
    prices = option_price(*batch, True)
    assert math.isnan(prices[0]) and np.isfinite(prices[1])  # a bad row spoils only itself


@pytest.mark.parametrize(("T", "sigma"), [(0.0, 0.5), (-0.01, 0.5), (0.1, 0.0)])
def test_expired_or_zero_vol_is_intrinsic_on_the_forward(T: float, sigma: float) -> None:
    F, K = np.array([110.0, 90.0, 100.0]), 100.0
    call, put = greeks(F, K, T, sigma, True), greeks(F, K, T, sigma, False)
    np.testing.assert_array_equal(call.price_usd, [10.0, 0.0, 0.0])
    np.testing.assert_array_equal(put.price_usd, [0.0, 10.0, 0.0])
    np.testing.assert_array_equal(call.price_coin, [10.0 / 110.0, 0.0, 0.0])
    np.testing.assert_array_equal(call.delta_usd, [1.0, 0.0, 0.5])
    np.testing.assert_array_equal(put.delta_usd, [0.0, -1.0, -0.5])
    for field in (call.gamma, call.vega, call.theta, put.gamma, put.vega, put.theta):
        np.testing.assert_array_equal(field, 0.0)


def test_deep_in_and_out_of_the_money() -> None:
    F, T, sigma = 100_000.0, 0.25, 0.6
    itm = greeks(F, 1_000.0, T, sigma, True)
    assert itm.price_usd == pytest.approx(F - 1_000.0, rel=1e-15) and itm.delta_usd == 1.0
    assert itm.price_coin == pytest.approx(0.99, rel=1e-15)
    assert itm.delta_coin == pytest.approx(0.01, abs=1e-12)
    for K, is_call in ((10_000_000.0, True), (1_000.0, False)):
        otm = greeks(F, K, T, sigma, is_call)
        assert 0.0 <= otm.price_usd < 1e-12 and abs(otm.delta_usd) < 1e-12
        assert otm.gamma >= 0.0 and otm.vega >= 0.0 and otm.theta <= 0.0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"forward": -1.0}, "forward"),
        ({"forward": 0.0}, "forward"),
        ({"strike": [100.0, -5.0]}, "strike"),
        ({"sigma": -0.1}, "sigma"),
        ({"t_years": "soon"}, "t_years"),
        ({"is_call": "C"}, "is_call"),
        ({"is_call": [0, 2]}, "is_call"),
        ({"forward": [1.0, 2.0], "strike": [1.0, 2.0, 3.0]}, "broadcast"),
    ],
)
def test_invalid_input_raises_value_error_naming_it(kwargs: dict, name: str) -> None:
    args = {"forward": 100.0, "strike": 100.0, "t_years": 0.1, "sigma": 0.5, "is_call": True}
    with pytest.raises(ValueError, match=name):
        option_price(**(args | kwargs))


def test_implied_vol_statuses_are_outcomes_not_exceptions() -> None:
    F, K, T = 100.0, 100.0, 0.01
    cases = [  # (coin price, forward, strike, t_years, is_call, expected status)
        (option_price(F, 90.0, T, 0.7, True), F, 90.0, T, True, IVStatus.OK),
        (math.nan, F, K, T, True, IVStatus.INVALID_INPUT),
        (0.05, math.inf, K, T, True, IVStatus.INVALID_INPUT),
        (0.05, F, K, 0.0, True, IVStatus.EXPIRED),
        (0.05, F, K, -1.0, False, IVStatus.EXPIRED),
        (0.1, F, 80.0, T, True, IVStatus.BELOW_INTRINSIC),  # 10 USD < 20 USD intrinsic
        (-0.01, F, K, T, True, IVStatus.BELOW_INTRINSIC),
        (1.0, F, K, T, True, IVStatus.ABOVE_UPPER_BOUND),
        (0.2, F, 80.0, T, True, IVStatus.BELOW_BRACKET),  # exactly intrinsic: no time value
        (0.0, F, K, T, True, IVStatus.BELOW_BRACKET),
        (0.6, F, K, T, True, IVStatus.ABOVE_BRACKET),  # needs sigma ≈ 17
    ]
    price, fwd, strike, t, call, expected = map(np.array, zip(*cases, strict=True))
    sigma, status = implied_vol_with_status(price, fwd, strike, t, call)
    assert [IVStatus(s) for s in status] == list(expected)
    assert sigma[0] == pytest.approx(0.7, abs=1e-9) and np.isnan(sigma[1:]).all()
    usd = implied_vol_with_status(120.0, F, K, 0.1, False, inverse=False)
    assert usd == (pytest.approx(np.nan, nan_ok=True), IVStatus.ABOVE_UPPER_BOUND)
    one = implied_vol_with_status(option_price(F, K, 0.1, 0.5, False), F, K, 0.1, False)
    assert type(one.sigma) is float and one.status is IVStatus.OK
    assert set(IV_STATUS_DESCRIPTIONS) == set(IVStatus)


# --- day count -------------------------------------------------------------------------------


def test_year_fraction_is_act_365() -> None:
    assert year_fraction(datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)) == 1.0
    leap = year_fraction(datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC))
    assert leap == 366 / 365
    plus2 = timezone(timedelta(hours=2))
    assert year_fraction(datetime(2025, 1, 1, 10, tzinfo=plus2), expiry_datetime("2025-01-01")) == 0
    assert year_fraction(datetime(2025, 1, 2, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC)) < 0


def test_year_fraction_accepts_datetime64_and_int_ns_arrays() -> None:
    start = np.array(["2025-12-07T20:00", "NaT"], dtype="datetime64[us]")
    end = datetime(2025, 12, 8, 8, tzinfo=UTC)
    got = year_fraction(start, end)
    assert got[0] == pytest.approx(12 / 24 / 365, rel=1e-15) and math.isnan(got[1])
    ns = start[:1].astype("datetime64[ns]").view(np.int64)
    assert year_fraction(ns, end)[0] == got[0]


@pytest.mark.parametrize(
    "bad",
    [datetime(2025, 12, 26, 8), [datetime(2025, 12, 26, 8)], date(2025, 12, 26), 1.5, "2025"],
)
def test_year_fraction_rejects_naive_dates_and_floats(bad) -> None:
    with pytest.raises(ValueError, match="end"):
        year_fraction(datetime(2025, 12, 1, tzinfo=UTC), bad)


def test_expiry_is_08_utc() -> None:
    want = datetime(2025, 12, 26, 8, tzinfo=UTC)
    assert expiry_datetime(date(2025, 12, 26)) == expiry_datetime("2025-12-26") == want
    for bad in (datetime(2025, 12, 26, tzinfo=UTC), "26DEC25"):
        with pytest.raises(ValueError, match="expiry date"):
            expiry_datetime(bad)


def test_t_years_to_expiry_reads_dates_as_08_utc() -> None:
    now = datetime(2025, 12, 25, 8, tzinfo=UTC)
    assert t_years_to_expiry(now, date(2025, 12, 26)) == 1 / 365
    assert t_years_to_expiry(now, "2025-12-26") == 1 / 365
    days = pl.Series([date(2025, 12, 26), date(2025, 12, 24), None]).to_numpy()
    got = t_years_to_expiry(now, days)
    assert got[:2].tolist() == [1 / 365, -1 / 365] and math.isnan(got[2])
    exact = np.array(["2025-12-26T08:00"], dtype="datetime64[s]")
    assert t_years_to_expiry(now, exact)[0] == 1 / 365
    assert t_years_to_expiry(now, np.array(["2025-12-26"]))[0] == 1 / 365
