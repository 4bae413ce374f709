package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseOptions(t *testing.T) {
	o, err := parseOptions(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(o.conns, o.batchConns, len(o.paths)) != "[32] [4] 6" {
		t.Errorf("defaults: conns %v, batch conns %v, %d paths; want [32] [4] 6", o.conns, o.batchConns, len(o.paths))
	}
	o, err = parseOptions([]string{"-conns", "1,8,32", "-paths", "latest,batch"}, io.Discard)
	if err != nil || fmt.Sprint(o.conns) != "[1 8 32]" || len(o.paths) != 2 || o.paths[1].Name != "batch" {
		t.Errorf("-conns 1,8,32 -paths latest,batch: %v, %v, %v", o.conns, o.paths, err)
	}
	for _, args := range [][]string{
		{"-conns", "0"},
		{"-batch-conns", "65"},
		{"-paths", "sync,nope"},
		{"-users", "100"}, // fewer than 4 per connection at 32
		{"-tokens-per-user", "1"},
		{"-duration", "5m"},
	} {
		if _, err := parseOptions(args, io.Discard); err == nil {
			t.Errorf("parseOptions(%q) accepted it", args)
		}
	}
}

// pgbench's per-transaction log: client, number, latency µs, script, end s, end µs.
func TestReadPgbenchLogs(t *testing.T) {
	dir := t.TempDir()
	start := time.Unix(1_800_000_000, 0)
	var b strings.Builder
	line := func(latency string, endOffset time.Duration) {
		end := start.Add(endOffset)
		fmt.Fprintf(&b, "0 1 %s 0 %d %d\n", latency, end.Unix(), end.Nanosecond()/1000)
	}
	line("1000", time.Millisecond)      // the first: the log starts 0 ms in
	line("2000", 1500*time.Millisecond) // warm-up: started at 1.498 s
	line("3000", 2500*time.Millisecond) // measured
	line("5000", 3*time.Second)         // measured
	line("failed", 3500*time.Millisecond)
	line("4000", 4500*time.Millisecond) // after the window
	if err := os.WriteFile(filepath.Join(dir, "p.123"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	res, total, err := readPgbenchLogs(filepath.Join(dir, "p"), 2*time.Second, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.requests != 2 || res.errors != 1 || total != 5 || res.p99 != 5*time.Millisecond || res.rps != 1 {
		t.Errorf("requests %d, errors %d, total %d, p99 %s, rps %.1f; want 2, 1, 5, 5ms, 1.0",
			res.requests, res.errors, total, res.p99, res.rps)
	}
}
