"""App settings from the environment (prefix ``THETADESK_``) or a ``.env`` file.

Deribit credentials are secrets: read from the environment only, kept as ``SecretStr`` (never
printed, logged or returned by the API). No order reaches Deribit unless the broker is
``testnet`` with testnet credentials, or ``mainnet`` with mainnet credentials *and*
``THETADESK_AGENT_ALLOW_MAINNET_ORDERS=true``.

``AUTH_TOKEN``, ``ALLOWED_HOSTS`` and ``MAX_BODY_BYTES`` decide who may reach the app (see
``api/security.py``); the token is a secret like the credentials.
"""

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MIN_TOKEN_CHARS = 16  # a token a person or a script could guess is no gate


class Settings(BaseSettings):
    """Runtime settings; every field can be set as ``THETADESK_<NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix="THETADESK_", env_file=".env", extra="ignore", frozen=True
    )

    data_dir: Path = Path("data")
    host: str = "127.0.0.1"
    port: int = 8000
    # who may reach the app: the token is required to serve beyond loopback (Bearer or the login
    # cookie); Host names accepted besides loopback's and `host` (comma-separated in the env)
    auth_token: SecretStr | None = None
    allowed_hosts: Annotated[list[str], NoDecode] = []
    max_body_bytes: int = 1 << 20  # a larger request body is refused with 413

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

    @field_validator("auth_token")
    @classmethod
    def _long_enough(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and len(token.get_secret_value()) < MIN_TOKEN_CHARS:
            raise ValueError(
                f"must be at least {MIN_TOKEN_CHARS} characters (e.g. the output of "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
            )
        return token

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, hosts: object) -> object:
        if isinstance(hosts, str):
            return [h.strip() for h in hosts.split(",") if h.strip()]
        return hosts


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings, read once."""
    return Settings()
