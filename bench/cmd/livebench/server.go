package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"
)

// raiseFileLimit lets this process, and the server it starts, hold want
// open files: the soft limit goes up to want (and the hard one too, if
// this process may). Go raises its own soft limit at start, but restores
// the original one in the processes it starts unless the program sets
// the limit itself, as here.
func raiseFileLimit(want uint64) (syscall.Rlimit, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return lim, err
	}
	if lim.Max < want {
		raised := syscall.Rlimit{Cur: want, Max: want}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err == nil {
			return raised, nil
		}
		return lim, fmt.Errorf("open files: the hard limit is %d and %d are needed (raise it with ulimit -Hn as root, or open fewer streams)", lim.Max, want)
	}
	lim.Cur = max(lim.Cur, want)
	return lim, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
}

// openFilesLimit reads "Max open files" of pid from /proc.
func openFilesLimit(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "Max open files") {
			f := strings.Fields(line)
			if len(f) >= 5 {
				return f[3] + " soft, " + f[4] + " hard"
			}
		}
	}
	return "?"
}
