package tracking

import (
	"context"
	"time"

	"github.com/uptrace/bun"
)

// Span is a checked range of one device's points, From inclusive and To
// exclusive: what an export or a summary covers. Only PlanSpan makes one.
type Span struct {
	DeviceID int64
	From, To time.Time
}

// PlanSpan checks from and to for the device deviceID as a route's range
// is checked, and resolves their defaults the same way (to: now; from: to
// − 24 h): from before to, at most MaxRouteSpan apart. A bad one is a
// *errs.FieldError naming it.
func (s *Service) PlanSpan(deviceID int64, from, to *time.Time) (Span, error) {
	p, err := s.PlanRoute(deviceID, RouteQuery{From: from, To: to})
	if err != nil {
		return Span{}, err
	}
	return Span{DeviceID: deviceID, From: p.From, To: p.To}, nil
}

// Export passes every point of sp to emit, with its received_at, in
// ascending recorded_at, while the rows are read: one query, no paging,
// and nothing kept, so memory does not grow with the range. Before the
// first point it calls start once with the device, after finding it to be
// ownerID's; when it is not (or does not exist) Export returns ErrDeviceNotFound
// before calling anything. An error of start or emit ends the export and
// is returned as is.
func (s *Service) Export(ctx context.Context, ownerID int64, sp Span, start func(Device) error, emit func(Location) error) error {
	d, err := s.GetDevice(ctx, ownerID, sp.DeviceID)
	if err != nil {
		return err
	}
	if err := start(d); err != nil {
		return err
	}
	scan := newPointScan(true)
	return scanEach(ctx, s.spanQuery(sp, pointColumns(true)...), "read export", scan.dest, func() error {
		return emit(scan.location())
	})
}

// spanQuery selects columns of sp's points in ascending recorded_at: a
// plain range read on the key (device_id, recorded_at), as a route page's,
// so that PostgreSQL reads only the partitions the range spans.
func (s *Service) spanQuery(sp Span, columns ...string) *bun.SelectQuery {
	return s.db.NewSelect().
		Model((*locationRow)(nil)).
		Column(columns...).
		Where("device_id = ?", sp.DeviceID).
		Where("recorded_at >= ?", CeilMillis(sp.From)).
		Where("recorded_at < ?", CeilMillis(sp.To)).
		Order("recorded_at")
}
