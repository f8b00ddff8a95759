/* crypt.h - gossip encryption: a keyring of AES keys (16, 24 or 32 bytes,
 * given base64 as Consul's `encrypt` and `cairn keygen`), the first of
 * which (the primary) encrypts; every installed key is tried to decrypt,
 * so a key can be rolled across a pool (install, use, remove).
 *
 * Sealed packet: 0x01, a 12-byte random nonce, the AES-GCM ciphertext,
 * the 16-byte tag; the version byte and the pool's label ("lan"/"wan")
 * are authenticated too, so a LAN packet is refused on the WAN port. */
#ifndef CAIRN_GOSSIP_CRYPT_H
#define CAIRN_GOSSIP_CRYPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

#define KEYRING_MAX 16
#define CRYPT_OVERHEAD (1 + 12 + 16)

struct keyring {
	uint8_t key[KEYRING_MAX][32];
	size_t len[KEYRING_MAX];
	size_t n; /* key[0] is the primary */
};

/* keyring_decode_key - base64 of 16, 24 or 32 bytes -> key, len */
int keyring_decode_key(const char *b64, uint8_t key[32], size_t *len,
    struct errbuf *eb);
/* keyring_install - add a key (not primary); 0 if already there */
int keyring_install(struct keyring *k, const char *b64, struct errbuf *eb);
/* keyring_use - make an installed key the primary; -ENOENT if not installed */
int keyring_use(struct keyring *k, const char *b64, struct errbuf *eb);
/* keyring_remove - drop a key; -EBUSY for the primary, -ENOENT unknown */
int keyring_remove(struct keyring *k, const char *b64, struct errbuf *eb);
/* keyring_key_b64 - key i as base64 (free()) */
char *keyring_key_b64(const struct keyring *k, size_t i);

/* keyring_fingerprint - the first 8 bytes of SHA-256 of key i, in hex:
 * what a member tells the pool about its keys (tag "keys"), so that a
 * keyring listing can count the members using each key */
void keyring_fingerprint(const struct keyring *k, size_t i, char out[17]);

/* keyring_load / keyring_save - a JSON array of base64 keys, primary
 * first (Consul's serf/local.keyring).  load: -ENOENT when the file does
 * not exist.  save: written to a temporary file, fsynced, renamed. */
int keyring_load(struct keyring *k, const char *path, struct errbuf *eb);
int keyring_save(const struct keyring *k, const char *path,
    struct errbuf *eb);

/* crypt_seal - encrypt p[0..n) with the primary key into out (appended) */
int crypt_seal(const struct keyring *k, const char *label, const void *p,
    size_t n, struct buf *out);
/* crypt_open - decrypt with whichever key works into out (appended);
 * -EBADMSG when none does (or the packet is malformed) */
int crypt_open(const struct keyring *k, const char *label, const void *p,
    size_t n, struct buf *out);

#endif
