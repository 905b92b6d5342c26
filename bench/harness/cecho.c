//go:build ignore

// The constraint above keeps the go command from taking this file for cgo
// source: the harness embeds it and compiles it with gcc on its own.

/*
 * cecho: a minimal epoll echo server, the yardstick sockit's benchmark
 * harness compares the engine with. It is not part of the product.
 *
 *   cecho [HOST [PORT]]     default 127.0.0.1 0 (any free port)
 *
 * It prints "listening on tcp://HOST:PORT" once it listens, then serves until
 * killed. One thread, level-triggered epoll, non-blocking accept4 in a loop,
 * TCP_NODELAY on every connection, and per readable event one read(2) into a
 * 64 KiB buffer followed by write(2) of what was read. Output the kernel does
 * not take at once is queued per connection; the connection then waits for
 * EPOLLOUT only (it stops reading until the queue drains), which bounds the
 * queue to one read's worth. A read of 0 (the peer's FIN) or an error closes.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUFSIZE (64 * 1024)
#define MAXEVENTS 256

/* pending is output a connection still owes its peer, indexed by fd. */
struct pending {
	char *buf;
	size_t len, off;
};

static struct pending *pend;
static int npend;
static int epfd;
static char buf[BUFSIZE];

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void drop(int fd)
{
	if (fd < npend && pend[fd].buf) {
		free(pend[fd].buf);
		pend[fd].buf = NULL;
	}
	close(fd); /* also removes fd from the epoll set */
}

static int watch(int fd, int op, unsigned events)
{
	struct epoll_event ev = {.events = events, .data.fd = fd};
	return epoll_ctl(epfd, op, fd, &ev);
}

/* send writes p[0:n] and queues what the kernel does not take. It returns
 * -1 if the connection failed. */
static int send_all(int fd, const char *p, size_t n)
{
	size_t off = 0;
	while (off < n) {
		ssize_t w = write(fd, p + off, n - off);
		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			struct pending *q = &pend[fd];
			q->buf = malloc(n - off);
			if (!q->buf)
				return -1;
			memcpy(q->buf, p + off, n - off);
			q->len = n - off;
			q->off = 0;
			return watch(fd, EPOLL_CTL_MOD, EPOLLOUT);
		}
		return -1;
	}
	return 0;
}

/* flush writes queued output; when it is all gone the connection reads
 * again. It returns -1 if the connection failed. */
static int flush(int fd)
{
	struct pending *q = &pend[fd];
	while (q->off < q->len) {
		ssize_t w = write(fd, q->buf + q->off, q->len - q->off);
		if (w > 0) {
			q->off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return 0;
		return -1;
	}
	free(q->buf);
	q->buf = NULL;
	return watch(fd, EPOLL_CTL_MOD, EPOLLIN);
}

static void accept_all(int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				perror("accept4"); /* EMFILE and the like: try on the next event */
			return;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		if (fd >= npend || watch(fd, EPOLL_CTL_ADD, EPOLLIN) < 0)
			close(fd);
	}
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
	npend = (int)rl.rlim_cur;
	pend = calloc((size_t)npend, sizeof *pend);
	if (!pend)
		die("calloc");
	signal(SIGPIPE, SIG_IGN);

	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		die("socket");
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "cecho: bad IPv4 address %s\n", host);
		return 2;
	}
	if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0)
		die("bind");
	if (listen(lfd, 65535) < 0) /* the kernel caps it at somaxconn */
		die("listen");
	socklen_t salen = sizeof sa;
	if (getsockname(lfd, (struct sockaddr *)&sa, &salen) < 0)
		die("getsockname");
	printf("listening on tcp://%s:%d\n", host, ntohs(sa.sin_port));
	fflush(stdout);

	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		die("epoll_create1");
	if (watch(lfd, EPOLL_CTL_ADD, EPOLLIN) < 0)
		die("epoll_ctl");

	struct epoll_event evs[MAXEVENTS];
	for (;;) {
		int n = epoll_wait(epfd, evs, MAXEVENTS, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == lfd) {
				accept_all(lfd);
				continue;
			}
			if (pend[fd].buf) { /* waiting for EPOLLOUT */
				if (flush(fd) < 0)
					drop(fd);
				continue;
			}
			ssize_t r = read(fd, buf, sizeof buf);
			if (r > 0) {
				if (send_all(fd, buf, (size_t)r) < 0)
					drop(fd);
			} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
				drop(fd);
			}
		}
	}
}
