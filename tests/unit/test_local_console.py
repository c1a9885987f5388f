"""The rules behind `make run`'s console, each on its own cases: EMF lines to the metrics file
whatever the threads' interleaving, a client gone away is one line whichever connection error
it is, a port that cannot be bound names its variable."""

import io
import logging
import socket
import threading
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from local_run import ports
from local_run.emf import MetricsFilter
from local_run.functions import Functions
from local_run.gateway import Gateway
from local_run.template import load_template

EMF = '{"_aws":{"Timestamp":1,"CloudWatchMetrics":[]},"QuestionsAsked":[1.0]}'
LOG = '{"level":"WARNING","message":"teleport blocked by a checkpoint"}'


@given(st.lists(st.sampled_from([EMF, LOG, "Local run ready", ""]), max_size=12), st.integers(1, 7))
def test_each_complete_line_goes_to_one_stream(lines: list[str], piece: int) -> None:
    console, metrics = io.StringIO(), io.StringIO()
    stream = MetricsFilter(console, metrics)
    text = "".join(f"{line}\n" for line in lines)
    for start in range(0, len(text), piece):  # written in pieces, as print() writes text then "\n"
        stream.write(text[start : start + piece])
    assert metrics.getvalue() == "".join(f"{line}\n" for line in lines if line == EMF)
    assert console.getvalue() == "".join(f"{line}\n" for line in lines if line != EMF)


def test_threads_printing_at_once_never_mix_their_lines() -> None:
    console, metrics = io.StringIO(), io.StringIO()
    stream = MetricsFilter(console, metrics)
    start = threading.Barrier(4)

    def printer(line: str) -> None:
        start.wait()
        for _ in range(200):
            print(line, file=stream)

    threads = [threading.Thread(target=printer, args=(line,)) for line in (EMF, LOG, EMF, LOG)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert metrics.getvalue().splitlines() == [EMF] * 400
    assert console.getvalue().splitlines() == [LOG] * 400


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    template = load_template()
    server = Gateway(ports.listen(0, "LOCAL_PORT"), template, Functions(template))
    yield server
    server.server_close()


@pytest.mark.parametrize("error", [BrokenPipeError, ConnectionResetError, ConnectionAbortedError])
def test_a_client_gone_away_is_one_line(
    gateway: Gateway, error: type[Exception], caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="local_run"):
        try:
            raise error("the client went away")
        except error:
            gateway.handle_error(None, ("127.0.0.1", 50000))
    assert [r.getMessage() for r in caplog.records] == [
        f"127.0.0.1:50000 closed the connection ({error.__name__})"
    ]
    assert capsys.readouterr().err == ""


def test_any_other_error_keeps_its_traceback(gateway: Gateway, capsys: pytest.CaptureFixture) -> None:
    try:
        raise KeyError("a bug of ours")
    except KeyError:
        gateway.handle_error(None, ("127.0.0.1", 50000))
    assert "Traceback" in capsys.readouterr().err


def test_a_taken_port_names_its_variable_and_a_free_one() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ports.PortUnavailable) as refused:
            ports.listen(port, "LOCAL_PORT")
        with pytest.raises(ports.PortUnavailable, match=f"^Port {port} .* set LOCAL_AWS_PORT"):
            ports.ensure_free(port, "LOCAL_AWS_PORT")
    message = str(refused.value)
    assert message.startswith(f"Port {port} on 127.0.0.1 is already in use: set LOCAL_PORT to a free port")
    suggested = int(message.rsplit("LOCAL_PORT=", 1)[1].split(maxsplit=1)[0])
    assert suggested > port and "\n" not in message


@pytest.mark.parametrize("port", [-1, 65536, 10**6])
def test_a_number_that_is_no_port_says_so(port: int) -> None:
    with pytest.raises(ports.PortUnavailable, match=f"^Port {port} on 127.0.0.1 is not a TCP port"):
        ports.listen(port, "LOCAL_PORT")
