"""Parameter sweeps: many configurations of one strategy on one data set, and their results.

- :mod:`engine.sweep.spec`: the :class:`SweepSpec` (base config, axes, constraints, sample) and
  the configurations it makes; :mod:`engine.sweep.constraints` its small expression language;
- :mod:`engine.sweep.runner`: run them (one prepare per candidate set, replays on threads or Ray);
- :mod:`engine.sweep.store`: ``<data_dir>/sweeps/<sweep_id>/`` (results, daily returns, summary).
"""
