package testkit

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/usersync/usersync/app"
)

// probeValues are what ConfigVariables sets a variable to when it explores
// the reads that depend on a variable being set.
var probeValues = [...]string{"1", "true"}

// ConfigVariables returns, sorted, the name of every environment variable
// that usersync's configuration reads: app.WithEnvFile and app.LoadConfig,
// called as every command calls them, with a getenv that records each name
// asked for. A read may depend on other variables (PORT is read only while
// ADDR is empty), so the loader is called until no new name turns up: with
// nothing set, with each name seen so far set alone, and with all of them
// set, to each of a few placeholder values. Those values are mostly invalid
// settings; the loader's errors are expected and ignored, as it reads every
// variable before it reports what is wrong.
func ConfigVariables(t testing.TB) []string {
	t.Helper()
	envFile := filepath.Join(t.TempDir(), "empty.env")
	if err := os.WriteFile(envFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	read := map[string]bool{}
	load := func(set map[string]string) {
		t.Helper()
		// ENV_FILE names an empty file: the working directory's .env, if a
		// developer keeps one there, must not change what is read.
		env := map[string]string{"ENV_FILE": envFile}
		maps.Copy(env, set)
		getenv, err := app.WithEnvFile(func(name string) string {
			read[name] = true
			return env[name]
		})
		if err != nil {
			t.Fatalf("app.WithEnvFile: %v", err)
		}
		_, _ = app.LoadConfig(getenv)
	}
	for seen := -1; seen != len(read); {
		seen = len(read)
		names := slices.Sorted(maps.Keys(read))
		load(nil)
		for _, value := range probeValues {
			all := map[string]string{}
			for _, name := range names {
				if name == "ENV_FILE" {
					continue // it must stay the empty file
				}
				load(map[string]string{name: value})
				all[name] = value
			}
			load(all)
		}
	}
	return slices.Sorted(maps.Keys(read))
}
