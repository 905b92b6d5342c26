package tcpstate

// Process is a process that holds a socket open: what ss -p shows.
type Process struct {
	PID  int
	Name string // the command name (/proc/PID/comm)
}

// Owners maps socket inodes (Socket.Inode) to the processes holding them,
// by reading each process's descriptors in /proc as ss -p does. Processes
// whose descriptors this user may not read (another user's, without root)
// are left out, as are sockets with no inode (TIME_WAIT). A socket shared
// by several processes maps to the one with the lowest PID. It returns
// ErrUnsupported off Linux.
func Owners() (map[uint64]Process, error) { return owners() }
