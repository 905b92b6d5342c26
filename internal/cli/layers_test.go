package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

// failingReader returns err once its data is read.
type failingReader struct {
	data io.Reader
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if n, _ := r.data.Read(p); n > 0 {
		return n, nil
	}
	return 0, r.err
}

// connect ws:// ends the input on a read error as at EOF (a close frame,
// the echoes until the server's close frame), then reports the error.
func TestConnectWSInputError(t *testing.T) {
	t.Parallel()
	s := startServe(t, &ServeOptions{Endpoints: []string{"ws://127.0.0.1:0/echo"}})
	broken := errors.New("input broke")
	var out bytes.Buffer
	err := runConnect(context.Background(), &ConnectOptions{
		IO:       IOStreams{In: &failingReader{data: strings.NewReader("one\n"), err: broken}, Out: &out, ErrOut: io.Discard},
		Endpoint: "ws://" + s.addrs[0].String() + "/echo",
	})
	if !errors.Is(err, broken) || out.String() != "one\n" {
		t.Errorf("runConnect = %v, printed %q; want %v after %q", err, out.String(), broken, "one\n")
	}
}
