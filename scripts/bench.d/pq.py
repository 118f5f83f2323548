"""A minimal libpq client over ctypes: connect, run SQL, read text results.

The benchmark needs persistent connections (latency polling, timing single
statements) and nothing else, so this is a thin layer over libpq's simple
query protocol rather than a dependency. libpq calls release the GIL, so
connections can be used from separate threads (one connection per thread).
"""

import ctypes
import ctypes.util

_CONNECTION_OK = 0
_PGRES_COMMAND_OK = 1
_PGRES_TUPLES_OK = 2


def _load_libpq():
    name = ctypes.util.find_library("pq") or "libpq.so.5"
    try:
        lib = ctypes.CDLL(name)
    except OSError as error:
        raise RuntimeError(f"cannot load libpq ({name}): {error}; install libpq5") from None
    p = ctypes.c_void_p
    signatures = {
        "PQconnectdb": ([ctypes.c_char_p], p),
        "PQstatus": ([p], ctypes.c_int),
        "PQerrorMessage": ([p], ctypes.c_char_p),
        "PQfinish": ([p], None),
        "PQexec": ([p, ctypes.c_char_p], p),
        "PQresultStatus": ([p], ctypes.c_int),
        "PQresultErrorMessage": ([p], ctypes.c_char_p),
        "PQntuples": ([p], ctypes.c_int),
        "PQnfields": ([p], ctypes.c_int),
        "PQgetvalue": ([p, ctypes.c_int, ctypes.c_int], ctypes.c_char_p),
        "PQgetisnull": ([p, ctypes.c_int, ctypes.c_int], ctypes.c_int),
        "PQclear": ([p], None),
    }
    for fn, (args, res) in signatures.items():
        f = getattr(lib, fn)
        f.argtypes = args
        f.restype = res
    return lib


_lib = None


def _libpq():
    global _lib
    if _lib is None:
        _lib = _load_libpq()
    return _lib


class SQLError(RuntimeError):
    """A statement failed: carries the statement (shortened) and the server's message."""


class Connection:
    """One libpq connection. Not thread-safe: use one per thread."""

    def __init__(self, conninfo):
        lib = _libpq()
        self._conn = lib.PQconnectdb(conninfo.encode())
        if not self._conn or lib.PQstatus(self._conn) != _CONNECTION_OK:
            message = lib.PQerrorMessage(self._conn).decode(errors="replace").strip() if self._conn else "out of memory"
            if self._conn:
                lib.PQfinish(self._conn)
            self._conn = None
            raise SQLError(f"cannot connect to '{conninfo}': {message}")
        self.conninfo = conninfo
        self.query("SET client_min_messages = warning")  # libpq would print NOTICEs on stderr

    def query(self, sql):
        """Runs `sql` (one or more statements); returns the last result's rows as tuples of str/None."""
        lib = _libpq()
        if self._conn is None:
            raise SQLError("connection is closed")
        res = lib.PQexec(self._conn, sql.encode())
        if not res:
            raise SQLError(f"{_short(sql)}: {lib.PQerrorMessage(self._conn).decode(errors='replace').strip()}")
        try:
            status = lib.PQresultStatus(res)
            if status not in (_PGRES_COMMAND_OK, _PGRES_TUPLES_OK):
                message = lib.PQresultErrorMessage(res).decode(errors="replace").strip()
                raise SQLError(f"{_short(sql)}: {message}")
            rows = []
            nfields = lib.PQnfields(res)
            for r in range(lib.PQntuples(res)):
                rows.append(tuple(
                    None if lib.PQgetisnull(res, r, c) else lib.PQgetvalue(res, r, c).decode()
                    for c in range(nfields)))
            return rows
        finally:
            lib.PQclear(res)

    def value(self, sql):
        """Runs `sql` and returns the first column of the first row (None if no row)."""
        rows = self.query(sql)
        return rows[0][0] if rows else None

    def close(self):
        if self._conn is not None:
            _libpq().PQfinish(self._conn)
            self._conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _short(sql):
    one_line = " ".join(sql.split())
    return one_line if len(one_line) <= 120 else one_line[:117] + "..."


def run(conninfo, sql):
    """Connects, runs `sql`, returns its rows, disconnects."""
    with Connection(conninfo) as c:
        return c.query(sql)


def value(conninfo, sql):
    with Connection(conninfo) as c:
        return c.value(sql)
