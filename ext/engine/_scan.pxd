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
    ERR_INT_OVERFLOW = 21     # an integer (update id, time) above 2^63-1
    ERR_BAD_STRING = 22       # a bad escape, a raw control character or invalid UTF-8 inside a string
    ERR_TOO_LARGE = 23        # the frame is larger than the decoder's byte limit (refused unparsed)
    ERR_ESCAPED = 24          # an escape where a plain string is required (a symbol)

cdef enum:
    MAX_SKIP_DEPTH = 64       # nesting a skipped value may have (one bit per level in skip_value)

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

cdef extern from *:
    """
    #if defined(_MSC_VER)
    #define ENGINE_NOINLINE __declspec(noinline)
    #else
    #define ENGINE_NOINLINE __attribute__((noinline))
    #endif
    /* The rest of a JSON string from p[i], where i is at a backslash or a byte >= 0x80, to its closing
     * quote: returns the quote's offset, or -1 (malformed at *pos) or -2 (the buffer ends first).
     * An escape is a backslash (0x5C) and one of  " (backslash) / b f n r t  or u and four hex digits (a
     * lone surrogate escape is grammatical); raw bytes below 0x20 are refused; bytes >= 0x80 must be
     * well-formed UTF-8 (Unicode table 3-7: no overlong forms, no encoded surrogates, nothing above
     * U+10FFFF). Kept out of line so that string_span, which every key goes through, stays small enough
     * to inline. */
    static ENGINE_NOINLINE Py_ssize_t engine_string_tail(const char* p, Py_ssize_t i, Py_ssize_t n,
                                                         Py_ssize_t* pos) {
        while (i < n) {
            unsigned char c = (unsigned char)p[i];
            if (c == '"') return i;
            if (c == 0x5C) {  /* backslash */
                if (i + 1 >= n) return -2;
                c = (unsigned char)p[i + 1];
                if (c == 'u') {
                    int k;
                    if (i + 5 >= n) return -2;
                    for (k = 2; k < 6; k++) {
                        unsigned char h = (unsigned char)p[i + k];
                        if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F'))) {
                            *pos = i; return -1;
                        }
                    }
                    i += 6;
                } else if (c == '"' || c == 0x5C || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r'
                           || c == 't') {
                    i += 2;
                } else {
                    *pos = i; return -1;
                }
            } else if (c < 0x20) {
                *pos = i; return -1;
            } else if (c < 0x80) {
                i += 1;
            } else {
                unsigned char lo = 0x80, hi = 0xBF;
                int more, k;
                if (c >= 0xC2 && c <= 0xDF) more = 1;
                else if (c >= 0xE0 && c <= 0xEF) { more = 2; if (c == 0xE0) lo = 0xA0; else if (c == 0xED) hi = 0x9F; }
                else if (c >= 0xF0 && c <= 0xF4) { more = 3; if (c == 0xF0) lo = 0x90; else if (c == 0xF4) hi = 0x8F; }
                else { *pos = i; return -1; }
                for (k = 1; k <= more; k++) {
                    unsigned char d;
                    if (i + k >= n) return -2;
                    d = (unsigned char)p[i + k];
                    if (d < lo || d > hi) { *pos = i; return -1; }
                    lo = 0x80; hi = 0xBF;
                }
                i += more + 1;
            }
        }
        return -2;
    }
    """
    Py_ssize_t string_tail "engine_string_tail"(const char* p, Py_ssize_t i, Py_ssize_t n,
                                                Py_ssize_t* pos) noexcept nogil

cdef inline Py_ssize_t string_span(const char* p, Py_ssize_t i, Py_ssize_t n, Py_ssize_t* start,
                                   Py_ssize_t* length, ScanError* e) noexcept nogil:
    """A JSON string at p[i] (after whitespace); start/length of its raw content (escapes kept, not decoded).

    Strict RFC 8259 (escapes, control characters, UTF-8: see engine_string_tail above). The loop here is
    the plain-ASCII case the hot path runs (keys, event types, symbols); the first backslash or non-ASCII
    byte hands the rest of the string to the out-of-line checker.
    """
    cdef unsigned char c
    cdef Py_ssize_t bad = 0
    i = skip_ws(p, i, n)
    if i >= n:
        return fail(e, ERR_TRUNCATED, i)
    if p[i] != b'"':
        return fail(e, ERR_EXPECTED_STRING, i)
    i += 1
    start[0] = i
    while i < n:
        c = <unsigned char>p[i]
        if c == b'"':
            length[0] = i - start[0]
            return i + 1
        # one test for a backslash, a control character (< 0x20) or a non-ASCII byte (>= 0x80)
        if c == b'\\' or <unsigned char>(c - 0x20) >= 0x60:
            i = string_tail(p, i, n, &bad)
            if i == -1:
                return fail(e, ERR_BAD_STRING, bad)
            if i == -2:
                break
            length[0] = i - start[0]
            return i + 1
        i += 1
    return fail(e, ERR_TRUNCATED, n)

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
            return fail(e, ERR_INT_OVERFLOW, s)
        v = v * 10 + d
        i += 1
    if i == s:
        return fail(e, ERR_EXPECTED_INT, s)
    if i - s > 1 and p[s] == b'0':
        return fail(e, ERR_BAD_NUMBER, s)
    if i < n and (p[i] == b'.' or p[i] == b'e' or p[i] == b'E'):
        return fail(e, ERR_EXPECTED_INT, s)
    if v > <uint64_t>I64MAX:
        return fail(e, ERR_INT_OVERFLOW, s)
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

cdef inline bint is_digit(char c) noexcept nogil:
    return c >= b'0' and c <= b'9'

cdef inline Py_ssize_t skip_digits(const char* p, Py_ssize_t i, Py_ssize_t n, Py_ssize_t s,
                                   ScanError* e) noexcept nogil:
    """One or more digits at p[i] (a fraction's or an exponent's); the offset after them. ``s`` is where
    the number started, for the error."""
    if i >= n:
        return fail(e, ERR_TRUNCATED, i)
    if not is_digit(p[i]):
        return fail(e, ERR_BAD_VALUE, s)
    while i < n and is_digit(p[i]):
        i += 1
    return i

cdef inline Py_ssize_t skip_number(const char* p, Py_ssize_t i, Py_ssize_t n, ScanError* e) noexcept nogil:
    """An RFC 8259 number at p[i]: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?; the offset after it.

    What follows is the caller's to check (``01`` ends after the ``0`` and the ``1`` is then out of place).
    """
    cdef Py_ssize_t s = i
    if p[i] == b'-':
        i += 1
    if i >= n:
        return fail(e, ERR_TRUNCATED, i)
    if p[i] == b'0':
        i += 1
    elif p[i] >= b'1' and p[i] <= b'9':
        i += 1
        while i < n and is_digit(p[i]):
            i += 1
    else:
        return fail(e, ERR_BAD_VALUE, s)
    if i < n and p[i] == b'.':
        i = skip_digits(p, i + 1, n, s, e)
        if i < 0:
            return -1
    if i < n and (p[i] == b'e' or p[i] == b'E'):
        i += 1
        if i < n and (p[i] == b'+' or p[i] == b'-'):
            i += 1
        i = skip_digits(p, i, n, s, e)
    return i

cdef inline Py_ssize_t skip_literal(const char* p, Py_ssize_t i, Py_ssize_t n, const char* lit, Py_ssize_t m,
                                    ScanError* e) noexcept nogil:
    """Exactly the literal ``lit`` (true, false, null) at p[i]."""
    cdef Py_ssize_t k
    for k in range(m):
        if i + k >= n:
            return fail(e, ERR_TRUNCATED, n)
        if p[i + k] != lit[k]:
            return fail(e, ERR_BAD_VALUE, i)
    return i + m

cdef inline Py_ssize_t skip_key(const char* p, Py_ssize_t i, Py_ssize_t n, ScanError* e) noexcept nogil:
    """An object member's key and its ':' at p[i]; the offset after the colon."""
    cdef Py_ssize_t a
    cdef Py_ssize_t b
    i = string_span(p, i, n, &a, &b, e)
    if i < 0:
        return -1
    return expect(p, i, n, b':', ERR_EXPECTED_COLON, e)

cdef inline Py_ssize_t skip_value(const char* p, Py_ssize_t i, Py_ssize_t n, ScanError* e) noexcept nogil:
    """Skip one JSON value without building anything, refusing anything RFC 8259 does not allow.

    Strings as in string_span, numbers as in skip_number, the literals exactly; objects are string keys,
    ':' and values separated by ',', arrays values separated by ',' (no trailing comma, no missing one).
    Iterative, nesting at most MAX_SKIP_DEPTH: bit d of ``objs`` says whether the container at depth d+1
    is an object (expects a key after each ',') or an array.
    """
    cdef int depth = 0
    cdef uint64_t objs = 0
    cdef bint in_obj
    cdef char c
    cdef Py_ssize_t a
    cdef Py_ssize_t b
    # the values frames carry and the decoders skip are mostly one string or number: no loop for those
    i = skip_ws(p, i, n)
    if i < n:
        if p[i] == b'"':
            return string_span(p, i, n, &a, &b, e)
        if is_digit(p[i]) or p[i] == b'-':
            return skip_number(p, i, n, e)
    while True:
        # a value starts here
        i = skip_ws(p, i, n)
        if i >= n:
            return fail(e, ERR_TRUNCATED, i)
        c = p[i]
        if c == b'"':
            i = string_span(p, i, n, &a, &b, e)
        elif c == b'{' or c == b'[':
            if depth >= MAX_SKIP_DEPTH:
                return fail(e, ERR_TOO_DEEP, i)
            i = skip_ws(p, i + 1, n)
            if i >= n:
                return fail(e, ERR_TRUNCATED, i)
            if c == b'{':
                if p[i] == b'}':
                    i += 1  # {} is a whole value
                else:
                    objs |= (<uint64_t>1) << depth
                    depth += 1
                    i = skip_key(p, i, n, e)
                    if i < 0:
                        return -1
                    continue
            elif p[i] == b']':
                i += 1  # [] is a whole value
            else:
                objs &= ~((<uint64_t>1) << depth)
                depth += 1
                continue
        elif c == b'-' or is_digit(c):
            i = skip_number(p, i, n, e)
        elif c == b't':
            i = skip_literal(p, i, n, b"true", 4, e)
        elif c == b'f':
            i = skip_literal(p, i, n, b"false", 5, e)
        elif c == b'n':
            i = skip_literal(p, i, n, b"null", 4, e)
        else:
            return fail(e, ERR_BAD_VALUE, i)
        if i < 0:
            return -1
        # a value ended: close finished containers, or step to the next element of the open one
        while depth > 0:
            i = skip_ws(p, i, n)
            if i >= n:
                return fail(e, ERR_TRUNCATED, i)
            in_obj = (objs >> (depth - 1)) & 1
            c = p[i]
            if c == b',':
                i += 1
                if in_obj:
                    i = skip_key(p, i, n, e)
                    if i < 0:
                        return -1
                break
            if (in_obj and c == b'}') or (not in_obj and c == b']'):
                i += 1
                depth -= 1
            else:
                return fail(e, ERR_EXPECTED_COMMA, i)
        else:
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
