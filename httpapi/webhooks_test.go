package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/usersync/usersync/errs"
	"github.com/usersync/usersync/migrations/dbtest"
	"github.com/usersync/usersync/testkit"
	"github.com/usersync/usersync/users"
	"github.com/usersync/usersync/webhooks"
)

func TestWebhookFixtures(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *bun.DB) {
		t.Parallel()
		h := whStartDefault(t, db)

		tests := []struct {
			file    string
			typ     string
			user    string // "" for a non-user event
			outcome webhooks.Outcome
			want    whStoredUser
		}{
			{"user_created_phone_only.json", "user.created", "user_2hR3aPh0nE0nLyUs3rXyZ9WvQtB", webhooks.OutcomeApplied,
				whStoredUser{Name: whPtr("Kwame Mensah")}},
			{"user_created_null_names.json", "user.created", "user_2hS0NoNameUs3rQv6Mj2Hk9Rt4", webhooks.OutcomeApplied,
				whStoredUser{Email: whPtr("no-name@example.net")}},
			{"user_created_first_name_only.json", "user.created", "user_2hT1Ch3rUsRk7Bd3Yf5Gm1Pw8Q", webhooks.OutcomeApplied,
				whStoredUser{Email: whPtr("cher@example.com"), Name: whPtr("Cher")}},
			{"user_updated_unknown_fields.json", "user.updated", "user_2hX4Fu7uR3Us3rRk2Bd9Yf5Gm7", webhooks.OutcomeApplied,
				whStoredUser{Email: whPtr("ines@example.com"), Name: whPtr("Inès de Castro")}},
			{"session_created.json", "session.created", "", webhooks.OutcomeIgnored, whStoredUser{}},
		}
		for i, tt := range tests {
			t.Run(tt.file, func(t *testing.T) {
				t.Parallel()
				msgID := fmt.Sprintf("msg_fixture_%d", i)
				h.wantProcessed(t, msgID, whFixture(t, tt.file), tt.typ, tt.outcome)
				ev := h.storedEvent(t, msgID)
				if ev.Type != tt.typ || ev.Outcome != tt.outcome || ev.Attempts != 1 || ev.Error != nil {
					t.Errorf("stored event = %s %s attempts %d error %v; want %s %s attempts 1 no error",
						ev.Type, ev.Outcome, ev.Attempts, ev.Error, tt.typ, tt.outcome)
				}
				if tt.user == "" {
					if ev.ClerkUserID != nil {
						t.Errorf("clerk_user_id = %q, want null for %s", *ev.ClerkUserID, tt.typ)
					}
					return
				}
				if ev.ClerkUserID == nil || *ev.ClerkUserID != tt.user {
					t.Errorf("clerk_user_id = %v, want %s", ev.ClerkUserID, tt.user)
				}
				h.wantUser(t, tt.user, tt.want)
			})
		}

		// The recorded lifecycle of one user, in order.
		t.Run("created updated deleted", func(t *testing.T) {
			t.Parallel()
			const id = "user_2hQx7Nf3kVb1ZpQ8sLmTq4Wd0Ey"
			h.wantProcessed(t, "msg_life_1", whFixture(t, "user_created.json"), "user.created", webhooks.OutcomeApplied)
			// The primary address is the second of the list.
			h.wantUser(t, id, whStoredUser{Email: whPtr("marguerite@example.com"), Name: whPtr("Marguerite Duras")})

			h.wantProcessed(t, "msg_life_2", whFixture(t, "user_updated.json"), "user.updated", webhooks.OutcomeApplied)
			h.wantUser(t, id, whStoredUser{Email: whPtr("m.duras@example.org"), Name: whPtr("Marguerite Donnadieu")})

			h.wantProcessed(t, "msg_life_3", whFixture(t, "user_deleted.json"), "user.deleted", webhooks.OutcomeApplied)
			h.wantUser(t, id, whStoredUser{Deleted: true})
			if _, err := h.users.Get(context.Background(), id); !errors.Is(err, errs.UserDeleted) {
				t.Errorf("users.Get after user.deleted: %v, want ErrGone", err)
			}
			// A second delete changes nothing.
			h.wantProcessed(t, "msg_life_4", whDeletedEvent(t, id, time.UnixMilli(1717600000000).Add(time.Hour)),
				"user.deleted", webhooks.OutcomeUnchanged)
		})
	})
}

func TestWebhookDuplicateDelivery(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *bun.DB) {
		t.Parallel()
		h := whStartDefault(t, db)
		body := whUserEvent(t, "user.created", "user_dup", "dup@example.com", "Dup", "Licate", time.Now().Add(-time.Hour))

		h.wantProcessed(t, "msg_dup", body, "user.created", webhooks.OutcomeApplied)
		first := h.storedEvent(t, "msg_dup")
		// Svix retries with the same id and a fresh timestamp and signature.
		h.wantProcessed(t, "msg_dup", body, "user.created", webhooks.OutcomeUnchanged)

		res := h.do(t, http.MethodGet, "/api/admin/webhook-events/msg_dup", admAuth(h.cfg.adminToken), nil)
		if res.status != http.StatusOK {
			t.Fatalf("admin GET = %d %s", res.status, res.body)
		}
		var got admEvent
		if err := json.Unmarshal(res.body, &got); err != nil {
			t.Fatal(err)
		}
		if got.Attempts != 2 || got.Outcome != "unchanged" {
			t.Errorf("after two deliveries: attempts %d outcome %s, want 2 unchanged", got.Attempts, got.Outcome)
		}
		second := h.storedEvent(t, "msg_dup")
		if !second.FirstReceivedAt.Equal(first.FirstReceivedAt) || !second.LastReceivedAt.After(first.LastReceivedAt) {
			t.Errorf("received span = %v..%v, want %v..(after %v)",
				second.FirstReceivedAt, second.LastReceivedAt, first.FirstReceivedAt, first.LastReceivedAt)
		}
		// The admin route shows the same span, to the millisecond (package jsontime).
		if !got.FirstReceivedAt.Equal(second.FirstReceivedAt.Truncate(time.Millisecond)) ||
			!got.LastReceivedAt.Equal(second.LastReceivedAt.Truncate(time.Millisecond)) {
			t.Errorf("admin span = %v..%v, want %v..%v to the ms",
				got.FirstReceivedAt, got.LastReceivedAt, second.FirstReceivedAt, second.LastReceivedAt)
		}
		if n := h.countRows(t, "webhook_events"); n != 1 {
			t.Errorf("%d event records, want 1", n)
		}
		if n := h.countRows(t, "users"); n != 1 {
			t.Errorf("%d users, want 1", n)
		}
		h.wantUser(t, "user_dup", whStoredUser{Email: whPtr("dup@example.com"), Name: whPtr("Dup Licate")})
	})
}

func TestWebhookOutOfOrder(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *bun.DB) {
		t.Parallel()
		h := whStartDefault(t, db)
		v1 := time.Now().Add(-2 * time.Hour)
		v2 := v1.Add(time.Minute)
		// The newer update arrives first.
		h.wantProcessed(t, "msg_ooo_2", whUserEvent(t, "user.updated", "user_ooo", "new@example.com", "New", "", v2),
			"user.updated", webhooks.OutcomeApplied)
		h.wantProcessed(t, "msg_ooo_1", whUserEvent(t, "user.created", "user_ooo", "old@example.com", "Old", "", v1),
			"user.created", webhooks.OutcomeStale)
		h.wantUser(t, "user_ooo", whStoredUser{Email: whPtr("new@example.com"), Name: whPtr("New")})
		if got := h.storedEvent(t, "msg_ooo_1").Outcome; got != webhooks.OutcomeStale {
			t.Errorf("recorded outcome = %s, want stale", got)
		}
	})
}

func TestWebhookDeleteThenLateUpdate(t *testing.T) {
	t.Parallel()
	key := testkit.NewKey(t, "ins_wh")
	dbtest.Each(t, func(t *testing.T, db *bun.DB) {
		t.Parallel()
		h := whStart(t, db, whConfig{secrets: []string{whNewSecret(t)}, sessionKey: key})
		v1 := time.Now().Add(-3 * time.Hour)
		deletedAt := v1.Add(time.Hour)

		h.wantProcessed(t, "msg_late_1", whUserEvent(t, "user.created", "user_late", "late@example.com", "Late", "", v1),
			"user.created", webhooks.OutcomeApplied)
		h.wantProcessed(t, "msg_late_2", whDeletedEvent(t, "user_late", deletedAt), "user.deleted", webhooks.OutcomeApplied)
		// Late deliveries, one of them even newer than the tombstone.
		h.wantProcessed(t, "msg_late_3", whUserEvent(t, "user.updated", "user_late", "older@example.com", "Older", "", v1.Add(time.Minute)),
			"user.updated", webhooks.OutcomeStale)
		h.wantProcessed(t, "msg_late_4", whUserEvent(t, "user.updated", "user_late", "newer@example.com", "Newer", "", deletedAt.Add(time.Minute)),
			"user.updated", webhooks.OutcomeStale)
		h.wantUser(t, "user_late", whStoredUser{Deleted: true})

		whWantError(t, h.sync(t, "user_late", "late@example.com", time.Now()), http.StatusGone, "deleted")
		h.wantUser(t, "user_late", whStoredUser{Deleted: true})
	})
}

func TestWebhookRedeliveryIsProcessedAgain(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *bun.DB) {
		t.Parallel()
		h := whStartDefault(t, db)
		body := whUserEvent(t, "user.created", "user_again", "again@example.com", "Again", "", time.Now().Add(-time.Hour))
		h.wantProcessed(t, "msg_again", body, "user.created", webhooks.OutcomeApplied)

		// The row is lost (say, a restore from an older backup): the
		// redelivery must go through the upsert again, not be skipped as
		// already seen.
		if _, err := db.NewDelete().Model((*users.User)(nil)).Where("clerk_user_id = ?", "user_again").
			Exec(context.Background()); err != nil {
			t.Fatal(err)
		}
		h.wantProcessed(t, "msg_again", body, "user.created", webhooks.OutcomeApplied)
		h.wantUser(t, "user_again", whStoredUser{Email: whPtr("again@example.com"), Name: whPtr("Again")})
		if ev := h.storedEvent(t, "msg_again"); ev.Attempts != 2 || ev.Outcome != webhooks.OutcomeApplied {
			t.Errorf("record: attempts %d outcome %s, want 2 applied", ev.Attempts, ev.Outcome)
		}
	})
}

func TestWebhookSecretRotation(t *testing.T) {
	t.Parallel()
	oldSecret, newSecret, otherSecret := whNewSecret(t), whNewSecret(t), whNewSecret(t)
	h := whStart(t, dbtest.Open(t, dbtest.SQLiteURL(t)), whConfig{secrets: []string{oldSecret, newSecret}})
	version := time.Now().Add(-time.Hour)

	tests := []struct {
		name      string
		signature func(msgID string, ts time.Time, body []byte) string
		wantOK    bool
	}{
		{"old secret", func(id string, ts time.Time, b []byte) string { return whSign(t, oldSecret, id, ts, b) }, true},
		{"new secret", func(id string, ts time.Time, b []byte) string { return whSign(t, newSecret, id, ts, b) }, true},
		{"several signatures, one matching", func(id string, ts time.Time, b []byte) string {
			return whSign(t, otherSecret, id, ts, b) + " " + whSign(t, newSecret, id, ts, b)
		}, true},
		{"unknown secret", func(id string, ts time.Time, b []byte) string { return whSign(t, otherSecret, id, ts, b) }, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msgID := fmt.Sprintf("msg_rot_%d", i)
			userID := fmt.Sprintf("user_rot_%d", i)
			body := whUserEvent(t, "user.created", userID, fmt.Sprintf("rot%d@example.com", i), "Rot", "", version)
			now := time.Now()
			header := whHeaders(t, oldSecret, msgID, now, body)
			header.Set("svix-signature", tt.signature(msgID, now, body))
			res := h.post(t, header, body)
			if !tt.wantOK {
				whWantError(t, res, http.StatusBadRequest, "no matching signature")
				h.wantNotRecorded(t, msgID)
				return
			}
			whWantJSON(t, res, http.StatusOK, map[string]any{"svix_id": msgID, "type": "user.created", "outcome": "applied"})
			h.wantUser(t, userID, whStoredUser{Email: whPtr(fmt.Sprintf("rot%d@example.com", i)), Name: whPtr("Rot")})
		})
	}
}

func TestWebhookAlternateHeaders(t *testing.T) {
	t.Parallel()
	h := whStartDefault(t, dbtest.Open(t, dbtest.SQLiteURL(t)))
	body := whUserEvent(t, "user.created", "user_alt", "alt@example.com", "Alt", "", time.Now().Add(-time.Hour))
	now := time.Now()
	header := http.Header{}
	header.Set("Content-Type", "application/json")
	header.Set("webhook-id", "msg_alt")
	header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	header.Set("webhook-signature", whSign(t, h.cfg.secrets[0], "msg_alt", now, body))

	whWantJSON(t, h.post(t, header, body), http.StatusOK,
		map[string]any{"svix_id": "msg_alt", "type": "user.created", "outcome": "applied"})
	if ev := h.storedEvent(t, "msg_alt"); ev.Outcome != webhooks.OutcomeApplied {
		t.Errorf("recorded outcome = %s, want applied", ev.Outcome)
	}
	h.wantUser(t, "user_alt", whStoredUser{Email: whPtr("alt@example.com"), Name: whPtr("Alt")})
}

func TestWebhookRejectsSignatures(t *testing.T) {
	t.Parallel()
	h := whStartDefault(t, dbtest.Open(t, dbtest.SQLiteURL(t)))
	secret := h.cfg.secrets[0]
	body := whUserEvent(t, "user.created", "user_forged", "forged@example.com", "Forged", "", time.Now().Add(-time.Hour))
	const msgID = "msg_forged"

	tests := []struct {
		name   string
		header func() http.Header
		body   []byte
		want   string
	}{
		{"no headers", func() http.Header { return http.Header{} }, body, "missing required headers"},
		{"no signature", func() http.Header {
			h := whHeaders(t, secret, msgID, time.Now(), body)
			h.Del("svix-signature")
			return h
		}, body, "svix-signature"},
		{"no id", func() http.Header {
			h := whHeaders(t, secret, msgID, time.Now(), body)
			h.Del("svix-id")
			return h
		}, body, "svix-id"},
		{"incomplete webhook-* set", func() http.Header {
			h := http.Header{}
			h.Set("webhook-id", msgID)
			h.Set("webhook-signature", whSign(t, secret, msgID, time.Now(), body))
			return h
		}, body, "webhook-timestamp"},
		{"timestamp not a number", func() http.Header {
			h := whHeaders(t, secret, msgID, time.Now(), body)
			h.Set("svix-timestamp", "yesterday")
			return h
		}, body, "timestamp"},
		{"signed with another secret", func() http.Header {
			return whHeaders(t, whNewSecret(t), msgID, time.Now(), body)
		}, body, "no matching signature"},
		{"body changed after signing", func() http.Header {
			return whHeaders(t, secret, msgID, time.Now(), body)
		}, bytes.Replace(body, []byte("forged@example.com"), []byte("victim@example.com"), 1), "no matching signature"},
		{"signature of another message id", func() http.Header {
			h := whHeaders(t, secret, "msg_other", time.Now(), body)
			h.Set("svix-id", msgID)
			return h
		}, body, "no matching signature"},
		{"signature of another timestamp", func() http.Header {
			h := whHeaders(t, secret, msgID, time.Now().Add(-time.Minute), body)
			h.Set("svix-timestamp", strconv.FormatInt(time.Now().Unix(), 10))
			return h
		}, body, "no matching signature"},
		{"not a v1 signature", func() http.Header {
			h := whHeaders(t, secret, msgID, time.Now(), body)
			h.Set("svix-signature", strings.Replace(h.Get("svix-signature"), "v1,", "v2,", 1))
			return h
		}, body, "no matching signature"},
		{"timestamp 6 minutes old", func() http.Header {
			return whHeaders(t, secret, msgID, time.Now().Add(-6*time.Minute), body)
		}, body, "5 minute tolerance"},
		{"timestamp 6 minutes ahead", func() http.Header {
			return whHeaders(t, secret, msgID, time.Now().Add(6*time.Minute), body)
		}, body, "5 minute tolerance"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			whWantError(t, h.post(t, tt.header(), tt.body), http.StatusBadRequest, tt.want)
		})
	}
	if n := h.countRows(t, "webhook_events"); n != 0 {
		t.Errorf("%d events recorded from unverified deliveries, want 0", n)
	}
	if n := h.countRows(t, "users"); n != 0 {
		t.Errorf("%d users written by unverified deliveries, want 0", n)
	}
	// The same body, properly signed, passes: the cases above failed for
	// their signature alone.
	h.wantProcessed(t, msgID, body, "user.created", webhooks.OutcomeApplied)
}

func TestWebhookNotAClerkEvent(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *bun.DB) {
		t.Parallel()
		h := whStartDefault(t, db)
		updatedAt := time.Now().Add(-time.Hour).UnixMilli()

		tests := []struct {
			name     string
			body     string
			wantType string
			want     string // part of the error
		}{
			{"not JSON", `hello`, "", "not a JSON object"},
			{"an array", `[{"type":"user.created"}]`, "", "not a JSON object"},
			{"a string", `"user.created"`, "", "not a JSON object"},
			{"no type", `{"object":"event","data":{"id":"user_x"}}`, "", `"type"`},
			{"type not a string", `{"type":5,"data":{"id":"user_x"}}`, "", `"type"`},
			{"data not an object", `{"type":"user.created","data":"user_x"}`, "user.created", `"data"`},
			{"data null", `{"type":"session.created","data":null}`, "session.created", `"data"`},
			{"user.created without data.id", fmt.Sprintf(`{"type":"user.created","timestamp":%d,"data":{"first_name":"No","updated_at":%d}}`, updatedAt, updatedAt),
				"user.created", `"data.id"`},
			{"user.updated with a numeric data.id", fmt.Sprintf(`{"type":"user.updated","data":{"id":42,"updated_at":%d}}`, updatedAt),
				"user.updated", `"data.id"`},
			{"user.deleted with an empty data.id", fmt.Sprintf(`{"type":"user.deleted","timestamp":%d,"data":{"id":"","deleted":true}}`, updatedAt),
				"user.deleted", `"data.id"`},
		}
		// The deliveries run in parallel inside one group, which returns
		// only when all of them are done.
		t.Run("deliveries", func(t *testing.T) {
			for i, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					msgID := fmt.Sprintf("msg_bad_%d", i)
					whWantError(t, h.deliver(t, msgID, []byte(tt.body)), http.StatusUnprocessableEntity, tt.want)
					ev := h.storedEvent(t, msgID)
					if ev.Outcome != webhooks.OutcomeFailed || ev.Type != tt.wantType || ev.Attempts != 1 {
						t.Errorf("record: %q %s attempts %d, want %q failed attempts 1", ev.Type, ev.Outcome, ev.Attempts, tt.wantType)
					}
					if ev.Error == nil || !strings.Contains(*ev.Error, tt.want) {
						t.Errorf("recorded error = %v, want one containing %q", ev.Error, tt.want)
					}
					if ev.LastAppliedAt != nil {
						t.Errorf("last_applied_at = %v, want null: nothing reached the users service", ev.LastAppliedAt)
					}
				})
			}
		})
		if n := h.countRows(t, "users"); n != 0 {
			t.Errorf("%d users written by bodies that are not Clerk events", n)
		}
	})
}

func TestWebhookBodyLimit(t *testing.T) {
	t.Parallel()
	h := whStartDefault(t, dbtest.Open(t, dbtest.SQLiteURL(t)))
	// 256 KiB: Clerk user objects with metadata can exceed 64 KiB, and a
	// 413 would make Svix retry until it gives up on the endpoint.
	const limit = 256 << 10
	// padded is a real user event grown to exactly size bytes by an
	// unknown field, which Clerk may add at any time.
	padded := func(t *testing.T, id string, size int) []byte {
		t.Helper()
		var data map[string]any
		base := whUserEvent(t, "user.created", id, id+"@example.com", "Big", "", time.Now().Add(-time.Hour))
		if err := json.Unmarshal(base, &data); err != nil {
			t.Fatal(err)
		}
		data["padding"] = ""
		b, _ := json.Marshal(data)
		data["padding"] = strings.Repeat("x", size-len(b))
		b, _ = json.Marshal(data)
		if len(b) != size {
			t.Fatalf("padded body is %d bytes, want %d", len(b), size)
		}
		return b
	}

	whWantError(t, h.deliver(t, "msg_big", padded(t, "user_big", limit+1)), http.StatusRequestEntityTooLarge, "larger than")
	h.wantNotRecorded(t, "msg_big")
	whWantError(t, h.deliver(t, "msg_huge", padded(t, "user_huge", 1<<20)), http.StatusRequestEntityTooLarge, "larger than")
	h.wantNotRecorded(t, "msg_huge")
	if n := h.countRows(t, "users"); n != 0 {
		t.Errorf("%d users written from oversized bodies", n)
	}
	// Exactly at the limit is accepted, and so is a user of 100 KiB of metadata.
	h.wantProcessed(t, "msg_limit", padded(t, "user_limit", limit), "user.created", webhooks.OutcomeApplied)
	h.wantProcessed(t, "msg_100k", padded(t, "user_100k", 100<<10), "user.created", webhooks.OutcomeApplied)
}

func TestWebhookNotConfigured(t *testing.T) {
	t.Parallel()
	h := whStart(t, dbtest.Open(t, dbtest.SQLiteURL(t)), whConfig{})
	body := whUserEvent(t, "user.created", "user_503", "x@example.com", "X", "", time.Now().Add(-time.Hour))
	res := h.post(t, whHeaders(t, whNewSecret(t), "msg_503", time.Now(), body), body)
	whWantError(t, res, http.StatusServiceUnavailable, "is not configured")
	whWantError(t, h.post(t, http.Header{}, body), http.StatusServiceUnavailable, "CLERK_WEBHOOK_SIGNING_SECRET")
	h.wantNotRecorded(t, "msg_503")
}

func TestWebhookDatabaseFailure(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *bun.DB) {
		t.Parallel()
		h := whStartDefault(t, db)
		ctx := context.Background()
		body := whUserEvent(t, "user.created", "user_dbfail", "dbfail@example.com", "Db", "", time.Now().Add(-time.Hour))

		// The upsert fails after the event's transaction has begun.
		if _, err := db.ExecContext(ctx, "ALTER TABLE users RENAME TO users_away"); err != nil {
			t.Fatal(err)
		}
		res := h.deliver(t, "msg_dbfail", body)
		whWantError(t, res, http.StatusInternalServerError, "Database error occurred")
		if msg := strings.ToLower(string(res.body)); strings.Contains(msg, "users_away") || strings.Contains(msg, "sql") {
			t.Errorf("the 500 body leaks the cause: %s", res.body)
		}
		if _, err := db.ExecContext(ctx, "ALTER TABLE users_away RENAME TO users"); err != nil {
			t.Fatal(err)
		}
		if n := h.countRows(t, "webhook_events"); n != 0 {
			t.Errorf("%d events recorded by a failed delivery, want 0 (Svix retries it)", n)
		}
		if !strings.Contains(h.logs.String(), `"msg":"request failed"`) {
			t.Errorf("the database failure was not logged:\n%s", h.logs)
		}

		// Svix's retry then goes through as the first delivery.
		h.wantProcessed(t, "msg_dbfail", body, "user.created", webhooks.OutcomeApplied)
		if ev := h.storedEvent(t, "msg_dbfail"); ev.Attempts != 1 {
			t.Errorf("attempts = %d after a failed and a good delivery, want 1", ev.Attempts)
		}
	})
}

func TestWebhookDatabaseClosed(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *bun.DB) {
		t.Parallel()
		h := whStartDefault(t, db)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		body := whUserEvent(t, "user.created", "user_closed", "closed@example.com", "C", "", time.Now().Add(-time.Hour))
		whWantError(t, h.deliver(t, "msg_closed", body), http.StatusInternalServerError, "Database error occurred")
	})
}

func TestWebhookIsPublic(t *testing.T) {
	t.Parallel()
	h := whStart(t, dbtest.Open(t, dbtest.SQLiteURL(t)), whConfig{
		secrets: []string{whNewSecret(t)}, adminToken: whRandom(t, "adm_"), sessionKey: testkit.NewKey(t, "ins_wh"),
	})
	version := time.Now().Add(-time.Hour)
	for i, auth := range []string{"", "Bearer not-a-session-token", "Bearer " + h.cfg.adminToken} {
		t.Run(fmt.Sprintf("authorization %q", strings.SplitN(auth, " ", 2)[0]), func(t *testing.T) {
			msgID := fmt.Sprintf("msg_public_%d", i)
			body := whUserEvent(t, "user.created", fmt.Sprintf("user_public_%d", i), "p@example.com", "P", "", version)
			header := whHeaders(t, h.cfg.secrets[0], msgID, time.Now(), body)
			if auth != "" {
				header.Set("Authorization", auth)
			}
			whWantJSON(t, h.post(t, header, body), http.StatusOK,
				map[string]any{"svix_id": msgID, "type": "user.created", "outcome": "applied"})
		})
	}
}

// admEventKeys are the keys of an event in the admin API, in order.
var admEventKeys = []string{"attempts", "clerk_user_id", "error", "first_received_at", "last_applied_at",
	"last_received_at", "outcome", "svix_id", "type"}

// whKeys returns the sorted keys of a JSON object.
func whKeys(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s is not a JSON object: %v", raw, err)
	}
	return slices.Sorted(maps.Keys(m))
}
