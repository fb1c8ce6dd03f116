"""Privacy: personal data kept out of what the worker sends to an LLM."""
