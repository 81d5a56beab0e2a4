"""A real PostgreSQL server for tests: Debian's `postgresql` binaries (scripts/test.sh installs them when missing),
its own data folder, a loopback port, stopped when the test ends. Started as the `postgres` user when the tests
run as root (PostgreSQL refuses to run as root)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.net import free_port

PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)  # the newest Debian has


def pg_bin(tool: str) -> str:
    for folder in PG_BIN_DIRS:
        if (folder / tool).exists():
            return str(folder / tool)
    found = shutil.which(tool)
    if found is None:
        raise RuntimeError(f"PostgreSQL's {tool} is not installed: run `bash scripts/test.sh`, which installs Debian's postgresql.")
    return found


class Postgres:
    """`uri(driver)` names a database `mlflow` owned by user `mlflow` (password `mlflow`), on 127.0.0.1."""

    USER = PASSWORD = DATABASE = "mlflow"

    def __init__(self, workdir: Path, settings: dict[str, str] | None = None):
        self._as_root = os.geteuid() == 0
        # as root, PostgreSQL runs as `postgres`, which cannot enter pytest's folders (mode 700): a folder of its own
        self.workdir = Path(tempfile.mkdtemp(prefix="app-postgres-")) if self._as_root else Path(workdir)
        self.data = self.workdir / "pgdata"
        self.port = free_port()
        self.settings = settings or {}  # more `-c name=value` (a benchmark's bulk-load tuning)

    def _run(self, *args: str, check: bool = True, timeout_s: float = 120) -> subprocess.CompletedProcess:
        command = list(args)
        if self._as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, check=check, capture_output=True, text=True, timeout=timeout_s)

    def start(self) -> "Postgres":
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self._as_root:
            shutil.chown(self.workdir, "postgres", "postgres")
        self._run(pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
        self._run(
            pg_bin("pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.workdir / "postgres.log"),
            "-w",
            "-o",
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.workdir} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off" + "".join(f" -c {name}={value}" for name, value in self.settings.items()),
            "start",
        )
        self.psql(f"CREATE ROLE {self.USER} LOGIN PASSWORD '{self.PASSWORD}'")
        self.psql(f"CREATE DATABASE {self.DATABASE} OWNER {self.USER}")
        return self

    def psql(self, sql: str, timeout_s: float = 120) -> str:
        """`timeout_s`: longer for a benchmark's copy of a database of a million traces (20 GB: over 2 minutes)."""
        done = self._run(
            pg_bin("psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
            "-tAc",
            sql,
            timeout_s=timeout_s,
        )
        return done.stdout.strip()

    def uri(self, driver: str = "postgresql") -> str:
        return f"{driver}://{self.USER}:{self.PASSWORD}@127.0.0.1:{self.port}/{self.DATABASE}"

    def stop(self) -> None:
        if self.data.exists():
            self._run(pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        if self._as_root:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "Postgres":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
