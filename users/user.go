// Package users stores Clerk users and owns the one upsert that every
// writer (the app's sync, Clerk webhooks, backfill) goes through.
package users

import (
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// User is a stored Clerk user. Deleted users keep their row as a tombstone
// so that late or replayed writes cannot bring them back.
type User struct {
	bun.BaseModel `bun:"table:users,alias:u"`

	ID          int64      `bun:"id,pk,autoincrement"`
	ClerkUserID string     `bun:"clerk_user_id,notnull"`
	Email       *string    `bun:"email"`
	Name        *string    `bun:"name"`
	Version     int64      `bun:"version,notnull"` // Unix ms of the source information
	DeletedAt   *time.Time `bun:"deleted_at"`
	CreatedAt   time.Time  `bun:"created_at,notnull"`
	UpdatedAt   time.Time  `bun:"updated_at,notnull"`
}

// Deleted tells whether the user is a tombstone.
func (u *User) Deleted() bool { return u.DeletedAt != nil }

// Writer names who wrote; it labels metrics and logs.
type Writer string

const (
	WriterSync     Writer = "sync"
	WriterWebhook  Writer = "webhook"
	WriterBackfill Writer = "backfill"
)

// Outcome is what a write did.
type Outcome string

const (
	Created   Outcome = "created"   // a new row
	Updated   Outcome = "updated"   // email or name changed
	Unchanged Outcome = "unchanged" // same data (the stored version may still advance)
	Stale     Outcome = "stale"     // older than what is stored: nothing changed
	Gone      Outcome = "gone"      // the user is deleted: nothing changed
	Deleted   Outcome = "deleted"   // a tombstone was written
)

// Write is one piece of information about a user, as of Version.
type Write struct {
	ClerkUserID string
	Email       *string
	Name        *string
	// KeepName leaves the stored name alone (a sync body without "name").
	KeepName bool
	// Version is the time the information is from: a webhook's
	// data.updated_at, a backfilled user's updated_at, a token's iat.
	Version time.Time
	Writer  Writer
}

// Result is a write's outcome and the row as it stands after it.
type Result struct {
	User    User
	Outcome Outcome
}

// JoinName is a user's name from Clerk's first and last name, the same for
// every writer: each part trimmed, the non-empty ones joined with one space
// ("Ada " and null give "Ada", never "Ada " or " Ada"); nil when none is left.
func JoinName(parts ...*string) *string {
	var kept []string
	for _, p := range parts {
		if p == nil {
			continue
		}
		if s := strings.TrimSpace(*p); s != "" {
			kept = append(kept, s)
		}
	}
	if len(kept) == 0 {
		return nil
	}
	name := strings.Join(kept, " ")
	return &name
}
