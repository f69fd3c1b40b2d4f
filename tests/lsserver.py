"""A real Label Studio server for the integration tests and the pull benchmark.

Label Studio pins its own label-studio-sdk, Django and pyarrow, so it lives in its own
venv under .cache/ (git-ignored): the first run installs it (about a minute), later runs
reuse it. The server runs on 127.0.0.1 with a temporary data dir and a known admin
token, and is stopped by its PID. Local Files serving is rooted at ``files_root``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

VERSION = "1.23.2"
REPO = Path(__file__).resolve().parents[1]
VENV = REPO / ".cache" / "labelstudio-venv"
ADMIN = "admin@example.com"


def executable() -> Path:
    """The label-studio command of the cached venv, installing it on first use.

    A file lock makes parallel test workers (pytest-xdist) wait for one install.
    """
    from filelock import FileLock

    VENV.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(VENV.parent / "labelstudio-venv.lock")):
        return _install()


def _install() -> Path:
    binary = VENV / "bin" / "label-studio"
    marker = VENV / f".installed-{VERSION}"
    if binary.exists() and marker.exists():
        return binary
    shutil.rmtree(VENV, ignore_errors=True)
    VENV.parent.mkdir(parents=True, exist_ok=True)
    for command in ([sys.executable, "-m", "venv", str(VENV)],
                    [str(VENV / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", f"label-studio=={VERSION}"]):
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    marker.write_text(VERSION)
    return binary


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    token: str
    process: subprocess.Popen
    data_dir: Path
    log: Path
    files_root: Path
    port: int = 0
    users: dict[str, int] = field(default_factory=dict)
    _client: object = None

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def close(self) -> None:
        if self._client is not None:
            self._client._client_wrapper.httpx_client.httpx_client.close()
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def client(self):
        """One SDK client per server (its HTTP connections are closed with the server)."""
        if self._client is None:
            from label_studio_sdk import LabelStudio

            self._client = LabelStudio(base_url=self.url, api_key=self.token)
        return self._client


def start(files_root: str | os.PathLike, *, timeout: float = 240.0) -> Server:
    """Start a server with an empty data dir; returns once its API answers."""
    binary = executable()
    data_dir = Path(tempfile.mkdtemp(prefix="dlp-ls-"))
    token = secrets.token_hex(20)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("HOST", "PORT", "DEBUG", "USERNAME", "PASSWORD")}
    env.update({
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
        "LABEL_STUDIO_USERNAME": ADMIN,
        "LABEL_STUDIO_PASSWORD": secrets.token_hex(12),
        "LABEL_STUDIO_USER_TOKEN": token,
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
        "LABEL_STUDIO_LATEST_VERSION_CHECK": "false",
        "LABEL_STUDIO_COLLECT_ANALYTICS": "false",
        "LABEL_STUDIO_SENTRY_DSN": "",
        "LABEL_STUDIO_FRONTEND_SENTRY_DSN": "",
        "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
        "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(Path(files_root).resolve()),
        "PATH": f"{binary.parent}{os.pathsep}{env.get('PATH', '')}",
    })
    env.pop("VIRTUAL_ENV", None)
    log = data_dir / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen([str(binary), "start", "--no-browser", "--internal-host", "127.0.0.1",
                                    "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT,
                                   cwd=data_dir, start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}", token, process, data_dir, log, Path(files_root).resolve(), port)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"label-studio exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        if _answers(server):
            return server
        time.sleep(1)
    server.close()
    raise RuntimeError(f"label-studio did not answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def _answers(server: Server) -> bool:
    request = urllib.request.Request(f"{server.url}/api/projects?page_size=1",
                                     headers={"Authorization": f"Token {server.token}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


if __name__ == "__main__":  # `python tests/lsserver.py`: install the server's venv ahead of the tests (CI)
    print(executable())
