package tracking

import (
	"context"
	"fmt"
)

// MaxFixesPerChange bounds the points one live change may bring: a commit
// stores at most a batch of points for a device.
const MaxFixesPerChange = 10 * MaxIngestPoints

// FixesBetween returns device deviceID's points recorded in (fromMs, toMs],
// ascending, with received_at: the points that, in turn, became the
// device's newest fix in a commit that moved it from fromMs to toMs (see
// live.Change). The caller has checked that the device is the user's.
func (s *Service) FixesBetween(ctx context.Context, deviceID, fromMs, toMs int64) ([]Location, error) {
	rows, err := s.db.NewSelect().
		Model((*locationRow)(nil)).
		Column(pointColumns(true)...).
		Where("device_id = ? AND recorded_at > ? AND recorded_at <= ?", deviceID, fromMs, toMs).
		Order("recorded_at").
		Limit(MaxFixesPerChange).
		Rows(ctx)
	if err != nil {
		return nil, fmt.Errorf("read fixes: %w", err)
	}
	defer rows.Close()
	var out []Location
	p := newPointScan(true)
	for rows.Next() {
		if err := p.scan(rows); err != nil {
			return nil, fmt.Errorf("read fixes: %w", err)
		}
		out = append(out, p.location())
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read fixes: %w", err)
	}
	return out, nil
}
