"""Market-data cache: Parquet store, synthetic market, Deribit downloader, importer."""
