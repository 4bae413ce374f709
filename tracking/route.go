package tracking

import (
	"context"
	"fmt"
	"time"
)

// Bounds of a route query (docs/tracking.md).
const (
	DefaultRouteLimit  = 1000
	MaxRouteLimit      = 10000
	MaxSimplifyM       = 1000
	defaultRouteWindow = 24 * time.Hour
)

// RouteQuery is a request for one page of a device's route. A nil field
// takes its default.
type RouteQuery struct {
	From *time.Time // inclusive; default To − 24h, or the cursor's
	To   *time.Time // exclusive; default now, or the cursor's
	// Limit is the most points of the page, 1–10000; default 1000.
	Limit *int
	// Cursor is a next_cursor of an earlier page, "" for the first page.
	Cursor string
	// SimplifyM is a Douglas–Peucker tolerance in meters, 0 < s ≤ 1000;
	// nil keeps every point.
	SimplifyM *float64
}

// RoutePlan is a checked RouteQuery with its defaults resolved. Only
// PlanRoute makes one.
type RoutePlan struct {
	DeviceID  int64
	From, To  time.Time
	Limit     int
	SimplifyM float64 // 0: no simplification
	afterMs   *int64  // from the cursor: the page starts strictly after it
}

// PlanRoute checks q for the device deviceID and resolves its defaults,
// without reading anything: an *errs.FieldError naming the parameter for a bad
// one. A cursor must come from a page of this device and this range; when
// q leaves from or to out, the cursor's are used, so that a client can
// follow next_cursor without repeating them.
func (s *Service) PlanRoute(deviceID int64, q RouteQuery) (RoutePlan, error) {
	p := RoutePlan{DeviceID: deviceID, Limit: DefaultRouteLimit}
	var from, to time.Time
	if q.From != nil {
		from = *q.From
	}
	if q.To != nil {
		to = *q.To
	}
	if q.Cursor != "" {
		c, err := DecodeRouteCursor(q.Cursor)
		if err != nil {
			return RoutePlan{}, err
		}
		if c.DeviceID != deviceID {
			return RoutePlan{}, invalid("cursor", "belongs to another device")
		}
		if q.From == nil {
			from = c.From
		} else if !from.Equal(c.From) {
			return RoutePlan{}, invalid("cursor", "belongs to another range (from differs)")
		}
		if q.To == nil {
			to = c.To
		} else if !to.Equal(c.To) {
			return RoutePlan{}, invalid("cursor", "belongs to another range (to differs)")
		}
		after := c.After.UnixMilli()
		p.afterMs = &after
	}
	if q.To == nil && q.Cursor == "" {
		to = s.now()
	}
	if q.From == nil && q.Cursor == "" {
		from = to.Add(-min(defaultRouteWindow, s.cfg.MaxRouteSpan))
	}
	p.From, p.To = from.UTC(), to.UTC()
	if !p.From.Before(p.To) {
		return RoutePlan{}, invalid("from", "must be before to")
	}
	if p.To.Sub(p.From) > s.cfg.MaxRouteSpan {
		return RoutePlan{}, invalid("from", "must be at most %s before to", humanDuration(s.cfg.MaxRouteSpan))
	}
	if q.Limit != nil {
		if *q.Limit < 1 || *q.Limit > MaxRouteLimit {
			return RoutePlan{}, invalid("limit", "must be between 1 and %d", MaxRouteLimit)
		}
		p.Limit = *q.Limit
	}
	if q.SimplifyM != nil {
		if v := *q.SimplifyM; !(v > 0 && v <= MaxSimplifyM) { // NaN fails too
			return RoutePlan{}, invalid("simplify", "must be greater than 0 and at most %d", MaxSimplifyM)
		}
		p.SimplifyM = *q.SimplifyM
	}
	return p, nil
}

// RoutePage is what Route tells after the points of a page.
type RoutePage struct {
	Count      int  // points emitted
	RawCount   int  // points read, before simplification
	Simplified bool // the page was simplified (Count may still equal RawCount); false when simplification was asked for but cut off by its work budget
	NextCursor string
}

// Route passes the points of the page p of ownerID's device to emit, in
// ascending recorded_at, as they are read (all at once after reading when
// the page is simplified: Douglas–Peucker needs the whole page). It returns
// ErrDeviceNotFound, before any emit, when the device is absent or another
// user's. An error of emit ends the page and is returned.
//
// A page holds at most p.Limit points; NextCursor continues after the last
// one and is "" when the range holds no more. Paging so returns every point
// of the range exactly once. Simplification applies to each page alone.
func (s *Service) Route(ctx context.Context, ownerID int64, p RoutePlan, emit func(Location) error) (RoutePage, error) {
	exists, err := s.db.NewSelect().Model((*deviceRow)(nil)).
		Where("id = ? AND user_id = ?", p.DeviceID, ownerID).
		Exists(ctx)
	switch {
	case err != nil:
		return RoutePage{}, fmt.Errorf("find device: %w", err)
	case !exists:
		return RoutePage{}, fmt.Errorf("device %d: %w", p.DeviceID, ErrDeviceNotFound)
	}

	q := s.spanQuery(Span{DeviceID: p.DeviceID, From: p.From, To: p.To}, pointColumns(false)...).
		Limit(int64(p.Limit) + 1) // one more tells whether a next page exists
	if p.afterMs != nil {
		q = q.Where("recorded_at > ?", *p.afterMs)
	}
	var (
		page    RoutePage
		lastMs  int64
		more    bool
		pending []Location // the page, when it is to be simplified
		scan    = newPointScan(false)
	)
	err = scanEach(ctx, q, "read route", scan.dest, func() error {
		if page.RawCount == p.Limit {
			more = true // the one row past the page
			return nil
		}
		l := scan.location()
		page.RawCount++
		lastMs = scan.recorded
		if p.SimplifyM > 0 {
			pending = append(pending, l)
			return nil
		}
		return emit(l)
	})
	if err != nil {
		return RoutePage{}, err
	}
	page.Count = page.RawCount
	if p.SimplifyM > 0 {
		// Past its work budget Simplify returns the page as read, and says so.
		kept, simplified := Simplify(pending, p.SimplifyM)
		page.Count, page.Simplified = len(kept), simplified
		for _, l := range kept {
			if err := emit(l); err != nil {
				return RoutePage{}, err
			}
		}
	}
	if more {
		page.NextCursor = EncodeRouteCursor(RouteCursor{
			DeviceID: p.DeviceID, From: p.From, To: p.To, After: time.UnixMilli(lastMs),
		})
	}
	return page, nil
}
