// Package live carries what the live location stream needs to know: that a
// device of a user has a new newest fix, was created, renamed or deleted,
// or that the user was deleted. A Change holds ids and a range of times,
// never the data itself, so that it fits a PostgreSQL NOTIFY and means the
// same to every replica; the streams read the data they need once a
// Change (Change.Shared), unless the writer handed it to this process's
// streams with the Change (Change.Points).
//
// Writers publish with Feed.Publish inside txn.Run: the Change reaches this
// process's streams (through the Hub) right after the commit, and, on
// PostgreSQL, every other replica's through a NOTIFY sent in the same
// transaction, which PostgreSQL delivers only if it commits. A Listener on
// each replica turns those notifications back into Changes.
package live

import (
	"sync"
	"time"
)

// Kind is what happened.
type Kind uint8

const (
	// Location: the device's newest fix moved forward, from From to To.
	Location Kind = iota + 1
	// Device: the device was created, renamed, or its last location
	// changed otherwise (history deleted).
	Device
	// DeviceDeleted: the device is gone.
	DeviceDeleted
	// UserDeleted: the user was deleted (a tombstone): streams end.
	UserDeleted
	// Resync: changes may have been missed (the notification connection was
	// lost, or a stream fell behind): streams send a fresh snapshot.
	Resync
)

// Change is one thing that happened to a user's devices.
type Change struct {
	Kind     Kind
	UserID   int64 // users.id of the owner; 0 for Resync
	DeviceID int64 // 0 for UserDeleted and Resync
	// For Location: the fix moved from From (exclusive; 0 when the device
	// had none) to To (inclusive), both recorded_at in Unix ms. The points
	// in between, in recorded_at order, each became the device's newest.
	From, To int64
	// CommittedAt is when the write committed, for the commit-to-send
	// metric; set by Feed (and from the notification on other replicas).
	CommittedAt time.Time
	// Points, when the writer sets it, are a Location change's points as
	// the writer stored them (package tracking's []Location), so that this
	// process's streams need not read them back. Never sent to other
	// replicas: theirs read the points once a change (see Shared).
	Points any

	memo *memo // shared by the streams a Hub delivers the change to
}

type memo struct {
	once sync.Once
	v    any
	err  error
}

// Shared returns what fn computes for c, computed once for all the
// streams the Hub delivered c to: the first to ask runs fn, the others
// wait for it and get the same value. Outside a Hub it just runs fn.
func (c Change) Shared(fn func() (any, error)) (any, error) {
	if c.memo == nil {
		return fn()
	}
	c.memo.once.Do(func() { c.memo.v, c.memo.err = fn() })
	return c.memo.v, c.memo.err
}
