"""The scoring server behind the proxy: one keep-alive HTTP connection per proxy thread."""

from __future__ import annotations

import http.client
import socket
import threading
import time

# Headers that belong to one connection, not to the message (RFC 9110 section 7.6.1), plus the
# ones the proxy sets itself.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "trailers",
     "transfer-encoding", "upgrade", "proxy-connection", "content-length", "host"}
)


class UpstreamError(RuntimeError):
    """The scoring server gave no answer; `status` is what the proxy answers instead (502 or 504)."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class UpstreamResponse:
    __slots__ = ("status", "headers", "body", "seconds")

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes, seconds: float):
        self.status = status
        self.headers = headers
        self.body = body
        self.seconds = seconds


class Upstream:
    def __init__(self, host: str, port: int, timeout_seconds: float):
        self.host = host
        self.port = port
        self.timeout = timeout_seconds
        self._local = threading.local()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def request(self, method: str, path: str, body: bytes | None, headers: dict[str, str], timeout: float | None = None) -> UpstreamResponse:
        """Sends one request; a stale keep-alive connection is retried once on a fresh one."""
        for attempt in (1, 2):
            connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
            reused = connection is not None
            if connection is None:
                connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout or self.timeout)
                self._local.connection = connection
            started = time.perf_counter()
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
            except (socket.timeout, TimeoutError):
                self._drop(connection)
                raise UpstreamError(f"the scoring server at {self.address} did not answer {method} {path} within {timeout or self.timeout:g} s", 504) from None
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as error:
                self._drop(connection)
                if reused and attempt == 1:
                    continue
                raise UpstreamError(f"the scoring server at {self.address} closed the connection on {method} {path} ({error.__class__.__name__})", 502) from None
            except (OSError, http.client.HTTPException) as error:
                self._drop(connection)
                raise UpstreamError(f"the scoring server at {self.address} is unreachable for {method} {path}: {error}", 502) from None
            seconds = time.perf_counter() - started
            if response.will_close:
                self._drop(connection)
            return UpstreamResponse(response.status, response.getheaders(), data, seconds)
        raise AssertionError("unreachable")

    def _drop(self, connection: http.client.HTTPConnection) -> None:
        connection.close()
        self._local.connection = None


def forwardable(headers: list[tuple[str, str]], also_drop: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """Headers minus the hop-by-hop ones and those named in a Connection header."""
    named = {token.strip().lower() for name, value in headers if name.lower() == "connection" for token in value.split(",")}
    return [(name, value) for name, value in headers if (lower := name.lower()) not in HOP_BY_HOP and lower not in named and lower not in also_drop]
