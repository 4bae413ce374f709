package users

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"github.com/usersync/usersync/batch"
)

// plan checks ws and orders them in rounds: the k-th write of each user,
// in version order, goes in round k, so that each gets the outcome it
// would have alone in that order. errs[i] is set for a write refused on
// its own (a blank id), which is in no round.
func plan(ws []Write) (rounds [][]int, errs []error) {
	errs = make([]error, len(ws))
	var valid []int
	for i, w := range ws {
		if err := validateID(w.ClerkUserID); err != nil {
			errs[i] = err
			continue
		}
		valid = append(valid, i)
	}
	// A user's writes in version order (same versions in arrival order),
	// then the k-th of each in round k. Users in id order: every group
	// takes its rows' locks in that order, so that two groups never wait on
	// each other in a cycle.
	slices.SortStableFunc(valid, func(a, b int) int {
		return cmp.Or(cmp.Compare(ws[a].ClerkUserID, ws[b].ClerkUserID), ws[a].Version.Compare(ws[b].Version))
	})
	ids := make([]string, len(valid))
	for j, i := range valid {
		ids[j] = ws[i].ClerkUserID
	}
	rounds = batch.Rounds(ids)
	for _, round := range rounds {
		for j := range round {
			round[j] = valid[round[j]]
		}
	}
	return rounds, errs
}

// oneStatement tells whether rounds of ws are one statement on
// PostgreSQL: one round whose writes share the name rule. Such a group
// needs no transaction of its own: the statement is atomic.
func oneStatement(ws []Write, rounds [][]int) bool {
	if len(rounds) != 1 {
		return false
	}
	for _, i := range rounds[0] {
		if ws[i].KeepName != ws[rounds[0][0]].KeepName {
			return false
		}
	}
	return true
}

// upsertAll applies ws, in rounds, in db (a transaction: q is its
// *sql.Tx) and returns one result per write. On PostgreSQL each round of
// distinct users is one prepared statement (two when some keep the stored
// name); SQLite, in process, takes them one by one.
func (s *Service) upsertAll(ctx context.Context, db bun.IDB, q queryer, ws []Write, rounds [][]int) ([]Result, error) {
	results := make([]Result, len(ws))
	for _, round := range rounds {
		if err := s.upsertRound(ctx, db, q, ws, round, results); err != nil {
			return nil, err
		}
	}
	return results, nil
}

// queryer runs a statement with pgx's query exec mode as its first
// argument: *sql.Tx or *sql.DB of the pgx driver.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// upsertRound applies the writes ws[i] for i in round, distinct users, and
// stores their results.
func (s *Service) upsertRound(ctx context.Context, db bun.IDB, q queryer, ws []Write, round []int, results []Result) error {
	if db.Dialect().Name() != dialect.PG {
		for _, i := range round {
			res, err := s.upsertOne(ctx, db, ws[i])
			if err != nil {
				return err
			}
			results[i] = res
		}
		return nil
	}
	written := map[string]User{}
	nows := map[string]time.Time{}
	for _, keepName := range []bool{false, true} {
		var (
			ids, emails, names []*string
			versions           []int64
			times              []time.Time
		)
		for _, i := range round {
			w := ws[i]
			if w.KeepName != keepName {
				continue
			}
			now := s.clock.now()
			nows[w.ClerkUserID] = now
			ids = append(ids, &w.ClerkUserID)
			emails = append(emails, w.Email)
			if keepName {
				names = append(names, nil) // a new row has no name to keep
			} else {
				names = append(names, w.Name)
			}
			versions = append(versions, w.Version.UnixMilli())
			times = append(times, now)
		}
		if len(ids) == 0 {
			continue
		}
		query := upsertSetName
		if keepName {
			query = upsertKeepName
		}
		rows, err := q.QueryContext(ctx, query, pgx.QueryExecModeCacheStatement, ids, emails, names, versions, times)
		if err != nil {
			return fmt.Errorf("upsert users: %w", err)
		}
		if err := scanUsers(rows, written); err != nil {
			return fmt.Errorf("upsert users: %w", err)
		}
	}
	// The users the WHERE refused: newer, or a tombstone.
	var refused []string
	for _, i := range round {
		if _, ok := written[ws[i].ClerkUserID]; !ok {
			refused = append(refused, ws[i].ClerkUserID)
		}
	}
	current := map[string]User{}
	if len(refused) > 0 {
		rows, err := q.QueryContext(ctx, selectUsers, pgx.QueryExecModeCacheStatement, refused)
		if err != nil {
			return fmt.Errorf("read users: %w", err)
		}
		if err := scanUsers(rows, current); err != nil {
			return fmt.Errorf("read users: %w", err)
		}
	}
	for _, i := range round {
		id := ws[i].ClerkUserID
		if u, ok := written[id]; ok {
			results[i] = Result{User: u, Outcome: writeOutcome(u, nows[id])}
			continue
		}
		u, ok := current[id]
		if !ok {
			return fmt.Errorf("upsert user %s: neither written nor found", id)
		}
		results[i] = staleOrGone(u)
	}
	return nil
}

// staleOrGone is the result of a write the upsert's WHERE refused, with the
// row as it stands: a tombstone (Gone) or newer (Stale).
func staleOrGone(current User) Result {
	if current.Deleted() {
		return Result{User: current, Outcome: Gone}
	}
	return Result{User: current, Outcome: Stale}
}

// The prepared statements of the upsert on PostgreSQL: one row per element
// of the arrays, the rules of Upsert in the SET and WHERE.
const (
	upsertColumns = ` RETURNING u.id, u.clerk_user_id, u.email, u.name, u.version, u.deleted_at, u.created_at, u.updated_at`

	upsertSetName = `INSERT INTO users AS u (clerk_user_id, email, name, version, created_at, updated_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::timestamptz[], $5::timestamptz[])
ON CONFLICT (clerk_user_id) DO UPDATE SET
  email = EXCLUDED.email, name = EXCLUDED.name, version = EXCLUDED.version,
  updated_at = CASE WHEN u.email IS NOT DISTINCT FROM EXCLUDED.email AND u.name IS NOT DISTINCT FROM EXCLUDED.name
    THEN u.updated_at ELSE EXCLUDED.updated_at END
WHERE u.deleted_at IS NULL AND u.version <= EXCLUDED.version` + upsertColumns

	upsertKeepName = `INSERT INTO users AS u (clerk_user_id, email, name, version, created_at, updated_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::timestamptz[], $5::timestamptz[])
ON CONFLICT (clerk_user_id) DO UPDATE SET
  email = EXCLUDED.email, version = EXCLUDED.version,
  updated_at = CASE WHEN u.email IS NOT DISTINCT FROM EXCLUDED.email THEN u.updated_at ELSE EXCLUDED.updated_at END
WHERE u.deleted_at IS NULL AND u.version <= EXCLUDED.version` + upsertColumns

	selectUsers = `SELECT u.id, u.clerk_user_id, u.email, u.name, u.version, u.deleted_at, u.created_at, u.updated_at
FROM users AS u WHERE u.clerk_user_id = ANY($1::text[])`
)

// scanUsers reads rows of upsertColumns into out, by Clerk id.
func scanUsers(rows *sql.Rows, out map[string]User) error {
	defer rows.Close()
	for rows.Next() {
		var (
			u           User
			email, name sql.NullString
			deleted     sql.NullTime
		)
		if err := rows.Scan(&u.ID, &u.ClerkUserID, &email, &name, &u.Version, &deleted, &u.CreatedAt, &u.UpdatedAt); err != nil {
			return err
		}
		if email.Valid {
			u.Email = &email.String
		}
		if name.Valid {
			u.Name = &name.String
		}
		if deleted.Valid {
			t := deleted.Time.UTC()
			u.DeletedAt = &t
		}
		u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
		out[u.ClerkUserID] = u
	}
	return rows.Err()
}

// upsertOne is the upsert of one write with bun, for SQLite.
func (s *Service) upsertOne(ctx context.Context, db bun.IDB, w Write) (Result, error) {
	now := s.clock.now()
	row := User{
		ClerkUserID: w.ClerkUserID,
		Email:       w.Email,
		Name:        w.Name,
		Version:     w.Version.UnixMilli(),
		CreatedAt:   now,
		UpdatedAt:   now,
	}
	if w.KeepName {
		row.Name = nil // a new row has no name to keep
	}
	q := db.NewInsert().
		Model(&row).
		Column("clerk_user_id", "email", "name", "version", "created_at", "updated_at").
		On("CONFLICT (clerk_user_id) DO UPDATE").
		Set("email = EXCLUDED.email").
		Set("version = EXCLUDED.version")
	if w.KeepName {
		q = q.Set("updated_at = CASE WHEN u.email IS NOT DISTINCT FROM EXCLUDED.email" +
			" THEN u.updated_at ELSE EXCLUDED.updated_at END")
	} else {
		q = q.Set("name = EXCLUDED.name").
			Set("updated_at = CASE WHEN u.email IS NOT DISTINCT FROM EXCLUDED.email" +
				" AND u.name IS NOT DISTINCT FROM EXCLUDED.name" +
				" THEN u.updated_at ELSE EXCLUDED.updated_at END")
	}
	err := q.Where("u.deleted_at IS NULL AND u.version <= EXCLUDED.version").
		Returning("*").
		Scan(ctx)
	switch {
	case err == nil:
		return Result{User: row, Outcome: writeOutcome(row, now)}, nil
	case errors.Is(err, sql.ErrNoRows):
		current, err := s.getIn(ctx, db, w.ClerkUserID)
		if err != nil {
			return Result{}, err
		}
		return staleOrGone(current), nil
	default:
		return Result{}, fmt.Errorf("upsert user: %w", err)
	}
}
