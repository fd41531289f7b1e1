"""Goldilocks field GF(p), p = 2^64 - 2^32 + 1, and its quintic extension GF(p^5) = GF(p)[z]/(z^5 - 3).

Pure Python, written for the simulator's signature check (schnorr.py); shares no code with the signer
library the connector uses. Elements of GF(p) are ints in [0, p); elements of GF(p^5) are 5-tuples of
them, the coefficients of 1, z, z^2, z^3, z^4 (the little-endian limb order of Lighter's 40-byte encoding,
docs/lighter.md "Signatures"). Slow but exact; nothing here is constant-time (the simulator checks public
data only).
"""
from __future__ import annotations

P = 2**64 - 2**32 + 1
W = 3  # z^5 = W
ZERO5 = (0, 0, 0, 0, 0)
ONE5 = (1, 0, 0, 0, 0)

# the Frobenius map x -> x^p sends z to z * W^((p-1)/5); FROB[k][i] is the factor on coefficient i for x^(p^k)
_ROOT = pow(W, (P - 1) // 5, P)
FROB = tuple(tuple(pow(_ROOT, i * k, P) for i in range(5)) for k in range(5))


def f5(v) -> tuple:
    """An int (embedded as a constant) or a sequence of 5 ints (reduced mod p) as a GF(p^5) element."""
    if isinstance(v, int):
        return (v % P, 0, 0, 0, 0)
    t = tuple(int(c) % P for c in v)
    if len(t) != 5:
        raise ValueError("a GF(p^5) element has 5 coefficients")
    return t


def add(a, b):
    return ((a[0] + b[0]) % P, (a[1] + b[1]) % P, (a[2] + b[2]) % P, (a[3] + b[3]) % P, (a[4] + b[4]) % P)


def sub(a, b):
    return ((a[0] - b[0]) % P, (a[1] - b[1]) % P, (a[2] - b[2]) % P, (a[3] - b[3]) % P, (a[4] - b[4]) % P)


def neg(a):
    return tuple((-c) % P for c in a)


def scale(a, k: int):
    """a times the GF(p) constant k."""
    return tuple(c * k % P for c in a)


def mul(a, b):
    a0, a1, a2, a3, a4 = a
    b0, b1, b2, b3, b4 = b
    # schoolbook product, folding z^5 = W (so z^(5+i) = W z^i)
    return (
        (a0 * b0 + W * (a1 * b4 + a2 * b3 + a3 * b2 + a4 * b1)) % P,
        (a0 * b1 + a1 * b0 + W * (a2 * b4 + a3 * b3 + a4 * b2)) % P,
        (a0 * b2 + a1 * b1 + a2 * b0 + W * (a3 * b4 + a4 * b3)) % P,
        (a0 * b3 + a1 * b2 + a2 * b1 + a3 * b0 + W * a4 * b4) % P,
        (a0 * b4 + a1 * b3 + a2 * b2 + a3 * b1 + a4 * b0) % P,
    )


def square(a):
    return mul(a, a)


def is_zero(a) -> bool:
    return not any(a)


def frobenius(a, k: int = 1):
    """a^(p^k)."""
    f = FROB[k % 5]
    return tuple(c * m % P for c, m in zip(a, f))


def power(a, e: int):
    r = ONE5
    base = a
    while e:
        if e & 1:
            r = mul(r, base)
        e >>= 1
        if e:
            base = mul(base, base)
    return r


def _norm_parts(a):
    """(t, N): t = a^(p + p^2 + p^3 + p^4) and N = a * t = the norm of a, which lies in GF(p)."""
    f1 = frobenius(a, 1)
    t = mul(mul(f1, frobenius(a, 2)), mul(frobenius(a, 3), frobenius(a, 4)))
    n = mul(a, t)
    assert not any(n[1:]), "the norm lies in GF(p)"
    return t, n[0]


def inv(a):
    """1/a (ValueError for 0): a^-1 = t / N(a)."""
    if is_zero(a):
        raise ValueError("0 has no inverse")
    t, n = _norm_parts(a)
    return scale(t, pow(n, P - 2, P))


def div(a, b):
    return mul(a, inv(b))


def is_square(a) -> bool:
    """a is a square in GF(p^5) iff its norm is a square in GF(p) (the extension degree is odd)."""
    if is_zero(a):
        return True
    _, n = _norm_parts(a)
    return pow(n, (P - 1) // 2, P) == 1


def sqrt_p(n: int):
    """A square root of n in GF(p) (Tonelli-Shanks; p - 1 = 2^32 * (2^32 - 1)), or None."""
    n %= P
    if n == 0:
        return 0
    if pow(n, (P - 1) // 2, P) != 1:
        return None
    q, s = P - 1, 0
    while q % 2 == 0:
        q //= 2
        s += 1
    z = 7  # a quadratic non-residue mod p
    assert pow(z, (P - 1) // 2, P) == P - 1
    m, c, t, r = s, pow(z, q, P), pow(n, q, P), pow(n, (q + 1) // 2, P)
    while t != 1:
        i, t2 = 0, t
        while t2 != 1:
            t2 = t2 * t2 % P
            i += 1
        b = pow(c, 1 << (m - i - 1), P)
        m, c, t, r = i, b * b % P, t * b * b % P, r * b % P
    return r


def sqrt(a):
    """A square root of a in GF(p^5), or None. With u = a^((p+1)/2) and y = u^p * u^(p^3) we have
    y^2 = a^(p + p^2 + p^3 + p^4), so y^2 * a = N(a) and sqrt(a) = sqrt(N(a)) / y."""
    if is_zero(a):
        return ZERO5
    u = power(a, (P + 1) // 2)
    y = mul(frobenius(u, 1), frobenius(u, 3))
    _, n = _norm_parts(a)
    s = sqrt_p(n)
    if s is None:
        return None
    r = scale(inv(y), s)
    return r if square(r) == a else None


def to_bytes(a) -> bytes:
    """40 bytes: each coefficient as 8 little-endian bytes, constant term first."""
    return b"".join(int(c).to_bytes(8, "little") for c in a)


def from_bytes(b: bytes):
    """The inverse of to_bytes; ValueError unless 40 bytes with every limb < p."""
    if len(b) != 40:
        raise ValueError("a GF(p^5) element is 40 bytes")
    limbs = tuple(int.from_bytes(b[8 * i:8 * i + 8], "little") for i in range(5))
    if any(x >= P for x in limbs):
        raise ValueError("non-canonical GF(p) limb")
    return limbs
