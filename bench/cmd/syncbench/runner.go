package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"github.com/usersync/usersync/bench"
	"github.com/usersync/usersync/migrations"
	"github.com/usersync/usersync/users"
	"github.com/usersync/usersync/webhooks"
)

type runner struct {
	o       options
	root    string
	pgbench string
	out     io.Writer

	dbURL  string
	drop   func() error
	db     *bun.DB
	clerk  *bench.Clerk
	svix   *bench.Svix
	env    map[string]string
	srv    *server
	tokens [][]string // tokens[i][k] is user i+1's k-th session token, each distinct

	// upsertSQL is the statement the users service issues, and webhookSQL
	// the transaction of a webhook delivery, captured from bun's query hook,
	// with pgbench variables in place of the values.
	upsertSQL  string
	webhookSQL []string
	rows       []row
	hwmKB      int64 // the highest VmHWM of the usersync processes
	maxRSSConn int   // the connection count of the phase that set hwmKB
}

// Markers the captured statements carry where pgbench substitutes.
const (
	markID      = "user_bench_:id"
	markEmail   = "bench_:id@example.com"
	markName    = "Bench User :n"
	markVersion = 987654321012
	markUser    = 424242 // a user number in a webhook body
	markSeq     = 737373 // the number in its last name
	markSvixID  = "msg_capture"
)

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.out, "# "+format+"\n", args...)
}

func (r *runner) setup(ctx context.Context) error {
	r.logf("building cmd/usersync and bench/cmd/pprofserver into %s", r.o.outDir)
	for pkg, bin := range map[string]string{"./cmd/usersync": "usersync", "./bench/cmd/pprofserver": "usersync-pprof"} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(r.o.outDir, bin), pkg)
		cmd.Dir = r.root
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
		}
	}

	var err error
	if r.dbURL, r.drop, err = bench.CreateDatabase(ctx, r.o.baseURL, "usersync_bench"); err != nil {
		return fmt.Errorf("PostgreSQL at %s: %w", bench.Redact(r.o.baseURL), err)
	}
	r.logf("database %s (dropped at the end unless -keep)", bench.Redact(r.dbURL))
	if r.clerk, err = bench.NewClerk(); err != nil {
		return err
	}
	if r.svix, err = bench.NewSvix(); err != nil {
		return err
	}
	r.env = map[string]string{
		"DATABASE_URL":                 r.dbURL,
		"CLERK_JWT_KEY":                r.clerk.PublicPEM(),
		"CLERK_MAX_TOKEN_LIFETIME":     bench.MaxTokenLifetime.String(),
		"CLERK_WEBHOOK_SIGNING_SECRET": r.svix.Secret(),
		"RATE_LIMIT_RPS":               "0",
		"LOG_LEVEL":                    "info",
		"LOG_FORMAT":                   "json",
	}
	if err := r.startReal(ctx, 0); err != nil {
		return err
	}
	r.logf("usersync pid %d on %s (migrated the database)", r.srv.pid(), r.srv.base)

	if r.db, err = migrations.Open(ctx, r.dbURL); err != nil {
		return err
	}
	_, err = r.db.ExecContext(ctx, `INSERT INTO users (clerk_user_id, email, name, version, created_at, updated_at)
		SELECT 'user_bench_' || g, 'bench_' || g || '@example.com', 'Bench User 0', 0, now(), now()
		FROM generate_series(1, ?) AS g`, r.o.users)
	if err != nil {
		return fmt.Errorf("seed users: %w", err)
	}
	if r.upsertSQL, err = captureUpsert(ctx, r.db); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(r.o.outDir, "upsert.sql"), []byte(r.upsertSQL+"\n"), 0o644); err != nil {
		return err
	}
	r.logf("the users service's statement (from bun's query hook; pgbench variables in place of its values):\n#   %s", r.upsertSQL)
	if r.webhookSQL, err = captureWebhook(ctx, r.db, r.svix); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(r.o.outDir, "webhook.sql"), []byte(strings.Join(r.webhookSQL, ";\n")+";\n"), 0o644); err != nil {
		return err
	}
	r.logf("a webhook delivery's transaction: %d statements (%s)", len(r.webhookSQL), filepath.Join(r.o.outDir, "webhook.sql"))

	start := time.Now()
	if r.tokens, err = mintTokens(r.clerk, r.o.users, r.o.tokensPerUser); err != nil {
		return err
	}
	r.logf("minted %d distinct RS256 session tokens (%d a user) in %s", r.o.users*r.o.tokensPerUser,
		r.o.tokensPerUser, time.Since(start).Round(time.Millisecond))
	return nil
}

// startReal (re)starts the real binary, so that each connection count
// begins with a new process: an empty token cache and heap.
func (r *runner) startReal(ctx context.Context, conns int) error {
	if r.srv != nil {
		r.noteRSS(conns)
		if err := r.srv.stop(); err != nil {
			r.logf("usersync stop: %v", err)
		}
		r.srv = nil
	}
	var err error
	r.srv, err = startServer(ctx, filepath.Join(r.o.outDir, "usersync"), r.o.outDir,
		filepath.Join(r.o.outDir, fmt.Sprintf("usersync-c%d.log", conns)), clone(r.env), false)
	return err
}

// noteRSS keeps the highest VmHWM of the real server.
func (r *runner) noteRSS(conns int) {
	if r.srv == nil {
		return
	}
	if hwm, _ := bench.MemoryKB(r.srv.pid()); hwm > r.hwmKB {
		r.hwmKB, r.maxRSSConn = hwm, conns
	}
}

func clone(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// captureHook records the statements bun sends.
type captureHook struct{ queries []string }

func (h *captureHook) BeforeQuery(ctx context.Context, ev *bun.QueryEvent) context.Context {
	h.queries = append(h.queries, ev.Query)
	return ctx
}

func (h *captureHook) AfterQuery(context.Context, *bun.QueryEvent) {}

// captureUpsert runs the users service's upsert, as a sync with a name
// sends it, in a transaction it rolls back, and returns the statement with
// pgbench variables for the values: the clerk id and email carry :id,
// the name :n, the version :v.
func captureUpsert(ctx context.Context, db *bun.DB) (string, error) {
	hook := &captureHook{}
	name, email := markName, markEmail
	traced := bun.NewDB(db.DB, db.Dialect())
	traced.AddQueryHook(hook)
	ttx, err := traced.BeginTx(ctx, nil)
	if err != nil {
		return "", err
	}
	defer ttx.Rollback()
	hook.queries = nil // not BEGIN
	_, err = users.NewService(traced).WithTx(ttx).Upsert(ctx, users.Write{
		ClerkUserID: markID, Email: &email, Name: &name,
		Version: time.UnixMilli(markVersion), Writer: users.WriterSync,
	})
	if err != nil {
		return "", fmt.Errorf("capture the upsert: %w", err)
	}
	var q string
	for _, s := range hook.queries {
		if strings.HasPrefix(s, "INSERT INTO") {
			q = s
		}
	}
	v := strconv.FormatInt(markVersion, 10)
	if q == "" || strings.Count(q, markID) != 1 || strings.Count(q, markEmail) != 1 ||
		strings.Count(q, markName) != 1 || strings.Count(q, v) != 1 || !strings.Contains(q, "ON CONFLICT") {
		return "", fmt.Errorf("captured statement is not the expected upsert: %q", q)
	}
	return strings.Replace(q, v, ":v", 1), nil
}

// captureWebhook delivers a user.updated event through the webhook
// service with bun's query hook on, and returns its statements with pgbench
// variables for the values: the user's number :id, the name's :n, the
// version :v, the svix id unique per client and transaction. The capture's
// own rows are deleted.
func captureWebhook(ctx context.Context, db *bun.DB, svix *bench.Svix) ([]string, error) {
	hook := &captureHook{}
	traced := bun.NewDB(db.DB, db.Dialect())
	traced.AddQueryHook(hook)
	body := fmt.Appendf(nil, bench.WebhookBody, markUser, markVersion, markSeq)
	_, err := webhooks.NewService(traced, users.NewService(traced)).Deliver(ctx, markSvixID, body, time.Now())
	if err != nil {
		return nil, fmt.Errorf("capture a webhook delivery: %w", err)
	}
	user := "user_bench_" + strconv.Itoa(markUser)
	if _, err := db.ExecContext(ctx, "DELETE FROM webhook_events WHERE svix_id = ?", markSvixID); err != nil {
		return nil, err
	}
	if _, err := db.ExecContext(ctx, "DELETE FROM users WHERE clerk_user_id = ?", user); err != nil {
		return nil, err
	}
	if len(hook.queries) != 4 || hook.queries[0] != "BEGIN" || hook.queries[3] != "COMMIT" {
		return nil, fmt.Errorf("a webhook delivery is not BEGIN, two statements, COMMIT: %q", hook.queries)
	}
	r := strings.NewReplacer(
		strconv.Itoa(markUser), ":id",
		strconv.Itoa(markSeq), ":n",
		strconv.FormatInt(markVersion, 10), ":v",
		"'"+markSvixID+"'", "'msg_wh-:run-:client_id-:n'",
	)
	out := make([]string, len(hook.queries))
	for i, q := range hook.queries {
		out[i] = r.Replace(q)
	}
	return out, nil
}

// mintTokens signs k distinct session tokens per user (RSA signing is the
// costly part, so it is done once, on every core, before any measurement).
// Token j of a user is issued j seconds after token j-1, and its iat is the
// version of a sync made with it, so a user's versions only grow as a
// phase moves from a user's token j to j+1.
func mintTokens(c *bench.Clerk, n, k int) ([][]string, error) {
	tokens := make([][]string, n)
	for i := range tokens {
		tokens[i] = make([]string, k)
	}
	base := time.Now().Add(-time.Duration(k) * time.Second)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	workers := runtime.NumCPU()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n*k; i += workers {
				u, j := i%n, i/n
				t, err := c.Token(userID(u+1), base.Add(time.Duration(j)*time.Second), 2*time.Hour)
				if err != nil {
					mu.Lock()
					firstErr = errors.Join(firstErr, err)
					mu.Unlock()
					return
				}
				tokens[u][j] = t
			}
		}(w)
	}
	wg.Wait()
	return tokens, firstErr
}

func userID(i int) string { return "user_bench_" + strconv.Itoa(i) }

// reset brings the keyspace back to version 0 and vacuums it, so that every
// phase starts from the same table state and its writes, whose versions
// only grow within the phase, all pass the upsert's WHERE. A CHECKPOINT
// makes every phase pay the same full-page writes.
func (r *runner) reset(ctx context.Context) error {
	if _, err := r.db.ExecContext(ctx, "UPDATE users SET version = 0 WHERE version <> 0"); err != nil {
		return fmt.Errorf("reset versions: %w", err)
	}
	if _, err := r.db.ExecContext(ctx, "VACUUM (ANALYZE) users"); err != nil {
		return fmt.Errorf("vacuum: %w", err)
	}
	if r.o.checkpoint {
		if _, err := r.db.ExecContext(ctx, "CHECKPOINT"); err != nil {
			r.logf("CHECKPOINT refused (%v): phases start from uneven WAL states", err)
			r.o.checkpoint = false
		}
	}
	return nil
}

// pgProcs classifies PostgreSQL's processes: the backends of our database
// and the server's own background processes are "ours"; every other
// client backend (someone else's tests) is not.
func (r *runner) pgProcs(ctx context.Context) map[int]bool {
	rows, err := r.db.QueryContext(ctx, `SELECT pid, coalesce(datname, ''), coalesce(backend_type, '') FROM pg_stat_activity`)
	if err != nil {
		return nil
	}
	defer rows.Close()
	ours := map[int]bool{}
	dbName := strings.SplitN(r.dbURL, "?", 2)[0]
	dbName = dbName[strings.LastIndexByte(dbName, '/')+1:]
	for rows.Next() {
		var (
			pid        int
			datname, t string
		)
		if rows.Scan(&pid, &datname, &t) == nil {
			ours[pid] = datname == dbName || t != "client backend"
		}
	}
	return ours
}

func (r *runner) close() {
	if r.srv != nil {
		r.srv.stop()
		r.srv = nil
	}
	if r.db != nil {
		r.db.Close()
	}
	if r.drop != nil && !r.o.keep {
		if err := r.drop(); err != nil {
			fmt.Fprintln(os.Stderr, "syncbench: drop database:", err)
		}
	}
}
