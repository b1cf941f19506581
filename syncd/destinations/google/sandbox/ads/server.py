"""The gRPC server of the Google Ads emulator: TLS on 127.0.0.1, auth, routing, request log.

Each RPC is routed by its method path (``/google.ads.googleads.v26.services.UserListService/
MutateUserLists``), decoded with that version's own message classes, checked for the headers
the real API requires (``authorization: Bearer``, optional ``login-customer-id``) and for the
access level of the caller's Cloud project (``access``), run under one lock against the
customer's ``Account``, and recorded in the request log: method path, HTTP-equivalent
status, operation name and an operation or row count -- never a token, an identifier or a
query. A refusal is a ``GoogleAdsFailure`` in the trailing metadata with a ``request-id``,
exactly where the client's interceptor looks.

Each call waits the emulator's latency (``set_latency``; none by default), and any delay a
test queued for it (``delay_next``), before it takes the lock, so calls in flight wait side by
side, up to the executor's workers.

``google.longrunning.Operations/GetOperation`` is served too: the api-core ``Operation`` that
``run_offline_user_data_job`` returns polls it on the same channel.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any

import grpc
from google.longrunning import operations_pb2

from syncd.destinations.google.sandbox.ads.access import ACCESS_LEVELS, check_access
from syncd.destinations.google.sandbox.ads.errors import (
    HTTP_EQUIVALENT,
    AdsError,
    failure_message,
    failure_metadata_key,
    serialize_failure,
)
from syncd.destinations.google.sandbox.ads.protos import (
    Protos,
    installed_versions,
    protos,
)
from syncd.sandbox.latency import InFlight, Latency, LatencyControls
from syncd.sandbox.server import RequestRecord

__all__ = ["GrpcServer", "Handler", "StreamHandler"]

logger = logging.getLogger("syncd.sandbox")

#: Calls answered at once; more wait for a worker, as on a server at capacity.
MAX_WORKERS = 32
#: Large enough for 100,000 hashed identifiers in one AddOfflineUserDataJobOperations request.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024

_SERVICE_PATH = re.compile(
    r"/google\.ads\.googleads\.(?P<version>v\d+)\.services\.(?P<service>\w+)/(?P<method>\w+)"
)
_GET_OPERATION = "/google.longrunning.Operations/GetOperation"

#: ``(messages, request, request_id) -> (response, count)``; raises ``AdsError``.
Handler = Callable[[Protos, Any, str], tuple[Any, int]]
#: Like ``Handler`` but returns every message of a server stream.
StreamHandler = Callable[[Protos, Any, str], tuple[list[Any], int]]


def _serialize(message: Any) -> bytes:
    data: bytes = message.SerializeToString()
    return data


def _newest_version() -> str:
    return max(installed_versions(), key=lambda version: int(version[1:]))


class GrpcServer(LatencyControls):
    """Serves registered handlers over TLS; subclasses provide the API behind them.

    ``register`` maps (service, method) to a handler that receives the decoded request; the
    server does authentication, locking, error encoding and logging around it. ``customer_of``
    tells, per method, which customer a request addresses, so the headers can be checked
    against that customer before the handler runs.
    """

    def __init__(self, *, access_token: str | None, access_level: str, port: int) -> None:
        if access_level not in ACCESS_LEVELS:
            raise ValueError(f"access_level is one of {', '.join(ACCESS_LEVELS)}")
        self.access_level = access_level
        self._access_token = access_token
        self._requested_port = port
        self._lock = threading.RLock()
        self._log: list[RequestRecord] = []
        self._log_lock = threading.Lock()
        self._unary: dict[tuple[str, str], tuple[str, str, Handler]] = {}
        self._streams: dict[tuple[str, str], tuple[str, str, StreamHandler]] = {}
        self._customer_of: dict[tuple[str, str], Callable[[Any], str]] = {}
        self._server: grpc.Server | None = None
        self._executor: futures.ThreadPoolExecutor | None = None
        self._port = 0
        self.delay = Latency()
        self.in_flight = InFlight()

    # -- registration ----------------------------------------------------------------------

    def register(
        self,
        service: str,
        method: str,
        request_type: str,
        operation: str,
        handler: Handler,
        customer_of: Callable[[Any], str],
    ) -> None:
        """Serve ``service/method``; ``request_type`` names the ``Protos`` field to decode with."""
        self._unary[(service, method)] = (request_type, operation, handler)
        self._customer_of[(service, method)] = customer_of

    def register_stream(
        self,
        service: str,
        method: str,
        request_type: str,
        operation: str,
        handler: StreamHandler,
        customer_of: Callable[[Any], str],
    ) -> None:
        """Serve a server-streaming ``service/method``."""
        self._streams[(service, method)] = (request_type, operation, handler)
        self._customer_of[(service, method)] = customer_of

    # -- lifecycle -------------------------------------------------------------------------

    def _start_server(self, key_pem: bytes, chain_pem: bytes) -> None:
        if self._server is not None:
            raise RuntimeError(f"{type(self).__name__} is already running at {self.endpoint}")
        executor = futures.ThreadPoolExecutor(
            max_workers=MAX_WORKERS, thread_name_prefix="google-ads-sandbox"
        )
        server = grpc.server(
            executor,
            handlers=[_Router(self)],
            options=[
                ("grpc.so_reuseport", 0),
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ],
        )
        credentials = grpc.ssl_server_credentials([(key_pem, chain_pem)])
        self._port = server.add_secure_port(f"127.0.0.1:{self._requested_port}", credentials)
        if not self._port:
            raise OSError(f"cannot bind 127.0.0.1:{self._requested_port}")
        server.start()
        self._server, self._executor = server, executor

    def stop(self) -> None:
        """Stop serving at once (in-flight calls are cancelled); a no-op when stopped."""
        server, self._server = self._server, None
        executor, self._executor = self._executor, None
        if server is not None:
            server.stop(grace=None).wait(timeout=5)
        if executor is not None:  # grpc leaves an executor it was given running
            executor.shutdown(wait=False, cancel_futures=True)

    @property
    def running(self) -> bool:
        """Whether the server is bound and serving."""
        return self._server is not None

    @property
    def port(self) -> int:
        """The bound port (the real one when constructed with port 0)."""
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not running; call start() first")
        return self._port

    @property
    def endpoint(self) -> str:
        """``127.0.0.1:PORT``: the ``endpoint`` setting of ``GoogleAdsClient``."""
        return f"127.0.0.1:{self.port}"

    # -- request log -----------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """A copy of the request log, oldest first.

        ``method`` is always ``POST`` (every gRPC call is an HTTP/2 POST), ``path`` the gRPC
        method path, ``status`` the HTTP equivalent of the gRPC code (200, 400, 401, 403, 409
        ...), ``count`` the operations sent or the rows returned.
        """
        with self._log_lock:
            return list(self._log)

    def clear_requests(self) -> None:
        """Forget the request log (tests call it between phases)."""
        with self._log_lock:
            self._log.clear()

    def _record(self, path: str, code: grpc.StatusCode, operation: str, count: int) -> None:
        record = RequestRecord("POST", path, HTTP_EQUIVALENT.get(code, 500), operation, count)
        with self._log_lock:
            self._log.append(record)
        logger.debug("sandbox %s", record)

    # -- to implement ----------------------------------------------------------------------

    def _customer_known(self, customer_id: str) -> bool:
        raise NotImplementedError

    def _is_test_account(self, customer_id: str) -> bool:
        raise NotImplementedError

    def _before_call(self) -> None:
        """Runs under the lock before every handler (the emulator advances its jobs here)."""

    def _operation_version(self, name: str) -> str | None:
        """The API version of the job behind a long-running operation name, if known."""
        return None

    def _next_delay(self, path: str) -> float:
        """Seconds a test asked this call of a method path to wait before its answer."""
        return 0.0

    def _next_failure(self, path: str) -> AdsError | None:
        """A refusal a test queued for this method path (runs under the lock)."""
        return None

    def _get_operation(self, request: operations_pb2.GetOperationRequest) -> Any:
        raise NotImplementedError

    # -- calls -----------------------------------------------------------------------------

    def _invoke(
        self,
        context: grpc.ServicerContext,
        call: tuple[str, str, str],
        customer_of: Callable[[Any], str],
        request: Any,
        run: Callable[[str], tuple[Any, int]],
    ) -> Any:
        """Check headers, run under the lock, log, and encode a refusal; returns the result.

        ``call`` is (API version for the failure key, method path, operation name).
        """
        version, path, operation = call
        request_id = secrets.token_urlsafe(16)
        metadata = {
            key: value for key, value in context.invocation_metadata() if isinstance(value, str)
        }
        try:
            with self.in_flight:
                time.sleep(self.delay.draw() + self._next_delay(path))
                with self._lock:
                    check_access(
                        metadata,
                        customer_of(request),
                        version,
                        access_token=self._access_token,
                        access_level=self.access_level,
                        customer_known=self._customer_known,
                        is_test_account=self._is_test_account,
                    )
                    refusal = self._next_failure(path)
                    if refusal is not None:
                        raise refusal
                    self._before_call()
                    result, count = run(request_id)
        except AdsError as error:
            self._record(path, error.status, operation, error.count)
            failure = serialize_failure(version, error.errors, request_id)
            context.set_trailing_metadata(
                ((failure_metadata_key(version), failure), ("request-id", request_id))
            )
            context.abort(error.status, failure_message(error.errors))
        except Exception:
            logger.exception("google ads sandbox failed on %s", path)
            self._record(path, grpc.StatusCode.INTERNAL, operation, 0)
            context.abort(grpc.StatusCode.INTERNAL, "Internal error encountered.")
        self._record(path, grpc.StatusCode.OK, operation, count)
        context.set_trailing_metadata((("request-id", request_id),))
        return result

    def _unary_handler(
        self, version: str, path: str, key: tuple[str, str]
    ) -> grpc.RpcMethodHandler:
        request_type, operation, handler = self._unary[key]
        customer_of = self._customer_of[key]
        messages = protos(version)

        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            return self._invoke(
                context,
                (version, path, operation),
                customer_of,
                request,
                lambda request_id: handler(messages, request, request_id),
            )

        return grpc.unary_unary_rpc_method_handler(
            handle,
            request_deserializer=getattr(messages, request_type).FromString,
            response_serializer=_serialize,
        )

    def _stream_handler(
        self, version: str, path: str, key: tuple[str, str]
    ) -> grpc.RpcMethodHandler:
        request_type, operation, handler = self._streams[key]
        customer_of = self._customer_of[key]
        messages = protos(version)

        def handle(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            yield from self._invoke(
                context,
                (version, path, operation),
                customer_of,
                request,
                lambda request_id: handler(messages, request, request_id),
            )

        return grpc.unary_stream_rpc_method_handler(
            handle,
            request_deserializer=getattr(messages, request_type).FromString,
            response_serializer=_serialize,
        )

    def _operations_handler(self) -> grpc.RpcMethodHandler:
        def customer_of(request: Any) -> str:
            parts = str(request.name).split("/")
            return parts[1] if len(parts) > 1 and parts[0] == "customers" else ""

        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            version = self._operation_version(request.name) or _newest_version()
            return self._invoke(
                context,
                (version, _GET_OPERATION, "get_operation"),
                customer_of,
                request,
                lambda request_id: (self._get_operation(request), 1),
            )

        return grpc.unary_unary_rpc_method_handler(
            handle,
            request_deserializer=operations_pb2.GetOperationRequest.FromString,
            response_serializer=_serialize,
        )


class _Router(grpc.GenericRpcHandler):  # type: ignore[misc]  # grpc ships no stubs
    """Finds the handler of a method path; unknown paths get gRPC's UNIMPLEMENTED."""

    def __init__(self, server: GrpcServer) -> None:
        self._server = server
        self._cache: dict[str, grpc.RpcMethodHandler | None] = {}
        self._lock = threading.Lock()

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        path: str = handler_call_details.method
        with self._lock:
            if path not in self._cache:
                self._cache[path] = self._lookup(path)
            return self._cache[path]

    def _lookup(self, path: str) -> grpc.RpcMethodHandler | None:
        if path == _GET_OPERATION:
            return self._server._operations_handler()
        match = _SERVICE_PATH.fullmatch(path)
        if match is None or match["version"] not in installed_versions():
            return None
        key = (match["service"], match["method"])
        if key in self._server._unary:
            return self._server._unary_handler(match["version"], path, key)
        if key in self._server._streams:
            return self._server._stream_handler(match["version"], path, key)
        return None
