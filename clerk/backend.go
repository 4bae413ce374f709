package clerk

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	sdk "github.com/clerk/clerk-sdk-go/v2"
	"github.com/clerk/clerk-sdk-go/v2/user"

	"github.com/usersync/usersync/users"
)

// MaxPageSize is Clerk's largest page of GET /v1/users.
const MaxPageSize = 500

// maxRateLimitWaits bounds how many 429s in a row one call may meet.
const maxRateLimitWaits = 10

// Backend is the part of Clerk's Backend API that usersync calls, with
// clerk-sdk-go: the user list (backfill) and users by id. Each call waits
// out a 429 as its Retry-After says.
type Backend struct {
	users *user.Client
	// OnWait, if set, is told of each wait for a 429 (backfill prints it).
	OnWait func(time.Duration)
}

// NewBackend returns a client of the Backend API at apiURL (including /v1)
// authenticated with secretKey.
func NewBackend(secretKey, apiURL string) *Backend {
	return &Backend{users: user.NewClient(&sdk.ClientConfig{BackendConfig: sdk.BackendConfig{
		Key:        sdk.String(secretKey),
		URL:        sdk.String(apiURL),
		HTTPClient: &http.Client{Timeout: 30 * time.Second},
	}})}
}

// User is what usersync keeps of a Clerk user, mapped as the webhooks map
// one: the primary email by its id, first and last name joined
// (users.JoinName), and updated_at as the version of the information.
type User struct {
	ID        string
	Email     *string
	Name      *string
	UpdatedAt time.Time
}

// Write is u as a write of the users service by writer.
func (u User) Write(writer users.Writer) users.Write {
	return users.Write{ClerkUserID: u.ID, Email: u.Email, Name: u.Name, Version: u.UpdatedAt, Writer: writer}
}

func userFromSDK(u *sdk.User) User {
	out := User{
		ID:        u.ID,
		Name:      users.JoinName(u.FirstName, u.LastName),
		UpdatedAt: time.UnixMilli(u.UpdatedAt).UTC(),
	}
	if u.PrimaryEmailAddressID != nil {
		for _, e := range u.EmailAddresses {
			if e != nil && e.ID == *u.PrimaryEmailAddressID {
				email := e.EmailAddress
				out.Email = &email
				break
			}
		}
	}
	return out
}

// UserPage is one page of the user list.
type UserPage struct {
	Users      []User
	TotalCount int64
}

// ListUsers returns up to limit users from offset, oldest first (users
// created meanwhile land on later pages instead of shifting offsets).
func (b *Backend) ListUsers(ctx context.Context, offset, limit int64) (UserPage, error) {
	params := &user.ListParams{OrderBy: sdk.String("+created_at")}
	params.Limit = sdk.Int64(limit)
	params.Offset = sdk.Int64(offset)
	var list *sdk.UserList
	err := b.retry(ctx, func() (err error) {
		list, err = b.users.List(ctx, params)
		return err
	})
	if err != nil {
		return UserPage{}, fmt.Errorf("list Clerk users at offset %d: %w", offset, err)
	}
	page := UserPage{TotalCount: list.TotalCount, Users: make([]User, 0, len(list.Users))}
	for _, u := range list.Users {
		if u != nil {
			page.Users = append(page.Users, userFromSDK(u))
		}
	}
	return page, nil
}

// UserGone looks the user up by id: true only for Clerk's own 404 (an
// error with code resource_not_found), false when Clerk has the user, an
// error for any other answer. A deletion is never inferred from anything
// less.
func (b *Backend) UserGone(ctx context.Context, id string) (bool, error) {
	err := b.retry(ctx, func() error {
		_, err := b.users.Get(ctx, id)
		return err
	})
	var apiErr *sdk.APIErrorResponse
	switch {
	case err == nil:
		return false, nil
	case errors.As(err, &apiErr) && apiErr.HTTPStatusCode == http.StatusNotFound:
		for _, e := range apiErr.Errors {
			if e.Code == "resource_not_found" {
				return true, nil
			}
		}
	}
	return false, err
}

// retry runs call until it does not meet a 429, waiting as Retry-After
// says, at most maxRateLimitWaits times.
func (b *Backend) retry(ctx context.Context, call func() error) error {
	for waits := 0; ; waits++ {
		err := call()
		var apiErr *sdk.APIErrorResponse
		if err == nil || !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != http.StatusTooManyRequests || waits == maxRateLimitWaits {
			return err
		}
		wait := retryAfter(apiErr)
		if b.OnWait != nil {
			b.OnWait(wait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// retryAfter reads a 429's Retry-After (seconds or an HTTP date); 1 s if absent.
func retryAfter(e *sdk.APIErrorResponse) time.Duration {
	if e.Response == nil {
		return time.Second
	}
	v := e.Response.Header.Get("Retry-After")
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
		return 0
	}
	return time.Second
}
