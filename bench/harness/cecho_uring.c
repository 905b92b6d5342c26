//go:build ignore

// The constraint above keeps the go command from taking this file for cgo
// source: the harness embeds it and compiles it with gcc on its own.

/*
 * cecho_uring: an io_uring echo server on liburing, the second yardstick
 * of sockit's benchmark harness (beside cecho, on epoll). It is not part of
 * the product.
 *
 *   cecho_uring [HOST [PORT]]     default 127.0.0.1 0 (any free port)
 *
 * Same command line and behaviour as cecho: it prints "listening on
 * tcp://HOST:PORT" once it listens, then serves until killed; every
 * connection has TCP_NODELAY (set on the listener: Linux copies it to
 * each accepted socket, so that costs no system call per connection);
 * what a connection sends comes back in order; when the peer finishes
 * (EOF) or fails, what is still owed is sent and the connection closes.
 * It needs Linux 6.0 (multishot receive) and exits with a message,
 * before printing where it listens, where io_uring is missing or
 * disabled.
 *
 * How, with io_uring only (one thread, no epoll, no per-message system
 * call):
 *  - The ring is set up with IORING_SETUP_SINGLE_ISSUER and
 *    IORING_SETUP_DEFER_TASKRUN, so completions are processed only when the
 *    loop asks for them, in one batch (without both where the kernel
 *    refuses them with EINVAL).
 *  - One multishot accept on the listener; one multishot receive per
 *    connection into a ring of provided buffers shared by all connections
 *    (registered with io_uring_register_buf_ring: liburing 2.3 has no
 *    io_uring_setup_buf_ring, which does the same).
 *  - A received buffer is sent back as it is, no copy, and returns to the
 *    buffer ring when its send completes. Each connection has one send in
 *    flight at most and a queue of the buffers waiting behind it, so its
 *    output never reorders; all it has queued when the send is issued goes
 *    in that one send (sendmsg with one iovec per buffer).
 *  - Sends are issued after a whole batch of completions is handled, so
 *    several messages a connection received in one batch leave in one send;
 *    new requests and the wait for the next completions are one system call
 *    (io_uring_submit_and_wait), buffers go back to the kernel once a batch.
 *  - A connection with MAX_QUEUED buffers waiting (its peer does not read)
 *    has its receive cancelled until the queue drains, which bounds it as
 *    cecho's one pending read does. When the buffer ring runs dry a
 *    receive ends with ENOBUFS; the connection waits until buffers come
 *    back and receives again (nothing is lost: the data stays in the
 *    socket).
 *  - Closes go through the ring too, once nothing is in flight on the
 *    connection.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define SQ_ENTRIES 4096
#define CQ_ENTRIES 16384
#define BUF_SIZE (16 * 1024) /* a 16 KiB message in one buffer */
#define BUF_COUNT 512        /* power of two; 8 MiB in all, touched as used */
#define BGID 0
#define MAX_QUEUED 8   /* buffers a connection may hold before it stops receiving */
#define IOV_PER_SEND 16
#define IOV_ARENA 4096 /* iovecs for the sendmsgs of one submission */

/* Operations, in the low byte of a request's user_data; the descriptor is
 * above it. */
enum { OP_ACCEPT = 1, OP_RECV, OP_SEND, OP_CLOSE, OP_CANCEL, OP_RETRY };

/* out is a received buffer owed to the peer. */
struct out {
	struct out *next;
	uint32_t off, len;
	uint16_t bid;
};

/* Connection flags. */
enum {
	C_OPEN = 1 << 0,    /* accepted, not yet closing */
	C_RECV = 1 << 1,    /* a multishot receive is armed */
	C_SENDING = 1 << 2, /* a send is in flight */
	C_EOF = 1 << 3,     /* receive no more: the peer finished, or failed */
	C_BROKEN = 1 << 4,  /* a send failed: drop what is owed */
	C_PAUSED = 1 << 5,  /* too much queued: receive cancelled until it drains */
	C_STARVED = 1 << 6, /* receive ended for want of buffers */
	C_READY = 1 << 7,   /* on the ready list: has output, no send in flight */
};

/* conn is a connection's state, indexed by its descriptor (as cecho's). */
struct conn {
	struct out *head, *tail; /* head..: in flight (inflight of them), then queued */
	uint16_t nqueued;        /* buffers held, in flight or queued */
	uint16_t inflight;       /* buffers in the send in flight */
	uint8_t flags;
};

static struct io_uring ring;
static unsigned features;
static struct conn *conns;
static int nconns;
static int lfd;
static int accept_armed, accept_waiting;

static char *bufs;
static struct io_uring_buf_ring *br;
static int recycled; /* buffers added to the ring since the last advance */
static int held;     /* buffers the application holds */

static struct out *free_outs;

static struct iovec iov_arena[IOV_ARENA];
static struct msghdr msg_arena[IOV_ARENA];
static int iov_used, msg_used;

/* Lists of descriptors: ready to send, starved of buffers. An entry may
 * be stale (the connection closed, the descriptor perhaps reused): the
 * flag, cleared on close, is what counts. */
struct list {
	int *fd;
	int n, cap;
};
static struct list ready, starved;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void die_err(const char *what, int err)
{
	fprintf(stderr, "cecho_uring: %s: %s\n", what, strerror(err));
	exit(1);
}

static void push(struct list *l, int fd)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 1024;
		l->fd = realloc(l->fd, (size_t)l->cap * sizeof *l->fd);
		if (!l->fd)
			die("realloc");
	}
	l->fd[l->n++] = fd;
}

static uint64_t udata(int fd, int op)
{
	return (uint64_t)(uint32_t)fd << 8 | (uint64_t)op;
}

static void submit(void)
{
	int ret;
	do {
		ret = io_uring_submit(&ring);
	} while (ret == -EINTR);
	if (ret < 0)
		die_err("io_uring_submit", -ret);
	/* Once submitted, the kernel has copied the msghdrs and iovecs
	 * (IORING_FEAT_SUBMIT_STABLE). */
	iov_used = msg_used = 0;
}

/* sqe is a free submission entry, submitting what is queued if the ring
 * is full. */
static struct io_uring_sqe *sqe(void)
{
	struct io_uring_sqe *s = io_uring_get_sqe(&ring);
	if (!s) {
		submit();
		s = io_uring_get_sqe(&ring);
		if (!s)
			die_err("io_uring_get_sqe", EBUSY);
	}
	return s;
}

static void arm_accept(void)
{
	struct io_uring_sqe *s = sqe();
	io_uring_prep_multishot_accept(s, lfd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(s, udata(lfd, OP_ACCEPT));
	accept_armed = 1;
}

static void arm_recv(int fd)
{
	struct io_uring_sqe *s = sqe();
	io_uring_prep_recv_multishot(s, fd, NULL, 0, 0);
	s->flags |= IOSQE_BUFFER_SELECT;
	s->buf_group = BGID;
	io_uring_sqe_set_data64(s, udata(fd, OP_RECV));
	conns[fd].flags |= C_RECV;
}

static void cancel_recv(int fd)
{
	struct io_uring_sqe *s = sqe();
	io_uring_prep_cancel64(s, udata(fd, OP_RECV), 0);
	io_uring_sqe_set_data64(s, udata(fd, OP_CANCEL));
	if (features & IORING_FEAT_CQE_SKIP)
		s->flags |= IOSQE_CQE_SKIP_SUCCESS;
}

/* recycle gives buffer bid back to the kernel (at the next advance). */
static void recycle(uint16_t bid)
{
	io_uring_buf_ring_add(br, bufs + (size_t)bid * BUF_SIZE, BUF_SIZE, bid,
			      io_uring_buf_ring_mask(BUF_COUNT), recycled++);
	held--;
}

static void advance_buffers(void)
{
	if (recycled) {
		io_uring_buf_ring_advance(br, recycled);
		recycled = 0;
	}
}

static struct out *new_out(void)
{
	struct out *o = free_outs;
	if (o) {
		free_outs = o->next;
		return o;
	}
	o = malloc(sizeof *o);
	if (!o)
		die("malloc");
	return o;
}

/* pop frees the head of c's queue and its buffer. */
static void pop(struct conn *c)
{
	struct out *o = c->head;
	c->head = o->next;
	if (!c->head)
		c->tail = NULL;
	recycle(o->bid);
	o->next = free_outs;
	free_outs = o;
	c->nqueued--;
}

static void drop_queue(struct conn *c)
{
	while (c->head)
		pop(c);
	c->inflight = 0;
}

/* start_send sends everything c has queued (up to IOV_PER_SEND buffers)
 * in one request. */
static void start_send(int fd)
{
	struct conn *c = &conns[fd];
	struct io_uring_sqe *s;
	int n = 0;
	for (struct out *o = c->head; o && n < IOV_PER_SEND; o = o->next)
		n++;
	if (n == 1) {
		s = sqe();
		struct out *o = c->head;
		io_uring_prep_send(s, fd, bufs + (size_t)o->bid * BUF_SIZE + o->off, o->len - o->off, MSG_NOSIGNAL);
	} else {
		if (iov_used + n > IOV_ARENA || msg_used == IOV_ARENA)
			submit();
		s = sqe(); /* may submit too, which empties the arena: take it after */
		struct iovec *iov = &iov_arena[iov_used];
		struct msghdr *msg = &msg_arena[msg_used++];
		int i = 0;
		for (struct out *o = c->head; i < n; o = o->next, i++) {
			iov[i].iov_base = bufs + (size_t)o->bid * BUF_SIZE + o->off;
			iov[i].iov_len = o->len - o->off;
		}
		iov_used += n;
		memset(msg, 0, sizeof *msg);
		msg->msg_iov = iov;
		msg->msg_iovlen = (size_t)n;
		io_uring_prep_sendmsg(s, fd, msg, MSG_NOSIGNAL);
	}
	io_uring_sqe_set_data64(s, udata(fd, OP_SEND));
	c->inflight = (uint16_t)n;
	c->flags |= C_SENDING;
}

/* settle does what connection fd's state calls for once its completions
 * are handled: receive again, or close once nothing is left in flight. */
static void settle(int fd)
{
	struct conn *c = &conns[fd];
	if (!(c->flags & C_OPEN))
		return;
	if (c->flags & C_EOF) {
		if (c->flags & C_RECV) /* a failed send: end the receive first */
			return;
		if ((c->flags & C_SENDING) || c->head)
			return;
		c->flags = 0;
		struct io_uring_sqe *s = sqe();
		io_uring_prep_close(s, fd);
		io_uring_sqe_set_data64(s, udata(fd, OP_CLOSE));
		if (features & IORING_FEAT_CQE_SKIP)
			s->flags |= IOSQE_CQE_SKIP_SUCCESS;
		return;
	}
	if (!(c->flags & (C_RECV | C_PAUSED | C_STARVED)))
		arm_recv(fd);
}

static void on_accept(struct io_uring_cqe *cqe)
{
	if (!(cqe->flags & IORING_CQE_F_MORE))
		accept_armed = 0;
	int fd = cqe->res;
	if (fd < 0) {
		if (fd != -EINTR && fd != -ECONNABORTED && fd != -EAGAIN)
			fprintf(stderr, "cecho_uring: accept: %s\n", strerror(-fd));
		if (!accept_armed && (fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS || fd == -ENOMEM)) {
			/* Out of descriptors or memory: try again in 10 ms rather
			 * than spin. */
			static struct __kernel_timespec ts = {.tv_nsec = 10 * 1000 * 1000};
			struct io_uring_sqe *s = sqe();
			io_uring_prep_timeout(s, &ts, 0, 0);
			io_uring_sqe_set_data64(s, udata(lfd, OP_RETRY));
			accept_waiting = 1;
		}
		return;
	}
	if (fd >= nconns) {
		close(fd);
		return;
	}
	conns[fd] = (struct conn){.flags = C_OPEN};
	arm_recv(fd);
}

static void on_recv(int fd, struct io_uring_cqe *cqe)
{
	struct conn *c = &conns[fd];
	if (!(cqe->flags & IORING_CQE_F_MORE))
		c->flags &= ~C_RECV;
	if (cqe->flags & IORING_CQE_F_BUFFER) {
		uint16_t bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		held++;
		if (cqe->res <= 0 || (c->flags & (C_BROKEN | C_EOF))) {
			recycle(bid);
		} else {
			struct out *o = new_out();
			*o = (struct out){.bid = bid, .len = (uint32_t)cqe->res};
			if (c->tail)
				c->tail->next = o;
			else
				c->head = o;
			c->tail = o;
			c->nqueued++;
			if (!(c->flags & (C_SENDING | C_READY))) {
				c->flags |= C_READY;
				push(&ready, fd);
			}
			if (c->nqueued >= MAX_QUEUED && (c->flags & C_RECV) && !(c->flags & C_PAUSED)) {
				c->flags |= C_PAUSED;
				cancel_recv(fd);
			}
		}
	}
	if (cqe->res == 0) {
		c->flags |= C_EOF;
	} else if (cqe->res < 0) {
		switch (cqe->res) {
		case -ENOBUFS:
			if (!(c->flags & C_STARVED)) {
				c->flags |= C_STARVED;
				push(&starved, fd);
			}
			break;
		case -ECANCELED:
			break;
		case -EINVAL:
			die_err("multishot recv (Linux 6.0 or later needed)", EINVAL);
			break;
		default: /* reset and the like: finish what is owed, then close */
			c->flags |= C_EOF;
		}
	}
	settle(fd);
}

static void on_send(int fd, struct io_uring_cqe *cqe)
{
	struct conn *c = &conns[fd];
	c->flags &= ~C_SENDING;
	if (cqe->res < 0) {
		c->flags |= C_BROKEN | C_EOF;
		drop_queue(c);
		if (c->flags & C_RECV)
			cancel_recv(fd);
		settle(fd);
		return;
	}
	uint32_t n = (uint32_t)cqe->res;
	for (int i = 0; i < c->inflight && n > 0; i++) {
		struct out *o = c->head;
		uint32_t left = o->len - o->off;
		if (n < left) { /* a short send: the rest goes next */
			o->off += n;
			break;
		}
		n -= left;
		pop(c);
	}
	c->inflight = 0;
	if (c->head) {
		if (!(c->flags & C_READY)) {
			c->flags |= C_READY;
			push(&ready, fd);
		}
	} else if (c->flags & C_PAUSED) {
		c->flags &= ~C_PAUSED;
	}
	settle(fd);
}

/* flush_ready starts a send on every connection with output waiting and
 * none in flight. */
static void flush_ready(void)
{
	for (int i = 0; i < ready.n; i++) {
		int fd = ready.fd[i];
		struct conn *c = &conns[fd];
		if (!(c->flags & C_READY))
			continue;
		c->flags &= ~C_READY;
		if (c->head && !(c->flags & C_SENDING))
			start_send(fd);
	}
	ready.n = 0;
}

/* feed_starved lets connections that ran out of buffers receive again,
 * once some are back. */
static void feed_starved(void)
{
	if (starved.n == 0 || held >= BUF_COUNT)
		return;
	for (int i = 0; i < starved.n; i++) {
		int fd = starved.fd[i];
		struct conn *c = &conns[fd];
		if (!(c->flags & C_STARVED))
			continue;
		c->flags &= ~C_STARVED;
		settle(fd);
	}
	starved.n = 0;
}

static void setup_ring(void)
{
	struct io_uring_params p = {
		.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		.cq_entries = CQ_ENTRIES,
	};
	int ret = io_uring_queue_init_params(SQ_ENTRIES, &ring, &p);
	if (ret == -EINVAL) { /* before Linux 6.1 */
		memset(&p, 0, sizeof p);
		p.flags = IORING_SETUP_CQSIZE;
		p.cq_entries = CQ_ENTRIES;
		ret = io_uring_queue_init_params(SQ_ENTRIES, &ring, &p);
	}
	if (ret < 0) {
		if (ret == -EPERM)
			die_err("io_uring_queue_init (io_uring disabled? see sysctl kernel.io_uring_disabled)", -ret);
		die_err("io_uring_queue_init", -ret);
	}
	features = p.features;
	if (!(features & IORING_FEAT_SUBMIT_STABLE))
		die_err("io_uring without IORING_FEAT_SUBMIT_STABLE (Linux 5.5 or later needed)", ENOSYS);
	io_uring_register_ring_fd(&ring); /* saves a lookup per enter; optional */

	size_t ringsize = BUF_COUNT * sizeof(struct io_uring_buf);
	br = mmap(NULL, ringsize, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (br == MAP_FAILED)
		die("mmap buffer ring");
	bufs = mmap(NULL, (size_t)BUF_COUNT * BUF_SIZE, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (bufs == MAP_FAILED)
		die("mmap buffers");
	io_uring_buf_ring_init(br);
	struct io_uring_buf_reg reg = {.ring_addr = (uint64_t)(uintptr_t)br, .ring_entries = BUF_COUNT, .bgid = BGID};
	if ((ret = io_uring_register_buf_ring(&ring, &reg, 0)) < 0)
		die_err("io_uring_register_buf_ring (Linux 5.19 or later needed)", -ret);
	for (int i = 0; i < BUF_COUNT; i++)
		io_uring_buf_ring_add(br, bufs + (size_t)i * BUF_SIZE, BUF_SIZE, (uint16_t)i, io_uring_buf_ring_mask(BUF_COUNT), i);
	io_uring_buf_ring_advance(br, BUF_COUNT);
}

int main(int argc, char **argv)
{
	const char *host = argc > 1 ? argv[1] : "127.0.0.1";
	int port = argc > 2 ? atoi(argv[2]) : 0;

	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	nconns = (int)rl.rlim_cur;
	conns = calloc((size_t)nconns, sizeof *conns);
	if (!conns)
		die("calloc");
	signal(SIGPIPE, SIG_IGN);

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		die("socket");
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	setsockopt(lfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* inherited by accepted sockets */
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "cecho_uring: bad IPv4 address %s\n", host);
		return 2;
	}
	if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0)
		die("bind");
	if (listen(lfd, 65535) < 0) /* the kernel caps it at somaxconn */
		die("listen");
	socklen_t salen = sizeof sa;
	if (getsockname(lfd, (struct sockaddr *)&sa, &salen) < 0)
		die("getsockname");

	setup_ring();
	printf("listening on tcp://%s:%d\n", host, ntohs(sa.sin_port));
	fflush(stdout);

	arm_accept();
	for (;;) {
		int ret = io_uring_submit_and_wait(&ring, 1);
		iov_used = msg_used = 0;
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY && ret != -ETIME)
			die_err("io_uring_submit_and_wait", -ret);
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&ring, head, cqe)
		{
			uint64_t ud = io_uring_cqe_get_data64(cqe);
			int fd = (int)(ud >> 8);
			switch (ud & 0xff) {
			case OP_ACCEPT:
				on_accept(cqe);
				break;
			case OP_RECV:
				on_recv(fd, cqe);
				break;
			case OP_SEND:
				on_send(fd, cqe);
				break;
			case OP_RETRY:
				accept_waiting = 0;
				break;
			}
			seen++;
		}
		io_uring_cq_advance(&ring, seen);
		flush_ready();
		advance_buffers();
		feed_starved();
		if (!accept_armed && !accept_waiting)
			arm_accept();
	}
}
