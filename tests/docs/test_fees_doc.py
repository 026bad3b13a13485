"""docs/fees.md states the fee schedule exactly as engine.fees holds it."""

import re

from engine.fees import DERIBIT_FEE_SCHEDULE
from tests.conftest import ROOT

FEES_DOC = ROOT / "docs" / "fees.md"


def _schedule_rows(markdown: str) -> dict[str, str]:
    """The rows of the table under '## The schedule in force', keyed by entry name."""
    section = markdown.split("## The schedule in force", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        name = re.match(r"\| `([\w-]+)` \|", line)
        if name:
            rows[name.group(1)] = line
    return rows


def _pct(rate: float) -> str:
    return f"{rate * 100:g} %"


def test_every_schedule_entry_is_documented_with_its_parameters_and_source():
    text = FEES_DOC.read_text()
    rows = _schedule_rows(text)
    assert list(rows) == [e.name for e in DERIBIT_FEE_SCHEDULE]
    for entry in DERIBIT_FEE_SCHEDULE:
        cells = [c.strip() for c in rows[entry.name].strip("|").split("|")]
        fees = entry.fees
        since = entry.valid_from.date().isoformat() if entry.valid_from else "– (every date)"
        assert cells[1] == since
        assert cells[2].startswith(_pct(fees.option_fee_rate))
        assert cells[3].startswith(f"{fees.option_fee_cap_pct:g} %")
        assert cells[4].startswith(_pct(fees.settlement_fee_rate))
        assert cells[5].startswith(f"{fees.settlement_fee_cap_pct:g} %")
        assert cells[6] == ("yes" if fees.settlement_fee_on_dailies else "no")
        assert f"<{entry.source}>" in text
