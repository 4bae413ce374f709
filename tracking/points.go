package tracking

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// pointColumns are the columns of a point as route pages and exports read
// it, in the order pointScan scans them; received_at follows recorded_at
// when withReceived.
func pointColumns(withReceived bool) []string {
	cols := []string{"recorded_at", "lat", "lon", "accuracy_m", "altitude_m", "speed_mps", "course_deg", "battery_pct",
		"motion", "odometer_m", "charging", "activity", "event", "alarm"}
	if withReceived {
		cols = append(cols[:1], append([]string{"received_at"}, cols[1:]...)...)
	}
	return cols
}

// pointScan is one row of pointColumns while it is scanned, reused from
// row to row. The nullable columns go into sql.Null values rather than
// pointers: database/sql scans a **float64 by reflection, and a route page
// has 10,000 rows, an export millions.
type pointScan struct {
	recorded, received int64
	lat, lon           float64
	num                [6]sql.Null[float64] // accuracy, altitude, speed, course, battery, odometer
	flag               [2]sql.Null[bool]    // motion, charging
	text               [3]sql.Null[string]  // activity, event, alarm
	withReceived       bool
	dest               []any // where a row goes, for scanEach
}

func newPointScan(withReceived bool) *pointScan {
	p := &pointScan{withReceived: withReceived}
	p.dest = []any{&p.recorded}
	if withReceived {
		p.dest = append(p.dest, &p.received)
	}
	p.dest = append(p.dest, &p.lat, &p.lon, &p.num[0], &p.num[1], &p.num[2], &p.num[3], &p.num[4],
		&p.flag[0], &p.num[5], &p.flag[1], &p.text[0], &p.text[1], &p.text[2])
	return p
}

// location is the row scanned last, in values of its own (the scan's are
// reused); ReceivedAt is zero unless it was read.
func (p *pointScan) location() Location {
	l := Location{
		RecordedAt: time.UnixMilli(p.recorded).UTC(),
		Lat:        p.lat,
		Lon:        p.lon,
		AccuracyM:  orNil(p.num[0]),
		AltitudeM:  orNil(p.num[1]),
		SpeedMPS:   orNil(p.num[2]),
		CourseDeg:  orNil(p.num[3]),
		BatteryPct: orNil(p.num[4]),
		Attributes: Attributes{
			Motion:    orNil(p.flag[0]),
			OdometerM: orNil(p.num[5]),
			Charging:  orNil(p.flag[1]),
			Activity:  orNil(p.text[0]),
			Event:     orNil(p.text[1]),
			Alarm:     orNil(p.text[2]),
		},
	}
	if p.withReceived {
		l.ReceivedAt = time.UnixMilli(p.received).UTC()
	}
	return l
}

// orNil is n's value, or nil when it is NULL.
func orNil[T any](n sql.Null[T]) *T {
	if !n.Valid {
		return nil
	}
	return ptr(n.V)
}

// scanEach runs q and scans its rows one by one into dest, calling fn after
// each. A failure to read is wrapped with op; an error of fn ends the
// reading and is returned as is.
func scanEach(ctx context.Context, q *bun.SelectQuery, op string, dest []any, fn func() error) error {
	rows, err := q.Rows(ctx)
	return eachRow(rows, err, op, dest, fn)
}

// eachRow is scanEach for rows and err as a query returned them.
func eachRow(rows *sql.Rows, err error, op string, dest []any, fn func() error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if err := fn(); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}
