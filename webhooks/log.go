package webhooks

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"github.com/usersync/usersync/batch"
	"github.com/usersync/usersync/jsontime"
)

// Outcome is what processing a webhook event did, as stored in the event log.
type Outcome string

const (
	OutcomeApplied   Outcome = "applied"   // the user was created, updated or deleted
	OutcomeUnchanged Outcome = "unchanged" // same data as stored, or a second delete
	OutcomeStale     Outcome = "stale"     // older than the stored user, or the user is deleted
	OutcomeIgnored   Outcome = "ignored"   // a type usersync does not act on
	OutcomeFailed    Outcome = "failed"    // the body is not a usable Clerk event
)

// Valid tells whether o is one of the outcomes above.
func (o Outcome) Valid() bool {
	switch o {
	case OutcomeApplied, OutcomeUnchanged, OutcomeStale, OutcomeIgnored, OutcomeFailed:
		return true
	}
	return false
}

// StoredEvent is one entry of the event log: the latest processing of a
// Svix message, however many times it was delivered or replayed. It is
// also the row of webhook_events (eventRow), but for the payload.
type StoredEvent struct {
	SvixID          string     `json:"svix_id" bun:"svix_id,pk"`
	Type            string     `json:"type" bun:"type,notnull"`           // "" when the body had no readable type
	ClerkUserID     *string    `json:"clerk_user_id" bun:"clerk_user_id"` // nil for non-user events and undecodable bodies
	Outcome         Outcome    `json:"outcome" bun:"outcome,notnull"`
	Error           *string    `json:"error" bun:"error"`               // why the last processing failed; nil unless Outcome is failed
	Attempts        int        `json:"attempts" bun:"attempts,notnull"` // deliveries received; replays do not count
	FirstReceivedAt time.Time  `json:"first_received_at" bun:"first_received_at,notnull"`
	LastReceivedAt  time.Time  `json:"last_received_at" bun:"last_received_at,notnull"`
	LastAppliedAt   *time.Time `json:"last_applied_at" bun:"last_applied_at"` // last time the event went through the users service
	// Payload is the body as received; only Get fills it. A body that is
	// not JSON comes back as a JSON string, so Payload is always valid JSON.
	Payload json.RawMessage `json:"payload,omitempty" bun:"-"`
}

// MarshalJSON writes e with its times as every JSON time of usersync is
// written (package jsontime).
func (e StoredEvent) MarshalJSON() ([]byte, error) {
	type plain StoredEvent // the fields without this method
	return json.Marshal(struct {
		plain
		FirstReceivedAt jsontime.Time  `json:"first_received_at"`
		LastReceivedAt  jsontime.Time  `json:"last_received_at"`
		LastAppliedAt   *jsontime.Time `json:"last_applied_at"`
	}{plain(e), jsontime.Of(e.FirstReceivedAt), jsontime.Of(e.LastReceivedAt), jsontime.Ptr(e.LastAppliedAt)})
}

// eventRow is the webhook_events table: the stored event and the body as
// text. The alias keeps hand-written conditions short and unambiguous
// inside ON CONFLICT clauses.
type eventRow struct {
	bun.BaseModel `bun:"table:webhook_events,alias:we"`
	StoredEvent
	Payload string `bun:"payload,notnull"`
}

// stored is the row's event, its times in UTC, without the payload.
func (r *eventRow) stored() StoredEvent {
	ev := r.StoredEvent
	ev.FirstReceivedAt, ev.LastReceivedAt = ev.FirstReceivedAt.UTC(), ev.LastReceivedAt.UTC()
	if ev.LastAppliedAt != nil {
		t := ev.LastAppliedAt.UTC()
		ev.LastAppliedAt = &t
	}
	return ev
}

// processed is what processing one body produced, to be written to the log.
type processed struct {
	Type        string
	ClerkUserID string
	Outcome     Outcome
	Failure     error // set when Outcome is failed
}

// recordDelivery creates or updates the event's row for a delivery at
// receivedAt: attempts counts it, and the latest processing replaces the
// previous one. first/last_received_at take the earliest/latest time, so
// two deliveries committing out of order still leave the right span.
func recordDelivery(ctx context.Context, db bun.IDB, svixID string, body []byte, p processed, receivedAt, appliedAt time.Time) error {
	row := eventRow{StoredEvent: StoredEvent{
		SvixID:          svixID,
		Type:            p.Type,
		ClerkUserID:     nullable(p.ClerkUserID),
		Outcome:         p.Outcome,
		Error:           failureText(p.Failure),
		Attempts:        1,
		FirstReceivedAt: receivedAt,
		LastReceivedAt:  receivedAt,
		LastAppliedAt:   appliedTime(p, appliedAt),
	}, Payload: storableText(string(body))}
	_, err := db.NewInsert().
		Model(&row).
		On("CONFLICT (svix_id) DO UPDATE").
		Set("attempts = we.attempts + 1").
		Set("type = EXCLUDED.type").
		Set("clerk_user_id = EXCLUDED.clerk_user_id").
		Set("payload = EXCLUDED.payload").
		Set("outcome = EXCLUDED.outcome").
		Set("error = EXCLUDED.error").
		Set("first_received_at = CASE WHEN EXCLUDED.first_received_at < we.first_received_at" +
			" THEN EXCLUDED.first_received_at ELSE we.first_received_at END").
		Set("last_received_at = CASE WHEN EXCLUDED.last_received_at > we.last_received_at" +
			" THEN EXCLUDED.last_received_at ELSE we.last_received_at END").
		Set("last_applied_at = COALESCE(EXCLUDED.last_applied_at, we.last_applied_at)").
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("record webhook event: %w", err)
	}
	return nil
}

// recordDeliveries records deliveries ds, processed as ps, in tx: on
// PostgreSQL one prepared statement per round (the k-th delivery of each
// svix id in round k, so that a redelivery racing the first counts as a
// second attempt), on SQLite one by one.
func recordDeliveries(ctx context.Context, tx bun.Tx, ds []delivery, ps []processed, appliedAt time.Time) error {
	if tx.Dialect().Name() != dialect.PG {
		for i, d := range ds {
			if err := recordDelivery(ctx, tx, d.svixID, d.body, ps[i], d.receivedAt, appliedAt); err != nil {
				return err
			}
		}
		return nil
	}
	svixIDs := make([]string, len(ds))
	for i, d := range ds {
		svixIDs[i] = d.svixID
	}
	for _, round := range batch.Rounds(svixIDs) {
		var (
			ids, types, payloads, outcomes []string
			userIDs, failures              []*string
			received                       []time.Time
			applied                        []*time.Time
		)
		for _, i := range round {
			p := ps[i]
			ids = append(ids, ds[i].svixID)
			types = append(types, p.Type)
			userIDs = append(userIDs, nullable(p.ClerkUserID))
			payloads = append(payloads, storableText(string(ds[i].body)))
			outcomes = append(outcomes, string(p.Outcome))
			failures = append(failures, failureText(p.Failure))
			received = append(received, ds[i].receivedAt)
			applied = append(applied, appliedTime(p, appliedAt))
		}
		_, err := tx.Tx.ExecContext(ctx, recordDeliveriesSQL, pgx.QueryExecModeCacheStatement,
			ids, types, userIDs, payloads, outcomes, failures, received, applied)
		if err != nil {
			return fmt.Errorf("record webhook events: %w", err)
		}
	}
	return nil
}

// recordDeliveriesSQL is recordDelivery's statement for many deliveries,
// one per element of the arrays.
const recordDeliveriesSQL = `INSERT INTO webhook_events AS we (svix_id, type, clerk_user_id, payload, outcome, error,
  attempts, first_received_at, last_received_at, last_applied_at)
SELECT s, t, c, p, o, e, 1, r, r, a
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::timestamptz[])
  AS x(s, t, c, p, o, e, r, a)
ON CONFLICT (svix_id) DO UPDATE SET
  attempts = we.attempts + 1, type = EXCLUDED.type, clerk_user_id = EXCLUDED.clerk_user_id,
  payload = EXCLUDED.payload, outcome = EXCLUDED.outcome, error = EXCLUDED.error,
  first_received_at = CASE WHEN EXCLUDED.first_received_at < we.first_received_at
    THEN EXCLUDED.first_received_at ELSE we.first_received_at END,
  last_received_at = CASE WHEN EXCLUDED.last_received_at > we.last_received_at
    THEN EXCLUDED.last_received_at ELSE we.last_received_at END,
  last_applied_at = COALESCE(EXCLUDED.last_applied_at, we.last_applied_at)`

// recordReplay stores the result of a replay. It leaves attempts and the
// received times alone: a replay is not a delivery.
func recordReplay(ctx context.Context, db bun.IDB, svixID string, p processed, appliedAt time.Time) error {
	_, err := db.NewUpdate().
		Model((*eventRow)(nil)).
		Set("type = ?", p.Type).
		Set("clerk_user_id = ?", nullable(p.ClerkUserID)).
		Set("outcome = ?", p.Outcome).
		Set("error = ?", failureText(p.Failure)).
		Set("last_applied_at = COALESCE(?, we.last_applied_at)", appliedTime(p, appliedAt)).
		Where("we.svix_id = ?", svixID).
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("record webhook replay: %w", err)
	}
	return nil
}

// appliedTime is nil for a failed event: nothing reached the users service.
func appliedTime(p processed, at time.Time) *time.Time {
	if p.Outcome == OutcomeFailed {
		return nil
	}
	return &at
}

func failureText(err error) *string {
	if err == nil {
		return nil
	}
	s := storableText(err.Error())
	return &s
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// storableText makes s fit a TEXT column: PostgreSQL refuses invalid UTF-8
// and NUL, and a refused insert would make Svix retry a signed body forever.
// Every body Clerk sends is valid UTF-8 and is kept byte for byte; in any
// other, bad bytes become U+FFFD, which is how encoding/json reads them anyway.
func storableText(s string) string {
	if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// payloadJSON returns the stored body as JSON: itself when it is JSON, else
// as a JSON string, so that an undecodable body can still be shown.
func payloadJSON(payload string) json.RawMessage {
	if json.Valid([]byte(payload)) {
		return json.RawMessage(payload)
	}
	b, _ := json.Marshal(payload) // a string always marshals
	return b
}
