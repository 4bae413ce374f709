package tracking

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// MaxDevicesPerUser caps how many devices one user may register.
const MaxDevicesPerUser = 100

// Bounds of a device's name and hardware id (docs/tracking.md).
const (
	maxDeviceNameLen = 100
	maxHardwareIDLen = 64
)

// Status tells whether a device reports: see Device.Status.
type Status string

const (
	StatusOnline  Status = "online"  // last seen within the online window
	StatusOffline Status = "offline" // last seen before it
	StatusUnknown Status = "unknown" // never seen
)

// Device is a user's tracker or phone.
type Device struct {
	ID         int64
	UserID     int64 // the owner's users.id
	Name       string
	HardwareID *string // a label such as an IMEI, never a credential
	TokenHint  string  // "trk_0J5M": names the ingest token without revealing it
	// Status is computed when the device is read, from LastSeenAt and the
	// service's online window.
	Status Status
	// LastSeenAt is the server time of the last accepted report, whatever
	// its fix; nil if the device never reported.
	LastSeenAt *time.Time
	// LastLocation is the newest fix by RecordedAt: a late, older fix never
	// replaces it. Nil until the first fix.
	LastLocation *Location
	CreatedAt    time.Time
	UpdatedAt    time.Time

	// PushRegistered tells whether the device's app registered a push
	// token (Traccar Client does); the token itself is never returned.
	PushRegistered bool
}

func deviceStatus(lastSeen *time.Time, now time.Time, window time.Duration) Status {
	switch {
	case lastSeen == nil:
		return StatusUnknown
	case now.Sub(*lastSeen) <= window:
		return StatusOnline
	default:
		return StatusOffline
	}
}

// NewDevice is what a user registers.
type NewDevice struct {
	Name       string
	HardwareID *string // optional
}

// Normalize trims the name's surrounding spaces and checks both fields: a
// name of 1–100 characters without control characters, a hardware id of
// 1–64 characters of [A-Za-z0-9._:-]. It returns an *errs.FieldError
// for the first rule broken.
func (d *NewDevice) Normalize() error {
	name, err := NormalizeDeviceName(d.Name)
	if err != nil {
		return err
	}
	if d.HardwareID != nil && !validHardwareID(*d.HardwareID) {
		return invalid("hardware_id", "must be 1 to %d characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'", maxHardwareIDLen)
	}
	d.Name = name
	return nil
}

// NormalizeDeviceName trims name's surrounding spaces and checks it: 1–100
// characters of valid UTF-8 without control characters.
func NormalizeDeviceName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch n := utf8.RuneCountInString(name); {
	case !utf8.ValidString(name):
		return "", invalid("name", "must be valid UTF-8")
	case n == 0 || n > maxDeviceNameLen:
		return "", invalid("name", "must be 1 to %d characters", maxDeviceNameLen)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return "", invalid("name", "must not contain control characters")
	}
	return name, nil
}

// validHardwareID matches ^[A-Za-z0-9._:-]{1,64}$.
func validHardwareID(s string) bool {
	if len(s) == 0 || len(s) > maxHardwareIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}
