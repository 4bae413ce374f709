package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/usersync/usersync/bench"
)

// phase is one measured load: a path through HTTP, or a pgbench script.
type phase struct {
	pgbench  bool
	name     string // the path's Name, or the script's
	mode     string // pgbench: prepared or simple
	conns    int
	requests int64 // in the measured window
	rps      float64
	p50, p99 time.Duration
	errors   int64
	cpu      shares
	work     string // what the phase did to the database, checked
	workOK   bool
	rssKB    int64  // service: the server's peak RSS during the phase
	ranOut   string // service: why workers stopped before the end, if they did
	firstErr string
}

func (p phase) label() string {
	if p.pgbench {
		return "pgbench -M " + p.mode + ": " + p.name + ".sql"
	}
	for _, x := range bench.Paths {
		if x.Name == p.name {
			return x.Label
		}
	}
	return p.name
}

// shares is CPU use in the measured window, in cores.
type shares struct {
	server, postgres, loadgen, other float64
}

// window samples CPU at the start and end of a measured window.
type window struct {
	before, after bench.CPU
	ours          map[int]bool // postgres pids of our database or the server's own
	secs          float64
}

// sample reads CPU at from and just before to (while every process of
// the phase is still alive: pgbench's backends leave with it).
func (r *runner) sample(ctx context.Context, from, to time.Time, pids func() []int) <-chan window {
	ch := make(chan window, 1)
	go func() {
		defer close(ch)
		to = to.Add(-200 * time.Millisecond)
		select {
		case <-time.After(time.Until(from)):
		case <-ctx.Done():
			return
		}
		w := window{before: bench.ReadCPU(pids()...)}
		t0 := time.Now()
		select {
		case <-time.After(time.Until(to)):
		case <-ctx.Done():
			return
		}
		w.after = bench.ReadCPU(pids()...)
		w.secs = time.Since(t0).Seconds()
		w.ours = bench.PostgresProcs(ctx, r.pg.DB.DB)
		ch <- w
	}()
	return ch
}

func (w window) shares(server, loadgen int) shares {
	if w.secs <= 0 {
		return shares{}
	}
	var s shares
	s.server = w.after.Spent(w.before, server)
	s.loadgen = w.after.Spent(w.before, loadgen)
	for pid := range w.after.Procs {
		if w.ours[pid] {
			s.postgres += w.after.Spent(w.before, pid)
		}
	}
	s.other = max(0, (w.after.Busy-w.before.Busy)-s.server-s.loadgen-s.postgres)
	return shares{s.server / w.secs, s.postgres / w.secs, s.loadgen / w.secs, s.other / w.secs}
}

// points is how many locations one transaction of script stores.
func points(script string) int {
	for _, p := range bench.Paths {
		if p.Ref == script {
			return p.Points
		}
	}
	return 0
}

func (r *runner) countLocations(ctx context.Context) (int64, error) {
	var n int64
	err := r.pg.DB.QueryRowContext(ctx, "SELECT count(*) FROM locations").Scan(&n)
	return n, err
}

// pgbenchPhase runs script with pgbench in mode at conns clients for the
// warm-up and the measured time, from the reset state; latencies come
// from its per-transaction log, over the same window as the HTTP loads'.
func (r *runner) pgbenchPhase(ctx context.Context, script, mode string, conns, tag int) (phase, error) {
	if err := r.reset(ctx); err != nil {
		return phase{}, err
	}
	name := fmt.Sprintf("pgbench-%02d-%s-%s-c%d", tag, script, mode, conns)
	secs := int(math.Ceil((r.o.warmup + r.o.duration).Seconds()))
	args := []string{"-n", "-M", mode, "-f", r.scriptFiles[script],
		"-c", strconv.Itoa(conns), "-j", strconv.Itoa(min(conns, 2)), "-T", strconv.Itoa(secs),
		"-l", "--log-prefix=" + filepath.Join(r.o.outDir, name)}
	for _, v := range r.w.PgbenchVars(conns, tag) {
		args = append(args, "-D", v)
	}
	cctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, r.pgbench, args...)
	cmd.Env = append(os.Environ(), bench.PgEnv(r.pg.URL)...)
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stdout
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return phase{}, err
	}
	pid := cmd.Process.Pid
	from := start.Add(r.o.warmup)
	win := r.sample(ctx, from, from.Add(r.o.duration), func() []int { return []int{pid} })
	runErr := cmd.Wait()
	os.WriteFile(filepath.Join(r.o.outDir, name+".out"), stdout.Bytes(), 0o644)
	res, total, err := readPgbenchLogs(filepath.Join(r.o.outDir, name), r.o.warmup, r.o.duration)
	if err != nil {
		return phase{}, fmt.Errorf("%v; pgbench: %v\n%s", err, runErr, stdout.String())
	}
	res.pgbench, res.name, res.mode, res.conns = true, script, mode, conns
	res.cpu = (<-win).shares(0, pid)
	// A client pgbench aborted (an error, or a \gset that found no row: a
	// lookup that missed, a write that changed nothing) is an error.
	for _, line := range strings.Split(stdout.String(), "\n") {
		if strings.Contains(line, "error:") && !strings.Contains(line, "Run was aborted") {
			res.errors++
			if res.firstErr == "" {
				res.firstErr = line
			}
		}
	}
	if runErr != nil && res.errors == 0 {
		res.errors, res.firstErr = 1, runErr.Error()
	}
	res.workOK = true
	if n := points(script); n > 0 {
		stored, err := r.countLocations(ctx)
		if err != nil {
			return phase{}, err
		}
		res.work = fmt.Sprintf("%d points for %d transactions", stored, total)
		res.workOK = stored == total*int64(n)
	} else if slices.Contains([]string{"upsert", "webhook", "latest"}, script) {
		res.work = fmt.Sprintf("%d transactions, each found or changed its row (\\gset)", total)
	}
	return res, nil
}

// readPgbenchLogs reads pgbench's per-transaction logs (client, number,
// latency µs, script, end s, end µs) and measures, like the HTTP loads,
// the transactions that started after the warm-up and ended in the
// window; total counts every transaction that succeeded.
func readPgbenchLogs(prefix string, warmup, duration time.Duration) (phase, int64, error) {
	files, _ := filepath.Glob(prefix + ".*")
	type txn struct {
		end time.Time
		lat time.Duration
		ok  bool
	}
	var txns []txn
	for _, f := range files {
		if strings.HasSuffix(f, ".out") {
			continue
		}
		fh, err := os.Open(f)
		if err != nil {
			return phase{}, 0, err
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) < 6 {
				continue
			}
			sec, _ := strconv.ParseInt(fs[4], 10, 64)
			usec, _ := strconv.ParseInt(fs[5], 10, 64)
			lat, err := strconv.ParseInt(fs[2], 10, 64)
			txns = append(txns, txn{end: time.Unix(sec, usec*1000), lat: time.Duration(lat) * time.Microsecond, ok: err == nil})
		}
		fh.Close()
	}
	if len(txns) == 0 {
		return phase{}, 0, fmt.Errorf("pgbench logged no transactions (%s.*)", prefix)
	}
	start := txns[0].end.Add(-txns[0].lat)
	for _, t := range txns {
		if s := t.end.Add(-t.lat); s.Before(start) {
			start = s
		}
	}
	from, to := start.Add(warmup), start.Add(warmup+duration)
	var (
		res   phase
		lats  []time.Duration
		total int64
	)
	for _, t := range txns {
		if t.ok {
			total++
		}
		if t.end.Add(-t.lat).Before(from) || t.end.After(to) {
			continue
		}
		if !t.ok {
			res.errors++
			continue
		}
		lats = append(lats, t.lat)
	}
	slices.Sort(lats)
	res.requests = int64(len(lats))
	res.rps = float64(len(lats)) / duration.Seconds()
	res.p50, res.p99 = bench.Percentile(lats, 50), bench.Percentile(lats, 99)
	return res, total, nil
}

// servicePhase runs path p's HTTP load against srv from the reset state
// and checks what it did: every sync an update, every webhook applied,
// every ingest request's points stored.
func (r *runner) servicePhase(ctx context.Context, srv *bench.Process, p bench.Path, conns, tag int) (phase, error) {
	addr := strings.TrimPrefix(srv.Base, "http://")
	if p.Primed {
		if err := r.w.Prime(ctx, addr, conns); err != nil {
			return phase{}, err
		}
	}
	if err := r.reset(ctx); err != nil {
		return phase{}, err
	}
	before, err := bench.ScrapeWrites(srv.Base)
	if err != nil {
		return phase{}, err
	}
	peakReset := bench.ResetPeakRSS(srv.Pid()) == nil
	l := r.w.Load(p, addr, conns, tag)
	l.Warmup, l.Duration, l.MaxRequests = r.o.warmup, r.o.duration, r.o.maxRequests
	from := time.Now().Add(l.Warmup)
	self := os.Getpid()
	win := r.sample(ctx, from, from.Add(l.Duration), func() []int { return []int{srv.Pid(), self} })
	res, err := l.Run(ctx)
	if err != nil {
		return phase{}, err
	}
	out := phase{
		name: p.Name, conns: conns, requests: res.Requests, rps: res.RPS, p50: res.P50, p99: res.P99,
		errors: res.Errors, cpu: (<-win).shares(srv.Pid(), self), firstErr: res.FirstError,
	}
	out.rssKB, _ = bench.MemoryKB(srv.Pid())
	if !peakReset {
		out.work = "(peak RSS since the process started) "
	}

	after, err := bench.ScrapeWrites(srv.Base)
	if err != nil {
		return phase{}, err
	}
	wrote := after.Since(before)
	up, del := wrote.Upserts, wrote.Deliveries
	ok := res.Succeeded
	switch {
	case p.Points > 0:
		stored, err := r.countLocations(ctx)
		if err != nil {
			return phase{}, err
		}
		out.work += fmt.Sprintf("%d points for %d requests", stored, ok)
		out.workOK = stored == ok*int64(p.Points)
	case p.Name == "webhook":
		out.work += "deliveries " + del.String() + "; upserts " + up.String()
		out.workOK = del["applied"] == ok && len(del) == 1 && up["updated"] == ok && len(up) == 1
	case strings.HasPrefix(p.Name, "sync"):
		out.work += "upserts " + up.String()
		out.workOK = up["updated"] == ok && len(up) == 1
	default:
		out.work += fmt.Sprintf("%d answers, each with the fix", ok)
		out.workOK = len(up) == 0 && len(del) == 0
	}
	if res.Done > 0 {
		out.ranOut = fmt.Sprintf("%d of %d workers ran out of new work before the end (fresh tokens: raise -tokens-per-user)", res.Done, conns)
	}
	return out, nil
}

// measure runs, for each connection count, each path's references
// (pgbench -M prepared, then -M simple, of its Ref and Same scripts, each
// once per count) just before the path itself on a new server process, so
// that the ratios compare phases run back to back on a noisy machine.
func (r *runner) measure(ctx context.Context) error {
	type group struct {
		conns []int
		batch bool
	}
	var total int
	for _, p := range r.o.paths {
		if p.Batch {
			total += len(r.o.batchConns)
		} else {
			total += len(r.o.conns)
		}
	}
	r.started, r.loadBefore = time.Now(), bench.LoadAvg()
	r.logf("measuring %d paths of %s + %s warm-up each, each after its pgbench references; load average %s",
		total, r.o.duration, r.o.warmup, r.loadBefore)
	tag := 0
	for _, g := range []group{{r.o.conns, false}, {r.o.batchConns, true}} {
		for _, c := range g.conns {
			var paths []bench.Path
			for _, p := range r.o.paths {
				if p.Batch == g.batch {
					paths = append(paths, p)
				}
			}
			if len(paths) == 0 {
				continue
			}
			done := map[string]bool{}
			for _, p := range paths {
				for _, script := range []string{p.Ref, p.Same} {
					if done[script] {
						continue
					}
					done[script] = true
					modes := []string{"prepared"}
					if r.o.simple {
						modes = append(modes, "simple")
					}
					for _, mode := range modes {
						tag++
						res, err := r.pgbenchPhase(ctx, script, mode, c, tag)
						if err != nil {
							return fmt.Errorf("pgbench %s -M %s at %d connections: %w", script, mode, c, err)
						}
						r.add(res)
					}
				}
				tag++
				if err := r.startServer(ctx, fmt.Sprintf("%s-c%d", p.Name, c)); err != nil {
					return err
				}
				res, err := r.servicePhase(ctx, r.srv, p, c, tag)
				if err != nil {
					return fmt.Errorf("%s at %d connections: %w", p.Name, c, err)
				}
				r.stopServer()
				r.add(res)
			}
		}
	}
	return nil
}

func (r *runner) add(res phase) {
	r.phases = append(r.phases, res)
	check := "ok"
	if !res.workOK {
		check = "NOT ALL REAL WORK"
	}
	r.logf("%-52s c=%-2d %8.0f/s p50 %6s ms p99 %6s ms errors %d; %s: %s %s %s", res.label(), res.conns, res.rps,
		bench.Ms(res.p50), bench.Ms(res.p99), res.errors, check, res.work, res.ranOut, res.firstErr)
}
