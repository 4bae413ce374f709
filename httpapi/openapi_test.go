package httpapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/gorilla/mux"
	"github.com/uptrace/bun"

	"github.com/usersync/usersync/httpapi"
	"github.com/usersync/usersync/testkit"
)

// The helpers of the OpenAPI tests are prefixed oa so that they stay clear
// of the other test files of this package.

// oaSpec loads openapi.yaml as the server embeds it and validates it.
func oaSpec(t *testing.T) (*openapi3.T, []byte) {
	t.Helper()
	data, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	if err != nil {
		t.Fatalf("load openapi.yaml: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	return doc, data
}

func TestOpenAPISpecIsValid(t *testing.T) {
	t.Parallel()
	doc, _ := oaSpec(t)
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi = %q, want 3.0.3", doc.OpenAPI)
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			name := method + " " + path
			if op.OperationID == "" {
				t.Errorf("%s has no operationId", name)
			}
			for status, ref := range op.Responses.Map() {
				res := ref.Value
				// Every response carries X-Request-Id.
				if h := res.Headers["X-Request-Id"]; h == nil || !h.Value.Required {
					t.Errorf("%s %s: no required X-Request-Id header", name, status)
				}
				// Every error is {"error": "…"} and nothing else.
				if code, _ := strconv.Atoi(status); code >= 400 {
					mt := res.Content.Get("application/json")
					if mt == nil || mt.Schema == nil {
						t.Errorf("%s %s: no application/json error body", name, status)
						continue
					}
					s := mt.Schema.Value
					if !slices.Equal(s.Required, []string{"error"}) || len(s.Properties) != 1 ||
						s.AdditionalProperties.Has == nil || *s.AdditionalProperties.Has {
						t.Errorf("%s %s: the body is not exactly {\"error\": string}", name, status)
					}
				}
			}
			// Every route but the probes' may answer 429 (the webhook's when
			// its signature fails); the OwnTracks route a 503 with
			// Retry-After instead (its iOS app deletes a message on any 4xx).
			probe := path == "/healthz" || path == "/readyz"
			switch {
			case path == oaOwnTracks:
				if r := op.Responses.Status(http.StatusServiceUnavailable); r == nil || r.Value.Headers["Retry-After"] == nil ||
					op.Responses.Status(http.StatusTooManyRequests) != nil {
					t.Errorf("%s: want a 503 with Retry-After and no 429", name)
				}
			default:
				if limited := op.Responses.Status(http.StatusTooManyRequests) != nil; limited == probe {
					t.Errorf("%s: 429 documented = %v, want %v", name, limited, !probe)
				}
			}
		}
	}
}

// oaPathVar turns a gorilla/mux variable with a pattern, {id:[0-9]+}, into
// the OpenAPI form, {id}.
var oaPathVar = regexp.MustCompile(`\{([^{}:]+):[^{}]*\}`)

// TestOpenAPICoversEveryRoute walks the real router: every route and
// method it serves is in openapi.yaml, and openapi.yaml has nothing more.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	t.Parallel()
	doc, _ := oaSpec(t)

	// The fully configured service: a route registered only when its
	// setting is present must be documented too.
	full := oaServer(t, sqliteDB(t), oaConfig{key: testkit.NewKey(t, "ins_oa_walk"), secret: testkit.NewWebhookSecret(t),
		adminToken: strings.Repeat("a", 32), burst: 10})
	router := httpapi.RouterForTest(full.App.Deps)
	served := map[string]bool{}
	err := router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := route.GetPathTemplate()
		if err != nil {
			t.Errorf("a route without a path template: %v", err)
			return nil
		}
		tpl = oaPathVar.ReplaceAllString(tpl, "{$1}")
		methods, err := route.GetMethods()
		if err != nil {
			t.Errorf("route %s has no method matcher: list its methods so that openapi.yaml can describe them", tpl)
			return nil
		}
		for _, m := range methods {
			served[m+" "+tpl] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(served) == 0 {
		t.Fatal("the router has no routes")
	}

	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	for _, route := range slices.Sorted(maps.Keys(served)) {
		if !documented[route] {
			t.Errorf("the router serves %s, which openapi.yaml does not describe", route)
		}
	}
	for _, route := range slices.Sorted(maps.Keys(documented)) {
		if !served[route] {
			t.Errorf("openapi.yaml describes %s, which the router does not serve", route)
		}
	}
}

// oaChecker validates requests and responses against openapi.yaml and
// remembers which documented statuses were seen.
type oaChecker struct {
	doc    *openapi3.T
	spec   []byte
	router routers.Router

	mu   sync.Mutex
	seen map[string]bool // "METHOD /template STATUS"
}

func oaNewChecker(t *testing.T) *oaChecker {
	t.Helper()
	doc, data := oaSpec(t)
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("gorillamux.NewRouter: %v", err)
	}
	// kin-openapi knows no decoder for Server-Sent Events: the body is
	// text, checked as such (the live stream's tests read its events).
	openapi3filter.RegisterBodyDecoder("text/event-stream", openapi3filter.PlainBodyDecoder)
	return &oaChecker{doc: doc, spec: data, router: router, seen: map[string]bool{}}
}

// oaCall is one request of the scenario.
type oaCall struct {
	method, path string
	token        string      // sent as a Bearer token when not empty
	header       http.Header // further headers
	body         string
	contentType  string // of body; application/json by default
	// invalid marks a request that breaks openapi.yaml on purpose (a
	// missing field, a malformed id): only its response is checked.
	invalid bool
	want    int
}

// do sends call to srv and checks that the request (unless call.invalid)
// and the response match openapi.yaml, and that the status is call.want.
func (c *oaChecker) do(t *testing.T, srv *testkit.Server, call oaCall) response {
	t.Helper()
	newRequest := func() *http.Request {
		req := httpRequest(t, call.method, srv.URL+call.path, call.body)
		if call.body != "" {
			ct := call.contentType
			if ct == "" {
				ct = "application/json"
			}
			req.Header.Set("Content-Type", ct)
		}
		if call.token != "" {
			req.Header.Set("Authorization", "Bearer "+call.token)
		}
		for k, vs := range call.header {
			req.Header[k] = vs
		}
		return req
	}
	name := call.method + " " + call.path
	if len(name) > 120 {
		name = name[:120] + "…"
	}

	ctx := context.Background()
	req := newRequest()
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		t.Fatalf("%s: no operation in openapi.yaml: %v", name, err)
	}
	in := &openapi3filter.RequestValidationInput{
		Request:    req,
		PathParams: params,
		Route:      route,
		Options:    &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
	}
	if !call.invalid {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			t.Errorf("%s: the request does not match openapi.yaml: %v", name, err)
		}
	}

	res := sendWith(t, srv.Client(), newRequest())
	if res.status != call.want {
		t.Errorf("%s: status %d, want %d; body %s", name, res.status, call.want, res.body)
	}

	// ValidateResponse skips some statuses (304): the status must be
	// documented all the same.
	if route.Operation.Responses.Status(res.status) == nil {
		t.Errorf("%s: status %d is not in openapi.yaml", name, res.status)
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 res.status,
		Header:                 res.header,
		Body:                   io.NopCloser(bytes.NewReader(res.body)),
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true,
			AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
		},
	}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		t.Errorf("%s: the %d response does not match openapi.yaml: %v\nbody %s", name, res.status, err, res.body)
	}

	if strings.Contains(res.header.Get("Content-Type"), "json") && res.header.Get("Content-Encoding") == "" {
		oaWantFixedWidthTimes(t, name, res.body)
	}

	c.mu.Lock()
	c.seen[fmt.Sprintf("%s %s %d", route.Method, route.Path, res.status)] = true
	c.mu.Unlock()
	return res
}

// oaFixedWidthTime is the one form of a time in JSON (package jsontime).
var oaFixedWidthTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$`)

// oaWantFixedWidthTimes fails for any string in a JSON body that parses as
// an RFC 3339 time but is not in the fixed-width form, so that string order
// is time order for clients.
func oaWantFixedWidthTimes(t *testing.T, name string, body []byte) {
	t.Helper()
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		case string:
			if _, err := time.Parse(time.RFC3339Nano, v); err == nil && !oaFixedWidthTime.MatchString(v) {
				t.Errorf("%s: time %q is not in the fixed-width form 2006-01-02T15:04:05.000Z", name, v)
			}
		}
	}
	var v any
	if json.Unmarshal(body, &v) == nil {
		walk(v)
	}
}

// wantAllStatuses fails for every documented status of every operation
// that no request produced: openapi.yaml promises nothing that the
// handlers do not do.
func (c *oaChecker) wantAllStatuses(t *testing.T) {
	t.Helper()
	var missing []string
	for path, item := range c.doc.Paths.Map() {
		for method, op := range item.Operations() {
			for status := range op.Responses.Map() {
				if key := method + " " + path + " " + status; !c.seen[key] {
					missing = append(missing, key)
				}
			}
		}
	}
	slices.Sort(missing)
	for _, m := range missing {
		t.Errorf("openapi.yaml documents %s, but no request of the scenario produced it", m)
	}
}

// oaConfig is how an oaServer is configured; zero values leave a
// dependency unconfigured, as an unset environment variable does.
type oaConfig struct {
	key        *testkit.Key // CLERK_JWT_KEY
	secret     string       // CLERK_WEBHOOK_SIGNING_SECRET
	adminToken string       // ADMIN_TOKEN
	burst      int          // RATE_LIMIT_BURST, at a rate that never refills; 0: no limit
}

// oaServer is the whole API, as usersync serve assembles it, on db.
func oaServer(t *testing.T, db *bun.DB, cfg oaConfig) *testkit.Server {
	t.Helper()
	env := map[string]string{"CLERK_WEBHOOK_SIGNING_SECRET": cfg.secret, "ADMIN_TOKEN": cfg.adminToken}
	if cfg.key != nil {
		env["CLERK_JWT_KEY"] = cfg.key.PublicPEM(t)
	}
	if cfg.burst > 0 {
		env["RATE_LIMIT_RPS"], env["RATE_LIMIT_BURST"] = "0.001", strconv.Itoa(cfg.burst)
	}
	return testkit.Start(t, db, env)
}

// oaOp is one operation with a request that passes its own checks, so
// that the failures that come before them (401, 410, 429, 500, 503) can
// be provoked on every route.
type oaOp struct {
	method, path string // {device}, {event} and {user} are filled in
	auth         string // session, device, admin, webhook or public
	body         string
	contentType  string
}

var oaOps = []oaOp{
	{method: http.MethodGet, path: "/healthz", auth: "public"},
	{method: http.MethodGet, path: "/readyz", auth: "public"},
	{method: http.MethodGet, path: "/metrics", auth: "public"},
	{method: http.MethodGet, path: "/openapi.yaml", auth: "public"},
	{method: http.MethodPost, path: "/api/auth/sync", auth: "session", body: `{"clerk_user_id":"{user}","email":"{user}@example.com","name":"O A"}`},
	{method: http.MethodGet, path: "/api/devices", auth: "session"},
	{method: http.MethodPost, path: "/api/devices", auth: "session", body: `{"name":"Spare tracker"}`},
	{method: http.MethodGet, path: "/api/devices/{device}", auth: "session"},
	{method: http.MethodPatch, path: "/api/devices/{device}", auth: "session", body: `{"name":"Renamed"}`},
	{method: http.MethodDelete, path: "/api/devices/{device}", auth: "session"},
	{method: http.MethodPost, path: "/api/devices/{device}/token", auth: "session"},
	{method: http.MethodGet, path: "/api/locations/stream", auth: "session"},
	{method: http.MethodGet, path: "/api/locations/{device}/latest", auth: "session"},
	{method: http.MethodGet, path: "/api/locations/{device}/route", auth: "session"},
	{method: http.MethodDelete, path: "/api/locations/{device}?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z", auth: "session"},
	{method: http.MethodGet, path: "/api/locations/{device}/export", auth: "session"},
	{method: http.MethodGet, path: "/api/locations/{device}/summary", auth: "session"},
	{method: http.MethodPost, path: "/api/ingest/locations", auth: "device", body: `{"locations":[{"recorded_at":"{now}","lat":52.52,"lon":13.405}]}`},
	{method: http.MethodGet, path: "/api/ingest/osmand?lat=52.52&lon=13.405", auth: "device"},
	{method: http.MethodPost, path: "/api/ingest/osmand", auth: "device", body: "lat=52.52&lon=13.405", contentType: "application/x-www-form-urlencoded"},
	{method: http.MethodPost, path: oaOwnTracks, auth: "device", body: `{"_type":"location","lat":52.52,"lon":13.405,"tst":{nowUnix}}`},
	{method: http.MethodPost, path: "/api/webhooks/clerk", auth: "webhook"},
	{method: http.MethodGet, path: "/api/admin/webhook-events", auth: "admin"},
	{method: http.MethodPost, path: "/api/admin/webhook-events/replay", auth: "admin", body: `{"dry_run":true}`},
	{method: http.MethodGet, path: "/api/admin/webhook-events/{event}", auth: "admin"},
	{method: http.MethodPost, path: "/api/admin/webhook-events/{event}/replay", auth: "admin"},
}

// oaOwnTracks is the route whose temporary refusals are 503, not 429 or 500.
const oaOwnTracks = "/api/ingest/owntracks"

// oaFind is the operation of oaOps with this method and path.
func oaFind(t *testing.T, method, path string) oaOp {
	t.Helper()
	for _, op := range oaOps {
		if op.method == method && op.path == path {
			return op
		}
	}
	t.Fatalf("no %s %s in oaOps", method, path)
	return oaOp{}
}

// oaCreds are what the requests of oaOps carry; "" sends none.
type oaCreds struct {
	user, session, device, admin, secret string
	deviceID                             int64
	eventID                              string
}

// call is op's request with creds, expecting want.
func (op oaOp) call(t *testing.T, creds oaCreds, want int) oaCall {
	t.Helper()
	fill := strings.NewReplacer(
		"{device}", strconv.FormatInt(creds.deviceID, 10),
		"{event}", url.PathEscape(creds.eventID),
		"{user}", creds.user,
		"{now}", rfc3339(time.Now().Add(-time.Minute)),
		"{nowUnix}", strconv.FormatInt(time.Now().Add(-time.Minute).Unix(), 10),
	)
	c := oaCall{method: op.method, path: fill.Replace(op.path), body: fill.Replace(op.body), contentType: op.contentType, want: want}
	switch op.auth {
	case "session":
		c.token = creds.session
	case "device":
		c.token = creds.device
	case "admin":
		c.token = creds.admin
	case "webhook":
		body := testkit.UserEvent("user.updated", "user_oa_webhook", "webhook@example.com", "Web", "Hook", time.Now().Add(-time.Minute))
		c.body = string(body)
		if creds.secret != "" {
			c.header = testkit.SignedHeaders(t, creds.secret, whRandom(t, "msg_oa_"), time.Now(), body)
		}
	}
	return c
}

// TestOpenAPIResponses runs the API's scenarios through the real server on
// a real database and checks every request and response against
// openapi.yaml: an undocumented status or body shape fails, and so does a
// documented status that no request produced.
func TestOpenAPIResponses(t *testing.T) {
	t.Parallel()
	c := oaNewChecker(t)
	key := testkit.NewKey(t, "ins_openapi")
	secret := testkit.NewWebhookSecret(t)
	adminToken := whRandom(t, "adm_")
	srv := oaServer(t, sqliteDB(t), oaConfig{key: key, secret: secret, adminToken: adminToken})

	const ann = "user_oa_ann"
	annSession := key.Sign(t, testkit.SessionClaims(ann))
	do := func(call oaCall) response {
		t.Helper()
		return c.do(t, srv, call)
	}

	// Operations.
	do(oaCall{method: http.MethodGet, path: "/healthz", header: http.Header{"X-Request-Id": {"oa-check.1"}}, want: http.StatusOK})
	do(oaCall{method: http.MethodGet, path: "/readyz", want: http.StatusOK})
	do(oaCall{method: http.MethodGet, path: "/metrics", want: http.StatusOK})
	spec := do(oaCall{method: http.MethodGet, path: "/openapi.yaml", want: http.StatusOK})
	if !bytes.Equal(spec.body, c.spec) {
		t.Error("GET /openapi.yaml does not serve openapi.yaml as it is in the source tree")
	}
	if got := spec.header.Get("Content-Type"); got != "application/yaml" {
		t.Errorf("GET /openapi.yaml: Content-Type %q, want application/yaml", got)
	}

	// Sync.
	syncCall := func(session, body string, want int) oaCall {
		return oaCall{method: http.MethodPost, path: "/api/auth/sync", token: session, body: body, want: want}
	}
	do(syncCall(annSession, `{"clerk_user_id":"user_oa_ann","email":"ann@example.com","name":"Ann"}`, http.StatusOK))
	do(syncCall(annSession, `{"clerk_user_id":"user_oa_ann","email":"ann@example.com","name":null}`, http.StatusOK))
	do(syncCall("", `{"clerk_user_id":"user_oa_ann","email":"ann@example.com"}`, http.StatusUnauthorized))
	do(syncCall("not-a-jwt", `{"clerk_user_id":"user_oa_ann","email":"ann@example.com"}`, http.StatusUnauthorized))
	do(syncCall(annSession, `{"clerk_user_id":"user_oa_bob","email":"bob@example.com"}`, http.StatusForbidden))
	for _, body := range []string{`{"clerk_user_id":"user_oa_ann"}`, `{"clerk_user_id":"user_oa_ann","email":"not an address"}`, `{`} {
		call := syncCall(annSession, body, http.StatusBadRequest)
		call.invalid = true
		do(call)
	}
	tooBig := `{"clerk_user_id":"user_oa_ann","email":"ann@example.com","name":"` + strings.Repeat("a", 70<<10) + `"}`
	call := syncCall(annSession, tooBig, http.StatusRequestEntityTooLarge)
	call.invalid = true
	do(call)

	// Devices.
	do(oaCall{method: http.MethodGet, path: "/api/devices", token: annSession, want: http.StatusOK})
	var created struct {
		Device      device `json:"device"`
		IngestToken string `json:"ingest_token"`
	}
	res := do(oaCall{method: http.MethodPost, path: "/api/devices", token: annSession,
		body: `{"name":"Bella's collar","hardware_id":"353861053849681"}`, want: http.StatusCreated})
	res.json(t, &created)
	id := strconv.FormatInt(created.Device.ID, 10)
	token := created.IngestToken
	do(oaCall{method: http.MethodPost, path: "/api/devices", token: annSession,
		body: `{"name":"Again","hardware_id":"353861053849681"}`, want: http.StatusConflict})
	do(oaCall{method: http.MethodPost, path: "/api/devices", token: key.Sign(t, testkit.SessionClaims("user_oa_no_row")),
		body: `{"name":"Too early"}`, want: http.StatusConflict})
	do(oaCall{method: http.MethodPost, path: "/api/devices", token: annSession, body: `{"name":""}`, invalid: true, want: http.StatusBadRequest})
	do(oaCall{method: http.MethodPost, path: "/api/devices", token: annSession,
		body: `{"name":"` + strings.Repeat("a", 70<<10) + `"}`, invalid: true, want: http.StatusRequestEntityTooLarge})
	do(oaCall{method: http.MethodGet, path: "/api/devices/" + id, token: annSession, want: http.StatusOK})
	do(oaCall{method: http.MethodGet, path: "/api/devices/999999", token: annSession, want: http.StatusNotFound})
	do(oaCall{method: http.MethodGet, path: "/api/devices/abc", token: annSession, invalid: true, want: http.StatusNotFound})
	do(oaCall{method: http.MethodGet, path: "/api/locations/" + id + "/latest", token: annSession, want: http.StatusOK})

	// Ingest.
	base := time.Now().UTC().Add(-30 * time.Minute).Truncate(time.Second)
	full := `{"recorded_at":"` + rfc3339(base) + `","lat":52.520008,"lon":13.404954,"accuracy_m":4.8,` +
		`"altitude_m":41.2,"speed_mps":1.39,"course_deg":271.5,"battery_pct":87}`
	ingest := func(token, body string, invalid bool, want int) response {
		t.Helper()
		return do(oaCall{method: http.MethodPost, path: "/api/ingest/locations", token: token, body: body, invalid: invalid, want: want})
	}
	ingest(token, `{"locations":[`+full+`,`+point(base.Add(time.Minute), 1)+`,`+point(base.Add(2*time.Minute), 2)+`]}`, false, http.StatusOK)
	// A duplicate and a point out of range: 200 with a rejection.
	ingest(token, `{"locations":[`+full+`,{"recorded_at":"`+rfc3339(base)+`","lat":95,"lon":13.4}]}`, true, http.StatusOK)
	ingest("trk_"+strings.Repeat("0", 26), `{"locations":[`+full+`]}`, false, http.StatusUnauthorized)
	ingest("", `{"locations":[`+full+`]}`, false, http.StatusUnauthorized)
	ingest(token, `{"locations":[]}`, true, http.StatusBadRequest)
	ingest(token, `{"locations":[`+strings.Repeat(full+",", (1<<20)/len(full)+1)+full+`]}`, true, http.StatusRequestEntityTooLarge)

	// OsmAnd: query, form and Traccar Client's JSON.
	osmand := func(method, query, contentType, body string, invalid bool, want int) {
		t.Helper()
		do(oaCall{method: method, path: "/api/ingest/osmand?" + query, body: body, contentType: contentType, invalid: invalid, want: want})
	}
	osmand(http.MethodGet, url.Values{"id": {token}, "lat": {"52.521"}, "lon": {"13.406"},
		"timestamp": {strconv.FormatInt(base.Add(3*time.Minute).Unix(), 10)}, "speed": {"10"}, "bearing": {"90"}, "batt": {"80"}}.Encode(),
		"", "", false, http.StatusOK)
	osmand(http.MethodPost, "", "application/x-www-form-urlencoded", url.Values{"id": {token}, "lat": {"52.522"}, "lon": {"13.407"},
		"timestamp": {base.Add(4 * time.Minute).Format("2006-01-02 15:04:05")}}.Encode(), false, http.StatusOK)
	traccar, _ := json.Marshal(map[string]any{"device_id": token, "location": map[string]any{
		"timestamp": rfc3339(base.Add(5 * time.Minute)),
		"coords":    map[string]any{"latitude": 52.523, "longitude": 13.408, "speed": 1.5, "heading": 180, "altitude": 40, "accuracy": 5},
		"battery":   map[string]any{"level": 0.8},
	}})
	osmand(http.MethodPost, "", "application/json", string(traccar), false, http.StatusOK)
	osmand(http.MethodGet, "id=353861053849681&lat=52.52&lon=13.4", "", "", false, http.StatusUnauthorized)
	osmand(http.MethodPost, "id=353861053849681", "application/x-www-form-urlencoded", "lat=52.52&lon=13.4", false, http.StatusUnauthorized)
	osmand(http.MethodGet, "id="+token+"&lat=north&lon=13.4", "", "", true, http.StatusBadRequest)
	osmand(http.MethodPost, "id="+token, "application/x-www-form-urlencoded", "lat=north&lon=13.4", true, http.StatusBadRequest)
	osmand(http.MethodPost, "id="+token, "application/x-www-form-urlencoded", "lat=52.52&lon=13.4&pad="+strings.Repeat("a", 1<<20), true, http.StatusRequestEntityTooLarge)

	// Latest, with its ETag.
	latest := do(oaCall{method: http.MethodGet, path: "/api/locations/" + id + "/latest", token: annSession, want: http.StatusOK})
	do(oaCall{method: http.MethodGet, path: "/api/locations/" + id + "/latest", token: annSession,
		header: http.Header{"If-None-Match": {latest.header.Get("ETag")}}, want: http.StatusNotModified})
	do(oaCall{method: http.MethodGet, path: "/api/locations/999999/latest", token: annSession, want: http.StatusNotFound})
	do(oaCall{method: http.MethodGet, path: "/api/devices/" + id, token: annSession, want: http.StatusOK})
	do(oaCall{method: http.MethodGet, path: "/api/devices", token: annSession, want: http.StatusOK})

	// Route: JSON, pages, GeoJSON with a LineString, a Point and nothing.
	route := func(query string, invalid bool, want int) response {
		t.Helper()
		return do(oaCall{method: http.MethodGet, path: "/api/locations/" + id + "/route?" + query, token: annSession, invalid: invalid, want: want})
	}
	route("", false, http.StatusOK)
	var page struct {
		NextCursor *string `json:"next_cursor"`
	}
	route("limit=2", false, http.StatusOK).json(t, &page)
	if page.NextCursor == nil {
		t.Fatal("route?limit=2 has no next_cursor")
	}
	route("limit=2&cursor="+url.QueryEscape(*page.NextCursor), false, http.StatusOK)
	route("format=geojson&limit=2", false, http.StatusOK)
	route("format=geojson&"+url.Values{"from": {rfc3339(base)}, "to": {rfc3339(base.Add(time.Second))}}.Encode(), false, http.StatusOK)
	route("format=geojson&"+url.Values{"from": {rfc3339(base.Add(-48 * time.Hour))}, "to": {rfc3339(base.Add(-47 * time.Hour))}}.Encode(), false, http.StatusOK)
	route("simplify=5&from="+url.QueryEscape(rfc3339(base.Add(-time.Hour))), false, http.StatusOK)
	route("limit=0", true, http.StatusBadRequest)
	route("format=kml", true, http.StatusBadRequest)
	do(oaCall{method: http.MethodGet, path: "/api/locations/999999/route", token: annSession, want: http.StatusNotFound})

	// Deleting history: a range, its answer, and its errors.
	deleteRange := func(device, query string, invalid bool, want int) response {
		t.Helper()
		return do(oaCall{method: http.MethodDelete, path: "/api/locations/" + device + "?" + query, token: annSession, invalid: invalid, want: want})
	}
	var deleted struct {
		Deleted int `json:"deleted"`
	}
	deleteRange(id, url.Values{"from": {rfc3339(base.Add(time.Minute))}, "to": {rfc3339(base.Add(2 * time.Minute))}}.Encode(), false, http.StatusOK).json(t, &deleted)
	if deleted.Deleted != 1 {
		t.Errorf("DELETE of one point's range deleted %d", deleted.Deleted)
	}
	deleteRange(id, url.Values{"from": {rfc3339(base)}}.Encode(), true, http.StatusBadRequest)
	deleteRange(id, url.Values{"from": {rfc3339(base)}, "to": {rfc3339(base)}}.Encode(), false, http.StatusBadRequest)
	deleteRange("999999", url.Values{"from": {rfc3339(base)}, "to": {rfc3339(base.Add(time.Hour))}}.Encode(), false, http.StatusNotFound)
	// Export and summary.
	span := url.Values{"from": {rfc3339(base.Add(-time.Hour))}, "to": {rfc3339(base.Add(time.Hour))}}.Encode()
	for _, format := range []string{"", "format=gpx&", "format=csv&", "format=geojson&"} {
		do(oaCall{method: http.MethodGet, path: "/api/locations/" + id + "/export?" + format + span, token: annSession, want: http.StatusOK})
	}
	do(oaCall{method: http.MethodGet, path: "/api/locations/" + id + "/export?format=kml", token: annSession, invalid: true, want: http.StatusBadRequest})
	do(oaCall{method: http.MethodGet, path: "/api/locations/999999/export", token: annSession, want: http.StatusNotFound})
	do(oaCall{method: http.MethodGet, path: "/api/locations/" + id + "/summary?" + span, token: annSession, want: http.StatusOK})
	do(oaCall{method: http.MethodGet, path: "/api/locations/" + id + "/summary?" + url.Values{"from": {rfc3339(base.Add(-48 * time.Hour))},
		"to": {rfc3339(base.Add(-47 * time.Hour))}}.Encode(), token: annSession, want: http.StatusOK}) // no points: nulls
	do(oaCall{method: http.MethodGet, path: "/api/locations/" + id + "/summary?from=yesterday", token: annSession, invalid: true, want: http.StatusBadRequest})
	do(oaCall{method: http.MethodGet, path: "/api/locations/999999/summary", token: annSession, want: http.StatusNotFound})

	// The live stream: a session token expired 4 s ago, still valid within
	// the 5 s leeway, ends the stream a second later, so that its whole body
	// (the snapshot, then reauthenticate) is checked.
	expiring := key.Sign(t, testkit.SessionClaims(ann).With("exp", time.Now().Add(-4*time.Second)))
	stream := do(oaCall{method: http.MethodGet, path: "/api/locations/stream?device_id=" + id, token: expiring, want: http.StatusOK})
	if !strings.Contains(string(stream.body), "event: location\n") || !strings.HasSuffix(string(stream.body), "event: reauthenticate\ndata: {\"reason\":\"token_expired\"}\n\n") {
		t.Errorf("stream body = %q, want a snapshot and a final reauthenticate", stream.body)
	}
	do(oaCall{method: http.MethodGet, path: "/api/locations/stream?device_id=999999", token: annSession, want: http.StatusNotFound})
	do(oaCall{method: http.MethodGet, path: "/api/locations/stream", token: key.Sign(t, testkit.SessionClaims("user_oa_no_row")), want: http.StatusConflict})

	// OwnTracks: Basic or Bearer; a location, other messages, an empty body.
	basic := func(token string) http.Header {
		return http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("ann:"+token))}}
	}
	owntracks := func(header http.Header, bearer, body string, invalid bool, want int) {
		t.Helper()
		do(oaCall{method: http.MethodPost, path: oaOwnTracks, header: header, token: bearer, body: body, invalid: invalid, want: want})
	}
	owntracks(basic(token), "", fmt.Sprintf(`{"_type":"location","lat":52.524,"lon":13.409,"tst":%d,"acc":5,"vel":18,"batt":80,"bs":2,"t":"u","tid":"an"}`,
		base.Add(6*time.Minute).Unix()), false, http.StatusOK)
	owntracks(nil, token, `{"_type":"transition","event":"enter","desc":"Home","lat":52.52,"lon":13.4,"tst":1795812835,"wtst":1795800000,"acc":10}`, false, http.StatusOK)
	owntracks(basic(token), "", "", false, http.StatusOK)
	owntracks(basic("trk_"+strings.Repeat("0", 26)), "", `{"_type":"location","lat":52.52,"lon":13.4,"tst":1795812835}`, false, http.StatusUnauthorized)
	owntracks(basic(token), "", `{"_type":"location"`, true, http.StatusBadRequest)
	owntracks(basic(token), "", `{"_type":"card","face":"`+strings.Repeat("A", 1<<20)+`"}`, true, http.StatusRequestEntityTooLarge)

	// Rename, rotate.
	do(oaCall{method: http.MethodPatch, path: "/api/devices/" + id, token: annSession, body: `{"name":"Bella"}`, want: http.StatusOK})
	do(oaCall{method: http.MethodPatch, path: "/api/devices/" + id, token: annSession, body: `{}`, invalid: true, want: http.StatusBadRequest})
	do(oaCall{method: http.MethodPatch, path: "/api/devices/" + id, token: annSession,
		body: `{"name":"` + strings.Repeat("a", 70<<10) + `"}`, invalid: true, want: http.StatusRequestEntityTooLarge})
	do(oaCall{method: http.MethodPatch, path: "/api/devices/999999", token: annSession, body: `{"name":"Bella"}`, want: http.StatusNotFound})
	do(oaCall{method: http.MethodPost, path: "/api/devices/" + id + "/token", token: annSession, want: http.StatusOK})
	do(oaCall{method: http.MethodPost, path: "/api/devices/999999/token", token: annSession, want: http.StatusNotFound})
	ingest(token, `{"locations":[`+full+`]}`, false, http.StatusUnauthorized) // the old token

	// Webhooks.
	webhook := func(msgID string, body []byte, signed, invalid bool, want int) {
		t.Helper()
		call := oaCall{method: http.MethodPost, path: "/api/webhooks/clerk", body: string(body), invalid: invalid, want: want}
		if signed {
			call.header = testkit.SignedHeaders(t, secret, msgID, time.Now(), body)
		}
		do(call)
	}
	created1 := testkit.UserEvent("user.created", "user_oa_wh", "wh@example.com", "Web", "Hook", time.Now().Add(-time.Hour))
	webhook("msg_oa_created", created1, true, false, http.StatusOK)
	webhook("msg_oa_created", created1, true, false, http.StatusOK) // a redelivery
	webhook("msg_oa_session", testkit.Envelope(t, "session.created", map[string]any{"id": "sess_1"}, time.Now()), true, false, http.StatusOK)
	webhook("msg_oa_unsigned", created1, false, false, http.StatusBadRequest)
	webhook("msg_oa_failed", []byte(`[1,2,3]`), true, true, http.StatusUnprocessableEntity)
	webhook("msg_oa_big", []byte(`{"type":"user.created","data":{"pad":"`+strings.Repeat("a", 260<<10)+`"}}`), true, false, http.StatusRequestEntityTooLarge)

	// A user deleted in Clerk: 410 everywhere.
	const gone = "user_oa_gone"
	goneSession := key.Sign(t, testkit.SessionClaims(gone))
	do(syncCall(goneSession, `{"clerk_user_id":"user_oa_gone","email":"gone@example.com"}`, http.StatusOK))
	webhook("msg_oa_deleted", testkit.DeletedEvent(gone, time.Now()), true, false, http.StatusOK)

	// Admin.
	admin := func(method, path, body string, invalid bool, want int) response {
		t.Helper()
		return do(oaCall{method: method, path: path, token: adminToken, body: body, invalid: invalid, want: want})
	}
	admin(http.MethodGet, "/api/admin/webhook-events", "", false, http.StatusOK)
	var events struct {
		NextCursor *string `json:"next_cursor"`
	}
	admin(http.MethodGet, "/api/admin/webhook-events?limit=2", "", false, http.StatusOK).json(t, &events)
	if events.NextCursor == nil {
		t.Fatal("webhook-events?limit=2 has no next_cursor")
	}
	admin(http.MethodGet, "/api/admin/webhook-events?limit=2&cursor="+url.QueryEscape(*events.NextCursor), "", false, http.StatusOK)
	admin(http.MethodGet, "/api/admin/webhook-events?"+url.Values{"outcome": {"failed"}, "type": {"user.created"},
		"since": {rfc3339(time.Now().Add(-time.Hour))}, "until": {rfc3339(time.Now().Add(time.Hour))}}.Encode(), "", false, http.StatusOK)
	admin(http.MethodGet, "/api/admin/webhook-events?limit=0", "", true, http.StatusBadRequest)
	admin(http.MethodGet, "/api/admin/webhook-events?since=yesterday", "", true, http.StatusBadRequest)
	admin(http.MethodGet, "/api/admin/webhook-events/msg_oa_created", "", false, http.StatusOK)
	admin(http.MethodGet, "/api/admin/webhook-events/msg_oa_failed", "", false, http.StatusOK)
	admin(http.MethodGet, "/api/admin/webhook-events/msg_oa_unknown", "", false, http.StatusNotFound)
	admin(http.MethodPost, "/api/admin/webhook-events/msg_oa_created/replay", "", false, http.StatusOK)
	admin(http.MethodPost, "/api/admin/webhook-events/msg_oa_failed/replay", "", false, http.StatusOK)
	admin(http.MethodPost, "/api/admin/webhook-events/msg_oa_unknown/replay", "", false, http.StatusNotFound)
	admin(http.MethodPost, "/api/admin/webhook-events/replay", `{"dry_run":true}`, false, http.StatusOK)
	admin(http.MethodPost, "/api/admin/webhook-events/replay", `{"outcome":"failed","since":"2020-01-01T00:00:00Z"}`, false, http.StatusOK)
	admin(http.MethodPost, "/api/admin/webhook-events/replay", `{"outcome":"bogus"}`, true, http.StatusBadRequest)
	admin(http.MethodPost, "/api/admin/webhook-events/replay", `{"dry_run":`+strings.Repeat(" ", 70<<10)+`true}`, false, http.StatusRequestEntityTooLarge)

	// Delete: 204, then the device is gone for every route.
	do(oaCall{method: http.MethodDelete, path: "/api/devices/" + id, token: annSession, want: http.StatusNoContent})
	do(oaCall{method: http.MethodDelete, path: "/api/devices/" + id, token: annSession, want: http.StatusNotFound})

	// Every operation without credentials (401), as a deleted user (410).
	for _, op := range oaOps {
		switch op.auth {
		case "session", "device", "admin":
			do(op.call(t, oaCreds{user: ann, deviceID: created.Device.ID, eventID: "msg_oa_created"}, http.StatusUnauthorized))
		}
		if op.auth == "session" {
			do(op.call(t, oaCreds{user: gone, session: goneSession, deviceID: created.Device.ID}, http.StatusGone))
		}
	}
	do(oaFind(t, http.MethodGet, "/api/admin/webhook-events").call(t, oaCreds{admin: "wrong"}, http.StatusUnauthorized))

	t.Run("rate limited", func(t *testing.T) {
		// A bucket of one request that refills in 1000 s.
		limited := oaServer(t, sqliteDB(t), oaConfig{key: key, secret: secret, adminToken: adminToken,
			burst: 1})
		creds := oaCreds{user: ann, session: annSession, device: "trk_" + strings.Repeat("1", 26),
			admin: adminToken, secret: secret, deviceID: 1, eventID: "msg_oa_created"}
		// The first request of each bucket: per user, and per IP, which an
		// unknown device token (a failed authentication) takes from.
		c.do(t, limited, oaFind(t, http.MethodPost, "/api/auth/sync").call(t, creds, http.StatusOK))
		c.do(t, limited, oaFind(t, http.MethodPost, "/api/ingest/locations").call(t, creds, http.StatusUnauthorized))
		for _, op := range oaOps {
			// Exempt: the webhook (signed, and Svix sends bursts) and the probes.
			if op.auth == "webhook" || op.path == "/healthz" || op.path == "/readyz" {
				c.do(t, limited, op.call(t, creds, http.StatusOK))
				continue
			}
			want := http.StatusTooManyRequests
			if op.path == oaOwnTracks {
				want = http.StatusServiceUnavailable
			}
			res := c.do(t, limited, op.call(t, creds, want))
			if res.header.Get("Retry-After") == "" {
				t.Errorf("%s %s: 429 without Retry-After", op.method, op.path)
			}
		}
		// A webhook whose signature fails is a failed authentication.
		forged := oaFind(t, http.MethodPost, "/api/webhooks/clerk").call(t, oaCreds{secret: testkit.NewWebhookSecret(t)}, http.StatusTooManyRequests)
		c.do(t, limited, forged)
	})

	t.Run("not configured", func(t *testing.T) {
		// No Clerk key, no signing secret, no admin token.
		bare := oaServer(t, sqliteDB(t), oaConfig{})
		creds := oaCreds{user: ann, session: annSession, device: "trk_" + strings.Repeat("2", 26),
			admin: adminToken, secret: secret, deviceID: 1, eventID: "msg_oa_created"}
		for _, op := range oaOps {
			switch op.auth {
			case "session", "webhook":
				c.do(t, bare, op.call(t, creds, http.StatusServiceUnavailable))
			case "admin":
				c.do(t, bare, op.call(t, creds, http.StatusNotFound))
			}
		}
	})

	t.Run("database down", func(t *testing.T) {
		db := sqliteDB(t)
		down := oaServer(t, db, oaConfig{key: key, secret: secret, adminToken: adminToken})
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		creds := oaCreds{user: ann, session: annSession, device: "trk_" + strings.Repeat("3", 26),
			admin: adminToken, secret: secret, deviceID: 1, eventID: "msg_oa_created"}
		for _, op := range oaOps {
			want := http.StatusInternalServerError
			switch {
			case op.path == "/readyz":
				want = http.StatusServiceUnavailable
			case op.auth == "public":
				want = http.StatusOK
			case op.path == oaOwnTracks:
				want = http.StatusServiceUnavailable
			}
			res := c.do(t, down, op.call(t, creds, want))
			if op.path == oaOwnTracks && res.header.Get("Retry-After") == "" {
				t.Errorf("%s %s: 503 without Retry-After", op.method, op.path)
			}
		}
	})

	if !t.Failed() {
		c.wantAllStatuses(t)
	}
}
