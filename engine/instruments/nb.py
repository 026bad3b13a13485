"""Numba kernels for the expiry calendar and the synthetic strike grid.

The Python API in ``engine.instruments`` validates input, documents units and builds the rule
arrays these kernels take; the kernels assume valid shapes and dtypes.
"""

import math

import numpy as np

from cache.kernel_cache import njit

# Relative slack at band edges, so that a strike lying exactly on an edge counts as on it however
# the last bit of exp() rounds.
_EDGE_TOL = 1e-9
# 10**e for e = 0..22, every one exact in a double: decimal values look powers up, not compute them
_POW10 = np.array([10.0**e for e in range(23)])


@njit(cache=True, nogil=True)
def listed_expiries_nb(times_ns, expiry_ns, listing_ns, series_offsets):
    """Return the expiries listed at each time, in CSR layout.

    Within series ``s`` (``[series_offsets[s], series_offsets[s + 1])``) both ``expiry_ns`` and
    ``listing_ns`` increase, so the expiries listed at ``t`` (``listing <= t < expiry``) form one
    contiguous run found by two binary searches; the runs of all series are merged, sorted and
    deduplicated. The set changes only when an expiry passes or a listing starts, so a time from
    the previous searched time up to (not including) its next such event copies that time's set
    instead (hourly instants: all but one or two a day).

    Returns ``(offsets, expiries_ns)``: the expiries of ``times_ns[i]`` are
    ``expiries_ns[offsets[i]:offsets[i + 1]]``.

    Reference twin: ``tests.reference.instruments.listed_expiries_batch_ref``.
    """
    n = times_ns.size
    n_series = series_offsets.size - 1
    offsets = np.zeros(n + 1, np.int64)
    out = np.empty(64, np.int64)
    write = 0
    since, until = 0, -1  # times in [since, until) have the set out[last:last + size]
    last, size = 0, 0
    for i in range(n):
        t = times_ns[i]
        if since <= t < until:
            out = _room_nb(out, write + size)
            out[write : write + size] = out[last : last + size]
        else:
            since, until = t, np.iinfo(np.int64).max
            pos = write
            for s in range(n_series):
                a, b = series_offsets[s], series_offsets[s + 1]
                lo = np.searchsorted(expiry_ns[a:b], t, side="right")
                hi = np.searchsorted(listing_ns[a:b], t, side="right")
                if lo < b - a:
                    until = min(until, expiry_ns[a + lo])
                if hi < b - a:
                    until = min(until, listing_ns[a + hi])
                if hi > lo:
                    out = _room_nb(out, pos + hi - lo)
                    out[pos : pos + hi - lo] = expiry_ns[a + lo : a + hi]
                    pos += hi - lo
            run = np.sort(out[write:pos])
            size = 0
            for k in range(run.size):
                if k == 0 or run[k] != run[k - 1]:
                    out[write + size] = run[k]
                    size += 1
        if i == 0:  # most times list as many expiries as the first: room for all, once
            out = _room_nb(out, n * (size + 2))
        last = write
        write += size
        offsets[i + 1] = write
    return offsets, out[:write]


@njit(cache=True, nogil=True)
def _room_nb(buf, size):
    """``buf``, or a copy twice as large when it holds fewer than ``size`` elements."""
    if size <= buf.size:
        return buf
    grown = np.empty(max(size, 2 * buf.size), buf.dtype)
    grown[: buf.size] = buf
    return grown


@njit(cache=True, nogil=True)
def decimal_value_nb(q, e):
    """Return ``q * 10**e`` as the double nearest that decimal (``q`` integer).

    Reference twin: ``tests.reference.instruments.decimal_value_ref``.
    """
    if 0 <= e < _POW10.size:
        return q * _POW10[e]
    if -_POW10.size < e < 0:
        return q / _POW10[-e]
    if e >= 0:
        return q * 10.0**e
    return q / 10.0 ** (-e)


@njit(cache=True, nogil=True)
def nice_step_nb(x, mantissas, round_up):
    """Return the "nice" number nearest ``x`` as ``(q, e)``, its value being ``q * 10**e``.

    Nice numbers are ``m * 10**d`` for ``m`` in ``mantissas`` (ascending in [1, 10), each a multiple
    of 0.1), written with ``q = 10 * m`` and ``e = d - 1`` so that ``q`` is an integer. "Nearest" is
    by ratio (geometric), ties going to the smaller; with ``round_up`` it is instead the smallest
    nice number not below ``x``.

    Reference twin: ``tests.reference.instruments.nice_step_ref``.
    """
    k = math.floor(math.log10(x))
    best_q, best_e, best = 0, 0, 0.0
    best_ratio = math.inf
    for d in range(k - 1, k + 2):
        for m in mantissas:
            q = round(m * 10.0)
            c = decimal_value_nb(q, d - 1)
            if round_up:
                take = c >= x * (1.0 - _EDGE_TOL) and (best == 0.0 or c < best)
            else:
                ratio = max(c / x, x / c)
                take = ratio < best_ratio or (ratio == best_ratio and c < best)
                if take:
                    best_ratio = ratio
            if take:
                best_q, best_e, best = q, d - 1, c
    return best_q, best_e


@njit(cache=True, nogil=True)
def grid_tier_nb(t_years, monthly, tier_max_years, monthly_min_tier):
    """Return the tier of an expiry ``t_years`` away (the rule of :func:`strike_grid_nb`)."""
    tier = 0
    while tier < tier_max_years.size and t_years > tier_max_years[tier]:
        tier += 1
    if monthly and 0 < tier < monthly_min_tier:
        tier = monthly_min_tier
    return tier


@njit(cache=True, nogil=True)
def band_steps_nb(steps, inner_q, unit_e, band_step_factor, mantissas):
    """Write each band's step, in decimal units of ``10**unit_e``, to ``steps[b]``.

    ``(inner_q, unit_e)`` is the inner step (:func:`nice_step_nb` of the tier's share of spot);
    a band's step is the inner step times its factor, rounded up to a nice number. It depends on
    the inner step alone, so the prepare phase keeps it while spot stays on the same inner step.
    """
    inner_step = decimal_value_nb(inner_q, unit_e)
    for b in range(band_step_factor.size):
        q, e = nice_step_nb(inner_step * band_step_factor[b], mantissas, True)
        steps[b] = q * 10 ** (e - unit_e)


@njit(cache=True, nogil=True)
def grid_bounds_nb(work, spot_usd, t_years, sigma, unit_e, band_sd, t_floor_years):
    """Write each band's first and last multiple to ``work[n + b]`` and ``work[2n + b]``, its
    step being ``work[b]`` (:func:`band_steps_nb`); return the number of strikes before
    de-duplication."""
    scale = sigma * math.sqrt(max(t_years, t_floor_years))
    n_bands = band_sd.size
    total = 0
    for b in range(n_bands):
        step = decimal_value_nb(work[b], unit_e)
        lo = spot_usd * math.exp(-band_sd[b] * scale) / step
        hi = spot_usd * math.exp(band_sd[b] * scale) / step
        work[n_bands + b] = max(math.floor(lo * (1.0 + _EDGE_TOL)), 1)
        work[2 * n_bands + b] = math.ceil(hi * (1.0 - _EDGE_TOL))
        total += max(work[2 * n_bands + b] - work[n_bands + b] + 1, 0)
    return total


@njit(cache=True, nogil=True)
def grid_params_nb(
    work,
    spot_usd,
    t_years,
    monthly,
    sigma,
    tier_max_years,
    tier_rel_step,
    monthly_min_tier,
    band_sd,
    band_step_factor,
    t_floor_years,
    mantissas,
):
    """Compute the bands of a strike grid into ``work`` (int64, at least ``5 * n_bands`` long).

    Writes each band's step (in decimal units of ``10**unit_e``) to ``work[b]``, its first and last
    multiple to ``work[n + b]`` and ``work[2n + b]``; returns ``(unit_e, total)`` with ``total`` the
    number of strikes before de-duplication. The rule is documented in :func:`strike_grid_nb`.
    """
    tier = grid_tier_nb(t_years, monthly, tier_max_years, monthly_min_tier)
    inner_q, unit_e = nice_step_nb(tier_rel_step[tier] * spot_usd, mantissas, False)
    band_steps_nb(work, inner_q, unit_e, band_step_factor, mantissas)
    return unit_e, grid_bounds_nb(work, spot_usd, t_years, sigma, unit_e, band_sd, t_floor_years)


@njit(cache=True, nogil=True)
def grid_merge_nb(out, work, n_bands, unit_e):
    """Write the sorted union of the bands in ``work`` to ``out``; return how many strikes.

    Merges the bands' arithmetic progressions in integer units (so a strike shared by two bands is
    one value), without allocating: ``work[3n + b]`` walks band ``b``'s multiples up to its last,
    ``work[4n + b]``. ``out`` needs the ``total`` of :func:`grid_params_nb`.
    """
    nxt, last = 3 * n_bands, 4 * n_bands
    for b in range(n_bands):
        work[nxt + b] = work[n_bands + b] * work[b]
        work[last + b] = work[2 * n_bands + b] * work[b]
    count = 0
    while True:
        best = -1
        for b in range(n_bands):
            units = work[nxt + b]
            if units <= work[last + b] and (best < 0 or units < best):
                best = units
        if best < 0:
            return count
        out[count] = decimal_value_nb(best, unit_e)
        count += 1
        for b in range(n_bands):
            if work[nxt + b] == best:
                work[nxt + b] += work[b]


@njit(cache=True, nogil=True)
def strike_grid_nb(
    spot_usd,
    t_years,
    monthly,
    sigma,
    tier_max_years,
    tier_rel_step,
    monthly_min_tier,
    band_sd,
    band_step_factor,
    t_floor_years,
    mantissas,
):
    """Return the sorted unique strikes (USD) of a synthetic Deribit-like grid.

    The tier is the first ``j`` with ``t_years <= tier_max_years[j]`` (else the last); a monthly
    expiry outside the first tier uses at least ``monthly_min_tier``. The inner step is
    ``tier_rel_step[tier] * spot_usd`` rounded to the nearest nice number. Band ``b`` holds the
    multiples of its step (the inner step times ``band_step_factor[b]``, rounded up to a nice
    number) that cover ``|ln(K / spot_usd)| <= band_sd[b] * sigma * sqrt(max(t_years,
    t_floor_years))``, including the nearest multiple at or beyond each edge (so a coarse step still
    covers the band); the grid is the union of the bands. Strikes are computed as integer
    multiples of one decimal unit, so a strike shared by two bands is the same double in both.

    Reference twin: ``tests.reference.instruments.strike_grid_ref``.
    """
    work = np.empty(5 * band_sd.size, np.int64)
    unit_e, total = grid_params_nb(
        work, spot_usd, t_years, monthly, sigma, tier_max_years, tier_rel_step,
        monthly_min_tier, band_sd, band_step_factor, t_floor_years, mantissas,
    )  # fmt: skip
    out = np.empty(total)
    return out[: grid_merge_nb(out, work, band_sd.size, unit_e)]
