"""Fakes for tests: a Camunda 7 engine-rest emulator, an OpenAI-compatible LLM server and the
other servers and tasks the tests talk to."""
