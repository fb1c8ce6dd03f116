"""Tests: unit tests per module, integration tests that start the real process, shared fakes."""
