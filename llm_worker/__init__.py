"""LLM decision worker for Camunda 7 ticket-refund processes."""

__version__ = "1.0.0"
