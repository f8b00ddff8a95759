/* snapfile.c - the snapshot archive: gzip (zlib) around a ustar tar of
 * meta.json, state.bin and SHA256SUMS (OpenSSL's SHA-256). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "json.h"
#include "snapfile.h"
#include "xmalloc.h"

#define TAR_BLOCK 512
#define IO_CHUNK 65536

/* ------------------------------------------------------------- writer */

struct gzw {
	z_stream z;
	int fd;
	uint64_t total; /* compressed bytes written */
	uint8_t out[IO_CHUNK];
};

static int
write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* gz_put - compress n bytes (finish: and end the stream) */
static int
gz_put(struct gzw *g, const void *p, size_t n, bool finish,
    struct errbuf *eb)
{
	int zr, r;

	g->z.next_in = (Bytef *)(uintptr_t)p;
	g->z.avail_in = (uInt)n;
	do {
		g->z.next_out = g->out;
		g->z.avail_out = sizeof(g->out);
		zr = deflate(&g->z, finish ? Z_FINISH : Z_NO_FLUSH);
		if (zr == Z_STREAM_ERROR)
			return errbuf_set(eb, -EIO, "snapshot: deflate failed");
		if ((r = write_all(g->fd, g->out,
			 sizeof(g->out) - g->z.avail_out)) < 0)
			return errbuf_set(eb, r, "snapshot: writing: %s",
			    strerror(-r));
		g->total += sizeof(g->out) - g->z.avail_out;
	} while (g->z.avail_out == 0 || (finish && zr != Z_STREAM_END));
	return 0;
}

static void
octal(char *dst, size_t width, uint64_t v)
{
	/* width-1 digits and a NUL, as ustar writes them */
	snprintf(dst, width, "%0*" PRIo64, (int)width - 1, v);
}

static int
tar_header(struct gzw *g, const char *name, uint64_t size, uint64_t mtime,
    struct errbuf *eb)
{
	uint8_t h[TAR_BLOCK];
	unsigned sum = 0;
	size_t i;

	memset(h, 0, sizeof(h));
	memcpy(h, name, strlen(name));	     /* name[100] */
	octal((char *)h + 100, 8, 0600);     /* mode */
	octal((char *)h + 108, 8, 0);	     /* uid */
	octal((char *)h + 116, 8, 0);	     /* gid */
	octal((char *)h + 124, 12, size);    /* size (< 8 GiB) */
	octal((char *)h + 136, 12, mtime);   /* mtime */
	memset(h + 148, ' ', 8);	     /* chksum, counted as spaces */
	h[156] = '0';			     /* regular file */
	memcpy(h + 257, "ustar", 6);	     /* magic */
	memcpy(h + 263, "00", 2);	     /* version */
	for (i = 0; i < sizeof(h); i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	h[155] = ' ';
	return gz_put(g, h, sizeof(h), false, eb);
}

static int
tar_pad(struct gzw *g, uint64_t size, struct errbuf *eb)
{
	static const uint8_t zero[TAR_BLOCK];
	size_t pad = (size_t)((TAR_BLOCK - size % TAR_BLOCK) % TAR_BLOCK);

	return pad ? gz_put(g, zero, pad, false, eb) : 0;
}

static void
hex(char *out, const uint8_t *p, size_t n)
{
	static const char d[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = d[p[i] >> 4];
		out[2 * i + 1] = d[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static int
sha256(const void *p, size_t n, uint8_t out[32])
{
	unsigned len = 32;

	return EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) == 1 ? 0 : -EIO;
}

int
snapfile_write(int out_fd, int state_fd, struct snap_meta *m,
    uint64_t *out_size, struct errbuf *eb)
{
	struct gzw *g = xcalloc(1, sizeof(*g));
	EVP_MD_CTX *ctx = NULL;
	uint8_t *chunk = NULL, meta_sha[32], state_sha[32];
	char meta_hex[65], state_hex[65], sums[256];
	struct timeval tv;
	struct jw w;
	char *meta = NULL;
	size_t meta_len = 0;
	uint64_t size;
	off_t end;
	unsigned len = 32;
	int r = 0;

	if ((end = lseek(state_fd, 0, SEEK_END)) < 0 ||
	    lseek(state_fd, 0, SEEK_SET) < 0) {
		r = errbuf_set(eb, -errno, "snapshot: %s", strerror(errno));
		goto out;
	}
	size = (uint64_t)end;
	if (size >= (1ull << 33)) {
		r = errbuf_set(eb, -EFBIG, "snapshot: state of %" PRIu64
		    " bytes is over the archive's 8 GiB", size);
		goto out;
	}
	gettimeofday(&tv, NULL);
	m->version = SNAP_VERSION;
	m->size = size;
	if (m->id[0] == '\0')
		snprintf(m->id, sizeof(m->id), "%" PRIu64 "-%" PRIu64 "-%llu",
		    m->term, m->index,
		    (unsigned long long)tv.tv_sec * 1000 +
			(unsigned long long)tv.tv_usec / 1000);
	jw_init(&w, false);
	jw_obj_open(&w);
	jw_key(&w, "Version");
	jw_uint(&w, m->version);
	jw_key(&w, "ID");
	jw_str(&w, m->id);
	jw_key(&w, "Index");
	jw_uint(&w, m->index);
	jw_key(&w, "Term");
	jw_uint(&w, m->term);
	jw_key(&w, "Size");
	jw_uint(&w, m->size);
	jw_key(&w, "Datacenter");
	jw_str(&w, m->datacenter);
	jw_obj_close(&w);
	if ((meta = jw_finish(&w, &meta_len)) == NULL ||
	    sha256(meta, meta_len, meta_sha) < 0) {
		r = errbuf_set(eb, -EIO, "snapshot: encoding meta.json");
		goto out;
	}
	g->fd = out_fd;
	if (deflateInit2(&g->z, 6, Z_DEFLATED, 15 + 16, 8,
		Z_DEFAULT_STRATEGY) != Z_OK) {
		r = errbuf_set(eb, -ENOMEM, "snapshot: deflateInit failed");
		goto out_nodeflate;
	}
	if ((r = tar_header(g, "meta.json", meta_len, (uint64_t)tv.tv_sec,
		 eb)) < 0 ||
	    (r = gz_put(g, meta, meta_len, false, eb)) < 0 ||
	    (r = tar_pad(g, meta_len, eb)) < 0 ||
	    (r = tar_header(g, "state.bin", size, (uint64_t)tv.tv_sec, eb)) <
		0)
		goto out;
	ctx = EVP_MD_CTX_new();
	chunk = xmalloc(IO_CHUNK);
	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		r = errbuf_set(eb, -ENOMEM, "snapshot: SHA-256");
		goto out;
	}
	for (uint64_t done = 0; done < size;) {
		size_t want = size - done < IO_CHUNK ? (size_t)(size - done)
						     : IO_CHUNK;
		ssize_t k = read(state_fd, chunk, want);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			r = errbuf_set(eb, k < 0 ? -errno : -EIO,
			    "snapshot: reading the state: %s",
			    k < 0 ? strerror(errno) : "it shrank");
			goto out;
		}
		EVP_DigestUpdate(ctx, chunk, (size_t)k);
		if ((r = gz_put(g, chunk, (size_t)k, false, eb)) < 0)
			goto out;
		done += (uint64_t)k;
	}
	EVP_DigestFinal_ex(ctx, state_sha, &len);
	hex(meta_hex, meta_sha, 32);
	hex(state_hex, state_sha, 32);
	snprintf(sums, sizeof(sums), "%s  meta.json\n%s  state.bin\n",
	    meta_hex, state_hex);
	if ((r = tar_pad(g, size, eb)) < 0 ||
	    (r = tar_header(g, "SHA256SUMS", strlen(sums),
		 (uint64_t)tv.tv_sec, eb)) < 0 ||
	    (r = gz_put(g, sums, strlen(sums), false, eb)) < 0 ||
	    (r = tar_pad(g, strlen(sums), eb)) < 0)
		goto out;
	{
		static const uint8_t zero[2 * TAR_BLOCK];

		if ((r = gz_put(g, zero, sizeof(zero), true, eb)) < 0)
			goto out;
	}
	if (out_size != NULL)
		*out_size = g->total;
out:
	deflateEnd(&g->z);
out_nodeflate:
	EVP_MD_CTX_free(ctx);
	free(chunk);
	free(meta);
	free(g);
	return r;
}

/* ------------------------------------------------------------- reader */

struct snap_reader {
	z_stream z;
	bool zinit, zend;
	uint64_t rem;  /* bytes left of the current member */
	uint64_t pad;  /* then its padding */
	unsigned members;
	bool at_end;
	uint8_t scratch[IO_CHUNK];
};

int
snapr_open(struct snap_reader **out, const void *p, size_t n)
{
	struct snap_reader *r = xcalloc(1, sizeof(*r));

	r->z.next_in = (Bytef *)(uintptr_t)p;
	r->z.avail_in = n > UINT32_MAX ? UINT32_MAX : (uInt)n;
	if (n > UINT32_MAX) {
		free(r);
		return -EFBIG;
	}
	if (inflateInit2(&r->z, 15 + 16) != Z_OK) {
		free(r);
		return -ENOMEM;
	}
	r->zinit = true;
	*out = r;
	return 0;
}

void
snapr_close(struct snap_reader *r)
{
	if (r == NULL)
		return;
	if (r->zinit)
		inflateEnd(&r->z);
	free(r);
}

/* raw - inflate exactly n bytes into buf (the tar stream): 0, or -EBADMSG
 * when the gzip stream is damaged or ends first */
static int
raw(struct snap_reader *r, void *buf, size_t n, struct errbuf *eb)
{
	int zr;

	r->z.next_out = buf;
	r->z.avail_out = (uInt)n;
	while (r->z.avail_out > 0) {
		if (r->zend)
			return errbuf_set(eb, -EBADMSG,
			    "snapshot archive is truncated");
		zr = inflate(&r->z, Z_NO_FLUSH);
		if (zr == Z_STREAM_END) {
			r->zend = true;
			continue;
		}
		if (zr == Z_BUF_ERROR && r->z.avail_in == 0)
			return errbuf_set(eb, -EBADMSG,
			    "snapshot archive is truncated");
		if (zr != Z_OK)
			return errbuf_set(eb, -EBADMSG,
			    "snapshot archive is not valid gzip: %s",
			    r->z.msg ? r->z.msg : "inflate failed");
	}
	return 0;
}

static int
skip(struct snap_reader *r, uint64_t n, struct errbuf *eb)
{
	while (n > 0) {
		size_t k = n < sizeof(r->scratch) ? (size_t)n
						  : sizeof(r->scratch);
		int e = raw(r, r->scratch, k, eb);

		if (e < 0)
			return e;
		n -= k;
	}
	return 0;
}

/* tar_num - a header number field: octal digits (spaces/NULs around), or
 * GNU base-256 (high bit of the first byte) */
static int
tar_num(const uint8_t *f, size_t w, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;

	if (f[0] & 0x80) {
		if (f[0] != 0x80)
			return -1; /* negative or > 2^63 */
		for (i = 1; i < w; i++) {
			if (v >> 56)
				return -1;
			v = v << 8 | f[i];
		}
		*out = v;
		return 0;
	}
	while (i < w && (f[i] == ' ' || f[i] == '\0'))
		i++;
	if (i == w)
		return -1;
	for (; i < w && f[i] >= '0' && f[i] <= '7'; i++) {
		if (v >> 60)
			return -1;
		v = v * 8 + (uint64_t)(f[i] - '0');
	}
	for (; i < w; i++)
		if (f[i] != ' ' && f[i] != '\0')
			return -1;
	*out = v;
	return 0;
}

int
snapr_next(struct snap_reader *r, char *name, size_t namelen,
    uint64_t *size, struct errbuf *eb)
{
	uint8_t h[TAR_BLOCK];
	uint64_t sz, want;
	unsigned sum = 0;
	size_t i, nl, pl;
	int e;

	for (;;) {
		if (r->at_end)
			return 0;
		if ((e = skip(r, r->rem + r->pad, eb)) < 0)
			return e;
		r->rem = r->pad = 0;
		if ((e = raw(r, h, sizeof(h), eb)) < 0)
			return e;
		for (i = 0; i < sizeof(h) && h[i] == 0; i++)
			;
		if (i == sizeof(h)) {
			/* the end-of-archive block: the rest must be zeros
			 * up to gzip's end, whose CRC and length inflate
			 * checks there, with nothing after it */
			r->at_end = true;
			while (!r->zend) {
				r->z.next_out = r->scratch;
				r->z.avail_out = sizeof(r->scratch);
				e = inflate(&r->z, Z_NO_FLUSH);
				if (e == Z_STREAM_END)
					r->zend = true;
				else if (e != Z_OK)
					return errbuf_set(eb, -EBADMSG,
					    "snapshot archive is truncated or "
					    "not valid gzip at its end");
				for (i = 0; i < sizeof(r->scratch) -
						    r->z.avail_out;
				     i++)
					if (r->scratch[i] != 0)
						return errbuf_set(eb, -EBADMSG,
						    "snapshot archive: data "
						    "after its end");
			}
			if (r->z.avail_in != 0)
				return errbuf_set(eb, -EBADMSG,
				    "snapshot archive: data after its end");
			return 0;
		}
		if (++r->members > SNAP_MAX_ENTRIES)
			return errbuf_set(eb, -EBADMSG,
			    "snapshot archive has more than %d members",
			    SNAP_MAX_ENTRIES);
		for (i = 0; i < sizeof(h); i++)
			sum += (i >= 148 && i < 156) ? ' ' : h[i];
		if (tar_num(h + 148, 8, &want) < 0 || want != sum)
			return errbuf_set(eb, -EBADMSG,
			    "snapshot archive: damaged tar header");
		if (tar_num(h + 124, 12, &sz) < 0 || sz > (1ull << 62))
			return errbuf_set(eb, -EBADMSG,
			    "snapshot archive: bad member size");
		r->rem = sz;
		r->pad = (TAR_BLOCK - sz % TAR_BLOCK) % TAR_BLOCK;
		sum = 0;
		if (h[156] != '0' && h[156] != '\0')
			continue; /* directories, pax headers: skipped */
		/* ustar: prefix "/" name */
		nl = strnlen((char *)h, 100);
		pl = memcmp(h + 257, "ustar", 5) == 0
			 ? strnlen((char *)h + 345, 155)
			 : 0;
		if (nl + pl + 2 > namelen)
			return errbuf_set(eb, -EBADMSG,
			    "snapshot archive: member name too long");
		if (pl > 0) {
			memcpy(name, h + 345, pl);
			name[pl] = '/';
			memcpy(name + pl + 1, h, nl);
			name[pl + 1 + nl] = '\0';
		} else {
			memcpy(name, h, nl);
			name[nl] = '\0';
		}
		*size = sz;
		return 1;
	}
}

ssize_t
snapr_read(struct snap_reader *r, void *buf, size_t n, struct errbuf *eb)
{
	int e;

	if (n > r->rem)
		n = (size_t)r->rem;
	if (n > IO_CHUNK * 16)
		n = IO_CHUNK * 16;
	if (n == 0)
		return 0;
	if ((e = raw(r, buf, n, eb)) < 0)
		return e;
	r->rem -= n;
	return (ssize_t)n;
}

/* ------------------------------------------------------------- verify */

static bool
get_u64(yajl_val o, const char *k, uint64_t *out)
{
	yajl_val v = json_obj_get(o, k);

	if (v == NULL || !YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < 0)
		return false;
	*out = (uint64_t)YAJL_GET_INTEGER(v);
	return true;
}

int
snapfile_meta_parse(const char *p, size_t n, struct snap_meta *m,
    struct errbuf *eb)
{
	struct errbuf peb;
	yajl_val t = json_parse(p, n, &peb), v;
	const char *id;
	int r = 0;

	memset(m, 0, sizeof(*m));
	if (t == NULL)
		return errbuf_set(eb, -EBADMSG, "snapshot meta.json: %s",
		    peb.msg);
	if (!YAJL_IS_OBJECT(t) || !get_u64(t, "Version", &m->version) ||
	    !get_u64(t, "Index", &m->index) ||
	    !get_u64(t, "Term", &m->term) || !get_u64(t, "Size", &m->size) ||
	    (v = json_obj_get(t, "ID")) == NULL || !YAJL_IS_STRING(v) ||
	    (id = YAJL_GET_STRING(v)) == NULL || strlen(id) >= sizeof(m->id)) {
		r = errbuf_set(eb, -EBADMSG,
		    "snapshot meta.json: Version, ID, Index, Term and Size are "
		    "required");
		goto out;
	}
	snprintf(m->id, sizeof(m->id), "%s", id);
	if ((v = json_obj_get(t, "Datacenter")) != NULL && YAJL_IS_STRING(v))
		snprintf(m->datacenter, sizeof(m->datacenter), "%s",
		    YAJL_GET_STRING(v));
	if (m->version != SNAP_VERSION)
		r = errbuf_set(eb, -EBADMSG,
		    "snapshot version %" PRIu64 " is not supported (only %d)",
		    m->version, SNAP_VERSION);
out:
	yajl_tree_free(t);
	return r;
}

/* sums_find - the hex digest SHA256SUMS lists for name, or false */
static bool
sums_find(const char *sums, const char *name, char hexout[65])
{
	const char *line = sums;

	while (*line) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);

		/* "<64 hex>  <name>" (or " *<name>", binary mode) */
		if (len > 66 && line[64] == ' ' &&
		    (line[65] == ' ' || line[65] == '*') &&
		    len - 66 == strlen(name) &&
		    memcmp(line + 66, name, len - 66) == 0) {
			size_t i;

			for (i = 0; i < 64; i++) {
				char ch = line[i];

				if (ch >= 'A' && ch <= 'F')
					ch = (char)(ch - 'A' + 'a');
				if (!((ch >= '0' && ch <= '9') ||
					(ch >= 'a' && ch <= 'f')))
					return false;
				hexout[i] = ch;
			}
			hexout[64] = '\0';
			return true;
		}
		line += len + (nl ? 1 : 0);
	}
	return false;
}

int
snapfile_verify(const void *p, size_t n, struct snap_meta *m,
    uint8_t state_sha[32], struct errbuf *eb)
{
	struct snap_reader *r = NULL;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t meta_sha[32], st_sha[32], *buf = NULL;
	char name[256], *meta = NULL, *sums = NULL, want[65], got[65];
	bool have_state = false;
	uint64_t size, state_len = 0, meta_len = 0;
	unsigned len = 32;
	ssize_t k;
	int e;

	memset(m, 0, sizeof(*m));
	if (ctx == NULL || snapr_open(&r, p, n) < 0) {
		e = errbuf_set(eb, -EBADMSG, "snapshot archive too large");
		goto out;
	}
	buf = xmalloc(IO_CHUNK);
	while ((e = snapr_next(r, name, sizeof(name), &size, eb)) == 1) {
		char **small = strcmp(name, "meta.json") == 0	 ? &meta
			       : strcmp(name, "SHA256SUMS") == 0 ? &sums
								 : NULL;

		if (small != NULL) {
			if (*small != NULL || size > SNAP_META_MAX) {
				e = errbuf_set(eb, -EBADMSG,
				    "snapshot archive: %s repeated or too "
				    "large", name);
				goto out;
			}
			*small = xmalloc((size_t)size + 1);
			if ((k = snapr_read(r, *small, (size_t)size, eb)) < 0 ||
			    (uint64_t)k != size) {
				e = k < 0 ? (int)k : -EBADMSG;
				goto out;
			}
			(*small)[size] = '\0';
			if (small == &meta)
				meta_len = size;
		} else if (strcmp(name, "state.bin") == 0) {
			if (have_state) {
				e = errbuf_set(eb, -EBADMSG,
				    "snapshot archive: state.bin repeated");
				goto out;
			}
			have_state = true;
			EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
			while ((k = snapr_read(r, buf, IO_CHUNK, eb)) > 0) {
				EVP_DigestUpdate(ctx, buf, (size_t)k);
				state_len += (uint64_t)k;
			}
			if (k < 0) {
				e = (int)k;
				goto out;
			}
			EVP_DigestFinal_ex(ctx, st_sha, &len);
		}
	}
	if (e < 0)
		goto out;
	if (meta == NULL || !have_state || sums == NULL) {
		e = errbuf_set(eb, -EBADMSG,
		    "snapshot archive lacks %s", meta == NULL ? "meta.json"
					       : !have_state ? "state.bin"
							     : "SHA256SUMS");
		goto out;
	}
	if ((e = snapfile_meta_parse(meta, (size_t)meta_len, m, eb)) < 0)
		goto out;
	if (sha256(meta, (size_t)meta_len, meta_sha) < 0) {
		e = errbuf_set(eb, -EIO, "SHA-256 failed");
		goto out;
	}
	/* meta.json's digest is over its bytes as stored */
	hex(got, meta_sha, 32);
	if (!sums_find(sums, "meta.json", want) || strcmp(want, got) != 0) {
		e = errbuf_set(eb, -EBADMSG,
		    "snapshot archive: meta.json does not match SHA256SUMS");
		goto out;
	}
	hex(got, st_sha, 32);
	if (!sums_find(sums, "state.bin", want) || strcmp(want, got) != 0) {
		e = errbuf_set(eb, -EBADMSG,
		    "snapshot archive: state.bin does not match SHA256SUMS "
		    "(corrupted)");
		goto out;
	}
	if (state_len != m->size) {
		e = errbuf_set(eb, -EBADMSG,
		    "snapshot archive: state.bin has %" PRIu64
		    " bytes, meta.json says %" PRIu64, state_len, m->size);
		goto out;
	}
	if (state_sha != NULL)
		memcpy(state_sha, st_sha, 32);
	e = 0;
out:
	snapr_close(r);
	EVP_MD_CTX_free(ctx);
	free(buf);
	free(meta);
	free(sums);
	return e;
}
