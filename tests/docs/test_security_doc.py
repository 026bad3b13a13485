"""docs/security.md names the security settings with their real defaults, and README links it."""

import re

from api.settings import Settings
from tests.conftest import ROOT

SECURITY_DOC = ROOT / "docs" / "security.md"
SETTINGS = ("auth_token", "allowed_hosts", "max_body_bytes")


def test_the_settings_table_matches_the_settings():
    rows = re.findall(r"^\| `([A-Z_]+)` \| ([^|]+) \|", SECURITY_DOC.read_text(), re.MULTILINE)
    documented = {name.lower(): default.strip().strip("`") for name, default in rows}
    assert set(documented) == set(SETTINGS)
    for name in SETTINGS:
        default = Settings.model_fields[name].default
        assert documented[name] == (str(default) if default not in (None, []) else "–"), name


def test_readme_links_the_threat_model():
    assert "(docs/security.md)" in (ROOT / "README.md").read_text()
