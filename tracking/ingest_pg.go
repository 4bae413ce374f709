package tracking

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/uptrace/bun"

	"github.com/usersync/usersync/live"
)

// ingestRound applies a round of writes, distinct devices, on PostgreSQL:
// the devices locked and their fixes read, every point of the round
// inserted, and every device touched, each in one prepared statement
// whatever the number of writes and points.
func (s *Service) ingestRound(ctx context.Context, tx bun.Tx, ws []ingestWrite, round []int, stored []int, errs []error, changes []live.Change) ([]live.Change, error) {
	ids := make([]int64, len(round))
	for j, i := range round {
		ids[j] = ws[i].deviceID
	}
	// Locked in id order, so that concurrent groups never wait on each
	// other in a cycle: ingests of one device take turns, and a device
	// cannot be deleted halfway through.
	prev := make(map[int64]fixOf, len(round))
	var id int64
	var f fixOf
	rows, err := tx.Tx.QueryContext(ctx, lockDevicesSQL, pgx.QueryExecModeCacheStatement, ids)
	err = eachRow(rows, err, "lock devices", []any{&id, &f.userID, &f.fix}, func() error {
		prev[id] = f
		return nil
	})
	if err != nil {
		return nil, err
	}

	var pts pointArrays
	for _, i := range round {
		if _, ok := prev[ws[i].deviceID]; !ok {
			errs[i] = ErrInvalidToken // deleted since Authenticate
			continue
		}
		for _, p := range ws[i].points {
			pts.add(newLocationRow(ws[i].deviceID, p))
		}
	}
	// inserted[d]: the recorded_at of each point the insert stored for device d.
	inserted := map[int64]map[int64]bool{}
	if len(pts.device) > 0 {
		var d, rec int64
		rows, err := tx.Tx.QueryContext(ctx, insertPointsSQL, append([]any{pgx.QueryExecModeCacheStatement}, pts.args()...)...)
		err = eachRow(rows, err, "insert locations", []any{&d, &rec}, func() error {
			if inserted[d] == nil {
				inserted[d] = map[int64]bool{}
			}
			inserted[d][rec] = true
			return nil
		})
		if err != nil {
			return nil, err
		}
		for _, i := range round {
			if errs[i] == nil {
				stored[i] = len(inserted[ws[i].deviceID])
			}
		}
	}

	// Every device seen; the newest fix moves where the insert stored a
	// point newer than the one the device has (read under the lock).
	var touch touchArrays
	for _, i := range round {
		w := ws[i]
		f, ok := prev[w.deviceID]
		if !ok {
			continue
		}
		row := newestStored(w.deviceID, w.points, inserted[w.deviceID])
		c, moved := f.change(w.deviceID, row, w.points, inserted[w.deviceID])
		if moved {
			changes = append(changes, c)
		} else {
			row = nil
		}
		touch.add(w.deviceID, w.seen, row)
	}
	if len(touch.id) > 0 {
		if _, err := tx.Tx.ExecContext(ctx, touchDevicesSQL, append([]any{pgx.QueryExecModeCacheStatement}, touch.args()...)...); err != nil {
			return nil, fmt.Errorf("update devices: %w", err)
		}
	}
	return changes, nil
}

// pointArrays are the points of a round, column by column, as the
// parameters of insertPointsSQL.
type pointArrays struct {
	device, recorded, received                 []int64
	lat, lon                                   []float64
	accuracy, altitude, speed, course, battery []*float64
	motion                                     []*bool
	odometer                                   []*float64
	charging                                   []*bool
	activity, event, alarm                     []*string
}

func (a *pointArrays) add(r locationRow) {
	p := &r
	a.device = append(a.device, p.DeviceID)
	a.recorded = append(a.recorded, p.RecordedAt)
	a.received = append(a.received, p.ReceivedAt)
	a.lat = append(a.lat, p.Lat)
	a.lon = append(a.lon, p.Lon)
	a.accuracy = append(a.accuracy, p.AccuracyM)
	a.altitude = append(a.altitude, p.AltitudeM)
	a.speed = append(a.speed, p.SpeedMPS)
	a.course = append(a.course, p.CourseDeg)
	a.battery = append(a.battery, p.BatteryPct)
	a.motion = append(a.motion, p.Motion)
	a.odometer = append(a.odometer, p.OdometerM)
	a.charging = append(a.charging, p.Charging)
	a.activity = append(a.activity, p.Activity)
	a.event = append(a.event, p.Event)
	a.alarm = append(a.alarm, p.Alarm)
}

func (a *pointArrays) args() []any {
	return []any{a.device, a.recorded, a.received, a.lat, a.lon, a.accuracy, a.altitude, a.speed, a.course,
		a.battery, a.motion, a.odometer, a.charging, a.activity, a.event, a.alarm}
}

// touchArrays are the devices of a round as the parameters of
// touchDevicesSQL: each seen at seen, and given the fix where fix is true.
type touchArrays struct {
	id, seen []int64
	fix      []bool
	points   pointArrays
}

func (a *touchArrays) add(id, seen int64, newest *locationRow) {
	a.id = append(a.id, id)
	a.seen = append(a.seen, seen)
	a.fix = append(a.fix, newest != nil)
	r := locationRow{DeviceID: id} // when the fix stays, the statement keeps the device's
	if newest != nil {
		r = *newest
	}
	a.points.add(r)
}

func (a *touchArrays) args() []any {
	p := a.points
	return []any{a.id, a.seen, a.fix, p.recorded, p.received, p.lat, p.lon, p.accuracy, p.altitude, p.speed,
		p.course, p.battery, p.motion, p.odometer, p.charging, p.activity, p.event, p.alarm}
}

// The prepared statements of ingest on PostgreSQL.
const (
	lockDevicesSQL = `SELECT id, user_id, last_recorded_at FROM devices WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE`

	insertPointsSQL = `INSERT INTO locations (device_id, recorded_at, received_at, lat, lon, accuracy_m, altitude_m,
  speed_mps, course_deg, battery_pct, motion, odometer_m, charging, activity, event, alarm)
SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::float8[], $5::float8[], $6::float8[],
  $7::float8[], $8::float8[], $9::float8[], $10::float8[], $11::bool[], $12::float8[], $13::bool[],
  $14::text[], $15::text[], $16::text[])
ON CONFLICT (device_id, recorded_at) DO NOTHING
RETURNING device_id, recorded_at`

	// last_seen_at never moves back; the fix columns change only where
	// n.fix says the round stored a newer fix.
	touchDevicesSQL = `UPDATE devices AS d SET
  last_seen_at = CASE WHEN d.last_seen_at IS NULL OR d.last_seen_at < n.seen THEN n.seen ELSE d.last_seen_at END,
  last_recorded_at = CASE WHEN n.fix THEN n.recorded_at ELSE d.last_recorded_at END,
  last_received_at = CASE WHEN n.fix THEN n.received_at ELSE d.last_received_at END,
  lat = CASE WHEN n.fix THEN n.lat ELSE d.lat END,
  lon = CASE WHEN n.fix THEN n.lon ELSE d.lon END,
  accuracy_m = CASE WHEN n.fix THEN n.accuracy_m ELSE d.accuracy_m END,
  altitude_m = CASE WHEN n.fix THEN n.altitude_m ELSE d.altitude_m END,
  speed_mps = CASE WHEN n.fix THEN n.speed_mps ELSE d.speed_mps END,
  course_deg = CASE WHEN n.fix THEN n.course_deg ELSE d.course_deg END,
  battery_pct = CASE WHEN n.fix THEN n.battery_pct ELSE d.battery_pct END,
  motion = CASE WHEN n.fix THEN n.motion ELSE d.motion END,
  odometer_m = CASE WHEN n.fix THEN n.odometer_m ELSE d.odometer_m END,
  charging = CASE WHEN n.fix THEN n.charging ELSE d.charging END,
  activity = CASE WHEN n.fix THEN n.activity ELSE d.activity END,
  event = CASE WHEN n.fix THEN n.event ELSE d.event END,
  alarm = CASE WHEN n.fix THEN n.alarm ELSE d.alarm END
FROM unnest($1::bigint[], $2::bigint[], $3::bool[], $4::bigint[], $5::bigint[], $6::float8[], $7::float8[],
  $8::float8[], $9::float8[], $10::float8[], $11::float8[], $12::float8[], $13::bool[], $14::float8[],
  $15::bool[], $16::text[], $17::text[], $18::text[])
  AS n(id, seen, fix, recorded_at, received_at, lat, lon, accuracy_m, altitude_m, speed_mps, course_deg,
       battery_pct, motion, odometer_m, charging, activity, event, alarm)
WHERE d.id = n.id`
)
