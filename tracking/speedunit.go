package tracking

import (
	"strings"

	"github.com/usersync/usersync/errs"
)

// SpeedUnit is the unit of the OsmAnd "speed" parameter (OSMAND_SPEED_UNIT).
// The zero value means SpeedKnots, the protocol's own unit.
type SpeedUnit string

// Speed units accepted by ParseSpeedUnit.
const (
	SpeedKnots SpeedUnit = "kn"
	SpeedMPS   SpeedUnit = "mps"
	SpeedKMH   SpeedUnit = "kmh"
	SpeedMPH   SpeedUnit = "mph"
)

// ParseSpeedUnit reads an OSMAND_SPEED_UNIT value: kn, mps, kmh or mph, case
// and surrounding spaces ignored; empty means kn. Any other value is an error
// of kind errs.Invalid.
func ParseSpeedUnit(s string) (SpeedUnit, error) {
	u := SpeedUnit(strings.ToLower(strings.TrimSpace(s)))
	if u == "" {
		return SpeedKnots, nil
	}
	if _, err := u.metersPerSecond(); err != nil {
		return "", err
	}
	return u, nil
}

// metersPerSecond is the size of one u in m/s.
func (u SpeedUnit) metersPerSecond() (float64, error) {
	switch u {
	case SpeedKnots, "":
		return 1852.0 / 3600, nil // the international nautical mile per hour
	case SpeedMPS:
		return 1, nil
	case SpeedKMH:
		return 1000.0 / 3600, nil
	case SpeedMPH:
		return 1609.344 / 3600, nil
	}
	return 0, errs.Field("speed unit", "must be kn, mps, kmh or mph")
}
