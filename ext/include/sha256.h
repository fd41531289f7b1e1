/* SHA-256 and HMAC-SHA256 with precomputed key states (FIPS 180-4, RFC 2104). Our own code.
 * The block function uses the x86 SHA extensions when the CPU has them (checked once at run time)
 * and a portable C implementation otherwise; both are always compiled. */
#ifndef ENGINE_SHA256_H
#define ENGINE_SHA256_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t inner[8]; /* state after absorbing key ^ ipad */
    uint32_t outer[8]; /* state after absorbing key ^ opad */
} engine_hmac_key;

void engine_sha256(const uint8_t *msg, size_t len, uint8_t out[32]);
void engine_hmac_init(engine_hmac_key *k, const uint8_t *key, size_t len);
void engine_hmac(const engine_hmac_key *k, const uint8_t *msg, size_t len, uint8_t out[32]);
/* HMAC as 64 lower-case hex characters (no terminator) */
void engine_hmac_hex(const engine_hmac_key *k, const uint8_t *msg, size_t len, char out[64]);
/* 1 when the SHA-extension path is in use; force_portable(1) switches to the portable path (tests) */
int engine_sha256_accelerated(void);
void engine_sha256_force_portable(int on);
#endif
