# cython: language_level=3
# Byte-level JSON scanning and exact fixed-point parsing shared by the compiled decoders.
#
# Every function takes (p, i, n): the buffer, the current offset and the buffer length, and checks
# ``i < n`` itself before every read (bounds checks are off in release builds, so these checks are the
# only thing between a malformed frame and a read past the end). Errors never raise here: a function
# returns -1 and stores an error code and offset in a ScanError, and the caller raises one FrameError
# with a readable message. Nothing here allocates.

from libc.stdint cimport int64_t, uint64_t

cdef enum ScanErr:
    ERR_NONE = 0
    ERR_TRUNCATED = 1
    ERR_EXPECTED_OBJECT = 2
    ERR_EXPECTED_ARRAY = 3
    ERR_EXPECTED_STRING = 4
    ERR_EXPECTED_INT = 5
    ERR_EXPECTED_COLON = 6
    ERR_EXPECTED_COMMA = 7
    ERR_BAD_NUMBER = 8
    ERR_NEGATIVE = 9
    ERR_OVERFLOW = 10
    ERR_TOO_PRECISE = 11
    ERR_BAD_LEVEL = 12
    ERR_MISSING_FIELD = 13
    ERR_WRONG_EVENT = 14
    ERR_WRONG_SYMBOL = 15
    ERR_TOO_DEEP = 16
    ERR_BAD_VALUE = 17
    ERR_TRAILING = 18
    ERR_TOO_MANY_LEVELS = 19
    ERR_EXPECTED_BOOL = 20

cdef struct ScanError:
    int code
    Py_ssize_t pos
    const char* field      # which field was being read (static string), or NULL

cdef extern from *:
    """
    #include <stdint.h>
    static const int64_t ENGINE_POW10[19] = {1LL, 10LL, 100LL, 1000LL, 10000LL, 100000LL, 1000000LL,
        10000000LL, 100000000LL, 1000000000LL, 10000000000LL, 100000000000LL, 1000000000000LL,
        10000000000000LL, 100000000000000LL, 1000000000000000LL, 10000000000000000LL,
        100000000000000000LL, 1000000000000000000LL};
    /* INT64_MAX / 10**d: the largest integer part that can still fit once scaled */
    static const uint64_t ENGINE_IPMAX[19] = {9223372036854775807ULL, 922337203685477580ULL,
        92233720368547758ULL, 9223372036854775ULL, 922337203685477ULL, 92233720368547ULL, 9223372036854ULL,
        922337203685ULL, 92233720368ULL, 9223372036ULL, 922337203ULL, 92233720ULL, 9223372ULL, 922337ULL,
        92233ULL, 9223ULL, 922ULL, 92ULL, 9ULL};
    """
    const int64_t POW10 "ENGINE_POW10"[19]
    const uint64_t I64MAX "((uint64_t)INT64_MAX)"
    const uint64_t IPMAX "ENGINE_IPMAX"[19]

cdef inline Py_ssize_t fail(ScanError* e, int code, Py_ssize_t pos) noexcept nogil:
    if e.code == ERR_NONE:
        e.code = code
        e.pos = pos
    return -1

cdef inline Py_ssize_t skip_ws(const char* p, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    cdef char c
    while i < n:
        c = p[i]
        if c != b' ' and c != b'\n' and c != b'\r' and c != b'\t':
            break
        i += 1
    return i

cdef inline Py_ssize_t expect(const char* p, Py_ssize_t i, Py_ssize_t n, char ch, int err,
                              ScanError* e) noexcept nogil:
    i = skip_ws(p, i, n)
    if i >= n:
        return fail(e, ERR_TRUNCATED, i)
    if p[i] != ch:
        return fail(e, err, i)
    return i + 1

cdef inline Py_ssize_t string_span(const char* p, Py_ssize_t i, Py_ssize_t n, Py_ssize_t* start,
                                   Py_ssize_t* length, ScanError* e) noexcept nogil:
    """A JSON string at p[i] (after whitespace); start/length of its raw content (escapes kept)."""
    i = skip_ws(p, i, n)
    if i >= n:
        return fail(e, ERR_TRUNCATED, i)
    if p[i] != b'"':
        return fail(e, ERR_EXPECTED_STRING, i)
    i += 1
    start[0] = i
    while i < n:
        if p[i] == b'"':
            length[0] = i - start[0]
            return i + 1
        if p[i] == b'\\':
            i += 1
        elif <unsigned char>p[i] < 0x20:
            return fail(e, ERR_EXPECTED_STRING, i)
        i += 1
    return fail(e, ERR_TRUNCATED, i)

cdef inline Py_ssize_t parse_uint(const char* p, Py_ssize_t i, Py_ssize_t n, int64_t* out,
                                  ScanError* e) noexcept nogil:
    """A non-negative JSON integer (no sign, fraction or exponent) that fits int64."""
    cdef uint64_t v = 0
    cdef Py_ssize_t s
    cdef unsigned char d
    i = skip_ws(p, i, n)
    if i >= n:
        return fail(e, ERR_TRUNCATED, i)
    if p[i] == b'-':
        return fail(e, ERR_NEGATIVE, i)
    s = i
    while i < n:
        d = <unsigned char>p[i] - 48
        if d > 9:
            break
        if i - s >= 19:
            return fail(e, ERR_OVERFLOW, s)
        v = v * 10 + d
        i += 1
    if i == s:
        return fail(e, ERR_EXPECTED_INT, s)
    if i - s > 1 and p[s] == b'0':
        return fail(e, ERR_BAD_NUMBER, s)
    if i < n and (p[i] == b'.' or p[i] == b'e' or p[i] == b'E'):
        return fail(e, ERR_EXPECTED_INT, s)
    if v > <uint64_t>I64MAX:
        return fail(e, ERR_OVERFLOW, s)
    out[0] = <int64_t>v
    return i

cdef extern from *:
    """
    #include <string.h>
    static inline uint64_t engine_load8(const char* p) { uint64_t v; memcpy(&v, p, 8); return v; }
    /* all eight bytes are ASCII digits (little-endian lanes) */
    static inline int engine_is8digits(uint64_t v) {
        return ((v & 0xF0F0F0F0F0F0F0F0ULL) == 0x3030303030303030ULL) &&
               (((v + 0x0606060606060606ULL) & 0xF0F0F0F0F0F0F0F0ULL) == 0x3030303030303030ULL);
    }
    /* eight ASCII digits, first digit in the lowest byte -> their value */
    static inline uint64_t engine_swar8(uint64_t v) {
        v -= 0x3030303030303030ULL;
        v = (v * 10) + (v >> 8);
        v = (((v & 0x000000FF000000FFULL) * 0x000F424000000064ULL) +
             (((v >> 16) & 0x000000FF000000FFULL) * 0x0000271000000001ULL)) >> 32;
        return v;
    }
    #if !(defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)
    #define ENGINE_SWAR_OK 0
    #else
    #define ENGINE_SWAR_OK 1
    #endif
    """
    uint64_t load8 "engine_load8"(const char* p) noexcept nogil
    bint is8digits_raw "engine_is8digits"(uint64_t v) noexcept nogil
    uint64_t swar8 "engine_swar8"(uint64_t v) noexcept nogil
    bint SWAR_OK "ENGINE_SWAR_OK"

cdef inline bint is8digits(uint64_t v) noexcept nogil:
    return SWAR_OK and is8digits_raw(v)

cdef inline Py_ssize_t parse_decimal(const char* p, Py_ssize_t i, Py_ssize_t n, int decimals,
                                     int64_t* out, ScanError* e) noexcept nogil:
    """A quoted decimal string ("60000.01000000", "1", "0.5") -> value * 10**decimals, exactly.

    Rejects signs, exponents, NaN/Infinity, empty strings, leading '.', more than 19 digits of
    integer part, non-zero digits beyond ``decimals`` (precision would be lost; trailing zeros are
    fine), and values that do not fit int64 once scaled.
    """
    cdef uint64_t ip = 0
    cdef uint64_t fp = 0
    cdef int nfrac = 0
    cdef Py_ssize_t s
    cdef Py_ssize_t q
    cdef unsigned char d
    cdef uint64_t w
    i = skip_ws(p, i, n)
    if i >= n:
        return fail(e, ERR_TRUNCATED, i)
    if p[i] != b'"':
        return fail(e, ERR_EXPECTED_STRING, i)
    i += 1
    q = i - 1
    if i < n and p[i] == b'-':
        return fail(e, ERR_NEGATIVE, i)
    s = i
    while i < n:
        d = <unsigned char>p[i] - 48
        if d > 9:
            break
        if i - s >= 19:
            return fail(e, ERR_OVERFLOW, q)
        ip = ip * 10 + d
        i += 1
    if i == s:
        return fail(e, ERR_BAD_NUMBER, q)
    if i < n and p[i] == b'.':
        i += 1
        s = i
        # eight fraction digits at once (Binance always sends 8): SWAR digit check and conversion
        if decimals >= 8 and i + 8 < n:
            w = load8(p + i)
            if is8digits(w):
                fp = swar8(w)
                nfrac = 8
                i += 8
        while i < n:
            d = <unsigned char>p[i] - 48
            if d > 9:
                break
            if nfrac < decimals:
                fp = fp * 10 + d
                nfrac += 1
            elif d != 0:
                return fail(e, ERR_TOO_PRECISE, q)
            elif i - s > 64:
                return fail(e, ERR_BAD_NUMBER, q)
            i += 1
        if i == s:
            return fail(e, ERR_BAD_NUMBER, q)
    if i >= n:
        return fail(e, ERR_TRUNCATED, i)
    if p[i] != b'"':
        return fail(e, ERR_BAD_NUMBER, q)
    # scaled = ip * 10**decimals + fp * 10**(decimals - nfrac), checked against int64 (a table lookup:
    # the division is only needed on the one boundary integer part)
    if ip >= IPMAX[decimals]:
        if ip > IPMAX[decimals] or \
                ip > <uint64_t>((I64MAX - fp * <uint64_t>POW10[decimals - nfrac]) / <uint64_t>POW10[decimals]):
            return fail(e, ERR_OVERFLOW, q)
    out[0] = <int64_t>(ip * <uint64_t>POW10[decimals] + fp * <uint64_t>POW10[decimals - nfrac])
    return i + 1

cdef inline Py_ssize_t skip_value(const char* p, Py_ssize_t i, Py_ssize_t n, ScanError* e) noexcept nogil:
    """Skip any JSON value (nesting depth <= 64), without building anything."""
    cdef int depth = 0
    cdef char c
    cdef Py_ssize_t a
    cdef Py_ssize_t b
    i = skip_ws(p, i, n)
    if i >= n:
        return fail(e, ERR_TRUNCATED, i)
    while True:
        if i >= n:
            return fail(e, ERR_TRUNCATED, i)
        c = p[i]
        if c == b'"':
            i = string_span(p, i, n, &a, &b, e)
            if i < 0:
                return -1
        elif c == b'{' or c == b'[':
            depth += 1
            if depth > 64:
                return fail(e, ERR_TOO_DEEP, i)
            i += 1
        elif c == b'}' or c == b']':
            depth -= 1
            if depth < 0:
                return fail(e, ERR_BAD_VALUE, i)
            i += 1
        elif c == b',' or c == b':' or c == b' ' or c == b'\n' or c == b'\r' or c == b'\t':
            if depth == 0:
                return fail(e, ERR_BAD_VALUE, i)
            i += 1
        elif (c >= b'0' and c <= b'9') or c == b'-' or c == b'+' or c == b'.' or c == b'e' or c == b'E' \
                or (c >= b'a' and c <= b'z'):
            # numbers and literals: consumed character by character (validity is not our concern
            # for a value we skip, but it must be made of number/literal characters)
            i += 1
            if depth == 0:
                while i < n and ((p[i] >= b'0' and p[i] <= b'9') or p[i] == b'.' or p[i] == b'e' or
                                 p[i] == b'E' or p[i] == b'-' or p[i] == b'+' or (p[i] >= b'a' and p[i] <= b'z')):
                    i += 1
                return i
            continue
        else:
            return fail(e, ERR_BAD_VALUE, i)
        if depth == 0:
            return i

cdef inline bint key_is(const char* p, Py_ssize_t start, Py_ssize_t length, const char* key,
                        Py_ssize_t key_len) noexcept nogil:
    cdef Py_ssize_t k
    if length != key_len:
        return False
    for k in range(key_len):
        if p[start + k] != key[k]:
            return False
    return True
