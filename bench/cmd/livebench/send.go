package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/usersync/usersync/bench"
)

// sendPlan is the points' arrival: open loop, at rate points per second
// spread evenly over the devices, for duration or maxPoints points.
type sendPlan struct {
	rate      float64
	duration  time.Duration
	batch     int // points per request: 1 is an OsmAnd report, more a batch ingest
	maxPoints int
	// onStart, if set, runs just before the first request is due (the
	// connections are open by then): where a measurement window starts.
	onStart func()
}

// sentPoint is a point the device sent: its recorded_at (Unix ms) and
// when its request started (Unix µs, the same clock as the server's).
type sentPoint struct {
	ms int64
	at int64
}

// deviceLog is what one device sent and how the server answered.
type deviceLog struct {
	u        *user
	acked    []sentPoint // answered 2xx (and, for a batch, all stored), in recorded_at order
	failed   []sentPoint // points of requests that failed
	errors   int
	firstErr string
	resp     []time.Duration // each request's response time
	late     []time.Duration // how far each request started behind its schedule
}

// sendResult is the whole load.
type sendResult struct {
	devices    []*deviceLog
	start, end time.Time // the first request's schedule; the last answer
}

// points is the number of points acknowledged, and of requests.
func (r *sendResult) points() (acked, failed, requests, errors int) {
	for _, d := range r.devices {
		acked += len(d.acked)
		failed += len(d.failed)
		requests += len(d.resp)
		errors += d.errors
	}
	return
}

// send runs the load. Each device is a tracker on a keep-alive connection
// of its own that sends its requests on a fixed schedule (device d of n
// starts d/n of a period after the first; a period is n·batch/rate), so
// that arrivals do not depend on how fast the server answers: open loop.
// One device's requests never overlap, as a tracker's do not, so that its
// points are committed in recorded_at order: a request that would start
// while the previous is still out waits for it, and counts as late.
func send(ctx context.Context, addr string, users []*user, p sendPlan) (*sendResult, error) {
	n := len(users)
	if n == 0 || p.rate <= 0 || p.batch < 1 || p.duration <= 0 || p.maxPoints < 1 {
		return nil, fmt.Errorf("send: want devices, a rate, a batch, a duration and a point cap")
	}
	period := time.Duration(float64(n*p.batch) / p.rate * float64(time.Second))
	perDevice := int(math.Ceil(float64(p.maxPoints) / float64(n*p.batch))) // requests
	conns := make([]*bench.Conn, n)
	for i := range conns {
		c, err := bench.Dial(addr)
		if err != nil {
			for _, c := range conns[:i] {
				c.Close()
			}
			return nil, err
		}
		conns[i] = c
	}
	if p.onStart != nil {
		p.onStart()
	}
	// Time enough to start every device's goroutine before its first request.
	res := &sendResult{devices: make([]*deviceLog, n), start: time.Now().Add(50 * time.Millisecond)}
	stop := res.start.Add(p.duration)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		lastAt time.Time
	)
	for i, u := range users {
		d := &deviceLog{u: u}
		res.devices[i] = d
		wg.Add(1)
		go func(c *bench.Conn, offset time.Duration) {
			defer wg.Done()
			defer c.Close()
			var (
				buf    []byte
				lastMs = u.seedMs
			)
			for k := 0; k < perDevice; k++ {
				due := res.start.Add(offset + time.Duration(k)*period)
				if !due.Before(stop) {
					break
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Until(due)):
				}
				t0 := time.Now()
				d.late = append(d.late, t0.Sub(due))
				pts := make([]sentPoint, p.batch)
				step := max(int64(period/time.Millisecond)/int64(p.batch), 1)
				for j := range pts {
					ms := max(t0.UnixMilli()-int64(p.batch-1-j)*step, lastMs+1)
					pts[j] = sentPoint{ms: ms, at: t0.UnixMicro()}
					lastMs = ms
				}
				var err error
				if p.batch == 1 {
					buf = osmAndRequest(buf[:0], addr, u, k, pts[0].ms)
				} else {
					buf = batchRequest(buf[:0], addr, u, k, pts)
				}
				status, body, err := c.Do(buf, t0.Add(time.Minute))
				d.resp = append(d.resp, time.Since(t0))
				if err == nil {
					err = checkAnswer(status, body, len(pts))
				}
				if err != nil {
					d.errors++
					d.failed = append(d.failed, pts...)
					if d.firstErr == "" {
						d.firstErr = err.Error()
					}
					if nc, derr := bench.Dial(addr); derr == nil { // the connection may be broken
						c.Close()
						c = nc
					}
					continue
				}
				d.acked = append(d.acked, pts...)
			}
			mu.Lock()
			if t := time.Now(); t.After(lastAt) {
				lastAt = t
			}
			mu.Unlock()
		}(conns[i], time.Duration(i)*period/time.Duration(n))
	}
	wg.Wait()
	res.end = lastAt
	return res, ctx.Err()
}

// checkAnswer wants a 200; a batch's answer must report every point stored.
func checkAnswer(status int, body []byte, points int) error {
	if status != http.StatusOK {
		return fmt.Errorf("status %d: %.200s", status, body)
	}
	if points == 1 {
		return nil // OsmAnd: an empty 200
	}
	var out struct {
		Stored     int `json:"stored"`
		Duplicates int `json:"duplicates"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Stored != points {
		return fmt.Errorf("batch stored %d of %d points (%v): %.200s", out.Stored, points, err, body)
	}
	return nil
}

// position is where device u is at its k-th report: a slow walk.
func position(u *user, k int) (lat, lon float64) {
	return 52.40 + float64(u.n%1000)*0.0005 + float64(k)*0.00001, 13.30 + float64(u.n/1000)*0.0005 + float64(k)*0.00001
}

// osmAndRequest is one report as Traccar Client 10.x sends it: a form POST
// to the OsmAnd route with the fields it fills (timestamp in milliseconds,
// as OsmAnd sends it: two reports a second would share a second).
func osmAndRequest(dst []byte, addr string, u *user, k int, ms int64) []byte {
	lat, lon := position(u, k)
	body := make([]byte, 0, 256)
	body = append(body, "id="...)
	body = append(body, u.ingestToken...)
	body = append(body, "&lat="...)
	body = strconv.AppendFloat(body, lat, 'f', 6, 64)
	body = append(body, "&lon="...)
	body = strconv.AppendFloat(body, lon, 'f', 6, 64)
	body = append(body, "&timestamp="...)
	body = strconv.AppendInt(body, ms, 10)
	body = append(body, "&accuracy=4.8&altitude=41.2&speed=2.7&bearing="...)
	body = strconv.AppendInt(body, int64(k%360), 10)
	body = append(body, "&batt=87&charge=false"...)
	return bench.Request(dst, http.MethodPost, addr, "/api/ingest/osmand",
		[]string{"Content-Type: application/x-www-form-urlencoded"}, body)
}

// batchRequest is a batch ingest of pts, as a tracker app uploads what it
// buffered: POST /api/ingest/locations with the device token as Bearer.
func batchRequest(dst []byte, addr string, u *user, k int, pts []sentPoint) []byte {
	body := make([]byte, 0, 64+len(pts)*180)
	body = append(body, `{"locations":[`...)
	for j, p := range pts {
		if j > 0 {
			body = append(body, ',')
		}
		lat, lon := position(u, k*len(pts)+j)
		body = bench.AppendLocation(body, p.ms, lat, lon, (k+j)%360)
	}
	body = append(body, `]}`...)
	return bench.Request(dst, http.MethodPost, addr, "/api/ingest/locations",
		[]string{"Authorization: Bearer " + u.ingestToken, "Content-Type: application/json"}, body)
}
