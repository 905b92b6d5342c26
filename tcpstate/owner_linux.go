package tcpstate

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// procRoot is where owners reads the processes.
const procRoot = "/proc"

func owners() (map[uint64]Process, error) {
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, err
	}
	m := map[uint64]Process{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		dir := filepath.Join(procRoot, e.Name())
		fds, err := os.ReadDir(filepath.Join(dir, "fd"))
		if err != nil {
			continue // gone, or not ours to read
		}
		var name string
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(dir, "fd", fd.Name()))
			if err != nil || !strings.HasPrefix(link, "socket:[") {
				continue
			}
			inode, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]"), 10, 64)
			if err != nil {
				continue
			}
			if p, ok := m[inode]; ok && p.PID < pid {
				continue
			}
			if name == "" {
				comm, _ := os.ReadFile(filepath.Join(dir, "comm"))
				name = strings.TrimSpace(string(comm))
			}
			m[inode] = Process{PID: pid, Name: name}
		}
	}
	return m, nil
}
