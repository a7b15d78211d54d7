"""Avellaneda-Stoikov market making: pure quoting, estimators and ``decide``."""
