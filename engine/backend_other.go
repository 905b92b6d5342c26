//go:build !linux

package engine

import (
	"errors"
	"fmt"

	"github.com/sockit/sockit/internal/sock"
)

// DefaultBackend is the backend a zero Config selects: the portable one
// where there is no epoll.
const DefaultBackend = BackendStd

// ErrNoEpoll is returned when the epoll backend is asked for off Linux.
var ErrNoEpoll = errors.New("engine: the epoll backend exists only on Linux; use the std backend")

func newEpollBackend(*Server) (backend, error) { return nil, ErrNoEpoll }

func newUringBackend(*Server) (backend, error) {
	return nil, fmt.Errorf("%w: io_uring exists only on Linux", sock.ErrNoUring)
}
