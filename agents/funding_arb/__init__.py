"""Delta-neutral funding-rate arbitrage: a pure ``decide`` core and its year backtest."""
