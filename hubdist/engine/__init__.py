"""Everything that talks to the Docker engine: the client (pooled, timed-out calls and
shared pulls) and the event- or listing-fed views every spawner's poll reads."""

from .client import Engine, EngineError, EventFeed
from .pulls import PullProgress

__all__ = ["Engine", "EngineError", "EventFeed", "PullProgress"]
