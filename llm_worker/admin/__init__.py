"""Operators' calls to the engine: deploy, start, demo users and the history of cases."""
