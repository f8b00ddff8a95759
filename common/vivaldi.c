/* vivaldi.c - network coordinates (see vivaldi.h); constants are Serf's
 * defaults. */
#include <math.h>
#include <string.h>

#include "buf.h"
#include "vivaldi.h"

#define ERROR_MAX 1.5
#define CE 0.25
#define CC 0.25
#define HEIGHT_MIN 10.0e-6
#define GRAVITY_RHO 150.0
#define ZERO 1.0e-6
#define RTT_MAX 10.0 /* seconds: Serf ignores longer samples */

void
viv_coord_init(struct viv_coord *c)
{
	memset(c, 0, sizeof(*c));
	c->error = ERROR_MAX;
	c->height = HEIGHT_MIN;
}

void
viv_init(struct viv_client *v)
{
	memset(v, 0, sizeof(*v));
	viv_coord_init(&v->c);
}

static double
mag(const double *x)
{
	double s = 0;
	size_t i;

	for (i = 0; i < VIV_DIM; i++)
		s += x[i] * x[i];
	return sqrt(s);
}

static double
raw_distance(const struct viv_coord *a, const struct viv_coord *b)
{
	double d[VIV_DIM];
	size_t i;

	for (i = 0; i < VIV_DIM; i++)
		d[i] = a->vec[i] - b->vec[i];
	return mag(d) + a->height + b->height;
}

double
viv_distance(const struct viv_coord *a, const struct viv_coord *b)
{
	double dist = raw_distance(a, b);
	double adjusted = dist + a->adjustment + b->adjustment;

	return adjusted > 0.0 ? adjusted : dist;
}

int
viv_valid(const struct viv_coord *c)
{
	size_t i;

	for (i = 0; i < VIV_DIM; i++)
		if (!isfinite(c->vec[i]))
			return 0;
	return isfinite(c->error) && isfinite(c->adjustment) &&
	       isfinite(c->height) && c->error >= 0 && c->height >= 0;
}

/* apply_force - move c by force (seconds) away from other */
static void
apply_force(struct viv_coord *c, double force, const struct viv_coord *other,
    double (*rnd)(void *), void *arg)
{
	double unit[VIV_DIM], m;
	size_t i;

	for (i = 0; i < VIV_DIM; i++)
		unit[i] = c->vec[i] - other->vec[i];
	m = mag(unit);
	if (m > ZERO) {
		for (i = 0; i < VIV_DIM; i++)
			unit[i] /= m;
	} else {
		/* the same place: a random direction */
		for (i = 0; i < VIV_DIM; i++)
			unit[i] = rnd(arg) - 0.5;
		m = mag(unit);
		for (i = 0; i < VIV_DIM; i++)
			unit[i] = m > ZERO ? unit[i] / m : (i == 0);
		m = 0;
	}
	for (i = 0; i < VIV_DIM; i++)
		c->vec[i] += unit[i] * force;
	if (m > ZERO)
		c->height = (c->height + other->height) * force / m + c->height;
	if (c->height < HEIGHT_MIN)
		c->height = HEIGHT_MIN;
}

int
viv_update(struct viv_client *v, const struct viv_coord *other, double rtt,
    double (*rnd)(void *), void *arg)
{
	struct viv_coord *c = &v->c, origin;
	double dist, total, weight, wrongness, force, sum, og;
	size_t i;

	if (!viv_valid(other) || !(rtt > 0) || rtt > RTT_MAX)
		return -1;
	if (rtt < ZERO)
		rtt = ZERO;
	dist = viv_distance(c, other);
	total = c->error + other->error;
	if (total < ZERO)
		total = ZERO;
	weight = c->error / total;
	wrongness = fabs(dist - rtt) / rtt;
	c->error = CE * weight * wrongness + c->error * (1.0 - CE * weight);
	if (c->error > ERROR_MAX)
		c->error = ERROR_MAX;
	force = CC * weight * (rtt - dist);
	apply_force(c, force, other, rnd, arg);
	/* adjustment: the mean error over a window, halved */
	v->adj_samples[v->adj_idx] = rtt - raw_distance(c, other);
	v->adj_idx = (v->adj_idx + 1) % VIV_WINDOW;
	for (sum = 0, i = 0; i < VIV_WINDOW; i++)
		sum += v->adj_samples[i];
	c->adjustment = sum / (2.0 * VIV_WINDOW);
	/* gravity pulls everyone gently towards the origin */
	viv_coord_init(&origin);
	origin.error = 0;
	origin.height = 0;
	og = mag(c->vec) / GRAVITY_RHO;
	apply_force(c, -1.0 * og * og, &origin, rnd, arg);
	if (!viv_valid(c)) {
		viv_init(v); /* numerical trouble: start over */
		return -1;
	}
	return 0;
}

void
viv_encode(const struct viv_coord *c, uint8_t out[VIV_WIRE_LEN])
{
	double d[VIV_DIM + 3];
	size_t i;

	memcpy(d, c->vec, sizeof(c->vec));
	d[VIV_DIM] = c->error;
	d[VIV_DIM + 1] = c->adjustment;
	d[VIV_DIM + 2] = c->height;
	for (i = 0; i < VIV_DIM + 3; i++) {
		uint64_t u;

		memcpy(&u, &d[i], 8);
		be64_set(out + 8 * i, u);
	}
}

int
viv_decode(const uint8_t *p, size_t n, struct viv_coord *c)
{
	double d[VIV_DIM + 3];
	size_t i;

	if (n != VIV_WIRE_LEN)
		return -1;
	for (i = 0; i < VIV_DIM + 3; i++) {
		uint64_t u = be64_get(p + 8 * i);

		memcpy(&d[i], &u, 8);
	}
	memcpy(c->vec, d, sizeof(c->vec));
	c->error = d[VIV_DIM];
	c->adjustment = d[VIV_DIM + 1];
	c->height = d[VIV_DIM + 2];
	return viv_valid(c) ? 0 : -1;
}
