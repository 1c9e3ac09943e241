"""How long to wait before trying a failed request again: exponential back-off with full
jitter (a random pause up to the exponential bound), so the fetch jobs of a run that failed
together do not all come back at the same instant."""

from __future__ import annotations

import random

FIRST = 0.2  # seconds: the bound of the first pause
LONGEST = 20.0


def pause(attempt: int, floor: float = 0.0) -> float:
    """The pause after failed attempt number `attempt` (0 for the first), never below `floor`
    (a server's Retry-After)."""
    return max(floor, random.uniform(0, min(LONGEST, FIRST * 2**attempt)))
