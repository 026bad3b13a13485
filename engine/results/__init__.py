"""The results side: the run tables' contract, write a run, read the history, curves, labels.

- :mod:`engine.results.schema`: the columns, dtypes and units of every run table, and the trade
  view the API and the dashboard show;
- :mod:`engine.results.runs`: execute a backtest and write ``<data_dir>/runs/<run_id>/``;
- :mod:`engine.results.summary`: the model of ``summary.json`` and of a run's history line, and
  the check that tells a readable summary from a damaged one;
- :mod:`engine.results.history`: list, read, page, compare and delete runs, each on its own;
- :mod:`engine.results.curves`: chart payloads (thinned curves, trade markers);
- :mod:`engine.results.labels`: how each metric is named and formatted;
- :mod:`engine.results.tearsheet`: a run's tearsheet as data (month returns, drawdowns, rolling
  risk, daily return histogram), with :mod:`engine.results.breakdowns` (the trades grouped, the
  premium yield per month).
"""
