package sockapi

import "golang.org/x/sys/unix"

// Darwin has no MSG_CMSG_CLOEXEC: parseAncillary sets close-on-exec.
const cmsgCloexec = 0

// credSpace: Darwin has no SCM_CREDENTIALS.
const credSpace = 0

func parseCred(*unix.SocketControlMessage) (Cred, bool) { return Cred{}, false }
func credMessage(Cred) ([]byte, error)                  { return nil, ErrUnsupported }
func peerCred(int) (Cred, error)                        { return Cred{}, ErrUnsupported }
func setPassCred(int, bool) error                       { return ErrUnsupported }
func setRecvErr(int, bool) error                        { return ErrUnsupported }
func queuedError(int) (*QueuedError, error)             { return nil, ErrUnsupported }
