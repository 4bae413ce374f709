package httpapi

import (
	"context"

	"github.com/usersync/usersync/tracking"
)

// osmAndIngester is the tracking service as the OsmAnd route needs it.
type osmAndIngester interface {
	locationIngester
	pushRegistrar
}

// pushRegistrar stores the push token a device's app registers.
type pushRegistrar interface {
	RegisterPushToken(ctx context.Context, deviceID int64, pushToken string) error
}

// osmAndPoints returns the positions of reports, whether they make a
// report at all (a position, or a heartbeat without one: either shows the
// device alive; a push-token registration alone does not), and the push
// token registered, the last one if several are.
func osmAndPoints(reports []tracking.OsmAndReport) (points []tracking.Location, report bool, pushToken string) {
	points = make([]tracking.Location, 0, len(reports))
	for _, rep := range reports {
		if rep.PushToken != "" {
			pushToken = rep.PushToken
		}
		switch {
		case !rep.NoFix:
			points = append(points, rep.Location)
			report = true
		case rep.PushToken == "":
			report = true
		}
	}
	return points, report, pushToken
}
