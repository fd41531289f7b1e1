"""Schnorr signatures over ECgFp5 as Lighter checks them: the simulator's own verifier, pure Python.

Shares no code with the connector's signer library (lighter-sdk's compiled Go signer); written from the
curve's and the scheme's definitions, with the constants in docs/lighter.md "Signatures":

* ECgFp5 is the curve y^2 = x (x^2 + a x + b) over GF(p^5) (goldilocks.py) with a = 2, b = 263 z. Its order
  is 2 n with n prime (N_ORDER); (0, 0) is its one point of order 2.
* A group element is encoded as one GF(p^5) element w. In the encoding's own representation a group element
  is a curve point P = (x, w x) whose x is not a square, with the law P (+) Q = P + Q + (0, 0), so (0, 0) is
  the neutral (w = 0). Here every element is carried as Q = P + (0, 0) instead, which turns that law into
  plain point addition on the prime-order subgroup (Q = infinity for the neutral): with the chord through
  (0, 0) and P of slope w, Q = (b / x, -w b / x), so Q = (x_Q, y_Q) encodes as w = -y_Q / x_Q, and decoding w
  solves x^2 - (w^2 - a) x + b = 0 and keeps the root that IS a square (b is not a square, so exactly one
  root is). Points are added in Jacobian coordinates on the isomorphic short Weierstrass curve
  Y^2 = X^3 + A X + B, X = x + a/3.
* The generator encodes as w = 4. A public key is encode(sk * G), 40 bytes (goldilocks.to_bytes); a private
  key is a 40-byte little-endian scalar (reduced mod n).
* A signature is 80 bytes, s || e, each a 40-byte little-endian scalar (values >= n are reduced mod n, as
  the current source does). It is valid for the 40-byte message hash m (a GF(p^5) element) when
  e == H(encode(s G + e PK) || m) mod n, H being Poseidon2 (poseidon2.py) of the 10 GF(p) limbs to one
  GF(p^5) element read as the integer sum(limb_i 2^(64 i)).

Nothing here is constant-time: the simulator only handles public data.
"""
from __future__ import annotations

from typing import Optional

from . import goldilocks as gf
from .poseidon2 import hash_to_quintic

P = gf.P
N_ORDER = 1067993516717146951041484916571792702745057740581727230159139685185762082554198619328292418486241
CURVE_A = gf.f5(2)
CURVE_B = (0, 263, 0, 0, 0)
GENERATOR_W = gf.f5(4)

_THIRD = pow(3, P - 2, P)
_A_THIRD = gf.scale(CURVE_A, _THIRD)
# short Weierstrass coefficients: A = b - a^2/3, B = 2 a^3 / 27 - a b / 3
SW_A = gf.sub(CURVE_B, gf.scale(gf.square(CURVE_A), _THIRD))
SW_B = gf.sub(gf.scale(gf.mul(gf.square(CURVE_A), CURVE_A), 2 * pow(27, P - 2, P) % P),
              gf.scale(gf.mul(CURVE_A, CURVE_B), _THIRD))

INFINITY = (gf.ONE5, gf.ONE5, gf.ZERO5)  # Jacobian (X : Y : Z) with Z = 0


class BadSignature(ValueError):
    pass


def decode(w) -> Optional[tuple]:
    """The group element encoded by ``w`` (a GF(p^5) element) as a Jacobian point, or None if ``w`` encodes
    nothing (its quadratic has no root in GF(p^5))."""
    if gf.is_zero(w):
        return INFINITY
    e = gf.sub(gf.square(w), CURVE_A)
    delta = gf.sub(gf.square(e), gf.scale(CURVE_B, 4))
    r = gf.sqrt(delta)
    if r is None:
        return None
    half = pow(2, P - 2, P)
    x = gf.scale(gf.add(e, r), half)
    if not gf.is_square(x):
        x = gf.scale(gf.sub(e, r), half)
    y = gf.neg(gf.mul(w, x))
    return (gf.add(x, _A_THIRD), y, gf.ONE5)


def encode(pt) -> tuple:
    """w = -y / x of the (x, y) point on y^2 = x (x^2 + a x + b); 0 for the neutral."""
    X, Y, Z = pt
    if gf.is_zero(Z):
        return gf.ZERO5
    zz = gf.square(Z)
    # affine x = X / Z^2 - a/3 and y = Y / Z^3, so -y / x = -Y / (Z (X - (a/3) Z^2))
    den = gf.mul(Z, gf.sub(X, gf.mul(_A_THIRD, zz)))
    return gf.neg(gf.div(Y, den))


def double(pt) -> tuple:
    X1, Y1, Z1 = pt
    if gf.is_zero(Z1) or gf.is_zero(Y1):
        return INFINITY
    xx, yy, zz = gf.square(X1), gf.square(Y1), gf.square(Z1)
    yyyy = gf.square(yy)
    s = gf.scale(gf.sub(gf.square(gf.add(X1, yy)), gf.add(xx, yyyy)), 2)
    m = gf.add(gf.scale(xx, 3), gf.mul(SW_A, gf.square(zz)))
    x3 = gf.sub(gf.square(m), gf.scale(s, 2))
    y3 = gf.sub(gf.mul(m, gf.sub(s, x3)), gf.scale(yyyy, 8))
    z3 = gf.sub(gf.square(gf.add(Y1, Z1)), gf.add(yy, zz))
    return (x3, y3, z3)


def add(p1, p2) -> tuple:
    X1, Y1, Z1 = p1
    X2, Y2, Z2 = p2
    if gf.is_zero(Z1):
        return p2
    if gf.is_zero(Z2):
        return p1
    z1z1, z2z2 = gf.square(Z1), gf.square(Z2)
    u1, u2 = gf.mul(X1, z2z2), gf.mul(X2, z1z1)
    s1, s2 = gf.mul(gf.mul(Y1, Z2), z2z2), gf.mul(gf.mul(Y2, Z1), z1z1)
    h = gf.sub(u2, u1)
    r = gf.scale(gf.sub(s2, s1), 2)
    if gf.is_zero(h):
        return double(p1) if gf.is_zero(r) else INFINITY
    i = gf.square(gf.scale(h, 2))
    j = gf.mul(h, i)
    v = gf.mul(u1, i)
    x3 = gf.sub(gf.sub(gf.square(r), j), gf.scale(v, 2))
    y3 = gf.sub(gf.mul(r, gf.sub(v, x3)), gf.scale(gf.mul(s1, j), 2))
    z3 = gf.mul(gf.sub(gf.square(gf.add(Z1, Z2)), gf.add(z1z1, z2z2)), h)
    return (x3, y3, z3)


def _negate(pt) -> tuple:
    return (pt[0], gf.neg(pt[1]), pt[2])


def multiply(pt, k: int) -> tuple:
    """k * pt (4-bit fixed window)."""
    k %= N_ORDER
    table = [INFINITY, pt]
    for _ in range(14):
        table.append(add(table[-1], pt))
    acc = INFINITY
    for shift in range((k.bit_length() + 3) // 4 * 4 - 4, -1, -4):
        for _ in range(4):
            acc = double(acc)
        acc = add(acc, table[(k >> shift) & 15])
    return acc


def multiply_add2(p1, k1: int, p2, k2: int) -> tuple:
    """k1 * p1 + k2 * p2 (interleaved 2-bit windows, one shared doubling chain)."""
    k1 %= N_ORDER
    k2 %= N_ORDER
    t1 = [INFINITY, p1, double(p1)]
    t1.append(add(t1[2], p1))
    t2 = [INFINITY, p2, double(p2)]
    t2.append(add(t2[2], p2))
    table = [[add(a, b) for b in t2] for a in t1]
    acc = INFINITY
    top = max(k1.bit_length(), k2.bit_length(), 1)
    for shift in range((top + 1) // 2 * 2 - 2, -1, -2):
        acc = double(double(acc))
        acc = add(acc, table[(k1 >> shift) & 3][(k2 >> shift) & 3])
    return acc


_G = decode(GENERATOR_W)


def scalar_from_bytes(b: bytes) -> int:
    """A 40-byte little-endian scalar, reduced mod n."""
    if len(b) != 40:
        raise BadSignature("a scalar is 40 bytes")
    return int.from_bytes(b, "little") % N_ORDER


def public_key(private_key: bytes) -> bytes:
    """The 40-byte public key of a 40-byte private key."""
    return gf.to_bytes(encode(multiply(_G, scalar_from_bytes(private_key))))


def challenge(r_w, msg) -> int:
    """e = H(r || m) as a scalar: the hash's five limbs read little-endian as one integer, mod n."""
    h = hash_to_quintic(list(r_w) + list(msg))
    return sum(c << (64 * i) for i, c in enumerate(h)) % N_ORDER


def verify(public_key_bytes: bytes, msg_hash: bytes, signature: bytes) -> bool:
    """Whether ``signature`` (80 bytes, s || e) signs the 40-byte ``msg_hash`` under the 40-byte key."""
    try:
        if len(signature) != 80:
            return False
        pk_w, m = gf.from_bytes(public_key_bytes), gf.from_bytes(msg_hash)
    except ValueError:
        return False
    pk = decode(pk_w)
    if pk is None:
        return False
    s, e = scalar_from_bytes(signature[:40]), scalar_from_bytes(signature[40:])
    r = multiply_add2(_G, s, pk, e)
    return challenge(encode(r), m) == e


def sign(private_key: bytes, msg_hash: bytes, nonce_k: int) -> bytes:
    """A signature with the caller's nonce ``k`` (tests only: a fixed k is unsafe for real keys)."""
    sk = scalar_from_bytes(private_key)
    r = encode(multiply(_G, nonce_k))
    e = challenge(r, gf.from_bytes(msg_hash))
    s = (nonce_k - e * sk) % N_ORDER
    return s.to_bytes(40, "little") + e.to_bytes(40, "little")
