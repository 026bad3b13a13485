"""Parameter sweeps: many configurations of one strategy, walk-forward, overfitting statistics.

- :mod:`engine.sweep.spec`: the :class:`SweepSpec` (base config, axes, constraints, sample) and
  the configurations it makes; :mod:`engine.sweep.constraints` its small expression language;
- :mod:`engine.sweep.runner`: run them (one prepare per candidate set, replays on threads or Ray,
  :mod:`engine.sweep.executors`, :mod:`engine.sweep.task`);
- :mod:`engine.sweep.store`: ``<data_dir>/sweeps/<sweep_id>/`` (results, daily returns, summary);
  :mod:`engine.sweep.execute` runs a spec end to end;
- :mod:`engine.sweep.stats`: deflated Sharpe ratio and PBO; :mod:`engine.sweep.walkforward`:
  folds, the choice on a training window, the stitched out-of-sample equity.
"""
