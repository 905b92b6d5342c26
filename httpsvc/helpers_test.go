package httpsvc_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/http1"
	"github.com/sockit/sockit/httpsvc"
	"github.com/sockit/sockit/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }

// serve runs an HTTP service with o on a fresh loopback TCP endpoint of
// backend b and returns it and the address.
func serve(t *testing.T, b engine.Backend, o httpsvc.Options) (*httpsvc.Service, string) {
	t.Helper()
	svc := httpsvc.New(o)
	_, ep := testkit.ServeEngine(t, &engine.Config{Backend: b}, "tcp", svc)
	return svc, ep.Addr
}

// rawConn is a client that writes bytes as they are and reads responses
// with package http1.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	rd *bufio.Reader
}

func dial(t *testing.T, addr string) *rawConn {
	t.Helper()
	c := testkit.Dial(t, "tcp", addr)
	c.SetDeadline(time.Now().Add(testkit.Timeout))
	return &rawConn{t: t, c: c, rd: bufio.NewReader(c)}
}

func (r *rawConn) send(s string) {
	r.t.Helper()
	if _, err := io.WriteString(r.c, s); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// response is one response as read.
type response struct {
	status int
	fields map[string]string // canonical lower-case names, last value
	body   []byte
	keep   bool
}

// read reads one response to a request of method (HEAD has no body).
func (r *rawConn) read(method string) response {
	r.t.Helper()
	resp, err := r.tryRead(method)
	if err != nil {
		r.t.Fatalf("reading a response: %v", err)
	}
	return resp
}

func (r *rawConn) tryRead(method string) (response, error) {
	var head []byte
	for !strings.HasSuffix(string(head), "\r\n\r\n") {
		line, err := r.rd.ReadSlice('\n')
		head = append(head, line...)
		if err != nil {
			return response{}, err
		}
	}
	var hr http1.Response
	if _, err := http1.ParseResponse(&hr, head, http1.Limits{}); err != nil {
		return response{}, err
	}
	resp := response{status: hr.Status, fields: map[string]string{}, keep: hr.KeepAlive}
	for _, f := range hr.Fields {
		resp.fields[strings.ToLower(string(f.Name))] = string(f.Value)
	}
	n := hr.BodyLength(method == "HEAD")
	switch {
	case n == -2:
		b, err := io.ReadAll(r.rd)
		return response{status: resp.status, fields: resp.fields, body: b}, err
	case n < 0:
		return resp, errors.New("a chunked response: not expected from this server")
	}
	resp.body = make([]byte, n)
	_, err := io.ReadFull(r.rd, resp.body)
	return resp, err
}

// expectEOF reads until the server's FIN, which must come without more
// data.
func (r *rawConn) expectEOF() {
	r.t.Helper()
	b, err := io.ReadAll(r.rd)
	if err != nil || len(b) > 0 {
		r.t.Fatalf("after the last response: %q, %v; want the FIN", b, err)
	}
}

// description is the JSON the server describes a request with.
type description struct {
	Method      string              `json:"method"`
	Target      string              `json:"target"`
	Path        string              `json:"path"`
	Query       string              `json:"query"`
	Args        map[string][]string `json:"args"`
	Proto       string              `json:"proto"`
	Headers     [][2]string         `json:"headers"`
	Peer        string              `json:"peer"`
	Request     int                 `json:"request_on_connection"`
	KeepAlive   bool                `json:"keep_alive"`
	BodyChunked bool                `json:"body_chunked"`
	BodyBytes   int64               `json:"body_bytes"`
}

func describe(t *testing.T, resp response) description {
	t.Helper()
	var d description
	if resp.status != 200 || resp.fields["content-type"] != "application/json" {
		t.Fatalf("got %d %q: %s; want 200 JSON", resp.status, resp.fields["content-type"], resp.body)
	}
	if err := json.Unmarshal(resp.body, &d); err != nil {
		t.Fatalf("the description is not JSON: %v\n%s", err, resp.body)
	}
	return d
}

func get(path string) string { return "GET " + path + " HTTP/1.1\r\nHost: test\r\n\r\n" }

func post(path, body string) string {
	return "POST " + path + " HTTP/1.1\r\nHost: test\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

func mustParse(t *testing.T, s string) endpoint.Endpoint {
	t.Helper()
	ep, err := endpoint.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return ep
}
