package main

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/usersync/usersync/bench"
)

func (r *runner) report() {
	w := r.out
	f, idle := &r.load, &r.idle
	t := f.tally
	build := "the real binary (cmd/usersync)"
	if r.o.pprof {
		build = "the pprof build (bench/cmd/pprofserver)"
	}
	fmt.Fprintf(w, "\n## Live stream — one replica, %s, %s, %s\n\n", build, bench.Machine(context.Background(), r.pg.DB), time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "Layout: %d users × 1 device × %d streams (even ones follow all the user's devices, odd ones the device by device_id) = %d streams.\n",
		len(r.users), r.o.streams, f.streams)
	fmt.Fprintf(w, "Load: %.0f points/s open loop for %s, %s; each device %.2f points/s on a connection of its own.\n",
		r.o.rate, r.o.duration, sendKind(r.o.batch), r.o.rate/float64(len(r.users)))
	fmt.Fprintf(w, "Load average before / after the load: %s / %s. Server, PostgreSQL and load generator share the machine.\n\n", f.loadavg[0], f.loadavg[1])

	acked, failed, requests, errors := f.sent.points()
	var resp, late []time.Duration
	for _, d := range f.sent.devices {
		resp = append(resp, d.resp...)
		late = append(late, d.late...)
	}
	slices.Sort(resp)
	slices.Sort(late)
	lateN := 0
	for _, l := range late {
		if l > 10*time.Millisecond {
			lateN++
		}
	}
	sendSecs := f.sent.end.Sub(f.sent.start).Seconds()

	c2r50, c2r99 := bench.Percentile(t.commitToReceive, 50), bench.Percentile(t.commitToReceive, 99)
	s50, s99 := f.hist.Quantile(0.5), f.hist.Quantile(0.99)
	within := f.hist.Within(targetP99.Seconds())
	exact := t.missing+t.duplicates+t.outOfOrder+t.unexpected+t.bad+t.endedEarly == 0 && f.drained
	perStream := float64(idle.rssAfter-idle.rssBefore) / float64(idle.streams) // KiB
	perStreamKB := perStream * 1024 / 1000

	fmt.Fprintln(w, "| what | measured | target | verdict |")
	fmt.Fprintln(w, "|---|---:|---|---|")
	row := func(what, measured, target, verdict string) {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", what, measured, target, verdict)
	}
	row("commit-to-receive p50, client: read time − `received_at` (an upper bound)", ms(c2r50), "", "")
	row("commit-to-receive p99, client (an upper bound)", ms(c2r99), "≤ 100 ms", verdict(len(t.commitToReceive) > 0 && c2r99 <= targetP99))
	row("commit-to-receive max, client", ms(last(t.commitToReceive)), "", "")
	row("commit-to-send p50 / p99, server (`live_commit_to_send_seconds`, interpolated in its buckets)",
		fmt.Sprintf("%.2f / %.2f ms", s50*1000, s99*1000), "≤ 100 ms", verdict(f.hist.Count > 0 && s99 <= targetP99.Seconds()))
	row("events written within 100 ms of their commit, server (exact: a bucket bound)", fmt.Sprintf("%.3f %% of %d", within*100, f.hist.Count), "≥ 99 %", verdict(within >= 0.99))
	row("request start to read p50 / p99 (the ingest request included)", ms(bench.Percentile(t.sendToReceive, 50))+" / "+ms(bench.Percentile(t.sendToReceive, 99)), "", "")
	row("ingest response time p50 / p99", ms(bench.Percentile(resp, 50))+" / "+ms(bench.Percentile(resp, 99)), "", "")
	row("points acknowledged / of requests that failed", fmt.Sprintf("%d / %d (%d requests, %d failed)", acked, failed, requests, errors), "0 failed", verdict(errors == 0))
	row("rate achieved (acknowledged points ÷ time from first due request to last answer)", fmt.Sprintf("%.1f points/s", float64(acked)/sendSecs), fmt.Sprintf("%.0f offered", r.o.rate), "")
	row("requests started > 10 ms behind schedule (the device's previous one still out)", fmt.Sprintf("%d (p99 %s, max %s)", lateN, ms(bench.Percentile(late, 99)), ms(last(late))), "", "")
	row("location events owed / read (one snapshot per stream included)", fmt.Sprintf("%d / %d", t.expected, t.received), "", "")
	row("events the server wrote for the load's points (`live_stream_events_total{type=\"location\"}`)", fmt.Sprintf("%.0f", f.sentEvents), fmt.Sprintf("%d", t.expected-f.streams), "")
	row("missed / duplicated / out of order / unexpected / malformed", fmt.Sprintf("%d / %d / %d / %d / %d", t.missing, t.duplicates, t.outOfOrder, t.unexpected, t.bad), "0", verdict(exact))
	row("streams that ended during the load", fmt.Sprintf("%d", t.endedEarly), "0", verdict(t.endedEarly == 0))
	drain := "not all within 15 s"
	if f.drained {
		drain = ms(f.drain)
	}
	row("from the last answer until every owed event was read", drain, "", "")
	row(fmt.Sprintf("server RSS per idle stream, %d idle streams (VmRSS %s → %s MiB)", idle.streams, mib(idle.rssBefore), mib(idle.rssAfter)),
		fmt.Sprintf("%.1f KiB (%.1f kB)", perStream, perStreamKB), "≤ 40 KB", verdict(perStreamKB <= targetKBPerStream))
	row("of it per stream: Go heap in use / goroutine stacks (from `/metrics`), goroutines",
		fmt.Sprintf("%.1f / %.1f KiB, %.2f", (idle.heapAfter-idle.heapBefore)/1024/float64(idle.streams),
			(idle.stackAfter-idle.stackBefore)/1024/float64(idle.streams), (idle.goAfter-idle.goBefore)/float64(idle.streams)), "", "")
	row("idle streams opened (each with its snapshot) / counted by the server", fmt.Sprintf("%d in %s / %.0f", idle.streams, idle.open.Round(time.Millisecond), idle.gauge), "", "")
	row("the server's queries that waited for a pooled connection (of 32), and their mean wait",
		fmt.Sprintf("%.0f, %s", f.poolWaits, ms(time.Duration(f.poolWait/math.Max(1, f.poolWaits)*float64(time.Second)))), "", "")
	row("PostgreSQL transactions per acknowledged point (`pg_stat_database`; a statement outside a transaction is one)",
		fmt.Sprintf("%.2f", float64(f.xacts)/math.Max(1, float64(acked))), "", "")
	row("CPU during the load, cores: usersync / PostgreSQL / load generator (senders and stream readers) / rest of the machine",
		fmt.Sprintf("%.2f / %.2f / %.2f / %.2f", f.server, f.pg, f.gen, f.other), "", "")
	perPoint := func(cores float64) float64 { return cores * f.window * 1e6 / math.Max(1, float64(acked)) }
	row("CPU per point, µs: usersync / PostgreSQL / load generator",
		fmt.Sprintf("%.0f / %.0f / %.0f", perPoint(f.server), perPoint(f.pg), perPoint(f.gen)), "", "")

	if errors > 0 {
		for _, d := range f.sent.devices {
			if d.firstErr != "" {
				fmt.Fprintf(w, "\nfirst failed request: %s\n", d.firstErr)
				break
			}
		}
	}
	for _, st := range r.streams {
		if st.endedEarly() {
			fmt.Fprintf(w, "\na stream that ended: %s (%v)\n", st.spec.path(), st.reason())
			break
		}
	}
	for _, st := range r.streams {
		if len(st.bad) > 0 {
			fmt.Fprintf(w, "\na malformed location event: %s\n", st.bad[0])
			break
		}
	}
	if names := otherEvents(t.events); names != "" {
		fmt.Fprintf(w, "\nevents other than location on the load's streams: %s\n", names)
	}

	if idle.profile != "" {
		fmt.Fprintf(w, "\n### Heap of the pprof build at %d idle streams\n", idle.streams)
		r.pprofTop(idle.profile, "-top", "-sample_index=inuse_space", "-nodecount=15")
	}
	if f.profile != "" {
		fmt.Fprintf(w, "\n### CPU of the pprof build during the load\n")
		r.pprofTop(f.profile, "-top", "-nodecount=15")
		r.pprofTop(f.profile, "-top", "-cum", "-nodecount=30")
	}
}

// pprofTop prints `go tool pprof` output, indented as a code block.
func (r *runner) pprofTop(file string, args ...string) {
	top, err := bench.PprofTop(r.root, r.binary, file, args...)
	if err != nil {
		fmt.Fprintf(r.out, "go tool pprof: %v\n", err)
	}
	fmt.Fprintf(r.out, "\n    $ go tool pprof %s %s\n", strings.Join(args, " "), filepath.Base(file))
	for _, line := range strings.Split(strings.TrimRight(top, "\n"), "\n") {
		fmt.Fprintf(r.out, "    %s\n", line)
	}
}

func otherEvents(events map[string]int) string {
	var parts []string
	for name, n := range events {
		if name != "location" {
			parts = append(parts, fmt.Sprintf("%s=%d", name, n))
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

func ms(d time.Duration) string { return bench.Ms(d) + " ms" }

func mib(kib int64) string { return fmt.Sprintf("%.1f", float64(kib)/1024) }

func last(sorted []time.Duration) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[len(sorted)-1]
}
