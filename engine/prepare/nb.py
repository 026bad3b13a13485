"""Numba kernel of the prepare phase: generate, price, score and rank call candidates.

The float output ``top_f[i, k, :]`` is the k-th best candidate of time ``i``, its columns named
by :data:`engine.enums.Cand`.
"""

import math

import numpy as np

from cache.kernel_cache import njit
from cache.timeutil import NS_PER_YEAR
from engine.enums import Cand
from engine.instruments.nb import (
    band_steps_nb,
    grid_bounds_nb,
    grid_merge_nb,
    grid_tier_nb,
    nice_step_nb,
)
from engine.pricing.nb import (
    call_d1_nb,
    call_delta_first_nb,
    call_delta_nb,
    call_price_after_delta_nb,
    delta_level_d1_nb,
)
from engine.scoring.nb import (
    combine_score_nb,
    delta_fit_nb,
    dte_fit_nb,
    iv_rv_ratio_nb,
    richness_fit_nb,
    yield_fit_nb,
)
from engine.volsurface.nb import first_delta_at_most_nb, strike_iv_nb, surface_slice_nb

GRID_SLOTS = 64  # strike grids the model kernel keeps (cached_grid_nb), a power of two
GRID_HASH_MASK = 0xFFFFFFFF  # the grid parameters' hash is kept to 32 bits (no overflow)


@njit(cache=True, nogil=True)
def prepare_chunk_nb(
    times_ns,
    spot,
    iv_index,
    rv_30d,
    regime,
    exp_offsets,
    exp_ns,
    uniq_exp_ns,
    uniq_exp_monthly,
    grid_args,
    surface_args,
    basis_annual,
    band,
    targets,
    scoring_args,
    top_f,
    top_exp_ns,
    n_candidates,
):
    """Fill the top-K candidates of each time, best first; return nothing.

    For time ``i`` every listed expiry (``exp_ns[exp_offsets[i]:exp_offsets[i + 1]]``) whose DTE is
    within ``band[0:2]`` gets a strike grid around ``spot[i]`` scaled by ``iv_index[i]``; each
    strike is a call with forward ``spot * exp(basis * T)``, IV from the surface, Black-76 price
    and delta; calls in the delta window (from the first strike with delta ≤ ``band[3]``, found
    by bisection, to the first after it with delta < ``band[2]``: ``delta_window_nb``'s) with
    delta within ``band[2:4]`` are scored and ranked by score (ties: earlier expiry, then lower
    strike, i.e. generation order). Empty slots have score NaN and expiry 0.

    Work whose result is known is not repeated, so the rows are those of the plain steps to the
    bit: band steps are kept per tier (:func:`grid_steps_nb`), grids by their parameters
    (:func:`cached_grid_nb`), and a candidate is priced only when its score's bound can still
    rank (:func:`_cannot_rank_nb`). Its delta (an ``erfc``) is not even computed when its d1
    alone places it in the band (:func:`_band_side_nb`) and the bound with the delta part at its
    maximum cannot rank, nor for the bisection's probes that d1 places clearly.

    ``grid_args``: ``(tier_max_years, tier_rel_step, monthly_min_tier, band_sd, band_step_factor,
    t_floor_years, mantissas)``; ``targets``: ``(target_delta, target_dte)``.

    Reference: ``engine.state.build_historical_state`` (Python loops over the same scalar kernels).
    """
    n = top_f.shape[0]
    tier_max, tier_step, monthly_min, band_sd, band_factor, t_floor, mantissas = grid_args
    min_dte, max_dte, delta_min, delta_max = band[0], band[1], band[2], band[3]
    atm_over, term_beta = surface_args[0], surface_args[1]
    shape = (surface_args[2], surface_args[3], surface_args[4], surface_args[5])
    min_term_t = surface_args[6]
    n_bands = band_sd.size
    min_sure, max_sure = delta_level_d1_nb(delta_min), delta_level_d1_nb(delta_max)
    s_delta_max = 1.0 if scoring_args[2] >= 0.0 else 0.0  # the delta part's most to the score
    work = np.empty(5 * n_bands, np.int64)
    # each tier's band steps, kept while spot stays on the same inner step (grid_steps_nb)
    tier_at = np.full(tier_step.size, -1, np.int64)
    tier_inner = np.full((tier_step.size, 2), -1, np.int64)
    tier_steps = np.empty((tier_step.size, n_bands), np.int64)
    # the grids met lately, by their parameters (cached_grid_nb)
    grid_keys = np.zeros((GRID_SLOTS, 3 * n_bands + 1), np.int64)
    grid_sizes = np.zeros(GRID_SLOTS, np.int64)
    grids = np.empty((GRID_SLOTS, 256))
    for i in range(n):
        rows, exps, rv, reg = top_f[i], top_exp_ns[i], rv_30d[i], regime[i]
        rows[:, :] = math.nan
        exps[:] = 0
        count = 0
        s = spot[i]
        sigma_idx = iv_index[i]
        if not (s > 0 and sigma_idx > 0):
            n_candidates[i] = 0
            continue
        floor_tier, slot = -1, 0
        for j in range(exp_offsets[i], exp_offsets[i + 1]):
            e = exp_ns[j]
            t = (e - times_ns[i]) / NS_PER_YEAR
            dte = t * 365.0
            if dte < min_dte or dte > max_dte or t <= 0:
                continue
            u = np.searchsorted(uniq_exp_ns, e)
            tier = grid_tier_nb(t, uniq_exp_monthly[u], tier_max, monthly_min)
            if not (t <= t_floor and tier == floor_tier):  # else: the last grid's parameters
                unit_e = grid_steps_nb(work, i, s, tier, tier_step, band_factor, mantissas,
                                       tier_at, tier_inner, tier_steps)  # fmt: skip
                total = grid_bounds_nb(work, s, t, sigma_idx, unit_e, band_sd, t_floor)
                grids, slot = cached_grid_nb(work, n_bands, unit_e, total, grid_keys, grid_sizes,
                                             grids)  # fmt: skip
                # expiries within the time floor share its band widths: same tier, same grid
                floor_tier = tier if t <= t_floor else -1
            strikes, n_strikes = grids[slot], grid_sizes[slot]
            fwd = s * math.exp(basis_annual * t)
            atm, scale = surface_slice_nb(sigma_idx, t, atm_over, term_beta, min_term_t)
            lo, at_lo = first_delta_at_most_nb(strikes, n_strikes, fwd, t, atm, scale, shape,
                                               delta_max, max_sure)  # fmt: skip
            s_dte = dte_fit_nb(dte, targets[1], scoring_args[6])
            for m in range(lo, n_strikes):  # the delta window: until delta falls below the band
                strike = strikes[m]
                counted = False
                if m == lo:  # the bisection priced its delta last
                    iv, delta, sd, d1, n1 = at_lo
                else:
                    iv = strike_iv_nb(strike, fwd, atm, scale, shape)
                    side = _band_side_nb(call_d1_nb(fwd, strike, t, iv), min_sure, max_sure)
                    if side == BELOW_BAND:
                        break
                    if side == ABOVE_BAND:
                        continue
                    if side == IN_BAND:  # counted; skipped unless it can rank whatever its delta
                        count += 1
                        counted = True
                        s_rich = richness_fit_nb(iv_rv_ratio_nb(iv, rv))
                        if _cannot_rank_nb(rows, (s_rich, s_delta_max, s_dte), reg, scoring_args):
                            continue
                    delta, sd, d1, n1 = call_delta_first_nb(fwd, strike, t, iv)
                if not counted:
                    if not delta >= delta_min:  # also stops at NaN
                        break
                    if not delta <= delta_max:
                        continue
                    count += 1
                ratio, fits = _fits_nb(iv, delta, s_dte, rv, targets, scoring_args)
                if _cannot_rank_nb(rows, fits, reg, scoring_args):
                    continue  # the score's bound does not beat the last kept: skip pricing it
                price_usd = call_price_after_delta_nb(fwd, strike, t, iv, sd, d1, n1)
                _score_insert_nb(rows, exps, e, strike, t, fwd, iv, delta, price_usd / fwd,
                                 math.nan, ratio, fits, reg, scoring_args)  # fmt: skip
        n_candidates[i] = count


@njit(cache=True, nogil=True)
def cached_grid_nb(work, n_bands, unit_e, total, keys, sizes, grids):
    """Return ``(grids, slot)``: the strikes of the grid with parameters ``unit_e`` and
    ``work[:3n]`` (:func:`engine.instruments.nb.grid_params_nb`'s) are
    ``grids[slot, :sizes[slot]]``, merged now unless that slot already holds them.

    A grid's parameters are integers (steps and band ends in decimal units), so two times or two
    expiries with the same parameters have the same strikes, to the bit; about two thirds of the
    grids of W1's hourly times are met again (the bands' ends move a whole step only when spot or
    the IV index moves enough). ``keys[slot]`` holds ``unit_e`` and the parameters (all zeros:
    empty, as no band has step 0); ``grids`` is replaced by a wider one (all slots emptied) when
    a grid of ``total`` strikes would not fit.
    """
    k = 3 * n_bands
    h = unit_e & GRID_HASH_MASK
    for q in range(k):
        h = (h * 31 + work[q]) & GRID_HASH_MASK
    slot = (h ^ (h >> 16)) & (GRID_SLOTS - 1)
    hit = keys[slot, 0] == unit_e
    for q in range(k):
        hit = hit and keys[slot, q + 1] == work[q]
    if hit:
        return grids, slot
    if total > grids.shape[1]:
        grids = np.empty((GRID_SLOTS, 2 * total))
        keys[:, :] = 0
    keys[slot, 0] = unit_e
    keys[slot, 1 : k + 1] = work[:k]
    sizes[slot] = grid_merge_nb(grids[slot], work, n_bands, unit_e)
    return grids, slot


@njit(cache=True, nogil=True)
def grid_steps_nb(work, i, spot, tier, tier_rel_step, band_step_factor, mantissas, tier_at,
                  tier_inner, tier_steps):  # fmt: skip
    """Write the band steps of ``tier``'s grid at time ``i`` (spot ``spot``) to ``work[:n]``;
    return ``unit_e``. What :func:`engine.instruments.nb.grid_params_nb` computes, done once per
    time and tier for the inner step and only when that changes for the band steps (spot moves
    little between times, so most times keep them): ``tier_at[tier]`` is the time the tier's
    inner step ``tier_inner[tier] = (inner_q, unit_e)`` was found for, ``tier_steps[tier]`` its
    band steps."""
    if tier_at[tier] != i:
        tier_at[tier] = i
        inner_q, unit_e = nice_step_nb(tier_rel_step[tier] * spot, mantissas, False)
        if inner_q != tier_inner[tier, 0] or unit_e != tier_inner[tier, 1]:
            tier_inner[tier, 0], tier_inner[tier, 1] = inner_q, unit_e
            band_steps_nb(tier_steps[tier], inner_q, unit_e, band_step_factor, mantissas)
    work[: tier_steps.shape[1]] = tier_steps[tier]
    return tier_inner[tier, 1]


@njit(cache=True, nogil=True)
def prepare_chains_chunk_nb(
    times_ns,
    instant_snap,
    snap_ns,
    offsets,
    exp_ns,
    strike,
    mark,
    bid,
    iv,
    fwd,
    rv_30d,
    regime,
    band,
    targets,
    scoring_args,
    top_f,
    top_exp_ns,
    n_candidates,
):
    """Fill the top-K candidates of each time from recorded chains, best first.

    Time ``i`` reads snapshot ``instant_snap[i]`` (-1: a gap, no candidate) whose calls are rows
    ``offsets[s]:offsets[s + 1]``. A call is a candidate when it has a bid (> 0), its DTE from
    time ``i`` lies within ``band[0:2]`` and its Black-76 delta, from the recorded mark IV and
    forward at the snapshot's time, within ``band[2:4]``. It is scored like a model candidate on
    its recorded mark, IV and that delta; the row also keeps the recorded bid, which the sale
    fills at. Ranking and ties as :func:`prepare_chunk_nb` (rows come sorted by expiry, strike).
    """
    n = top_f.shape[0]
    min_dte, max_dte, delta_min, delta_max = band[0], band[1], band[2], band[3]
    for i in range(n):
        top_f[i, :, :] = math.nan
        top_exp_ns[i, :] = 0
        count = 0
        s = instant_snap[i]
        if s < 0:
            n_candidates[i] = 0
            continue
        for r in range(offsets[s], offsets[s + 1]):
            if not bid[r] > 0.0:
                continue
            e = exp_ns[r]
            t = (e - times_ns[i]) / NS_PER_YEAR
            dte = t * 365.0
            if dte < min_dte or dte > max_dte or t <= 0:
                continue
            delta = call_delta_nb(fwd[r], strike[r], (e - snap_ns[s]) / NS_PER_YEAR, iv[r])
            if not (delta_min <= delta <= delta_max):  # also drops NaN
                continue
            count += 1
            s_dte = dte_fit_nb(dte, targets[1], scoring_args[6])
            ratio, fits = _fits_nb(iv[r], delta, s_dte, rv_30d[i], targets, scoring_args)
            _score_insert_nb(top_f[i], top_exp_ns[i], e, strike[r], t, fwd[r], iv[r], delta,
                             mark[r], bid[r], ratio, fits, regime[i], scoring_args)  # fmt: skip
        n_candidates[i] = count


BELOW_BAND, IN_BAND, ABOVE_BAND, UNSURE = -1, 0, 1, 2


@njit(cache=True, nogil=True)
def _band_side_nb(d1, min_sure, max_sure):
    """Where a call of this d1 stands against the delta band, when its d1 alone tells
    (:func:`engine.pricing.nb.delta_level_d1_nb` of each end): ``BELOW_BAND`` (delta under
    the band's minimum), ``ABOVE_BAND`` (over its maximum, not under its minimum), ``IN_BAND``;
    ``UNSURE`` when only the delta tells (near an end, or a NaN d1)."""
    ge_min = d1 > min_sure[1]
    if d1 < min_sure[0]:
        return BELOW_BAND
    if ge_min and d1 > max_sure[1]:
        return ABOVE_BAND
    if ge_min and d1 < max_sure[0]:
        return IN_BAND
    return UNSURE


@njit(cache=True, nogil=True)
def _fits_nb(iv, delta, s_dte, rv, targets, scoring_args):
    """``(iv_rv_ratio, (richness, delta, DTE parts of the score))`` of a candidate in the bands;
    ``s_dte`` is :func:`engine.scoring.nb.dte_fit_nb` of its expiry."""
    ratio = iv_rv_ratio_nb(iv, rv)
    return ratio, (richness_fit_nb(ratio), delta_fit_nb(delta, targets[0], scoring_args[5]), s_dte)


@njit(cache=True, nogil=True)
def _cannot_rank_nb(rows, fits, regime, scoring_args):
    """True when every kept slot of ``rows`` is filled and the score's bound (yield part at its
    maximum) is not above the last one's: the candidate cannot be kept, whatever its price, so
    its pricing can be skipped (the kept rows are the same to the bit). ``fits`` are the
    richness, delta and DTE parts, or bounds above them (the score never falls as a part rises)."""
    last = rows[rows.shape[0] - 1, Cand.score]
    if math.isnan(last):
        return False
    w_yield = scoring_args[0]
    bound = combine_score_nb(1.0 if w_yield >= 0.0 else 0.0, fits[0], fits[1], fits[2], regime,
                             w_yield, scoring_args[1], scoring_args[2], scoring_args[3],
                             scoring_args[7], scoring_args[8])  # fmt: skip
    return bound <= last


@njit(cache=True, nogil=True)
def _score_insert_nb(rows, exps, e, strike, t, fwd, iv, delta, price_coin, bid_coin, ratio, fits,
                     regime, scoring_args):  # fmt: skip
    """Score a candidate in the bands (yield on its mark, IV over realized vol, delta, DTE,
    regime: :func:`engine.scoring.nb.score_nb` from its parts ``fits`` of :func:`_fits_nb`) and
    insert it into one time's best-first ``rows``: one rule for model and real chains."""
    yld = price_coin / t
    score = combine_score_nb(yield_fit_nb(yld, scoring_args[4]), fits[0], fits[1], fits[2],
                             regime, scoring_args[0], scoring_args[1], scoring_args[2],
                             scoring_args[3], scoring_args[7], scoring_args[8])  # fmt: skip
    _insert_nb(rows, exps, rows.shape[0], score, e, strike, t, fwd, iv, delta, price_coin, yld,
               ratio, bid_coin)  # fmt: skip


@njit(cache=True, nogil=True)
def _insert_nb(rows, exps, top_k, score, e, strike, t, fwd, iv, delta, price_coin, yld, ratio,
               bid_coin):  # fmt: skip
    pos = top_k
    for k in range(top_k):
        if math.isnan(rows[k, Cand.score]) or score > rows[k, Cand.score]:
            pos = k
            break
    if pos == top_k:
        return
    for k in range(top_k - 1, pos, -1):
        rows[k, :] = rows[k - 1, :]
        exps[k] = exps[k - 1]
    rows[pos, Cand.strike] = strike
    rows[pos, Cand.t_years] = t
    rows[pos, Cand.forward] = fwd
    rows[pos, Cand.iv] = iv
    rows[pos, Cand.delta] = delta
    rows[pos, Cand.mark_price_coin] = price_coin
    rows[pos, Cand.premium_yield_annual] = yld
    rows[pos, Cand.iv_rv_ratio] = ratio
    rows[pos, Cand.score] = score
    rows[pos, Cand.bid_price_coin] = bid_coin
    exps[pos] = e
