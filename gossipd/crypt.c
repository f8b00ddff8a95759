/* crypt.c - gossip keyring and AES-GCM sealing (see crypt.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "crypt.h"
#include "jdec.h"
#include "json.h"
#include "xmalloc.h"

int
keyring_decode_key(const char *b64, uint8_t key[32], size_t *len,
    struct errbuf *eb)
{
	uint8_t *raw;
	size_t n;

	if (b64 == NULL ||
	    jd_base64_decode(b64, strlen(b64), &raw, &n) < 0)
		return errbuf_set(eb, -EINVAL, "the key is not valid base64");
	if (n != 16 && n != 24 && n != 32) {
		free(raw);
		return errbuf_set(eb, -EINVAL,
		    "the key must be 16, 24 or 32 bytes (got %zu)", n);
	}
	memcpy(key, raw, n);
	*len = n;
	OPENSSL_cleanse(raw, n);
	free(raw);
	return 0;
}

static int
find_key(const struct keyring *k, const uint8_t *key, size_t len)
{
	size_t i;

	for (i = 0; i < k->n; i++)
		if (k->len[i] == len && memcmp(k->key[i], key, len) == 0)
			return (int)i;
	return -1;
}

int
keyring_install(struct keyring *k, const char *b64, struct errbuf *eb)
{
	uint8_t key[32];
	size_t len;
	int r;

	if ((r = keyring_decode_key(b64, key, &len, eb)) < 0)
		return r;
	if (find_key(k, key, len) >= 0)
		return 0;
	if (k->n >= KEYRING_MAX)
		return errbuf_set(eb, -ENOSPC, "the keyring is full (%d keys)",
		    KEYRING_MAX);
	memcpy(k->key[k->n], key, len);
	k->len[k->n++] = len;
	return 0;
}

int
keyring_use(struct keyring *k, const char *b64, struct errbuf *eb)
{
	uint8_t key[32], t[32];
	size_t len, tl;
	int r, i;

	if ((r = keyring_decode_key(b64, key, &len, eb)) < 0)
		return r;
	if ((i = find_key(k, key, len)) < 0)
		return errbuf_set(eb, -ENOENT,
		    "the key is not installed; install it first");
	memcpy(t, k->key[0], sizeof(t));
	tl = k->len[0];
	memcpy(k->key[0], k->key[i], sizeof(t));
	k->len[0] = k->len[i];
	memcpy(k->key[i], t, sizeof(t));
	k->len[i] = tl;
	return 0;
}

int
keyring_remove(struct keyring *k, const char *b64, struct errbuf *eb)
{
	uint8_t key[32];
	size_t len;
	int r, i;

	if ((r = keyring_decode_key(b64, key, &len, eb)) < 0)
		return r;
	if ((i = find_key(k, key, len)) < 0)
		return errbuf_set(eb, -ENOENT, "the key is not installed");
	if (i == 0)
		return errbuf_set(eb, -EBUSY,
		    "removing the primary key is not allowed");
	memmove(k->key[i], k->key[i + 1],
	    (k->n - (size_t)i - 1) * sizeof(k->key[0]));
	memmove(&k->len[i], &k->len[i + 1],
	    (k->n - (size_t)i - 1) * sizeof(k->len[0]));
	k->n--;
	return 0;
}

void
keyring_fingerprint(const struct keyring *k, size_t i, char out[17])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t j;

	EVP_Digest(k->key[i], k->len[i], md, &mdlen, EVP_sha256(), NULL);
	for (j = 0; j < 8; j++)
		snprintf(out + 2 * j, 3, "%02x", md[j]);
	out[16] = '\0';
}

char *
keyring_key_b64(const struct keyring *k, size_t i)
{
	return jd_base64_encode(k->key[i], k->len[i]);
}

int
keyring_load(struct keyring *k, const char *path, struct errbuf *eb)
{
	struct keyring nk;
	char buf[8192];
	yajl_val t;
	ssize_t n;
	size_t i;
	int fd, r = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return errbuf_set(eb, -errno, "%s: %s", path, strerror(errno));
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0)
		return errbuf_set(eb, -EIO, "%s: %s", path, strerror(errno));
	if (n == (ssize_t)sizeof(buf))
		return errbuf_set(eb, -EINVAL, "%s: too large", path);
	if ((t = json_parse(buf, (size_t)n, eb)) == NULL)
		return errbuf_set(eb, -EINVAL, "%s: %s", path, eb->msg);
	memset(&nk, 0, sizeof(nk));
	if (!YAJL_IS_ARRAY(t) || t->u.array.len == 0)
		r = errbuf_set(eb, -EINVAL,
		    "%s: expected a non-empty array of keys", path);
	for (i = 0; r == 0 && i < t->u.array.len; i++) {
		yajl_val v = t->u.array.values[i];

		if (!YAJL_IS_STRING(v))
			r = errbuf_set(eb, -EINVAL, "%s: key %zu: not a string",
			    path, i);
		else if ((r = keyring_install(&nk, YAJL_GET_STRING(v), eb)) <
			 0)
			errbuf_set(eb, r, "%s: key %zu: %s", path, i, eb->msg);
	}
	yajl_tree_free(t);
	if (r == 0)
		*k = nk;
	OPENSSL_cleanse(&nk, sizeof(nk));
	return r;
}

int
keyring_save(const struct keyring *k, const char *path, struct errbuf *eb)
{
	char tmp[4096];
	struct buf b = BUF_INIT;
	size_t i;
	int fd, r = 0;

	buf_put(&b, "[", strlen("["));
	for (i = 0; i < k->n; i++) {
		char *s = keyring_key_b64(k, i);

		buf_put(&b, i ? ",\"" : "\"", strlen(i ? ",\"" : "\""));
		buf_put(&b, s, strlen(s));
		buf_put(&b, "\"", strlen("\""));
		free(s);
	}
	buf_put(&b, "]\n", strlen("]\n"));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, b.data, b.len) != (ssize_t)b.len ||
	    fsync(fd) < 0)
		r = errbuf_set(eb, -errno, "%s: %s", tmp, strerror(errno));
	if (fd >= 0)
		close(fd);
	if (r == 0 && rename(tmp, path) < 0)
		r = errbuf_set(eb, -errno, "%s: %s", path, strerror(errno));
	if (r < 0)
		unlink(tmp);
	OPENSSL_cleanse(b.data, b.len);
	buf_free(&b);
	return r;
}

static const EVP_CIPHER *
cipher(size_t len)
{
	return len == 16 ? EVP_aes_128_gcm()
			 : len == 24 ? EVP_aes_192_gcm() : EVP_aes_256_gcm();
}

int
crypt_seal(const struct keyring *k, const char *label, const void *p,
    size_t n, struct buf *out)
{
	EVP_CIPHER_CTX *ctx;
	uint8_t hdr[13], tag[16];
	uint8_t *ct;
	int len, ok;

	if (k->n == 0 || n > 1u << 30)
		return -EINVAL;
	hdr[0] = 1;
	if (RAND_bytes(hdr + 1, 12) != 1)
		return -EIO;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		return -ENOMEM;
	ct = xmalloc(n + 16);
	ok = EVP_EncryptInit_ex(ctx, cipher(k->len[0]), NULL, k->key[0],
		 hdr + 1) == 1 &&
	     EVP_EncryptUpdate(ctx, NULL, &len, hdr, 1) == 1 &&
	     EVP_EncryptUpdate(ctx, NULL, &len, (const uint8_t *)label,
		 (int)strlen(label)) == 1 &&
	     EVP_EncryptUpdate(ctx, ct, &len, p, (int)n) == 1 &&
	     EVP_EncryptFinal_ex(ctx, ct + len, &len) == 1 &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1;
	EVP_CIPHER_CTX_free(ctx);
	if (ok) {
		buf_put(out, hdr, sizeof(hdr));
		buf_put(out, ct, n);
		buf_put(out, tag, sizeof(tag));
	}
	free(ct);
	return ok ? 0 : -EIO;
}

static bool
try_open(const uint8_t *key, size_t klen, const char *label,
    const uint8_t *p, size_t n, uint8_t *pt)
{
	EVP_CIPHER_CTX *ctx;
	size_t ctlen = n - CRYPT_OVERHEAD;
	int len, ok;

	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		return false;
	ok = EVP_DecryptInit_ex(ctx, cipher(klen), NULL, key, p + 1) == 1 &&
	     EVP_DecryptUpdate(ctx, NULL, &len, p, 1) == 1 &&
	     EVP_DecryptUpdate(ctx, NULL, &len, (const uint8_t *)label,
		 (int)strlen(label)) == 1 &&
	     EVP_DecryptUpdate(ctx, pt, &len, p + 13, (int)ctlen) == 1 &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16,
		 (void *)(p + n - 16)) == 1 &&
	     EVP_DecryptFinal_ex(ctx, pt + len, &len) == 1;
	EVP_CIPHER_CTX_free(ctx);
	return ok;
}

int
crypt_open(const struct keyring *k, const char *label, const void *p,
    size_t n, struct buf *out)
{
	const uint8_t *b = p;
	uint8_t *pt;
	size_t i;

	if (n < CRYPT_OVERHEAD || b[0] != 1 || n > (1u << 30))
		return -EBADMSG;
	pt = xmalloc(n - CRYPT_OVERHEAD + 16);
	for (i = 0; i < k->n; i++) {
		if (try_open(k->key[i], k->len[i], label, b, n, pt)) {
			buf_put(out, pt, n - CRYPT_OVERHEAD);
			free(pt);
			return 0;
		}
	}
	free(pt);
	return -EBADMSG;
}
