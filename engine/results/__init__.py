"""The results side: write a run, read the history, chart curves, metric labels.

- :mod:`engine.results.runs`: execute a backtest and write ``<data_dir>/runs/<run_id>/``;
- :mod:`engine.results.history`: list, read, page, compare and delete finished runs;
- :mod:`engine.results.curves`: chart payloads (thinned curves, trade markers);
- :mod:`engine.results.labels`: how each metric is named and formatted.
"""
