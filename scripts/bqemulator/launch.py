"""Starts bqemulator with every use of its one DuckDB connection serialised.

bqemulator 1.4.0 shares one DuckDB connection between the REST thread (queries) and the gRPC thread pool
(AppendRows). DuckDB waits for a connection that another thread is using without releasing the GIL, while
the other thread needs the GIL to finish: a query arriving during an append deadlocks the whole emulator
(seen with two daemons writing one dataset). Here a Python lock, which releases the GIL while it waits, is
taken first around every call on the connection, around query+fetch, and around a whole append.

AppendRows (bidirectional) and ReadRows are sync generator handlers: grpc.aio runs each one, for the whole life of
its stream, on the server's migration_thread_pool, or, when that is None (bqemulator passes none), on the event
loop's default executor, min(32, cpu + 4) threads: 6 on a 2-core machine. A 7th open stream then waits, with no
error and nothing logged, until a client closes one of the six; a daemon frozen with SIGSTOP holds its streams
until it wakes or dies, and every other writer's appends time out meanwhile. The server gets a pool of its own,
large enough for every stream a test run holds open at once (threads are started only as needed).
"""
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import grpc.aio

from bqemulator.grpc_api import write_servicer
from bqemulator.storage import engine

_LOCK = threading.RLock()


class _LockedConnection:
    """Every attribute read and call of the connection under _LOCK; calls returning the connection return this."""

    __slots__ = ("_conn",)

    def __init__(self, conn):
        object.__setattr__(self, "_conn", conn)

    def __getattr__(self, name):
        with _LOCK:
            attr = getattr(self._conn, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            with _LOCK:
                result = attr(*args, **kwargs)
            return self if result is self._conn else result

        return call


def _locked(fn):
    def wrapper(*args, **kwargs):
        with _LOCK:
            return fn(*args, **kwargs)

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


_connection = engine.DuckDBEngine.connection.fget
engine.DuckDBEngine.connection = property(lambda self: _LockedConnection(_connection(self)))
engine.DuckDBEngine.execute = _locked(engine.DuckDBEngine.execute)
engine.DuckDBEngine.fetch_arrow = _locked(engine.DuckDBEngine.fetch_arrow)
write_servicer.BigQueryWriteHandler._flush_to_target = _locked(write_servicer.BigQueryWriteHandler._flush_to_target)

_STREAM_THREADS = 512
_aio_server = grpc.aio.server


def _server(*args, **kwargs):
    if kwargs.get("migration_thread_pool") is None:
        kwargs["migration_thread_pool"] = ThreadPoolExecutor(max_workers=_STREAM_THREADS, thread_name_prefix="bqemulator-stream")
    return _aio_server(*args, **kwargs)


# bqemulator's server factory looks grpc.aio.server up when it builds the server.
grpc.aio.server = _server

if __name__ == "__main__":
    from bqemulator.cli import main

    sys.argv[0] = "bqemulator"
    sys.exit(main())
