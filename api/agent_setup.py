"""Build the live agent the settings ask for: feed, broker, journal (wiring only)."""

from datetime import timedelta
from pathlib import Path

import polars as pl

from api.settings import Settings
from cache.datasource import DeribitDataSource
from cache.deribit import MAINNET_URL, TESTNET_URL, DeribitClient
from cache.store import Store
from engine.agent import LiveAgent
from engine.agent.brokers import DeribitBroker, PaperBroker
from engine.agent.checkpoint import resumed_strategy
from engine.agent.feeds import DeribitFeed, ReplayChainFeed, ReplaySourceFeed
from engine.agent.journal import DecisionJournal
from engine.config import StrategyConfig, load_strategy

REPLAY_CYCLE_S = 2.0
LIVE_CYCLE_S = 60.0
REPLAY_LOOKBACK = timedelta(days=90)


class AgentConfigError(ValueError):
    """The settings do not describe an agent that may run; the message says what to set."""


def _secret(value) -> str | None:
    return value.get_secret_value() if value is not None else None


def _broker(settings: Settings, cfg: StrategyConfig):
    if settings.agent_broker == "paper":
        return PaperBroker(cfg.position_size, cfg.contracts(cfg.position_size), cfg.fees)
    if settings.agent_broker == "testnet":
        cid, secret = settings.deribit_client_id, settings.deribit_client_secret
        if cid is None or secret is None:
            raise AgentConfigError(
                "the testnet broker needs THETADESK_DERIBIT_CLIENT_ID and "
                "THETADESK_DERIBIT_CLIENT_SECRET (testnet API credentials)"
            )
        url = settings.deribit_url or TESTNET_URL
    else:
        cid, secret = settings.deribit_mainnet_client_id, settings.deribit_mainnet_client_secret
        if not settings.agent_allow_mainnet_orders:
            raise AgentConfigError(
                "mainnet orders are disabled; set THETADESK_AGENT_ALLOW_MAINNET_ORDERS=true "
                "to allow them"
            )
        if cid is None or secret is None:
            raise AgentConfigError(
                "the mainnet broker needs THETADESK_DERIBIT_MAINNET_CLIENT_ID and "
                "THETADESK_DERIBIT_MAINNET_CLIENT_SECRET"
            )
        url = settings.deribit_url or MAINNET_URL
    client = DeribitClient(url, client_id=_secret(cid), client_secret=_secret(secret))
    contracts = cfg.contracts(cfg.position_size)
    return DeribitBroker(client, cfg.underlying, contracts, cfg.fees, settings.agent_broker)


def _feed(settings: Settings, cfg: StrategyConfig, store: Store):
    if settings.agent_feed == "deribit":
        url = settings.deribit_url or (TESTNET_URL if settings.deribit_testnet else MAINNET_URL)
        source = "deribit-testnet" if settings.deribit_testnet else "deribit"
        origin = "deribit-testnet" if settings.deribit_testnet else "deribit-mainnet"
        store.ensure_source(source, origin, label=f"real Deribit data ({origin})")
        return DeribitFeed(DeribitClient(url), cfg, store, source)
    if settings.agent_replay_chains is not None:
        path = settings.agent_replay_chains
        if not path.exists():
            raise AgentConfigError(f"THETADESK_AGENT_REPLAY_CHAINS: {path} does not exist")
        return ReplayChainFeed(pl.read_parquet(path), cfg)
    ds = DeribitDataSource(settings.data_dir, settings.agent_replay_source)
    cov = ds.coverage(cfg.underlying)
    start = settings.agent_replay_start or (min(cov.candles.end, cov.iv.end) - REPLAY_LOOKBACK)
    step = timedelta(hours=settings.agent_replay_step_hours or cfg.timeframe_hours)
    return ReplaySourceFeed(ds, cfg, start, step)


def agent_strategy(settings: Settings) -> StrategyConfig:
    """The strategy the settings ask for: ``AGENT_STRATEGY``'s file, else the ``AGENT_*`` fields.

    The file may hold a strategy, a run's config block or a run's ``summary.json``; its run-only
    fields (dates, source, capital) are ignored by the live agent.
    """
    if settings.agent_strategy is not None:
        try:
            return load_strategy(settings.agent_strategy)[0]
        except ValueError as exc:
            raise AgentConfigError(f"THETADESK_AGENT_STRATEGY: {exc}") from exc
    return StrategyConfig(
        underlying=settings.agent_underlying,
        exit_style=settings.agent_exit_style,
        position_size=settings.agent_position_size,
    )


def journal_path(settings: Settings) -> Path:
    """The live agent's journal: ``agent/decisions.sqlite`` in the data dir."""
    return settings.data_dir / "agent" / "decisions.sqlite"


def build_agent(
    settings: Settings,
    cfg: StrategyConfig | None = None,
    configured: StrategyConfig | None = None,
    journal: DecisionJournal | None = None,
) -> LiveAgent:
    """The agent of ``settings`` (on strategy ``cfg`` if given); errors name the problem.

    ``configured`` is the strategy the settings name (default ``cfg``); a switched agent keeps
    its predecessor's, so that a restart can tell a switch from a change of settings. Raises
    AgentConfigError for settings that may not run, or a data error for the replay.
    """
    cfg = cfg or agent_strategy(settings)
    store = Store(settings.data_dir)
    broker = _broker(settings, cfg)
    feed = _feed(settings, cfg, store)
    cycle = settings.agent_cycle_seconds
    if cycle is None:
        cycle = LIVE_CYCLE_S if settings.agent_feed == "deribit" else REPLAY_CYCLE_S
    journal = journal or DecisionJournal(journal_path(settings))
    return LiveAgent(cfg, feed, broker, journal, cycle_seconds=cycle, configured=configured)


def open_agent(settings: Settings) -> LiveAgent:
    """The app's agent at start: the settings' agent, continuing from its journal's checkpoint.

    The strategy is the checkpoint's if the agent was switched while running and the settings
    have not changed since (:func:`engine.agent.checkpoint.resumed_strategy`); the agent then
    restores the checkpoint (:meth:`LiveAgent.restore`) and checks its account before trading.
    """
    configured = agent_strategy(settings)
    journal = DecisionJournal(journal_path(settings))
    try:
        cfg = resumed_strategy(journal.checkpoint(), configured)
        agent = build_agent(settings, cfg, configured, journal)
        agent.restore()
    except BaseException:
        journal.close()
        raise
    return agent
