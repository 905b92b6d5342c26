// Package icmpwatch reads the ICMP and ICMPv6 messages that arrive at this
// machine, from raw sockets (SOCK_RAW, which needs root or CAP_NET_RAW),
// and says each in plain words. An error message quotes the start of the
// datagram it is about; Message names that datagram's protocol and ends,
// so that "connection refused" on a UDP socket can be seen for what it
// is: "port unreachable: udp 127.0.0.1:40312 → 127.0.0.1:9".
//
// Parse reads one message and is what the network feeds; Watcher owns
// the raw sockets and feeds it.
package icmpwatch
