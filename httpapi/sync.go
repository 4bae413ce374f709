package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"net/mail"
	"strings"
	"unicode"

	"github.com/usersync/usersync/errs"
	"github.com/usersync/usersync/jsontime"
	"github.com/usersync/usersync/users"
)

// userBodyLimit bounds user and webhook request bodies.
const userBodyLimit = 64 << 10

// userUpserter is the users service as the sync route needs it.
type userUpserter interface {
	Upsert(ctx context.Context, w users.Write) (users.Result, error)
}

// userJSON is the wire shape of a user (exactly these keys).
type userJSON struct {
	ID          int64         `json:"id"`
	ClerkUserID string        `json:"clerk_user_id"`
	Email       *string       `json:"email"`
	Name        *string       `json:"name"`
	CreatedAt   jsontime.Time `json:"created_at"`
	UpdatedAt   jsontime.Time `json:"updated_at"`
}

func toUserJSON(u users.User) userJSON {
	return userJSON{
		ID: u.ID, ClerkUserID: u.ClerkUserID, Email: u.Email, Name: u.Name,
		CreatedAt: jsontime.Of(u.CreatedAt), UpdatedAt: jsontime.Of(u.UpdatedAt),
	}
}

type syncRequest struct {
	ClerkUserID text `json:"clerk_user_id"`
	Email       text `json:"email"`
	Name        text `json:"name"`
}

const msgMissingFields = "Missing required fields: clerk_user_id and email are required"

// maxFieldLen is the longest clerk_user_id, email or name accepted.
const maxFieldLen = 255

// validate checks the body on its own (400s); the token is checked later.
func (req *syncRequest) validate() error {
	req.Email.Value = trimSpaces(req.Email.Value)
	for _, f := range []*text{&req.ClerkUserID, &req.Email} {
		if !f.wrongType && (!f.Set || f.Null || trimSpaces(f.Value) == "") {
			return errs.New(errs.Invalid, msgMissingFields)
		}
	}
	fields := []struct {
		name string
		t    *text
	}{{"clerk_user_id", &req.ClerkUserID}, {"email", &req.Email}, {"name", &req.Name}}
	for _, f := range fields {
		if f.t.Set && !f.t.Null {
			if err := f.t.check(f.name, maxFieldLen); err != nil {
				return err
			}
		}
	}
	if !validEmail(req.Email.Value) {
		return errs.New(errs.Invalid, "email is not a valid address")
	}
	return nil
}

// trimSpaces trims white space but not control characters (tab, newline):
// those are a 400, not something to tidy away.
func trimSpaces(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) && !unicode.IsControl(r) })
}

// validEmail accepts a bare address (local@domain), no display name.
func validEmail(s string) bool {
	addr, err := mail.ParseAddress(s)
	return err == nil && addr.Name == "" && addr.Address == s
}

// handleSync upserts the signed-in user. Checks run in the documented
// order: the token (401, by requireSession), the body (400/413), the
// token against the body (403), then the user's state (410). With
// requireEmail (CLERK_REQUIRE_EMAIL_CLAIM) a token without an email claim
// is a 403: the stored email then always comes from Clerk.
func handleSync(logger *slog.Logger, svc userUpserter, requireEmail bool) http.Handler {
	return apiHandler(logger, func(w http.ResponseWriter, r *http.Request) error {
		var req syncRequest
		if err := decode(w, r, userBodyLimit, &req); err != nil {
			return err
		}
		if err := req.validate(); err != nil {
			return err
		}
		session := sessionFrom(r.Context())
		if session.UserID != req.ClerkUserID.Value {
			return errs.New(errs.Forbidden, "clerk_user_id does not match the session token")
		}
		if requireEmail && session.Email == "" {
			return errs.New(errs.Forbidden,
				`the session token has no email claim, which this server requires: add {"email": "{{user.primary_email_address}}"} to the session token in the Clerk dashboard`)
		}
		if session.Email != "" && !strings.EqualFold(session.Email, req.Email.Value) {
			return errs.New(errs.Forbidden, "email does not match the session token")
		}

		write := users.Write{
			ClerkUserID: req.ClerkUserID.Value,
			Email:       &req.Email.Value,
			KeepName:    !req.Name.Set,
			Version:     session.IssuedAt,
			Writer:      users.WriterSync,
		}
		// An empty name is no name, as in the webhooks.
		if name := strings.TrimSpace(req.Name.Value); req.Name.Set && !req.Name.Null && name != "" {
			write.Name = &name
		}
		res, err := svc.Upsert(r.Context(), write)
		if err != nil {
			return err
		}
		if res.Outcome == users.Gone {
			return errs.UserDeleted
		}
		encode(w, http.StatusOK, toUserJSON(res.User))
		return nil
	})
}
