"""The engine-facing runtime: fetches external tasks, runs handlers, reports results."""
