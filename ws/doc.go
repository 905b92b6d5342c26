// Package ws speaks WebSocket (RFC 6455) on the engine: the HTTP upgrade
// and the framing run inside the engine's callbacks, on its event loops,
// with no goroutine per connection.
//
// A server is an engine.Handler from NewServer, which calls a
// MessageHandler with whole messages:
//
//	srv.Listen(ep, ws.NewServer(ws.Echo{}, ws.ServerOptions{Path: "/ws"}))
//
// The same address can serve a page to browsers (ServerOptions.HTTP,
// EchoPage). NewClient is the client side for connections made with
// engine.Server.Dial (a load generator). NewStreamServer and
// NewStreamClient serve a WebSocket connection to a plain engine.Handler
// as if it were a TCP stream: message payloads in, one message per write
// out, the close frame as the half-close. Under TLS (wss) the handlers run
// unchanged: they use only the engine.Conn interface.
//
// Off the engine, BlockingConn speaks WebSocket with blocking calls over
// any net.Conn, either side: Dial sends the upgrade request, Accept
// answers one. Stream is a net.Conn over a BlockingConn, for code that
// speaks bytes (the CLI, the relay). Package layer stacks these on
// sockets for tls://, ws:// and wss:// endpoints.
//
// What the package enforces, per RFC 6455: client frames masked and server
// frames not (else close 1002); no reserved bits (no extension is
// negotiated) or opcodes (1002); payload lengths in their shortest form, a
// 16-bit length only above 125 and a 64-bit one only above 65535 (1002);
// control frames of at most 125 bytes, not fragmented (1002); continuation
// frames only inside a fragmented message, with control frames allowed
// between fragments; text valid UTF-8, checked across fragments as they
// arrive (1007); messages at most MaxMessage bytes (1009); close payloads
// empty or a sendable code and a UTF-8 reason (1002, 1007). A violation fails that connection alone: a close frame
// with the code, then the TCP close; Stats counts it by code. Pings are
// answered with pongs; unsolicited pongs are ignored. The closing
// handshake echoes the peer's close code, and the server closes TCP first
// (7.1.1).
//
// Reading is incremental: a frame or a request may arrive in any number of
// pieces. Payload is consumed as it arrives (only an incomplete frame
// header, at most 13 bytes, is left to the engine), so a message up to
// MaxMessage never counts against the engine's Config.MaxInput. A frame
// that arrives whole is unmasked in place in the engine's read buffer and
// handed to OnMessage without a copy; fragmented or split messages are
// assembled in a per-connection buffer, bounded by MaxMessage.
package ws
