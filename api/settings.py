"""App settings from the environment (prefix ``THETADESK_``) or a ``.env`` file."""

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime settings; every field can be set as ``THETADESK_<NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix="THETADESK_", env_file=".env", extra="ignore", frozen=True
    )

    data_dir: Path = Path("data")
    host: str = "127.0.0.1"
    port: int = 8000


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings, read once."""
    return Settings()
