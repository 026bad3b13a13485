"""Market-data cache: Parquet store, synthetic market, Deribit downloader, importer."""

from cache.kernel_cache import use_kernel_cache_dir

use_kernel_cache_dir()  # before any kernel module imports numba: it reads the place then
