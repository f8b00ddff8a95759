/* test_crypt.c - gossipd's keyring and packet sealing: key sizes, install
 * / use / remove rules, seal and open with every installed key, wrong
 * keys, wrong pool label, tampering, save and load. */
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

#include "../../gossipd/crypt.h"

#define K16 "MTIzNDU2Nzg5MDEyMzQ1Ng=="
#define K24 "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0"
#define K32 "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI="
#define K32B "YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXphYmNkZWY="

static void
test_keys(void **state)
{
	struct keyring k;
	struct errbuf eb;

	(void)state;
	memset(&k, 0, sizeof(k));
	assert_int_equal(keyring_install(&k, K16, &eb), 0);
	assert_int_equal(keyring_install(&k, K24, &eb), 0);
	assert_int_equal(keyring_install(&k, K32, &eb), 0);
	assert_int_equal(keyring_install(&k, K32, &eb), 0); /* again: ok */
	assert_int_equal(k.n, 3);
	assert_int_equal(keyring_install(&k, "bm90IGEga2V5", &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "16, 24 or 32"));
	assert_int_equal(keyring_install(&k, "!!!", &eb), -EINVAL);
	assert_int_equal(keyring_remove(&k, K16, &eb), -EBUSY); /* primary */
	assert_int_equal(keyring_use(&k, K32B, &eb), -ENOENT);
	assert_int_equal(keyring_use(&k, K32, &eb), 0);
	assert_int_equal(keyring_remove(&k, K16, &eb), 0);
	assert_int_equal(k.n, 2);
	assert_int_equal(keyring_remove(&k, K16, &eb), -ENOENT);
}

static void
test_seal_open(void **state)
{
	struct keyring a, b, c;
	struct buf sealed = BUF_INIT, out = BUF_INIT;
	struct errbuf eb;
	const char msg[] = "hello gossip";

	(void)state;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memset(&c, 0, sizeof(c));
	keyring_install(&a, K32, &eb);
	keyring_install(&b, K16, &eb); /* b: primary K16, also knows K32 */
	keyring_install(&b, K32, &eb);
	keyring_install(&c, K32B, &eb);
	assert_int_equal(crypt_seal(&a, "lan", msg, sizeof(msg), &sealed), 0);
	assert_int_equal(sealed.len, sizeof(msg) + CRYPT_OVERHEAD);
	/* any installed key opens it */
	assert_int_equal(crypt_open(&b, "lan", sealed.data, sealed.len, &out),
	    0);
	assert_memory_equal(out.data, msg, sizeof(msg));
	/* a wrong key, another pool, tampering, truncation: refused */
	assert_int_equal(crypt_open(&c, "lan", sealed.data, sealed.len, &out),
	    -EBADMSG);
	assert_int_equal(crypt_open(&a, "wan", sealed.data, sealed.len, &out),
	    -EBADMSG);
	sealed.data[20] ^= 1;
	assert_int_equal(crypt_open(&a, "lan", sealed.data, sealed.len, &out),
	    -EBADMSG);
	assert_int_equal(crypt_open(&a, "lan", sealed.data, 10, &out),
	    -EBADMSG);
	/* two seals of the same text differ (random nonce) */
	buf_reset(&sealed);
	buf_reset(&out);
	crypt_seal(&a, "lan", msg, sizeof(msg), &sealed);
	crypt_seal(&a, "lan", msg, sizeof(msg), &out);
	assert_true(memcmp(sealed.data, out.data, sealed.len) != 0);
	buf_free(&sealed);
	buf_free(&out);
}

static void
test_save_load(void **state)
{
	char dir[] = "/tmp/test_crypt.XXXXXX", path[64];
	struct keyring k, l;
	struct errbuf eb;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/local.keyring", dir);
	memset(&k, 0, sizeof(k));
	memset(&l, 0, sizeof(l));
	assert_int_equal(keyring_load(&l, path, &eb), -ENOENT);
	keyring_install(&k, K32, &eb);
	keyring_install(&k, K16, &eb);
	assert_int_equal(keyring_save(&k, path, &eb), 0);
	assert_int_equal(keyring_load(&l, path, &eb), 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.len[0], 32);
	assert_memory_equal(l.key[1], k.key[1], 16);
	f = fopen(path, "w");
	fputs("[\"nope\"]", f);
	fclose(f);
	assert_int_equal(keyring_load(&l, path, &eb), -EINVAL);
	assert_int_equal(l.n, 2); /* unchanged on error */
	f = fopen(path, "w");
	fputs("{}", f);
	fclose(f);
	assert_int_equal(keyring_load(&l, path, &eb), -EINVAL);
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_keys),
	    cmocka_unit_test(test_seal_open),
	    cmocka_unit_test(test_save_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
