package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/usersync/usersync/bench"
)

// row is one measured phase.
type row struct {
	kind     string // pgbench, pgbench-new, sync, webhook
	conns    int
	requests int64
	rps      float64
	p50, p99 time.Duration
	errors   int64
	cpu      shares
	outcomes string
	firstErr string
}

// shares is CPU use in the measured window, in cores (this machine has 2).
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
		w.ours = r.pgProcs(ctx)
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

// pgbenchPhase runs captured statements with pgbench: "pgbench" the
// upsert on the keyspace (each statement updates a user; the keyspace is
// split among the clients, each counting its versions up, so that every
// update passes the WHERE), "pgbench-webhook" a webhook delivery's whole
// transaction the same way, "pgbench-new" the upsert of a user never seen.
func (r *runner) pgbenchPhase(ctx context.Context, kind string, conns, tag int) (row, error) {
	if err := r.reset(ctx); err != nil {
		return row{}, err
	}
	const keyspace = "\\set n :n + 1\n\\set id 1 + :client_id + :nc * random(0, :users / :nc - 1)\n\\set v :n\n"
	var script string
	switch kind {
	case "pgbench":
		script = keyspace + r.upsertSQL + ";\n"
	case "pgbench-webhook":
		script = keyspace + strings.Join(r.webhookSQL, ";\n") + ";\n"
	case "pgbench-new":
		stmt := strings.Replace(r.upsertSQL, markID, "user_new-:run-:client_id-:n", 1)
		stmt = strings.Replace(stmt, markEmail, "new-:run-:client_id-:n@example.com", 1)
		script = "\\set n :n + 1\n\\set v :n\n" + stmt + ";\n"
	}
	name := fmt.Sprintf("pgbench-%02d-%s-c%d", tag, kind, conns)
	scriptPath := filepath.Join(r.o.outDir, name+".sql")
	if err := os.WriteFile(scriptPath, []byte(script), 0o644); err != nil {
		return row{}, err
	}
	secs := int(math.Ceil((r.o.warmup + r.o.duration).Seconds()))
	args := []string{"-n", "-M", "simple", "-f", scriptPath,
		"-c", strconv.Itoa(conns), "-j", strconv.Itoa(min(conns, 2)), "-T", strconv.Itoa(secs),
		"-D", "n=0", "-D", "nc=" + strconv.Itoa(conns), "-D", "users=" + strconv.Itoa(r.o.users),
		"-D", "run=" + strconv.Itoa(tag),
		"-l", "--log-prefix=" + filepath.Join(r.o.outDir, name)}
	cctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, r.pgbench, args...)
	cmd.Env = append(os.Environ(), pgEnv(r.dbURL)...)
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stdout
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return row{}, err
	}
	pid := cmd.Process.Pid
	from := start.Add(r.o.warmup)
	win := r.sample(ctx, from, from.Add(r.o.duration), func() []int { return []int{pid} })
	err := cmd.Wait()
	os.WriteFile(filepath.Join(r.o.outDir, name+".out"), stdout.Bytes(), 0o644)
	if err != nil {
		return row{}, fmt.Errorf("pgbench: %v\n%s", err, stdout.String())
	}
	res, err := readPgbenchLogs(filepath.Join(r.o.outDir, name), r.o.warmup, r.o.duration)
	if err != nil {
		return row{}, err
	}
	res.kind, res.conns = kind, conns
	res.cpu = (<-win).shares(0, pid)
	return res, nil
}

// pgEnv turns a postgres:// URL into libpq's environment.
func pgEnv(dbURL string) []string {
	u, _ := url.Parse(dbURL)
	env := []string{"PGHOST=" + u.Hostname(), "PGDATABASE=" + strings.TrimPrefix(u.Path, "/")}
	if p := u.Port(); p != "" {
		env = append(env, "PGPORT="+p)
	}
	if u.User != nil {
		env = append(env, "PGUSER="+u.User.Username())
		if pw, ok := u.User.Password(); ok {
			env = append(env, "PGPASSWORD="+pw)
		}
	}
	if m := u.Query().Get("sslmode"); m != "" {
		env = append(env, "PGSSLMODE="+m)
	}
	return env
}

// readPgbenchLogs reads pgbench's per-transaction logs (client, number,
// latency µs, script, end s, end µs) and measures, like the HTTP loads,
// the transactions that started after the warm-up and ended in the window.
func readPgbenchLogs(prefix string, warmup, duration time.Duration) (row, error) {
	files, _ := filepath.Glob(prefix + ".*")
	type txn struct {
		end time.Time
		lat time.Duration
		ok  bool
	}
	var txns []txn
	for _, f := range files {
		if strings.HasSuffix(f, ".sql") || strings.HasSuffix(f, ".out") {
			continue
		}
		fh, err := os.Open(f)
		if err != nil {
			return row{}, err
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
		return row{}, fmt.Errorf("pgbench logged no transactions (%s.*)", prefix)
	}
	start := txns[0].end.Add(-txns[0].lat)
	for _, t := range txns {
		if s := t.end.Add(-t.lat); s.Before(start) {
			start = s
		}
	}
	from, to := start.Add(warmup), start.Add(warmup+duration)
	var (
		res  row
		lats []time.Duration
	)
	for _, t := range txns {
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
	return res, nil
}

// load is the HTTP load of a service phase against srv, every request a
// write to a user of the worker's share of the keyspace (worker w of c
// owns users w+1, w+1+c, …), cycling through them, with a version that
// never goes back within the phase and a name that changes:
//   - sync-reused: each user's first token, which prime had the process
//     verify once (an app reusing the token getToken cached);
//   - sync: the n-th request to a user carries that user's token n+1, so
//     every token is one the process never saw (the pool bounds a phase);
//   - webhook: a signed user.updated with data.updated_at = now.
func (r *runner) load(srv *server, kind string, conns, tag int) (bench.Load, *atomic.Int64) {
	per := r.o.users / conns
	var reused atomic.Int64
	addr := strings.TrimPrefix(srv.base, "http://")
	l := bench.Load{
		Addr: addr, Conns: conns, Warmup: r.o.warmup, Duration: r.o.duration,
		MaxRequests: r.o.maxRequests, Want: http.StatusOK,
	}
	bodies := make([][]byte, conns)
	user := func(w int, seq int64, cycle int64) int { return w + conns*int(seq%cycle) } // 0-based
	switch kind {
	case "sync", "sync-reused":
		l.Request = func(dst []byte, w int, seq int64) ([]byte, error) {
			u, k := user(w, seq, int64(per)), 0
			if kind == "sync" {
				if k = 1 + int(seq/int64(per)); k >= r.o.tokensPerUser {
					k = r.o.tokensPerUser - 1
					reused.Add(1)
				}
			}
			b := bodies[w][:0]
			b = append(b, `{"clerk_user_id":"user_bench_`...)
			b = strconv.AppendInt(b, int64(u+1), 10)
			b = append(b, `","email":"bench_`...)
			b = strconv.AppendInt(b, int64(u+1), 10)
			b = append(b, `@example.com","name":"Bench User `...)
			b = strconv.AppendInt(b, int64(tag)*1e8+seq, 10) // a name no other phase writes
			b = append(b, `"}`...)
			bodies[w] = b
			return bench.Request(dst, http.MethodPost, addr, "/api/auth/sync", []string{
				"Authorization: Bearer " + r.tokens[u][k],
				"Content-Type: application/json",
			}, b), nil
		}
	case "webhook":
		l.Request = func(dst []byte, w int, seq int64) ([]byte, error) {
			u := user(w, seq, int64(per))
			now := time.Now()
			body := fmt.Appendf(bodies[w][:0], bench.WebhookBody, u+1, now.UnixMilli(), int64(tag)*1e8+seq)
			bodies[w] = body
			h := http.Header{}
			if err := r.svix.Sign(h, "msg_bench"+strconv.Itoa(tag)+"_"+strconv.Itoa(w)+"_"+strconv.FormatInt(seq, 10), now, body); err != nil {
				return nil, err
			}
			return bench.Request(dst, http.MethodPost, addr, "/api/webhooks/clerk", []string{
				"Content-Type: application/json",
				"svix-id: " + h.Get("svix-id"),
				"svix-timestamp: " + h.Get("svix-timestamp"),
				"svix-signature: " + h.Get("svix-signature"),
			}, body), nil
		}
	}
	return l, &reused
}

// servicePhase runs one HTTP load against the real server.
func (r *runner) servicePhase(ctx context.Context, kind string, conns, tag int) (row, error) {
	if kind == "sync-reused" {
		if err := r.prime(ctx, r.srv, conns); err != nil {
			return row{}, err
		}
	}
	if err := r.reset(ctx); err != nil {
		return row{}, err
	}
	metric := map[string]string{"sync": "user_upserts_total", "sync-reused": "user_upserts_total", "webhook": "webhook_deliveries_total"}[kind]
	before, err := scrape(r.srv.base, metric)
	if err != nil {
		return row{}, err
	}
	l, reused := r.load(r.srv, kind, conns, tag)
	from := time.Now().Add(l.Warmup)
	self := os.Getpid()
	win := r.sample(ctx, from, from.Add(l.Duration), func() []int { return []int{r.srv.pid(), self} })
	res, err := l.Run(ctx)
	if err != nil {
		return row{}, err
	}
	after, err := scrape(r.srv.base, metric)
	if err != nil {
		return row{}, err
	}
	r.noteRSS(conns)
	out := row{
		kind: kind, conns: conns, requests: res.Requests, rps: res.RPS, p50: res.P50, p99: res.P99,
		errors: res.Errors, cpu: (<-win).shares(r.srv.pid(), self), outcomes: outcomes(before, after),
		firstErr: res.FirstError,
	}
	if n := reused.Load(); n > 0 {
		out.outcomes += fmt.Sprintf(" (%d reused a token: raise -tokens-per-user)", n)
	}
	return out, nil
}

// prime has srv verify each user's first token once (a sync each, not
// measured), so that a sync-reused phase finds them all verified.
func (r *runner) prime(ctx context.Context, srv *server, conns int) error {
	addr := strings.TrimPrefix(srv.base, "http://")
	deadline := time.Now().Add(2 * time.Minute)
	errs := make(chan error, conns)
	for w := 0; w < conns; w++ {
		go func(w int) {
			c, err := bench.Dial(addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			var req []byte
			for u := w; u < r.o.users && ctx.Err() == nil; u += conns {
				body := fmt.Appendf(nil, `{"clerk_user_id":"user_bench_%d","email":"bench_%d@example.com"}`, u+1, u+1)
				req = bench.Request(req[:0], http.MethodPost, addr, "/api/auth/sync", []string{
					"Authorization: Bearer " + r.tokens[u][0], "Content-Type: application/json",
				}, body)
				status, resp, err := c.Do(req, deadline)
				if err == nil && status != http.StatusOK {
					err = fmt.Errorf("prime: status %d: %.200s", status, resp)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}(w)
	}
	var first error
	for w := 0; w < conns; w++ {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// measure runs, for each connection count, on a new server process:
// pgbench (the upsert, then the webhook transaction), sync reusing tokens
// it verified before, sync with tokens it never saw, webhooks — back to
// back, so that their ratios compare like with like on a noisy machine —
// and at the end the all-new-users pgbench variant.
func (r *runner) measure(ctx context.Context) error {
	tag := 0
	phases := len(r.o.conns) * 6
	r.logf("%d phases of %s + %s warm-up each", phases, r.o.duration, r.o.warmup)
	for _, c := range r.o.conns {
		if err := r.startReal(ctx, c); err != nil {
			return err
		}
		for _, kind := range []string{"pgbench", "pgbench-webhook", "sync-reused", "sync", "webhook"} {
			tag++
			var (
				res row
				err error
			)
			if strings.HasPrefix(kind, "pgbench") {
				res, err = r.pgbenchPhase(ctx, kind, c, tag)
			} else {
				res, err = r.servicePhase(ctx, kind, c, tag)
			}
			if err != nil {
				return fmt.Errorf("%s at %d connections: %w", kind, c, err)
			}
			r.progress(res)
			r.rows = append(r.rows, res)
		}
	}
	r.noteRSS(slices.Max(r.o.conns))
	for _, c := range r.o.conns {
		tag++
		res, err := r.pgbenchPhase(ctx, "pgbench-new", c, tag)
		if err != nil {
			return fmt.Errorf("pgbench-new at %d connections: %w", c, err)
		}
		r.progress(res)
		r.rows = append(r.rows, res)
	}
	return nil
}

func (r *runner) progress(res row) {
	r.logf("%-11s c=%-2d %8.0f/s p50 %6s ms p99 %6s ms errors %d %s", res.kind, res.conns, res.rps,
		bench.Ms(res.p50), bench.Ms(res.p99), res.errors, res.firstErr)
}
