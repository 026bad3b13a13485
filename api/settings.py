"""App settings from the environment (prefix ``THETADESK_``) or a ``.env`` file.

Deribit credentials are secrets: read from the environment only, kept as ``SecretStr`` (never
printed, logged or returned by the API). No order reaches Deribit unless the broker is
``testnet`` with testnet credentials, or ``mainnet`` with mainnet credentials *and*
``THETADESK_AGENT_ALLOW_MAINNET_ORDERS=true``.
"""

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime settings; every field can be set as ``THETADESK_<NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix="THETADESK_", env_file=".env", extra="ignore", frozen=True
    )

    data_dir: Path = Path("data")
    host: str = "127.0.0.1"
    port: int = 8000

    agent_enabled: bool = True
    agent_strategy: Path | None = None  # a strategy / run config / summary.json to run live
    agent_feed: Literal["replay", "deribit"] = "replay"
    agent_broker: Literal["paper", "testnet", "mainnet"] = "paper"
    agent_underlying: Literal["BTC", "ETH"] = "BTC"
    agent_exit_style: Literal["hold_to_expiry", "tp_and_roll"] = "tp_and_roll"
    agent_position_size: float = 1.0  # coin held and covered
    agent_cycle_seconds: float | None = None  # default: 2 s for replay, 60 s for deribit
    agent_replay_source: str = "synthetic"
    agent_replay_chains: Path | None = None  # recorded chain snapshots (Parquet) to replay
    agent_replay_start: datetime | None = None  # default: 90 days before the source ends
    agent_replay_step_hours: int | None = None  # default: the strategy's bar

    deribit_testnet: bool = False  # the feed reads test.deribit.com instead of www
    deribit_url: str | None = None  # override the API base URL (a proxy, or a test server)
    deribit_client_id: SecretStr | None = None  # testnet credentials for the testnet broker
    deribit_client_secret: SecretStr | None = None
    deribit_mainnet_client_id: SecretStr | None = None
    deribit_mainnet_client_secret: SecretStr | None = None
    agent_allow_mainnet_orders: bool = False


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings, read once."""
    return Settings()
