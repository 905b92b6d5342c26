// Package tlslayer runs TLS (crypto/tls) as a layer over engine handlers,
// so that any engine.Handler — echo, chargen, a WebSocket handler — serves
// over TLS on the engine: Server for accepted connections, Client for those
// made with engine.Server.Dial.
//
// # How TLS runs with the engine
//
// crypto/tls offers only a blocking net.Conn, and its handshake cannot be
// resumed after a read that says "no data yet": every handshake error is
// stored and returned again. After the handshake, though, tls.Conn.Read
// tolerates a temporary net.Error from the connection beneath it: the
// record layer stores any other read error as permanent, but returns a
// temporary one without storing it and keeps the bytes of a partial record
// it has read (crypto/tls/conn.go, readRecordOrCCS: the checks "if e, ok :=
// err.(net.Error); !ok || !e.Temporary()" after each readFromUntil, and
// halfConn.setErrorLocked). The layer relies on exactly that:
//
//   - Between the engine connection and a tls.Conn sits an in-memory
//     net.Conn. OnData appends the ciphertext the engine read to it.
//   - During the handshake, and only then, a goroutine per connection runs
//     tls.Conn.Handshake. Its reads block until OnData feeds ciphertext (or
//     the peer's FIN, or the end of the connection); its records go out
//     with the engine's Conn.AsyncWrite, which any goroutine may call.
//     When the handshake ends it calls Conn.Wake and exits; the connection's
//     OnClose waits for it, so no goroutine outlives its connection.
//   - In OnTimer, on the connection's loop (or in an OnData or OnPeerClose
//     that comes before it), the layer reads the result. On
//     success it switches the in-memory conn to non-blocking mode (a read
//     with nothing buffered returns a temporary net.Error) and calls the
//     inner handler's OnOpen. From then on every record is processed on the
//     loop, with no goroutine and no lock contention: OnData hands the
//     ciphertext to the tls.Conn without copying, reads plaintext until the
//     temporary error, and offers it to the inner OnData (what the inner
//     handler leaves unconsumed is offered again in front of the next
//     plaintext, up to Options.MaxInput). The inner handler's Write
//     encrypts on the loop; the records of one Write reach the engine in
//     one Conn.Write.
//   - AsyncWrite, Close and CloseWrite of the inner connection may come from
//     any goroutine, but records must be encrypted and written in the order
//     of their sequence numbers (RFC 8446 section 5.3), so they are queued
//     and the loop does them in order, woken with Conn.Wake. CloseWrite and
//     Close send close_notify, then FIN (the engine's CloseWrite or Close).
//     Abort resets at once.
//   - The peer's close_notify, or its FIN at a record boundary, is the
//     inner handler's OnPeerClose; the connection can still write, as TLS
//     1.3 allows (RFC 8446 section 6.1). A FIN inside a record, a record
//     that fails to decrypt or a fatal alert ends the connection; the inner
//     OnClose gets the error.
//
// A handshake that fails — bytes that are not TLS, a certificate the peer
// rejects — ends the connection: crypto/tls has queued its alert when it
// sends one, and the engine's Close sends it before the FIN. A handshake
// that Options.HandshakeTimeout (default 10s) runs out on is reset: a
// silent peer would otherwise hold the connection for the engine's whole
// Linger, waiting for its FIN. Each failure is counted by Reason in
// Options.Counters. The inner handler never sees a server-side connection
// whose handshake failed; on the client side it gets OnClose with a
// *HandshakeError, without OnOpen, as for a dial that fails.
//
// The inner handler gets an engine.Conn with the engine's contracts:
// Write, Pending, Context, SetContext and SetTimer from its callbacks;
// AsyncWrite, CloseWrite, Close, Abort and Wake from anywhere. The layer
// implements engine.TimerHandler itself and shares the connection's timer
// with the inner handler, and implements engine.Drainer exactly when the
// inner handler does. The inner conn also has a ConnectionState method
// (reach it with an interface assertion) for the TLS version, cipher suite
// and peer certificates.
//
// Costs: crypto/tls keeps its record buffers per connection (about 16 KiB
// of input once a full record has been read); the layer's own buffers come
// from pools and are held only while plaintext is left unconsumed.
// Pending counts ciphertext, a little more than the plaintext written.
// Because records are numbered, a Write the engine refuses with
// ErrOutputFull cannot simply be dropped: the connection is aborted.
package tlslayer
