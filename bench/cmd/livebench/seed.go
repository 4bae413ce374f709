package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/usersync/usersync/bench"
)

// user is one signed-in user of the benchmark and the one device they own.
type user struct {
	n           int
	clerkID     string
	session     string // Clerk session token, valid for the whole run
	deviceID    int64
	ingestToken string
	seedMs      int64 // recorded_at of the point the device reported before any stream opened
}

// sessionTTL outlives any run: a stream ends when its token expires.
const sessionTTL = 3 * time.Hour

// seedUsers creates n users through the server's own routes, as the app
// would: a session token each, POST /api/auth/sync, POST /api/devices,
// and one OsmAnd report of the new device, so that every stream opens
// with a snapshot. conns requests run at a time.
func seedUsers(ctx context.Context, addr string, clerk *bench.Clerk, n, conns int) ([]*user, error) {
	users := make([]*user, n)
	iat := time.Now().Add(-time.Second)
	seedMs := time.Now().Add(-time.Minute).UnixMilli()
	var (
		mu       sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		firstErr = errors.Join(firstErr, err)
	}
	fanOut(ctx, n, conns, func(next <-chan int) {
		c, err := bench.Dial(addr)
		if err != nil {
			fail(err)
			for range next {
			}
			return
		}
		defer c.Close()
		for i := range next {
			u, err := seedUser(c, addr, clerk, i+1, iat, seedMs)
			if err != nil {
				fail(fmt.Errorf("user %d: %w", i+1, err))
				continue
			}
			users[i] = u
		}
	})
	if firstErr != nil {
		return nil, firstErr
	}
	return users, ctx.Err()
}

func seedUser(c *bench.Conn, addr string, clerk *bench.Clerk, n int, iat time.Time, seedMs int64) (*user, error) {
	u := &user{n: n, clerkID: "user_live_" + strconv.Itoa(n), seedMs: seedMs}
	var err error
	if u.session, err = clerk.Token(u.clerkID, iat, sessionTTL); err != nil {
		return nil, err
	}
	auth := []string{"Authorization: Bearer " + u.session, "Content-Type: application/json"}
	syncBody := fmt.Appendf(nil, `{"clerk_user_id":%q,"email":"%s@example.com","name":"Live User %d"}`, u.clerkID, u.clerkID, n)
	if _, err := post(c, addr, "/api/auth/sync", auth, syncBody); err != nil {
		return nil, fmt.Errorf("sync: %w", err)
	}
	body, err := post(c, addr, "/api/devices", auth, fmt.Appendf(nil, `{"name":"Phone %d"}`, n))
	if err != nil {
		return nil, fmt.Errorf("register a device: %w", err)
	}
	var created struct {
		Device struct {
			ID int64 `json:"id"`
		} `json:"device"`
		IngestToken string `json:"ingest_token"`
	}
	if err := json.Unmarshal(body, &created); err != nil || created.Device.ID == 0 || created.IngestToken == "" {
		return nil, fmt.Errorf("register a device: answer %.200s (%v)", body, err)
	}
	u.deviceID, u.ingestToken = created.Device.ID, created.IngestToken
	req := osmAndRequest(nil, addr, u, 0, seedMs)
	if status, body, err := c.Do(req, time.Now().Add(time.Minute)); err != nil || status != http.StatusOK {
		return nil, fmt.Errorf("first report: %d %.200s %v", status, body, err)
	}
	return u, nil
}

// post sends a POST and wants a 2xx.
func post(c *bench.Conn, addr, path string, headers []string, body []byte) ([]byte, error) {
	status, resp, err := c.Do(bench.Request(nil, http.MethodPost, addr, path, headers, body), time.Now().Add(time.Minute))
	if err != nil {
		return nil, err
	}
	if status/100 != 2 {
		return nil, fmt.Errorf("status %d: %.300s", status, resp)
	}
	return resp, nil
}
