"""Poseidon2 over Goldilocks as Lighter hashes transactions and auth tokens: width 12, rate 8, x^7 S-box,
8 full rounds (4 before, 4 after) and 22 partial rounds, sponge that overwrites the rate, no padding.

Pure Python, for the simulator's signature check (schnorr.py, tx_hash.py); shares no code with the
connector's signer library. The round constants and the internal diagonal are data transcribed from the
public sources named in docs/lighter.md "Signatures"; the permutation is written from the Poseidon2
definition:

    permute(s):  M_E(s); 4 x [s += RC_ext[r]; s_i = s_i^7 for all i; M_E(s)];
                 22 x [s_0 += RC_int[r]; s_0 = s_0^7; M_I(s)];  4 x [full round as above]
    M_E: each block of 4 times M4 = [[2,3,1,1],[1,2,3,1],[1,1,2,3],[3,1,1,2]], then every s_i plus the sum of
         the s_j with j = i mod 4 (circ(2 M4, M4, M4) on the whole state)
    M_I: s_i = s_i * DIAG[i] + sum(s)
"""
from __future__ import annotations

from .goldilocks import P

WIDTH, RATE = 12, 8
ROUNDS_F_HALF, ROUNDS_P = 4, 22

# 8 rounds x 12 lanes, row by row
_EXTERNAL_FLAT = """
15492826721047263190 11728330187201910315 8836021247773420868 16777404051263952451 5510875212538051896
6173089941271892285 2927757366422211339 10340958981325008808 8541987352684552425 9739599543776434497
15073950188101532019 12084856431752384512 4584713381960671270 8807052963476652830 54136601502601741
4872702333905478703 5551030319979516287 12889366755535460989 16329242193178844328 412018088475211848
10505784623379650541 9758812378619434837 7421979329386275117 375240370024755551 3331431125640721931
15684937309956309981 578521833432107983 14379242000670861838 17922409828154900976 8153494278429192257
15904673920630731971 11217863998460634216 3301540195510742136 9937973023749922003 3059102938155026419
1895288289490976132 5580912693628927540 10064804080494788323 9582481583369602410 10186259561546797986
247426333829703916 13193193905461376067 6386232593701758044 17954717245501896472 1531720443376282699
2455761864255501970 11234429217864304495 4746959618548874102 13571697342473846203 17477857865056504753
15963032953523553760 16033593225279635898 14252634232868282405 8219748254835277737 7459165569491914711
15855939513193752003 16788866461340278896 7102224659693946577 3024718005636976471 13695468978618890430
8214202050877825436 2670727992739346204 16259532062589659211 11869922396257088411 3179482916972760137
13525476046633427808 3217337278042947412 14494689598654046340 15837379330312175383 8029037639801151344
2153456285263517937 8301106462311849241 13294194396455217955 17394768489610594315 12847609130464867455
14015739446356528640 5879251655839607853 9747000124977436185 8950393546890284269 10765765936405694368
14695323910334139959 16366254691123000864 15292774414889043182 10910394433429313384 17253424460214596184
3442854447664030446 3005570425335613727 10859158614900201063 9763230642109343539 6647722546511515039
909012944955815706 18101204076790399111 11588128829349125809 15863878496612806566 5201119062417750399
176665553780565743
"""
EXTERNAL_RC = tuple(tuple(int(v) for v in _EXTERNAL_FLAT.split()[12 * r:12 * r + 12]) for r in range(8))
INTERNAL_RC = (11921381764981422944, 10318423381711320787, 8291411502347000766, 229948027109387563,
               9152521390190983261, 7129306032690285515, 15395989607365232011, 8641397269074305925,
               17256848792241043600, 6046475228902245682, 12041608676381094092, 12785542378683951657,
               14546032085337914034, 3304199118235116851, 16499627707072547655, 10386478025625759321,
               13475579315436919170, 16042710511297532028, 1411266850385657080, 9024840976168649958,
               14047056970978379368, 838728605080212101)
INTERNAL_DIAG = (0xc3b6c08e23ba9300, 0xd84b5de94a324fb6, 0x0d0c371c5b35b84f, 0x7964f570e7188037, 0x5daf18bbd996604b,
                 0x6743bc47b9595257, 0x5528b9362c59bb70, 0xac45e25b7127b68b, 0xa2077d7dfbb606b5, 0xf3faac6faee378ae,
                 0x0c6388b51545e883, 0xd27dbb6944917b60)


def _external(s: list) -> list:
    out = []
    for i in range(0, WIDTH, 4):
        x0, x1, x2, x3 = s[i:i + 4]
        out += [2 * x0 + 3 * x1 + x2 + x3, x0 + 2 * x1 + 3 * x2 + x3,
                x0 + x1 + 2 * x2 + 3 * x3, 3 * x0 + x1 + x2 + 2 * x3]
    col = [out[k] + out[k + 4] + out[k + 8] for k in range(4)]
    return [(v + col[i % 4]) % P for i, v in enumerate(out)]


def _internal(s: list) -> list:
    total = sum(s)
    return [(v * d + total) % P for v, d in zip(s, INTERNAL_DIAG)]


def _full_round(s: list, rc: tuple) -> list:
    return _external([pow((v + c) % P, 7, P) for v, c in zip(s, rc)])


def permute(state) -> list:
    """The Poseidon2 permutation of 12 GF(p) elements (ints, reduced mod p on the way in)."""
    if len(state) != WIDTH:
        raise ValueError("the Poseidon2 state is 12 elements")
    s = _external([int(v) % P for v in state])
    for r in range(ROUNDS_F_HALF):
        s = _full_round(s, EXTERNAL_RC[r])
    for c in INTERNAL_RC:
        s[0] = pow((s[0] + c) % P, 7, P)
        s = _internal(s)
    for r in range(ROUNDS_F_HALF, 2 * ROUNDS_F_HALF):
        s = _full_round(s, EXTERNAL_RC[r])
    return s


def hash_no_pad(inputs, n_out: int) -> list:
    """Absorb ``inputs`` 8 at a time by overwriting the rate (a short last chunk overwrites only its own
    places) and permuting after each chunk; squeeze ``n_out`` elements 8 at a time, permuting between.
    No input at all gives the zero state's first outputs unpermuted, as the source does."""
    s = [0] * WIDTH
    vals = [int(v) % P for v in inputs]
    for i in range(0, len(vals), RATE):
        chunk = vals[i:i + RATE]
        s[:len(chunk)] = chunk
        s = permute(s)
    out: list = []
    while True:
        for v in s[:RATE]:
            out.append(v)
            if len(out) == n_out:
                return out
        s = permute(s)


def hash_to_quintic(inputs) -> tuple:
    """Hash GF(p) elements to one GF(p^5) element (the first 5 squeezed outputs)."""
    return tuple(hash_no_pad(inputs, 5))


def hash_to_four(inputs) -> tuple:
    """Hash GF(p) elements to a 4-element digest (HashOut; used to chain grouped orders)."""
    return tuple(hash_no_pad(inputs, 4))
