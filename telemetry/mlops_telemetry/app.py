"""Start-up: settings, the two servers, the reference loader, and a clean stop on SIGTERM.

The proxy serves from the first moment, whether or not MLflow answers (loader.py).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from typing import Any

from .config import ConfigError, load_settings

log = logging.getLogger("mlops_telemetry")


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s mlops-telemetry: %(message)s"))
    root = logging.getLogger("mlops_telemetry")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def main(argv: list[str] | None = None) -> int:
    del argv
    try:
        settings = load_settings()
    except ConfigError as error:
        print(f"mlops-telemetry: configuration error: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)

    # Imported here so that a configuration error is reported even where prometheus_client is missing.
    try:
        from .server import AdminHandler, BoundedServer, ProxyHandler, Telemetry
    except ImportError as error:
        log.error("cannot start: %s (the image must provide prometheus_client; ghcr.io/mlflow/mlflow:<version>-full "
                  "has it through mlflow[extras]'s prometheus-flask-exporter)", error)
        return 1

    app = Telemetry(settings)
    loader = app.loader
    try:
        proxy = BoundedServer((settings.listen_host, settings.listen_port), ProxyHandler, app, settings.max_connections)
        admin = BoundedServer((settings.listen_host, settings.admin_port), AdminHandler, app, 16)
    except OSError as error:
        log.error("cannot listen on %s ports %d/%d: %s", settings.listen_host, settings.listen_port, settings.admin_port, error)
        return 1
    loader.run_in_background()
    threads = [threading.Thread(target=server.serve_forever, name=name, daemon=True) for name, server in (("proxy", proxy), ("admin", admin))]
    for thread in threads:
        thread.start()
    log.info("serving %s/%s (pod %s/%s): proxy on %s:%d -> %s, metrics and feedback on %s:%d",
             settings.model, settings.model_version, settings.namespace, settings.pod, settings.listen_host, settings.listen_port,
             settings.upstream_url, settings.listen_host, settings.admin_port)

    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stop.wait()
    loader.stop()
    for server in (proxy, admin):
        server.shutdown()
        server.server_close()
    return 0
