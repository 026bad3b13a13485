"""Replay stepper: walk the prepared scores through time and simulate the covered call.

:class:`Replayer` (in :mod:`engine.replay.replayer`) drives the kernel of
:mod:`engine.replay.nb` chunk by chunk and turns its records into the run's tables.
"""

from engine.replay.replayer import Replayer, ReplayOutput, StepsCallback

__all__ = ["ReplayOutput", "Replayer", "StepsCallback"]
