/* SHA-256 / HMAC-SHA256 (see sha256.h). */
#include "sha256.h"
#include <string.h>

static const uint32_t K256[64] = {0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u, 0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u, 0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau, 0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u, 0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u, 0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u, 0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u, 0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u};
static const uint32_t IV[8] = {0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
                               0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static inline uint32_t be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static void blocks_portable(uint32_t st[8], const uint8_t *data, size_t nblocks) {
    uint32_t w[64];
    while (nblocks--) {
        for (int i = 0; i < 16; i++) w[i] = be32(data + 4 * i);
        for (int i = 16; i < 64; i++) {
            uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
            uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16] + s0 + w[i - 7] + s1;
        }
        uint32_t a = st[0], b = st[1], c = st[2], d = st[3], e = st[4], f = st[5], g = st[6], h = st[7];
        for (int i = 0; i < 64; i++) {
            uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i];
            uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
            h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
        }
        st[0] += a; st[1] += b; st[2] += c; st[3] += d; st[4] += e; st[5] += f; st[6] += g; st[7] += h;
        data += 64;
    }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define ENGINE_HAVE_SHANI_CODE 1
__attribute__((target("sha,sse4.1,ssse3")))
static void blocks_shani(uint32_t st[8], const uint8_t *data, size_t nblocks) {
    const __m128i MASK = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i S0, S1, MSG, TMP, M0, M1, M2, M3, ABEF, CDGH;
    TMP = _mm_loadu_si128((const __m128i *)&st[0]); /* D C B A */
    S1 = _mm_loadu_si128((const __m128i *)&st[4]);  /* H G F E */
    TMP = _mm_shuffle_epi32(TMP, 0xB1);             /* C D A B */
    S1 = _mm_shuffle_epi32(S1, 0x1B);               /* E F G H */
    S0 = _mm_alignr_epi8(TMP, S1, 8);               /* A B E F */
    S1 = _mm_blend_epi16(S1, TMP, 0xF0);            /* C D G H */
    while (nblocks--) {
        ABEF = S0;
        CDGH = S1;
        M0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i*)(data + 0)), MASK);
        MSG = _mm_add_epi32(M0, _mm_set_epi64x(0xe9b5dba5b5c0fbcfULL, 0x71374491428a2f98ULL));
        S1 = _mm_sha256rnds2_epu32(S1, S0, MSG);
        MSG = _mm_shuffle_epi32(MSG, 0x0E);
        S0 = _mm_sha256rnds2_epu32(S0, S1, MSG);
        M1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i*)(data + 16)), MASK);
        MSG = _mm_add_epi32(M1, _mm_set_epi64x(0xab1c5ed5923f82a4ULL, 0x59f111f13956c25bULL));
        S1 = _mm_sha256rnds2_epu32(S1, S0, MSG);
        MSG = _mm_shuffle_epi32(MSG, 0x0E);
        S0 = _mm_sha256rnds2_epu32(S0, S1, MSG);
        M0 = _mm_sha256msg1_epu32(M0, M1);
        M2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i*)(data + 32)), MASK);
        MSG = _mm_add_epi32(M2, _mm_set_epi64x(0x550c7dc3243185beULL, 0x12835b01d807aa98ULL));
        S1 = _mm_sha256rnds2_epu32(S1, S0, MSG);
        MSG = _mm_shuffle_epi32(MSG, 0x0E);
        S0 = _mm_sha256rnds2_epu32(S0, S1, MSG);
        M1 = _mm_sha256msg1_epu32(M1, M2);
        M3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i*)(data + 48)), MASK);
        MSG = _mm_add_epi32(M3, _mm_set_epi64x(0xc19bf1749bdc06a7ULL, 0x80deb1fe72be5d74ULL));
        S1 = _mm_sha256rnds2_epu32(S1, S0, MSG);
        TMP = _mm_alignr_epi8(M3, M2, 4);
        M0 = _mm_add_epi32(M0, TMP);
        M0 = _mm_sha256msg2_epu32(M0, M3);
        MSG = _mm_shuffle_epi32(MSG, 0x0E);
        S0 = _mm_sha256rnds2_epu32(S0, S1, MSG);
        M2 = _mm_sha256msg1_epu32(M2, M3);
        MSG = _mm_add_epi32(M0, _mm_set_epi64x(0x240ca1cc0fc19dc6ULL, 0xefbe4786e49b69c1ULL));
        S1 = _mm_sha256rnds2_epu32(S1, S0, MSG);
        TMP = _mm_alignr_epi8(M0, M3, 4);
        M1 = _mm_add_epi32(M1, TMP);
        M1 = _mm_sha256msg2_epu32(M1, M0);
        MSG = _mm_shuffle_epi32(MSG, 0x0E);
        S0 = _mm_sha256rnds2_epu32(S0, S1, MSG);
        M3 = _mm_sha256msg1_epu32(M3, M0);
        MSG = _mm_add_epi32(M1, _mm_set_epi64x(0x76f988da5cb0a9dcULL, 0x4a7484aa2de92c6fULL));
        S1 = _mm_sha256rnds2_epu32(S1, S0, MSG);
        TMP = _mm_alignr_epi8(M1, M0, 4);
        M2 = _mm_add_epi32(M2, TMP);
        M2 = _mm_sha256msg2_epu32(M2, M1);
        MSG = _mm_shuffle_epi32(MSG, 0x0E);
        S0 = _mm_sha256rnds2_epu32(S0, S1, MSG);
        M0 = _mm_sha256msg1_epu32(M0, M1);
        MSG = _mm_add_epi32(M2, _mm_set_epi64x(0xbf597fc7b00327c8ULL, 0xa831c66d983e5152ULL));
        S1 = _mm_sha256rnds2_epu32(S1, S0, MSG);
        TMP = _mm_alignr_epi8(M2, M1, 4);
        M3 = _mm_add_epi32(M3, TMP);
        M3 = _mm_sha256msg2_epu32(M3, M2);
        MSG = _mm_shuffle_epi32(MSG, 0x0E);
        S0 = _mm_sha256rnds2_epu32(S0, S1, MSG);
        M1 = _mm_sha256msg1_epu32(M1, M2);
        MSG = _mm_add_epi32(M3, _mm_set_epi64x(0x1429296706ca6351ULL, 0xd5a79147c6e00bf3ULL));
        S1 = _mm_sha256rnds2_epu32(S1, S0, MSG);
        TMP = _mm_alignr_epi8(M3, M2, 4);
        M0 = _mm_add_epi32(M0, TMP);
        M0 = _mm_sha256msg2_epu32(M0, M3);
        MSG = _mm_shuffle_epi32(MSG, 0x0E);
        S0 = _mm_sha256rnds2_epu32(S0, S1, MSG);
        M2 = _mm_sha256msg1_epu32(M2, M3);
        MSG = _mm_add_epi32(M0, _mm_set_epi64x(0x53380d134d2c6dfcULL, 0x2e1b213827b70a85ULL));
        S1 = _mm_sha256rnds2_epu32(S1, S0, MSG);
        TMP = _mm_alignr_epi8(M0, M3, 4);
        M1 = _mm_add_epi32(M1, TMP);
        M1 = _mm_sha256msg2_epu32(M1, M0);
        MSG = _mm_shuffle_epi32(MSG, 0x0E);
        S0 = _mm_sha256rnds2_epu32(S0, S1, MSG);
        M3 = _mm_sha256msg1_epu32(M3, M0);
        MSG = _mm_add_epi32(M1, _mm_set_epi64x(0x92722c8581c2c92eULL, 0x766a0abb650a7354ULL));
        S1 = _mm_sha256rnds2_epu32(S1, S0, MSG);
        TMP = _mm_alignr_epi8(M1, M0, 4);
        M2 = _mm_add_epi32(M2, TMP);
        M2 = _mm_sha256msg2_epu32(M2, M1);
        MSG = _mm_shuffle_epi32(MSG, 0x0E);
        S0 = _mm_sha256rnds2_epu32(S0, S1, MSG);
        M0 = _mm_sha256msg1_epu32(M0, M1);
        MSG = _mm_add_epi32(M2, _mm_set_epi64x(0xc76c51a3c24b8b70ULL, 0xa81a664ba2bfe8a1ULL));
        S1 = _mm_sha256rnds2_epu32(S1, S0, MSG);
        TMP = _mm_alignr_epi8(M2, M1, 4);
        M3 = _mm_add_epi32(M3, TMP);
        M3 = _mm_sha256msg2_epu32(M3, M2);
        MSG = _mm_shuffle_epi32(MSG, 0x0E);
        S0 = _mm_sha256rnds2_epu32(S0, S1, MSG);
        M1 = _mm_sha256msg1_epu32(M1, M2);
        MSG = _mm_add_epi32(M3, _mm_set_epi64x(0x106aa070f40e3585ULL, 0xd6990624d192e819ULL));
        S1 = _mm_sha256rnds2_epu32(S1, S0, MSG);
        TMP = _mm_alignr_epi8(M3, M2, 4);
        M0 = _mm_add_epi32(M0, TMP);
        M0 = _mm_sha256msg2_epu32(M0, M3);
        MSG = _mm_shuffle_epi32(MSG, 0x0E);
        S0 = _mm_sha256rnds2_epu32(S0, S1, MSG);
        M2 = _mm_sha256msg1_epu32(M2, M3);
        MSG = _mm_add_epi32(M0, _mm_set_epi64x(0x34b0bcb52748774cULL, 0x1e376c0819a4c116ULL));
        S1 = _mm_sha256rnds2_epu32(S1, S0, MSG);
        TMP = _mm_alignr_epi8(M0, M3, 4);
        M1 = _mm_add_epi32(M1, TMP);
        M1 = _mm_sha256msg2_epu32(M1, M0);
        MSG = _mm_shuffle_epi32(MSG, 0x0E);
        S0 = _mm_sha256rnds2_epu32(S0, S1, MSG);
        M3 = _mm_sha256msg1_epu32(M3, M0);
        MSG = _mm_add_epi32(M1, _mm_set_epi64x(0x682e6ff35b9cca4fULL, 0x4ed8aa4a391c0cb3ULL));
        S1 = _mm_sha256rnds2_epu32(S1, S0, MSG);
        TMP = _mm_alignr_epi8(M1, M0, 4);
        M2 = _mm_add_epi32(M2, TMP);
        M2 = _mm_sha256msg2_epu32(M2, M1);
        MSG = _mm_shuffle_epi32(MSG, 0x0E);
        S0 = _mm_sha256rnds2_epu32(S0, S1, MSG);
        MSG = _mm_add_epi32(M2, _mm_set_epi64x(0x8cc7020884c87814ULL, 0x78a5636f748f82eeULL));
        S1 = _mm_sha256rnds2_epu32(S1, S0, MSG);
        TMP = _mm_alignr_epi8(M2, M1, 4);
        M3 = _mm_add_epi32(M3, TMP);
        M3 = _mm_sha256msg2_epu32(M3, M2);
        MSG = _mm_shuffle_epi32(MSG, 0x0E);
        S0 = _mm_sha256rnds2_epu32(S0, S1, MSG);
        MSG = _mm_add_epi32(M3, _mm_set_epi64x(0xc67178f2bef9a3f7ULL, 0xa4506ceb90befffaULL));
        S1 = _mm_sha256rnds2_epu32(S1, S0, MSG);
        MSG = _mm_shuffle_epi32(MSG, 0x0E);
        S0 = _mm_sha256rnds2_epu32(S0, S1, MSG);
        S0 = _mm_add_epi32(S0, ABEF);
        S1 = _mm_add_epi32(S1, CDGH);
        data += 64;
    }
    TMP = _mm_shuffle_epi32(S0, 0x1B);       /* F E B A */
    S1 = _mm_shuffle_epi32(S1, 0xB1);        /* D C H G */
    S0 = _mm_blend_epi16(TMP, S1, 0xF0);     /* D C B A */
    S1 = _mm_alignr_epi8(S1, TMP, 8);        /* H G F E */
    _mm_storeu_si128((__m128i *)&st[0], S0);
    _mm_storeu_si128((__m128i *)&st[4], S1);
}

static int cpu_has_shani(void) {
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("sse4.1") || !__builtin_cpu_supports("ssse3")) return 0;
    /* CPUID leaf 7, EBX bit 29 = SHA extensions */
    unsigned int a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
    return (b >> 29) & 1;
}
#endif

typedef void (*blocks_fn)(uint32_t st[8], const uint8_t *data, size_t nblocks);
static blocks_fn BLOCKS = 0;
static int FORCE_PORTABLE = 0;

static blocks_fn pick(void) {
    if (BLOCKS) return BLOCKS;
#ifdef ENGINE_HAVE_SHANI_CODE
    if (!FORCE_PORTABLE && cpu_has_shani()) return BLOCKS = blocks_shani;
#endif
    return BLOCKS = blocks_portable;
}

int engine_sha256_accelerated(void) {
#ifdef ENGINE_HAVE_SHANI_CODE
    return pick() == blocks_shani;
#else
    return 0;
#endif
}

void engine_sha256_force_portable(int on) {
    FORCE_PORTABLE = on;
    BLOCKS = 0;
    pick();
}

/* absorb msg into st (whose state already covers prefix_len bytes, a multiple of 64) and finish */
static void finish(uint32_t st[8], uint64_t prefix_len, const uint8_t *msg, size_t len, uint8_t out[32]) {
    blocks_fn blocks = pick();
    size_t full = len / 64;
    if (full) blocks(st, msg, full);
    uint8_t tail[128];
    size_t rem = len - full * 64;
    memcpy(tail, msg + full * 64, rem);
    tail[rem] = 0x80;
    size_t tlen = (rem < 56) ? 64 : 128;
    memset(tail + rem + 1, 0, tlen - rem - 1 - 8);
    uint64_t bits = (prefix_len + (uint64_t)len) * 8;
    for (int i = 0; i < 8; i++) tail[tlen - 1 - i] = (uint8_t)(bits >> (8 * i));
    blocks(st, tail, tlen / 64);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(st[i] >> 24);
        out[4 * i + 1] = (uint8_t)(st[i] >> 16);
        out[4 * i + 2] = (uint8_t)(st[i] >> 8);
        out[4 * i + 3] = (uint8_t)st[i];
    }
}

void engine_sha256(const uint8_t *msg, size_t len, uint8_t out[32]) {
    uint32_t st[8];
    memcpy(st, IV, sizeof st);
    finish(st, 0, msg, len, out);
}

void engine_hmac_init(engine_hmac_key *k, const uint8_t *key, size_t len) {
    uint8_t block[64], kb[64];
    memset(kb, 0, sizeof kb);
    if (len > 64) engine_sha256(key, len, kb);
    else if (len) memcpy(kb, key, len);
    for (int i = 0; i < 64; i++) block[i] = kb[i] ^ 0x36;
    memcpy(k->inner, IV, sizeof IV);
    pick()(k->inner, block, 1);
    for (int i = 0; i < 64; i++) block[i] = kb[i] ^ 0x5c;
    memcpy(k->outer, IV, sizeof IV);
    pick()(k->outer, block, 1);
    memset(kb, 0, sizeof kb);   /* do not leave key bytes on the stack */
    memset(block, 0, sizeof block);
}

void engine_hmac(const engine_hmac_key *k, const uint8_t *msg, size_t len, uint8_t out[32]) {
    uint32_t st[8];
    uint8_t inner[32];
    memcpy(st, k->inner, sizeof st);
    finish(st, 64, msg, len, inner);
    memcpy(st, k->outer, sizeof st);
    finish(st, 64, inner, 32, out);
}

void engine_hmac_hex(const engine_hmac_key *k, const uint8_t *msg, size_t len, char out[64]) {
    static const char HEX[] = "0123456789abcdef";
    uint8_t d[32];
    engine_hmac(k, msg, len, d);
    for (int i = 0; i < 32; i++) {
        out[2 * i] = HEX[d[i] >> 4];
        out[2 * i + 1] = HEX[d[i] & 15];
    }
}
