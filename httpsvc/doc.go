// Package httpsvc is an HTTP/1.1 server on the engine: an engine.Handler
// that parses requests in the event loop, from whatever bytes each read
// gives, without a goroutine per connection, and answers them in order.
//
// What it serves (Service's routes, in the order they are tried):
//
//	/plaintext          GET, HEAD: "Hello, World!" — a small fixed body for benchmarks
//	/ws                 with Upgrade: websocket, the connection goes to Options.WebSocket
//	                    (on the same port); a plain GET gets its page (Options.Page)
//	/anything, /anything/...
//	                    any method: a JSON description of the request as it arrived —
//	                    method, target, path, query, headers in order, body size and
//	                    framing, the peer, the request's number on its connection
//	/                   the same JSON, unless Options.Root is set
//	anything else       with Options.Root: files from that directory (GET, HEAD,
//	                    Range, If-Modified-Since, a listing for a directory without
//	                    index.html); without it: 404
//
// The protocol, per RFC 9112 and RFC 9110: keep-alive, and pipelining
// with the responses in the order of the requests; bodies framed by
// Content-Length or chunked, read as they arrive and counted (never held
// whole); HEAD; Expect: 100-continue; Connection: close (and HTTP/1.0
// without keep-alive) answered, then a half-close: the FIN goes out after
// the response and the connection reads on until the client's FIN, so
// that a request the client sent meanwhile cannot turn the close into a
// reset that destroys the response.
//
// Limits, each with its status: a head longer than Options.MaxHead, or
// with more than MaxFields fields, gets 431; a body longer than MaxBody
// 413; a malformed request 400 (every message-framing fault package http1
// refuses: request smuggling vectors are refused and the connection
// closed); a method a route does not take 405; a head not whole within
// HeaderTimeout 408; a protocol other than HTTP/1.x 505. A connection
// with no request for IdleTimeout, whose body makes no progress for as
// long, or whose client reads nothing of its responses for as long, is
// closed without a word. A client that pipelines requests ahead
// of what it reads is answered while Options.MaxOutput of responses wait
// at most; its further requests wait, unread (the engine stops reading
// the connection at its HighWatermark), and are answered as it reads —
// never dropped. Only one that keeps about a
// megabyte of requests waiting as well has its connection closed, once
// the responses before them are out.
//
// Files are read on the event loop (regular files on a local disk do not
// block long): a small file goes out with its head in one write; a larger
// one in 64 KiB pieces as the connection drains (engine.Drainer), so that
// a slow client holds one piece, not the file. Paths are opened with
// os.OpenInRoot: "..", absolute paths and symbolic links that lead out of
// Root are refused (404), whatever their spelling.
//
// A keep-alive request on /plaintext costs no allocation, and a JSON
// description of a request without a query none beyond its response's
// buffer, which is pooled. With an Observer, every step of every request
// — its request line, each field, the framing, each piece of body, the
// response and what happens to the connection after it — is told as a
// sockit.StepHTTP event: the -v narration of `sockit serve http://`.
package httpsvc
