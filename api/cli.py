"""The ``thetadesk`` command line: one entry point, one subcommand per task.

Every subcommand but ``warm-engine`` takes ``--data-dir`` (default ``$THETADESK_DATA_DIR`` or
``./data``). Bad input, and a data directory that refuses a read or a write, end with
``error: <what is wrong>`` on stderr and exit code 2, never a traceback.

A subcommand imports what it needs when it runs, so a backtest never loads the web stack
(FastAPI, uvicorn, Jinja) or the HTTP client, and ``--help`` loads neither them nor the engine.
"""

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from cache.timeutil import as_utc

if TYPE_CHECKING:
    from pydantic import ValidationError

    from api.settings import Settings
    from cache.store import Store
    from engine.sweep.spec import SweepSpec

EXIT_USAGE = 2
EXIT_DAMAGED = 1  # cache --verify/--repair: damaged files remain


class CliError(Exception):
    """A user-facing error: printed without a traceback."""


def _settings(args: argparse.Namespace, **extra: object) -> "Settings":
    from api.settings import Settings

    overrides = {k: v for k, v in extra.items() if v is not None}
    if getattr(args, "data_dir", None) is not None:
        overrides["data_dir"] = args.data_dir
    return Settings(**overrides)


def _data_dir(args: argparse.Namespace) -> Path:
    """``--data-dir``, else the settings' (``THETADESK_DATA_DIR``, ``.env``, ``./data``).

    ``THETADESK_DATA_DIR`` set in the environment wins over ``.env`` and the default, so it is
    taken as it is, without reading the settings (pydantic-settings: 0.1 s of a backtest)."""
    if args.data_dir is not None:
        return args.data_dir
    if from_env := os.environ.get("THETADESK_DATA_DIR"):
        return Path(from_env)
    return _settings(args).data_dir


def _store(args: argparse.Namespace) -> "Store":
    from cache.store import Store

    return Store(_data_dir(args))


def _date(name: str):
    def parse(text: str) -> datetime:
        try:
            return as_utc(text, name)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc

    return parse


def _say(message: str) -> None:
    from tqdm import tqdm  # writes around any progress bar on screen

    tqdm.write(message)


def ensure_default_data(store: "Store") -> None:
    """Warm the embedded synthetic market when the cache has no synthetic source yet."""
    if not store.has_source("synthetic"):
        from cache.warm import warm_synthetic

        _say("thetadesk: first run - generating the embedded SYNTHETIC market (a few seconds)")
        warm_synthetic(store, progress=_say)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.main import create_app
    from api.security import allowed_host_names, is_loopback, require_token_beyond_loopback
    from cache.store import Store

    settings = _settings(args, host=args.host, port=args.port)
    require_token_beyond_loopback(settings)
    ensure_default_data(Store(settings.data_dir))
    print(f"thetadesk: serving on http://{settings.host}:{settings.port}", flush=True)
    if not is_loopback(settings.host):
        names = ", ".join(sorted(allowed_host_names(settings)))
        print(
            f"thetadesk: beyond loopback: the token is required; Host names answered: {names} "
            "(add more with THETADESK_ALLOWED_HOSTS)",
            flush=True,
        )
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")
    return 0


def _warm(args: argparse.Namespace) -> int:
    store = _store(args)
    if args.status:
        return _cache(args)
    if args.source == "synthetic":
        from tqdm import tqdm

        from cache.synthetic import DEFAULT_END, ORIGIN
        from cache.warm import warm_synthetic

        if args.timeframe != "1h":
            raise CliError("the synthetic market is generated at 1h; 4h and 1d are derived")
        start, end = args.start or ORIGIN, args.end or DEFAULT_END
        with tqdm(total=len(args.underlying), desc="synthetic", unit="coin") as bar:
            warm_synthetic(store, args.underlying, start, end, progress=bar.write)
            bar.update(len(args.underlying))
    else:
        from cache.download import warm_deribit

        warm_deribit(
            store,
            args.underlying,
            start=args.start,
            end=args.end,
            timeframe=args.timeframe,
            testnet=args.testnet,
        )
    _print_coverage(store)
    return 0


def _warm_engine(args: argparse.Namespace) -> int:
    import time

    from cache.kernel_cache import use_kernel_cache_dir
    from engine.warmup import warm_kernels

    print(
        f"thetadesk: compiling the engine into {use_kernel_cache_dir()} (once after install or "
        "an update; later runs load it)",
        flush=True,
    )
    t0 = time.perf_counter()
    warm_kernels(progress=lambda line: print(f"  {line}", flush=True))
    print(f"thetadesk: engine ready in {time.perf_counter() - t0:.1f} s", flush=True)
    return 0


def _import(args: argparse.Namespace) -> int:
    from cache.importer import import_source

    store = _store(args)
    meta = import_source(store, args.name, args.underlying, args.candles, args.iv)
    _say(f"imported source {meta.name!r}")
    _print_coverage(store, only=meta.name)
    return 0


def _import_chains(args: argparse.Namespace) -> int:
    from cache.importers.chains import import_chains

    coins, files = _split_coins(args.underlying or [], args.files)
    if not files:
        raise CliError("import-chains: name at least one FILE")
    store = _store(args)
    report = import_chains(
        store,
        args.name,
        args.format,
        files,
        underlyings=coins or None,
        every=args.every,
        candles_from=args.candles_from,
        progress=_say,
    )
    for line in report.lines():
        print(line)
    _print_coverage(store, only=args.name)
    return 0


def _split_coins(values: list[str], files: list[Path]) -> tuple[list[str], list[Path]]:
    """``--underlying BTC ETH FILE...`` swallows the files: the values from the first one that is
    not a coin on are files."""
    from cache.schema import UNDERLYINGS

    n = next((i for i, v in enumerate(values) if v.upper() not in UNDERLYINGS), len(values))
    return [v.upper() for v in values[:n]], [Path(v) for v in values[n:]] + list(files)


STRATEGY_OPTIONS = {
    "target_dte": float,
    "min_dte": float,
    "max_dte": float,
    "target_delta": float,
    "delta_min": float,
    "delta_max": float,
    "min_score_to_trade": float,
    "tp_threshold_pct": float,
    "max_rolls_per_chain": int,
    "min_dte_to_roll": float,
    "position_size": float,
    "initial_capital_usd": float,
    "fill_model": str,  # bid_ask (default) or mark (optimistic)
}


def _backtest(args: argparse.Namespace) -> int:
    import json

    from cache.store import Store
    from engine.config import CallSimulationConfig
    from engine.results.runs import execute_run, format_summary

    fields = {
        "underlying": args.underlying,
        "start": args.start,
        "end": args.end,
        "timeframe": args.timeframe,
        "decision_interval_hours": args.decision_interval_hours,
        "exit_style": args.exit_style,
        "source": args.source,
    }
    run_options = (*STRATEGY_OPTIONS, "option_market", "chain_max_age_minutes")
    fields |= {k: getattr(args, k) for k in run_options if getattr(args, k) is not None}
    cfg = CallSimulationConfig(**fields)
    data_dir = _data_dir(args)
    if cfg.source == "synthetic":
        ensure_default_data(Store(data_dir))
    bars: dict = {}

    def progress(phase: str, done: int, total: int) -> None:
        if args.json:
            return
        from tqdm import tqdm

        bar = bars.get(phase) or bars.setdefault(phase, tqdm(total=total, desc=phase, unit="t"))
        bar.update(done - bar.n)

    try:
        _, run_dir = execute_run(data_dir, cfg, progress=progress)
    finally:
        for bar in bars.values():
            bar.close()
    summary = json.loads((run_dir / "summary.json").read_text())
    if args.json:
        out = {k: summary[k] for k in ("run_id", "metrics", "config", "data", "timings")}
        print(json.dumps(out | {"run_dir": str(run_dir)}))
    else:
        print(format_summary(summary))
        print(f"  outputs: {run_dir}")
    return 0


def _read_spec(path: Path, walk_forward: str | None = None) -> "SweepSpec":
    """The sweep spec in ``path`` (its ``walk_forward`` replaced when given); errors name the
    file and the field."""
    import json

    from pydantic import ValidationError

    from engine.sweep.spec import SweepSpec

    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise CliError(f"--spec {path}: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CliError(f"--spec {path}: not a JSON file ({exc})") from exc
    if not isinstance(data, dict):
        raise CliError(f"--spec {path}: a spec is a JSON object, not a {type(data).__name__}")
    if walk_forward is not None:
        data["walk_forward"] = walk_forward
    try:
        return SweepSpec(**data)
    except ValidationError as exc:
        raise CliError(f"--spec {path}: {_describe_validation_error(exc)}") from exc


def _sweep(args: argparse.Namespace) -> int:
    import json

    from tqdm import tqdm

    from cache.store import Store
    from engine.sweep.display import format_sweep
    from engine.sweep.execute import execute_sweep
    from engine.sweep.executors import make_executor
    from engine.sweep.runner import sweep_source

    spec = _read_spec(args.spec, args.walk_forward)
    data_dir = _data_dir(args)
    if sweep_source(spec) == "synthetic":
        ensure_default_data(Store(data_dir))
    executor = make_executor(args.executor, args.workers, args.address)
    try:
        with tqdm(total=spec.count(), desc="sweep", unit="cfg", disable=args.json or None) as bar:

            def progress(done: int, total: int) -> None:
                if total != bar.total:  # the walk-forward's runs follow the sweep's
                    bar.reset(total)
                    bar.set_description("walk-forward")
                bar.update(done - bar.n)

            plan, _, folder = execute_sweep(data_dir, spec, executor, progress)
    finally:
        executor.close()
    summary = json.loads((folder / "summary.json").read_text())
    if args.json:
        out = {"sweep_id": plan.sweep_id, "sweep_dir": str(folder)}
        print(json.dumps(out | {"configurations": plan.configurations}))
    else:
        print(format_sweep(summary))
        print(f"  outputs: {folder}")
    return 0


def _strategy_fields(args: argparse.Namespace, *names: str) -> dict:
    """The ``--strategy`` file's fields (its strategy and run fields), overridden by the strategy
    flags given and by ``names``' flags."""
    from engine.config import load_strategy

    fields: dict = {}
    if args.strategy is not None:
        strategy, run = load_strategy(args.strategy)
        fields = strategy.model_dump() | run
    strategy_flags = ("exit_style", "timeframe", "decision_interval_hours", *STRATEGY_OPTIONS)
    flags = {k: getattr(args, k) for k in (*names, *strategy_flags)}
    return fields | {k: v for k, v in flags.items() if v is not None}


def _add_strategy_flags(p: argparse.ArgumentParser, defaults: str) -> None:
    """``--strategy FILE`` and one flag per strategy field; ``defaults`` says what unset means."""
    p.add_argument("--strategy", type=Path, help="strategy JSON, run config or summary.json")
    p.add_argument("--exit-style", choices=["hold_to_expiry", "tp_and_roll"], help=defaults)
    p.add_argument("--timeframe", choices=["1h", "4h", "1d"], help=defaults)
    p.add_argument("--decision-interval-hours", type=int, help=defaults)
    for name, kind in STRATEGY_OPTIONS.items():
        p.add_argument(f"--{name.replace('_', '-')}", type=kind, dest=name, help=defaults)


def _agent(args: argparse.Namespace) -> int:
    import json

    from tqdm import tqdm

    from cache.store import Store
    from engine.agent.headless import run_headless
    from engine.config import CallSimulationConfig

    fields = _strategy_fields(args, "underlying", "start", "end", "source")
    for name in ("underlying", "start", "end"):
        if name not in fields:
            raise CliError(f"--{name} is required (or a --strategy file that holds it)")
    fields.setdefault("source", "synthetic")
    cfg = CallSimulationConfig(**fields)
    data_dir = _data_dir(args)
    if cfg.source == "synthetic":
        ensure_default_data(Store(data_dir))
    with tqdm(desc="agent replay", unit="cycle", disable=args.json or None) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        result = run_headless(data_dir, cfg, progress=progress)
    summary = result.as_dict()
    if args.json:
        print(json.dumps(summary, default=str))
        return 0
    data = result.data
    synthetic = "  ** SYNTHETIC DATA, not real Deribit prices **" if data["synthetic"] else ""
    print(
        f"Agent replay of {cfg.underlying} {cfg.exit_style}, {cfg.start:%Y-%m-%d} to "
        f"{cfg.end:%Y-%m-%d}, source {data['source']} [{data['origin']}], paper broker"
        f"{synthetic}\n  {result.cycles} cycles, {result.decisions} decisions, "
        f"{len(result.trades)} trades, quantity {result.quantity_coin:.6g} coin, final equity "
        f"{result.final_equity_coin:.6f} coin\n  journal: {result.journal_path}\n"
        f"  the backtest of the same config has run id {result.run_id}"
    )
    return 0


def _chains(arg: str, data_dir: Path) -> dict:
    """The snapshot frames one ``--chains`` argument names: a Parquet file or a cached source."""
    from cache.store import Store
    from engine.calibration.chains import read_chain_file, read_chain_source

    path = Path(arg)
    if path.exists() or path.suffix or len(path.parts) > 1:
        return {path.name: read_chain_file(path)}
    store = Store(data_dir)
    if not store.has_source(arg):
        known = [m.name for m in store.list_sources()]
        raise CliError(
            f"--chains {arg}: no such file, and no cached source {arg!r} in {data_dir} "
            f"(sources: {', '.join(known) or 'none'})"
        )
    return read_chain_source(data_dir, arg)


def _calibrate(args: argparse.Namespace) -> int:
    from engine.calibration import calibrate, write_calibration
    from engine.calibration.report import format_report

    data_dir = _data_dir(args)
    if args.out is not None and args.out.is_dir():
        raise CliError(f"--out {args.out}: is a directory; name the JSON file to write")
    chains: dict = {}
    for arg in args.chains:
        for name, frame in _chains(arg, data_dir).items():
            if name in chains:
                raise CliError(f"--chains: {name} is given twice")
            chains[name] = frame
    _say(f"thetadesk: calibrating on {', '.join(chains)} (under a minute for a few days)")
    doc = calibrate(chains)
    print(format_report(doc))
    if args.out is None:
        print(
            f"\nnot written: add --out FILE to keep it (the app ships "
            f"engine/calibration/default.json; e.g. --out {data_dir}/calibrations/"
            f"{doc['calibration_id']}.json)"
        )
    else:
        try:
            print(f"\nwritten: {write_calibration(doc, args.out)}")
        except OSError as exc:
            raise CliError(f"--out {args.out}: {exc}") from exc
    return 0


def _model_check(args: argparse.Namespace) -> int:
    from engine.calibration import load_calibration
    from engine.modelcheck import cached_model_check
    from engine.modelcheck.display import format_report

    report, from_disk = cached_model_check(
        _data_dir(args),
        args.source,
        calibration=load_calibration(args.calibration),
        strategy=_strategy_fields(args),
        underlyings=args.underlying,
        chain_max_age_minutes=args.chain_max_age_minutes,
    )
    print(report.model_dump_json() if args.json else format_report(report, from_disk))
    return 0


def _report(args: argparse.Namespace) -> int:
    from api.report import render_report
    from engine.results.history import RunNotFoundError, RunUnreadableError

    try:
        html = render_report(_data_dir(args), args.run_id)
    except (RunNotFoundError, RunUnreadableError) as exc:
        raise CliError(f"{exc} (in {_data_dir(args) / 'runs'})") from exc
    out = args.out or Path(f"thetadesk-{args.run_id}-report.html")
    try:
        out.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise CliError(f"--out {out}: {exc.strerror or exc}") from exc
    print(f"written: {out} (one self-contained HTML file)")
    return 0


def _cache(args: argparse.Namespace) -> int:
    store = _store(args)
    if not (getattr(args, "verify", False) or getattr(args, "repair", False)):
        _print_coverage(store)
        return 0
    from cache.verify import repair_source, verify_store

    found = verify_store(store)
    if not found:
        print(f"no data sources in {store.data_dir}")
    left = 0
    for name, problems in found.items():
        print(f"{name}: {'sound' if not problems else f'{len(problems)} damaged file(s)'}")
        for p in problems:
            print(f"  {p.path}: {p.reason}")
        if args.repair and problems:
            for r in repair_source(store, problems):
                outcome = "repaired" if r.repaired else "NOT repaired"
                print(f"  repair {r.problem.path}: {outcome}, {r.how}")
                left += not r.repaired
        else:
            left += len(problems)
    if left:
        hint = "" if args.repair else " (--repair rebuilds what can be)"
        print(f"{left} damaged file(s) left{hint}")
    return EXIT_DAMAGED if left else 0


def _print_coverage(store: "Store", only: str | None = None) -> None:
    sources = [m for m in store.list_sources() if only in (None, m.name)]
    if not sources:
        print(f"no data sources in {store.data_dir}")
        return
    for meta in sources:
        size = sum(p.stat().st_size for p in store.source_dir(meta.name).rglob("*.parquet"))
        print(f"{meta.name}  [{meta.origin}]  {meta.label}")
        print(f"  fingerprint {meta.fingerprint}  {size / 1e6:.1f} MB  updated {meta.updated_at}")
        for u, cov in sorted(meta.coverage.items()):
            for kind in ("candles", "iv", "delivery"):
                s = getattr(cov, kind)
                if s.rows:
                    print(f"  {u} {kind}{_describe_series(s)}")
            if cov.chain_snapshots:
                print(f"  {u} chains{_describe_chains(cov)}")


def _describe_chains(cov) -> str:
    span = f"{cov.chain_start:%Y-%m-%d %H:%M} to {cov.chain_end:%Y-%m-%d %H:%M} UTC"
    return f": {span}, {cov.chain_snapshots} snapshots, {cov.chain_rows} rows"


def _describe_series(s) -> str:
    tf = f" {s.timeframe}" if s.timeframe else ""
    real = f", {s.real_rows} real DVOL" if s.real_rows else ""
    span = f"{s.start:%Y-%m-%d %H:%M} to {s.end:%Y-%m-%d %H:%M} UTC"
    return f"{tf}: {span}, {s.rows} rows, {len(s.gaps)} gaps{real}"


def build_parser() -> argparse.ArgumentParser:
    """Return the parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="thetadesk", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, help_text: str, func, data_dir: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        if data_dir:
            p.add_argument("--data-dir", type=Path, help="data directory (default ./data)")
        p.set_defaults(func=func, data_dir=None)
        return p

    serve = add("serve", "run the dashboard and API (warms the synthetic market if absent)", _serve)
    serve.add_argument("--host", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8000)")

    warm = add("warm", "fill the cache from a source and print its coverage", _warm)
    warm.add_argument("--source", choices=["synthetic", "deribit"], default="synthetic")
    warm.add_argument(
        "--underlying", nargs="+", default=["BTC", "ETH"], type=str.upper, metavar="COIN"
    )
    warm.add_argument("--start", type=_date("--start"), help="UTC date (default: source start)")
    warm.add_argument("--end", type=_date("--end"), help="UTC date, exclusive")
    warm.add_argument("--timeframe", choices=["1h", "1d"], default="1h", help="base resolution")
    warm.add_argument("--testnet", action="store_true", help="use test.deribit.com")
    warm.add_argument("--status", action="store_true", help="only list what the cache holds")

    add(
        "warm-engine",
        "compile every numba kernel into the user cache dir ($NUMBA_CACHE_DIR, default "
        "~/.cache/thetadesk/numba), so the first backtest runs as fast as the next",
        _warm_engine,
        data_dir=False,
    )

    imp = add("import", "register CSV/Parquet candle (and IV) files as a named source", _import)
    imp.add_argument("--name", required=True, help="source name (a-z 0-9 _ -)")
    imp.add_argument("--underlying", required=True, type=str.upper)
    imp.add_argument("--candles", required=True, type=Path, help="time,open,high,low,close,volume")
    imp.add_argument("--iv", type=Path, help="time,iv (percent)")

    chains = add(
        "import-chains",
        "import option-chain files (Tardis options_chain CSV, or recorded snapshot Parquet) into a "
        "source's chain store",
        _import_chains,
    )
    chains.add_argument("--format", required=True, choices=["tardis", "snapshots"])
    chains.add_argument("--name", required=True, help="source name (a-z 0-9 _ -)")
    chains.add_argument("--underlying", nargs="+", metavar="COIN", help="default: BTC ETH")
    chains.add_argument("--every", help="tardis: sampling interval (default 5m)")
    chains.add_argument(
        "--candles-from", metavar="NAME", help="take candles, IV and settlements from this source"
    )
    chains.add_argument("files", nargs="*", type=Path, metavar="FILE")

    cache = add("cache", "list data sources, coverage and sizes; check or repair the files", _cache)
    cache.add_argument(
        "--verify",
        action="store_true",
        help="check every cached file (readable, schema, sorted unique times, SHA-256); "
        "exit 1 when any is damaged",
    )
    cache.add_argument(
        "--repair",
        action="store_true",
        help="--verify, then rebuild damaged files: derive again, regenerate synthetic data, "
        "download Deribit data again; say what could not be repaired",
    )

    cal = add(
        "calibrate",
        "fit the spread, IV-index, smile/term and basis models to option-chain snapshots and "
        "print their leave-one-day-out errors",
        _calibrate,
    )
    cal.add_argument(
        "--chains",
        nargs="+",
        required=True,
        metavar="FILE_OR_SOURCE",
        help="Parquet snapshot files (../shared schema) or cached sources holding chains",
    )
    cal.add_argument("--out", type=Path, metavar="FILE", help="write the calibration JSON here")

    bt = add("backtest", "run a covered-call backtest and write its outputs", _backtest)
    bt.set_defaults(fast_exit=True)
    bt.add_argument("--underlying", required=True, type=str.upper, choices=["BTC", "ETH"])
    bt.add_argument("--start", required=True, help="UTC date or datetime")
    bt.add_argument("--end", required=True, help="UTC date or datetime, exclusive")
    bt.add_argument("--timeframe", choices=["1h", "4h", "1d"], default="1h")
    bt.add_argument("--decision-interval-hours", type=int, default=24)
    bt.add_argument("--exit-style", choices=["hold_to_expiry", "tp_and_roll"], required=True)
    bt.add_argument("--source", default="synthetic", help="cache source name")
    bt.add_argument("--json", action="store_true", help="print one JSON object, no progress")
    bt.add_argument(
        "--option-market",
        choices=["auto", "model", "chains"],
        help="chains: the source's recorded option chains (sales at the recorded bid, buy-backs "
        "at the recorded ask); model: calls priced on the vol surface; auto (default): chains "
        "when the source holds them over the whole run",
    )
    bt.add_argument(
        "--chain-max-age",
        type=int,
        dest="chain_max_age_minutes",
        metavar="MINUTES",
        help="real chains: an instant whose latest snapshot is older is a gap (default 15)",
    )
    for name, kind in STRATEGY_OPTIONS.items():
        bt.add_argument(f"--{name.replace('_', '-')}", type=kind, dest=name)

    sw = add(
        "sweep",
        "run every configuration of a sweep spec (a base config and axes over its fields) and "
        "write their metrics and daily returns to <data-dir>/sweeps/<sweep_id>/",
        _sweep,
    )
    sw.add_argument("--spec", required=True, type=Path, metavar="FILE",
                    help="sweep spec JSON (docs/sweeps.md)")  # fmt: skip
    sw.add_argument("--executor", choices=["threads", "ray"], default="threads",
                    help="threads (default): this process; ray: a Ray cluster "
                    "(pip install 'thetadesk[ray]')")  # fmt: skip
    sw.add_argument("--address", metavar="auto|ray://HOST:PORT",
                    help="ray: the cluster to join (default: start a local one)")  # fmt: skip
    sw.add_argument("--workers", type=int, metavar="N",
                    help="threads: threads (default one per CPU); ray, local: CPUs")  # fmt: skip
    sw.add_argument(
        "--walk-forward",
        metavar="train=365d,test=90d,step=90d[,anchored]",
        help="also walk forward: per fold choose by the objective on the training window, run "
        "on the test window (replaces the spec's walk_forward)",
    )
    sw.add_argument("--json", action="store_true", help="print one JSON object, no progress")

    mc = add(
        "model-check",
        "compare the model (vol surface on the IV index, spread model) with a source's recorded "
        "option chains: IV, premium, fill and forward errors by delta and DTE, and the same "
        "backtest on the chains and on the model chain",
        _model_check,
    )
    mc.add_argument("--source", required=True, help="a cache source holding recorded chains")
    mc.add_argument(
        "--underlying", nargs="+", type=str.upper, choices=["BTC", "ETH"], metavar="COIN",
        help="default: every underlying the source has chains of",
    )  # fmt: skip
    mc.add_argument("--calibration", type=Path, metavar="FILE",
                    help="calibration JSON (default: the one the app ships)")  # fmt: skip
    mc.add_argument(
        "--chain-max-age", type=int, default=15, dest="chain_max_age_minutes", metavar="MINUTES",
        help="an instant whose latest snapshot is older is a gap (default 15)",
    )  # fmt: skip
    mc.add_argument("--json", action="store_true", help="print the report as one JSON object")
    _add_strategy_flags(
        mc,
        "unset: the strategy file's, else the model check's short-window default "
        "(tp_and_roll, hourly, target DTE 2 d in 0.3-7 d), else the strategy's",
    )

    rep = add(
        "report",
        "write a run's one-file HTML report: tearsheet, configuration and data source, charts "
        "included (opens offline)",
        _report,
    )
    rep.add_argument("run_id", metavar="RUN_ID", help="a run id (thetadesk backtest prints it)")
    rep.add_argument("--out", type=Path, metavar="FILE.html",
                     help="default: ./thetadesk-RUN_ID-report.html")  # fmt: skip

    ag = add(
        "agent",
        "run the live agent headless over replayed history with a paper broker (no web server)",
        _agent,
    )
    ag.add_argument("--feed", choices=["replay"], default="replay",
                    help="replay a cached source (the only headless feed)")  # fmt: skip
    ag.add_argument("--broker", choices=["paper"], default="paper",
                    help="paper (a headless replay never sends orders)")  # fmt: skip
    ag.add_argument("--source", help="cache source name (default synthetic)")
    ag.add_argument("--underlying", type=str.upper, choices=["BTC", "ETH"])
    ag.add_argument("--start", help="UTC date or datetime")
    ag.add_argument("--end", help="UTC date or datetime, exclusive")
    ag.add_argument("--json", action="store_true", help="print one JSON object, no progress")
    _add_strategy_flags(ag, "unset: the strategy file's, else the strategy's default")
    return parser


def _describe_validation_error(exc: "ValidationError") -> str:
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        parts.append(f"{field}: {message}" if field else message)
    return "; ".join(parts)


def _input_errors() -> tuple[type[Exception], ...]:
    """The exceptions that mean bad input; ``main`` asks for them only when something failed."""
    from cache.deribit.errors import DeribitError
    from cache.store import SourceNotFoundError

    return CliError, ValueError, SourceNotFoundError, DeribitError


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    return _run(build_parser().parse_args(argv))


def run() -> None:
    """The ``thetadesk`` console script: :func:`main`, then end the process.

    A command marked ``fast_exit`` has written and closed everything it makes when it returns
    (the backtest waits for its prepared-cache writer), so the process ends right there with
    ``os._exit`` once stdout, stderr and the logging handlers are flushed: Python's own teardown
    of numba's and polars' objects writes nothing and takes another 0.2 s on two cores, a fifth
    of a one-year backtest. Other commands (a server, a sweep on Ray) end the normal way."""
    args = build_parser().parse_args()
    code = _run(args)
    if getattr(args, "fast_exit", False):
        import logging

        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def _run(args: argparse.Namespace) -> int:
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # a read-only or full data directory, a file that vanished, ...
        where = f": {exc.filename}" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}", file=sys.stderr)
        return EXIT_USAGE
    except _input_errors() as exc:
        from pydantic import ValidationError

        if isinstance(exc, ValidationError):
            exc = _describe_validation_error(exc)
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    run()
