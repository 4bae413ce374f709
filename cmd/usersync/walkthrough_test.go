package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// walkthrough is the README's one-minute walk-through: the first sh block
// after its marker comment.
func walkthrough(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "<!-- walkthrough:")
	if !ok {
		t.Fatal("README.md has no <!-- walkthrough: … --> marker")
	}
	_, block, ok := strings.Cut(after, "```sh\n")
	if !ok {
		t.Fatal("no sh block after the walkthrough marker")
	}
	block, _, ok = strings.Cut(block, "```")
	if !ok {
		t.Fatal("the walkthrough's sh block is not closed")
	}
	return block
}

// TestREADMEWalkthrough runs the README's walk-through, command for command,
// in an empty folder, as a newcomer would on a fresh clone. Two things differ,
// both outside the commands: `go build` hands over this test binary (which
// runs usersync's main, see TestMain) instead of compiling, and the server
// listens on a free port rather than :8000.
func TestREADMEWalkthrough(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("the walk-through needs curl, which the README asks for")
	}
	script := walkthrough(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	script = strings.ReplaceAll(script, "localhost:8000", addr)

	prelude := `set -eo pipefail
go() {
  if [ "$*" != "build -o usersync ./cmd/usersync" ]; then echo "unexpected: go $*" >&2; return 1; fi
  printf '#!/bin/sh\nUSERSYNC_RUN_MAIN=1 exec "%s" "$@"\n' "$USERSYNC_TEST_BINARY" > usersync
  chmod +x usersync
}
`
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", prelude+script)
	cmd.Dir = t.TempDir()
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"USERSYNC_TEST_BINARY=" + usersyncBinary(t),
		"ADDR=" + addr, // serve listens here, and dev webhook sends here
		"LOG_LEVEL=warn",
	}
	out, err := cmd.CombinedOutput()
	text := string(out)
	if err != nil {
		t.Fatalf("the walk-through failed: %v\n%s", err, text)
	}

	// What the README promises after the walk-through.
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`wrote data/dev-jwt.pem and data/dev-jwt.pub.pem`),
		regexp.MustCompile(`"clerk_user_id":"user_demo","email":"demo@example.com","name":"Demo User"`),
		regexp.MustCompile(`"ingest_token":"trk_[0-9A-Z]{26}"`),
		regexp.MustCompile(`"location":\{"recorded_at":"[^"]+","received_at":"[^"]+","lat":52.520008,"lon":13.404954,"accuracy_m":null,"altitude_m":null,"speed_mps":1.54`),
		regexp.MustCompile(`"points":\[\{"recorded_at":"[^"]+","lat":52.520008,"lon":13.404954`),
		regexp.MustCompile(`200 OK \{"outcome":"applied","svix_id":"msg_dev_[0-9a-f]+","type":"user.updated"\}`),
		regexp.MustCompile(`200 OK \{"outcome":"applied","svix_id":"msg_dev_[0-9a-f]+","type":"user.deleted"\}`),
		regexp.MustCompile(`\{"error":"user has been deleted"\}`),
		regexp.MustCompile(`(?m)user\.deleted\s+user_demo\s+applied\s+1`),
		regexp.MustCompile(`(?m)user\.updated\s+user_demo\s+applied\s+1`),
	} {
		if !want.MatchString(text) {
			t.Errorf("the walk-through's output lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", text)
	}
}
