package tracking

import (
	"time"

	"github.com/uptrace/bun"
)

// deviceRow is a row of devices. Times of reports and fixes are Unix
// milliseconds (see the migration); created_at and updated_at are
// timestamps, as in users.
type deviceRow struct {
	bun.BaseModel `bun:"table:devices,alias:d"`

	ID         int64   `bun:"id,pk,autoincrement"`
	UserID     int64   `bun:"user_id,notnull"`
	Name       string  `bun:"name,notnull"`
	HardwareID *string `bun:"hardware_id"`
	TokenHash  []byte  `bun:"token_hash,notnull"`
	TokenHint  string  `bun:"token_hint,notnull"`
	LastSeenAt *int64  `bun:"last_seen_at"`
	// PushToken is what Traccar Client 10.x registers for push messages:
	// stored, never returned.
	PushToken *string `bun:"push_token"`
	fixColumns
	CreatedAt time.Time `bun:"created_at,notnull"`
	UpdatedAt time.Time `bun:"updated_at,notnull"`
}

// fixColumns are the newest fix as kept on the device row; all are null
// until the first one.
type fixColumns struct {
	LastRecordedAt *int64   `bun:"last_recorded_at"`
	LastReceivedAt *int64   `bun:"last_received_at"`
	Lat            *float64 `bun:"lat"`
	Lon            *float64 `bun:"lon"`
	fixValues
}

// fixValues are the columns of a fix beyond its time and place, the same
// on a row of locations and on the device row's newest fix.
type fixValues struct {
	AccuracyM  *float64 `bun:"accuracy_m"`
	AltitudeM  *float64 `bun:"altitude_m"`
	SpeedMPS   *float64 `bun:"speed_mps"`
	CourseDeg  *float64 `bun:"course_deg"`
	BatteryPct *float64 `bun:"battery_pct"`
	Attributes
}

// valuesOf are l's values beyond its time and place.
func valuesOf(l Location) fixValues {
	return fixValues{
		AccuracyM: l.AccuracyM, AltitudeM: l.AltitudeM, SpeedMPS: l.SpeedMPS, CourseDeg: l.CourseDeg, BatteryPct: l.BatteryPct,
		Attributes: l.Attributes,
	}
}

// location is the fix of these values recorded at recorded, at (lat, lon).
func (v fixValues) location(recorded time.Time, lat, lon float64) Location {
	return Location{
		RecordedAt: recorded, Lat: lat, Lon: lon,
		AccuracyM: v.AccuracyM, AltitudeM: v.AltitudeM, SpeedMPS: v.SpeedMPS, CourseDeg: v.CourseDeg, BatteryPct: v.BatteryPct,
		Attributes: v.Attributes,
	}
}

func (r *deviceRow) device(now time.Time, onlineWindow time.Duration) Device {
	d := Device{
		ID:         r.ID,
		UserID:     r.UserID,
		Name:       r.Name,
		HardwareID: r.HardwareID,
		TokenHint:  r.TokenHint,
		LastSeenAt: fromMillis(r.LastSeenAt),
		CreatedAt:  r.CreatedAt.UTC(),
		UpdatedAt:  r.UpdatedAt.UTC(),

		PushRegistered: r.PushToken != nil,
	}
	d.Status = deviceStatus(d.LastSeenAt, now, onlineWindow)
	if f := r.fixColumns; f.LastRecordedAt != nil && f.Lat != nil && f.Lon != nil {
		l := f.location(*fromMillis(f.LastRecordedAt), *f.Lat, *f.Lon)
		if t := fromMillis(f.LastReceivedAt); t != nil {
			l.ReceivedAt = *t
		}
		d.LastLocation = &l
	}
	return d
}

// locationRow is a row of locations.
type locationRow struct {
	bun.BaseModel `bun:"table:locations,alias:l"`

	DeviceID   int64   `bun:"device_id,pk"`
	RecordedAt int64   `bun:"recorded_at,pk"`
	ReceivedAt int64   `bun:"received_at,notnull"`
	Lat        float64 `bun:"lat,notnull"`
	Lon        float64 `bun:"lon,notnull"`
	fixValues
}

func newLocationRow(deviceID int64, l Location) locationRow {
	return locationRow{
		DeviceID:   deviceID,
		RecordedAt: l.RecordedAt.UnixMilli(),
		ReceivedAt: l.ReceivedAt.UnixMilli(),
		Lat:        l.Lat,
		Lon:        l.Lon,
		fixValues:  valuesOf(l),
	}
}

// fix is the row as the device's newest fix.
func (r *locationRow) fix() fixColumns {
	return fixColumns{
		LastRecordedAt: &r.RecordedAt,
		LastReceivedAt: &r.ReceivedAt,
		Lat:            &r.Lat,
		Lon:            &r.Lon,
		fixValues:      r.fixValues,
	}
}

func fromMillis(ms *int64) *time.Time {
	if ms == nil {
		return nil
	}
	t := time.UnixMilli(*ms).UTC()
	return &t
}

// CeilMillis is the first whole millisecond at or after t: a recorded_at
// in ms is ≥ t exactly when it is ≥ CeilMillis(t), and < t exactly when it
// is < CeilMillis(t). Routes, deletes and retention bound points with it.
func CeilMillis(t time.Time) int64 {
	ms := t.Truncate(time.Millisecond)
	if ms.Equal(t) {
		return ms.UnixMilli()
	}
	return ms.UnixMilli() + 1
}
