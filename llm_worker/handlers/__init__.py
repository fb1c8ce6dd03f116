"""Task handlers: one factory per topic, each building a `Handler` from the settings."""
