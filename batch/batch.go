// Package batch commits concurrent writes in groups. A write that arrives
// while earlier ones are committing waits for the next group, which takes
// every write waiting at that moment: one statement and one commit for all
// of them. There is no timer: a write that finds a committer free goes at
// once, alone, so grouping costs no latency when there is no contention.
//
// A group that fails is retried write by write, so that one bad write never
// fails the others. A caller that gives up while its write still waits
// takes it back (it is never applied); once its write is in a group that
// commits, the caller gets that group's outcome, whatever its context
// says: a write is either committed and reported or not applied, never
// applied and reported as failed.
package batch

import (
	"context"
	"sync"
	"time"
)

// Apply commits a group of writes (in their arrival order) and returns
// one result per write: out[i] and errs[i] belong to in[i]. errs[i] is a
// failure of that write alone (a rule it breaks), not of the group, and
// did not stop the others. A non-nil err means the group as a whole did
// not commit.
type Apply[In, Out any] func(ctx context.Context, in []In) (out []Out, errs []error, err error)

// Committer gathers calls of Do into groups and commits each with apply.
type Committer[In, Out any] struct {
	apply   Apply[In, Out]
	max     int           // the largest group
	workers int           // groups committing at once
	timeout time.Duration // bounds one group, which no caller's context does

	mu    sync.Mutex
	queue []*call[In, Out]
	busy  int // workers running
}

type call[In, Out any] struct {
	in    In
	out   Out
	err   error
	taken bool // in a group: the caller must wait for its outcome
	done  chan struct{}
}

// New returns a Committer that commits up to workers groups at once, each
// of at most groupMax writes, each bounded by timeout.
func New[In, Out any](apply Apply[In, Out], workers, groupMax int, timeout time.Duration) *Committer[In, Out] {
	return &Committer[In, Out]{apply: apply, workers: max(workers, 1), max: max(groupMax, 1), timeout: timeout}
}

// Do commits in with whatever else is waiting and returns its result.
func (c *Committer[In, Out]) Do(ctx context.Context, in In) (Out, error) {
	cl := &call[In, Out]{in: in, done: make(chan struct{})}
	c.mu.Lock()
	c.queue = append(c.queue, cl)
	if c.busy < c.workers {
		c.busy++
		go c.work()
	}
	c.mu.Unlock()

	select {
	case <-cl.done:
		return cl.out, cl.err
	case <-ctx.Done():
	}
	c.mu.Lock()
	if !cl.taken {
		for i, q := range c.queue {
			if q == cl {
				c.queue = append(c.queue[:i:i], c.queue[i+1:]...)
				break
			}
		}
		c.mu.Unlock()
		var zero Out
		return zero, ctx.Err() // never applied
	}
	c.mu.Unlock()
	<-cl.done // in a group already: its outcome is what happened
	return cl.out, cl.err
}

// Load is the number of writes waiting for a group and of workers
// committing groups (or about to take one).
func (c *Committer[In, Out]) Load() (waiting, busy int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue), c.busy
}

// Workers is how many groups c commits at once at the most.
func (c *Committer[In, Out]) Workers() int { return c.workers }

// work commits groups until none is waiting.
func (c *Committer[In, Out]) work() {
	for {
		c.mu.Lock()
		if len(c.queue) == 0 {
			c.busy--
			c.mu.Unlock()
			return
		}
		n := min(len(c.queue), c.max)
		group := make([]*call[In, Out], n)
		copy(group, c.queue)
		c.queue = append(c.queue[:0], c.queue[n:]...)
		for _, cl := range group {
			cl.taken = true
		}
		c.mu.Unlock()
		c.commit(group)
	}
}

func (c *Committer[In, Out]) commit(group []*call[In, Out]) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	ins := make([]In, len(group))
	for i, cl := range group {
		ins[i] = cl.in
	}
	outs, errs, err := c.apply(ctx, ins)
	if err != nil && len(group) > 1 {
		// One by one: the write that failed the group fails alone.
		for _, cl := range group {
			cl.out, cl.err = One(ctx, c.apply, cl.in)
			close(cl.done)
		}
		return
	}
	for i, cl := range group {
		if err != nil {
			cl.err = err
		} else {
			cl.out, cl.err = outs[i], errs[i]
		}
		close(cl.done)
	}
}

// One applies in alone, as a group of its own, and returns its result:
// what a committer does with each write of a group that failed, and what
// a writer does that has no committer (users bound to a caller's
// transaction with WithTx; a service built without a database).
func One[In, Out any](ctx context.Context, apply Apply[In, Out], in In) (Out, error) {
	out, errs, err := apply(ctx, []In{in})
	if err != nil {
		var zero Out
		return zero, err
	}
	return out[0], errs[0]
}

// Rounds splits a group whose writes have keys (in arrival order) so that
// no statement touches a key twice: round k holds the k-th write of each
// key, as indexes into keys, in arrival order. Applied round after round,
// the writes of one key keep their order.
func Rounds[K comparable](keys []K) [][]int {
	var rounds [][]int
	nth := make(map[K]int, len(keys))
	for i, key := range keys {
		k := nth[key]
		nth[key] = k + 1
		if k == len(rounds) {
			rounds = append(rounds, nil)
		}
		rounds[k] = append(rounds[k], i)
	}
	return rounds
}
