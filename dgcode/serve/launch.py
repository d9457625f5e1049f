"""Starting `dgcode serve`: the model (never the embedded repair model), the loopback rule, uvicorn.

``check_bind`` refuses a non-loopback address without an API key;
``open_service`` chooses the model through the one model API and loads it
(so a bad file is reported before anything listens); ``serve`` binds the
socket itself (port 0 picks a free port; a port in use is a clear error) and
runs uvicorn until Ctrl-C.  Errors are ``ServeError`` with an exit code.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable, Mapping
from pathlib import Path

from dgcode.workflows.exit_codes import ExitCode

Say = Callable[[str], None]
API_KEY_ENV = "DGCODE_SERVE_API_KEY"
NOT_A_CHAT_MODEL = ("dgcode serve needs a chat model, and dgcode's embedded model only repairs Python syntax "
                    "errors (it is not a chat model)")


class ServeError(Exception):
    """Serving cannot start; ``code`` is the exit status (2: usage, 1: failed)."""

    def __init__(self, message: str, code: int = ExitCode.USAGE):
        super().__init__(message)
        self.code = int(code)


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def check_bind(host: str, api_key: str | None) -> None:
    """Refuse to listen beyond this machine without an API key."""
    if not is_loopback(host) and not api_key:
        raise ServeError(f"refusing to listen on {host} without an API key: anyone who can reach it could use "
                         f"the model; pass --api-key KEY (or set {API_KEY_ENV}), or keep the default "
                         "--host 127.0.0.1")


def _is_repair_model(path: Path) -> bool:
    from dgcode.repair.embedded import embedded_model
    from dgcode.repair.repair_model import NotARepairModel, read_layout

    shipped = embedded_model()
    try:
        if shipped is not None and path.resolve() == shipped.resolve():
            return True
        if path.stat().st_size > 512 * 1024 * 1024:  # repair models are small; spare a big file the read
            return False
        read_layout(path)
        return True
    except (NotARepairModel, OSError):
        return False


def open_service(config: Mapping[str, object], say: Say = lambda _m: None):
    """The configured model, loaded, as a ModelService (ServeError when there is none or it cannot load)."""
    from dgcode.engine.errors import EngineError, ModelFileError
    from dgcode.engine.worker import EngineClient
    from dgcode.serve.service import ModelService
    from dgcode.workflows.model import NO_MODEL, NoModelConfigured, choose_model, engine_options
    from dgcode.workflows.model_engine import ModelEngine

    try:
        choice = choose_model(config, embedded=False)
    except NoModelConfigured:
        raise ServeError(f"{NOT_A_CHAT_MODEL}. {NO_MODEL}") from None
    except EngineError as exc:
        raise ServeError(str(exc)) from None
    if _is_repair_model(choice.path):
        raise ServeError(f"{NOT_A_CHAT_MODEL}: {choice.path} is a repair model. {NO_MODEL}")
    engine = ModelEngine(EngineClient(choice.path, engine_options(config, choice)), say)
    try:
        engine.start()
    except EngineError as exc:
        engine.close()
        raise ServeError(str(exc), ExitCode.USAGE if isinstance(exc, ModelFileError) else ExitCode.FAILED) from None
    return ModelService(config, choice, engine)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket (ServeError when the address is taken or not this machine's)."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, _, _, _, address = infos[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}", ExitCode.FAILED) from None
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/v1"


def serve(service, host: str, port: int, api_key: str | None, say: Say = lambda _m: None,
          sock: socket.socket | None = None) -> None:
    """Serve ``service`` until interrupted (blocking); closes the engine at the end."""
    import uvicorn

    from dgcode.serve.app import create_app
    from dgcode.workflows import warm_server

    check_bind(host, api_key)
    sock = sock or bind(host, port)
    try:
        config = uvicorn.Config(create_app(service, api_key), log_level=os.environ.get("DGCODE_SERVE_LOG", "warning"),
                                timeout_graceful_shutdown=5, lifespan="off")
        record = warm_server.announce(url_of(sock), service.choice.path, keyed=api_key is not None)
        say(f"serving {service.model_id} at {url_of(sock)} (OpenAI-compatible; Ctrl-C stops)")
        try:
            uvicorn.Server(config).run(sockets=[sock])
        finally:
            warm_server.withdraw(record)  # fix, the hook and the TUI stop using it
    finally:
        sock.close()
        service.close()
