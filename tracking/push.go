package tracking

import "context"

// maxPushTokenLen bounds a push token: Firebase registration tokens are
// about 160 characters and APNs device tokens 64, so 1024 leaves room
// without letting a client park kilobytes on the device row.
const maxPushTokenLen = 1024

// RegisterPushToken stores pushToken, the token Traccar Client 10.x
// registers for push messages (its form "id=…&notificationToken=…"), on the
// device deviceID, authenticated by its ingest token beforehand. It replaces
// any earlier one; it is stored, never returned (Device.PushRegistered
// tells that there is one). It is not a report: last_seen_at stays.
//
// A token that is not 1–1024 printable ASCII characters without spaces is
// an *errs.FieldError; a device deleted since it was authenticated is
// ErrInvalidToken.
func (s *Service) RegisterPushToken(ctx context.Context, deviceID int64, pushToken string) error {
	if !validPushToken(pushToken) {
		return invalid("notificationToken", "must be 1 to %d printable ASCII characters without spaces", maxPushTokenLen)
	}
	res, err := s.db.NewUpdate().
		Model((*deviceRow)(nil)).
		Set("push_token = ?", pushToken).
		Where("id = ?", deviceID).
		Exec(ctx)
	return oneRowChanged(res, err, "register push token", ErrInvalidToken)
}

func validPushToken(s string) bool {
	if len(s) == 0 || len(s) > maxPushTokenLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
