// Package sockit holds the small vocabulary every layer of the toolkit shares:
// the structured [Error] that names the operation, the syscall and the errno
// behind a failure, and the [Observer] that receives each socket step
// (socket, bind, listen, accept, read, write, shutdown, close) as an [Event].
//
// The engine, the services, the client and the CLI live in sub-packages:
// endpoint parses "scheme://address", engine runs servers, service holds the
// classic echo/discard/chargen/daytime handlers, client dials and streams,
// and layer stacks TLS and WebSocket on them for tls://, ws:// and wss://.
package sockit
