package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/usersync/usersync/app"
	"github.com/usersync/usersync/testkit"
)

type composeFile struct {
	Services map[string]struct {
		Image string `yaml:"image"`
		Build struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
		Environment map[string]string `yaml:"environment"`
		DependsOn   map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
		Ports       []string `yaml:"ports"`
		Healthcheck struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
	} `yaml:"services"`
}

// TestComposeWiring parses docker-compose.yml (no Docker engine here) and
// checks that usersync is built from the Dockerfile, waits for a healthy
// PostgreSQL 16, and reaches it with the credentials PostgreSQL is given.
func TestComposeWiring(t *testing.T) {
	raw, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	pg, ok := c.Services["postgres"]
	if !ok {
		t.Fatal("no postgres service")
	}
	if !strings.HasPrefix(pg.Image, "postgres:16") {
		t.Errorf("postgres image = %q, want postgres:16", pg.Image)
	}
	if len(pg.Healthcheck.Test) == 0 || !strings.Contains(strings.Join(pg.Healthcheck.Test, " "), "pg_isready") {
		t.Errorf("postgres has no pg_isready healthcheck: %v", pg.Healthcheck.Test)
	}
	svc, ok := c.Services["usersync"]
	if !ok {
		t.Fatal("no usersync service")
	}
	if svc.Build.Context != "." || svc.Build.Dockerfile != "Dockerfile" {
		t.Errorf("usersync build = %+v, want context . and Dockerfile", svc.Build)
	}
	if svc.DependsOn["postgres"].Condition != "service_healthy" {
		t.Errorf("usersync does not wait for a healthy postgres: %+v", svc.DependsOn)
	}
	if len(svc.Ports) == 0 || !strings.HasSuffix(svc.Ports[0], ":8000") {
		t.Errorf("ports = %v, want the container's 8000 published", svc.Ports)
	}
	if svc.Environment["MIGRATE_ON_START"] != "true" {
		t.Errorf("MIGRATE_ON_START = %q, want true", svc.Environment["MIGRATE_ON_START"])
	}

	u, err := url.Parse(svc.Environment["DATABASE_URL"])
	if err != nil {
		t.Fatalf("DATABASE_URL: %v", err)
	}
	password, _ := u.User.Password()
	if u.Scheme != "postgres" || u.Hostname() != "postgres" || u.Port() != "5432" ||
		u.User.Username() != pg.Environment["POSTGRES_USER"] || password != pg.Environment["POSTGRES_PASSWORD"] ||
		strings.TrimPrefix(u.Path, "/") != pg.Environment["POSTGRES_DB"] {
		t.Errorf("DATABASE_URL %q does not match the postgres service %v", u.Redacted(), pg.Environment)
	}
	known := testkit.ConfigVariables(t)
	for name := range svc.Environment {
		if !slices.Contains(known, name) {
			t.Errorf("usersync environment sets %s, which usersync does not read", name)
		}
	}

	// configs/compose.env is what compose passes through: every setting it
	// names, commented out or not, must reach usersync.
	example, err := os.ReadFile("../../configs/compose.env")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)^#? ?([A-Z_]+)=`).FindAllSubmatch(example, -1) {
		if name := string(m[1]); svc.Environment[name] != "${"+name+":-}" {
			t.Errorf("configs/compose.env names %s, which docker-compose.yml does not pass through as ${%s:-}", name, name)
		}
	}

	// The environment as compose would hand it over must start usersync's config.
	env := map[string]string{}
	for k, v := range svc.Environment {
		if !strings.HasPrefix(v, "${") {
			env[k] = v
		}
	}
	if _, err := app.LoadConfig(testkit.Env(env)); err != nil {
		t.Errorf("compose environment is not a valid configuration: %v", err)
	}
}

// TestDockerfile checks what the image promises: a multi-stage build of a
// static binary, a non-root user and a healthcheck the binary can run.
func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(raw)
	if n := len(regexp.MustCompile(`(?m)^FROM `).FindAllString(df, -1)); n < 2 {
		t.Errorf("Dockerfile has %d stages, want a multi-stage build", n)
	}
	for _, want := range []string{"CGO_ENABLED=0", "./cmd/usersync", "EXPOSE 8000", `"healthcheck"`} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	user := regexp.MustCompile(`(?m)^USER (\S+)`).FindStringSubmatch(df)
	if user == nil || user[1] == "root" || strings.HasPrefix(user[1], "0") {
		t.Errorf("Dockerfile USER = %v, want a non-root user", user)
	}
}

func TestHealthcheckCommand(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer ok.Close()
	if _, _, err := runUsersync(t, nil, "healthcheck", "-url", ok.URL+"/healthz"); err != nil {
		t.Errorf("healthy server: %v", err)
	}
	if _, _, err := runUsersync(t, nil, "healthcheck", "-url", ok.URL+"/other"); err == nil {
		t.Error("404 answered as healthy")
	}
	addr := strings.TrimPrefix(ok.URL, "http://")
	if _, _, err := runUsersync(t, map[string]string{"ADDR": addr}, "healthcheck"); err != nil {
		t.Errorf("healthcheck from ADDR: %v", err)
	}
}

// TestExampleConfigs: the example environment files start usersync's
// config, and set no variable that usersync does not read.
func TestExampleConfigs(t *testing.T) {
	known := testkit.ConfigVariables(t)
	for _, name := range []string{"local.env", "compose.env"} {
		getenv, err := app.WithEnvFile(testkit.Env(map[string]string{"ENV_FILE": "../../configs/" + name}))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := app.LoadConfig(getenv); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		raw, err := os.ReadFile("../../configs/" + name)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(raw), "\n") {
			key, _, ok := strings.Cut(strings.TrimSpace(line), "=")
			if ok && !strings.HasPrefix(key, "#") && !slices.Contains(known, key) {
				t.Errorf("%s sets %s, which usersync does not read", name, key)
			}
		}
	}
	getenv, _ := app.WithEnvFile(testkit.Env(map[string]string{"ENV_FILE": "../../configs/local.env", "LOG_FORMAT": "json"}))
	if got := getenv("LOG_FORMAT"); got != "json" {
		t.Errorf("the environment must win over the file: LOG_FORMAT = %q", got)
	}
	if got := getenv("LOG_LEVEL"); got != "debug" {
		t.Errorf("LOG_LEVEL from the file = %q, want debug", got)
	}
}
