"""Liquidation hunter: detect forced-liquidation cascades and fade their overshoot."""
