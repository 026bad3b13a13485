"""Every cached file reads the way a notebook would read it: polars (eager and lazy) and pyarrow."""

from datetime import UTC, datetime

import polars as pl
import pyarrow.parquet as pq

from cache.schema import CANDLES_SCHEMA, IV_SCHEMA


def test_every_synthetic_file_reads_with_polars_and_pyarrow(synthetic_data_dir):
    files = sorted((synthetic_data_dir / "sources" / "synthetic").rglob("*.parquet"))
    assert len(files) == 8  # BTC/ETH x candles 1h/4h/1d + IV
    for path in files:
        frame = pl.read_parquet(path)
        table = pq.read_table(path)
        assert table.num_rows == frame.height > 0
        assert table.column_names == frame.columns
        expected = IV_SCHEMA if path.parent.name == "iv" else CANDLES_SCHEMA
        assert frame.schema == pl.Schema(expected), path
        assert str(table.schema.field("time").type) == "timestamp[us, tz=UTC]"
        year = (
            pl.scan_parquet(path)
            .filter(pl.col("time").dt.year() == 2024)
            .select(pl.len(), pl.col("time").min())
            .collect()
        )
        assert year.item(0, 1) == datetime(2024, 1, 1, tzinfo=UTC)
