package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Load is one bounded load phase: Conns workers, each on a keep-alive
// connection of its own (Conn), send requests back to back (closed loop)
// for Warmup, then for Duration while latencies are recorded. It stops at
// the end of the time or after MaxRequests requests, whichever comes first.
type Load struct {
	Addr        string // host:port, loopback only
	Conns       int
	Warmup      time.Duration
	Duration    time.Duration
	MaxRequests int64
	// Want is the expected status; any other, or a transport error, is an error.
	Want int
	// Request appends the seq-th request (from 0) of worker (0 … Conns-1)
	// to dst, a whole HTTP/1.1 request (see [Request]). ErrDone stops the
	// worker: it has no new work left (fresh tokens, points of the past).
	Request func(dst []byte, worker int, seq int64) ([]byte, error)
	// Check, if set, inspects a response body of status Want; an error counts as an error.
	Check func(body []byte) error
}

// ErrDone is what Request returns when a worker has no more requests to
// make; the worker stops, and Result.Done counts it.
var ErrDone = errors.New("bench: no more requests")

// Result is what a Load measured after its warm-up.
type Result struct {
	Conns      int
	Requests   int64 // completed in the measured window
	Errors     int64
	Elapsed    time.Duration // the measured window
	RPS        float64
	P50, P90   time.Duration
	P99, Max   time.Duration
	FirstError string
	// Succeeded counts the requests answered as wanted, warm-up included:
	// what the phase did to the database.
	Succeeded int64
	Done      int // workers that stopped on ErrDone
}

// maxTotal bounds any phase, whatever the caller asks.
const maxTotal = 10 * time.Minute

// Run runs the phase.
func (l Load) Run(ctx context.Context) (Result, error) {
	if l.Conns < 1 || l.Duration <= 0 || l.MaxRequests < 1 || l.Request == nil {
		return Result{}, errors.New("bench: a load needs Conns, Duration, MaxRequests and Request")
	}
	if l.Warmup+l.Duration > maxTotal {
		return Result{}, fmt.Errorf("bench: a load may last at most %s", maxTotal)
	}
	conns := make([]*Conn, l.Conns)
	for i := range conns {
		c, err := Dial(l.Addr)
		if err != nil {
			return Result{}, err
		}
		defer c.Close()
		conns[i] = c
	}

	start := time.Now()
	measureFrom := start.Add(l.Warmup)
	deadline := measureFrom.Add(l.Duration)
	hardStop := deadline.Add(30 * time.Second)

	var (
		issued atomic.Int64
		done   atomic.Int64
		mu     sync.Mutex
		res    = Result{Conns: l.Conns}
		lats   []time.Duration
		lastAt time.Time
		wg     sync.WaitGroup
	)
	for w := 0; w < l.Conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			local := make([]time.Duration, 0, 4096)
			var (
				errs     int64
				ok       int64
				firstErr string
				last     time.Time
				buf      []byte
			)
			for seq := int64(0); ; seq++ {
				t0 := time.Now()
				if !t0.Before(deadline) || issued.Add(1) > l.MaxRequests || ctx.Err() != nil {
					break
				}
				var err error
				if buf, err = l.Request(buf[:0], w, seq); errors.Is(err, ErrDone) {
					issued.Add(-1)
					done.Add(1)
					break
				}
				if err == nil {
					err = l.do(conns[w], buf, hardStop)
				}
				t1 := time.Now()
				if err == nil {
					ok++
				}
				if t0.Before(measureFrom) {
					continue
				}
				local = append(local, t1.Sub(t0))
				last = t1
				if err != nil {
					errs++
					if firstErr == "" {
						firstErr = err.Error()
					}
				}
			}
			mu.Lock()
			defer mu.Unlock()
			lats = append(lats, local...)
			res.Errors += errs
			res.Succeeded += ok
			if res.FirstError == "" {
				res.FirstError = firstErr
			}
			if last.After(lastAt) {
				lastAt = last
			}
		}(w)
	}
	wg.Wait()

	res.Requests = int64(len(lats))
	res.Done = int(done.Load())
	end := deadline
	if lastAt.Before(end) && (issued.Load() > l.MaxRequests || res.Done == l.Conns) {
		end = lastAt // stopped by the request cap, or out of work
	}
	res.Elapsed = end.Sub(measureFrom)
	if res.Elapsed > 0 {
		res.RPS = float64(res.Requests) / res.Elapsed.Seconds()
	}
	slices.Sort(lats)
	res.P50, res.P90, res.P99 = Percentile(lats, 50), Percentile(lats, 90), Percentile(lats, 99)
	if len(lats) > 0 {
		res.Max = lats[len(lats)-1]
	}
	return res, nil
}

func (l Load) do(c *Conn, req []byte, deadline time.Time) error {
	status, body, err := c.Do(req, deadline)
	if err != nil {
		if rerr := c.redial(); rerr != nil {
			return fmt.Errorf("%v; redial: %v", err, rerr)
		}
		return err
	}
	if status != l.Want {
		return fmt.Errorf("status %d: %.200s", status, body)
	}
	if l.Check != nil {
		return l.Check(body)
	}
	return nil
}

// Percentile is the p-th percentile (nearest rank) of sorted.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// Ms formats d in milliseconds.
func Ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d.Microseconds())/1000) }
