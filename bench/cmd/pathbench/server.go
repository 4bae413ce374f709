package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// server is a usersync process started for the benchmark.
type server struct {
	cmd   *exec.Cmd
	base  string // http://127.0.0.1:port
	pprof string // the pprof build's debug listener, or ""
	log   *os.File
	done  chan error

	stopped bool
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

// startServer runs binary in dir with exactly the environment env (plus
// PATH and HOME), logging to logPath, and waits until /readyz answers 200.
func startServer(ctx context.Context, binary, dir, logPath string, env map[string]string, withPprof bool) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	env["ADDR"] = addr
	s := &server{base: "http://" + addr, done: make(chan error, 1)}
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

// stop sends SIGTERM (the service drains, then exits), then SIGKILL
// after 25 s. It signals only the process it started; once stopped, it
// does nothing.
func (s *server) stop() error {
	if s == nil || s.cmd.Process == nil || s.stopped {
		return nil
	}
	s.stopped = true
	defer s.log.Close()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		return err
	case <-time.After(25 * time.Second):
		_ = s.cmd.Process.Kill()
		return errors.New("did not stop within 25 s: killed")
	}
}
