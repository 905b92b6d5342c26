// Package tour runs the lessons the socket tutorials draw as pictures —
// the call sequence, the three-way handshake, the four-way teardown and
// TIME_WAIT, half-close, the backlog, resets, the recv and send flags,
// Unix domain sockets, the reactor — live, on loopback and Unix sockets
// it makes for the purpose, and checks what it saw against what the
// lesson teaches.
//
// A lesson explains itself, then makes its calls; each step is narrated
// by the observers of the packages that make the calls (sockapi, client,
// engine), each state by tcpstate's sock_diag snapshots, and, as root,
// each state change and segment by tcpstate's tracepoint and packet
// capture. Then come its checks: a question, the answer the lesson
// expects and the one observed. A Run sends all of it, as Records, to a
// Sink: text for a person, NDJSON for a program.
//
// The words are English, or Chinese with Options.Lang "zh": every
// sentence a lesson or a narrated step says is looked up in one message
// catalog per language (catalog_zh.go), through golang.org/x/text.
//
// Lessons use ports the kernel picks, close what they open and end within
// a few seconds each; the TIME_WAIT a teardown leaves behind is the
// kernel's, and it ends by itself after 60 seconds.
package tour
