package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/usersync/usersync/bench"
)

func (r *runner) find(pgbench bool, name, mode string, conns int) (phase, bool) {
	for _, x := range r.phases {
		if x.pgbench == pgbench && x.name == name && x.mode == mode && x.conns == conns {
			return x, true
		}
	}
	return phase{}, false
}

func ratio(a, b float64) string {
	if b <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func mb(kb int64) float64 { return float64(kb) / 1024 }

// perReq is µs of CPU per request, from cores used in the window.
func (p phase) perReq(cores float64) string {
	if p.rps <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f", cores*1e6/p.rps)
}

func (r *runner) report() {
	w := r.out
	fmt.Fprintf(w, "\n## Hot paths against pgbench — %s, %s to %s UTC, load average %s before, %s after\n\n",
		bench.Machine(context.Background(), r.pg.DB), r.started.UTC().Format("2006-01-02 15:04"), time.Now().UTC().Format("15:04"),
		r.loadBefore, bench.LoadAvg())
	fmt.Fprintf(w, "Each phase: %s measured after %s warm-up, from the same table state (versions 0, no locations, no events, the seeded fixes; VACUUM ANALYZE; CHECKPOINT: %v).\n",
		r.o.duration, r.o.warmup, r.o.checkpoint)
	fmt.Fprintf(w, "The reference of each path is pgbench -M prepared of bench/pgbench/<ref>.sql at the same connection count, run just before it.\n\n")

	fmt.Fprintln(w, "| path | conns | req/s | p50 ms | p99 ms | errors | ref | pgbench req/s | pgbench p99 ms | ÷ pgbench (goal) | p99 ÷ pgbench p99 (≤ 3) | ÷ pgbench -M simple | ÷ same work | PostgreSQL µs/req, usersync vs pgbench | peak RSS MB (≤ 60) | verdict |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	met, rows := 0, 0
	for _, x := range r.phases {
		if x.pgbench {
			continue
		}
		var p bench.Path
		for _, q := range bench.Paths {
			if q.Name == x.name {
				p = q
			}
		}
		ref, _ := r.find(true, p.Ref, "prepared", x.conns)
		simple, _ := r.find(true, p.Ref, "simple", x.conns)
		same, _ := r.find(true, p.Same, "prepared", x.conns)
		var missed []string
		if ref.rps <= 0 || x.rps/ref.rps < p.Goal {
			missed = append(missed, "ratio")
		}
		if ref.p99 <= 0 || float64(x.p99) > bench.MaxP99Ratio*float64(ref.p99) {
			missed = append(missed, "p99")
		}
		if x.errors > 0 || ref.errors > 0 {
			missed = append(missed, "errors")
		}
		if !x.workOK || !ref.workOK {
			missed = append(missed, "work")
		}
		if x.rssKB*1024 > bench.MaxRSSBytes {
			missed = append(missed, "RSS")
		}
		if x.ranOut != "" {
			missed = append(missed, "ran out of new work")
		}
		verdict := "met"
		if len(missed) > 0 {
			verdict = "**missed** (" + strings.Join(missed, ", ") + ")"
		} else {
			met++
		}
		rows++
		sameRatio := "—"
		if p.Same != p.Ref {
			sameRatio = ratio(x.rps, same.rps)
		}
		fmt.Fprintf(w, "| %s | %d | %.0f | %s | %s | %d | %s | %.0f | %s | %s (≥ %.2f) | %s | %s | %s | %s vs %s | %.1f | %s |\n",
			x.label(), x.conns, x.rps, bench.Ms(x.p50), bench.Ms(x.p99), x.errors, p.Ref, ref.rps, bench.Ms(ref.p99),
			ratio(x.rps, ref.rps), p.Goal, ratio(float64(x.p99), float64(ref.p99)), ratio(x.rps, simple.rps), sameRatio,
			x.perReq(x.cpu.postgres), ref.perReq(ref.cpu.postgres), mb(x.rssKB), verdict)
	}
	var peak int64
	for _, x := range r.phases {
		peak = max(peak, x.rssKB)
	}
	fmt.Fprintf(w, "\n%d of %d rows meet every goal (ratio, p99, zero errors, every request real work, RSS). usersync's peak RSS over all phases: %.1f MB.\n",
		met, rows, mb(peak))

	fmt.Fprintf(w, "\nEvery phase, in the order run; CPU per request in µs from /proc over the measured window: usersync, PostgreSQL (the\n")
	fmt.Fprintf(w, "backends of this database and the server's background processes), the load generator (this process, or pgbench);\n")
	fmt.Fprintf(w, "\"other\" is what the rest of the machine kept busy meanwhile, in cores of %d. Work: what the phase did, checked.\n\n", runtime.NumCPU())
	fmt.Fprintln(w, "| phase | conns | req/s | p50 ms | p99 ms | errors | µs usersync | µs postgres | µs load gen | other cores | work |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, x := range r.phases {
		server := "—"
		if !x.pgbench {
			server = x.perReq(x.cpu.server)
		}
		work := x.work
		if !x.workOK {
			work = "**" + work + "**"
		}
		if x.ranOut != "" {
			work += "; **" + x.ranOut + "**"
		}
		if x.firstErr != "" {
			work += "; first error: " + strings.ReplaceAll(x.firstErr, "|", "/")
		}
		fmt.Fprintf(w, "| %s | %d | %.0f | %s | %s | %d | %s | %s | %s | %.2f | %s |\n",
			x.label(), x.conns, x.rps, bench.Ms(x.p50), bench.Ms(x.p99), x.errors, server,
			x.perReq(x.cpu.postgres), x.perReq(x.cpu.loadgen), x.cpu.other, work)
	}
}

// profile runs each path once more, at its highest connection count,
// against the pprof build, takes a CPU profile of the measured window and
// a heap profile after it, writes their top entries to the output folder
// and prints the top of the CPU profile.
func (r *runner) profile(ctx context.Context) error {
	r.stopServer()
	bin := filepath.Join(r.o.outDir, "usersync-pprof")
	secs := max(1, int(r.o.duration.Seconds())-1)
	fmt.Fprintf(r.out, "\n## Profiles of the pprof build (bench/cmd/pprofserver), %d s of CPU profile each\n", secs)
	for i, p := range r.o.paths {
		conns := slices.Max(r.o.conns)
		if p.Batch {
			conns = slices.Max(r.o.batchConns)
		}
		// A new process for each path, as in the measured phases.
		srv, err := bench.StartProcess(ctx, bin, r.o.outDir, filepath.Join(r.o.outDir, "usersync-pprof-"+p.Name+".log"), maps.Clone(r.env), true)
		if err != nil {
			return err
		}
		defer srv.Stop()
		if p.Primed {
			if err := r.w.Prime(ctx, strings.TrimPrefix(srv.Base, "http://"), conns); err != nil {
				return err
			}
		}
		if err := r.reset(ctx); err != nil {
			return err
		}
		l := r.w.Load(p, strings.TrimPrefix(srv.Base, "http://"), conns, 900+i)
		l.Warmup, l.Duration, l.MaxRequests = r.o.warmup, r.o.duration, r.o.maxRequests
		done := make(chan bench.Result, 1)
		go func() {
			res, err := l.Run(ctx)
			if err != nil {
				r.logf("profile load: %v", err)
			}
			done <- res
		}()
		time.Sleep(r.o.warmup)
		cpuFile := filepath.Join(r.o.outDir, p.Name+".cpu.pprof")
		if err := bench.Fetch(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", srv.Pprof, secs), cpuFile); err != nil {
			return err
		}
		res := <-done
		heapFile := filepath.Join(r.o.outDir, p.Name+".heap.pprof")
		if err := bench.Fetch(fmt.Sprintf("http://%s/debug/pprof/heap", srv.Pprof), heapFile); err != nil {
			return err
		}
		topFile := filepath.Join(r.o.outDir, p.Name+".top.txt")
		var all strings.Builder
		fmt.Fprintf(&all, "%s at %d connections: %.0f req/s, p99 %s ms, errors %d while profiled\n",
			p.Label, conns, res.RPS, bench.Ms(res.P99), res.Errors)
		for _, args := range [][]string{
			{"-top", "-cum", "-nodecount=40"},
			{"-top", "-nodecount=25"},
			{"-top", "-sample_index=alloc_space", "-nodecount=15"},
		} {
			file := cpuFile
			if slices.Contains(args, "-sample_index=alloc_space") {
				file = heapFile
			}
			fmt.Fprintf(&all, "\n$ go tool pprof %s %s\n%s", strings.Join(args, " "), filepath.Base(file), r.pprofTop(bin, file, args...))
		}
		if err := os.WriteFile(topFile, []byte(all.String()), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(r.out, "\n### %s at %d connections: %.0f req/s, p99 %s ms, errors %d while profiled (%s)\n\n",
			p.Label, conns, res.RPS, bench.Ms(res.P99), res.Errors, filepath.Base(topFile))
		// Without the frames every request passes through, which only wrap the rest.
		const wrappers = `^net/http\.(HandlerFunc|serverHandler)\.ServeHTTP$|^github\.com/gorilla/mux\.\(\*Router\)\.ServeHTTP$|recordRoute\.func1$|^database/sql\.withLock$`
		for _, line := range strings.Split(strings.TrimRight(r.pprofTop(bin, cpuFile, "-top", "-cum", "-nodecount=18", "-hide="+wrappers), "\n"), "\n") {
			fmt.Fprintf(r.out, "    %s\n", line)
		}
		hwm, _ := bench.MemoryKB(srv.Pid())
		fmt.Fprintf(r.out, "\n    pprof build peak RSS: %.1f MB\n", mb(hwm))
		if err := srv.Stop(); err != nil {
			r.logf("usersync-pprof stop: %v", err)
		}
	}
	return nil
}

// pprofTop is `go tool pprof` output without its header lines.
func (r *runner) pprofTop(bin, file string, args ...string) string {
	top, err := bench.PprofTop(r.root, bin, file, args...)
	if err != nil {
		return fmt.Sprintf("go tool pprof: %v\n%s", err, top)
	}
	return top
}
