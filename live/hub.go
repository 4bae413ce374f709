package live

import (
	"errors"
	"sync"
	"sync/atomic"
)

// Errors of Hub.Subscribe.
var (
	ErrTooManyForUser = errors.New("live: too many streams for this user")
	ErrTooMany        = errors.New("live: too many streams in this process")
	ErrClosed         = errors.New("live: shutting down")
)

// subBuffer is how many changes a stream may have waiting; past it the
// stream is marked to resynchronize instead of blocking the writer.
const subBuffer = 32

// Hub fans changes out to the streams of this process, by user. It never
// blocks a writer: a stream that falls behind is told to resynchronize.
type Hub struct {
	maxPerUser, max int

	mu     sync.Mutex
	users  map[int64]map[*Sub]struct{}
	total  int
	closed bool
	done   chan struct{} // closed by Close
}

// NewHub caps streams at maxPerUser per user and max in all.
func NewHub(maxPerUser, max int) *Hub {
	return &Hub{maxPerUser: maxPerUser, max: max, users: map[int64]map[*Sub]struct{}{}, done: make(chan struct{})}
}

// Sub is one stream's subscription.
type Sub struct {
	userID int64
	// C delivers the user's changes in commit order.
	C chan Change
	// lagged is set when a change could not be queued: the stream must
	// resynchronize, as it may have missed one.
	lagged atomic.Bool
}

// Lagged reports, and clears, whether the stream fell behind.
func (s *Sub) Lagged() bool { return s.lagged.Swap(false) }

// Subscribe opens a subscription to userID's changes.
func (h *Hub) Subscribe(userID int64) (*Sub, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.closed:
		return nil, ErrClosed
	case len(h.users[userID]) >= h.maxPerUser:
		return nil, ErrTooManyForUser
	case h.total >= h.max:
		return nil, ErrTooMany
	}
	s := &Sub{userID: userID, C: make(chan Change, subBuffer)}
	if h.users[userID] == nil {
		h.users[userID] = map[*Sub]struct{}{}
	}
	h.users[userID][s] = struct{}{}
	h.total++
	return s, nil
}

// Unsubscribe closes s; calling it again does nothing.
func (h *Hub) Unsubscribe(s *Sub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.users[s.userID][s]; !ok {
		return
	}
	delete(h.users[s.userID], s)
	if len(h.users[s.userID]) == 0 {
		delete(h.users, s.userID)
	}
	h.total--
}

// Deliver hands each change to the streams of its user, in order; Resync
// goes to every stream.
func (h *Hub) Deliver(changes []Change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range changes {
		if c.Kind == Resync { // streams take a snapshot: nothing to share
			for _, subs := range h.users {
				for s := range subs {
					send(s, c)
				}
			}
			continue
		}
		subs := h.users[c.UserID]
		if len(subs) == 0 {
			continue // the common case of a write: no stream of its user here
		}
		c.memo = &memo{}
		for s := range subs {
			send(s, c)
		}
	}
}

func send(s *Sub, c Change) {
	select {
	case s.C <- c:
	default:
		s.lagged.Store(true)
	}
}

// Done is closed when the hub shuts down: every stream must end.
func (h *Hub) Done() <-chan struct{} { return h.done }

// Close ends every stream (on SIGTERM, so that draining does not wait for
// them) and refuses new ones.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.done)
	}
}
