"""The refund decision domain: input reading, fare-text reading, policy, guardrails, audit."""
