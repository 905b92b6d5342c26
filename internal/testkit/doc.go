// Package testkit holds what the tests of more than one package need: the
// leak check every package runs from TestMain, the engine backends to run
// against, loopback servers and connections, addresses that refuse
// connections for as long as a test runs, short Unix socket paths, waits
// bounded by a deadline, observers and buffers safe for concurrent use,
// skips that say what is missing, and the sockit binary and the browsers
// some tests drive.
//
// Only tests import it: a file whose name does not end in _test.go must
// never do so (TestOnlyTestsImport checks this). It builds on every
// platform the module does.
//
// Every helper that blocks gives up after Timeout and fails the test, so
// that a bug fails a test instead of hanging the binary. Every socket,
// server and process a helper makes is closed when the test ends.
package testkit
