"""A real `mlflow server` process on loopback (sqlite backend, artifact proxy) that a test can kill and start
again on the same port and files, as an operator's restart would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.net import free_port, wait_until_up


class MlflowServer:
    def __init__(self, workdir: Path, port: int | None = None, backend: str | None = None):
        self.workdir = Path(workdir)
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
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
             self.backend or f"sqlite:///{self.workdir / 'mlflow.db'}",
             "--artifacts-destination", str(self.workdir / "artifacts"), "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", "1"],
            stdout=subprocess.DEVNULL, stderr=self.log.open("a"), start_new_session=True)
        wait_until_up(f"{self.uri}/health", self.process, 90, lambda: self.log.read_text()[-2000:])
        return self

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
