"""The LLM adviser: openai client, prompt, retries, rate limit, pricing and cache."""
