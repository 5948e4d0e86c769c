"""Joining a Ray cluster, or starting Ray on this machine, with a deadline and with signals.

`ray.init` on an address waits for minutes when the address does not answer as Ray (a port
that accepts connections and never replies, another service, a cluster that wants a token)
and prints pages of warnings meanwhile; the wait happens in Ray's C++ code, where Python's
signal handlers never run, so Ctrl-C and SIGTERM went unheard. So, before Ray is asked:

1. a TCP connection to the address (refused, unroutable: one line at once);
2. one call to the cluster's GCS, as Ray's own clients make it (`CheckAlive`, with the
   token when this machine has one), with a deadline: its answer tells a Ray head of the
   same version from a silent port, another service, a cluster that wants a token, or a
   head of another Ray version, each in one line;

and then `ray.init` itself runs on a side thread with a deadline, while this thread waits
and hears signals. A first Ctrl-C (or SIGTERM, SIGHUP) while Ray starts or connects is held
until it has, then handed on to whatever handled it before (stopping a grid, or ending the
command with 128 + the signal), after this process has left Ray again when nothing else
will; a second one aborts at once. Ray started on a side thread leaves this process's
SIGTERM handler alone (on the main thread, `ray.init` replaces it with its own).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from embtui.engine.events import Sink, Stage
from embtui.engine.executors.streams import stderr_with_fd
from embtui.errors import EmbtuiError, printable

#: Seconds for an address to accept a connection and for its GCS to answer one call.
PROBE_TIMEOUT_S = 5.0
#: Seconds `ray.init` may take to join a cluster whose GCS answered the probe.
JOIN_TIMEOUT_S = 8.0
#: Seconds `ray.init` may take to start Ray on this machine (a loaded box needs a while).
START_TIMEOUT_S = 120.0
#: Where a user finds out more.
SEE_DOCTOR = "see embtui doctor --ray"


class ClusterUnavailable(EmbtuiError):
    """The Ray cluster named cannot be used from here (not reachable, not Ray, not this
    Ray version, wants a token, did not answer in time)."""


def import_ray() -> Any:
    """Ray, or one line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise EmbtuiError(
            "cluster = ray needs Ray: pip install 'embtui[ray]' (on every machine of the cluster)"
        ) from None
    return ray


def connect(address: str | None, sink: Sink | None = None) -> None:
    """Join the cluster at `address` ("auto": the one running on this machine), or start a
    Ray instance on this machine with its CPUs (and GPUs, which Ray finds). Already
    connected: nothing. A cluster that cannot be used is one line (EmbtuiError) within
    PROBE_TIMEOUT_S + JOIN_TIMEOUT_S seconds, naming Ray's reason."""
    ray = import_ray()
    if ray.is_initialized():
        return
    shown = printable(address) if address else ""
    if sink is not None:
        sink(Stage(None, f"connecting to Ray at {shown}" if address else "starting Ray here"))
    if address and address != "auto":
        probe(address)
    options: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
    if address:
        options["address"] = address
        limit, what = JOIN_TIMEOUT_S, f"the Ray cluster at {shown}"
    else:
        # "local": a new instance even when `ray start` runs here (`--ray auto` joins that)
        options.update(address="local", num_cpus=os.cpu_count() or 1, include_dashboard=False)
        limit, what = START_TIMEOUT_S, "Ray on this machine"
    with _signals_held() as held:
        error = _init_with_deadline(ray, options, limit, what)
    if held:  # a Ctrl-C while Ray answered: acted on now
        _hand_on(held[0])
    if error is not None:
        where = shown or "this machine"
        raise ClusterUnavailable(f"cannot use Ray on {where}: {_ray_reason(error)} ({SEE_DOCTOR})")


#: Set when this process leaves the Ray it started (see `shutdown`): the thread that started
#: it may end then. Linux ends a child process when the *thread* that started it ends
#: (Ray starts its GCS and raylet with PR_SET_PDEATHSIG), so that thread must outlive them.
_leaving = threading.Event()


def _init_with_deadline(ray: Any, options: dict[str, Any], limit: float, what: str) -> Any:
    """Run `ray.init(**options)` on a side thread; None when it returned, else what it
    raised. Past `limit` seconds the thread is left behind (a daemon: it does not hold up
    the exit) and this raises one line. Once Ray is up, the thread waits for `shutdown`:
    Ray on this machine was started by it, and lives as long as it does."""
    outcome: list[BaseException | None] = []
    answered = threading.Event()
    _leaving.clear()

    def init() -> None:
        try:
            with stderr_with_fd():  # under the console, sys.stderr has none
                ray.init(**options)
            outcome.append(None)
        except BaseException as exc:  # Ray raises many kinds; each says why
            outcome.append(exc)
            return
        finally:
            answered.set()
        _leaving.wait()

    threading.Thread(target=init, name="embtui-ray", daemon=True).start()
    # Interruptible: signal handlers run on this thread meanwhile.
    if not answered.wait(limit):
        raise ClusterUnavailable(
            f"{what} did not answer within {limit:g} s (start it again, or {SEE_DOCTOR})"
        )
    return outcome[0]


def shutdown() -> None:
    """Leave Ray (stopping the Ray this process started here), and let the thread that
    started it end."""
    try:
        import_ray().shutdown()
    finally:
        _leaving.set()


def _ray_reason(exc: BaseException) -> str:
    """Ray's message on one line, without its advice to start a cluster by hand."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


@contextmanager
def _signals_held() -> Iterator[list[int]]:
    """While the block runs, SIGINT, SIGTERM and SIGHUP (unless ignored) are noted in the
    yielded list instead of acted on; a second one raises KeyboardInterrupt (abort at
    once). The handlers from before are back afterwards. Off the main thread, where no
    signal arrives, nothing changes."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def note(signum: int, frame: Any) -> None:
        if received:
            raise KeyboardInterrupt
        received.append(signum)
        if signum != signal.SIGHUP:  # after a hangup nobody reads the terminal
            sys.stderr.write("\nembtui: stopping once Ray has answered (Ctrl-C again to abort)\n")

    wanted = [signal.SIGINT, signal.SIGTERM]
    if signal.getsignal(signal.SIGHUP) != signal.SIG_IGN:
        wanted.append(signal.SIGHUP)
    previous = {sig: signal.signal(sig, note) for sig in wanted}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _hand_on(signum: int) -> None:
    """A signal held while Ray started: hand it on to the handler from before. Where that
    ends this process (Python's own handlers), leave Ray first, so that the Ray processes
    this one started do not outlive it."""
    handler = signal.getsignal(signum)
    if handler in (signal.SIG_DFL, signal.SIG_IGN, signal.default_int_handler, None):
        shutdown()
    signal.raise_signal(signum)


def reachable(address: str, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Raise one line unless something accepts a TCP connection at the address (`HOST:PORT`,
    or a Ray Client `ray://HOST:PORT`) within `timeout_s`."""
    from embtui.config import ray_host_port

    try:
        socket.create_connection(ray_host_port(address), timeout_s).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        if isinstance(exc, TimeoutError):
            reason = f"no answer in {timeout_s:g} s"
        raise ClusterUnavailable(
            f"cannot reach the Ray cluster at {printable(address)}: {reason.lower()} "
            f"(is `ray start --head` running there? {SEE_DOCTOR})"
        ) from None


def probe(address: str, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Raise one line unless the address is a Ray cluster's GCS of this machine's Ray version
    that accepts this machine (its token), all within `timeout_s` seconds."""
    from embtui.config import ray_host_port

    start = time.monotonic()
    reachable(address, timeout_s)
    if address.startswith("ray://"):  # a Ray Client server, not the GCS: Ray asks it itself
        return
    import grpc
    from ray.core.generated import gcs_service_pb2, gcs_service_pb2_grpc

    host, port = ray_host_port(address)
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    shown = printable(address)
    left = max(0.5, timeout_s - (time.monotonic() - start))
    channel = None
    try:
        channel = _channel(target)
        stub = gcs_service_pb2_grpc.NodeInfoGcsServiceStub(channel)
        request = gcs_service_pb2.CheckAliveRequest()  # type: ignore[attr-defined]
        reply = stub.CheckAlive(request, timeout=left)
    except grpc.RpcError as exc:
        raise ClusterUnavailable(_refusal(shown, exc.code(), exc.details() or "", left)) from None
    except Exception as exc:  # a token this machine cannot load, a TLS file missing
        raise ClusterUnavailable(
            f"cannot ask the Ray cluster at {shown}: {_ray_reason(exc)}"
        ) from None
    finally:
        if channel is not None:
            channel.close()
    theirs = reply.ray_version
    ours = import_ray().__version__
    if theirs and theirs != ours:
        raise ClusterUnavailable(
            f"the Ray cluster at {shown} runs Ray {printable(theirs)}, this machine Ray {ours}: "
            f"Ray needs one version on every machine (pip install 'ray=={printable(theirs)}')"
        )


def _channel(target: str) -> Any:
    """A gRPC channel to the GCS as Ray's own clients open it: TLS when RAY_USE_TLS asks,
    the authentication token when this machine has token authentication on."""
    import importlib

    with contextlib.suppress(ImportError):  # Ray 2.5x: a token in ~/.ray turns token auth on,
        setup = importlib.import_module(  # as ray.init does before it connects
            "ray._private.authentication.authentication_token_setup"
        )
        quiet = logging.getLogger(setup.__name__)
        level = quiet.level
        quiet.setLevel(logging.ERROR)  # its notice is for people starting clusters
        try:
            setup.maybe_enable_token_auth_if_token_available(warn_if_disabled=False)
        finally:
            quiet.setLevel(level)
    try:
        home = importlib.import_module("ray._private.grpc_utils")
    except ImportError:  # older Ray kept it here
        home = importlib.import_module("ray._private.utils")
    return home.init_grpc_channel(target, options=[("grpc.enable_retries", 0)])


def _refusal(shown: str, code: Any, details: str, waited: float) -> str:
    """One line for the way a probe of the GCS at `shown` failed."""
    name = getattr(code, "name", str(code))
    detail = printable(" ".join(details.split()))[:200]
    if name == "UNAUTHENTICATED":
        if _token_auth_on():
            return (
                f"the Ray cluster at {shown} refused this machine's token ({detail}): "
                "set RAY_AUTH_TOKEN (or ~/.ray/auth_token) to the cluster's token"
            )
        return (
            f"the Ray cluster at {shown} needs a token ({detail}): "
            "export RAY_AUTH_MODE=token RAY_AUTH_TOKEN=<the cluster's token>"
        )
    if name == "DEADLINE_EXCEEDED":
        return (
            f"no answer from a Ray cluster at {shown} within {waited:.0f} s: something "
            "accepts connections there but does not answer as Ray (is it the port "
            "`ray start --head` printed?)"
        )
    if name in ("UNIMPLEMENTED", "UNAVAILABLE", "INTERNAL", "UNKNOWN"):
        return (
            f"{shown} is not a Ray cluster: another service answers there ({detail}); "
            "give the port `ray start --head` printed"
        )
    return f"the Ray cluster at {shown} answered {name}: {detail}"


def _token_auth_on() -> bool:
    """Whether this machine uses Ray's token authentication (RAY_AUTH_MODE=token)."""
    try:
        from ray._private.authentication.authentication_utils import is_token_auth_enabled
    except ImportError:
        return os.environ.get("RAY_AUTH_MODE", "").lower() == "token"
    return bool(is_token_auth_enabled())
