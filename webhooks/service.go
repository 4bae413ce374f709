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

	// Observer, if set, is called after each recorded delivery (not after
	// a replay) with the event type ("" for an unreadable body) and the
	// outcome, e.g. to count deliveries in metrics. Set it before use.
	Observer func(eventType string, outcome Outcome)
}

// NewService returns a Service writing the event log to db and users
// through u.
func NewService(db *bun.DB, u *users.Service) *Service {
	return &Service{db: db, users: u, now: time.Now}
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
func (s *Service) Deliver(ctx context.Context, svixID string, body []byte, receivedAt time.Time) (Result, error) {
	if err := checkSvixID(svixID); err != nil {
		return Result{}, err
	}
	if receivedAt.IsZero() {
		receivedAt = s.now()
	}
	receivedAt = toDBTime(receivedAt)

	var p processed
	err := txn.Run(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		var err error
		if p, err = s.process(ctx, tx, body); err != nil {
			return err
		}
		return recordDelivery(ctx, tx, svixID, body, p, receivedAt, toDBTime(s.now()))
	})
	if err != nil {
		return Result{}, fmt.Errorf("deliver webhook event %s: %w", svixID, err)
	}
	if s.Observer != nil {
		s.Observer(p.Type, p.Outcome)
	}
	return p.result(svixID), p.Failure
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
		if p, err = s.process(ctx, tx, []byte(row.Payload)); err != nil {
			return err
		}
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

// process decodes body and applies it to users inside tx. An event that
// cannot be used comes back as OutcomeFailed with p.Failure set; err is
// only for database failures, which must roll tx back.
func (s *Service) process(ctx context.Context, tx bun.Tx, body []byte) (processed, error) {
	ev, err := DecodeEvent(body)
	if err == nil {
		err = checkText(ev)
	}
	if err != nil {
		typ, id := peek(body)
		return processed{Type: typ, ClerkUserID: id, Outcome: OutcomeFailed, Failure: err}, nil
	}
	p := processed{Type: ev.Type, ClerkUserID: ev.ClerkUserID}

	u := s.users.WithTx(tx)
	var res users.Result
	switch ev.Type {
	case TypeUserCreated, TypeUserUpdated:
		res, err = u.Upsert(ctx, users.Write{
			ClerkUserID: ev.User.ClerkUserID,
			Email:       ev.User.Email,
			Name:        ev.User.Name,
			Version:     ev.User.UpdatedAt,
			Writer:      users.WriterWebhook,
		})
	case TypeUserDeleted:
		res, err = u.Delete(ctx, ev.ClerkUserID, ev.Timestamp)
	default:
		p.Outcome = OutcomeIgnored
		return p, nil
	}
	if errors.Is(err, errs.Invalid) {
		// The users service refused the event's data (a blank id): a
		// defect of the event, not of the database, so it is not retried.
		p.Outcome, p.Failure = OutcomeFailed, notClerkEvent("%v", err)
		return p, nil
	}
	if err != nil {
		return processed{}, err
	}
	p.Outcome = outcomeOf(res.Outcome)
	return p, nil
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
