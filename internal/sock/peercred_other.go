//go:build !linux

package sock

// PeerCred is Linux's SO_PEERCRED; elsewhere it is not supported here.
func PeerCred(fd int) (pid int32, uid, gid uint32, err error) { return 0, 0, 0, ErrUnsupported }
