"""When decisions are due: every ``decision_interval_hours``, counted from an anchor instant.

A backtest decides at the instants ``start + k * interval`` before its end
(:func:`decision_mask`). The live agent cycles on its own cadence and decides at the first cycle
of each interval (:class:`DecisionSchedule`); replayed bar by bar from the same anchor, that is
the same set of instants. Between decisions only a take-profit can act.
"""

from datetime import datetime

import numpy as np

from cache.timeutil import EPOCH, NS_PER_HOUR, to_ns


def decision_mask(t_ns: np.ndarray, anchor_ns: int, interval_hours: int, end_ns: int) -> np.ndarray:
    """Which instants (ns) are decision instants: on the interval grid and before ``end_ns``."""
    return ((t_ns - anchor_ns) % (interval_hours * NS_PER_HOUR) == 0) & (t_ns < end_ns)


class DecisionSchedule:
    """Decide once per interval: at the first instant seen in each interval after the anchor.

    ``anchor`` defaults to the Unix epoch (intervals aligned to 00:00 UTC); ``until`` (exclusive)
    ends the decisions, as a backtest's end does. An interval counts as decided only once
    :meth:`done` is called, so a failed cycle leaves the decision due at the next cycle.
    """

    def __init__(
        self, interval_hours: int, anchor: datetime = EPOCH, until: datetime | None = None
    ) -> None:
        self.interval_ns = interval_hours * NS_PER_HOUR
        self.anchor_ns = to_ns(anchor)
        self.until_ns = None if until is None else to_ns(until)
        self._decided: int | None = None  # index of the last interval decided
        self.decided_at: datetime | None = None  # when it was decided (what a restart restores)

    def _interval(self, now: datetime) -> int:
        return (to_ns(now) - self.anchor_ns) // self.interval_ns

    def is_due(self, now: datetime) -> bool:
        """Whether a decision is due at ``now``."""
        if self.until_ns is not None and to_ns(now) >= self.until_ns:
            return False
        return self._interval(now) != self._decided

    def done(self, now: datetime) -> None:
        """Record that the decision of ``now``'s interval was taken."""
        self._decided = self._interval(now)
        self.decided_at = now
