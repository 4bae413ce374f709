package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/usersync/usersync/clerk"
	"github.com/usersync/usersync/errs"
	"github.com/usersync/usersync/live"
	"github.com/usersync/usersync/tracking"
)

// liveReader is the tracking service as the live stream needs it.
type liveReader interface {
	ListDevices(ctx context.Context, ownerID int64) ([]tracking.Device, error)
	GetDevice(ctx context.Context, ownerID, id int64) (tracking.Device, error)
	FixesBetween(ctx context.Context, deviceID, fromMs, toMs int64) ([]tracking.Location, error)
}

// Live is what the live stream route is built from. A nil Hub leaves the
// route out.
type Live struct {
	Hub *live.Hub
	// Heartbeat is the interval of the comment lines that keep proxies and
	// clients from timing an idle stream out (STREAM_HEARTBEAT).
	Heartbeat time.Duration
}

// DefaultHeartbeat is STREAM_HEARTBEAT's default.
const DefaultHeartbeat = 15 * time.Second

// handleLiveStream serves GET /api/locations/stream: Server-Sent Events
// of the signed-in user's devices (all of them, or those named by
// device_id). It sends a snapshot of each followed device's latest fix,
// then a location event for every point that becomes a device's newest
// fix, device and device_deleted events, and a heartbeat comment; it ends
// with a reauthenticate event when the session token expires or the user
// is deleted, and at once on shutdown.
func handleLiveStream(logger *slog.Logger, us userGetter, lr liveReader, cfg Live, metrics *Metrics) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		followed, err := parseDeviceIDs(r)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		owner, ok, err := sessionOwner(ctx, us)
		if err == nil && !ok {
			err = errNotSynced
		}
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		for id := range followed {
			if _, err := lr.GetDevice(ctx, owner, id); err != nil {
				writeError(w, r, logger, err)
				return
			}
		}
		sub, err := cfg.Hub.Subscribe(owner)
		switch {
		case errors.Is(err, live.ErrTooManyForUser):
			err = errs.New(errs.TooManyRequests, "too many open streams for this user")
			w.Header().Set("Retry-After", "10")
		case errors.Is(err, live.ErrTooMany), errors.Is(err, live.ErrClosed):
			err = errs.New(errs.Unavailable, "too many open streams, try again later")
			w.Header().Set("Retry-After", "10")
		}
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		defer cfg.Hub.Unsubscribe(sub)
		metrics.streamOpened()
		defer metrics.streamClosed()

		s := &liveStream{
			w: w, rc: http.NewResponseController(w), ctx: ctx, owner: owner,
			all: len(followed) == 0, followed: followed, lr: lr, metrics: metrics,
		}
		// A stream outlives the server's write timeout, by design.
		_ = s.rc.SetWriteDeadline(time.Time{})
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
		w.WriteHeader(http.StatusOK)     // net/http buffers what follows until flush

		err = s.run(sub, cfg, sessionFrom(ctx))
		if err != nil && ctx.Err() == nil {
			logger.WarnContext(ctx, "live stream ended", "request_id", requestID(ctx), "err", err)
		}
	})
}

// parseDeviceIDs reads the repeatable device_id parameter. An id that is
// not canonical decimal names no device of the user: the usual 404.
func parseDeviceIDs(r *http.Request) (map[int64]bool, error) {
	ids := map[int64]bool{}
	for _, v := range r.URL.Query()["device_id"] {
		id, ok := canonicalID(v)
		if !ok {
			return nil, tracking.ErrDeviceNotFound
		}
		ids[id] = true
	}
	return ids, nil
}

// liveStream is one open stream.
type liveStream struct {
	w        http.ResponseWriter
	rc       *http.ResponseController
	ctx      context.Context
	owner    int64
	all      bool           // following every device of the user
	followed map[int64]bool // the devices followed (all: those known to the stream)
	// shown is, by device, the recorded_at (Unix ms) of the newest fix the
	// stream has shown: a change that committed before the snapshot read
	// it, but arrives after, brings nothing new and is not sent again.
	shown   map[int64]int64
	lr      liveReader
	metrics *Metrics
}

func (s *liveStream) run(sub *live.Sub, cfg Live, session clerk.Session) error {
	heartbeat := cfg.Heartbeat
	if heartbeat <= 0 {
		heartbeat = DefaultHeartbeat
	}
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	var expired <-chan time.Time
	if !session.ExpiresAt.IsZero() {
		t := time.NewTimer(time.Until(session.ExpiresAt.Add(clerk.Leeway)))
		defer t.Stop()
		expired = t.C
	}

	if err := s.snapshot(false); err != nil {
		return err
	}
	for {
		select {
		case <-s.ctx.Done():
			return nil
		case <-cfg.Hub.Done():
			return nil // shutting down: the client reconnects elsewhere
		case <-expired:
			return s.end("token_expired")
		case <-tick.C:
			if _, err := io.WriteString(s.w, ": heartbeat\n\n"); err != nil {
				return err
			}
			if err := s.flush(); err != nil {
				return err
			}
		case c := <-sub.C:
			if c.Kind == live.UserDeleted {
				return s.end("user_deleted")
			}
			if err := s.apply(c); err != nil {
				return err
			}
		}
		if sub.Lagged() { // a change may have been dropped: start afresh
			if err := s.snapshot(true); err != nil {
				return err
			}
		}
	}
}

// snapshot sends a location event with the current latest fix of every
// followed device. In a resync, an all-devices stream first learns of the
// devices created and deleted meanwhile.
func (s *liveStream) snapshot(resync bool) error {
	var devices []tracking.Device
	if s.all {
		list, err := s.lr.ListDevices(s.ctx, s.owner)
		if err != nil {
			return err
		}
		present := map[int64]bool{}
		for _, d := range list {
			present[d.ID] = true
			if resync && !s.followed[d.ID] {
				if err := s.event("device", "", toDeviceJSON(d), time.Time{}); err != nil {
					return err
				}
			}
		}
		for id := range s.followed {
			if !present[id] {
				if err := s.deviceDeleted(id, time.Time{}); err != nil {
					return err
				}
			}
		}
		s.followed = present
		devices = list
	} else {
		for id := range s.followed {
			d, err := s.lr.GetDevice(s.ctx, s.owner, id)
			if errors.Is(err, tracking.ErrDeviceNotFound) {
				if err := s.deviceDeleted(id, time.Time{}); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return err
			}
			devices = append(devices, d)
		}
	}
	s.shown = map[int64]int64{}
	for _, d := range devices {
		if d.LastLocation != nil {
			if err := s.location(d.ID, *d.LastLocation, time.Time{}); err != nil {
				return err
			}
		}
	}
	return s.flush()
}

// apply sends what a change means to this stream.
func (s *liveStream) apply(c live.Change) error {
	if c.Kind == live.Resync {
		return s.snapshot(true)
	}
	if !s.all && !s.followed[c.DeviceID] {
		return nil
	}
	switch c.Kind {
	case live.Location:
		// Every stream of the user gets this change: the points are read
		// (unless the writer handed them over) and encoded once for all.
		v, err := c.Shared(func() (any, error) {
			fixes, ok := c.Points.([]tracking.Location)
			if !ok {
				var err error
				if fixes, err = s.lr.FixesBetween(context.WithoutCancel(s.ctx), c.DeviceID, c.From, c.To); err != nil {
					return nil, err
				}
			}
			return encodeLocations(c.DeviceID, fixes)
		})
		if err != nil {
			return err
		}
		s.followed[c.DeviceID] = true
		for _, ev := range v.([]encodedEvent) {
			if ev.recordedAt <= s.shown[c.DeviceID] {
				continue // shown already (by the snapshot)
			}
			if _, err := s.w.Write(ev.text); err != nil {
				return err
			}
			s.shown[c.DeviceID] = ev.recordedAt
			s.metrics.streamEvent("location", c.CommittedAt)
		}
	case live.Device:
		d, err := c.Shared(func() (any, error) {
			return s.lr.GetDevice(context.WithoutCancel(s.ctx), s.owner, c.DeviceID)
		})
		if errors.Is(err, tracking.ErrDeviceNotFound) {
			return nil // deleted since: its device_deleted follows
		}
		if err != nil {
			return err
		}
		s.followed[c.DeviceID] = true
		dev := d.(tracking.Device)
		s.shown[c.DeviceID] = 0 // its fix may have moved back (history deleted)
		if dev.LastLocation != nil {
			s.shown[c.DeviceID] = dev.LastLocation.RecordedAt.UnixMilli()
		}
		if err := s.event("device", "", toDeviceJSON(dev), c.CommittedAt); err != nil {
			return err
		}
	case live.DeviceDeleted:
		if err := s.deviceDeleted(c.DeviceID, c.CommittedAt); err != nil {
			return err
		}
	}
	return s.flush()
}

// encodedEvent is the location event of a fix, as sent.
type encodedEvent struct {
	recordedAt int64 // Unix ms
	text       []byte
}

// encodeLocations is the location event of each of fixes.
func encodeLocations(deviceID int64, fixes []tracking.Location) ([]encodedEvent, error) {
	out := make([]encodedEvent, len(fixes))
	for i := range fixes {
		b, err := appendEvent(nil, "location", locationEventID(deviceID, fixes[i]), locationEvent(deviceID, &fixes[i]))
		if err != nil {
			return nil, err
		}
		out[i] = encodedEvent{fixes[i].RecordedAt.UnixMilli(), b}
	}
	return out, nil
}

func locationEventID(deviceID int64, l tracking.Location) string {
	return strconv.FormatInt(deviceID, 10) + ":" + strconv.FormatInt(l.RecordedAt.UnixMilli(), 10)
}

// locationEvent is the data of a location event.
func locationEvent(deviceID int64, l *tracking.Location) any {
	return struct {
		DeviceID int64         `json:"device_id"`
		Location *locationJSON `json:"location"`
	}{deviceID, toLocationJSON(l)}
}

// appendEvent appends one Server-Sent Event to b.
func appendEvent(b []byte, name, id string, data any) ([]byte, error) {
	j, err := json.Marshal(data)
	if err != nil {
		return nil, err
	}
	if id != "" {
		b = append(append(append(b, "id: "...), id...), '\n')
	}
	b = append(append(append(b, "event: "...), name...), "\ndata: "...)
	return append(append(b, j...), "\n\n"...), nil
}

func (s *liveStream) location(deviceID int64, l tracking.Location, committed time.Time) error {
	s.shown[deviceID] = l.RecordedAt.UnixMilli()
	return s.event("location", locationEventID(deviceID, l), locationEvent(deviceID, &l), committed)
}

func (s *liveStream) deviceDeleted(id int64, committed time.Time) error {
	if !s.all && !s.followed[id] {
		return nil
	}
	delete(s.followed, id)
	delete(s.shown, id)
	return s.event("device_deleted", "", struct {
		DeviceID int64 `json:"device_id"`
	}{id}, committed)
}

// end sends the final reauthenticate event: the client reconnects with a
// fresh token (and learns then if the user is gone).
func (s *liveStream) end(reason string) error {
	if err := s.event("reauthenticate", "", struct {
		Reason string `json:"reason"`
	}{reason}, time.Time{}); err != nil {
		return err
	}
	return s.flush()
}

// event writes one event; committed, when set, is the commit it reports.
func (s *liveStream) event(name, id string, data any, committed time.Time) error {
	b, err := appendEvent(nil, name, id, data)
	if err != nil {
		return err
	}
	if _, err := s.w.Write(b); err != nil {
		return err
	}
	s.metrics.streamEvent(name, committed)
	return nil
}

func (s *liveStream) flush() error { return s.rc.Flush() }
