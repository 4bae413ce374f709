package live

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/usersync/usersync/txn"
)

// ChannelFor is the NOTIFY channel of the replicas that share schema:
// deployments in other schemas of the same database never hear each other.
func ChannelFor(schema string) string { return "usersync_live." + schema }

// maxChangesPerNotify keeps a notification well under PostgreSQL's
// 8000-byte payload limit (a change encodes to at most ~110 bytes).
const maxChangesPerNotify = 60

// Feed publishes committed changes: to this process's Hub and, when
// Channel is set (PostgreSQL), to the other replicas.
type Feed struct {
	Hub *Hub
	// Channel, when set (PostgreSQL), is where the changes are sent with
	// NOTIFY in the writing transaction, for the other replicas.
	Channel string
	// Origin names this process in its notifications, so that its own
	// Listener skips what this process has delivered already.
	Origin string
}

// Publish makes changes known once the transaction of ctx (a txn.Run)
// commits, and never if it rolls back. A nil Feed publishes nothing.
func (f *Feed) Publish(ctx context.Context, changes ...Change) error {
	if f == nil || len(changes) == 0 {
		return nil
	}
	if f.Channel != "" {
		err := txn.BeforeCommit(ctx, func(ctx context.Context, tx bun.Tx) error {
			return notify(ctx, tx, f.Channel, f.Origin, changes)
		})
		if err != nil {
			return err
		}
	}
	return txn.AfterCommit(ctx, func() {
		now := time.Now()
		for i := range changes {
			changes[i].CommittedAt = now
		}
		f.Hub.Deliver(changes)
	})
}

// payload is a notification: the origin and the changes, each
// [kind, user, device, from, to, committed at in Unix ms].
type payload struct {
	Origin  string     `json:"o"`
	Changes [][6]int64 `json:"c"`
}

// notify sends changes in as few notifications as fit.
func notify(ctx context.Context, tx bun.IDB, channel, origin string, changes []Change) error {
	now := time.Now().UnixMilli()
	for start := 0; start < len(changes); start += maxChangesPerNotify {
		p := payload{Origin: origin}
		for _, c := range changes[start:min(start+maxChangesPerNotify, len(changes))] {
			p.Changes = append(p.Changes, [6]int64{int64(c.Kind), c.UserID, c.DeviceID, c.From, c.To, now})
		}
		b, _ := json.Marshal(p) // ints and a string: cannot fail
		if _, err := tx.ExecContext(ctx, "SELECT pg_notify(?, ?)", channel, string(b)); err != nil {
			return fmt.Errorf("notify live changes: %w", err)
		}
	}
	return nil
}

// decode reads a notification; ok is false for one of origin's own and
// for one that is not a feed payload.
func decode(raw, origin string) (changes []Change, ok bool) {
	var p payload
	if json.Unmarshal([]byte(raw), &p) != nil || p.Origin == origin {
		return nil, false
	}
	for _, c := range p.Changes {
		k := Kind(c[0])
		if k < Location || k > UserDeleted {
			continue
		}
		changes = append(changes, Change{Kind: k, UserID: c[1], DeviceID: c[2], From: c[3], To: c[4], CommittedAt: time.UnixMilli(c[5])})
	}
	return changes, true
}
