package tracking_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/usersync/usersync/migrations/dbtest"
	"github.com/usersync/usersync/tracking"
	"github.com/usersync/usersync/users"
)

// clock is a settable server clock for the service under test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// now0 is the server time of the tests: recent, so that the limits of
// Normalize hold against it, and a whole second.
var now0 = time.Now().UTC().Truncate(time.Second)

// fixture is a service on a fresh database with its clock at now0.
type fixture struct {
	db    *bun.DB
	clock *clock
	svc   *tracking.Service
	users *users.Service
}

func newFixture(t *testing.T, db *bun.DB, cfg tracking.Config) *fixture {
	t.Helper()
	c := newClock(now0)
	cfg.Now = c.Now
	return &fixture{db: db, clock: c, svc: tracking.NewService(db, cfg), users: users.NewService(db)}
}

// serviceWithoutDB is a service for what needs no database (plans and
// argument checks), its clock at now0.
func serviceWithoutDB(cfg tracking.Config) *tracking.Service {
	cfg.Now = newClock(now0).Now
	return tracking.NewService(nil, cfg)
}

// eachFixture runs fn in parallel on each database, with a fixture of cfg.
func eachFixture(t *testing.T, cfg tracking.Config, fn func(t *testing.T, f *fixture)) {
	t.Helper()
	dbtest.Each(t, func(t *testing.T, db *bun.DB) {
		t.Parallel()
		fn(t, newFixture(t, db, cfg))
	})
}

// owner creates the user clerkUserID and returns its users.id.
func (f *fixture) owner(t *testing.T, clerkUserID string) int64 {
	t.Helper()
	email := clerkUserID + "@example.com"
	res, err := f.users.Upsert(context.Background(), users.Write{ClerkUserID: clerkUserID, Email: &email, Version: now0})
	if err != nil {
		t.Fatalf("create user %s: %v", clerkUserID, err)
	}
	return res.User.ID
}

// device registers a device for owner and returns it with its token.
func (f *fixture) device(t *testing.T, owner int64, name string) (tracking.Device, string) {
	t.Helper()
	d, token, err := f.svc.CreateDevice(context.Background(), owner, tracking.NewDevice{Name: name})
	if err != nil {
		t.Fatalf("CreateDevice(%q): %v", name, err)
	}
	return d, token
}

// annsDevice is the common start of a test: the user user_ann and her
// device Bella.
func (f *fixture) annsDevice(t *testing.T) (ann int64, d tracking.Device, token string) {
	t.Helper()
	ann = f.owner(t, "user_ann")
	d, token = f.device(t, ann, "Bella")
	return ann, d, token
}

// ingest stores points for the device of token, found as the HTTP layer
// finds it (Authenticate, then Ingest), and fails the test on an error.
func (f *fixture) ingest(t *testing.T, token string, points ...tracking.Location) tracking.IngestResult {
	t.Helper()
	id, err := f.svc.Authenticate(context.Background(), token)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	res, err := f.svc.Ingest(context.Background(), id, points)
	if err != nil {
		t.Fatalf("Ingest: %v", err)
	}
	return res
}

// route reads every page of a plan's range and returns the points in order
// and the number of pages.
func (f *fixture) route(t *testing.T, owner, deviceID int64, q tracking.RouteQuery) ([]tracking.Location, int) {
	t.Helper()
	var (
		all   []tracking.Location
		pages int
	)
	for {
		plan, err := f.svc.PlanRoute(deviceID, q)
		if err != nil {
			t.Fatalf("PlanRoute(%+v): %v", q, err)
		}
		page, err := f.svc.Route(context.Background(), owner, plan, func(l tracking.Location) error {
			all = append(all, l)
			return nil
		})
		if err != nil {
			t.Fatalf("Route: %v", err)
		}
		pages++
		if page.NextCursor == "" {
			return all, pages
		}
		q.Cursor = page.NextCursor
	}
}

// fixAt is a valid point recorded at t, n meters north of a start.
func fixAt(t time.Time, n int) tracking.Location {
	return tracking.Location{RecordedAt: t, Lat: 52.52 + float64(n)*0.00001, Lon: 13.405}
}

func ptr[T any](v T) *T { return &v }
