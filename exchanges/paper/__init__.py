"""The paper venue: a simulated exchange per venue, pure and deterministic (see venue.py)."""

from exchanges.paper.config import LiquidationModelConfig, PaperVenueConfig
from exchanges.paper.rules import VENUE_RULES, VenueRules, venue_rules
from exchanges.paper.venue import PaperVenue

__all__ = [
    "VENUE_RULES",
    "LiquidationModelConfig",
    "PaperVenue",
    "PaperVenueConfig",
    "VenueRules",
    "venue_rules",
]
