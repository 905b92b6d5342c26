// Package tcpstate observes the TCP state machine on real connections, in the
// words of RFC 9293 and tcp(7): SYN_SENT, SYN_RECV, ESTABLISHED, FIN_WAIT_1,
// FIN_WAIT_2, CLOSE_WAIT, LAST_ACK, CLOSING, TIME_WAIT and CLOSED.
//
// It has four parts, each usable alone:
//
//   - [Snapshot] and [Lookup] list TCP sockets from the kernel's sock_diag
//     netlink interface, as ss(8) does, without privilege.
//   - [StateTracer] reports every state change as the kernel makes it, from
//     the tracepoint sock:inet_sock_set_state (root only); [Poller] is the
//     unprivileged fallback that compares snapshots and so misses changes
//     faster than its interval.
//   - [Capture] reads the TCP segments of a port from an AF_PACKET socket
//     (root only) and [ParseSegment] decodes one IPv4 or IPv6 packet.
//   - [Timeline] turns state changes and segments into an annotated story
//     per connection, with sequence numbers relative to each side's ISN.
//   - [Probe] tests how a peer ends a connection: half-close, close with
//     unread data, SO_LINGER 0 and who holds TIME_WAIT.
//
// [StateOf] reads the state of one's own socket with getsockopt(TCP_INFO).
//
// All of it needs Linux. Elsewhere every function returns an error that
// matches [ErrUnsupported], and the package still builds.
package tcpstate
