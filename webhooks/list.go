package webhooks

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/uptrace/bun"

	"github.com/usersync/usersync/errs"
)

// Page sizes of List.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// Filter selects stored events. Zero fields do not filter.
type Filter struct {
	Outcome string // one of the Outcome values
	Type    string // exact event type, e.g. "user.updated"
	Since   time.Time
	Until   time.Time // Since inclusive, Until exclusive, both on first_received_at
	Limit   int       // page size for List: 0 means DefaultLimit, more than MaxLimit means MaxLimit
	Cursor  string    // List's nextCursor from the previous page
}

func (f Filter) check() error {
	if f.Outcome != "" && !Outcome(f.Outcome).Valid() {
		return errs.New(errs.Invalid, "outcome must be one of applied, unchanged, stale, ignored, failed")
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return errs.New(errs.Invalid, "until must be after since")
	}
	if f.Limit < 0 {
		return errs.New(errs.Invalid, "limit must not be negative")
	}
	return nil
}

func (f Filter) limit() int {
	switch {
	case f.Limit == 0:
		return DefaultLimit
	case f.Limit > MaxLimit:
		return MaxLimit
	}
	return f.Limit
}

// where adds the outcome, type and time conditions to q.
func (f Filter) where(q *bun.SelectQuery) *bun.SelectQuery {
	if f.Outcome != "" {
		q = q.Where("we.outcome = ?", f.Outcome)
	}
	if f.Type != "" {
		q = q.Where("we.type = ?", f.Type)
	}
	if !f.Since.IsZero() {
		q = q.Where("we.first_received_at >= ?", ceilMicro(f.Since))
	}
	if !f.Until.IsZero() {
		q = q.Where("we.first_received_at < ?", ceilMicro(f.Until))
	}
	return q
}

// ceilMicro rounds t up to the microsecond, the precision of stored times:
// comparing stored times with it gives the same answer as with t itself.
func ceilMicro(t time.Time) time.Time {
	c := toDBTime(t)
	if c.Before(t) {
		c = c.Add(time.Microsecond)
	}
	return c
}

// List returns the events matching f, newest first by first_received_at,
// without their payloads. nextCursor is "" on the last page; otherwise pass
// it as f.Cursor, with the same filters, for the next page. A malformed
// cursor or an unknown outcome gives an error of kind errs.Invalid.
func (s *Service) List(ctx context.Context, f Filter) (events []StoredEvent, nextCursor string, err error) {
	if err := f.check(); err != nil {
		return nil, "", err
	}
	limit := f.limit()
	var rows []eventRow
	q := f.where(s.db.NewSelect().Model(&rows).ExcludeColumn("payload"))
	if f.Cursor != "" {
		after, err := decodeCursor(f.Cursor)
		if err != nil {
			return nil, "", err
		}
		q = q.Where("(we.first_received_at, we.svix_id) < (?, ?)", after.receivedAt, after.svixID)
	}
	// One row more than asked tells whether there is a next page.
	err = q.OrderExpr("we.first_received_at DESC, we.svix_id DESC").Limit(int64(limit + 1)).Scan(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("list webhook events: %w", err)
	}
	if len(rows) > limit {
		rows = rows[:limit]
		last := rows[limit-1]
		nextCursor = encodeCursor(position{receivedAt: toDBTime(last.FirstReceivedAt), svixID: last.SvixID})
	}
	events = make([]StoredEvent, len(rows))
	for i := range rows {
		events[i] = rows[i].stored()
	}
	return events, nextCursor, nil
}

// Get returns the event with its payload, or an error wrapping [ErrNotFound].
func (s *Service) Get(ctx context.Context, svixID string) (StoredEvent, error) {
	var row eventRow
	err := s.db.NewSelect().Model(&row).Where("we.svix_id = ?", svixID).Scan(ctx)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return StoredEvent{}, ErrNotFound
	case err != nil:
		return StoredEvent{}, fmt.Errorf("get webhook event: %w", err)
	}
	ev := row.stored()
	ev.Payload = payloadJSON(row.Payload)
	return ev, nil
}

// position is a place in the (first_received_at, svix_id) order of the log.
type position struct {
	receivedAt time.Time
	svixID     string
}

// cursorVersion leads every cursor so that the format can change later.
const cursorVersion = 1

// maxCursorLen bounds what decodeCursor reads; Svix ids are short.
const maxCursorLen = 1024

// encodeCursor returns p as an opaque URL-safe string: base64url of a
// version byte, the time in Unix microseconds, the svix id and a CRC-32
// that catches truncation and typos (a cursor is not a credential).
func encodeCursor(p position) string {
	b := []byte{cursorVersion}
	b = binary.AppendVarint(b, p.receivedAt.UnixMicro())
	b = append(b, p.svixID...)
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (position, error) {
	bad := errs.New(errs.Invalid, "malformed cursor")
	if len(s) > maxCursorLen {
		return position{}, bad
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) < 1+1+4 || b[0] != cursorVersion {
		return position{}, bad
	}
	body, sum := b[:len(b)-4], b[len(b)-4:]
	if crc32.ChecksumIEEE(body) != binary.BigEndian.Uint32(sum) {
		return position{}, bad
	}
	micros, n := binary.Varint(body[1:])
	if n <= 0 {
		return position{}, bad
	}
	id := string(body[1+n:])
	if checkSvixID(id) != nil {
		return position{}, bad
	}
	return position{receivedAt: time.UnixMicro(micros).UTC(), svixID: id}, nil
}
