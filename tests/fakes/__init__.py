"""Fakes for tests: a Camunda 7 engine-rest emulator and an OpenAI-compatible LLM server."""
