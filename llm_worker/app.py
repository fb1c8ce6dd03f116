"""The composition root: settings -> logging -> handlers -> engine client -> worker loop, plus the
observability server, the backlog and audit pollers, and the signals that stop them."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType

from llm_worker.config import Settings, require_payment_gateway, without_credentials
from llm_worker.logs import configure_logging, get_logger
from llm_worker.metrics import PAYMENT_GATEWAY
from llm_worker.observability import tracing
from llm_worker.observability.audits import AuditPoller
from llm_worker.observability.backlog import BacklogPoller
from llm_worker.observability.health import Health
from llm_worker.observability.server import ObservabilityServer
from llm_worker.payment.gateway import GatewayKind
from llm_worker.process import FARE_RULES_TOPIC, PAYMENT_TOPIC
from llm_worker.runtime.engine import EngineClient
from llm_worker.runtime.registry import TopicRegistry
from llm_worker.runtime.task import Handler
from llm_worker.runtime.worker import Worker, WorkerOptions

_log = get_logger(__name__)

# Slack on top of the long poll before the loop counts as stuck for /healthz.
_LIVENESS_SLACK_S = 30.0


def _fare_rules_handler(settings: Settings) -> Handler:
    from llm_worker.handlers.fare_rules import make_fare_rules_handler

    return make_fare_rules_handler(settings)


def _payment_handler(settings: Settings) -> Handler:
    from llm_worker.handlers.payment import make_payment_handler

    return make_payment_handler(settings)


HANDLER_FACTORIES: dict[str, Callable[[Settings], Handler]] = {
    FARE_RULES_TOPIC: _fare_rules_handler,
    PAYMENT_TOPIC: _payment_handler,
}


def build_registry(settings: Settings) -> TopicRegistry:
    """A handler for each topic in WORKER_TOPICS (only those topics' modules are loaded)."""
    registry = TopicRegistry()
    for topic in settings.worker_topics:
        registry.register(topic, HANDLER_FACTORIES[topic](settings))
    return registry


def build_health(settings: Settings) -> Health:
    liveness = settings.async_response_timeout_ms / 1000 + _LIVENESS_SLACK_S
    return Health(liveness_window_s=liveness, readiness_window_s=settings.readiness_window_s)


def worker_options(settings: Settings) -> WorkerOptions:
    return WorkerOptions(
        worker_id=settings.worker_id,
        topics=tuple(settings.worker_topics),
        concurrency=settings.worker_concurrency,
        lock_duration_ms=settings.lock_duration_ms,
        shutdown_grace_s=settings.shutdown_grace_s,
        max_retries=settings.task_max_retries,
        retry_timeout_ms=settings.task_retry_timeout_ms,
        poll_timeout_ms=settings.async_response_timeout_ms,
    )


class StartupError(Exception):
    """The worker cannot start for a reason the operator can fix (e.g. a port in use)."""


class App:
    """Runs the worker until SIGTERM/SIGINT; a second signal exits at once."""

    def __init__(self, settings: Settings, registry: TopicRegistry | None = None) -> None:
        self.settings = settings
        self._registry = registry
        self._signals = 0

    def run(self) -> int:
        settings = self.settings
        configure_logging(settings.log_level, settings.log_format)
        telemetry = tracing.configure(settings)
        registry = self._registry or build_registry(settings)
        health = build_health(settings)
        client = EngineClient.from_settings(settings, health)
        worker = Worker(client, registry, worker_options(settings), health)
        server = ObservabilityServer(settings.metrics_port, health)
        backlog = BacklogPoller(client.count, registry.topics, settings.backlog_poll_interval_s)
        audits = AuditPoller(client.count_history, settings.audit_poll_interval_s)
        self._install_signals(worker)
        payments = self._payment_gateway(registry)
        _log.info(
            "starting",
            engine=without_credentials(settings.engine_url),
            strategy=settings.strategy.value,
            payments=payments,
            metrics_port=settings.metrics_port,
            tenant=settings.camunda_tenant_id,
            tracing=tracing.describe(settings),
        )
        try:
            server.start()
        except OSError as exc:
            client.close()
            if telemetry is not None:
                telemetry.shutdown()
            raise StartupError(str(exc)) from None
        backlog.start()
        audits.start()
        try:
            worker.run()
        finally:
            audits.stop()
            backlog.stop()
            client.close()
            if telemetry is not None:
                # After the drain: the last tasks' spans are exported before the process ends.
                telemetry.shutdown()
            server.stop()
        return 0

    def _payment_gateway(self, registry: TopicRegistry) -> str:
        """Which gateway pays, for the start log and the gateway metric."""
        if PAYMENT_TOPIC not in registry.topics:
            return f"none ({PAYMENT_TOPIC} not in WORKER_TOPICS)"
        kind = require_payment_gateway(self.settings)
        environment = self.settings.deployment_environment
        PAYMENT_GATEWAY.labels(gateway=kind.value, environment=environment).set(1)
        if kind is GatewayKind.SIMULATED:
            _log.warning(
                "payments are simulated: no money moves, yet refunds end as refunded",
                setting="PAYMENT_SIMULATED=true",
                environment=environment or None,
            )
        return kind.describe()

    def _install_signals(self, worker: Worker) -> None:
        def on_signal(signum: int, _frame: FrameType | None) -> None:
            self._signals += 1
            if self._signals > 1:
                _log.warning("second signal; exiting now", signal=signal.Signals(signum).name)
                sys.stderr.flush()
                os._exit(128 + signum)
            _log.info("stopping", signal=signal.Signals(signum).name)
            # stop() takes locks the interrupted main thread may hold: run it elsewhere.
            threading.Thread(target=worker.stop, name="stopper", daemon=True).start()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
