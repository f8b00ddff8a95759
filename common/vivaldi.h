/* vivaldi.h - network coordinates (Vivaldi, Dabek et al. 2004, with the
 * height, adjustment and gravity refinements of Serf's coordinate
 * package): each member keeps an 8-dimensional coordinate whose distances
 * to others' estimate round-trip times.  Pure: the caller gives RTTs and a
 * random source. */
#ifndef CAIRN_VIVALDI_H
#define CAIRN_VIVALDI_H

#include <stddef.h>
#include <stdint.h>

#define VIV_DIM 8
#define VIV_WINDOW 20 /* adjustment samples */
#define VIV_FILTER 3  /* latency median filter */

struct viv_coord {
	double vec[VIV_DIM];
	double error;	   /* seconds */
	double adjustment; /* seconds */
	double height;	   /* seconds */
};

struct viv_client {
	struct viv_coord c;
	double adj_samples[VIV_WINDOW];
	size_t adj_idx;
};

void viv_init(struct viv_client *v);
void viv_coord_init(struct viv_coord *c);
/* viv_distance - estimated RTT in seconds between two coordinates */
double viv_distance(const struct viv_coord *a, const struct viv_coord *b);
/* viv_update - one observation: rtt seconds to a member at other; rnd
 * gives uniform doubles in [0,1) for a direction when coordinates
 * coincide.  Returns 0, or -1 if the inputs are not sane (ignored). */
int viv_update(struct viv_client *v, const struct viv_coord *other,
    double rtt, double (*rnd)(void *), void *arg);
/* viv_valid - finite components, non-negative error and height */
int viv_valid(const struct viv_coord *c);

/* wire form: 11 big-endian IEEE doubles (vec, error, adjustment, height) */
#define VIV_WIRE_LEN (8 * (VIV_DIM + 3))
void viv_encode(const struct viv_coord *c, uint8_t out[VIV_WIRE_LEN]);
int viv_decode(const uint8_t *p, size_t n, struct viv_coord *c);

#endif
