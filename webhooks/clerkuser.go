package webhooks

import (
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
)

// UserFromClerk maps a user of Clerk's Backend API (as backfill reads
// them) to the same UserData a user.created/user.updated event gives:
// the primary email by id, the first and last name joined, and the
// user's updated_at as the version.
func UserFromClerk(u *clerk.User) UserData {
	d := UserData{
		ClerkUserID: u.ID,
		Name:        joinName(u.FirstName, u.LastName),
		UpdatedAt:   time.UnixMilli(u.UpdatedAt).UTC(),
	}
	if u.PrimaryEmailAddressID != nil {
		for _, e := range u.EmailAddresses {
			if e != nil && e.ID == *u.PrimaryEmailAddressID {
				email := e.EmailAddress
				d.Email = &email
				break
			}
		}
	}
	return d
}
