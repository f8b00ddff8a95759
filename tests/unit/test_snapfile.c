/* test_snapfile.c - the snapshot archive (common/snapfile.c): written and
 * read back whole; every damage a file can suffer (truncation, a flipped
 * byte, a state that does not match its SHA256SUMS, a wrong size, a
 * missing member, a bad tar header, not gzip at all) is an error with a
 * message, never a crash or an accepted archive. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include "buf.h"
#include "snapfile.h"

/* make_archive - an archive of a state of n pseudo-random bytes */
static void
make_archive(size_t n, struct buf *out, struct snap_meta *m)
{
	char sp[] = "/tmp/cairn-snapf.XXXXXX", ap[] = "/tmp/cairn-snapa.XXXXXX";
	int sfd = mkstemp(sp), afd = mkstemp(ap);
	struct errbuf eb;
	uint64_t size = 0;
	uint32_t x = 12345;
	uint8_t *data = malloc(n ? n : 1);
	char chunk[65536];
	ssize_t k;
	size_t i;

	assert_true(sfd >= 0 && afd >= 0);
	for (i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		/* half compressible, half not */
		data[i] = (uint8_t)(i % 4096 < 2048 ? i : x >> 16);
	}
	assert_int_equal(write(sfd, data, n), (ssize_t)n);
	free(data);
	memset(m, 0, sizeof(*m));
	m->index = 42;
	m->term = 3;
	snprintf(m->datacenter, sizeof(m->datacenter), "dc7");
	assert_int_equal(snapfile_write(afd, sfd, m, &size, &eb), 0);
	lseek(afd, 0, SEEK_SET);
	buf_reset(out);
	while ((k = read(afd, chunk, sizeof(chunk))) > 0)
		buf_put(out, chunk, (size_t)k);
	assert_int_equal(out->len, size);
	close(sfd);
	close(afd);
	unlink(sp);
	unlink(ap);
}

/* gunzip / regzip - the tar inside, and a tar gzipped again */
static void
gunzip(const struct buf *in, struct buf *out)
{
	z_stream z;
	uint8_t o[65536];
	int r;

	memset(&z, 0, sizeof(z));
	assert_int_equal(inflateInit2(&z, 31), Z_OK);
	z.next_in = in->data;
	z.avail_in = (uInt)in->len;
	do {
		z.next_out = o;
		z.avail_out = sizeof(o);
		r = inflate(&z, Z_NO_FLUSH);
		assert_true(r == Z_OK || r == Z_STREAM_END);
		buf_put(out, o, sizeof(o) - z.avail_out);
	} while (r != Z_STREAM_END);
	inflateEnd(&z);
}

static void
regzip(const struct buf *tar, struct buf *out)
{
	z_stream z;
	uint8_t o[65536];
	int r;

	memset(&z, 0, sizeof(z));
	assert_int_equal(deflateInit2(&z, 1, Z_DEFLATED, 31, 8,
			     Z_DEFAULT_STRATEGY),
	    Z_OK);
	z.next_in = tar->data;
	z.avail_in = (uInt)tar->len;
	buf_reset(out);
	do {
		z.next_out = o;
		z.avail_out = sizeof(o);
		r = deflate(&z, Z_FINISH);
		buf_put(out, o, sizeof(o) - z.avail_out);
	} while (r != Z_STREAM_END);
	deflateEnd(&z);
}

static void
expect_bad(const struct buf *b, const char *needle)
{
	struct snap_meta m;
	struct errbuf eb;

	eb.msg[0] = '\0';
	assert_int_equal(snapfile_verify(b->data, b->len, &m, NULL, &eb),
	    -EBADMSG);
	if (needle != NULL && strstr(eb.msg, needle) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", eb.msg, needle);
}

static void
test_roundtrip(void **state)
{
	struct buf a = BUF_INIT;
	struct snap_meta w, r;
	struct snap_reader *rd;
	struct errbuf eb;
	uint8_t sha[32], buf[1000];
	char name[256];
	uint64_t size, got = 0;
	ssize_t k;
	int n = 0;

	(void)state;
	make_archive(300000, &a, &w);
	assert_int_equal(snapfile_verify(a.data, a.len, &r, sha, &eb), 0);
	assert_string_equal(r.id, w.id);
	assert_int_equal(r.index, 42);
	assert_int_equal(r.term, 3);
	assert_int_equal(r.size, 300000);
	assert_int_equal(r.version, SNAP_VERSION);
	assert_string_equal(r.datacenter, "dc7");
	assert_non_null(strstr(r.id, "3-42-"));
	/* the members in order, state.bin read in small pieces */
	assert_int_equal(snapr_open(&rd, a.data, a.len), 0);
	while (snapr_next(rd, name, sizeof(name), &size, &eb) == 1) {
		n++;
		if (strcmp(name, "state.bin") != 0)
			continue;
		assert_int_equal(size, 300000);
		while ((k = snapr_read(rd, buf, sizeof(buf), &eb)) > 0)
			got += (uint64_t)k;
		assert_int_equal(k, 0);
	}
	assert_int_equal(n, 3);
	assert_int_equal(got, 300000);
	snapr_close(rd);
	buf_free(&a);
}

static void
test_empty_state_and_given_id(void **state)
{
	struct buf a = BUF_INIT;
	struct snap_meta w, r;
	struct errbuf eb;

	(void)state;
	make_archive(0, &a, &w);
	assert_int_equal(snapfile_verify(a.data, a.len, &r, NULL, &eb), 0);
	assert_int_equal(r.size, 0);
	buf_free(&a);
}

static void
test_truncated_everywhere(void **state)
{
	struct buf a = BUF_INIT, t = BUF_INIT;
	struct snap_meta w;
	size_t cut;

	(void)state;
	make_archive(20000, &a, &w);
	for (cut = 0; cut < a.len; cut += 1 + cut / 7) {
		buf_reset(&t);
		buf_put(&t, a.data, cut);
		expect_bad(&t, NULL);
	}
	buf_free(&a);
	buf_free(&t);
}

static void
test_flipped_bytes(void **state)
{
	struct buf a = BUF_INIT, t = BUF_INIT;
	struct snap_meta w, m;
	struct errbuf eb;
	uint8_t sha[32], sha2[32];
	size_t i;

	(void)state;
	make_archive(20000, &a, &w);
	assert_int_equal(snapfile_verify(a.data, a.len, &m, sha, &eb), 0);
	/* gzip's CRC32 or the SHA-256 catches every single flip past the
	 * header's free fields (mtime, xfl, os: bytes 4-9) */
	for (i = 10; i < a.len; i += 3) {
		buf_reset(&t);
		buf_put(&t, a.data, a.len);
		t.data[i] ^= 0x20;
		/* accepted only if the content did not change (a flip
		 * in the padding bits after deflate's last block) */
		if (snapfile_verify(t.data, t.len, &m, sha2, &eb) == 0 &&
		    (memcmp(sha, sha2, 32) != 0 || strcmp(m.id, w.id) != 0))
			fail_msg("flip at %zu of %zu accepted", i, t.len);
	}
	buf_free(&a);
	buf_free(&t);
}

/* find - offset of the tar header of member name in tar */
static size_t
find_member(const struct buf *tar, const char *name)
{
	size_t off;

	for (off = 0; off + 512 <= tar->len; off += 512)
		if (strcmp((const char *)tar->data + off, name) == 0 &&
		    memcmp(tar->data + off + 257, "ustar", 5) == 0)
			return off;
	fail_msg("no member %s", name);
	return 0;
}

static void
test_content_does_not_match(void **state)
{
	struct buf a = BUF_INIT, tar = BUF_INIT, t = BUF_INIT, z = BUF_INIT;
	struct snap_meta w;
	size_t off;

	(void)state;
	make_archive(5000, &a, &w);
	gunzip(&a, &tar);

	/* a state byte changed inside a valid gzip: SHA256SUMS catches it */
	buf_put(&t, tar.data, tar.len);
	off = find_member(&t, "state.bin");
	t.data[off + 512 + 100] ^= 1;
	regzip(&t, &z);
	expect_bad(&z, "state.bin does not match");

	/* meta.json changed: its sum does not match either */
	buf_reset(&t);
	buf_put(&t, tar.data, tar.len);
	off = find_member(&t, "meta.json");
	t.data[off + 512 + 2] = 'W'; /* "Version" -> "WVersion"-ish */
	regzip(&t, &z);
	expect_bad(&z, NULL);

	/* a damaged tar header checksum */
	buf_reset(&t);
	buf_put(&t, tar.data, tar.len);
	off = find_member(&t, "SHA256SUMS");
	t.data[off + 3] ^= 1;
	regzip(&t, &z);
	expect_bad(&z, "damaged tar header");

	/* SHA256SUMS renamed away: it is missing */
	buf_reset(&t);
	buf_put(&t, tar.data, tar.len);
	off = find_member(&t, "SHA256SUMS");
	memset(t.data + off + 512, 'x', 10); /* its content garbled */
	regzip(&t, &z);
	expect_bad(&z, NULL);

	/* only the end-of-archive blocks */
	buf_reset(&t);
	buf_put(&t, tar.data + tar.len - 1024, 1024);
	regzip(&t, &z);
	expect_bad(&z, "lacks meta.json");

	/* not gzip at all */
	buf_reset(&t);
	buf_put(&t, "hello, this is plainly not a snapshot", 37);
	expect_bad(&t, "not valid gzip");

	buf_free(&a);
	buf_free(&tar);
	buf_free(&t);
	buf_free(&z);
}

static void
test_meta_parse(void **state)
{
	struct snap_meta m;
	struct errbuf eb;
	const char *ok = "{\"Version\":1,\"ID\":\"2-5-1\",\"Index\":5,"
			 "\"Term\":2,\"Size\":10}";

	(void)state;
	assert_int_equal(snapfile_meta_parse(ok, strlen(ok), &m, &eb), 0);
	assert_int_equal(m.index, 5);
	assert_int_equal(m.datacenter[0], '\0');
	assert_int_equal(snapfile_meta_parse("[]", 2, &m, &eb), -EBADMSG);
	assert_int_equal(snapfile_meta_parse("{", 1, &m, &eb), -EBADMSG);
	{
		const char *v2 = "{\"Version\":2,\"ID\":\"x\",\"Index\":1,"
				 "\"Term\":1,\"Size\":1}";
		const char *neg = "{\"Version\":1,\"ID\":\"x\",\"Index\":-1,"
				  "\"Term\":1,\"Size\":1}";

		assert_int_equal(snapfile_meta_parse(v2, strlen(v2), &m, &eb),
		    -EBADMSG);
		assert_non_null(strstr(eb.msg, "version 2"));
		assert_int_equal(snapfile_meta_parse(neg, strlen(neg), &m,
				     &eb),
		    -EBADMSG);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_empty_state_and_given_id),
	    cmocka_unit_test(test_truncated_everywhere),
	    cmocka_unit_test(test_flipped_bytes),
	    cmocka_unit_test(test_content_does_not_match),
	    cmocka_unit_test(test_meta_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
