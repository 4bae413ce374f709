package httpapi

import (
	"log/slog"
	"net/http"

	"github.com/usersync/usersync/jsontime"
)

// summaryJSON is the answer of GET /api/locations/{deviceId}/summary.
type summaryJSON struct {
	DeviceID        int64          `json:"device_id"`
	From            jsontime.Time  `json:"from"`
	To              jsontime.Time  `json:"to"`
	Points          int            `json:"points"`
	DistanceM       float64        `json:"distance_m"`
	FirstRecordedAt *jsontime.Time `json:"first_recorded_at"`
	LastRecordedAt  *jsontime.Time `json:"last_recorded_at"`
	MaxSpeedMPS     *float64       `json:"max_speed_mps"`
	BBox            *[4]float64    `json:"bbox"`
}

// handleSummary sums up a span of the device's points: count, distance,
// first and last time, top speed, bounding box. Checks as the route's.
func handleSummary(logger *slog.Logger, us userGetter, sr spanReader) http.Handler {
	return apiHandler(logger, func(w http.ResponseWriter, r *http.Request) error {
		sp, owner, err := planSpan(r, us, sr, nil)
		if err != nil {
			return err
		}
		s, err := sr.Summary(r.Context(), owner, sp)
		if err != nil {
			return err
		}
		w.Header().Set("Cache-Control", "private, no-cache")
		encode(w, http.StatusOK, summaryJSON{
			DeviceID: s.DeviceID, From: jsontime.Of(s.From), To: jsontime.Of(s.To),
			Points: s.Points, DistanceM: s.DistanceM,
			FirstRecordedAt: jsontime.Ptr(s.FirstRecordedAt), LastRecordedAt: jsontime.Ptr(s.LastRecordedAt),
			MaxSpeedMPS: s.MaxSpeedMPS, BBox: s.BBox,
		})
		return nil
	})
}
