package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/uptrace/bun"
)

// Path is one row of the hot-path table (issue 11): a route, how a request
// to it is made, and the pgbench script that is its reference.
type Path struct {
	Name  string // sync-reused, sync-fresh, webhook, latest, osmand, batch
	Label string
	// Ref is the pgbench script (pgbench/<Ref>.sql) the route is judged
	// against, run with -M prepared; Same is the one that runs the very
	// statements a request issues (pgbench/<Same>.sql), which the tests
	// compare with the service's. They differ for the webhook only: it is
	// judged against the plain upsert, its own transaction is its ceiling.
	Ref, Same string
	// Goal is the least req/s ÷ pgbench Ref's req/s (-M prepared, same run).
	Goal float64
	// Batch paths run at the batch connection counts (4), the rest at the others (32).
	Batch bool
	// Points is how many locations a request stores (0: none).
	Points int
	// Primed paths send each user's first token, which the server has
	// verified once before the phase (an app reusing the token it cached).
	Primed bool
}

// Paths is the table of issue 11, in the order they are measured.
var Paths = []Path{
	{Name: "sync-reused", Label: "POST /api/auth/sync (token reused)", Ref: "upsert", Same: "upsert", Goal: 0.6, Primed: true},
	{Name: "sync-fresh", Label: "POST /api/auth/sync (fresh tokens)", Ref: "upsert", Same: "upsert", Goal: 0.6},
	{Name: "webhook", Label: "POST /api/webhooks/clerk", Ref: "upsert", Same: "webhook", Goal: 0.35},
	{Name: "latest", Label: "GET /api/locations/{id}/latest", Ref: "latest", Same: "latest", Goal: 0.5, Primed: true},
	{Name: "osmand", Label: "GET /api/ingest/osmand (one new point)", Ref: "osmand", Same: "osmand", Goal: 0.6, Points: 1},
	{Name: "batch", Label: "POST /api/ingest/locations (1,000 points)", Ref: "batch", Same: "batch", Goal: 0.6, Batch: true, Points: BatchPoints},
}

// Goals every path shares (issue 11).
const (
	MaxP99Ratio = 3.0 // p99 ≤ 3 × pgbench's p99 (Ref, -M prepared)
	MaxRSSBytes = 60 << 20
)

// BatchPoints is the size of one batch ingest request.
const BatchPoints = 1000

// Spacing of the points the ingest loads send, per device: OsmAnd reports
// one a second (the timestamp parameter is in seconds); a batch carries
// BatchPoints points 100 ms apart, so that a fast run does not reach the
// present (a batch spans 100 s, and its device has 25 days of past).
const (
	osmandStep = time.Second
	batchStep  = 100 * time.Millisecond
)

// DeviceToken is the ingest token of bench device i (user i's device): a
// well-formed token, trk_ and 26 Crockford symbols, that seeding computes
// in SQL as 'trk_BENCH' || lpad(i, 21, '0') and the pgbench scripts hash as
// the service does (SHA-256).
func DeviceToken(i int) string { return fmt.Sprintf("trk_BENCH%021d", i) }

// Workload is the keyspace every phase works on: Users users
// (user_bench_1 …), each with one device (id i, DeviceToken(i)) whose last
// fix is FixAt, and session tokens minted for them.
type Workload struct {
	Users int
	Clerk *Clerk
	Svix  *Svix
	// Tokens[i][k] is user i+1's k-th session token, issued k seconds
	// after the first: Tokens[i][0] is the one apps reuse, the others are
	// each sent once by the fresh-token sync.
	Tokens [][]string
	// FixAt is the devices' seeded last fix (and last report); the OsmAnd
	// points start a day after it, the batches 23 days before it.
	FixAt      time.Time
	OsmAndFrom time.Time
	BatchFrom  time.Time
}

// NewWorkload generates a Clerk key and a Svix secret and mints
// tokensPerUser tokens for each of users users, on every core.
func NewWorkload(users, tokensPerUser int) (*Workload, error) {
	if users < 1 || tokensPerUser < 2 {
		return nil, errors.New("bench: a workload needs users ≥ 1 and tokensPerUser ≥ 2")
	}
	c, err := NewClerk()
	if err != nil {
		return nil, err
	}
	s, err := NewSvix()
	if err != nil {
		return nil, err
	}
	now := time.Now().Truncate(time.Second)
	w := &Workload{
		Users: users, Clerk: c, Svix: s,
		FixAt:      now.Add(-48 * time.Hour),
		OsmAndFrom: now.Add(-24 * time.Hour),
		BatchFrom:  now.Add(-25 * 24 * time.Hour),
	}
	if w.Tokens, err = mintTokens(c, users, tokensPerUser); err != nil {
		return nil, err
	}
	return w, nil
}

// mintTokens signs k distinct session tokens per user (RSA signing is the
// costly part, so it is done once, on every core, before any measurement).
// Token j of a user is issued j seconds after token j-1; its iat is the
// version of a sync made with it, so a user's versions only grow as a
// phase moves from a user's token j to j+1.
func mintTokens(c *Clerk, n, k int) ([][]string, error) {
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
				t, err := c.Token(UserID(u+1), base.Add(time.Duration(j)*time.Second), 2*time.Hour)
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

// UserID is bench user i's Clerk id.
func UserID(i int) string { return "user_bench_" + strconv.Itoa(i) }

// Seed writes the keyspace into a migrated PostgreSQL database: the users
// (version 0) and one device each, device i for user i, with a last fix.
func (w *Workload) Seed(ctx context.Context, db *bun.DB) error {
	_, err := db.ExecContext(ctx, `INSERT INTO users (clerk_user_id, email, name, version, created_at, updated_at)
		SELECT 'user_bench_' || g, 'bench_' || g || '@example.com', 'Bench User 0', 0, now(), now()
		FROM generate_series(1, ?) AS g`, w.Users)
	if err != nil {
		return fmt.Errorf("seed users: %w", err)
	}
	fix := w.FixAt.UnixMilli()
	_, err = db.ExecContext(ctx, `INSERT INTO devices (id, user_id, name, token_hash, token_hint, last_seen_at,
			last_recorded_at, last_received_at, lat, lon, accuracy_m, altitude_m, speed_mps, course_deg, battery_pct,
			created_at, updated_at)
		SELECT g, u.id, 'Bench tracker ' || g, sha256(convert_to(t.token, 'UTF8')), left(t.token, 8), ?0,
			?0, ?0, 52.520008, 13.404954, 4.8, 41.2, 1.39, 90, 87, now(), now()
		FROM generate_series(1, ?1) AS g
		JOIN users AS u ON u.clerk_user_id = 'user_bench_' || g
		CROSS JOIN LATERAL (SELECT 'trk_BENCH' || lpad(g::text, 21, '0') AS token) AS t`, fix, w.Users)
	if err != nil {
		return fmt.Errorf("seed devices: %w", err)
	}
	_, err = db.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence('devices', 'id'), ?)`, w.Users)
	return err
}

// Reset brings the tables back to the seeded state, so that every phase
// starts from the same one: versions 0 (every write of a phase passes the
// upsert's WHERE, since its versions only grow), no locations, no events,
// the devices' seeded fix; then VACUUM (ANALYZE).
func (w *Workload) Reset(ctx context.Context, db *bun.DB) error {
	fix := w.FixAt.UnixMilli()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"UPDATE users SET version = 0 WHERE version <> 0", nil},
		{"TRUNCATE webhook_events, locations", nil},
		{`UPDATE devices SET last_seen_at = ?0, last_recorded_at = ?0, last_received_at = ?0, lat = 52.520008,
			lon = 13.404954, accuracy_m = 4.8, altitude_m = 41.2, speed_mps = 1.39, course_deg = 90, battery_pct = 87
			WHERE last_seen_at <> ?0 OR last_recorded_at <> ?0`, []any{fix}},
		{"VACUUM (ANALYZE) users, devices, webhook_events, locations", nil},
	} {
		if _, err := db.ExecContext(ctx, q.sql, q.args...); err != nil {
			return fmt.Errorf("reset: %s: %w", strings.Fields(q.sql)[0], err)
		}
	}
	return nil
}

// PgbenchVars are the -D definitions every script reads: the keyspace
// (users, split among nc clients as the HTTP load splits it among its
// workers), the counter n, the run's tag and the time bases in Unix ms.
func (w *Workload) PgbenchVars(conns, tag int) []string {
	return []string{
		"n=0", "nc=" + strconv.Itoa(conns), "users=" + strconv.Itoa(w.Users), "run=" + strconv.Itoa(tag),
		"osmand_from=" + strconv.FormatInt(w.OsmAndFrom.UnixMilli(), 10),
		"batch_from=" + strconv.FormatInt(w.BatchFrom.UnixMilli(), 10),
	}
}

// Load is the HTTP load of path p on addr at conns connections, without
// its times and caps. Worker w of c owns users (and their devices) w+1,
// w+1+c, … and goes round them, so that no two workers write one row and
// every request is real work:
//   - sync: a name never written before (so the outcome is "updated"),
//     with the user's first token (sync-reused) or, the n-th time round,
//     token n+1, which the server never saw (sync-fresh; a worker that has
//     sent them all stops: ErrDone);
//   - webhook: a signed user.updated whose data.updated_at is now, with a
//     new svix-id each;
//   - latest: the user's own device, with the user's first token, without
//     If-None-Match (a 200 with the fix every time, never a 304);
//   - osmand: the device's next point, one second after its previous one,
//     the device token in the query as Traccar Client sends it;
//   - batch: the device's next 1,000 points (every field set), with the
//     device token as Bearer, worker w on device w+1.
//
// A device whose points would reach the present stops its worker (ErrDone):
// a day of OsmAnd points, 25 days of batches.
//
// tag makes this phase's names and svix-ids differ from other phases'.
func (w *Workload) Load(p Path, addr string, conns, tag int) Load {
	per := max(1, w.Users/conns)
	l := Load{Addr: addr, Conns: conns, Want: http.StatusOK}
	bodies := make([][]byte, conns)
	user := func(worker int, seq int64) int { return worker + conns*int(seq%int64(per)) } // 0-based
	round := func(seq int64) int64 { return seq / int64(per) }                            // times round the worker's users
	switch p.Name {
	case "sync-reused", "sync-fresh":
		k := len(w.Tokens[0])
		l.Request = func(dst []byte, worker int, seq int64) ([]byte, error) {
			u, tok := user(worker, seq), 0
			if p.Name == "sync-fresh" {
				if tok = 1 + int(round(seq)); tok >= k {
					return nil, ErrDone
				}
			}
			b := bodies[worker][:0]
			b = append(b, `{"clerk_user_id":"user_bench_`...)
			b = strconv.AppendInt(b, int64(u+1), 10)
			b = append(b, `","email":"bench_`...)
			b = strconv.AppendInt(b, int64(u+1), 10)
			b = append(b, `@example.com","name":"Bench User `...)
			b = strconv.AppendInt(b, int64(tag)*1e8+seq, 10)
			b = append(b, `"}`...)
			bodies[worker] = b
			return Request(dst, http.MethodPost, addr, "/api/auth/sync", []string{
				"Authorization: Bearer " + w.Tokens[u][tok],
				"Content-Type: application/json",
			}, b), nil
		}
	case "webhook":
		l.Request = func(dst []byte, worker int, seq int64) ([]byte, error) {
			u := user(worker, seq)
			now := time.Now()
			body := fmt.Appendf(bodies[worker][:0], WebhookBody, u+1, now.UnixMilli(), int64(tag)*1e8+seq)
			bodies[worker] = body
			h := http.Header{}
			id := "msg_bench" + strconv.Itoa(tag) + "_" + strconv.Itoa(worker) + "_" + strconv.FormatInt(seq, 10)
			if err := w.Svix.Sign(h, id, now, body); err != nil {
				return nil, err
			}
			return Request(dst, http.MethodPost, addr, "/api/webhooks/clerk", []string{
				"Content-Type: application/json",
				"svix-id: " + h.Get("svix-id"),
				"svix-timestamp: " + h.Get("svix-timestamp"),
				"svix-signature: " + h.Get("svix-signature"),
			}, body), nil
		}
	case "latest":
		l.Request = func(dst []byte, worker int, seq int64) ([]byte, error) {
			u := user(worker, seq)
			return Request(dst, http.MethodGet, addr, "/api/locations/"+strconv.Itoa(u+1)+"/latest",
				[]string{"Authorization: Bearer " + w.Tokens[u][0]}, nil), nil
		}
		l.Check = func(body []byte) error {
			if !strings.Contains(string(body), `"location":{`) {
				return fmt.Errorf("latest without a location: %.200s", body)
			}
			return nil
		}
	case "osmand":
		l.Request = func(dst []byte, worker int, seq int64) ([]byte, error) {
			u := user(worker, seq)
			at := w.OsmAndFrom.Add(time.Duration(round(seq)) * osmandStep)
			if at.After(time.Now()) {
				return nil, ErrDone // the devices ran out of past
			}
			path := "/api/ingest/osmand?id=" + DeviceToken(u+1) + "&timestamp=" + strconv.FormatInt(at.Unix(), 10) +
				"&lat=52.520008&lon=13.404954&speed=3&bearing=90&altitude=41.2&accuracy=4.8&batt=87"
			return Request(dst, http.MethodGet, addr, path, nil, nil), nil
		}
	case "batch":
		l.Request = func(dst []byte, worker int, seq int64) ([]byte, error) {
			from := w.BatchFrom.Add(time.Duration(seq) * BatchPoints * batchStep)
			if from.Add(BatchPoints * batchStep).After(time.Now()) {
				return nil, ErrDone // the device ran out of past
			}
			body := batchBody(bodies[worker][:0], from)
			bodies[worker] = body
			return Request(dst, http.MethodPost, addr, "/api/ingest/locations", []string{
				"Authorization: Bearer " + DeviceToken(worker+1),
				"Content-Type: application/json",
			}, body), nil
		}
		want := `"stored":` + strconv.Itoa(BatchPoints) + ","
		l.Check = func(body []byte) error {
			if !strings.Contains(string(body), want) {
				return fmt.Errorf("batch not stored whole: %.200s", body)
			}
			return nil
		}
	default:
		panic("bench: unknown path " + p.Name)
	}
	return l
}

// batchBody appends {"locations": [...]} with BatchPoints points from
// from, batchStep apart, every field set, as a tracker app sends them.
func batchBody(dst []byte, from time.Time) []byte {
	dst = append(dst, `{"locations":[`...)
	for i := 0; i < BatchPoints; i++ {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendLocation(dst, from.Add(time.Duration(i)*batchStep).UnixMilli(),
			52.52+float64(i)*0.00001, 13.40+float64(i)*0.00001, i%360)
	}
	return append(dst, `]}`...)
}

// Prime has the server at addr verify each user's first token once, with
// a GET of the user's latest fix (no write), on conns connections, so
// that a Primed phase finds them all verified.
func (w *Workload) Prime(ctx context.Context, addr string, conns int) error {
	deadline := time.Now().Add(2 * time.Minute)
	errs := make(chan error, conns)
	for c := 0; c < conns; c++ {
		go func(c int) {
			conn, err := Dial(addr)
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			var req []byte
			for u := c; u < w.Users && ctx.Err() == nil; u += conns {
				req = Request(req[:0], http.MethodGet, addr, "/api/locations/"+strconv.Itoa(u+1)+"/latest",
					[]string{"Authorization: Bearer " + w.Tokens[u][0]}, nil)
				status, body, err := conn.Do(req, deadline)
				if err == nil && status != http.StatusOK {
					err = fmt.Errorf("prime: status %d: %.200s", status, body)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- ctx.Err()
		}(c)
	}
	var first error
	for c := 0; c < conns; c++ {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}
