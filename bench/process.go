package bench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Process is a usersync process a benchmark command started.
type Process struct {
	Addr  string // 127.0.0.1:port
	Base  string // http://127.0.0.1:port
	Pprof string // the pprof build's debug listener, or ""

	cmd     *exec.Cmd
	log     *os.File
	done    chan error
	stopped bool
}

// FreeAddr picks a free loopback port.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// StartProcess runs binary in dir with exactly the settings env (plus
// PATH and HOME; ADDR, and PPROF_ADDR when withPprof, are set to free
// ports), logging to logPath, and waits until /readyz answers 200.
func StartProcess(ctx context.Context, binary, dir, logPath string, env map[string]string, withPprof bool) (*Process, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	env["ADDR"] = addr
	p := &Process{Addr: addr, Base: "http://" + addr, done: make(chan error, 1)}
	if withPprof {
		if p.Pprof, err = FreeAddr(); err != nil {
			return nil, err
		}
		env["PPROF_ADDR"] = p.Pprof
	}
	if p.log, err = os.Create(logPath); err != nil {
		return nil, err
	}
	p.cmd = exec.Command(binary)
	p.cmd.Dir = dir // no .env is read from here
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		p.log.Close()
		return nil, err
	}
	go func() { p.done <- p.cmd.Wait() }()

	deadline := time.Now().Add(60 * time.Second)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case err := <-p.done:
			p.done <- err
			return nil, fmt.Errorf("%s exited at start (%v); see %s", binary, err, logPath)
		case <-ctx.Done():
			p.Stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := client.Get(p.Base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, fmt.Errorf("%s not ready within 60 s; see %s", binary, logPath)
		}
	}
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Stop sends SIGTERM (the service ends its streams and drains), then
// SIGKILL after 25 s. It signals only the process it started; once
// stopped, it does nothing.
func (p *Process) Stop() error {
	if p == nil || p.cmd.Process == nil || p.stopped {
		return nil
	}
	p.stopped = true
	defer p.log.Close()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		return err
	case <-time.After(25 * time.Second):
		_ = p.cmd.Process.Kill()
		return errors.New("did not stop within 25 s: killed")
	}
}

// Fetch saves what GET u answers in path (a profile of the pprof build).
func Fetch(u, path string) error {
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

// ModuleRoot is the folder of usersync's go.mod, at or above the working
// directory.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/usersync/usersync\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("run from inside the usersync repository")
		}
		dir = parent
	}
}

// PostgresProcs classifies PostgreSQL's processes for ReadCPU: the
// backends of db's database and the server's own background processes are
// "ours"; every other client backend (someone else's) is not.
func PostgresProcs(ctx context.Context, db *sql.DB) map[int]bool {
	ours := map[int]bool{}
	rows, err := db.QueryContext(ctx, `SELECT pid,
		coalesce(datname, '') = current_database() OR coalesce(backend_type, '') <> 'client backend'
		FROM pg_stat_activity`)
	if err != nil {
		return ours
	}
	defer rows.Close()
	for rows.Next() {
		var (
			pid int
			ok  bool
		)
		if rows.Scan(&pid, &ok) == nil {
			ours[pid] = ok
		}
	}
	return ours
}
