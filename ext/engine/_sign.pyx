# cython: language_level=3
"""Compiled HMAC-SHA256 request signing (Binance HMAC keys).

``Signer`` keeps only the two SHA-256 states derived from the key (inner and outer pad), never the secret
itself, so nothing in the object can print it. Signing a 125-byte query costs three SHA-256 block
operations (SHA extensions when the CPU has them) plus hex encoding, with no allocation but the result.
``signed_query`` builds the exact percent-encoded query string that is sent (Binance signs the encoded
bytes since 2026-01-15) and appends ``&signature=<hex>``.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.unicode cimport PyUnicode_DecodeASCII
from libc.limits cimport LLONG_MAX
from libc.stdint cimport uint8_t
from libc.stdio cimport snprintf
from libc.string cimport memcpy, memset

from decimal import Decimal

cdef extern from "sha256.h":
    ctypedef struct engine_hmac_key:
        pass
    void engine_sha256(const uint8_t* msg, size_t len, uint8_t* out) nogil
    void engine_hmac_init(engine_hmac_key* k, const uint8_t* key, size_t len) nogil
    void engine_hmac_hex(const engine_hmac_key* k, const uint8_t* msg, size_t len, char* out) nogil
    int engine_sha256_accelerated() nogil
    void engine_sha256_force_portable(int on) nogil

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object s, Py_ssize_t* size) except NULL
    const Py_ssize_t PY_SSIZE_T_MAX

cdef extern from *:
    """
    #ifndef ENGINE_BUILD_MODE
    #define ENGINE_BUILD_MODE "unknown"
    #endif
    /* RFC 3986 unreserved characters are sent as they are; everything else is %XX (upper-case hex) */
    static const unsigned char ENGINE_UNRESERVED[256] = {
        ['A']=1,['B']=1,['C']=1,['D']=1,['E']=1,['F']=1,['G']=1,['H']=1,['I']=1,['J']=1,['K']=1,['L']=1,
        ['M']=1,['N']=1,['O']=1,['P']=1,['Q']=1,['R']=1,['S']=1,['T']=1,['U']=1,['V']=1,['W']=1,['X']=1,
        ['Y']=1,['Z']=1,['a']=1,['b']=1,['c']=1,['d']=1,['e']=1,['f']=1,['g']=1,['h']=1,['i']=1,['j']=1,
        ['k']=1,['l']=1,['m']=1,['n']=1,['o']=1,['p']=1,['q']=1,['r']=1,['s']=1,['t']=1,['u']=1,['v']=1,
        ['w']=1,['x']=1,['y']=1,['z']=1,['0']=1,['1']=1,['2']=1,['3']=1,['4']=1,['5']=1,['6']=1,['7']=1,
        ['8']=1,['9']=1,['-']=1,['.']=1,['_']=1,['~']=1};
    """
    const char* ENGINE_BUILD_MODE
    const unsigned char* UNRESERVED "ENGINE_UNRESERVED"

BUILD_MODE = ENGINE_BUILD_MODE.decode()
cdef const char* HEXU = b"0123456789ABCDEF"


def accelerated():
    """True when SHA-256 runs on the CPU's SHA extensions."""
    return bool(engine_sha256_accelerated())


def force_portable(bint on):
    """Switch every signer to the portable SHA-256 code (True) or back to auto-detection (False)."""
    engine_sha256_force_portable(1 if on else 0)


cdef object _as_bytes(object data, const char** p, Py_ssize_t* n):
    """Point ``p``/``n`` at ``data``'s bytes: bytes, str (UTF-8) or any buffer (bytearray, memoryview);
    returns the object that owns them. Anything else is a TypeError: ``bytes(5)`` would be five zero
    bytes, and ``bytes(10**12)`` a terabyte of them."""
    if isinstance(data, bytes):
        p[0] = PyBytes_AS_STRING(data)
        n[0] = PyBytes_GET_SIZE(data)
        return data
    if isinstance(data, str):
        p[0] = PyUnicode_AsUTF8AndSize(data, n)
        return data
    if data is None:
        raise TypeError("expected bytes, str or a bytes-like object, not None")
    data = bytes(memoryview(data))  # TypeError for an object without the buffer protocol
    p[0] = PyBytes_AS_STRING(data)
    n[0] = PyBytes_GET_SIZE(data)
    return data


def sha256_hex(data):
    """Plain SHA-256 (hex) of bytes, str (UTF-8) or a bytes-like object, for tests and tooling."""
    cdef const char* p
    cdef Py_ssize_t n
    cdef uint8_t out[32]
    owner = _as_bytes(data, &p, &n)
    engine_sha256(<const uint8_t*>p, <size_t>n, out)
    return bytes(out[:32]).hex()


cdef struct Buf:
    char* p
    Py_ssize_t n
    Py_ssize_t cap
    char* heap


cdef inline int buf_reserve(Buf* b, Py_ssize_t extra) except -1:
    cdef Py_ssize_t need = b.n + extra
    cdef Py_ssize_t cap
    cdef char* q
    if need <= b.cap:
        return 0
    if need > PY_SSIZE_T_MAX // 2:  # the doubling below would overflow
        raise MemoryError()
    cap = b.cap * 2
    while cap < need:
        cap *= 2
    if b.heap == NULL:
        q = <char*>PyMem_Malloc(cap)
        if q == NULL:
            raise MemoryError()
        memcpy(q, b.p, b.n)
    else:
        q = <char*>PyMem_Realloc(b.heap, cap)
        if q == NULL:
            raise MemoryError()
    b.heap = q
    b.p = q
    b.cap = cap
    return 0


cdef inline int put_raw(Buf* b, const char* s, Py_ssize_t n) except -1:
    buf_reserve(b, n)
    memcpy(b.p + b.n, s, n)
    b.n += n
    return 0


cdef inline int put_encoded(Buf* b, const char* s, Py_ssize_t n) except -1:
    cdef Py_ssize_t j
    cdef unsigned char c
    buf_reserve(b, 3 * n)
    for j in range(n):
        c = <unsigned char>s[j]
        if UNRESERVED[c]:
            b.p[b.n] = <char>c
            b.n += 1
        else:
            b.p[b.n] = b'%'
            b.p[b.n + 1] = HEXU[c >> 4]
            b.p[b.n + 2] = HEXU[c & 15]
            b.n += 3
    return 0


cdef int put_value(Buf* b, object key, object v) except -1:
    cdef const char* s
    cdef Py_ssize_t n
    cdef char num[32]
    cdef int m
    if isinstance(v, str):
        s = PyUnicode_AsUTF8AndSize(v, &n)
        return put_encoded(b, s, n)
    if v is True:
        return put_raw(b, b"true", 4)
    if v is False:
        return put_raw(b, b"false", 5)
    if isinstance(v, int):
        if -9223372036854775807 <= v <= 9223372036854775807:
            m = snprintf(num, sizeof(num), "%lld", <long long>v)
            return put_raw(b, num, m)
        t = str(v)
        s = PyUnicode_AsUTF8AndSize(t, &n)
        return put_raw(b, s, n)
    if isinstance(v, Decimal):
        if not v.is_finite():
            raise ValueError(f"parameter {key!r} is not a finite number")
        t = format(v, "f")
        s = PyUnicode_AsUTF8AndSize(t, &n)
        return put_encoded(b, s, n)
    if isinstance(v, float):
        raise TypeError(f"parameter {key!r} is a float; send prices and quantities as Decimal or str "
                        "(a float's repr is not an exact exchange value)")
    if isinstance(v, bytes):
        return put_encoded(b, PyBytes_AS_STRING(v), PyBytes_GET_SIZE(v))
    raise TypeError(f"parameter {key!r} has unsupported type {type(v).__name__}")


cdef int put_params(Buf* b, object params) except -1:
    cdef const char* s
    cdef Py_ssize_t n
    items = params.items() if isinstance(params, dict) else params
    for k, v in items:
        if b.n:
            put_raw(b, b"&", 1)
        if not isinstance(k, str):
            raise TypeError(f"parameter names must be str, not {type(k).__name__}")
        s = PyUnicode_AsUTF8AndSize(k, &n)
        put_encoded(b, s, n)
        put_raw(b, b"=", 1)
        put_value(b, k, v)
    return 0


def encode_query(params):
    """The percent-encoded query string for ``params`` (a dict or (key, value) pairs, order kept)."""
    cdef char stack[512]
    cdef Buf b
    b.p = stack
    b.n = 0
    b.cap = sizeof(stack)
    b.heap = NULL
    try:
        if params:
            put_params(&b, params)
        return PyUnicode_DecodeASCII(b.p, b.n, NULL)
    finally:
        PyMem_Free(b.heap)


cdef inline int _check_key(Signer s) except -1:
    if not s._ready:
        raise RuntimeError("Signer was not initialised (made with __new__?): it has no key")
    return 0


cdef class Signer:
    """HMAC-SHA256 signer for one API secret.

    What a user may rely on: ``sign`` returns 64 lower-case hex characters; the secret is not kept (only
    the derived pad states), so it cannot appear in ``repr``, ``str``, pickles or exceptions; a Signer
    cannot be pickled or copied. One made with ``__new__`` (no key) raises RuntimeError instead of
    signing, and so does ``__init__`` called again (it would swap the key under every holder).
    """
    cdef engine_hmac_key _key
    cdef bint _ready

    def __init__(self, secret):
        cdef const char* p
        cdef Py_ssize_t n
        if self._ready:
            raise RuntimeError("Signer is already initialised: make a new one for another key")
        if isinstance(secret, str):
            p = PyUnicode_AsUTF8AndSize(secret, &n)
        elif isinstance(secret, (bytes, bytearray)):
            secret = bytes(secret)
            p = PyBytes_AS_STRING(secret)
            n = PyBytes_GET_SIZE(secret)
        else:
            raise TypeError("the API secret must be str or bytes")
        if n == 0:
            raise ValueError("the API secret is empty")
        engine_hmac_init(&self._key, <const uint8_t*>p, <size_t>n)
        self._ready = True

    def __repr__(self):
        return "Signer(secret=****)"

    __str__ = __repr__

    def __reduce__(self):
        raise TypeError("Signer cannot be pickled (it would carry key material)")

    def __dealloc__(self):
        memset(&self._key, 0, sizeof(self._key))

    def sign(self, payload):
        """HMAC-SHA256 of ``payload`` (bytes, str encoded as UTF-8, or a bytes-like object) as lower-case hex."""
        cdef const char* p
        cdef Py_ssize_t n
        cdef char out[64]
        _check_key(self)
        owner = _as_bytes(payload, &p, &n)
        engine_hmac_hex(&self._key, <const uint8_t*>p, <size_t>n, out)
        return PyUnicode_DecodeASCII(out, 64, NULL)

    def signed_query(self, params, *, timestamp, recv_window=None):
        """``params`` (+ ``recvWindow``) + ``timestamp``, percent-encoded, then ``&signature=<hex>``."""
        cdef char stack[1024]
        cdef char num[32]
        cdef int m
        cdef Buf b
        _check_key(self)
        b.p = stack
        b.n = 0
        b.cap = sizeof(stack) - 80  # room for "&signature=" + 64 hex kept aside
        b.heap = NULL
        try:
            if params:
                put_params(&b, params)
            if recv_window is not None:
                put_raw(&b, b"&recvWindow=" if b.n else b"recvWindow=", 12 if b.n else 11)
                put_value(&b, "recvWindow", recv_window)
            put_raw(&b, b"&timestamp=" if b.n else b"timestamp=", 11 if b.n else 10)
            if isinstance(timestamp, bool) or not isinstance(timestamp, int):
                raise TypeError("timestamp must be an int (milliseconds)")
            if timestamp < 0:
                raise ValueError("timestamp must be >= 0 (milliseconds since the epoch)")
            if timestamp > LLONG_MAX:
                raise OverflowError("timestamp does not fit in 64 bits")
            m = snprintf(num, sizeof(num), "%lld", <long long>timestamp)
            put_raw(&b, num, m)
            buf_reserve(&b, 75)
            memcpy(b.p + b.n, b"&signature=", 11)
            engine_hmac_hex(&self._key, <const uint8_t*>b.p, <size_t>b.n, b.p + b.n + 11)
            return PyUnicode_DecodeASCII(b.p, b.n + 75, NULL)
        finally:
            PyMem_Free(b.heap)
