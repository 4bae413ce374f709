package tracking

import "context"

// MaxFixesPerChange bounds the points one live change may bring: a commit
// stores at most a batch of points for a device.
const MaxFixesPerChange = 10 * MaxIngestPoints

// FixesBetween returns device deviceID's points recorded in (fromMs, toMs],
// ascending, with received_at: the points that, in turn, became the
// device's newest fix in a commit that moved it from fromMs to toMs (see
// live.Change). The caller has checked that the device is the user's.
func (s *Service) FixesBetween(ctx context.Context, deviceID, fromMs, toMs int64) ([]Location, error) {
	q := s.db.NewSelect().
		Model((*locationRow)(nil)).
		Column(pointColumns(true)...).
		Where("device_id = ? AND recorded_at > ? AND recorded_at <= ?", deviceID, fromMs, toMs).
		Order("recorded_at").
		Limit(MaxFixesPerChange)
	var out []Location
	p := newPointScan(true)
	err := scanEach(ctx, q, "read fixes", p.dest, func() error {
		out = append(out, p.location())
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
