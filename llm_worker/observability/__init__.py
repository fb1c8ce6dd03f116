"""Metrics, health and readiness served to Prometheus and Kubernetes."""
