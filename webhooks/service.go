package webhooks

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"github.com/usersync/usersync/batch"
	"github.com/usersync/usersync/errs"
	"github.com/usersync/usersync/txn"
	"github.com/usersync/usersync/users"
)

// ErrNotFound: no event with that svix id is stored.
var ErrNotFound = errs.New(errs.NotFound, "webhook event not found")

// Service applies Clerk webhook events to users and keeps the event log.
// The caller verifies the Svix signature first; Service trusts the body.
type Service struct {
	db    *bun.DB
	users *users.Service
	now   func() time.Time
	group *batch.Committer[delivery, processed] // Deliver's groups

	// Observer, if set, is called after each recorded delivery (not after
	// a replay) with the event type ("" for an unreadable body) and the
	// outcome, e.g. to count deliveries in metrics. Set it before use.
	Observer func(eventType string, outcome Outcome)
}

// Grouping of deliveries: how many groups commit at once, and how large
// one may be.
const (
	groupWorkers = 4
	groupMax     = 128
	groupTimeout = 30 * time.Second
)

// NewService returns a Service writing the event log to db and users
// through u.
func NewService(db *bun.DB, u *users.Service) *Service {
	s := &Service{db: db, users: u, now: time.Now}
	workers := groupWorkers
	if db.Dialect().Name() != dialect.PG {
		workers = 1 // SQLite writes one transaction at a time anyway
	}
	s.group = batch.New(s.deliverAll, workers, groupMax, groupTimeout)
	return s
}

// Result is what processing one event did.
type Result struct {
	SvixID      string
	Type        string // "" when a failed body had no readable type
	ClerkUserID string // "" for non-user events
	Outcome     Outcome
}

// Deliver processes a verified delivery: it applies the event to users and
// records it under svixID, both in one transaction. A redelivery (same
// svixID) is processed again and updates the same record; the upsert rules
// make that safe.
//
// A body that is not a usable Clerk event is recorded as failed and
// committed; Deliver then returns the Result and an error wrapping
// [ErrNotClerkEvent] (the HTTP layer answers 422). Any other error is the
// database's, and nothing was committed (answer 500, so Svix retries).
// receivedAt is when the delivery arrived; zero means now.
//
// Concurrent deliveries are committed in groups (package batch): one
// transaction, the users' upserts in one statement and the records in
// another, for all the deliveries waiting.
func (s *Service) Deliver(ctx context.Context, svixID string, body []byte, receivedAt time.Time) (Result, error) {
	if err := checkSvixID(svixID); err != nil {
		return Result{}, err
	}
	if receivedAt.IsZero() {
		receivedAt = s.now()
	}
	d := delivery{svixID: svixID, body: body, receivedAt: toDBTime(receivedAt)}
	d.ev, d.p = decode(body) // here, in parallel, rather than in the group's worker
	p, err := s.group.Do(ctx, d)
	if err != nil {
		return Result{}, fmt.Errorf("deliver webhook event %s: %w", svixID, err)
	}
	if s.Observer != nil {
		s.Observer(p.Type, p.Outcome)
	}
	return p.result(svixID), p.Failure
}

// delivery is one Deliver waiting to commit, its body decoded.
type delivery struct {
	svixID     string
	body       []byte
	receivedAt time.Time
	ev         Event
	p          processed // what decode made of it
}

// deliverAll applies and records ds in one transaction (batch.Apply). An
// event's own failure is in its processed.Failure, recorded with it; the
// error is the database's.
func (s *Service) deliverAll(ctx context.Context, ds []delivery) ([]processed, []error, error) {
	evs := make([]Event, len(ds))
	ps := make([]processed, len(ds))
	for i, d := range ds {
		evs[i], ps[i] = d.ev, d.p
	}
	err := txn.Run(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		if err := s.apply(ctx, tx, evs, ps); err != nil {
			return err
		}
		return recordDeliveries(ctx, tx, ds, ps, toDBTime(s.now()))
	})
	if err != nil {
		return nil, nil, err
	}
	return ps, make([]error, len(ds)), nil
}

// Replay processes the stored body of event svixID again, through the same
// path as a delivery. A replay is not a delivery: attempts and the received
// times stay; outcome, error and last_applied_at are updated. An unknown id
// gives an error wrapping [ErrNotFound]; an event that fails again is
// recorded as failed and returned with an error wrapping [ErrNotClerkEvent].
func (s *Service) Replay(ctx context.Context, svixID string) (Result, error) {
	p, err := s.replay(ctx, svixID)
	if err != nil {
		return Result{}, err
	}
	return p.result(svixID), p.Failure
}

// replay keeps the event's own failure (p.Failure) apart from a database
// error, which ReplayMatching must tell apart.
func (s *Service) replay(ctx context.Context, svixID string) (processed, error) {
	var p processed
	err := txn.Run(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		var row eventRow
		err := tx.NewSelect().Model(&row).Column("svix_id", "payload").Where("we.svix_id = ?", svixID).Scan(ctx)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return ErrNotFound
		case err != nil:
			return fmt.Errorf("load webhook event: %w", err)
		}
		ev, p0 := decode([]byte(row.Payload))
		ps := []processed{p0}
		if err := s.apply(ctx, tx, []Event{ev}, ps); err != nil {
			return err
		}
		p = ps[0]
		return recordReplay(ctx, tx, svixID, p, toDBTime(s.now()))
	})
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			err = fmt.Errorf("replay webhook event %s: %w", svixID, err)
		}
		return processed{}, err
	}
	return p, nil
}

// decode reads body as a Clerk event. One that cannot be used comes back
// with OutcomeFailed and its Failure, one of a type usersync does not act
// on with OutcomeIgnored; the others have no outcome yet (see apply).
func decode(body []byte) (Event, processed) {
	ev, err := DecodeEvent(body)
	if err == nil {
		err = checkText(ev)
	}
	if err != nil {
		typ, id := peek(body)
		return Event{}, processed{Type: typ, ClerkUserID: id, Outcome: OutcomeFailed, Failure: err}
	}
	p := processed{Type: ev.Type, ClerkUserID: ev.ClerkUserID}
	switch ev.Type {
	case TypeUserCreated, TypeUserUpdated, TypeUserDeleted:
	default:
		p.Outcome = OutcomeIgnored
	}
	return ev, p
}

// apply applies the decoded events evs inside tx and sets the outcome of
// each in ps: the creations and updates as one group of upserts (writes
// for one user in version order), then the deletions. An error is the
// database's and must roll tx back.
func (s *Service) apply(ctx context.Context, tx bun.Tx, evs []Event, ps []processed) error {
	u := s.users.WithTx(tx)
	var (
		writes []users.Write
		at     []int
	)
	for i, ev := range evs {
		if ps[i].Outcome == "" && ev.Type != TypeUserDeleted {
			writes = append(writes, users.Write{
				ClerkUserID: ev.User.ClerkUserID,
				Email:       ev.User.Email,
				Name:        ev.User.Name,
				Version:     ev.User.UpdatedAt,
				Writer:      users.WriterWebhook,
			})
			at = append(at, i)
		}
	}
	if len(writes) > 0 {
		each, err := u.UpsertAll(ctx, writes)
		if err != nil {
			return err
		}
		for j, e := range each {
			ps[at[j]].settle(e.Outcome, e.Err)
		}
	}
	for i, ev := range evs {
		if ps[i].Outcome == "" && ev.Type == TypeUserDeleted {
			res, err := u.Delete(ctx, ev.ClerkUserID, ev.Timestamp)
			if err != nil && !errors.Is(err, errs.Invalid) {
				return err
			}
			ps[i].settle(res.Outcome, err)
		}
	}
	return nil
}

// settle records what the users service did with the event. A write it
// refused (errs.Invalid: a blank id) is a defect of the event, not of the
// database, so the event fails and is not retried.
func (p *processed) settle(o users.Outcome, err error) {
	if err != nil {
		p.Outcome, p.Failure = OutcomeFailed, notClerkEvent("%v", err)
		return
	}
	p.Outcome = outcomeOf(o)
}

// outcomeOf maps a users outcome onto the event log's vocabulary. A write
// to a deleted user (Gone) is stale whatever its version: a tombstone is final.
func outcomeOf(o users.Outcome) Outcome {
	switch o {
	case users.Created, users.Updated, users.Deleted:
		return OutcomeApplied
	case users.Stale, users.Gone:
		return OutcomeStale
	default:
		return OutcomeUnchanged
	}
}

func (p processed) result(svixID string) Result {
	return Result{SvixID: svixID, Type: p.Type, ClerkUserID: p.ClerkUserID, Outcome: p.Outcome}
}

// checkText refuses NUL in the fields that reach the database: a JSON
// "\u0000" decodes to one, and the database would refuse the write, which
// Svix would retry forever.
func checkText(ev Event) error {
	fields := []string{ev.Type, ev.ClerkUserID}
	if ev.User != nil {
		fields = append(fields, deref(ev.User.Email), deref(ev.User.Name))
	}
	for _, f := range fields {
		if strings.ContainsRune(f, 0) {
			return notClerkEvent("a field contains a NUL character")
		}
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// peek reads what it can of a body DecodeEvent refused, so that the failed
// record can still be found by type and user. Keys are matched exactly, as
// DecodeEvent does.
func peek(body []byte) (eventType, clerkUserID string) {
	var env map[string]json.RawMessage
	if json.Unmarshal(body, &env) != nil {
		return "", ""
	}
	var data map[string]json.RawMessage
	_ = json.Unmarshal(env["type"], &eventType)
	_ = json.Unmarshal(env["data"], &data)
	if strings.HasPrefix(eventType, "user.") {
		_ = json.Unmarshal(data["id"], &clerkUserID)
	}
	return storableText(eventType), storableText(clerkUserID)
}

func checkSvixID(svixID string) error {
	if strings.TrimSpace(svixID) == "" || !utf8.ValidString(svixID) || strings.ContainsRune(svixID, 0) {
		return errs.Field("svix id", "must be non-empty UTF-8 text")
	}
	return nil
}

// toDBTime is t as both databases keep it: UTC, to the microsecond, so that
// a stored time reads back equal.
func toDBTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}
