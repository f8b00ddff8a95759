/* test_vivaldi.c - network coordinates: members placed at known RTTs
 * learn coordinates whose distances predict those RTTs; bad input is
 * ignored; the wire form round-trips and refuses garbage. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vivaldi.h"

static uint64_t seed = 88172645463325252ull;

static double
urand(void *arg)
{
	(void)arg;
	seed ^= seed << 13;
	seed ^= seed >> 7;
	seed ^= seed << 17;
	return (double)(seed >> 11) / 9007199254740992.0;
}

#define N 8

/* true RTT between nodes on a line, 10 ms apart, plus 1 ms of access
 * latency each */
static double
truth(int a, int b)
{
	return (a == b) ? 0 : 0.002 + 0.010 * fabs((double)(a - b));
}

static void
test_converges(void **state)
{
	struct viv_client c[N];
	int round, i, j;
	double worst = 0;

	(void)state;
	for (i = 0; i < N; i++)
		viv_init(&c[i]);
	for (round = 0; round < 2000; round++) {
		i = (int)(urand(NULL) * N);
		j = (int)(urand(NULL) * N);
		if (i == j)
			continue;
		viv_update(&c[i], &c[j].c, truth(i, j), urand, NULL);
	}
	for (i = 0; i < N; i++)
		for (j = 0; j < N; j++) {
			double est, rel;

			if (i == j)
				continue;
			est = viv_distance(&c[i].c, &c[j].c);
			rel = fabs(est - truth(i, j)) / truth(i, j);
			if (rel > worst)
				worst = rel;
		}
	/* within 25% for every pair; the error estimate has come down */
	assert_true(worst < 0.25);
	assert_true(c[0].c.error < 1.0);
}

static void
test_bad_input_ignored(void **state)
{
	struct viv_client a, b;
	struct viv_coord before;

	(void)state;
	viv_init(&a);
	viv_init(&b);
	before = a.c;
	assert_int_equal(viv_update(&a, &b.c, -1.0, urand, NULL), -1);
	assert_int_equal(viv_update(&a, &b.c, 100.0, urand, NULL), -1);
	b.c.vec[3] = NAN;
	assert_int_equal(viv_update(&a, &b.c, 0.01, urand, NULL), -1);
	assert_memory_equal(&a.c, &before, sizeof(before));
}

static void
test_wire(void **state)
{
	struct viv_client a, b;
	struct viv_coord d;
	uint8_t w[VIV_WIRE_LEN];

	(void)state;
	viv_init(&a);
	viv_init(&b);
	viv_update(&a, &b.c, 0.02, urand, NULL);
	viv_encode(&a.c, w);
	assert_int_equal(viv_decode(w, sizeof(w), &d), 0);
	assert_memory_equal(&d, &a.c, sizeof(d));
	assert_int_equal(viv_decode(w, sizeof(w) - 1, &d), -1);
	memset(w, 0xff, sizeof(w)); /* NaNs */
	assert_int_equal(viv_decode(w, sizeof(w), &d), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_converges),
	    cmocka_unit_test(test_bad_input_ignored),
	    cmocka_unit_test(test_wire),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
