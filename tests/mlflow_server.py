"""A real `mlflow server` process on loopback (sqlite backend, artifact proxy) that a test can kill and start
again on the same port and files, as an operator's restart would."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

from tests.net import free_port, wait_until_up

# The server's background job runner (huey consumers for MLflow's online scoring and trace archival, nothing the
# app uses) starts two more processes that import MLflow alongside the server: about half of each start's time.
# The server answers every request the same without it. Set the variable yourself to run the job runner.
SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
# The artifact root a server with an artifact proxy (--artifacts-destination) gives its default experiment
PROXY_ARTIFACT_ROOT = "mlflow-artifacts:/"
_template: Path | None = None
_template_lock = threading.Lock()


def empty_store_template() -> Path:
    """An empty sqlite store, made once per test process the way `mlflow server` makes one on its first start
    (MLflow's tables by its own migrations, and the default experiment): a new server's folder gets a copy
    instead of migrating a fresh database itself (seconds each time)."""
    global _template
    with _template_lock:
        if _template is None:
            folder = tempfile.mkdtemp(prefix="mlflow-template-")
            atexit.register(shutil.rmtree, folder, True)
            path = Path(folder) / "mlflow.db"
            store = SqlAlchemyStore(f"sqlite:///{path}", PROXY_ARTIFACT_ROOT)
            store.engine.dispose()
            _template = path
        return _template


class MlflowServer:
    def __init__(self, workdir: Path, port: int | None = None, backend: str | None = None, env: dict[str, str] | None = None):
        self.workdir = Path(workdir)
        self.env = env or {}  # the server's own variables over the test's (MLFLOW_SQL_TRACE_ROLLUPS_ENABLED)
        self.port = port or free_port()
        self.backend = backend  # a database URI (PostgreSQL in tests/test_postgres_store.py); sqlite by default
        self.process: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.workdir / "server.log"

    def start(self) -> "MlflowServer":
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.backend is None and not (self.workdir / "mlflow.db").exists():
            shutil.copyfile(empty_store_template(), self.workdir / "mlflow.db")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlflow",
                "server",
                "--backend-store-uri",
                self.backend or f"sqlite:///{self.workdir / 'mlflow.db'}",
                "--artifacts-destination",
                str(self.workdir / "artifacts"),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "1",
            ],
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("a"),
            start_new_session=True,
            env={**SERVER_ENV, **os.environ, **self.env},
        )
        wait_until_up(f"{self.uri}/health", self.process, 90, lambda: self.log.read_text()[-2000:])
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL, the whole process group (the server and its workers): no goodbye, like a crash."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(30)

    def __enter__(self) -> "MlflowServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
