package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// server is the usersync process the benchmark started.
type server struct {
	cmd   *exec.Cmd
	addr  string // 127.0.0.1:port
	base  string // http://127.0.0.1:port
	pprof string // the pprof build's debug listener, or ""
	log   *os.File
	done  chan error
}

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

// freeAddr picks a free loopback port.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startServer runs binary in dir with exactly the settings env (plus PATH
// and HOME), logging to logPath, and waits until /readyz answers 200.
func startServer(ctx context.Context, binary, dir, logPath string, env map[string]string, withPprof bool) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	env["ADDR"] = addr
	s := &server{addr: addr, base: "http://" + addr, done: make(chan error, 1)}
	if withPprof {
		if s.pprof, err = freeAddr(); err != nil {
			return nil, err
		}
		env["PPROF_ADDR"] = s.pprof
	}
	if s.log, err = os.Create(logPath); err != nil {
		return nil, err
	}
	s.cmd = exec.Command(binary)
	s.cmd.Dir = dir // no .env is read from here
	s.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		s.cmd.Env = append(s.cmd.Env, k+"="+v)
	}
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		s.log.Close()
		return nil, err
	}
	go func() { s.done <- s.cmd.Wait() }()

	deadline := time.Now().Add(60 * time.Second)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case err := <-s.done:
			s.done <- err
			return nil, fmt.Errorf("%s exited at start (%v); see %s", binary, err, logPath)
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := client.Get(s.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("%s not ready within 60 s; see %s", binary, logPath)
		}
	}
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// stop sends SIGTERM (the service ends its streams and drains), then
// SIGKILL after 25 s. It signals only the process it started.
func (s *server) stop() error {
	if s == nil || s.cmd.Process == nil {
		return nil
	}
	defer s.log.Close()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		s.done <- err
		return err
	case <-time.After(25 * time.Second):
		_ = s.cmd.Process.Kill()
		return errors.New("did not stop within 25 s: killed")
	}
}

// fetch saves what GET u answers in path (a profile of the pprof build).
func fetch(u, path string) error {
	client := &http.Client{Timeout: 10 * time.Minute}
	resp, err := client.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
