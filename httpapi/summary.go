package httpapi

import (
	"log/slog"
	"net/http"
	"time"
)

// summaryJSON is the answer of GET /api/locations/{deviceId}/summary.
type summaryJSON struct {
	DeviceID        int64       `json:"device_id"`
	From            time.Time   `json:"from"`
	To              time.Time   `json:"to"`
	Points          int         `json:"points"`
	DistanceM       float64     `json:"distance_m"`
	FirstRecordedAt *time.Time  `json:"first_recorded_at"`
	LastRecordedAt  *time.Time  `json:"last_recorded_at"`
	MaxSpeedMPS     *float64    `json:"max_speed_mps"`
	BBox            *[4]float64 `json:"bbox"`
}

// handleSummary sums up a span of the device's points: count, distance,
// first and last time, top speed, bounding box. Checks as the route's.
func handleSummary(logger *slog.Logger, us userGetter, sr spanReader) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		from, to, err := parseSpanQuery(r.URL.Query())
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		sp, owner, err := planSpan(r, us, sr, from, to)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		s, err := sr.Summary(r.Context(), owner, sp)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		w.Header().Set("Cache-Control", "private, no-cache")
		encode(w, http.StatusOK, summaryJSON{
			DeviceID: s.DeviceID, From: s.From.UTC(), To: s.To.UTC(),
			Points: s.Points, DistanceM: s.DistanceM,
			FirstRecordedAt: s.FirstRecordedAt, LastRecordedAt: s.LastRecordedAt,
			MaxSpeedMPS: s.MaxSpeedMPS, BBox: s.BBox,
		})
	})
}
