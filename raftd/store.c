/* store.c - raftd's durable store on LMDB (Raft log, metadata, state). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <lmdb.h>

#include "store.h"

#define FORMAT_VERSION 1u /* "version" in both meta sub-databases */
#define RAFT_MAXDBS 4	  /* log, meta, and room */
#define TABLE_PREFIX "t:" /* state sub-database of a table */
#define TABLE_PREFIX_LEN 2
#define LOCK_FILE "store.lock" /* flock()ed in <data_dir>/raft */

#define HARD_STATE_LEN 21	 /* v, term, vote, crc */
#define SNAP_OVERHEAD 25	 /* v, index, term, len, ..., crc */
#define SNAP_CONFIG_MAX (1u << 24) /* 16 MiB of configuration */

struct table {
	char *name; /* without TABLE_PREFIX */
	MDB_dbi dbi;
};

struct store {
	char *dir;	  /* data_dir */
	char *raft_path;  /* <data_dir>/raft */
	char *state_path; /* <data_dir>/state */
	int lock_fd;
	size_t raft_map, state_map;
	unsigned max_tables, max_readers;

	MDB_env *raft;
	MDB_dbi log_dbi, rmeta_dbi;

	MDB_env *state; /* NULL after a failed reopen */
	MDB_dbi smeta_dbi;
	/* tables[0..ntables) are committed; the open write transaction's
	 * new tables follow, npending of them */
	struct table *tables;
	size_t ntables, npending, tables_cap;
	struct store_txn *wtxn;
	unsigned nreaders;
	uint64_t generation;
};

struct store_txn {
	struct store *s;
	MDB_txn *txn;
	int err; /* first failure that broke the transaction, or 0 */
	struct errbuf eb;
	/* an open savepoint: the parent transaction and what to restore */
	MDB_txn *parent;
	size_t sp_npending;
	int sp_err;
};

struct store_read {
	struct store *s;
	MDB_txn *txn;
	size_t ntables; /* tables visible to this view */
	uint64_t applied;
};

/* --- CRC32C (Castagnoli, reflected polynomial 0x82f63b78) --------------- */

static const uint32_t crc32c_table[256] = {
	0x00000000u, 0xf26b8303u, 0xe13b70f7u, 0x1350f3f4u,
	0xc79a971fu, 0x35f1141cu, 0x26a1e7e8u, 0xd4ca64ebu,
	0x8ad958cfu, 0x78b2dbccu, 0x6be22838u, 0x9989ab3bu,
	0x4d43cfd0u, 0xbf284cd3u, 0xac78bf27u, 0x5e133c24u,
	0x105ec76fu, 0xe235446cu, 0xf165b798u, 0x030e349bu,
	0xd7c45070u, 0x25afd373u, 0x36ff2087u, 0xc494a384u,
	0x9a879fa0u, 0x68ec1ca3u, 0x7bbcef57u, 0x89d76c54u,
	0x5d1d08bfu, 0xaf768bbcu, 0xbc267848u, 0x4e4dfb4bu,
	0x20bd8edeu, 0xd2d60dddu, 0xc186fe29u, 0x33ed7d2au,
	0xe72719c1u, 0x154c9ac2u, 0x061c6936u, 0xf477ea35u,
	0xaa64d611u, 0x580f5512u, 0x4b5fa6e6u, 0xb93425e5u,
	0x6dfe410eu, 0x9f95c20du, 0x8cc531f9u, 0x7eaeb2fau,
	0x30e349b1u, 0xc288cab2u, 0xd1d83946u, 0x23b3ba45u,
	0xf779deaeu, 0x05125dadu, 0x1642ae59u, 0xe4292d5au,
	0xba3a117eu, 0x4851927du, 0x5b016189u, 0xa96ae28au,
	0x7da08661u, 0x8fcb0562u, 0x9c9bf696u, 0x6ef07595u,
	0x417b1dbcu, 0xb3109ebfu, 0xa0406d4bu, 0x522bee48u,
	0x86e18aa3u, 0x748a09a0u, 0x67dafa54u, 0x95b17957u,
	0xcba24573u, 0x39c9c670u, 0x2a993584u, 0xd8f2b687u,
	0x0c38d26cu, 0xfe53516fu, 0xed03a29bu, 0x1f682198u,
	0x5125dad3u, 0xa34e59d0u, 0xb01eaa24u, 0x42752927u,
	0x96bf4dccu, 0x64d4cecfu, 0x77843d3bu, 0x85efbe38u,
	0xdbfc821cu, 0x2997011fu, 0x3ac7f2ebu, 0xc8ac71e8u,
	0x1c661503u, 0xee0d9600u, 0xfd5d65f4u, 0x0f36e6f7u,
	0x61c69362u, 0x93ad1061u, 0x80fde395u, 0x72966096u,
	0xa65c047du, 0x5437877eu, 0x4767748au, 0xb50cf789u,
	0xeb1fcbadu, 0x197448aeu, 0x0a24bb5au, 0xf84f3859u,
	0x2c855cb2u, 0xdeeedfb1u, 0xcdbe2c45u, 0x3fd5af46u,
	0x7198540du, 0x83f3d70eu, 0x90a324fau, 0x62c8a7f9u,
	0xb602c312u, 0x44694011u, 0x5739b3e5u, 0xa55230e6u,
	0xfb410cc2u, 0x092a8fc1u, 0x1a7a7c35u, 0xe811ff36u,
	0x3cdb9bddu, 0xceb018deu, 0xdde0eb2au, 0x2f8b6829u,
	0x82f63b78u, 0x709db87bu, 0x63cd4b8fu, 0x91a6c88cu,
	0x456cac67u, 0xb7072f64u, 0xa457dc90u, 0x563c5f93u,
	0x082f63b7u, 0xfa44e0b4u, 0xe9141340u, 0x1b7f9043u,
	0xcfb5f4a8u, 0x3dde77abu, 0x2e8e845fu, 0xdce5075cu,
	0x92a8fc17u, 0x60c37f14u, 0x73938ce0u, 0x81f80fe3u,
	0x55326b08u, 0xa759e80bu, 0xb4091bffu, 0x466298fcu,
	0x1871a4d8u, 0xea1a27dbu, 0xf94ad42fu, 0x0b21572cu,
	0xdfeb33c7u, 0x2d80b0c4u, 0x3ed04330u, 0xccbbc033u,
	0xa24bb5a6u, 0x502036a5u, 0x4370c551u, 0xb11b4652u,
	0x65d122b9u, 0x97baa1bau, 0x84ea524eu, 0x7681d14du,
	0x2892ed69u, 0xdaf96e6au, 0xc9a99d9eu, 0x3bc21e9du,
	0xef087a76u, 0x1d63f975u, 0x0e330a81u, 0xfc588982u,
	0xb21572c9u, 0x407ef1cau, 0x532e023eu, 0xa145813du,
	0x758fe5d6u, 0x87e466d5u, 0x94b49521u, 0x66df1622u,
	0x38cc2a06u, 0xcaa7a905u, 0xd9f75af1u, 0x2b9cd9f2u,
	0xff56bd19u, 0x0d3d3e1au, 0x1e6dcdeeu, 0xec064eedu,
	0xc38d26c4u, 0x31e6a5c7u, 0x22b65633u, 0xd0ddd530u,
	0x0417b1dbu, 0xf67c32d8u, 0xe52cc12cu, 0x1747422fu,
	0x49547e0bu, 0xbb3ffd08u, 0xa86f0efcu, 0x5a048dffu,
	0x8ecee914u, 0x7ca56a17u, 0x6ff599e3u, 0x9d9e1ae0u,
	0xd3d3e1abu, 0x21b862a8u, 0x32e8915cu, 0xc083125fu,
	0x144976b4u, 0xe622f5b7u, 0xf5720643u, 0x07198540u,
	0x590ab964u, 0xab613a67u, 0xb831c993u, 0x4a5a4a90u,
	0x9e902e7bu, 0x6cfbad78u, 0x7fab5e8cu, 0x8dc0dd8fu,
	0xe330a81au, 0x115b2b19u, 0x020bd8edu, 0xf0605beeu,
	0x24aa3f05u, 0xd6c1bc06u, 0xc5914ff2u, 0x37faccf1u,
	0x69e9f0d5u, 0x9b8273d6u, 0x88d28022u, 0x7ab90321u,
	0xae7367cau, 0x5c18e4c9u, 0x4f48173du, 0xbd23943eu,
	0xf36e6f75u, 0x0105ec76u, 0x12551f82u, 0xe03e9c81u,
	0x34f4f86au, 0xc69f7b69u, 0xd5cf889du, 0x27a40b9eu,
	0x79b737bau, 0x8bdcb4b9u, 0x988c474du, 0x6ae7c44eu,
	0xbe2da0a5u, 0x4c4623a6u, 0x5f16d052u, 0xad7d5351u,
};

/* crc32c - continue crc (0 to start) over p[0..n). */
static uint32_t
crc32c(uint32_t crc, const void *p, size_t n)
{
	const uint8_t *q = p;

	crc = ~crc;
	while (n-- > 0)
		crc = crc32c_table[(crc ^ *q++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* --- records ------------------------------------------------------------ */

static void
key_set(uint8_t k[8], uint64_t index)
{
	be64_set(k, index);
}

static uint32_t
record_crc(uint64_t index, const uint8_t *p, size_t n)
{
	uint8_t k[8];

	key_set(k, index);
	return crc32c(crc32c(0, k, sizeof(k)), p, n);
}

/* record_encode_into - write e's record, STORE_RECORD_OVERHEAD + e->len
 * bytes, at p. */
static void
record_encode_into(uint8_t *p, const struct raft_entry *e)
{
	p[0] = STORE_RECORD_V1;
	be64_set(p + 1, e->term);
	p[9] = e->type;
	be32_set(p + 10, (uint32_t)e->len);
	if (e->len > 0)
		memcpy(p + 14, e->data, e->len);
	be32_set(p + 14 + e->len, record_crc(e->index, p, 14 + e->len));
}

enum rec_problem {
	REC_OK = 0,
	REC_SHORT,
	REC_VERSION,
	REC_LENGTH,
	REC_CRC,
};

struct rec_view {
	uint64_t term;
	uint8_t type;
	const uint8_t *data;
	size_t len;
};

/* record_check - parse and verify the record p[0..n) stored under index
 * without copying; with crc false only the header is checked. */
static enum rec_problem
record_check(const uint8_t *p, size_t n, uint64_t index, bool crc,
    struct rec_view *v)
{
	uint32_t len;

	memset(v, 0, sizeof(*v));
	if (n < STORE_RECORD_OVERHEAD)
		return REC_SHORT;
	if (p[0] != STORE_RECORD_V1)
		return REC_VERSION;
	len = be32_get(p + 10);
	if (len != n - STORE_RECORD_OVERHEAD)
		return REC_LENGTH;
	if (crc && be32_get(p + 14 + len) != record_crc(index, p, 14 + len))
		return REC_CRC;
	v->term = be64_get(p + 1);
	v->type = p[9];
	v->data = p + 14;
	v->len = len;
	return REC_OK;
}

static const char *
rec_problem_str(enum rec_problem pr, const uint8_t *p, size_t n, char *tmp,
    size_t tmplen)
{
	switch (pr) {
	case REC_OK:
		return "ok";
	case REC_SHORT:
		snprintf(tmp, tmplen, "record of %zu bytes is too short", n);
		return tmp;
	case REC_VERSION:
		snprintf(tmp, tmplen, "unknown record version 0x%02x", p[0]);
		return tmp;
	case REC_LENGTH:
		snprintf(tmp, tmplen,
		    "length field %" PRIu32 " does not match the record's "
		    "%zu bytes",
		    be32_get(p + 10), n);
		return tmp;
	case REC_CRC:
		return "checksum mismatch";
	}
	return "bad record";
}

void
store_record_encode(const struct raft_entry *e, struct buf *b)
{
	size_t n = STORE_RECORD_OVERHEAD + e->len;

	buf_reserve(b, n);
	record_encode_into(b->data + b->len, e);
	b->len += n;
}

int
store_record_decode(const void *p, size_t n, uint64_t index,
    struct raft_entry *out)
{
	struct rec_view v;
	enum rec_problem pr;

	memset(out, 0, sizeof(*out));
	pr = record_check(p, n, index, true, &v);
	if (pr == REC_CRC)
		return -EUCLEAN;
	if (pr != REC_OK)
		return -EBADMSG;
	if (v.len > 0) {
		if ((out->data = malloc(v.len)) == NULL)
			return -ENOMEM;
		memcpy(out->data, v.data, v.len);
	}
	out->index = index;
	out->term = v.term;
	out->type = v.type;
	out->len = v.len;
	return 0;
}

/* hard state: u8 v | u64 term | u64 vote | u32 crc */
static void
hard_state_encode(uint8_t p[HARD_STATE_LEN], uint64_t term, uint64_t vote)
{
	p[0] = STORE_RECORD_V1;
	be64_set(p + 1, term);
	be64_set(p + 9, vote);
	be32_set(p + 17, crc32c(0, p, 17));
}

static int
hard_state_decode(const uint8_t *p, size_t n, uint64_t *term, uint64_t *vote)
{
	if (n != HARD_STATE_LEN || p[0] != STORE_RECORD_V1 ||
	    be32_get(p + 17) != crc32c(0, p, 17))
		return -EUCLEAN;
	*term = be64_get(p + 1);
	*vote = be64_get(p + 9);
	return 0;
}

/* snapshot meta: u8 v | u64 index | u64 term | u32 len | config | u32 crc;
 * the config is borrowed from p. */
static int
snap_decode(const uint8_t *p, size_t n, uint64_t *index, uint64_t *term,
    const uint8_t **config, size_t *config_len)
{
	uint32_t len;

	if (n < SNAP_OVERHEAD || p[0] != STORE_RECORD_V1)
		return -EUCLEAN;
	len = be32_get(p + 17);
	if (len != n - SNAP_OVERHEAD ||
	    be32_get(p + 21 + len) != crc32c(0, p, 21 + len))
		return -EUCLEAN;
	*index = be64_get(p + 1);
	*term = be64_get(p + 9);
	*config = p + 21;
	*config_len = len;
	return 0;
}

/* --- LMDB errors -------------------------------------------------------- */

/* mdb_errno - an LMDB return code as a negative errno. */
static int
mdb_errno(int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_MAP_FULL:
		return -ENOSPC;
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_CORRUPTED:
	case MDB_INVALID:
	case MDB_PAGE_NOTFOUND:
	case MDB_VERSION_MISMATCH:
		return -EUCLEAN;
	case MDB_KEYEXIST:
		return -EEXIST;
	case MDB_DBS_FULL:
		return -EMFILE;
	case MDB_READERS_FULL:
		return -EAGAIN;
	case MDB_BAD_VALSIZE:
		return -EINVAL;
	default:
		return rc > 0 ? -rc : -EIO;
	}
}

/* disk_full - LMDB reports a short write (a full file system) as EIO;
 * tell it apart by the file system having no free block left. */
static bool
disk_full(MDB_env *env)
{
	struct statvfs sv;
	int fd;

	if (env == NULL || mdb_env_get_fd(env, &fd) != 0 ||
	    fstatvfs(fd, &sv) < 0)
		return false;
	return sv.f_bavail == 0 || sv.f_bfree == 0;
}

/* env_errno - mdb_errno(), with a short write on a full disk as ENOSPC. */
static int
env_errno(MDB_env *env, int rc)
{
	if (rc == EIO && disk_full(env))
		return -ENOSPC;
	return mdb_errno(rc);
}

/* env_fail - fill eb with "<path>: <what>: <reason>" for the LMDB code rc
 * and return it as a negative errno. */
static int
env_fail(struct errbuf *eb, MDB_env *env, const char *path, const char *what,
    int rc)
{
	int r = env_errno(env, rc);
	MDB_envinfo info;

	if (rc == MDB_MAP_FULL) {
		memset(&info, 0, sizeof(info));
		if (env != NULL)
			mdb_env_info(env, &info);
		return errbuf_set(eb, r,
		    "%s: %s: map full (map size %zu KiB; raise it): %s", path,
		    what, info.me_mapsize / 1024, mdb_strerror(rc));
	}
	if (r == -ENOSPC)
		return errbuf_set(eb, r, "%s: %s: disk full: %s", path, what,
		    rc == EIO ? "short write" : mdb_strerror(rc));
	if (r == -EUCLEAN)
		return errbuf_set(eb, r, "%s: %s: %s (corrupted)", path, what,
		    mdb_strerror(rc));
	return errbuf_set(eb, r, "%s: %s: %s", path, what, mdb_strerror(rc));
}

/* --- small helpers ------------------------------------------------------ */

static char *
path_join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *p;

	while (la > 1 && a[la - 1] == '/')
		la--;
	if ((p = malloc(la + 1 + lb + 1)) == NULL)
		return NULL;
	memcpy(p, a, la);
	p[la] = '/';
	memcpy(p + la + 1, b, lb + 1);
	return p;
}

/* mkdir_p - create path and its missing parents with mode. */
static int
mkdir_p(const char *path, mode_t mode)
{
	char *tmp, *p;
	int rc = 0;

	if ((tmp = strdup(path)) == NULL)
		return -ENOMEM;
	for (p = tmp + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST) {
			rc = -errno;
			goto out;
		}
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		rc = -errno;
out:
	free(tmp);
	return rc;
}

/* fsync_dir - make a rename or creation in dir durable. */
static int
fsync_dir(const char *dir)
{
	int fd, rc = 0;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* dir_of - the directory holding path ("." if none); malloc'd. */
static char *
dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

static int
txn_begin(MDB_env *env, unsigned flags, MDB_txn **txn)
{
	int rc;

	rc = mdb_txn_begin(env, NULL, flags, txn);
	if (rc == MDB_MAP_RESIZED) {
		/* another process grew the map: adopt its size */
		if (mdb_env_set_mapsize(env, 0) == 0)
			rc = mdb_txn_begin(env, NULL, flags, txn);
	}
	return rc;
}

/* --- opening environments ----------------------------------------------- */

/* env_check_size - a data file shorter than its last used page (a
 * truncated copy, a full disk during a copy) would make LMDB fault on the
 * missing pages (SIGBUS): refuse it before any page is touched. */
static int
env_check_size(MDB_env *env, const char *path, const char *file,
    struct errbuf *eb)
{
	MDB_envinfo info;
	MDB_stat st;
	struct stat sb;
	uint64_t need;
	int fd, rc;

	if ((rc = mdb_env_info(env, &info)) != 0 ||
	    (rc = mdb_env_stat(env, &st)) != 0 ||
	    (rc = mdb_env_get_fd(env, &fd)) != 0)
		return env_fail(eb, env, path, "stat", rc);
	if (fstat(fd, &sb) < 0)
		return errbuf_set(eb, -errno, "%s: %s: %s", path, file,
		    strerror(errno));
	need = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
	if ((uint64_t)sb.st_size < need)
		return errbuf_set(eb, -EUCLEAN,
		    "%s: %s is truncated: %jd bytes, its pages need %" PRIu64
		    " (corrupted)",
		    path, file, (intmax_t)sb.st_size, need);
	return 0;
}

/* prealloc_lock - allocate the blocks of LMDB's lock file, which it only
 * ftruncate()s and then writes through a shared mapping: on a full file
 * system a first write to a page would raise SIGBUS. */
static int
prealloc_lock(const char *path, struct errbuf *eb)
{
	struct stat sb;
	char *lock;
	int fd, rc = 0;

	if ((lock = path_join(path, "lock.mdb")) == NULL)
		return errbuf_set(eb, -ENOMEM, "%s: out of memory", path);
	fd = open(lock, O_RDWR | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) < 0) {
		rc = errbuf_set(eb, -errno, "%s: %s", lock, strerror(errno));
	} else if (sb.st_size > 0 && fallocate(fd, 0, 0, sb.st_size) < 0 &&
	    errno != EOPNOTSUPP && errno != ENOSYS) {
		rc = errbuf_set(eb, -errno, "%s: allocating %jd bytes: %s",
		    lock, (intmax_t)sb.st_size, strerror(errno));
	}
	if (fd >= 0)
		close(fd);
	free(lock);
	return rc;
}

/* env_open - create and open an LMDB environment: a directory (flags
 * without MDB_NOSUBDIR; "data.mdb" names the file in messages) or a single
 * file. */
static int
env_open(MDB_env **out, const char *path, unsigned flags, size_t map_size,
    unsigned maxdbs, unsigned maxreaders, struct errbuf *eb)
{
	const char *file = (flags & MDB_NOSUBDIR) ? "file" : "data.mdb";
	MDB_env *env;
	int rc, r, dead;

	*out = NULL;
	if ((rc = mdb_env_create(&env)) != 0)
		return env_fail(eb, NULL, path, "mdb_env_create", rc);
	if (map_size > 0)
		rc = mdb_env_set_mapsize(env, map_size);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(env, maxdbs);
	if (rc == 0 && maxreaders > 0)
		rc = mdb_env_set_maxreaders(env, maxreaders);
	if (rc == 0)
		rc = mdb_env_open(env, path, flags | MDB_NOTLS, 0600);
	if (rc != 0) {
		switch (rc) {
		case MDB_INVALID:
			r = errbuf_set(eb, -EUCLEAN,
			    "%s: %s is not an LMDB environment or its header "
			    "is damaged (corrupted): %s",
			    path, file, mdb_strerror(rc));
			break;
		case MDB_VERSION_MISMATCH:
			r = errbuf_set(eb, -EUCLEAN,
			    "%s: %s has an unknown LMDB format version "
			    "(corrupted, or written by another LMDB): %s",
			    path, file, mdb_strerror(rc));
			break;
		default:
			r = env_fail(eb, env, path, "open", rc);
			break;
		}
		mdb_env_close(env);
		return r;
	}
	if ((r = env_check_size(env, path, file, eb)) < 0) {
		mdb_env_close(env);
		return r;
	}
	if (!(flags & MDB_RDONLY)) {
		if ((rc = mdb_reader_check(env, &dead)) != 0) {
			r = env_fail(eb, env, path, "mdb_reader_check", rc);
			mdb_env_close(env);
			return r;
		}
		if (!(flags & MDB_NOSUBDIR) &&
		    (r = prealloc_lock(path, eb)) < 0) {
			mdb_env_close(env);
			return r;
		}
	}
	*out = env;
	return 0;
}

/* The "version" record of both meta sub-databases: u32 FORMAT_VERSION,
 * then the environment's kind, "raft" or "state", so that neither can be
 * mistaken for the other (e.g. a raft file given as a state snapshot). */
#define VERSION_VAL_MAX 16

static size_t
version_val(uint8_t *buf, const char *kind)
{
	size_t n = strlen(kind);

	be32_set(buf, FORMAT_VERSION);
	memcpy(buf + 4, kind, n);
	return 4 + n;
}

/* meta_version - check (or, in a write txn of a new env, set) "version". */
static int
meta_version(MDB_env *env, MDB_txn *txn, MDB_dbi dbi, bool write,
    const char *kind, const char *path, struct errbuf *eb)
{
	MDB_val k = {7, (void *)"version"}, v;
	uint8_t buf[VERSION_VAL_MAX];
	size_t n = version_val(buf, kind);
	int rc;

	rc = mdb_get(txn, dbi, &k, &v);
	if (rc == MDB_NOTFOUND && write) {
		v.mv_size = n;
		v.mv_data = buf;
		if ((rc = mdb_put(txn, dbi, &k, &v, 0)) != 0)
			return env_fail(eb, env, path, "writing the version",
			    rc);
		return 0;
	}
	if (rc == MDB_NOTFOUND)
		return errbuf_set(eb, -EUCLEAN,
		    "%s: no format version (corrupted or not a Cairn %s "
		    "store)",
		    path, kind);
	if (rc != 0)
		return env_fail(eb, env, path, "reading the version", rc);
	if (v.mv_size < 4 || v.mv_size > VERSION_VAL_MAX)
		return errbuf_set(eb, -EUCLEAN,
		    "%s: bad format version record (corrupted)", path);
	if (be32_get(v.mv_data) != FORMAT_VERSION)
		return errbuf_set(eb, -EPROTO,
		    "%s: store format version %" PRIu32
		    " is not supported (this is version %u)",
		    path, be32_get(v.mv_data), FORMAT_VERSION);
	if (v.mv_size != n || memcmp(v.mv_data, buf, n) != 0)
		return errbuf_set(eb, -EUCLEAN,
		    "%s: holds a \"%.*s\" environment, not a %s one", path,
		    (int)(v.mv_size - 4), (const char *)v.mv_data + 4, kind);
	return 0;
}

/* --- the raft environment ----------------------------------------------- */

static const MDB_val hard_state_key = {10, (void *)"hard_state"};
static const MDB_val snapshot_key = {8, (void *)"snapshot"};

/* raft_meta - read the hard state and snapshot meta in txn; the config is
 * borrowed from LMDB.  Missing records read as zeros. */
static int
raft_meta(struct store *s, MDB_txn *txn, uint64_t *term, uint64_t *vote,
    uint64_t *snap_index, uint64_t *snap_term, const uint8_t **config,
    size_t *config_len, struct errbuf *eb)
{
	MDB_val k, v;
	uint64_t t0, t1;
	const uint8_t *c;
	size_t cl;
	int rc;

	if (term != NULL)
		*term = 0;
	if (vote != NULL)
		*vote = 0;
	if (snap_index != NULL)
		*snap_index = 0;
	if (snap_term != NULL)
		*snap_term = 0;
	if (config != NULL)
		*config = NULL;
	if (config_len != NULL)
		*config_len = 0;
	k = hard_state_key;
	rc = mdb_get(txn, s->rmeta_dbi, &k, &v);
	t0 = t1 = 0;
	if (rc == 0 && hard_state_decode(v.mv_data, v.mv_size, &t0, &t1) < 0)
		return errbuf_set(eb, -EUCLEAN,
		    "%s: hard state record damaged (corrupted)", s->raft_path);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return env_fail(eb, s->raft, s->raft_path,
		    "reading the hard state", rc);
	if (term != NULL)
		*term = t0;
	if (vote != NULL)
		*vote = t1;

	k = snapshot_key;
	rc = mdb_get(txn, s->rmeta_dbi, &k, &v);
	t0 = t1 = 0;
	c = NULL;
	cl = 0;
	if (rc == 0 &&
	    (snap_decode(v.mv_data, v.mv_size, &t0, &t1, &c, &cl) < 0 ||
		t0 == 0))
		return errbuf_set(eb, -EUCLEAN,
		    "%s: snapshot meta record damaged (corrupted)",
		    s->raft_path);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return env_fail(eb, s->raft, s->raft_path,
		    "reading the snapshot meta", rc);
	if (snap_index != NULL)
		*snap_index = t0;
	if (snap_term != NULL)
		*snap_term = t1;
	if (config != NULL)
		*config = c;
	if (config_len != NULL)
		*config_len = cl;
	return 0;
}

/* log_key - the index of a log key, or 0 if it is not a valid one. */
static uint64_t
log_key(const MDB_val *k)
{
	if (k->mv_size != 8)
		return 0;
	return be64_get(k->mv_data);
}

/* raft_verify - read every log record and check the log's invariants. */
static int
raft_verify(struct store *s, struct errbuf *eb)
{
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	struct rec_view rv;
	enum rec_problem pr;
	uint64_t snap_index = 0, snap_term = 0, idx, first = 0, prev = 0;
	uint64_t prev_term = 0;
	char tmp[96];
	int rc, r = 0;

	if ((rc = txn_begin(s->raft, MDB_RDONLY, &txn)) != 0)
		return env_fail(eb, s->raft, s->raft_path, "verify", rc);
	if ((r = meta_version(s->raft, txn, s->rmeta_dbi, false, "raft",
		 s->raft_path,
		 eb)) < 0)
		goto out;
	if ((r = raft_meta(s, txn, NULL, NULL, &snap_index, &snap_term, NULL,
		 NULL, eb)) < 0)
		goto out;
	if ((rc = mdb_cursor_open(txn, s->log_dbi, &cur)) != 0) {
		r = env_fail(eb, s->raft, s->raft_path, "verify", rc);
		goto out;
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if ((idx = log_key(&k)) == 0) {
			r = errbuf_set(eb, -EUCLEAN,
			    "%s: log key of %zu bytes after entry %" PRIu64
			    " (corrupted)",
			    s->raft_path, k.mv_size, prev);
			goto out;
		}
		if (prev != 0 && idx != prev + 1) {
			r = errbuf_set(eb, -EUCLEAN,
			    "%s: log entry %" PRIu64 " follows entry %" PRIu64
			    ": gap in the log (corrupted)",
			    s->raft_path, idx, prev);
			goto out;
		}
		pr = record_check(v.mv_data, v.mv_size, idx, true, &rv);
		if (pr != REC_OK) {
			r = errbuf_set(eb, -EUCLEAN,
			    "%s: log entry %" PRIu64 ": %s (corrupted)",
			    s->raft_path, idx,
			    rec_problem_str(pr, v.mv_data, v.mv_size, tmp,
				sizeof(tmp)));
			goto out;
		}
		if (rv.term == 0) {
			r = errbuf_set(eb, -EUCLEAN,
			    "%s: log entry %" PRIu64 ": term 0 (corrupted)",
			    s->raft_path, idx);
			goto out;
		}
		if (rv.term < prev_term) {
			r = errbuf_set(eb, -EUCLEAN,
			    "%s: log entry %" PRIu64 ": term %" PRIu64
			    " is lower than term %" PRIu64
			    " of the entry before (corrupted)",
			    s->raft_path, idx, rv.term, prev_term);
			goto out;
		}
		if (snap_index != 0 &&
		    ((idx == snap_index && rv.term != snap_term) ||
			(idx > snap_index && rv.term < snap_term))) {
			r = errbuf_set(eb, -EUCLEAN,
			    "%s: log entry %" PRIu64 ": term %" PRIu64
			    " does not fit the snapshot at entry %" PRIu64
			    " of term %" PRIu64 " (corrupted)",
			    s->raft_path, idx, rv.term, snap_index,
			    snap_term);
			goto out;
		}
		if (first == 0)
			first = idx;
		prev = idx;
		prev_term = rv.term;
	}
	if (rc != MDB_NOTFOUND) {
		r = env_fail(eb, s->raft, s->raft_path, "verify", rc);
		goto out;
	}
	if (first != 0 && first > snap_index + 1) {
		r = errbuf_set(eb, -EUCLEAN,
		    "%s: log starts at entry %" PRIu64
		    " but the snapshot ends at entry %" PRIu64
		    ": entries missing (corrupted)",
		    s->raft_path, first, snap_index);
		goto out;
	}
	if (first != 0 && prev < snap_index) {
		r = errbuf_set(eb, -EUCLEAN,
		    "%s: log ends at entry %" PRIu64
		    " before the snapshot's entry %" PRIu64 " (corrupted)",
		    s->raft_path, prev, snap_index);
		goto out;
	}
out:
	if (cur != NULL)
		mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return r;
}

/* raft_env_open - open <data_dir>/raft, create its sub-databases, and
 * verify it. */
static int
raft_env_open(struct store *s, struct errbuf *eb)
{
	MDB_txn *txn;
	int rc, r;

	if ((r = env_open(&s->raft, s->raft_path, 0, s->raft_map, RAFT_MAXDBS,
		 s->max_readers, eb)) < 0)
		return r;
	if ((rc = txn_begin(s->raft, 0, &txn)) != 0)
		return env_fail(eb, s->raft, s->raft_path, "init", rc);
	if ((rc = mdb_dbi_open(txn, "log", MDB_CREATE, &s->log_dbi)) != 0 ||
	    (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->rmeta_dbi)) != 0) {
		mdb_txn_abort(txn);
		return env_fail(eb, s->raft, s->raft_path,
		    "opening sub-databases", rc);
	}
	if ((r = meta_version(s->raft, txn, s->rmeta_dbi, true, "raft",
		 s->raft_path,
		 eb)) < 0) {
		mdb_txn_abort(txn);
		return r;
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		return env_fail(eb, s->raft, s->raft_path, "init commit", rc);
	return raft_verify(s, eb);
}

static void
raft_env_close(struct store *s)
{
	if (s->raft != NULL)
		mdb_env_close(s->raft);
	s->raft = NULL;
}

/* raft_write_begin - a write transaction on the raft environment;
 * reopens the environment once if an earlier failure left it unusable
 * (MDB_PANIC). */
static int
raft_write_begin(struct store *s, MDB_txn **txn, struct errbuf *eb)
{
	int rc, r;

	if (s->raft == NULL)
		return errbuf_set(eb, -EIO, "%s: not open", s->raft_path);
	rc = txn_begin(s->raft, 0, txn);
	if (rc == MDB_PANIC) {
		raft_env_close(s);
		if ((r = raft_env_open(s, eb)) < 0) {
			raft_env_close(s);
			return errbuf_wrap(eb, r, "reopening after a fatal "
			    "error");
		}
		rc = txn_begin(s->raft, 0, txn);
	}
	if (rc != 0)
		return env_fail(eb, s->raft, s->raft_path, "begin", rc);
	return 0;
}

/* --- the state environment ---------------------------------------------- */

static bool
table_name_ok(const char *name)
{
	size_t n;

	if (name == NULL)
		return false;
	n = strnlen(name, STORE_TABLE_NAME_MAX + 1);
	return n >= 1 && n <= STORE_TABLE_NAME_MAX;
}

static void
tables_clear(struct store *s)
{
	size_t i;

	for (i = 0; i < s->ntables + s->npending; i++)
		free(s->tables[i].name);
	s->ntables = s->npending = 0;
}

static void
tables_drop_pending(struct store *s)
{
	size_t i;

	for (i = s->ntables; i < s->ntables + s->npending; i++)
		free(s->tables[i].name);
	s->npending = 0;
}

static int
tables_reserve(struct store *s)
{
	struct table *nt;
	size_t cap;

	if (s->ntables + s->npending < s->tables_cap)
		return 0;
	cap = s->tables_cap ? 2 * s->tables_cap : 16;
	if ((nt = realloc(s->tables, cap * sizeof(*nt))) == NULL)
		return -ENOMEM;
	s->tables = nt;
	s->tables_cap = cap;
	return 0;
}

/* table_find - the handle of name among the first limit tables. */
static int
table_find(const struct store *s, const char *name, size_t limit,
    MDB_dbi *dbi)
{
	size_t i;

	for (i = 0; i < limit; i++) {
		if (strcmp(s->tables[i].name, name) == 0) {
			*dbi = s->tables[i].dbi;
			return 0;
		}
	}
	return -ENOENT;
}

/* state_init - in a write transaction: create "meta", check the version
 * and the applied index, and open every table's sub-database so that
 * handles exist before any read transaction needs them. */
static int
state_init(struct store *s, struct errbuf *eb)
{
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	MDB_dbi main_dbi, dbi;
	MDB_val k, v;
	char name[TABLE_PREFIX_LEN + STORE_TABLE_NAME_MAX + 1];
	int rc, r = 0;

	if ((rc = txn_begin(s->state, 0, &txn)) != 0)
		return env_fail(eb, s->state, s->state_path, "init", rc);
	if ((rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->smeta_dbi)) != 0) {
		r = env_fail(eb, s->state, s->state_path, "opening meta", rc);
		goto fail;
	}
	if ((r = meta_version(s->state, txn, s->smeta_dbi, true, "state",
		 s->state_path, eb)) < 0)
		goto fail;
	k.mv_size = 7;
	k.mv_data = (void *)"applied";
	rc = mdb_get(txn, s->smeta_dbi, &k, &v);
	if (rc == 0 && v.mv_size != 8) {
		r = errbuf_set(eb, -EUCLEAN,
		    "%s: applied index record damaged (corrupted)",
		    s->state_path);
		goto fail;
	}
	if (rc != 0 && rc != MDB_NOTFOUND) {
		r = env_fail(eb, s->state, s->state_path,
		    "reading the applied index", rc);
		goto fail;
	}
	if ((rc = mdb_dbi_open(txn, NULL, 0, &main_dbi)) != 0 ||
	    (rc = mdb_cursor_open(txn, main_dbi, &cur)) != 0) {
		r = env_fail(eb, s->state, s->state_path, "listing tables", rc);
		goto fail;
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size <= TABLE_PREFIX_LEN ||
		    memcmp(k.mv_data, TABLE_PREFIX, TABLE_PREFIX_LEN) != 0)
			continue; /* "meta" */
		if (k.mv_size >= sizeof(name) ||
		    memchr(k.mv_data, '\0', k.mv_size) != NULL) {
			r = errbuf_set(eb, -EUCLEAN,
			    "%s: bad table name of %zu bytes (corrupted)",
			    s->state_path, k.mv_size);
			goto fail;
		}
		if (s->ntables >= s->max_tables) {
			r = errbuf_set(eb, -EMFILE,
			    "%s: more than max_tables (%u) tables",
			    s->state_path, s->max_tables);
			goto fail;
		}
		memcpy(name, k.mv_data, k.mv_size);
		name[k.mv_size] = '\0';
		if ((rc = mdb_dbi_open(txn, name, 0, &dbi)) != 0) {
			r = env_fail(eb, s->state, s->state_path, name, rc);
			if (rc == MDB_INCOMPATIBLE)
				r = errbuf_set(eb, -EUCLEAN,
				    "%s: %s is not a table (corrupted)",
				    s->state_path, name);
			goto fail;
		}
		if (tables_reserve(s) < 0 ||
		    (s->tables[s->ntables].name =
			    strdup(name + TABLE_PREFIX_LEN)) == NULL) {
			r = errbuf_set(eb, -ENOMEM, "%s: out of memory",
			    s->state_path);
			goto fail;
		}
		s->tables[s->ntables++].dbi = dbi;
	}
	if (rc != MDB_NOTFOUND) {
		r = env_fail(eb, s->state, s->state_path, "listing tables", rc);
		goto fail;
	}
	mdb_cursor_close(cur);
	cur = NULL;
	if ((rc = mdb_txn_commit(txn)) != 0) {
		tables_clear(s);
		return env_fail(eb, s->state, s->state_path, "init commit",
		    rc);
	}
	return 0;
fail:
	if (cur != NULL)
		mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	tables_clear(s);
	return r;
}

static void
state_env_close(struct store *s)
{
	tables_clear(s);
	if (s->state != NULL)
		mdb_env_close(s->state);
	s->state = NULL;
}

static int
state_env_open(struct store *s, struct errbuf *eb)
{
	int r;

	/* MDB_NOMETASYNC: a state commit syncs its data pages but not the
	 * meta page that points at them (one device flush instead of two);
	 * see "Durability" in store.h for why that is safe */
	if ((r = env_open(&s->state, s->state_path, MDB_NOMETASYNC,
		 s->state_map, s->max_tables + 2, s->max_readers, eb)) < 0)
		return r;
	if ((r = state_init(s, eb)) < 0)
		state_env_close(s);
	return r;
}

/* state_begin - a transaction on the state environment; after a fatal
 * LMDB error (MDB_PANIC) the environment is reopened if nothing uses it. */
static int
state_begin(struct store *s, unsigned flags, MDB_txn **txn)
{
	struct errbuf eb;
	int rc;

	if (s->state == NULL)
		return -EIO;
	rc = txn_begin(s->state, flags, txn);
	if (rc == MDB_PANIC && s->wtxn == NULL && s->nreaders == 0) {
		state_env_close(s);
		if (state_env_open(s, &eb) < 0)
			return -EIO;
		rc = txn_begin(s->state, flags, txn);
	}
	return rc == 0 ? 0 : env_errno(s->state, rc);
}

/* state_applied - the applied index as txn sees it. */
static int
state_applied(struct store *s, MDB_txn *txn, uint64_t *applied)
{
	MDB_val k = {7, (void *)"applied"}, v;
	int rc;

	*applied = 0;
	rc = mdb_get(txn, s->smeta_dbi, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return env_errno(s->state, rc);
	if (v.mv_size != 8)
		return -EUCLEAN;
	*applied = be64_get(v.mv_data);
	return 0;
}

/* --- open / close ------------------------------------------------------- */

static int
lock_data_dir(struct store *s, struct errbuf *eb)
{
	char *p;
	int r = 0;

	if ((p = path_join(s->raft_path, LOCK_FILE)) == NULL)
		return errbuf_set(eb, -ENOMEM, "out of memory");
	s->lock_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->lock_fd < 0)
		r = errbuf_set(eb, -errno, "%s: %s", p, strerror(errno));
	else if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0)
		r = errbuf_set(eb, errno == EWOULDBLOCK ? -EBUSY : -errno,
		    "%s: in use by another process (is another cairn-raftd "
		    "running on this data dir?): %s",
		    s->dir, strerror(errno));
	free(p);
	return r;
}

static int log_bounds_txn(struct store *s, MDB_txn *txn, uint64_t *first,
    uint64_t *last, struct errbuf *eb);

/* cross_check - the two environments belong together: a state that has
 * applied entries needs the Raft state that committed them, and the state
 * must not be behind the start of the log (the entries in between are
 * gone).  Either means a directory was lost or replaced by hand. */
static int
cross_check(struct store *s, struct errbuf *eb)
{
	uint64_t term = 0, first = 0, last = 0, snap_index = 0, applied = 0;
	uint64_t base;
	MDB_txn *txn;
	int rc, r;

	if ((rc = txn_begin(s->raft, MDB_RDONLY, &txn)) != 0)
		return env_fail(eb, s->raft, s->raft_path, "reading", rc);
	r = raft_meta(s, txn, &term, NULL, &snap_index, NULL, NULL, NULL, eb);
	if (r == 0)
		r = log_bounds_txn(s, txn, &first, &last, eb);
	mdb_txn_abort(txn);
	if (r < 0)
		return r;
	if ((r = store_state_applied(s, &applied)) < 0)
		return errbuf_set(eb, r, "%s: reading the applied index: %s",
		    s->state_path, strerror(-r));
	if (term == 0 && snap_index == 0 && last == 0 && applied > 0)
		return errbuf_set(eb, -EUCLEAN,
		    "%s: empty, but %s has applied entries up to %" PRIu64
		    ": the Raft log and term were lost (corrupted)",
		    s->raft_path, s->state_path, applied);
	base = last != 0 ? first - 1 : snap_index;
	if (applied < base)
		return errbuf_set(eb, -EUCLEAN,
		    "%s: applied index %" PRIu64 " is behind the log, which "
		    "starts after entry %" PRIu64
		    ": entries in between are gone (state lost or replaced?)",
		    s->state_path, applied, base);
	return 0;
}

int
store_open(struct store **out, const char *data_dir,
    const struct store_options *opt, struct errbuf *eb)
{
	struct store_options defaults;
	struct store *s;
	int r;

	*out = NULL;
	errbuf_clear(eb);
	if (data_dir == NULL || data_dir[0] == '\0')
		return errbuf_set(eb, -EINVAL, "store: no data dir");
	if (opt == NULL) {
		memset(&defaults, 0, sizeof(defaults));
		opt = &defaults;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return errbuf_set(eb, -ENOMEM, "store: out of memory");
	s->lock_fd = -1;
	s->raft_map = opt->raft_map_size ? opt->raft_map_size :
	    STORE_RAFT_MAP_DEFAULT;
	s->state_map = opt->state_map_size ? opt->state_map_size :
	    STORE_STATE_MAP_DEFAULT;
	s->max_tables = opt->max_tables ? opt->max_tables :
	    STORE_MAX_TABLES_DEFAULT;
	s->max_readers = opt->max_readers;
	s->generation = 1;
	s->dir = strdup(data_dir);
	s->raft_path = path_join(data_dir, "raft");
	s->state_path = path_join(data_dir, "state");
	if (s->dir == NULL || s->raft_path == NULL || s->state_path == NULL) {
		r = errbuf_set(eb, -ENOMEM, "store: out of memory");
		goto fail;
	}
	if ((r = mkdir_p(data_dir, 0700)) < 0) {
		errbuf_set(eb, r, "%s: %s", data_dir, strerror(-r));
		goto fail;
	}
	if ((r = mkdir_p(s->raft_path, 0700)) < 0 ||
	    (r = mkdir_p(s->state_path, 0700)) < 0) {
		errbuf_set(eb, r, "%s: creating raft/ and state/: %s",
		    data_dir, strerror(-r));
		goto fail;
	}
	if ((r = lock_data_dir(s, eb)) < 0)
		goto fail;
	if ((r = raft_env_open(s, eb)) < 0)
		goto fail;
	if ((r = state_env_open(s, eb)) < 0)
		goto fail;
	if ((r = cross_check(s, eb)) < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	store_close(s);
	return r;
}

void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	if (s->wtxn != NULL)
		store_state_abort(s->wtxn);
	if (s->state != NULL)
		(void)mdb_env_sync(s->state, 1); /* less to replay on start */
	state_env_close(s);
	raft_env_close(s);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s->tables);
	free(s->dir);
	free(s->raft_path);
	free(s->state_path);
	free(s);
}

/* --- raft side ---------------------------------------------------------- */

void
store_entries_free(struct raft_entry *entries, size_t n)
{
	size_t i;

	if (entries == NULL)
		return;
	for (i = 0; i < n; i++)
		free(entries[i].data);
	free(entries);
}

void
store_snapshot_free(struct store_snapshot *snap)
{
	if (snap == NULL)
		return;
	free(snap->config);
	memset(snap, 0, sizeof(*snap));
}

int
store_load(struct store *s, uint64_t *term, uint64_t *vote,
    struct store_snapshot *snap, struct raft_entry **entries, size_t *n,
    struct errbuf *eb)
{
	struct store_snapshot sn;
	struct raft_entry *ev = NULL;
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	MDB_stat st;
	MDB_val k, v;
	const uint8_t *config;
	uint64_t t, vo, idx;
	size_t cnt = 0, max = 0;
	int rc, r;

	memset(&sn, 0, sizeof(sn));
	if (snap != NULL)
		memset(snap, 0, sizeof(*snap));
	if (entries != NULL)
		*entries = NULL;
	if (n != NULL)
		*n = 0;
	if (s->raft == NULL)
		return errbuf_set(eb, -EIO, "%s: not open", s->raft_path);
	if ((rc = txn_begin(s->raft, MDB_RDONLY, &txn)) != 0)
		return env_fail(eb, s->raft, s->raft_path, "load", rc);
	if ((r = raft_meta(s, txn, &t, &vo, &sn.index, &sn.term, &config,
		 &sn.config_len, eb)) < 0)
		goto fail;
	if (snap != NULL && sn.config_len > 0) {
		if ((sn.config = malloc(sn.config_len)) == NULL) {
			r = errbuf_set(eb, -ENOMEM, "load: out of memory");
			goto fail;
		}
		memcpy(sn.config, config, sn.config_len);
	}
	if (entries != NULL || n != NULL) {
		if ((rc = mdb_stat(txn, s->log_dbi, &st)) != 0 ||
		    (rc = mdb_cursor_open(txn, s->log_dbi, &cur)) != 0) {
			r = env_fail(eb, s->raft, s->raft_path, "load", rc);
			goto fail;
		}
		max = st.ms_entries;
		if (max > 0 && (ev = calloc(max, sizeof(*ev))) == NULL) {
			r = errbuf_set(eb, -ENOMEM, "load: out of memory");
			goto fail;
		}
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			idx = log_key(&k);
			if (cnt >= max || idx == 0 ||
			    (cnt > 0 && idx != ev[cnt - 1].index + 1)) {
				r = errbuf_set(eb, -EUCLEAN,
				    "%s: log changed shape after entry %" PRIu64
				    " (corrupted)",
				    s->raft_path,
				    cnt > 0 ? ev[cnt - 1].index : 0);
				goto fail;
			}
			r = store_record_decode(v.mv_data, v.mv_size, idx,
			    &ev[cnt]);
			if (r == -ENOMEM) {
				errbuf_set(eb, r, "load: out of memory");
				goto fail;
			}
			if (r < 0) {
				r = errbuf_set(eb, -EUCLEAN,
				    "%s: log entry %" PRIu64 ": %s (corrupted)",
				    s->raft_path, idx,
				    r == -EUCLEAN ? "checksum mismatch" :
						    "bad record");
				goto fail;
			}
			cnt++;
		}
		if (rc != MDB_NOTFOUND) {
			r = env_fail(eb, s->raft, s->raft_path, "load", rc);
			goto fail;
		}
		mdb_cursor_close(cur);
		cur = NULL;
	}
	mdb_txn_abort(txn);
	if (term != NULL)
		*term = t;
	if (vote != NULL)
		*vote = vo;
	if (snap != NULL)
		*snap = sn;
	if (entries != NULL)
		*entries = ev;
	else
		store_entries_free(ev, cnt);
	if (n != NULL)
		*n = cnt;
	return 0;
fail:
	if (cur != NULL)
		mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	free(sn.config);
	store_entries_free(ev, cnt);
	return r;
}

int
store_log_bounds(struct store *s, uint64_t *first, uint64_t *last,
    uint64_t *snap_index)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	uint64_t f = 0, l = 0, si = 0;
	int rc, r = 0;

	if (s->raft == NULL)
		return -EIO;
	if ((rc = txn_begin(s->raft, MDB_RDONLY, &txn)) != 0)
		return env_errno(s->raft, rc);
	if ((r = raft_meta(s, txn, NULL, NULL, &si, NULL, NULL, NULL,
		 NULL)) < 0)
		goto out;
	if ((rc = mdb_cursor_open(txn, s->log_dbi, &cur)) != 0) {
		r = env_errno(s->raft, rc);
		goto out;
	}
	if ((rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) == 0) {
		f = log_key(&k);
		rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
		l = log_key(&k);
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		r = env_errno(s->raft, rc);
out:
	mdb_txn_abort(txn);
	if (r == 0) {
		if (first != NULL)
			*first = f;
		if (last != NULL)
			*last = l;
		if (snap_index != NULL)
			*snap_index = si;
	}
	return r;
}

/* batch_check - what can be checked of b without the stored log. */
static int
batch_check(const struct store_batch *b, struct errbuf *eb)
{
	const struct raft_entry *e;
	size_t i;

	if (b->n_entries > 0 && b->entries == NULL)
		return errbuf_set(eb, -EINVAL, "save: entries missing");
	for (i = 0; i < b->n_entries; i++) {
		e = &b->entries[i];
		if (e->index == 0 || e->term == 0)
			return errbuf_set(eb, -EINVAL,
			    "save: entry %zu of the batch has index %" PRIu64
			    " and term %" PRIu64 " (both must be >= 1)",
			    i, e->index, e->term);
		if (i > 0 && (e->index != e[-1].index + 1 ||
				 e->term < e[-1].term))
			return errbuf_set(eb, -EINVAL,
			    "save: entry %" PRIu64 " (term %" PRIu64
			    ") does not follow entry %" PRIu64 " (term %" PRIu64
			    ")",
			    e->index, e->term, e[-1].index, e[-1].term);
		if (e->len > STORE_RECORD_MAX_DATA ||
		    (e->len > 0 && e->data == NULL))
			return errbuf_set(eb, -EINVAL,
			    "save: entry %" PRIu64 ": bad data (%zu bytes)",
			    e->index, e->len);
	}
	if (b->snapshot != NULL &&
	    (b->snapshot->index == 0 || b->snapshot->term == 0 ||
		b->snapshot->config_len > SNAP_CONFIG_MAX ||
		(b->snapshot->config_len > 0 && b->snapshot->config == NULL)))
		return errbuf_set(eb, -EINVAL,
		    "save: bad snapshot meta (index %" PRIu64 ", term %" PRIu64
		    ", %zu config bytes)",
		    b->snapshot->index, b->snapshot->term,
		    b->snapshot->config_len);
	return 0;
}

/* entry_term - the term of the stored entry at idx (header check only). */
static int
entry_term(struct store *s, MDB_txn *txn, uint64_t idx, uint64_t *term,
    struct errbuf *eb)
{
	struct rec_view rv;
	uint8_t kb[8];
	MDB_val k = {8, kb}, v;
	int rc;

	key_set(kb, idx);
	if ((rc = mdb_get(txn, s->log_dbi, &k, &v)) != 0)
		return env_fail(eb, s->raft, s->raft_path, "reading the log",
		    rc);
	if (record_check(v.mv_data, v.mv_size, idx, false, &rv) != REC_OK)
		return errbuf_set(eb, -EUCLEAN,
		    "%s: log entry %" PRIu64 ": bad record (corrupted)",
		    s->raft_path, idx);
	*term = rv.term;
	return 0;
}

/* log_bounds_txn - first and last index in txn (0, 0 when empty). */
static int
log_bounds_txn(struct store *s, MDB_txn *txn, uint64_t *first,
    uint64_t *last, struct errbuf *eb)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	*first = *last = 0;
	if ((rc = mdb_cursor_open(txn, s->log_dbi, &cur)) != 0)
		return env_fail(eb, s->raft, s->raft_path, "reading the log",
		    rc);
	rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	if (rc == 0) {
		*first = log_key(&k);
		rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
		*last = log_key(&k);
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return env_fail(eb, s->raft, s->raft_path, "reading the log",
		    rc);
	return 0;
}

/* log_delete - delete the entries with index in [lo, hi]; *deleted counts
 * them. */
static int
log_delete(struct store *s, MDB_txn *txn, uint64_t lo, uint64_t hi,
    size_t *deleted, struct errbuf *eb)
{
	MDB_cursor *cur;
	MDB_val k, v;
	uint8_t kb[8];
	int rc;

	if ((rc = mdb_cursor_open(txn, s->log_dbi, &cur)) != 0)
		return env_fail(eb, s->raft, s->raft_path, "deleting", rc);
	key_set(kb, lo);
	k.mv_size = sizeof(kb);
	k.mv_data = kb;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	     rc == 0 && log_key(&k) <= hi;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
		(*deleted)++;
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return env_fail(eb, s->raft, s->raft_path,
		    "deleting log entries", rc);
	return 0;
}

/* save_txn - the body of store_save() in txn. */
static int
save_txn(struct store *s, MDB_txn *txn, const struct store_batch *b,
    size_t *deleted, struct errbuf *eb)
{
	const struct raft_entry *e;
	uint64_t snap_index = 0, snap_term = 0, first, last, prev_term, t;
	size_t i;
	uint8_t hs[HARD_STATE_LEN], kb[8];
	MDB_val k, v;
	int rc, r;

	if ((r = raft_meta(s, txn, NULL, NULL, &snap_index, &snap_term, NULL,
		 NULL, eb)) < 0)
		return r;
	if (b->set_hard_state) {
		hard_state_encode(hs, b->term, b->vote);
		k = hard_state_key;
		v.mv_size = sizeof(hs);
		v.mv_data = hs;
		if ((rc = mdb_put(txn, s->rmeta_dbi, &k, &v, 0)) != 0)
			return env_fail(eb, s->raft, s->raft_path,
			    "saving the hard state", rc);
	}
	if (b->snapshot != NULL) {
		const struct store_snapshot *sn = b->snapshot;
		uint8_t *p;

		if (sn->index < snap_index)
			return errbuf_set(eb, -EINVAL,
			    "save: snapshot at entry %" PRIu64
			    " is older than the stored one at %" PRIu64,
			    sn->index, snap_index);
		k = snapshot_key;
		v.mv_size = SNAP_OVERHEAD + sn->config_len;
		if ((rc = mdb_put(txn, s->rmeta_dbi, &k, &v, MDB_RESERVE)) != 0)
			return env_fail(eb, s->raft, s->raft_path,
			    "saving the snapshot meta", rc);
		p = v.mv_data;
		p[0] = STORE_RECORD_V1;
		be64_set(p + 1, sn->index);
		be64_set(p + 9, sn->term);
		be32_set(p + 17, (uint32_t)sn->config_len);
		if (sn->config_len > 0)
			memcpy(p + 21, sn->config, sn->config_len);
		be32_set(p + 21 + sn->config_len,
		    crc32c(0, p, 21 + sn->config_len));
		snap_index = sn->index;
		snap_term = sn->term;
	}
	if (b->truncate_from > 0 &&
	    (r = log_delete(s, txn, b->truncate_from, UINT64_MAX, deleted,
		 eb)) < 0)
		return r;
	if (b->n_entries > 0) {
		if ((r = log_bounds_txn(s, txn, &first, &last, eb)) < 0)
			return r;
		if (last != 0) {
			if ((r = entry_term(s, txn, last, &prev_term, eb)) < 0)
				return r;
		} else {
			last = snap_index;
			prev_term = snap_term;
		}
		e = &b->entries[0];
		if (e->index != last + 1)
			return errbuf_set(eb, -EINVAL,
			    "save: entry %" PRIu64 " does not follow the "
			    "last entry %" PRIu64 " (truncate first?)",
			    e->index, last);
		if (e->term < prev_term)
			return errbuf_set(eb, -EINVAL,
			    "save: entry %" PRIu64 " has term %" PRIu64
			    ", lower than the term %" PRIu64 " before it",
			    e->index, e->term, prev_term);
		for (i = 0; i < b->n_entries; i++) {
			e = &b->entries[i];
			key_set(kb, e->index);
			k.mv_size = sizeof(kb);
			k.mv_data = kb;
			v.mv_size = STORE_RECORD_OVERHEAD + e->len;
			rc = mdb_put(txn, s->log_dbi, &k, &v,
			    MDB_APPEND | MDB_RESERVE);
			if (rc != 0)
				return env_fail(eb, s->raft, s->raft_path,
				    "appending", rc);
			record_encode_into(v.mv_data, e);
		}
	}
	if (b->compact_to > 0) {
		if (b->compact_to > snap_index)
			return errbuf_set(eb, -EINVAL,
			    "save: compaction to entry %" PRIu64
			    " passes the snapshot at %" PRIu64,
			    b->compact_to, snap_index);
		if ((r = log_delete(s, txn, 1, b->compact_to, deleted,
			 eb)) < 0)
			return r;
	}
	/* the log must join the snapshot */
	if ((r = log_bounds_txn(s, txn, &first, &last, eb)) < 0)
		return r;
	if (first != 0 && (first > snap_index + 1 || last < snap_index))
		return errbuf_set(eb, -EINVAL,
		    "save: the log [%" PRIu64 ", %" PRIu64
		    "] would not join the snapshot at entry %" PRIu64,
		    first, last, snap_index);
	if (first != 0 && snap_index >= first) {
		if ((r = entry_term(s, txn, snap_index, &t, eb)) < 0)
			return r;
		if (t != snap_term)
			return errbuf_set(eb, -EINVAL,
			    "save: entry %" PRIu64 " has term %" PRIu64
			    " but the snapshot there has term %" PRIu64,
			    snap_index, t, snap_term);
	}
	return 0;
}

/* raft_settle - LMDB reuses the pages a transaction freed only once a
 * later transaction has committed (the previous meta page must stay
 * intact).  After deleting log entries, commit one tiny transaction so the
 * space they held is usable by the very next batch: that is what makes
 * compaction relieve a full map.  Best effort. */
static void
raft_settle(struct store *s)
{
	MDB_val k = {7, (void *)"version"}, v;
	MDB_txn *txn;
	uint8_t buf[VERSION_VAL_MAX];

	if (txn_begin(s->raft, 0, &txn) != 0)
		return;
	v.mv_size = version_val(buf, "raft");
	v.mv_data = buf;
	if (mdb_put(txn, s->rmeta_dbi, &k, &v, 0) != 0) {
		mdb_txn_abort(txn);
		return;
	}
	(void)mdb_txn_commit(txn);
}

int
store_save(struct store *s, const struct store_batch *b, struct errbuf *eb)
{
	MDB_txn *txn = NULL;
	size_t deleted = 0;
	int rc, r;

	if ((r = batch_check(b, eb)) < 0)
		return r;
	if ((r = raft_write_begin(s, &txn, eb)) < 0)
		return r;
	if ((r = save_txn(s, txn, b, &deleted, eb)) < 0) {
		mdb_txn_abort(txn);
		return r;
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		return env_fail(eb, s->raft, s->raft_path, "commit", rc);
	if (deleted > 0)
		raft_settle(s);
	return 0;
}

/* --- state machine: write transactions ---------------------------------- */

/* txn_fail - the LMDB error rc broke t: remember it for commit. */
static int
txn_fail(struct store_txn *t, const char *what, int rc)
{
	if (t->err == 0)
		t->err = env_fail(&t->eb, t->s->state, t->s->state_path, what,
		    rc);
	return t->err;
}

/* txn_table - the handle of table in t, created if create is set. */
static int
txn_table(struct store_txn *t, const char *table, bool create, MDB_dbi *dbi)
{
	struct store *s = t->s;
	char name[TABLE_PREFIX_LEN + STORE_TABLE_NAME_MAX + 1];
	int rc;

	if (!table_name_ok(table))
		return -EINVAL;
	if (table_find(s, table, s->ntables + s->npending, dbi) == 0)
		return 0;
	if (!create)
		return -ENOENT;
	if (s->ntables + s->npending >= s->max_tables)
		return -EMFILE;
	if (tables_reserve(s) < 0 ||
	    (s->tables[s->ntables + s->npending].name = strdup(table)) ==
		NULL)
		return -ENOMEM;
	snprintf(name, sizeof(name), "%s%s", TABLE_PREFIX, table);
	if ((rc = mdb_dbi_open(t->txn, name, MDB_CREATE, dbi)) != 0) {
		free(s->tables[s->ntables + s->npending].name);
		return txn_fail(t, "creating a table", rc);
	}
	s->tables[s->ntables + s->npending].dbi = *dbi;
	s->npending++;
	return 0;
}

static int
key_ok(struct store *s, const void *key, size_t klen)
{
	return key != NULL && klen >= 1 &&
	    klen <= (size_t)mdb_env_get_maxkeysize(s->state);
}

int
store_state_begin(struct store *s, struct store_txn **out)
{
	struct store_txn *t;
	int r;

	*out = NULL;
	if (s->wtxn != NULL)
		return -EBUSY;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return -ENOMEM;
	t->s = s;
	if ((r = state_begin(s, 0, &t->txn)) < 0) {
		free(t);
		return r;
	}
	s->wtxn = t;
	s->npending = 0;
	*out = t;
	return 0;
}

int
store_state_put(struct store_txn *t, const char *table, const void *key,
    size_t klen, const void *val, size_t vlen)
{
	MDB_dbi dbi;
	MDB_val k, v;
	int rc, r;

	if (t->err != 0)
		return t->err;
	if (!key_ok(t->s, key, klen) || vlen > UINT32_MAX ||
	    (vlen > 0 && val == NULL))
		return -EINVAL;
	if ((r = txn_table(t, table, true, &dbi)) < 0)
		return r;
	k.mv_size = klen;
	k.mv_data = (void *)key;
	v.mv_size = vlen;
	v.mv_data = (void *)val;
	if ((rc = mdb_put(t->txn, dbi, &k, &v, 0)) != 0)
		return txn_fail(t, "put", rc);
	return 0;
}

int
store_state_del(struct store_txn *t, const char *table, const void *key,
    size_t klen)
{
	MDB_dbi dbi;
	MDB_val k;
	int rc, r;

	if (t->err != 0)
		return t->err;
	if (!key_ok(t->s, key, klen))
		return -EINVAL;
	if ((r = txn_table(t, table, false, &dbi)) < 0)
		return r;
	k.mv_size = klen;
	k.mv_data = (void *)key;
	rc = mdb_del(t->txn, dbi, &k, NULL);
	if (rc == MDB_NOTFOUND)
		return -ENOENT;
	if (rc != 0)
		return txn_fail(t, "del", rc);
	return 0;
}

int
store_state_get(struct store_txn *t, const char *table, const void *key,
    size_t klen, const void **val, size_t *vlen)
{
	MDB_dbi dbi;
	MDB_val k, v;
	int rc, r;

	if (t->err != 0)
		return t->err;
	if (!key_ok(t->s, key, klen))
		return -EINVAL;
	if ((r = txn_table(t, table, false, &dbi)) < 0)
		return r;
	k.mv_size = klen;
	k.mv_data = (void *)key;
	rc = mdb_get(t->txn, dbi, &k, &v);
	if (rc == MDB_NOTFOUND)
		return -ENOENT;
	if (rc != 0)
		return txn_fail(t, "get", rc);
	*val = v.mv_data;
	*vlen = v.mv_size;
	return 0;
}

/* iterate - fn over the keys of dbi starting with prefix. */
static int
iterate(struct store *s, MDB_txn *txn, MDB_dbi dbi, const void *prefix,
    size_t plen, store_iter_fn fn, void *arg)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc, r = 0;

	if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0)
		return env_errno(s->state, rc);
	if (plen > 0) {
		k.mv_size = plen;
		k.mv_data = (void *)prefix;
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	} else {
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	}
	for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (plen > 0 && (k.mv_size < plen ||
				    memcmp(k.mv_data, prefix, plen) != 0))
			break;
		if ((r = fn(arg, k.mv_data, k.mv_size, v.mv_data,
			 v.mv_size)) != 0)
			break;
	}
	mdb_cursor_close(cur);
	if (r == 0 && rc != 0 && rc != MDB_NOTFOUND)
		r = env_errno(s->state, rc);
	return r;
}

int
store_state_iterate(struct store_txn *t, const char *table,
    const void *prefix, size_t plen, store_iter_fn fn, void *arg)
{
	MDB_dbi dbi;
	int r;

	if (t->err != 0)
		return t->err;
	if (plen > 0 && prefix == NULL)
		return -EINVAL;
	r = txn_table(t, table, false, &dbi);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	return iterate(t->s, t->txn, dbi, prefix, plen, fn, arg);
}

static void
txn_end(struct store_txn *t)
{
	t->s->wtxn = NULL;
	free(t);
}

int
store_state_savepoint(struct store_txn *t)
{
	MDB_txn *child;
	int rc;

	if (t->parent != NULL)
		return -EBUSY;
	if (t->err != 0)
		return t->err;
	if ((rc = mdb_txn_begin(t->s->state, t->txn, 0, &child)) != 0)
		return txn_fail(t, "savepoint", rc);
	t->parent = t->txn;
	t->txn = child;
	t->sp_npending = t->s->npending;
	t->sp_err = t->err;
	return 0;
}

void
store_state_rollback(struct store_txn *t)
{
	struct store *s = t->s;
	size_t i;

	if (t->parent == NULL)
		return;
	mdb_txn_abort(t->txn); /* closes handles of tables made since */
	for (i = s->ntables + t->sp_npending; i < s->ntables + s->npending;
	     i++)
		free(s->tables[i].name);
	s->npending = t->sp_npending;
	t->txn = t->parent;
	t->parent = NULL;
	t->err = t->sp_err;
}

int
store_state_release(struct store_txn *t)
{
	int rc;

	if (t->parent == NULL)
		return t->err;
	if (t->err != 0) {
		int r = t->err;

		store_state_rollback(t);
		t->err = r; /* the whole transaction is broken */
		return r;
	}
	rc = mdb_txn_commit(t->txn);
	t->txn = t->parent;
	t->parent = NULL;
	if (rc != 0)
		return txn_fail(t, "savepoint commit", rc);
	return 0;
}

void
store_state_abort(struct store_txn *t)
{
	if (t == NULL)
		return;
	if (t->parent != NULL)
		store_state_rollback(t);
	mdb_txn_abort(t->txn);
	tables_drop_pending(t->s);
	txn_end(t);
}

int
store_state_commit(struct store_txn *t, uint64_t applied_index,
    struct errbuf *eb)
{
	struct store *s = t->s;
	MDB_val k = {7, (void *)"applied"}, v;
	uint64_t cur;
	uint8_t buf[8];
	int rc, r;

	if (t->parent != NULL && t->err == 0)
		store_state_release(t);
	if (t->err != 0) {
		r = t->err;
		errbuf_set(eb, r, "%s", t->eb.msg);
		store_state_abort(t);
		return r;
	}
	if ((r = state_applied(s, t->txn, &cur)) < 0) {
		errbuf_set(eb, r, "%s: reading the applied index: %s",
		    s->state_path, strerror(-r));
		store_state_abort(t);
		return r;
	}
	if (applied_index <= cur) {
		store_state_abort(t);
		return errbuf_set(eb, -EINVAL,
		    "%s: applied index %" PRIu64
		    " does not advance the stored %" PRIu64,
		    s->state_path, applied_index, cur);
	}
	be64_set(buf, applied_index);
	v.mv_size = sizeof(buf);
	v.mv_data = buf;
	if ((rc = mdb_put(t->txn, s->smeta_dbi, &k, &v, 0)) != 0) {
		r = env_fail(eb, s->state, s->state_path,
		    "writing the applied index", rc);
		store_state_abort(t);
		return r;
	}
	rc = mdb_txn_commit(t->txn);
	if (rc != 0) {
		r = env_fail(eb, s->state, s->state_path, "commit", rc);
		tables_drop_pending(s); /* LMDB closed their handles */
		txn_end(t);
		return r;
	}
	s->ntables += s->npending;
	s->npending = 0;
	txn_end(t);
	return 0;
}

int
store_state_sync(struct store *s, struct errbuf *eb)
{
	int rc;

	if (s->state == NULL)
		return errbuf_set(eb, -EIO, "%s: not open", s->state_path);
	if ((rc = mdb_env_sync(s->state, 1)) != 0)
		return env_fail(eb, s->state, s->state_path, "sync", rc);
	return 0;
}

int
store_state_applied(struct store *s, uint64_t *applied)
{
	MDB_txn *txn;
	int r;

	*applied = 0;
	if ((r = state_begin(s, MDB_RDONLY, &txn)) < 0)
		return r;
	r = state_applied(s, txn, applied);
	mdb_txn_abort(txn);
	return r;
}

uint64_t
store_state_generation(const struct store *s)
{
	return s->generation;
}

/* --- state machine: read transactions ----------------------------------- */

int
store_state_read_begin(struct store *s, struct store_read **out)
{
	struct store_read *r;
	int rc;

	*out = NULL;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return -ENOMEM;
	r->s = s;
	if ((rc = state_begin(s, MDB_RDONLY, &r->txn)) < 0) {
		free(r);
		return rc;
	}
	if ((rc = state_applied(s, r->txn, &r->applied)) < 0) {
		mdb_txn_abort(r->txn);
		free(r);
		return rc;
	}
	r->ntables = s->ntables;
	s->nreaders++;
	*out = r;
	return 0;
}

int
store_state_read_get(struct store_read *r, const char *table,
    const void *key, size_t klen, const void **val, size_t *vlen)
{
	MDB_dbi dbi;
	MDB_val k, v;
	int rc;

	if (!table_name_ok(table) || !key_ok(r->s, key, klen))
		return -EINVAL;
	if (table_find(r->s, table, r->ntables, &dbi) < 0)
		return -ENOENT;
	k.mv_size = klen;
	k.mv_data = (void *)key;
	if ((rc = mdb_get(r->txn, dbi, &k, &v)) != 0)
		return env_errno(r->s->state, rc);
	*val = v.mv_data;
	*vlen = v.mv_size;
	return 0;
}

int
store_state_read_iterate(struct store_read *r, const char *table,
    const void *prefix, size_t plen, store_iter_fn fn, void *arg)
{
	MDB_dbi dbi;

	if (!table_name_ok(table) || (plen > 0 && prefix == NULL))
		return -EINVAL;
	if (table_find(r->s, table, r->ntables, &dbi) < 0)
		return 0;
	return iterate(r->s, r->txn, dbi, prefix, plen, fn, arg);
}

uint64_t
store_state_read_applied(const struct store_read *r)
{
	return r->applied;
}

void
store_state_read_end(struct store_read *r)
{
	if (r == NULL)
		return;
	mdb_txn_abort(r->txn);
	r->s->nreaders--;
	free(r);
}

/* --- state machine: snapshots ------------------------------------------- */

/* snapshot_check - path is a single-file state environment that is not
 * truncated, has the state's meta and at most max_tables tables; its
 * applied index goes to *applied. */
static int
snapshot_check(struct store *s, const char *path, uint64_t *applied,
    struct errbuf *eb)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi meta, main_dbi;
	MDB_cursor *cur;
	MDB_val k, v;
	struct stat sb;
	size_t ntables = 0;
	int rc, r;

	/* LMDB would take an empty file for a new environment */
	if (stat(path, &sb) < 0)
		return errbuf_set(eb, -errno, "snapshot: %s: %s", path,
		    strerror(errno));
	if (!S_ISREG(sb.st_mode) || sb.st_size == 0)
		return errbuf_set(eb, -EUCLEAN,
		    "snapshot: %s: %s, not a state snapshot", path,
		    S_ISREG(sb.st_mode) ? "empty file" : "not a regular file");
	if ((r = env_open(&env, path, MDB_NOSUBDIR | MDB_RDONLY | MDB_NOLOCK,
		 0, s->max_tables + 2, 0, eb)) < 0)
		return r == -ENOENT ? r : errbuf_wrap(eb, r, "snapshot");
	if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0) {
		r = env_fail(eb, env, path, "snapshot", rc);
		mdb_env_close(env);
		return r;
	}
	rc = mdb_dbi_open(txn, "meta", 0, &meta);
	if (rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE) {
		r = errbuf_set(eb, -EUCLEAN,
		    "%s: not a state snapshot (no meta)", path);
		goto out;
	}
	if (rc != 0) {
		r = env_fail(eb, env, path, "snapshot meta", rc);
		goto out;
	}
	if ((r = meta_version(env, txn, meta, false, "state", path, eb)) < 0)
		goto out;
	k.mv_size = 7;
	k.mv_data = (void *)"applied";
	rc = mdb_get(txn, meta, &k, &v);
	if (rc == MDB_NOTFOUND) {
		*applied = 0;
	} else if (rc != 0 || v.mv_size != 8) {
		r = rc != 0 ? env_fail(eb, env, path, "applied index", rc) :
			      errbuf_set(eb, -EUCLEAN,
				  "%s: applied index damaged (corrupted)",
				  path);
		goto out;
	} else {
		*applied = be64_get(v.mv_data);
	}
	if ((rc = mdb_dbi_open(txn, NULL, 0, &main_dbi)) != 0 ||
	    (rc = mdb_cursor_open(txn, main_dbi, &cur)) != 0) {
		r = env_fail(eb, env, path, "listing tables", rc);
		goto out;
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size > TABLE_PREFIX_LEN &&
		    memcmp(k.mv_data, TABLE_PREFIX, TABLE_PREFIX_LEN) == 0)
			ntables++;
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND)
		r = env_fail(eb, env, path, "listing tables", rc);
	else if (ntables > s->max_tables)
		r = errbuf_set(eb, -EMFILE,
		    "%s: %zu tables, more than max_tables (%u)", path, ntables,
		    s->max_tables);
out:
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return r;
}

int
store_state_snapshot(struct store *s, const char *path, uint64_t *applied,
    struct errbuf *eb)
{
	char *tmp = NULL, *dir = NULL;
	uint64_t a = 0;
	int fd = -1, rc, r;

	if (s->state == NULL)
		return errbuf_set(eb, -EIO, "%s: not open", s->state_path);
	if ((tmp = malloc(strlen(path) + 5)) == NULL ||
	    (dir = dir_of(path)) == NULL) {
		r = errbuf_set(eb, -ENOMEM, "snapshot: out of memory");
		goto out;
	}
	sprintf(tmp, "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = errbuf_set(eb, -errno, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	if ((rc = mdb_env_copyfd2(s->state, fd, MDB_CP_COMPACT)) != 0) {
		r = mdb_errno(rc);
		errbuf_set(eb, r, "%s: copying %s: %s", tmp, s->state_path,
		    mdb_strerror(rc));
		goto out;
	}
	if (fdatasync(fd) < 0) {
		r = errbuf_set(eb, -errno, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	rc = close(fd);
	fd = -1;
	if (rc < 0) {
		r = errbuf_set(eb, -errno, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	if ((r = snapshot_check(s, tmp, &a, eb)) < 0)
		goto out;
	if (rename(tmp, path) < 0) {
		r = errbuf_set(eb, -errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	if ((r = fsync_dir(dir)) < 0) {
		errbuf_set(eb, r, "%s: %s", dir, strerror(-r));
		goto out_kept;
	}
	if (applied != NULL)
		*applied = a;
	goto out_kept;
out:
	if (tmp != NULL)
		unlink(tmp);
out_kept:
	if (fd >= 0)
		close(fd);
	free(tmp);
	free(dir);
	return r;
}

int
store_state_file_prepare(struct store *s, const char *path, uint64_t applied,
    const char *table, const void *key, size_t klen, const void *val,
    size_t vlen, struct errbuf *eb)
{
	char name[TABLE_PREFIX_LEN + STORE_TABLE_NAME_MAX + 1];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi meta, dbi;
	MDB_val k, v;
	uint64_t was = 0;
	uint8_t buf[8];
	int rc, r;

	if (!table_name_ok(table))
		return errbuf_set(eb, -EINVAL, "bad table name");
	if ((r = snapshot_check(s, path, &was, eb)) < 0)
		return r;
	/* NOLOCK: the file is ours alone until it is swapped in */
	if ((r = env_open(&env, path, MDB_NOSUBDIR | MDB_NOLOCK, s->state_map,
		 s->max_tables + 2, 0, eb)) < 0)
		return r;
	if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0) {
		r = env_fail(eb, env, path, "prepare", rc);
		mdb_env_close(env);
		return r;
	}
	snprintf(name, sizeof(name), "%s%s", TABLE_PREFIX, table);
	be64_set(buf, applied);
	k.mv_size = 7;
	k.mv_data = (void *)"applied";
	v.mv_size = sizeof(buf);
	v.mv_data = buf;
	if ((rc = mdb_dbi_open(txn, "meta", 0, &meta)) != 0 ||
	    (rc = mdb_put(txn, meta, &k, &v, 0)) != 0 ||
	    (rc = mdb_dbi_open(txn, name, MDB_CREATE, &dbi)) != 0) {
		r = env_fail(eb, env, path, "prepare", rc);
		mdb_txn_abort(txn);
		mdb_env_close(env);
		return r;
	}
	k.mv_size = klen;
	k.mv_data = (void *)(uintptr_t)key;
	v.mv_size = vlen;
	v.mv_data = (void *)(uintptr_t)val;
	if ((rc = mdb_put(txn, dbi, &k, &v, 0)) != 0 ||
	    (rc = mdb_txn_commit(txn)) != 0) {
		if (rc != 0 && txn != NULL)
			mdb_txn_abort(txn);
		r = env_fail(eb, env, path, "prepare", rc);
		mdb_env_close(env);
		return r;
	}
	/* the commit synced it (no MDB_NOSYNC here) */
	mdb_env_close(env);
	return 0;
}

/* copy_file - copy src to a new file dst and fsync it. */
static int
copy_file(const char *src, const char *dst, struct errbuf *eb)
{
	char buf[65536];
	ssize_t n, w, off;
	int in, out, r = 0;

	if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0)
		return errbuf_set(eb, -errno, "%s: %s", src, strerror(errno));
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0) {
		r = errbuf_set(eb, -errno, "%s: %s", dst, strerror(errno));
		close(in);
		return r;
	}
	while ((n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = errbuf_set(eb, -errno, "%s: %s", src,
			    strerror(errno));
			goto out;
		}
		for (off = 0; off < n; off += w) {
			w = write(out, buf + off, (size_t)(n - off));
			if (w < 0) {
				if (errno == EINTR) {
					w = 0;
					continue;
				}
				r = errbuf_set(eb, -errno, "%s: %s", dst,
				    strerror(errno));
				goto out;
			}
		}
	}
	if (fdatasync(out) < 0)
		r = errbuf_set(eb, -errno, "%s: %s", dst, strerror(errno));
out:
	if (close(out) < 0 && r == 0)
		r = errbuf_set(eb, -errno, "%s: %s", dst, strerror(errno));
	close(in);
	if (r < 0)
		unlink(dst);
	return r;
}

int
store_state_restore(struct store *s, const char *path, struct errbuf *eb)
{
	char *data = NULL, *staged = NULL, *lock = NULL;
	struct errbuf eb2;
	struct stat sa, sb;
	uint64_t applied = 0, now = 0;
	int fd, r, r2;

	if (s->wtxn != NULL || s->nreaders > 0)
		return errbuf_set(eb, -EBUSY,
		    "%s: restore with %s transaction open", s->state_path,
		    s->wtxn != NULL ? "a write" : "a read");
	if ((r = snapshot_check(s, path, &applied, eb)) < 0)
		return r;
	data = path_join(s->state_path, "data.mdb");
	if (data != NULL && stat(path, &sa) == 0 && stat(data, &sb) == 0 &&
	    sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino) {
		free(data);
		return errbuf_set(eb, -EINVAL,
		    "restore: %s is the state environment itself", path);
	}
	staged = path_join(s->state_path, "data.mdb.restore");
	lock = path_join(s->state_path, "lock.mdb");
	if (data == NULL || staged == NULL || lock == NULL) {
		r = errbuf_set(eb, -ENOMEM, "restore: out of memory");
		goto out;
	}
	/* make the file durable, and local to the state dir */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fsync(fd) < 0) {
		r = errbuf_set(eb, -errno, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	close(fd);
	unlink(staged); /* left by an interrupted restore */
	if (link(path, staged) < 0) {
		if (errno != EXDEV && errno != EPERM && errno != EMLINK) {
			r = errbuf_set(eb, -errno, "%s: %s", staged,
			    strerror(errno));
			goto out;
		}
		/* another file system: copy it next to data.mdb */
		if ((r = copy_file(path, staged, eb)) < 0)
			goto out;
	}

	/* swap: from here the old environment is closed */
	state_env_close(s);
	if (rename(staged, data) < 0) {
		r = errbuf_set(eb, -errno, "%s: %s", data, strerror(errno));
		unlink(staged);
	} else {
		s->generation++;
		/* a fresh lock file: the old one holds the old file's
		 * transaction ids */
		unlink(lock);
		if ((r = fsync_dir(s->state_path)) < 0)
			errbuf_set(eb, r, "%s: %s", s->state_path,
			    strerror(-r));
		unlink(path);
	}
	if ((r2 = state_env_open(s, &eb2)) < 0) {
		if (r == 0)
			r = errbuf_set(eb, r2, "restore: reopening: %s",
			    eb2.msg);
	} else if (r == 0 && store_state_applied(s, &now) == 0 &&
	    now != applied) {
		r = errbuf_set(eb, -EIO,
		    "%s: applied index %" PRIu64 " after restore, expected %"
		    PRIu64, s->state_path, now, applied);
	}
out:
	free(data);
	free(staged);
	free(lock);
	return r;
}
