// Package sockapi makes the calls of the BSD socket API one at a time, with
// their flags, on a socket that package net (or sockit) made: read, recv,
// recvfrom, recvmsg and readv; write, send, sendto, sendmsg and writev;
// the flags MSG_PEEK, MSG_WAITALL, MSG_DONTWAIT, MSG_OOB and MSG_DONTROUTE;
// shutdown with SHUT_RD, SHUT_WR or SHUT_RDWR; ancillary data (SCM_RIGHTS
// descriptors, SCM_CREDENTIALS); and the options and ioctls around them:
// SIOCATMARK, SO_OOBINLINE, SO_PEERCRED, SO_PASSCRED, IP_RECVERR.
//
// A Conn wraps the socket. Each of its methods is one system call (again
// only after EINTR, or after the socket became ready: see below), reported
// to an Observer as it returns, with the flags it was given and its result,
// so that a learner sees "recv(MSG_PEEK) 6 bytes" or
// "read = -1 ECONNRESET" as the kernel said it.
//
// Sockets from package net are non-blocking. A call that would block
// (EAGAIN) waits for the socket to become ready, as a call on a blocking
// socket would, within the deadlines set with SetReadDeadline and
// SetWriteDeadline; with MSG_DONTWAIT it does not wait and fails with
// EAGAIN. MSG_WAITALL needs a blocking socket to mean anything (per
// recv(2), a non-blocking socket returns what it has): a recv with it
// clears O_NONBLOCK for the one call, bounded by SO_RCVTIMEO set to the
// read deadline.
//
// The calls exist on Linux and the BSDs; SO_PEERCRED, SCM_CREDENTIALS and
// the error queue (IP_RECVERR) on Linux only. Elsewhere they fail with
// ErrUnsupported.
package sockapi
