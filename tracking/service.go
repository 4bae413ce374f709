package tracking

import (
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"github.com/usersync/usersync/batch"
	"github.com/usersync/usersync/live"
)

// Defaults of Config (docs/operations.md has the settings).
const (
	DefaultOnlineWindow = 5 * time.Minute     // DEVICE_ONLINE_WINDOW
	DefaultMaxRouteSpan = 31 * 24 * time.Hour // ROUTE_MAX_SPAN
)

// Config holds the settings of the Service. A zero field means its default.
type Config struct {
	// OnlineWindow is how recently a device must have reported to be online.
	OnlineWindow time.Duration
	// MaxRouteSpan bounds the from–to range of one route query.
	MaxRouteSpan time.Duration
	// Limits bounds the recorded_at of ingested points.
	Limits Limits
	// Now is the server clock; nil means time.Now. Tests set it.
	Now func() time.Time
	// Feed, if set, is told of every change a live stream shows (new
	// newest fixes, devices created, renamed and deleted), when the write
	// commits.
	Feed *live.Feed
}

// Service stores devices and their locations. Every method that reads or
// writes a device of a user takes the owner's users.id and matches the
// device by id and owner in one query, so that "not yours" and "does not
// exist" are the same ErrDeviceNotFound.
type Service struct {
	db    bun.IDB
	cfg   Config
	group *batch.Committer[ingestWrite, int] // Ingest's groups; nil on a transaction
}

// Grouping of ingests: how many groups commit at once, and how large one
// may be (a group holds at most ingestMax requests, each of at most
// MaxIngestPoints points).
const (
	ingestWorkers = 4
	ingestMax     = 64
	ingestTimeout = 30 * time.Second
)

// NewService returns a Service on db.
func NewService(db bun.IDB, cfg Config) *Service {
	if cfg.OnlineWindow <= 0 {
		cfg.OnlineWindow = DefaultOnlineWindow
	}
	if cfg.MaxRouteSpan <= 0 {
		cfg.MaxRouteSpan = DefaultMaxRouteSpan
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Service{db: db, cfg: cfg}
	if d, ok := db.(*bun.DB); ok && d != nil {
		workers := ingestWorkers
		if !s.rowLocks() {
			workers = 1 // SQLite writes one transaction at a time anyway
		}
		s.group = batch.New(s.ingestAll, workers, ingestMax, ingestTimeout)
	}
	return s
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC() }

// rowLocks tells whether SELECT … FOR … is available. SQLite has no row
// locks and needs none: its write transactions run one at a time
// (BEGIN IMMEDIATE, see migrations.Open).
func (s *Service) rowLocks() bool { return s.db.Dialect().Name() == dialect.PG }
