package main

import (
	"os"
	"testing"
)

// TestMain lets tests run this very test binary as the usersync program
// (USERSYNC_RUN_MAIN=1): real processes without a separate go build.
func TestMain(m *testing.M) {
	if os.Getenv("USERSYNC_RUN_MAIN") == "1" {
		os.Args = append([]string{"usersync"}, os.Args[1:]...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}
