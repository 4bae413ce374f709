package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/usersync/usersync/bench"
)

// streamSpec is one stream a user's app opens: following all of the
// user's devices, or the one device by device_id.
type streamSpec struct {
	u        *user
	byDevice bool
}

func (sp streamSpec) path() string {
	if sp.byDevice {
		return "/api/locations/stream?device_id=" + strconv.FormatInt(sp.u.deviceID, 10)
	}
	return "/api/locations/stream"
}

// follows is the devices whose location events the stream must carry.
func (sp streamSpec) follows() []int64 { return []int64{sp.u.deviceID} }

// receipt is one location event as the client read it.
type receipt struct {
	device     int64
	ms         int64 // recorded_at, Unix ms
	receivedAt int64 // the server's received_at, Unix ms
	at         int64 // when the client had read the event whole, Unix µs
}

// stream is one open stream and what it received.
type stream struct {
	spec streamSpec
	s    *bench.Stream

	mu       sync.Mutex
	got      []receipt
	events   map[string]int // by event name
	bad      []string       // location events that did not parse, or whose id did not match
	err      error          // why reading stopped
	closed   bool           // we closed it
	opened   chan struct{}  // closed at the first location event (the snapshot)
	openOnce sync.Once
	done     chan struct{} // closed when reading stopped
}

// openStreams opens specs, conns at a time, each read by a goroutine of
// its own, and returns once every one has received its snapshot (within
// wait). received counts the location events of all of them.
func openStreams(ctx context.Context, addr string, specs []streamSpec, conns int, received *atomic.Int64, wait time.Duration) ([]*stream, error) {
	streams := make([]*stream, len(specs))
	var (
		mu       sync.Mutex
		firstErr error
	)
	fanOut(ctx, len(specs), conns, func(next <-chan int) {
		for i := range next {
			sp := specs[i]
			s, err := bench.OpenStream(addr, sp.path(), []string{"Authorization: Bearer " + sp.u.session}, 30*time.Second)
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("open stream %d (%s): %w", i, sp.path(), err)
				}
				mu.Unlock()
				continue
			}
			st := &stream{spec: sp, s: s, events: map[string]int{}, opened: make(chan struct{}), done: make(chan struct{})}
			streams[i] = st
			go st.read(received)
		}
	})
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	if firstErr == nil {
		deadline := time.After(wait)
		for i, st := range streams {
			select {
			case <-st.opened:
			case <-st.done:
				firstErr = fmt.Errorf("stream %d ended before its snapshot: %v", i, st.reason())
			case <-deadline:
				firstErr = fmt.Errorf("stream %d: no snapshot within %s", i, wait)
			case <-ctx.Done():
				firstErr = ctx.Err()
			}
			if firstErr != nil {
				break
			}
		}
	}
	if firstErr != nil {
		closeStreams(streams)
		return nil, firstErr
	}
	return streams, nil
}

// read records the stream's events until it ends or is closed.
func (st *stream) read(received *atomic.Int64) {
	defer close(st.done)
	for {
		ev, err := st.s.Next()
		at := time.Now().UnixMicro()
		if err != nil {
			st.mu.Lock()
			st.err = err
			st.mu.Unlock()
			return
		}
		st.mu.Lock()
		st.events[ev.Name]++
		if ev.Name == "location" {
			r, err := parseLocation(ev)
			if err != nil {
				st.bad = append(st.bad, err.Error())
			} else {
				r.at = at
				st.got = append(st.got, r)
				received.Add(1)
				st.openOnce.Do(func() { close(st.opened) })
			}
		}
		st.mu.Unlock()
	}
}

// parseLocation reads a location event: data {"device_id", "location":
// {…, "recorded_at", "received_at"}}, id "<device_id>:<recorded_at ms>".
func parseLocation(ev bench.StreamEvent) (receipt, error) {
	var data struct {
		DeviceID int64 `json:"device_id"`
		Location *struct {
			RecordedAt time.Time `json:"recorded_at"`
			ReceivedAt time.Time `json:"received_at"`
		} `json:"location"`
	}
	if err := json.Unmarshal(ev.Data, &data); err != nil {
		return receipt{}, fmt.Errorf("location data %.200q: %v", ev.Data, err)
	}
	if data.DeviceID == 0 || data.Location == nil || data.Location.RecordedAt.IsZero() || data.Location.ReceivedAt.IsZero() {
		return receipt{}, fmt.Errorf("location data %.200q: no device_id, recorded_at or received_at", ev.Data)
	}
	r := receipt{device: data.DeviceID, ms: data.Location.RecordedAt.UnixMilli(), receivedAt: data.Location.ReceivedAt.UnixMilli()}
	if want := strconv.FormatInt(r.device, 10) + ":" + strconv.FormatInt(r.ms, 10); ev.ID != want {
		return receipt{}, fmt.Errorf("location id %q, want %q", ev.ID, want)
	}
	return r, nil
}

// reason is why the stream stopped (nil while it runs).
func (st *stream) reason() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.err
}

// endedEarly tells whether the server ended the stream (or the connection
// broke) before we closed it.
func (st *stream) endedEarly() bool {
	select {
	case <-st.done:
		st.mu.Lock()
		defer st.mu.Unlock()
		return !st.closed
	default:
		return false
	}
}

// close ends the stream from the client's side.
func (st *stream) close() {
	st.mu.Lock()
	st.closed = true
	st.mu.Unlock()
	st.s.Close()
	<-st.done
}

func closeStreams(streams []*stream) {
	for _, st := range streams {
		if st != nil {
			st.close()
		}
	}
}
