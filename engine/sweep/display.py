"""A sweep's ``summary.json`` as text: what ran on which data, its best rows, its timings."""

from engine.results.labels import METRIC_LABELS
from engine.results.runs import trust_line

SHOWN_METRICS = ("sharpe", "total_return_pct_usd", "max_drawdown_pct", "num_trades")
OPTION_MARKETS = {
    "model": "model chain (calls priced on the vol surface from the IV index)",
    "chains": "REAL recorded chains (sales at the recorded bid, buy-backs at the recorded ask)",
}


def _cell(metric: str, value: object) -> str:
    if value is None:
        return "n/a"
    if metric in METRIC_LABELS:
        return METRIC_LABELS[metric][1].format(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def format_sweep(summary: dict) -> str:
    """A readable text summary of a sweep's ``summary.json``."""
    spec, data, counts, t = summary["spec"], summary["data"], summary["counts"], summary["timings"]
    base = spec["base"]
    underlying = base.get("underlying") or " and ".join(spec["axes"].get("underlying", []))
    synthetic = "  ** SYNTHETIC DATA, not real Deribit prices **" if data["synthetic"] else ""
    options = " + ".join(OPTION_MARKETS.get(m, m) for m in data["option_market"].split("+"))
    lines = [
        f"Sweep {summary['sweep_id']}: {underlying} covered calls, "
        f"{base['start'][:10]} to {base['end'][:10]}, source {data['source']} "
        f"[{data['origin']}]{synthetic}",
        f"  {counts['configurations']} configurations (grid {counts['grid']}, "
        f"{counts['excluded_by_constraints']} excluded by constraints, "
        f"{counts['dropped_invalid']} dropped as invalid); axes: {', '.join(spec['axes'])}",
        *(f"  dropped {d['axes']}: {d['reason']}" for d in summary.get("dropped", [])[:3]),
        f"  options: {options}",
        f"  {trust_line(data)}",
        *(f"  ! {warning}" for warning in data.get("warnings") or ()),
        "",
    ]
    objective = summary["objective"]
    order = "larger" if summary["maximize"] else "smaller"
    metrics = [objective, *(m for m in SHOWN_METRICS if m != objective)]
    columns = [*spec["axes"], *metrics, "run_id"]
    rows = [[_cell(c, best.get(c)) for c in columns] for best in summary["best"]]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
    lines.append(f"  best by {objective} ({order} is better):")
    lines.append("    " + "  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)))
    for r in rows:
        lines.append("    " + "  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)))
    stats = summary.get("statistics")
    if stats:
        for name in ("deflated_sharpe", "pbo"):
            lines.append(f"  {stats[name].get('explanation') or name + ': not computed'}")
    wf = summary.get("walk_forward")
    if wf:
        lines += ["", f"  walk-forward {wf['spec']}: {wf['explanation']}"]
        for fold in wf["folds"]:
            chosen = ", ".join(f"{name} {fold[name]}" for name in spec["axes"])
            lines.append(
                f"    fold {fold['fold']}: trained {fold['train_start'][:10]} to "
                f"{fold['train_end'][:10]}, chose row {fold['chosen_row']} ({chosen}); test "
                f"{fold['test_start'][:10]} to {fold['test_end'][:10]}: "
                f"{_cell('total_return_pct_usd', fold['test_total_return_pct_usd'])} % USD vs "
                f"HODL {_cell('hodl_return_pct_usd', fold['test_hodl_return_pct_usd'])} %"
            )
    per_s = t.get("configurations_per_s")
    lines += [
        "",
        f"  {t['configurations']} configurations in {t['wall_s']:.2f} s "
        f"({per_s or 0:.1f} per second) on {t['executor']} x{t['workers']}; load "
        f"{t['load_s']:.2f} s ({t['markets']} market(s)), prepare {t['prepare_s']:.2f} s "
        f"({t['prepares']} candidate set(s))",
    ]
    return "\n".join(lines)
