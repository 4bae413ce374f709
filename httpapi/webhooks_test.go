package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/usersync/usersync/testkit"
	"github.com/usersync/usersync/users"
	"github.com/usersync/usersync/webhooks"
)

func TestWebhookFixtures(t *testing.T) {
	t.Parallel()
	eachWebhookServer(t, whDefault(t), func(t *testing.T, h *whHarness) {

		tests := []struct {
			file    string
			typ     string
			user    string // "" for a non-user event
			outcome webhooks.Outcome
			want    whStoredUser
		}{
			{"user_created_phone_only.json", "user.created", "user_2hR3aPh0nE0nLyUs3rXyZ9WvQtB", webhooks.OutcomeApplied,
				whStoredUser{Name: ptrTo("Kwame Mensah")}},
			{"user_created_null_names.json", "user.created", "user_2hS0NoNameUs3rQv6Mj2Hk9Rt4", webhooks.OutcomeApplied,
				whStoredUser{Email: ptrTo("no-name@example.net")}},
			{"user_created_first_name_only.json", "user.created", "user_2hT1Ch3rUsRk7Bd3Yf5Gm1Pw8Q", webhooks.OutcomeApplied,
				whStoredUser{Email: ptrTo("cher@example.com"), Name: ptrTo("Cher")}},
			{"user_updated_unknown_fields.json", "user.updated", "user_2hX4Fu7uR3Us3rRk2Bd9Yf5Gm7", webhooks.OutcomeApplied,
				whStoredUser{Email: ptrTo("ines@example.com"), Name: ptrTo("Inès de Castro")}},
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
			h.wantUser(t, id, whStoredUser{Email: ptrTo("marguerite@example.com"), Name: ptrTo("Marguerite Duras")})

			h.wantProcessed(t, "msg_life_2", whFixture(t, "user_updated.json"), "user.updated", webhooks.OutcomeApplied)
			h.wantUser(t, id, whStoredUser{Email: ptrTo("m.duras@example.org"), Name: ptrTo("Marguerite Donnadieu")})

			h.wantProcessed(t, "msg_life_3", whFixture(t, "user_deleted.json"), "user.deleted", webhooks.OutcomeApplied)
			h.wantUser(t, id, whStoredUser{Deleted: true})
			h.wantDeleted(t, id)
			// A second delete changes nothing.
			h.wantProcessed(t, "msg_life_4", testkit.DeletedEvent(id, time.UnixMilli(1717600000000).Add(time.Hour)),
				"user.deleted", webhooks.OutcomeUnchanged)
		})
	})
}

func TestWebhookDuplicateDelivery(t *testing.T) {
	t.Parallel()
	eachWebhookServer(t, whDefault(t), func(t *testing.T, h *whHarness) {
		body := testkit.UserEvent("user.created", "user_dup", "dup@example.com", "Dup", "Licate", time.Now().Add(-time.Hour))

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
		h.wantUser(t, "user_dup", whStoredUser{Email: ptrTo("dup@example.com"), Name: ptrTo("Dup Licate")})
	})
}

func TestWebhookOutOfOrder(t *testing.T) {
	t.Parallel()
	eachWebhookServer(t, whDefault(t), func(t *testing.T, h *whHarness) {
		v1 := time.Now().Add(-2 * time.Hour)
		v2 := v1.Add(time.Minute)
		// The newer update arrives first.
		h.wantProcessed(t, "msg_ooo_2", testkit.UserEvent("user.updated", "user_ooo", "new@example.com", "New", "", v2),
			"user.updated", webhooks.OutcomeApplied)
		h.wantProcessed(t, "msg_ooo_1", testkit.UserEvent("user.created", "user_ooo", "old@example.com", "Old", "", v1),
			"user.created", webhooks.OutcomeStale)
		h.wantUser(t, "user_ooo", whStoredUser{Email: ptrTo("new@example.com"), Name: ptrTo("New")})
		if got := h.storedEvent(t, "msg_ooo_1").Outcome; got != webhooks.OutcomeStale {
			t.Errorf("recorded outcome = %s, want stale", got)
		}
	})
}

func TestWebhookDeleteThenLateUpdate(t *testing.T) {
	t.Parallel()
	key := testkit.NewKey(t, "ins_wh")
	eachWebhookServer(t, whConfig{secrets: []string{testkit.NewWebhookSecret(t)}, sessionKey: key}, func(t *testing.T, h *whHarness) {
		v1 := time.Now().Add(-3 * time.Hour)
		deletedAt := v1.Add(time.Hour)

		h.wantProcessed(t, "msg_late_1", testkit.UserEvent("user.created", "user_late", "late@example.com", "Late", "", v1),
			"user.created", webhooks.OutcomeApplied)
		h.wantProcessed(t, "msg_late_2", testkit.DeletedEvent("user_late", deletedAt), "user.deleted", webhooks.OutcomeApplied)
		// Late deliveries, one of them even newer than the tombstone.
		h.wantProcessed(t, "msg_late_3", testkit.UserEvent("user.updated", "user_late", "older@example.com", "Older", "", v1.Add(time.Minute)),
			"user.updated", webhooks.OutcomeStale)
		h.wantProcessed(t, "msg_late_4", testkit.UserEvent("user.updated", "user_late", "newer@example.com", "Newer", "", deletedAt.Add(time.Minute)),
			"user.updated", webhooks.OutcomeStale)
		h.wantUser(t, "user_late", whStoredUser{Deleted: true})

		wantErrorContaining(t, h.sync(t, "user_late", "late@example.com", time.Now()), http.StatusGone, "deleted")
		h.wantUser(t, "user_late", whStoredUser{Deleted: true})
	})
}

func TestWebhookRedeliveryIsProcessedAgain(t *testing.T) {
	t.Parallel()
	eachWebhookServer(t, whDefault(t), func(t *testing.T, h *whHarness) {
		body := testkit.UserEvent("user.created", "user_again", "again@example.com", "Again", "", time.Now().Add(-time.Hour))
		h.wantProcessed(t, "msg_again", body, "user.created", webhooks.OutcomeApplied)

		// The row is lost (say, a restore from an older backup): the
		// redelivery must go through the upsert again, not be skipped as
		// already seen.
		if _, err := h.db.NewDelete().Model((*users.User)(nil)).Where("clerk_user_id = ?", "user_again").
			Exec(context.Background()); err != nil {
			t.Fatal(err)
		}
		h.wantProcessed(t, "msg_again", body, "user.created", webhooks.OutcomeApplied)
		h.wantUser(t, "user_again", whStoredUser{Email: ptrTo("again@example.com"), Name: ptrTo("Again")})
		if ev := h.storedEvent(t, "msg_again"); ev.Attempts != 2 || ev.Outcome != webhooks.OutcomeApplied {
			t.Errorf("record: attempts %d outcome %s, want 2 applied", ev.Attempts, ev.Outcome)
		}
	})
}

func TestWebhookSecretRotation(t *testing.T) {
	t.Parallel()
	oldSecret, newSecret, otherSecret := testkit.NewWebhookSecret(t), testkit.NewWebhookSecret(t), testkit.NewWebhookSecret(t)
	h := whStart(t, sqliteDB(t), whConfig{secrets: []string{oldSecret, newSecret}})
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
			body := testkit.UserEvent("user.created", userID, fmt.Sprintf("rot%d@example.com", i), "Rot", "", version)
			now := time.Now()
			header := testkit.SignedHeaders(t, oldSecret, msgID, now, body)
			header.Set("svix-signature", tt.signature(msgID, now, body))
			res := h.post(t, header, body)
			if !tt.wantOK {
				wantErrorContaining(t, res, http.StatusBadRequest, "no matching signature")
				h.wantNotRecorded(t, msgID)
				return
			}
			wantBody(t, res, http.StatusOK, map[string]any{"svix_id": msgID, "type": "user.created", "outcome": "applied"})
			h.wantUser(t, userID, whStoredUser{Email: ptrTo(fmt.Sprintf("rot%d@example.com", i)), Name: ptrTo("Rot")})
		})
	}
}

func TestWebhookAlternateHeaders(t *testing.T) {
	t.Parallel()
	h := whStart(t, sqliteDB(t), whDefault(t))
	body := testkit.UserEvent("user.created", "user_alt", "alt@example.com", "Alt", "", time.Now().Add(-time.Hour))
	now := time.Now()
	header := http.Header{}
	header.Set("Content-Type", "application/json")
	header.Set("webhook-id", "msg_alt")
	header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	header.Set("webhook-signature", whSign(t, h.cfg.secrets[0], "msg_alt", now, body))

	wantBody(t, h.post(t, header, body), http.StatusOK,
		map[string]any{"svix_id": "msg_alt", "type": "user.created", "outcome": "applied"})
	if ev := h.storedEvent(t, "msg_alt"); ev.Outcome != webhooks.OutcomeApplied {
		t.Errorf("recorded outcome = %s, want applied", ev.Outcome)
	}
	h.wantUser(t, "user_alt", whStoredUser{Email: ptrTo("alt@example.com"), Name: ptrTo("Alt")})
}

func TestWebhookRejectsSignatures(t *testing.T) {
	t.Parallel()
	h := whStart(t, sqliteDB(t), whDefault(t))
	secret := h.cfg.secrets[0]
	body := testkit.UserEvent("user.created", "user_forged", "forged@example.com", "Forged", "", time.Now().Add(-time.Hour))
	const msgID = "msg_forged"

	tests := []struct {
		name   string
		header func() http.Header
		body   []byte
		want   string
	}{
		{"no headers", func() http.Header { return http.Header{} }, body, "missing required headers"},
		{"no signature", func() http.Header {
			h := testkit.SignedHeaders(t, secret, msgID, time.Now(), body)
			h.Del("svix-signature")
			return h
		}, body, "svix-signature"},
		{"no id", func() http.Header {
			h := testkit.SignedHeaders(t, secret, msgID, time.Now(), body)
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
			h := testkit.SignedHeaders(t, secret, msgID, time.Now(), body)
			h.Set("svix-timestamp", "yesterday")
			return h
		}, body, "timestamp"},
		{"signed with another secret", func() http.Header {
			return testkit.SignedHeaders(t, testkit.NewWebhookSecret(t), msgID, time.Now(), body)
		}, body, "no matching signature"},
		{"body changed after signing", func() http.Header {
			return testkit.SignedHeaders(t, secret, msgID, time.Now(), body)
		}, bytes.Replace(body, []byte("forged@example.com"), []byte("victim@example.com"), 1), "no matching signature"},
		{"signature of another message id", func() http.Header {
			h := testkit.SignedHeaders(t, secret, "msg_other", time.Now(), body)
			h.Set("svix-id", msgID)
			return h
		}, body, "no matching signature"},
		{"signature of another timestamp", func() http.Header {
			h := testkit.SignedHeaders(t, secret, msgID, time.Now().Add(-time.Minute), body)
			h.Set("svix-timestamp", strconv.FormatInt(time.Now().Unix(), 10))
			return h
		}, body, "no matching signature"},
		{"not a v1 signature", func() http.Header {
			h := testkit.SignedHeaders(t, secret, msgID, time.Now(), body)
			h.Set("svix-signature", strings.Replace(h.Get("svix-signature"), "v1,", "v2,", 1))
			return h
		}, body, "no matching signature"},
		{"timestamp 6 minutes old", func() http.Header {
			return testkit.SignedHeaders(t, secret, msgID, time.Now().Add(-6*time.Minute), body)
		}, body, "5 minute tolerance"},
		{"timestamp 6 minutes ahead", func() http.Header {
			return testkit.SignedHeaders(t, secret, msgID, time.Now().Add(6*time.Minute), body)
		}, body, "5 minute tolerance"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantErrorContaining(t, h.post(t, tt.header(), tt.body), http.StatusBadRequest, tt.want)
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
	eachWebhookServer(t, whDefault(t), func(t *testing.T, h *whHarness) {
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
					wantErrorContaining(t, h.deliver(t, msgID, []byte(tt.body)), http.StatusUnprocessableEntity, tt.want)
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
	h := whStart(t, sqliteDB(t), whDefault(t))
	// 256 KiB: Clerk user objects with metadata can exceed 64 KiB, and a
	// 413 would make Svix retry until it gives up on the endpoint.
	const limit = 256 << 10
	// padded is a real user event grown to exactly size bytes by an
	// unknown field, which Clerk may add at any time.
	padded := func(t *testing.T, id string, size int) []byte {
		t.Helper()
		var data map[string]any
		base := testkit.UserEvent("user.created", id, id+"@example.com", "Big", "", time.Now().Add(-time.Hour))
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

	wantErrorContaining(t, h.deliver(t, "msg_big", padded(t, "user_big", limit+1)), http.StatusRequestEntityTooLarge, "larger than")
	h.wantNotRecorded(t, "msg_big")
	wantErrorContaining(t, h.deliver(t, "msg_huge", padded(t, "user_huge", 1<<20)), http.StatusRequestEntityTooLarge, "larger than")
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
	h := whStart(t, sqliteDB(t), whConfig{})
	body := testkit.UserEvent("user.created", "user_503", "x@example.com", "X", "", time.Now().Add(-time.Hour))
	res := h.post(t, testkit.SignedHeaders(t, testkit.NewWebhookSecret(t), "msg_503", time.Now(), body), body)
	wantErrorContaining(t, res, http.StatusServiceUnavailable, "is not configured")
	wantErrorContaining(t, h.post(t, http.Header{}, body), http.StatusServiceUnavailable, "CLERK_WEBHOOK_SIGNING_SECRET")
	h.wantNotRecorded(t, "msg_503")
}

func TestWebhookDatabaseFailure(t *testing.T) {
	t.Parallel()
	eachWebhookServer(t, whDefault(t), func(t *testing.T, h *whHarness) {
		ctx := context.Background()
		body := testkit.UserEvent("user.created", "user_dbfail", "dbfail@example.com", "Db", "", time.Now().Add(-time.Hour))

		// The upsert fails after the event's transaction has begun.
		if _, err := h.db.ExecContext(ctx, "ALTER TABLE users RENAME TO users_away"); err != nil {
			t.Fatal(err)
		}
		res := h.deliver(t, "msg_dbfail", body)
		wantErrorContaining(t, res, http.StatusInternalServerError, "Database error occurred")
		if msg := strings.ToLower(string(res.body)); strings.Contains(msg, "users_away") || strings.Contains(msg, "sql") {
			t.Errorf("the 500 body leaks the cause: %s", res.body)
		}
		if _, err := h.db.ExecContext(ctx, "ALTER TABLE users_away RENAME TO users"); err != nil {
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
	eachWebhookServer(t, whDefault(t), func(t *testing.T, h *whHarness) {
		if err := h.db.Close(); err != nil {
			t.Fatal(err)
		}
		body := testkit.UserEvent("user.created", "user_closed", "closed@example.com", "C", "", time.Now().Add(-time.Hour))
		wantErrorContaining(t, h.deliver(t, "msg_closed", body), http.StatusInternalServerError, "Database error occurred")
	})
}

func TestWebhookIsPublic(t *testing.T) {
	t.Parallel()
	h := whStart(t, sqliteDB(t), whConfig{
		secrets: []string{testkit.NewWebhookSecret(t)}, adminToken: whRandom(t, "adm_"), sessionKey: testkit.NewKey(t, "ins_wh"),
	})
	version := time.Now().Add(-time.Hour)
	for i, auth := range []string{"", "Bearer not-a-session-token", "Bearer " + h.cfg.adminToken} {
		t.Run(fmt.Sprintf("authorization %q", strings.SplitN(auth, " ", 2)[0]), func(t *testing.T) {
			msgID := fmt.Sprintf("msg_public_%d", i)
			body := testkit.UserEvent("user.created", fmt.Sprintf("user_public_%d", i), "p@example.com", "P", "", version)
			header := testkit.SignedHeaders(t, h.cfg.secrets[0], msgID, time.Now(), body)
			if auth != "" {
				header.Set("Authorization", auth)
			}
			wantBody(t, h.post(t, header, body), http.StatusOK,
				map[string]any{"svix_id": msgID, "type": "user.created", "outcome": "applied"})
		})
	}
}

// The admin routes over the same event log: list, get and replay. Their
// helpers are prefixed adm.

// admEventKeys are the keys of an event in the admin API, in order.
var admEventKeys = []string{"attempts", "clerk_user_id", "error", "first_received_at", "last_applied_at",
	"last_received_at", "outcome", "svix_id", "type"}

// admEvent is an event as the admin API shows it.
type admEvent struct {
	SvixID          string          `json:"svix_id"`
	Type            string          `json:"type"`
	ClerkUserID     *string         `json:"clerk_user_id"`
	Outcome         string          `json:"outcome"`
	Error           *string         `json:"error"`
	Attempts        int             `json:"attempts"`
	FirstReceivedAt time.Time       `json:"first_received_at"`
	LastReceivedAt  time.Time       `json:"last_received_at"`
	LastAppliedAt   *time.Time      `json:"last_applied_at"`
	Payload         json.RawMessage `json:"payload,omitempty"`
}

func admAuth(token string) http.Header {
	h := http.Header{}
	h.Set("Authorization", "Bearer "+token)
	return h
}

// admin sends an authorized admin request.
func (h *whHarness) admin(t *testing.T, method, path string, body []byte) response {
	t.Helper()
	header := admAuth(h.cfg.adminToken)
	if body != nil {
		header.Set("Content-Type", "application/json")
	}
	return h.do(t, method, path, header, body)
}

// admDecodeEvent checks an event object's keys (wantKeys) and timestamp
// formats, and decodes it.
func admDecodeEvent(t *testing.T, raw json.RawMessage, wantKeys []string) admEvent {
	t.Helper()
	if diff := cmp.Diff(wantKeys, jsonKeys(t, raw)); diff != "" {
		t.Fatalf("event keys mismatch (-want +got):\n%s\nevent %s", diff, raw)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"first_received_at", "last_received_at", "last_applied_at"} {
		var v *string // null or a timestamp
		if err := json.Unmarshal(fields[k], &v); err != nil || v != nil && !utcTimestamp.MatchString(*v) {
			t.Errorf("%s = %s, want RFC 3339 in UTC ending in Z", k, fields[k])
		}
	}
	var ev admEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatalf("event %s: %v", raw, err)
	}
	return ev
}

// list GETs one page of the event list; query is the raw query string.
func (h *whHarness) list(t *testing.T, query string) (events []admEvent, nextCursor *string) {
	t.Helper()
	res := h.admin(t, http.MethodGet, "/api/admin/webhook-events?"+query, nil)
	if res.status != http.StatusOK {
		t.Fatalf("list ?%s = %d %s", query, res.status, res.body)
	}
	if diff := cmp.Diff([]string{"events", "next_cursor"}, jsonKeys(t, res.body)); diff != "" {
		t.Fatalf("list body keys mismatch (-want +got):\n%s", diff)
	}
	var page struct {
		Events     []json.RawMessage `json:"events"`
		NextCursor *string           `json:"next_cursor"`
	}
	if err := json.Unmarshal(res.body, &page); err != nil {
		t.Fatal(err)
	}
	if page.Events == nil {
		t.Fatalf("events = null, want an array: %s", res.body)
	}
	events = []admEvent{}
	for _, raw := range page.Events {
		// No payload in the list.
		events = append(events, admDecodeEvent(t, raw, admEventKeys))
	}
	return events, page.NextCursor
}

// getEvent GETs one event, which must exist.
func (h *whHarness) getEvent(t *testing.T, svixID string) admEvent {
	t.Helper()
	res := h.admin(t, http.MethodGet, "/api/admin/webhook-events/"+svixID, nil)
	if res.status != http.StatusOK {
		t.Fatalf("GET event %s = %d %s", svixID, res.status, res.body)
	}
	return admDecodeEvent(t, res.body, slices.Sorted(slices.Values(append([]string{"payload"}, admEventKeys...))))
}

func admIDs(events []admEvent) []string {
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.SvixID
	}
	return ids
}

// admSeeded is one event of admSeed's log.
type admSeeded struct {
	id      string
	at      time.Duration // received at t0 + at
	typ     string
	user    *string
	outcome string
}

// admT0 is when the seeded log begins.
var admT0 = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

// admSeed delivers eight events through the service, received at known
// times (three of them at the same instant), and returns them oldest first.
func admSeed(t *testing.T, h *whHarness) []admSeeded {
	t.Helper()
	v0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	seeds := []struct {
		admSeeded
		body []byte
	}{
		{admSeeded{"evt_01", 0, "user.created", ptrTo("user_a"), "applied"},
			testkit.UserEvent("user.created", "user_a", "a1@example.com", "Ann", "", v0)},
		{admSeeded{"evt_02", time.Minute, "user.updated", ptrTo("user_a"), "applied"},
			testkit.UserEvent("user.updated", "user_a", "a2@example.com", "Ann", "", v0.Add(time.Hour))},
		{admSeeded{"evt_03", 2 * time.Minute, "user.updated", ptrTo("user_a"), "stale"},
			testkit.UserEvent("user.updated", "user_a", "a3@example.com", "Ann", "", v0.Add(30*time.Minute))},
		{admSeeded{"evt_04", 3 * time.Minute, "session.created", nil, "ignored"},
			testkit.Envelope(t, "session.created", map[string]any{"id": "sess_1", "object": "session", "user_id": "user_a"}, v0)},
		{admSeeded{"evt_05", 4 * time.Minute, "user.updated", nil, "failed"},
			[]byte(`{"type":"user.updated","data":{"first_name":"Nobody"}}`)},
		{admSeeded{"evt_06", 5 * time.Minute, "user.created", ptrTo("user_b"), "applied"},
			testkit.UserEvent("user.created", "user_b", "b@example.com", "Bo", "", v0)},
		{admSeeded{"evt_07", 5 * time.Minute, "user.updated", ptrTo("user_b"), "unchanged"},
			testkit.UserEvent("user.updated", "user_b", "b@example.com", "Bo", "", v0.Add(time.Hour))},
		{admSeeded{"evt_08", 5 * time.Minute, "user.deleted", ptrTo("user_c"), "applied"},
			testkit.DeletedEvent("user_c", v0)},
	}
	out := make([]admSeeded, len(seeds))
	for i, s := range seeds {
		res, err := h.events.Deliver(context.Background(), s.id, s.body, admT0.Add(s.at))
		if err != nil && !(s.outcome == "failed" && errors.Is(err, webhooks.ErrNotClerkEvent)) {
			t.Fatalf("Deliver(%s): %v", s.id, err)
		}
		if string(res.Outcome) != s.outcome {
			t.Fatalf("Deliver(%s) = %s, want %s", s.id, res.Outcome, s.outcome)
		}
		out[i] = s.admSeeded
	}
	return out
}

// admNewestFirst is the list order of admSeed's events.
var admNewestFirst = []string{"evt_08", "evt_07", "evt_06", "evt_05", "evt_04", "evt_03", "evt_02", "evt_01"}

// admRoutes are the admin routes, with a request each would accept.
var admRoutes = []struct {
	method, path string
	body         []byte
}{
	{http.MethodGet, "/api/admin/webhook-events", nil},
	{http.MethodGet, "/api/admin/webhook-events/evt_01", nil},
	{http.MethodPost, "/api/admin/webhook-events/evt_01/replay", nil},
	{http.MethodPost, "/api/admin/webhook-events/replay", []byte(`{}`)},
}

func TestAdminDisabledWithoutToken(t *testing.T) {
	t.Parallel()
	h := whStart(t, sqliteDB(t), whConfig{secrets: []string{testkit.NewWebhookSecret(t)}})
	admSeed(t, h)
	for _, r := range admRoutes {
		// An empty bearer must not match the empty token.
		for _, auth := range []string{"", "Bearer ", "Bearer anything"} {
			t.Run(fmt.Sprintf("%s %s %q", r.method, r.path, auth), func(t *testing.T) {
				header := http.Header{}
				if auth != "" {
					header.Set("Authorization", auth)
				}
				wantErrorContaining(t, h.do(t, r.method, r.path, header, r.body), http.StatusNotFound, "not found")
			})
		}
	}
	if ev := h.storedEvent(t, "evt_01"); ev.LastAppliedAt == nil || ev.Outcome != webhooks.OutcomeApplied {
		t.Errorf("evt_01 = %+v after refused replays", ev)
	}
}

func TestAdminUnauthorized(t *testing.T) {
	t.Parallel()
	h := whStart(t, sqliteDB(t), whDefault(t))
	admSeed(t, h)
	before := h.storedEvent(t, "evt_01")
	token := h.cfg.adminToken
	for _, r := range admRoutes {
		for _, auth := range []string{"", "Bearer", "Bearer ", "Bearer wrong", "Bearer " + token + "x",
			"Bearer " + token[:len(token)-1], "Basic " + token, token} {
			t.Run(fmt.Sprintf("%s %s %q", r.method, r.path, strings.ReplaceAll(auth, token, "TOKEN")), func(t *testing.T) {
				header := http.Header{}
				if auth != "" {
					header.Set("Authorization", auth)
				}
				res := h.do(t, r.method, r.path, header, r.body)
				wantErrorContaining(t, res, http.StatusUnauthorized, "invalid admin token")
				if got := res.header.Get("WWW-Authenticate"); got != "Bearer" {
					t.Errorf("WWW-Authenticate = %q, want Bearer", got)
				}
			})
		}
	}
	if after := h.storedEvent(t, "evt_01"); !after.LastAppliedAt.Equal(*before.LastAppliedAt) {
		t.Errorf("an unauthorized replay went through: last_applied_at %v -> %v", before.LastAppliedAt, after.LastAppliedAt)
	}
	// The scheme is case-insensitive.
	header := http.Header{}
	header.Set("Authorization", "bearer "+token)
	if res := h.do(t, http.MethodGet, "/api/admin/webhook-events", header, nil); res.status != http.StatusOK {
		t.Errorf("lower-case bearer scheme: %d %s, want 200", res.status, res.body)
	}
}

func TestAdminList(t *testing.T) {
	t.Parallel()
	eachWebhookServer(t, whDefault(t), func(t *testing.T, h *whHarness) {
		seeds := admSeed(t, h)

		t.Run("everything newest first", func(t *testing.T) {
			t.Parallel()
			got, next := h.list(t, "")
			if next != nil {
				t.Errorf("next_cursor = %q, want null on the only page", *next)
			}
			var want []admEvent
			for _, s := range slices.Backward(seeds) {
				want = append(want, admEvent{
					SvixID: s.id, Type: s.typ, ClerkUserID: s.user, Outcome: s.outcome, Attempts: 1,
					FirstReceivedAt: admT0.Add(s.at), LastReceivedAt: admT0.Add(s.at),
				})
			}
			// Three events share a time: the svix id orders them.
			if diff := cmp.Diff(admNewestFirst, admIDs(got)); diff != "" {
				t.Errorf("order mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(admEvent{}, "Error", "LastAppliedAt")); diff != "" {
				t.Errorf("events mismatch (-want +got):\n%s", diff)
			}
			for _, e := range got {
				failed := e.Outcome == "failed"
				if failed != (e.Error != nil) {
					t.Errorf("%s: outcome %s with error %v", e.SvixID, e.Outcome, e.Error)
				}
				if failed != (e.LastAppliedAt == nil) {
					t.Errorf("%s: outcome %s with last_applied_at %v", e.SvixID, e.Outcome, e.LastAppliedAt)
				}
			}
		})

		at := func(d time.Duration) string { return admT0.Add(d).Format(time.RFC3339Nano) }
		tests := []struct {
			name  string
			query url.Values
			want  []string
		}{
			{"outcome", url.Values{"outcome": {"applied"}}, []string{"evt_08", "evt_06", "evt_02", "evt_01"}},
			{"failed", url.Values{"outcome": {"failed"}}, []string{"evt_05"}},
			{"type", url.Values{"type": {"user.updated"}}, []string{"evt_07", "evt_05", "evt_03", "evt_02"}},
			{"outcome and type", url.Values{"outcome": {"applied"}, "type": {"user.created"}}, []string{"evt_06", "evt_01"}},
			{"unknown type", url.Values{"type": {"user.nothing"}}, []string{}},
			{"since is inclusive", url.Values{"since": {at(2 * time.Minute)}},
				[]string{"evt_08", "evt_07", "evt_06", "evt_05", "evt_04", "evt_03"}},
			{"until is exclusive", url.Values{"until": {at(2 * time.Minute)}}, []string{"evt_02", "evt_01"}},
			{"since and until", url.Values{"since": {at(time.Minute)}, "until": {at(4 * time.Minute)}},
				[]string{"evt_04", "evt_03", "evt_02"}},
			{"since with an offset", url.Values{"since": {"2026-11-20T10:04:00+01:00"}}, []string{"evt_08", "evt_07", "evt_06", "evt_05"}},
			{"since a fraction after", url.Values{"since": {at(4*time.Minute + time.Millisecond)}}, []string{"evt_08", "evt_07", "evt_06"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				got, next := h.list(t, tt.query.Encode())
				if diff := cmp.Diff(tt.want, admIDs(got)); diff != "" {
					t.Errorf("?%s mismatch (-want +got):\n%s", tt.query.Encode(), diff)
				}
				if next != nil {
					t.Errorf("next_cursor = %q, want null", *next)
				}
			})
		}

		t.Run("paging", func(t *testing.T) {
			t.Parallel()
			for _, tt := range []struct {
				query url.Values
				want  []string
			}{
				{url.Values{"limit": {"1"}}, admNewestFirst},
				{url.Values{"limit": {"2"}}, admNewestFirst},
				{url.Values{"limit": {"3"}}, admNewestFirst},
				{url.Values{"limit": {"7"}}, admNewestFirst},
				{url.Values{"limit": {"8"}}, admNewestFirst},
				{url.Values{"limit": {"500"}}, admNewestFirst},
				{url.Values{"limit": {"1"}, "outcome": {"applied"}}, []string{"evt_08", "evt_06", "evt_02", "evt_01"}},
				{url.Values{"limit": {"2"}, "since": {at(time.Minute)}}, admNewestFirst[:7]},
			} {
				limit := 0
				fmt.Sscan(tt.query.Get("limit"), &limit)
				var got []string
				q := tt.query
				for pages := 0; ; pages++ {
					if pages > len(tt.want) {
						t.Fatalf("?%s: more pages than events", tt.query.Encode())
					}
					events, next := h.list(t, q.Encode())
					got = append(got, admIDs(events)...)
					if next == nil {
						if len(events) > limit {
							t.Errorf("?%s: last page has %d events, more than the limit", tt.query.Encode(), len(events))
						}
						break
					}
					if len(events) != limit {
						t.Errorf("?%s: a page with a next cursor has %d events, want %d", tt.query.Encode(), len(events), limit)
					}
					q = url.Values{"cursor": {*next}}
					for k, v := range tt.query {
						q[k] = v
					}
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("?%s: pages cover (-want +got):\n%s", tt.query.Encode(), diff)
				}
			}
		})

		t.Run("bad parameters", func(t *testing.T) {
			t.Parallel()
			_, cursor := h.list(t, "limit=3")
			if cursor == nil {
				t.Fatal("no next cursor after 3 of 8 events")
			}
			for _, tt := range []struct {
				query url.Values
				want  string
			}{
				{url.Values{"limit": {"0"}}, "limit"},
				{url.Values{"limit": {"-1"}}, "limit"},
				{url.Values{"limit": {"ten"}}, "limit"},
				{url.Values{"limit": {"2.5"}}, "limit"},
				{url.Values{"limit": {"501"}}, "limit"},
				{url.Values{"since": {"yesterday"}}, "since"},
				{url.Values{"since": {"2026-11-20"}}, "since"},
				{url.Values{"until": {"2026-13-01T00:00:00Z"}}, "until"},
				{url.Values{"since": {at(time.Minute)}, "until": {at(time.Minute)}}, "until must be after since"},
				{url.Values{"cursor": {"garbage"}}, "cursor"},
				{url.Values{"cursor": {(*cursor)[:len(*cursor)-2]}}, "cursor"},
				{url.Values{"cursor": {*cursor + "AA"}}, "cursor"},
				{url.Values{"outcome": {"bogus"}}, "outcome"},
				{url.Values{"outcome": {"Applied"}}, "outcome"},
			} {
				res := h.admin(t, http.MethodGet, "/api/admin/webhook-events?"+tt.query.Encode(), nil)
				wantErrorContaining(t, res, http.StatusBadRequest, tt.want)
			}
		})
	})
}

func TestAdminGetEvent(t *testing.T) {
	t.Parallel()
	eachWebhookServer(t, whDefault(t), func(t *testing.T, h *whHarness) {
		for _, tt := range []struct {
			file, id, typ, user string
		}{
			// Unknown fields, huge and exponent numbers, a non-ASCII name:
			// the payload is the delivered JSON, not a re-encoding of it.
			{"user_updated_unknown_fields.json", "msg_get_1", "user.updated", "user_2hX4Fu7uR3Us3rRk2Bd9Yf5Gm7"},
			{"user_created.json", "msg_get_2", "user.created", "user_2hQx7Nf3kVb1ZpQ8sLmTq4Wd0Ey"},
		} {
			t.Run(tt.file, func(t *testing.T) {
				raw := whFixture(t, tt.file)
				before := time.Now()
				h.wantProcessed(t, tt.id, raw, tt.typ, webhooks.OutcomeApplied)
				got := h.getEvent(t, tt.id)
				var want, gotPayload bytes.Buffer
				if err := json.Compact(&want, raw); err != nil {
					t.Fatal(err)
				}
				if err := json.Compact(&gotPayload, got.Payload); err != nil {
					t.Fatalf("payload %s: %v", got.Payload, err)
				}
				if diff := cmp.Diff(want.String(), gotPayload.String()); diff != "" {
					t.Errorf("payload is not the delivered JSON (-delivered +got):\n%s", diff)
				}
				if got.SvixID != tt.id || got.ClerkUserID == nil || *got.ClerkUserID != tt.user ||
					got.Type != tt.typ || got.Outcome != "applied" || got.Attempts != 1 || got.Error != nil {
					t.Errorf("event = %+v", got)
				}
				if got.FirstReceivedAt.Before(before.Add(-time.Second)) || got.LastAppliedAt == nil {
					t.Errorf("first_received_at %v, last_applied_at %v; want about now", got.FirstReceivedAt, got.LastAppliedAt)
				}
			})
		}

		t.Run("a body that is not JSON", func(t *testing.T) {
			wantErrorContaining(t, h.deliver(t, "msg_get_text", []byte("plain text")), http.StatusUnprocessableEntity, "not a JSON object")
			got := h.getEvent(t, "msg_get_text")
			if string(got.Payload) != `"plain text"` || got.Outcome != "failed" || got.Error == nil {
				t.Errorf("event = %+v, payload %s; want the body as a JSON string, failed", got, got.Payload)
			}
		})

		t.Run("unknown id", func(t *testing.T) {
			wantErrorContaining(t, h.admin(t, http.MethodGet, "/api/admin/webhook-events/msg_nope", nil),
				http.StatusNotFound, "webhook event not found")
		})
	})
}

func TestAdminReplayOne(t *testing.T) {
	t.Parallel()
	eachWebhookServer(t, whDefault(t), func(t *testing.T, h *whHarness) {
		ctx := context.Background()
		body := testkit.UserEvent("user.created", "user_replay", "replay@example.com", "Re", "Play", time.Now().Add(-time.Hour))
		h.wantProcessed(t, "msg_replay", body, "user.created", webhooks.OutcomeApplied)
		replay := func(t *testing.T, id string) response {
			t.Helper()
			return h.admin(t, http.MethodPost, "/api/admin/webhook-events/"+id+"/replay", nil)
		}

		before := h.getEvent(t, "msg_replay")
		wantBody(t, replay(t, "msg_replay"), http.StatusOK, map[string]any{"svix_id": "msg_replay", "outcome": "unchanged"})
		after := h.getEvent(t, "msg_replay")
		if after.Attempts != 1 {
			t.Errorf("attempts = %d after a replay, want 1: a replay is not a delivery", after.Attempts)
		}
		if !after.FirstReceivedAt.Equal(before.FirstReceivedAt) || !after.LastReceivedAt.Equal(before.LastReceivedAt) {
			t.Errorf("received times moved: %v..%v -> %v..%v", before.FirstReceivedAt, before.LastReceivedAt,
				after.FirstReceivedAt, after.LastReceivedAt)
		}
		if after.LastAppliedAt == nil || !after.LastAppliedAt.After(*before.LastAppliedAt) {
			t.Errorf("last_applied_at = %v, want after %v", after.LastAppliedAt, before.LastAppliedAt)
		}
		if after.Outcome != "unchanged" {
			t.Errorf("outcome = %s, want unchanged", after.Outcome)
		}

		// The replay goes through the upsert: a lost row comes back.
		if _, err := h.db.NewDelete().Model((*users.User)(nil)).Where("clerk_user_id = ?", "user_replay").Exec(ctx); err != nil {
			t.Fatal(err)
		}
		wantBody(t, replay(t, "msg_replay"), http.StatusOK, map[string]any{"svix_id": "msg_replay", "outcome": "applied"})
		h.wantUser(t, "user_replay", whStoredUser{Email: ptrTo("replay@example.com"), Name: ptrTo("Re Play")})

		// An event that is not a Clerk event replays as failed.
		wantErrorContaining(t, h.deliver(t, "msg_replay_bad", []byte(`{"type":"user.updated","data":{}}`)), http.StatusUnprocessableEntity, "data.id")
		wantBody(t, replay(t, "msg_replay_bad"), http.StatusOK, map[string]any{"svix_id": "msg_replay_bad", "outcome": "failed"})
		if ev := h.getEvent(t, "msg_replay_bad"); ev.Outcome != "failed" || ev.Attempts != 1 || ev.Error == nil {
			t.Errorf("failed event after replay = %+v", ev)
		}

		wantErrorContaining(t, replay(t, "msg_unknown"), http.StatusNotFound, "webhook event not found")
		wantErrorContaining(t, h.admin(t, http.MethodGet, "/api/admin/webhook-events/msg_replay/replay", nil),
			http.StatusMethodNotAllowed, "method not allowed")
	})
}

func TestAdminReplayKeepsNewerSync(t *testing.T) {
	t.Parallel()
	key := testkit.NewKey(t, "ins_wh")
	eachWebhookServer(t, whConfig{secrets: []string{testkit.NewWebhookSecret(t)}, adminToken: whRandom(t, "adm_"), sessionKey: key}, func(t *testing.T, h *whHarness) {
		body := testkit.UserEvent("user.created", "user_synced", "hook@example.com", "Hook", "", time.Now().Add(-time.Hour))
		h.wantProcessed(t, "msg_synced", body, "user.created", webhooks.OutcomeApplied)

		// The app syncs newer data (its token's iat is the version).
		if res := h.sync(t, "user_synced", "app@example.com", time.Now()); res.status != http.StatusOK {
			t.Fatalf("sync = %d %s", res.status, res.body)
		}
		want := whStoredUser{Email: ptrTo("app@example.com"), Name: ptrTo("Hook")}
		h.wantUser(t, "user_synced", want)

		wantBody(t, h.admin(t, http.MethodPost, "/api/admin/webhook-events/msg_synced/replay", nil), http.StatusOK,
			map[string]any{"svix_id": "msg_synced", "outcome": "stale"})
		h.wantUser(t, "user_synced", want)
		wantBody(t, h.admin(t, http.MethodPost, "/api/admin/webhook-events/replay", []byte(`{}`)), http.StatusOK,
			map[string]any{"matched": 1.0, "dry_run": false, "outcomes": map[string]any{"stale": 1.0}})
		h.wantUser(t, "user_synced", want)
	})
}

func TestAdminBulkReplay(t *testing.T) {
	t.Parallel()
	eachWebhookServer(t, whDefault(t), func(t *testing.T, h *whHarness) {
		admSeed(t, h)
		at := func(d time.Duration) string { return admT0.Add(d).Format(time.RFC3339Nano) }
		bulk := func(t *testing.T, body string) response {
			t.Helper()
			return h.admin(t, http.MethodPost, "/api/admin/webhook-events/replay", []byte(body))
		}
		applied := func() map[string]time.Time {
			out := map[string]time.Time{}
			events, _ := h.list(t, "")
			for _, e := range events {
				if e.Attempts != 1 {
					t.Errorf("%s: attempts = %d, want 1 whatever the replays", e.SvixID, e.Attempts)
				}
				if e.LastAppliedAt != nil {
					out[e.SvixID] = *e.LastAppliedAt
				}
			}
			return out
		}
		// wantAdvanced checks which events a replay went through.
		wantAdvanced := func(t *testing.T, before, after map[string]time.Time, want ...string) {
			t.Helper()
			var got []string
			for id, a := range after {
				if !a.Equal(before[id]) {
					got = append(got, id)
				}
			}
			slices.Sort(got)
			if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("events replayed (last_applied_at advanced) mismatch (-want +got):\n%s", diff)
			}
		}

		steps := []struct {
			name     string
			body     string
			want     map[string]any
			advanced []string
		}{
			{"dry run", `{"outcome":"stale","dry_run":true}`,
				map[string]any{"matched": 1.0, "dry_run": true, "outcomes": map[string]any{}}, nil},
			{"by type", `{"type":"user.updated"}`,
				map[string]any{"matched": 4.0, "dry_run": false, "outcomes": map[string]any{"unchanged": 2.0, "stale": 1.0, "failed": 1.0}},
				[]string{"evt_02", "evt_03", "evt_07"}},
			{"by time", fmt.Sprintf(`{"since":%q,"until":%q}`, at(5*time.Minute), at(6*time.Minute)),
				map[string]any{"matched": 3.0, "dry_run": false, "outcomes": map[string]any{"stale": 1.0, "unchanged": 2.0}},
				[]string{"evt_06", "evt_07", "evt_08"}},
			{"by outcome", `{"outcome":"ignored"}`,
				map[string]any{"matched": 1.0, "dry_run": false, "outcomes": map[string]any{"ignored": 1.0}},
				[]string{"evt_04"}},
			{"nothing matches", `{"type":"user.nothing"}`,
				map[string]any{"matched": 0.0, "dry_run": false, "outcomes": map[string]any{}}, nil},
			{"dry run of everything", `{"dry_run":true}`,
				map[string]any{"matched": 8.0, "dry_run": true, "outcomes": map[string]any{}}, nil},
			{"everything", `{}`,
				map[string]any{"matched": 8.0, "dry_run": false, "outcomes": map[string]any{
					"stale": 3.0, "unchanged": 3.0, "ignored": 1.0, "failed": 1.0}},
				[]string{"evt_01", "evt_02", "evt_03", "evt_04", "evt_06", "evt_07", "evt_08"}},
		}
		for _, step := range steps {
			t.Run(step.name, func(t *testing.T) {
				before := applied()
				wantBody(t, bulk(t, step.body), http.StatusOK, step.want)
				wantAdvanced(t, before, applied(), step.advanced...)
			})
		}
		// The seeded outcomes the replays reached are kept.
		wantOutcomes := map[string]string{"evt_01": "stale", "evt_02": "unchanged", "evt_03": "stale", "evt_04": "ignored",
			"evt_05": "failed", "evt_06": "stale", "evt_07": "unchanged", "evt_08": "unchanged"}
		events, _ := h.list(t, "")
		gotOutcomes := map[string]string{}
		for _, e := range events {
			gotOutcomes[e.SvixID] = e.Outcome
		}
		if diff := cmp.Diff(wantOutcomes, gotOutcomes); diff != "" {
			t.Errorf("outcomes after the replays (-want +got):\n%s", diff)
		}
		h.wantUser(t, "user_a", whStoredUser{Email: ptrTo("a2@example.com"), Name: ptrTo("Ann")})
		h.wantUser(t, "user_c", whStoredUser{Deleted: true})

		t.Run("bad requests", func(t *testing.T) {
			for _, tt := range []struct{ body, want string }{
				{`{"outcome":"bogus"}`, "outcome"},
				{`not json`, "not valid JSON"},
				{`{"since":"yesterday"}`, ""},
				{fmt.Sprintf(`{"since":%q,"until":%q}`, at(time.Minute), at(time.Minute)), "until must be after since"},
				{`{"dry_run":"yes"}`, "dry_run"},
			} {
				before := applied()
				wantErrorContaining(t, bulk(t, tt.body), http.StatusBadRequest, tt.want)
				wantAdvanced(t, before, applied())
			}
		})
	})
}
