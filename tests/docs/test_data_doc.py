"""docs/data.md describes the run tables exactly as engine.results.schema declares them."""

import re

from engine.results.schema import TABLES, Column, dtype_name
from tests.conftest import ROOT

DATA_DOC = ROOT / "docs" / "data.md"
CELL_SPLIT = re.compile(r"(?<!\\)\|")  # a cell may hold an escaped pipe
NO_UNIT = "–"


def doc_tables(markdown: str) -> dict[str, list[dict]]:
    """The rows of the markdown table under each ``### `<table>.parquet``` heading.

    A row is a dict of the header's cells (``column``, ``type``, ``unit``, ``null``, …); a first
    cell naming several columns (```a`, `b```) gives one row per column.
    """
    tables: dict[str, list[dict]] = {}
    current = None
    header: list[str] = []
    for line in markdown.splitlines():
        heading = re.match(r"#+ `(\w+)\.parquet`", line)
        if line.startswith("#"):
            current = heading.group(1) if heading else None
            header = []
            if current:
                tables[current] = []
            continue
        if current is None or not line.startswith("|"):
            continue
        cells = [c.strip() for c in CELL_SPLIT.split(line.strip().strip("|"))]
        if not header:
            header = [c.lower() for c in cells]
        elif not set("".join(cells)) <= set("-: "):  # not the |---| line
            row = dict(zip(header, cells, strict=True))
            for name in re.findall(r"`(\w+)`", row["column"]):
                tables[current].append(row | {"column": name})
    return tables


def _doc_says(row: dict, key: str) -> str | None:
    """What the doc states for ``key``, in the schema's terms; None when it does not say."""
    if key not in row:
        return None
    return "" if key == "unit" and row[key] == NO_UNIT else row[key]


def _stated(column: Column) -> dict[str, str]:
    """What the doc's cells must say of a column, keyed by header."""
    null = "yes" if column.nullable else "no"
    return {"type": dtype_name(column.dtype), "unit": column.unit, "null": null}


def _table_differences(table: str, rows: list[dict]) -> list[str]:
    names = [c.name for c in TABLES[table]]
    doc_names = [r["column"] for r in rows]
    missing = [n for n in names if n not in doc_names]
    problems = [f"{table}.{n}: in the schema, missing from the doc" for n in missing]
    problems += [f"{table}.{n}: in the doc, not in the schema" for n in doc_names if n not in names]
    if [n for n in doc_names if n in names] != [n for n in names if n in doc_names]:
        problems.append(f"{table}: the doc lists the columns out of order; schema: {names}")
    by_name = {r["column"]: r for r in rows}
    for column in TABLES[table]:
        for key, want in _stated(column).items():
            said = _doc_says(by_name.get(column.name, {}), key)
            if said is not None and said != want:
                problems.append(
                    f"{table}.{column.name}: {key} is {said!r} in the doc, {want!r} in the schema"
                )
    return problems


def doc_differences(markdown: str) -> list[str]:
    """Every way the run tables in ``markdown`` differ from the schema, one line each."""
    documented = doc_tables(markdown)
    problems = []
    for table in TABLES:
        if documented.get(table):
            problems += _table_differences(table, documented[table])
        else:
            problems.append(f"{table}: no table under a '### `{table}.parquet`' heading")
    return problems


def test_the_doc_describes_every_run_table_as_the_schema_declares_it():
    problems = doc_differences(DATA_DOC.read_text())
    assert not problems, "docs/data.md disagrees with engine/results/schema.py:\n" + "\n".join(
        problems
    )


def test_a_doc_that_drifts_is_reported_column_by_column():
    doc = DATA_DOC.read_text()
    drifted = (
        doc.replace(
            "| `strike` | Float64 | USD | no | strike price |\n| `expiry`",
            "| `strike` | Float32 | USD | no | strike price |\n| `expiry`",
            1,
        )
        .replace("| `hodl_usd` | Float64 | USD |", "| `hodl_usd` | Float64 | coin |")
        .replace(
            "| `best_instrument` | String | – | yes |", "| `best_instrument` | String | – | no |"
        )
        .replace("| `rank` | Int16 | – | no | 1 = best |\n", "")
        .replace(
            "| `score` | Float64 | – | no | 0..10 |",
            "| `score` | Float64 | – | no | 0..10 |\n| `colour` | String | – | no | red |",
        )
    )
    assert doc_differences(drifted) == [
        "trades.strike: type is 'Float32' in the doc, 'Float64' in the schema",
        "equity.hodl_usd: unit is 'coin' in the doc, 'USD' in the schema",
        "steps.best_instrument: null is 'no' in the doc, 'yes' in the schema",
        "candidates.rank: in the schema, missing from the doc",
        "candidates.colour: in the doc, not in the schema",
    ]


def test_columns_grouped_in_one_row_and_tables_without_types_are_read():
    doc = (
        "### `equity.parquet`\n\n| column | unit / meaning |\n|---|---|\n| `time`, `spot` | UTC |\n"
    )
    rows = doc_tables(doc)["equity"]
    assert [r["column"] for r in rows] == ["time", "spot"]
    problems = doc_differences(doc)
    assert "equity.spot: unit" not in " ".join(problems)  # the doc has no unit column: not checked
    assert "equity.equity_coin: in the schema, missing from the doc" in problems
    swapped = doc_differences(doc.replace("`time`, `spot`", "`spot`, `time`"))
    assert any(p.startswith("equity: the doc lists the columns out of order") for p in swapped)


def test_the_chain_store_table_matches_its_schema():
    from cache.schema import CHAIN_OPTIONAL, CHAIN_STORE_SCHEMA

    text = DATA_DOC.read_text()
    section = text[text.index("## Option chains") : text.index("### Importing chains")]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in CELL_SPLIT.split(line.strip().strip("|"))]
        if line.startswith("| `"):
            for name in re.findall(r"`(\w+)`", cells[0]):
                rows[name] = {"type": cells[1], "null": cells[3]}
    assert set(rows) == set(CHAIN_STORE_SCHEMA)
    for name, dtype in CHAIN_STORE_SCHEMA.items():
        null = "yes" if name in CHAIN_OPTIONAL else "no"
        assert rows[name] == {"type": dtype_name(dtype), "null": null}, name
