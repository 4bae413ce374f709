package retention

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/uptrace/bun"

	"github.com/usersync/usersync/migrations"
)

// On PostgreSQL, locations is range-partitioned by the month of
// recorded_at (Unix ms, UTC months), one partition per month named
// locations_yYYYYmMM, and a DEFAULT partition that catches a point for a
// month without a partition, so that an insert never fails. Partitions are
// attached and detached by name under a lock timeout: creating one with
// ATTACH takes only a SHARE UPDATE EXCLUSIVE lock on locations, and
// dropping one takes an ACCESS EXCLUSIVE lock that is given up after
// lockTimeout rather than queueing ingest behind a long read.

// lockTimeout bounds how long partition DDL waits for its locks; a
// partition not created or dropped in time is tried again at the next pass.
const lockTimeout = "1s"

// monthsAhead is how many months after the current one always have a
// partition, so that coverage outlives a pruner that stopped for weeks.
const monthsAhead = 2

// partition is one partition of locations.
type partition struct {
	Name    string
	Default bool
	From    int64 // inclusive, Unix ms; meaningful unless Default
	To      int64 // exclusive, Unix ms
}

// boundRE reads pg_get_expr(relpartbound) of a range partition on a
// BIGINT key: FOR VALUES FROM ('1764547200000') TO ('1767225600000').
var boundRE = regexp.MustCompile(`^FOR VALUES FROM \('?(-?\d+)'?\) TO \('?(-?\d+)'?\)$`)

// isPartitioned tells whether locations is a partitioned table: on
// PostgreSQL since migration 20261206000002; never on SQLite.
func isPartitioned(ctx context.Context, db bun.IDB) (bool, error) {
	if migrations.DialectOf(db) != migrations.Postgres {
		return false, nil
	}
	var kind string
	err := db.NewRaw("SELECT relkind::text FROM pg_class WHERE oid = to_regclass('locations')").Scan(ctx, &kind)
	if err != nil {
		return false, fmt.Errorf("inspect locations: %w", err)
	}
	return kind == "p", nil
}

// listPartitions returns the partitions of locations, in range order
// (the default last). A partition whose bounds are not two integers (one
// made by hand with MINVALUE, say) is left out: it is never dropped, and
// months it may cover are skipped when creating partitions only if they
// collide, which the ATTACH then reports.
func listPartitions(ctx context.Context, db bun.IDB) ([]partition, error) {
	var rows []struct {
		Name  string `bun:"name"`
		Bound string `bun:"bound"`
	}
	err := db.NewRaw(`SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
		FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
		WHERE i.inhparent = to_regclass('locations')`).Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("list partitions of locations: %w", err)
	}
	var out []partition
	for _, r := range rows {
		if r.Bound == "DEFAULT" {
			out = append(out, partition{Name: r.Name, Default: true})
			continue
		}
		m := boundRE.FindStringSubmatch(r.Bound)
		if m == nil {
			continue
		}
		from, err1 := strconv.ParseInt(m[1], 10, 64)
		to, err2 := strconv.ParseInt(m[2], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, partition{Name: r.Name, From: from, To: to})
	}
	slices.SortFunc(out, func(a, b partition) int {
		switch {
		case a.Default != b.Default:
			if a.Default {
				return 1
			}
			return -1
		case a.From < b.From:
			return -1
		case a.From > b.From:
			return 1
		}
		return 0
	})
	return out, nil
}

// monthOf is the first instant of t's month, UTC.
func monthOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// monthPartition is the partition locations_yYYYYmMM of month m.
func monthPartition(m time.Time) partition {
	return partition{
		Name: fmt.Sprintf("locations_y%04dm%02d", m.Year(), int(m.Month())),
		From: m.UnixMilli(),
		To:   m.AddDate(0, 1, 0).UnixMilli(),
	}
}

// months lists the months from the one holding from to the one holding
// to, both included.
func months(from, to time.Time) []time.Time {
	var out []time.Time
	for m := monthOf(from); !m.After(to); m = m.AddDate(0, 1, 0) {
		out = append(out, m)
	}
	return out
}

// ensureMonths creates the partition of every month from the one holding
// from to the one holding to that no partition covers yet, and returns
// the names it created. Each is created in a transaction of its own
// (the first that fails ends the call): a table like locations, filled
// with the points the default partition holds for that month, then
// attached. Replicas take turns through an advisory lock per schema.
func ensureMonths(ctx context.Context, db *bun.DB, from, to time.Time) ([]string, error) {
	// A cheap look first, outside any lock: usually every month is there.
	existing, err := listPartitions(ctx, db)
	if err != nil {
		return nil, err
	}
	var created []string
	for _, m := range months(from, to) {
		p := monthPartition(m)
		if overlaps(existing, p) {
			continue
		}
		done, err := createPartition(ctx, db, p)
		if err != nil {
			return created, fmt.Errorf("create partition %s: %w", p.Name, err)
		}
		if done {
			created = append(created, p.Name)
		}
	}
	return created, nil
}

// createPartition creates and attaches p unless a partition overlaps its
// range already (another replica may have created it since the caller
// looked); it tells whether it did.
func createPartition(ctx context.Context, db *bun.DB, p partition) (bool, error) {
	created := false
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.ExecContext(ctx, "SET LOCAL lock_timeout = '"+lockTimeout+"'"); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?, hashtext(current_schema()))", partitionLockKey); err != nil {
			return err
		}
		existing, err := listPartitions(ctx, tx)
		if err != nil {
			return err
		}
		if overlaps(existing, p) { // another replica was quicker
			return nil
		}
		var columns string
		err = tx.NewRaw(`SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
			WHERE attrelid = to_regclass('locations') AND attnum > 0 AND NOT attisdropped`).Scan(ctx, &columns)
		if err != nil {
			return fmt.Errorf("read columns of locations: %w", err)
		}
		name := bun.Ident(p.Name)
		if _, err := tx.ExecContext(ctx, "CREATE TABLE ? (LIKE locations INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)", name); err != nil {
			return err
		}
		for _, d := range existing {
			if !d.Default {
				continue
			}
			// Points that arrived while the month had no partition move
			// into it, so that the ATTACH finds the default clear of them.
			_, err := tx.ExecContext(ctx, "WITH moved AS (DELETE FROM ? WHERE recorded_at >= ? AND recorded_at < ? RETURNING "+columns+") "+
				"INSERT INTO ? ("+columns+") SELECT "+columns+" FROM moved", bun.Ident(d.Name), p.From, p.To, name)
			if err != nil {
				return fmt.Errorf("move points from the default partition: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, "ALTER TABLE locations ATTACH PARTITION ? FOR VALUES FROM (?) TO (?)", name, p.From, p.To); err != nil {
			return err
		}
		created = true
		return nil
	})
	return created, err
}

func overlaps(existing []partition, p partition) bool {
	for _, e := range existing {
		if !e.Default && e.From < p.To && p.From < e.To {
			return true
		}
	}
	return false
}

// countRows counts the points of a partition.
func countRows(ctx context.Context, db bun.IDB, name string) (int64, error) {
	var n int64
	if err := db.NewRaw("SELECT count(*) FROM ?", bun.Ident(name)).Scan(ctx, &n); err != nil {
		return 0, fmt.Errorf("count points of %s: %w", name, err)
	}
	return n, nil
}

// dropPartition counts and drops a partition in one transaction, giving
// up after lockTimeout (errLockTimeout) rather than holding ingest up.
func dropPartition(ctx context.Context, db bun.IDB, name string) (int64, error) {
	var n int64
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.ExecContext(ctx, "SET LOCAL lock_timeout = '"+lockTimeout+"'"); err != nil {
			return err
		}
		var err error
		if n, err = countRows(ctx, tx, name); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DROP TABLE ?", bun.Ident(name))
		return err
	})
	if isLockTimeout(err) {
		return 0, errLockTimeout
	}
	return n, err
}

// errLockTimeout: the DDL gave up waiting for its lock; it is retried at
// the next pass.
var errLockTimeout = errors.New("lock not granted within " + lockTimeout)

// isLockTimeout tells PostgreSQL's lock_not_available (55P03).
func isLockTimeout(err error) bool {
	var pgErr interface{ SQLState() string }
	return errors.As(err, &pgErr) && pgErr.SQLState() == "55P03"
}
