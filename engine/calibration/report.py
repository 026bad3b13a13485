"""A calibration document as a reader wants it: each fit, its rows and its out-of-sample error."""

SPREAD_KINDS = (("model", "model"), ("on_tick", "on tick"), ("baseline", "constant ratio"))
SURFACE_KINDS = (
    ("term", "term structure", "expiries", "ATM IV per expiry from the 30-day ATM IV"),
    ("smile", "smile", "calls", "IV per call from its expiry's ATM IV"),
    ("surface", "whole surface", "calls", "IV per call from the 30-day ATM IV"),
)


def _pair(errs: dict, scale: float = 1.0, fmt: str = ".2f", unit: str = "") -> str:
    """``median/p90`` of an error summary."""
    return f"{errs['median'] * scale:{fmt}}/{errs['p90'] * scale:{fmt}}{unit}"


def _header(doc: dict) -> list[str]:
    fitted = doc["fitted_on"]
    first, last = (fitted[k][:16].replace("T", " ") for k in ("first_snapshot", "last_snapshot"))
    return [
        f"Calibration {doc['calibration_id']} ({doc['format']} v{doc['version']})",
        f"  chains: {', '.join(fitted['chains'])}",
        f"  snapshots {first} to {last} UTC on {len(fitted['days'])} days "
        f"({', '.join(fitted['days'])})",
        "  errors (a/b) are out of sample, leave one day out: fit on the other days, predict the",
        "  held-out one; a = median, b = 90th percentile of |predicted - actual|",
    ]


def _spread(block: dict) -> list[str]:
    delta, dte = block["band"]["delta"], block["band"]["dte_days"]
    lines = [
        f"Spread model: calls with delta {delta[0]:g}-{delta[1]:g}, {dte[0]:g}-{dte[1]:g} days, "
        "quoted on both sides; error as a share of the mark"
    ]
    for underlying, fit in block["underlyings"].items():
        loo = fit["leave_one_day_out"]
        for side in ("bid", "ask"):
            errs = ", ".join(
                f"{label} {_pair(loo[side][kind], 100, unit=' %')}" for kind, label in SPREAD_KINDS
            )
            head = f"{underlying} {fit['rows']:>6} rows" if side == "bid" else ""
            lines.append(f"  {head:<15} {side}: {errs} ({loo[side]['days']} days)")
    return lines


def _iv_index(block: dict) -> list[str]:
    lines = [
        "IV index -> 30-day ATM IV: a DVOL-style index of each snapshot; atm30 = ratio x index"
    ]
    for underlying, fit in block["underlyings"].items():
        loo = fit["leave_one_day_out"]
        lines.append(
            f"  {underlying} {fit['snapshots']:>6} snapshots: ratio {fit['atm_over_index']:.4f}, "
            f"error {_pair(loo['ratio'])} vol pts ({loo['days']} days); a constant offset (index "
            f"{fit['mean_offset_vol_pts']:.2f} vol pts above) errs {_pair(loo['offset'])}"
        )
    return lines


def _surface(block: dict) -> list[str]:
    p, rows, loo, fit = (
        block["params"],
        block["rows"],
        block["leave_one_day_out"],
        block["in_sample"],
    )
    lines = [
        f"Vol surface (BTC and ETH together): term_beta {p['term_beta']}, skew {p['skew']}, "
        f"curvature {p['curvature']}"
    ]
    for kind, name, what, meaning in SURFACE_KINDS:
        lines.append(
            f"  {name:<14} {rows[kind]:>6} {what:<9} {_pair(loo[kind])} vol pts "
            f"(in sample {_pair(fit[kind])}): {meaning}"
        )
    lines.append(
        f"Forward basis: basis_annual {p['basis_annual']}, {rows['basis']} expiries at least "
        f"{block['basis_min_span_days']:g} days beyond the shortest: "
        f"{_pair(loo['basis'], fmt='.4f')} per year ({loo['days']} days)"
    )
    return lines


def format_report(doc: dict) -> str:
    """The readable report of a calibration document."""
    sections = [
        _header(doc),
        _spread(doc["spread"]),
        _iv_index(doc["iv_index"]),
        _surface(doc["surface"]),
    ]
    return "\n\n".join("\n".join(lines) for lines in sections)
