package bench_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/uptrace/bun"

	"github.com/usersync/usersync/bench"
	"github.com/usersync/usersync/migrations/dbtest"
	"github.com/usersync/usersync/testkit"
)

// The hot-path command (cmd/pathbench) is only as honest as its parts:
// the requests its load generator builds must be answered as wanted by
// the real server and each be real work, and each pgbench script must run
// and do the same statements as the service does for that request. No
// timing here: these run once, on a tiny keyspace.

const (
	sameWorkUsers  = 4 // a worker (conns=1) goes round 4 users
	sameWorkTokens = 3 // the first round of fresh-token syncs uses token 1, the second token 2
)

// sameWorkEnv is a migrated, seeded database behind the SQL recorder and
// the real server on it.
type sameWorkEnv struct {
	w     *bench.Workload
	db    *bun.DB
	rec   *sqlRecorder
	srv   *testkit.Server
	addr  string
	dbURL string // direct, for pgbench
}

func newSameWorkEnv(t *testing.T) *sameWorkEnv {
	t.Helper()
	e := &sameWorkEnv{dbURL: dbtest.PostgresURL(t)}
	e.rec = startRecorder(t, e.dbURL)
	e.db = dbtest.Open(t, e.rec.URL())
	var err error
	if e.w, err = bench.NewWorkload(sameWorkUsers, sameWorkTokens); err != nil {
		t.Fatal(err)
	}
	if err := e.w.Seed(context.Background(), e.db); err != nil {
		t.Fatal(err)
	}
	e.srv = testkit.Start(t, e.db, map[string]string{
		"CLERK_JWT_KEY":                e.w.Clerk.PublicPEM(),
		"CLERK_WEBHOOK_SIGNING_SECRET": e.w.Svix.Secret(),
		"CLERK_MAX_TOKEN_LIFETIME":     bench.MaxTokenLifetime.String(),
	})
	e.addr = strings.TrimPrefix(e.srv.URL, "http://")
	return e
}

func (e *sameWorkEnv) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := e.db.QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// TestLoadRequests sends, for every path, the load generator's requests of
// one worker once round its users and one more (so that the second round
// is checked too), to the real server: each must be answered as the load
// wants, and each must have been real work, the kind the path measures.
// The SQL of the first is compared with the path's pgbench script.
func TestLoadRequests(t *testing.T) {
	e := newSameWorkEnv(t)
	ctx := context.Background()
	conn, err := bench.Dial(e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const requests = sameWorkUsers + 1
	for i, p := range bench.Paths {
		t.Run(p.Name, func(t *testing.T) {
			if err := e.w.Reset(ctx, e.db); err != nil {
				t.Fatal(err)
			}
			l := e.w.Load(p, e.addr, 1, i+1)
			before, err := bench.ScrapeWrites(e.srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			var first []string
			for seq := int64(0); seq < requests; seq++ {
				req, err := l.Request(nil, 0, seq)
				if err != nil {
					t.Fatal(err)
				}
				if seq == 0 {
					e.rec.record()
				}
				status, body, err := conn.Do(req, time.Now().Add(time.Minute))
				if seq == 0 {
					first = e.rec.stop()
				}
				if err != nil || status != l.Want {
					t.Fatalf("request %d: status %d, %v: %.300s", seq, status, err, body)
				}
				if l.Check != nil {
					if err := l.Check(body); err != nil {
						t.Fatalf("request %d: %v", seq, err)
					}
				}
			}

			// Real work: every write applied, every point new.
			after, err := bench.ScrapeWrites(e.srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			got := after.Since(before)
			wantUpserts, wantDeliveries := bench.Outcomes{}, bench.Outcomes{}
			switch p.Name {
			case "sync-reused", "sync-fresh", "webhook":
				wantUpserts = bench.Outcomes{"updated": requests}
			}
			if p.Name == "webhook" {
				wantDeliveries = bench.Outcomes{"applied": requests}
			}
			if diff := cmp.Diff(wantUpserts, got.Upserts); diff != "" {
				t.Errorf("user upserts by outcome (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(wantDeliveries, got.Deliveries); diff != "" {
				t.Errorf("webhook deliveries by outcome (-want +got):\n%s", diff)
			}
			if got, want := e.count(t, "SELECT count(*) FROM locations"), requests*p.Points; got != want {
				t.Errorf("locations stored = %d, want %d", got, want)
			}

			compareStatements(t, p, first)
		})
	}
}

// compareStatements checks that the statements the service sent for one
// request of p do the work of p's pgbench script: for a script that only
// reads, the same statements in order (see normalize); for one that
// writes, the same writes (see writes). For the batch, whose script is the
// one multi-row insert (the reference), only the service's insert
// of the points counts.
func compareStatements(t *testing.T, p bench.Path, sent []string) {
	t.Helper()
	script, err := bench.Script(p.Same)
	if err != nil {
		t.Fatal(err)
	}
	var service, ours []string
	for _, s := range sent {
		if n := normalize(s); n != "" {
			service = append(service, n)
		}
	}
	for _, s := range splitScript(script) {
		ours = append(ours, normalize(s))
	}
	if w := writes(ours); len(w) > 0 {
		// The service commits concurrent writes in groups, as arrays
		// (package batch), where a script writes one request's rows: they
		// are compared by what they write.
		got := writes(service)
		if p.Name == "batch" { // the reference: the one insert of the points
			got = slices.DeleteFunc(got, func(s string) bool { return !strings.HasPrefix(s, "insert locations ") })
		}
		if diff := cmp.Diff(got, w); diff != "" {
			t.Errorf("pgbench/%s.sql does not write what the service writes for one request (-service +script):\n%s\n"+
				"The service sent:\n  %s", p.Same, diff, strings.Join(sent, "\n  "))
		}
		return
	}
	unquote := func(stmts []string) []string { // "d"."id" is d.id
		out := make([]string, len(stmts))
		for i, s := range stmts {
			out[i] = strings.ReplaceAll(s, `"`, "")
		}
		return out
	}
	if diff := cmp.Diff(unquote(service), unquote(ours)); diff != "" {
		t.Errorf("pgbench/%s.sql does not run the statements the service sends for one request (-service +script):\n%s\n"+
			"The service sent:\n  %s", p.Same, diff, strings.Join(sent, "\n  "))
	}
}

// writes lists, sorted and once each, what normalized statements write:
// "insert T (columns) on conflict (key)" for each INSERT, with
// "insert T on conflict set C" for each column its DO UPDATE sets, and
// "update T set C" for each column an UPDATE sets; quotes and aliases
// aside. A data-modifying CTE counts as the statements it holds.
func writes(stmts []string) []string {
	var out []string
	for _, stmt := range stmts {
		toks := strings.Fields(strings.ReplaceAll(stmt, `"`, ""))
		at := func(i int) string {
			if i >= 0 && i < len(toks) {
				return toks[i]
			}
			return ""
		}
		// list reads "( a , b , … )" from i; it returns the words and where it ends.
		list := func(i int) ([]string, int) {
			var words []string
			for i++; i < len(toks) && toks[i] != ")"; i++ {
				if toks[i] != "," {
					words = append(words, toks[i])
				}
			}
			return words, i + 1
		}
		// assigned reads the columns of "set a = …, b = …" from i, to the
		// end of the clause.
		assigned := func(i int) []string {
			var cols []string
			depth := 0
			for expect := true; i < len(toks); i++ {
				switch t := toks[i]; {
				case t == "(":
					depth++
				case t == ")":
					depth--
				case depth < 0 || depth == 0 && (t == "from" || t == "where" || t == "returning"):
					return cols
				case depth == 0 && t == ",":
					expect = true
				case expect:
					cols = append(cols, t)
					expect = false
				}
			}
			return cols
		}
		for i := 0; i < len(toks); i++ {
			switch {
			case at(i) == "insert" && at(i+1) == "into":
				table := at(i + 2)
				j := i + 3
				if at(j) == "as" {
					j += 2
				}
				cols, _ := list(j)
				slices.Sort(cols)
				k := j
				for k < len(toks) && !(at(k) == "on" && at(k+1) == "conflict") {
					k++
				}
				key, next := list(k + 2)
				out = append(out, fmt.Sprintf("insert %s (%s) on conflict (%s)", table, strings.Join(cols, ", "), strings.Join(key, ", ")))
				if at(next) == "do" && at(next+1) == "update" && at(next+2) == "set" {
					for _, c := range assigned(next + 3) {
						out = append(out, fmt.Sprintf("insert %s on conflict set %s", table, c))
					}
				}
			case at(i) == "update" && at(i-1) != "do":
				table := at(i + 1)
				j := i + 2
				if at(j) == "as" {
					j += 2
				}
				if at(j) == "set" {
					for _, c := range assigned(j + 1) {
						out = append(out, fmt.Sprintf("update %s set %s", table, c))
					}
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestPgbenchScripts runs each pgbench script for two transactions, in
// both query modes the command uses, against a seeded database, and checks
// what they did: a script that fails, finds nothing or writes nothing
// would make the reference cheaper than the service's work.
func TestPgbenchScripts(t *testing.T) {
	pgbench, err := exec.LookPath("pgbench")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("pgbench is not installed (the PostgreSQL client package has it)")
		}
		t.Skip("pgbench is not installed")
	}
	e := newSameWorkEnv(t)
	ctx := context.Background()
	const txns = 2
	checks := map[string]func(t *testing.T){
		"upsert": func(t *testing.T) {
			if got := e.count(t, "SELECT count(*) FROM users WHERE version > 0 AND name LIKE 'Bench User _'"); got != txns {
				t.Errorf("users updated = %d, want %d", got, txns)
			}
		},
		"webhook": func(t *testing.T) {
			if got := e.count(t, "SELECT count(*) FROM users WHERE version > 0"); got != txns {
				t.Errorf("users updated = %d, want %d", got, txns)
			}
			if got := e.count(t, "SELECT count(DISTINCT svix_id) FROM webhook_events WHERE outcome = 'applied' AND length(payload) = 1661"); got != txns {
				t.Errorf("events recorded = %d, want %d", got, txns)
			}
		},
		"latest": func(t *testing.T) {}, // read only: \gset fails the script unless the device is found
		"osmand": func(t *testing.T) {
			if got := e.count(t, "SELECT count(*) FROM locations"); got != txns {
				t.Errorf("points stored = %d, want %d", got, txns)
			}
			if got := e.count(t, `SELECT count(*) FROM devices AS d JOIN locations AS l ON l.device_id = d.id
				AND l.recorded_at = d.last_recorded_at AND d.last_seen_at = l.received_at`); got != txns {
				t.Errorf("devices whose fix and last report are the new point = %d, want %d", got, txns)
			}
		},
		"batch": func(t *testing.T) {
			if got := e.count(t, "SELECT count(*) FROM locations WHERE device_id = 1"); got != txns*bench.BatchPoints {
				t.Errorf("points stored = %d, want %d", got, txns*bench.BatchPoints)
			}
		},
	}
	dir := t.TempDir()
	for _, name := range bench.Scripts() {
		check, ok := checks[name]
		if !ok {
			t.Errorf("pgbench/%s.sql: no check of what it does", name)
			continue
		}
		script, err := bench.Script(name)
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(dir, name+".sql")
		if err := os.WriteFile(file, []byte(script), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, mode := range []string{"prepared", "simple"} {
			t.Run(name+"/"+mode, func(t *testing.T) {
				if err := e.w.Reset(ctx, e.db); err != nil {
					t.Fatal(err)
				}
				args := []string{"-n", "-M", mode, "-t", fmt.Sprint(txns), "-c", "1", "-f", file}
				for _, v := range e.w.PgbenchVars(1, 1) {
					args = append(args, "-D", v)
				}
				cmd := exec.Command(pgbench, args...)
				cmd.Env = append(os.Environ(), bench.PgEnv(e.dbURL)...)
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &out
				if err := cmd.Run(); err != nil {
					t.Fatalf("pgbench %s: %v\n%s", strings.Join(args, " "), err, out.String())
				}
				if want := fmt.Sprintf("processed: %d/%d", txns, txns); !strings.Contains(out.String(), want) {
					t.Fatalf("pgbench did not report %q:\n%s", want, out.String())
				}
				check(t)
			})
		}
	}
}

func TestNormalize(t *testing.T) {
	same := [][]string{
		{
			`INSERT INTO "users" AS "u" ("clerk_user_id", "version") VALUES ('user_bench_1', 1796542207000) RETURNING *`,
			`INSERT INTO "users" AS "u" ("clerk_user_id", "version") VALUES (('user_bench_' || :u), :n) RETURNING * \gset r_`,
			`insert into "users" as "u" ("clerk_user_id", "version") values ($1, $2::bigint) returning *;`,
		},
		{
			`SELECT "d"."id" FROM "devices" AS "d" WHERE (token_hash = '\xecc39a25') FOR UPDATE`,
			`SELECT "d"."id" FROM "devices" AS "d" WHERE (token_hash = sha256(convert_to('trk_BENCH' || lpad(:d::text, 21, '0'), 'UTF8'))) FOR UPDATE`,
		},
		{
			`UPDATE "devices" AS "d" SET "accuracy_m" = DEFAULT, "lat" = 52.5 WHERE (id = 1)`,
			`UPDATE "devices" AS "d" SET "accuracy_m" = NULL, "lat" = :lat WHERE (id = :r_id)`,
			`UPDATE "devices" AS "d" SET "accuracy_m" = $1, "lat" = $2 WHERE (id = $3)`,
		},
		{`BEGIN`, `begin;`},
		{`INSERT INTO "we" ("payload") VALUES (E'{"a"\x3afalse, ''b''}')`, `INSERT INTO "we" ("payload") VALUES ('{"a":false, ''b''}')`},
	}
	for _, group := range same {
		for _, s := range group[1:] {
			if got, want := normalize(s), normalize(group[0]); got != want {
				t.Errorf("normalize(%q)\n = %q\nwant %q", s, got, want)
			}
		}
	}
	// Each differs from the first in what the database does.
	base := `UPDATE "devices" AS "d" SET last_seen_at = 5 WHERE (id = 1 AND (last_recorded_at IS NULL OR last_recorded_at < 7))`
	for _, s := range []string{
		`UPDATE "devices" AS "d" SET last_seen_at = 5 WHERE (id = 1 AND (last_recorded_at IS NULL OR last_recorded_at <= 7))`,
		`UPDATE "devices" AS "d" SET last_seen_at = 5 WHERE (id = 1)`,
		`UPDATE "devices" AS "d" SET last_received_at = 5 WHERE (id = 1 AND (last_recorded_at IS NULL OR last_recorded_at < 7))`,
		`UPDATE "devices" AS "d" SET last_seen_at = 5 WHERE (id = 1 AND (last_recorded_at IS NULL OR last_recorded_at < 7)) RETURNING *`,
		`UPDATE "devices" AS "d" SET last_seen_at = now() WHERE (id = 1 AND (last_recorded_at IS NULL OR last_recorded_at < 7))`,
	} {
		if normalize(s) == normalize(base) {
			t.Errorf("normalize does not tell apart\n  %s\n  %s", base, s)
		}
	}
	if got := normalize("-- ping"); got != "" {
		t.Errorf(`normalize("-- ping") = %q, want ""`, got)
	}
}

func TestSplitScript(t *testing.T) {
	got := splitScript("-- a comment\n\\set n :n + 1\nBEGIN;\nSELECT 1\n  FROM t \\gset r_\nUPDATE t\nSET a = 1;\nCOMMIT;\n")
	want := []string{"BEGIN;", "SELECT 1\n  FROM t", "UPDATE t\nSET a = 1;", "COMMIT;"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("splitScript (-want +got):\n%s", diff)
	}
}
