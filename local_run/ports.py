"""The local run's ports, claimed before anything starts.

A busy port found after DynamoDB Local, moto and the pollers have started is a traceback among
their start-up lines; found first, it is one line naming the variable to set.
"""

import errno
import socket

HOST = "127.0.0.1"
BACKLOG = 128


class PortUnavailable(Exception):
    """A port the local run needs cannot be bound: the message names the variable that moves it."""

    def __init__(self, port: int, variable: str, why: str) -> None:
        start = max(port, 1024) + 1
        suggestion = next((p for p in range(start, min(start + 50, 65536)) if _free(p)), 0)
        example = f", e.g. {variable}={suggestion} make run" if suggestion else ""
        super().__init__(f"Port {port} on {HOST} {why}: set {variable} to a free port{example}")


def listen(port: int, variable: str) -> socket.socket:
    """A socket bound to HOST:port and listening, handed to the HTTP front: nothing can take the
    port between this check and the server's start."""
    if not 0 <= port <= 65535:
        raise PortUnavailable(port, variable, "is not a TCP port (0 to 65535)")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as HTTPServer does
    try:
        listener.bind((HOST, port))
    except OSError as exc:
        listener.close()
        why = {errno.EADDRINUSE: "is already in use", errno.EACCES: "needs privileges"}.get(
            exc.errno or 0, f"cannot be bound ({exc.strerror})"
        )
        raise PortUnavailable(port, variable, why) from None
    listener.listen(BACKLOG)
    return listener


def ensure_free(port: int, variable: str) -> None:
    """For a port another component binds itself (moto's server, which waits forever when it
    cannot bind): checked now, released at once. 0 means any free port."""
    if port:
        listen(port, variable).close()


def _free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True
