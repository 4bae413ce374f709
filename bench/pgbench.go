package bench

import (
	"embed"
	"net/url"
	"sort"
	"strings"
)

// scripts are the pgbench references of the hot paths: each runs, with
// pgbench variables for the values, the statements the service issues for
// one request (see bench/README.md); TestLoadRequests compares them with
// what a real server sends PostgreSQL.
//
//go:embed pgbench/*.sql
var scripts embed.FS

// Script returns the pgbench script pgbench/<name>.sql.
func Script(name string) (string, error) {
	b, err := scripts.ReadFile("pgbench/" + name + ".sql")
	return string(b), err
}

// Scripts lists the names of the pgbench scripts.
func Scripts() []string {
	entries, _ := scripts.ReadDir("pgbench")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".sql"))
	}
	sort.Strings(names)
	return names
}

// PgEnv is libpq's environment for a postgres:// URL (pgbench reads it),
// including a search_path parameter as PGOPTIONS.
func PgEnv(databaseURL string) []string {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return nil
	}
	env := []string{"PGHOST=" + u.Hostname(), "PGDATABASE=" + strings.TrimPrefix(u.Path, "/")}
	if p := u.Port(); p != "" {
		env = append(env, "PGPORT="+p)
	}
	if u.User != nil {
		env = append(env, "PGUSER="+u.User.Username())
		if pw, ok := u.User.Password(); ok {
			env = append(env, "PGPASSWORD="+pw)
		}
	}
	q := u.Query()
	if m := q.Get("sslmode"); m != "" {
		env = append(env, "PGSSLMODE="+m)
	}
	if sp := q.Get("search_path"); sp != "" {
		env = append(env, "PGOPTIONS=-c search_path="+sp)
	}
	return env
}
