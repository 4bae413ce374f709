package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/usersync/usersync/bench"
)

var labels = map[string]string{
	"pgbench":         "pgbench: the upsert (updates)",
	"pgbench-webhook": "pgbench: a webhook's transaction",
	"pgbench-new":     "pgbench: the upsert (new users)",
	"sync":            "POST /api/auth/sync (fresh tokens)",
	"sync-reused":     "POST /api/auth/sync (token reused)",
	"webhook":         "POST /api/webhooks/clerk",
}

func (r *runner) find(kind string, conns int) (row, bool) {
	for _, x := range r.rows {
		if x.kind == kind && x.conns == conns {
			return x, true
		}
	}
	return row{}, false
}

func (r *runner) report() {
	w := r.out
	var version string
	_ = r.db.QueryRowContext(context.Background(), "SHOW server_version").Scan(&version)
	fmt.Fprintf(w, "\n## Sync and webhooks against pgbench — PostgreSQL %s, %d cores, %s\n\n", version, runtime.NumCPU(), time.Now().Format(time.RFC3339))
	fmt.Fprintf(w, "Each phase: %s measured after %s warm-up, from the same table state (versions reset, VACUUM, CHECKPOINT).\n", r.o.duration, r.o.warmup)
	fmt.Fprintf(w, "Server, PostgreSQL and load generator share the machine: CPU is per request (µs) during the measured window;\n")
	fmt.Fprintf(w, "\"other\" is what the rest of the machine (other users) kept busy, in cores of %d.\n\n", runtime.NumCPU())
	fmt.Fprintln(w, "| workload | conns | req/s | p50 ms | p99 ms | errors | ÷ pgbench upsert | ÷ pgbench same work | µs usersync | µs postgres | µs load gen | other cores | outcomes |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, x := range r.rows {
		vsUpsert, vsSame, server := "—", "—", "—"
		if pg, ok := r.find("pgbench", x.conns); ok && pg.rps > 0 && x.kind != "pgbench" && x.kind != "pgbench-new" {
			vsUpsert = fmt.Sprintf("%.2f", x.rps/pg.rps)
		}
		same := map[string]string{"sync": "pgbench", "sync-reused": "pgbench", "webhook": "pgbench-webhook"}[x.kind]
		if pg, ok := r.find(same, x.conns); ok && pg.rps > 0 {
			vsSame = fmt.Sprintf("%.2f", x.rps/pg.rps)
		}
		perReq := func(cores float64) float64 {
			if x.rps == 0 {
				return 0
			}
			return cores * 1e6 / x.rps
		}
		if !strings.HasPrefix(x.kind, "pgbench") {
			server = fmt.Sprintf("%.0f", perReq(x.cpu.server))
		}
		fmt.Fprintf(w, "| %s | %d | %.0f | %s | %s | %d | %s | %s | %s | %.0f | %.0f | %.2f | %s |\n",
			labels[x.kind], x.conns, x.rps, bench.Ms(x.p50), bench.Ms(x.p99), x.errors, vsUpsert, vsSame,
			server, perReq(x.cpu.postgres), perReq(x.cpu.loadgen), x.cpu.other, x.outcomes)
	}
	fmt.Fprintf(w, "\nusersync peak RSS (the highest VmHWM of the real binary's processes, one per connection count): %.1f MB (at %d connections)\n",
		float64(r.hwmKB)/1024, r.maxRSSConn)

	top := slices.Max(r.o.conns)
	pg, _ := r.find("pgbench", top)
	pgw, _ := r.find("pgbench-webhook", top)
	sy, _ := r.find("sync", top)
	sr, _ := r.find("sync-reused", top)
	wh, _ := r.find("webhook", top)
	var syncErrs, whErrs int64
	for _, x := range r.rows {
		switch x.kind {
		case "sync", "sync-reused":
			syncErrs += x.errors
		case "webhook":
			whErrs += x.errors
		}
	}
	verdict := func(ok bool) string {
		if ok {
			return "meets"
		}
		return "MISSES"
	}
	ratio := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	fmt.Fprintf(w, "\n| target (at %d connections, same run) | measured | verdict |\n|---|---:|---|\n", top)
	fmt.Fprintf(w, "| sync ≥ 0.70 × pgbench, fresh tokens | %.2f (%.0f ÷ %.0f) | %s |\n", ratio(sy.rps, pg.rps), sy.rps, pg.rps, verdict(ratio(sy.rps, pg.rps) >= 0.7))
	fmt.Fprintf(w, "| sync ≥ 0.70 × pgbench, token reused | %.2f (%.0f ÷ %.0f) | %s |\n", ratio(sr.rps, pg.rps), sr.rps, pg.rps, verdict(ratio(sr.rps, pg.rps) >= 0.7))
	fmt.Fprintf(w, "| sync p99 ≤ 20 ms, fresh tokens | %s ms | %s |\n", bench.Ms(sy.p99), verdict(sy.p99 <= 20*time.Millisecond))
	fmt.Fprintf(w, "| sync p99 ≤ 20 ms, token reused | %s ms | %s |\n", bench.Ms(sr.p99), verdict(sr.p99 <= 20*time.Millisecond))
	fmt.Fprintf(w, "| sync errors = 0 (every sync phase) | %d | %s |\n", syncErrs, verdict(syncErrs == 0))
	fmt.Fprintf(w, "| webhooks ≥ 0.50 × pgbench | %.2f (%.0f ÷ %.0f) | %s |\n", ratio(wh.rps, pg.rps), wh.rps, pg.rps, verdict(ratio(wh.rps, pg.rps) >= 0.5))
	fmt.Fprintf(w, "| (PostgreSQL's own ceiling for it: pgbench of a webhook's transaction ÷ pgbench) | %.2f (%.0f ÷ %.0f) | |\n", ratio(pgw.rps, pg.rps), pgw.rps, pg.rps)
	fmt.Fprintf(w, "| webhook errors = 0 (every webhook phase) | %d | %s |\n", whErrs, verdict(whErrs == 0))
	fmt.Fprintf(w, "| server peak RSS ≤ 60 MB | %.1f MB | %s |\n", float64(r.hwmKB)/1024, verdict(r.hwmKB <= 60*1024))
}

// profile runs sync and webhooks once more at the highest connection
// count against the pprof build, takes a CPU profile of the measured
// window and a heap profile after it, and prints their top entries.
func (r *runner) profile(ctx context.Context) error {
	r.noteRSS(slices.Max(r.o.conns))
	if err := r.srv.stop(); err != nil {
		r.logf("usersync stop: %v", err)
	}
	r.srv = nil
	bin := filepath.Join(r.o.outDir, "usersync-pprof")
	srv, err := startServer(ctx, bin, r.o.outDir, filepath.Join(r.o.outDir, "usersync-pprof.log"), clone(r.env), true)
	if err != nil {
		return err
	}
	defer srv.stop()
	top := slices.Max(r.o.conns)
	secs := max(1, int(r.o.duration.Seconds())-1)
	fmt.Fprintf(r.out, "\n## Profiles of the pprof build (bench/cmd/pprofserver) at %d connections, %d s CPU profile each\n", top, secs)
	for i, kind := range []string{"sync-reused", "sync", "webhook"} {
		if kind == "sync-reused" {
			if err := r.prime(ctx, srv, top); err != nil {
				return err
			}
		}
		if err := r.reset(ctx); err != nil {
			return err
		}
		l, _ := r.load(srv, kind, top, 100+i)
		done := make(chan bench.Result, 1)
		go func() {
			res, err := l.Run(ctx)
			if err != nil {
				r.logf("profile load: %v", err)
			}
			done <- res
		}()
		time.Sleep(r.o.warmup)
		cpuFile := filepath.Join(r.o.outDir, kind+".cpu.pprof")
		if err := fetch(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", srv.pprof, secs), cpuFile); err != nil {
			return err
		}
		res := <-done
		heapFile := filepath.Join(r.o.outDir, kind+".heap.pprof")
		if err := fetch(fmt.Sprintf("http://%s/debug/pprof/heap", srv.pprof), heapFile); err != nil {
			return err
		}
		fmt.Fprintf(r.out, "\n### %s: %.0f req/s, p99 %s ms, errors %d while profiled\n", labels[kind], res.RPS, bench.Ms(res.P99), res.Errors)
		r.pprofTop(bin, cpuFile, "-top", "-nodecount=12")
		r.pprofTop(bin, cpuFile, "-top", "-cum", "-nodecount=25")
		if kind != "sync" {
			r.pprofTop(bin, heapFile, "-top", "-sample_index=alloc_space", "-nodecount=8")
		}
	}
	hwm, _ := bench.MemoryKB(srv.pid())
	fmt.Fprintf(r.out, "\npprof build peak RSS: %.1f MB\n", float64(hwm)/1024)
	return nil
}

func fetch(u, path string) error {
	client := &http.Client{Timeout: 5 * time.Minute}
	resp, err := client.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// pprofTop prints `go tool pprof` output, indented as a code block.
func (r *runner) pprofTop(bin, file string, args ...string) {
	cmd := exec.Command("go", append(append([]string{"tool", "pprof"}, args...), bin, file)...)
	cmd.Dir = r.root
	out, err := cmd.CombinedOutput()
	if err != nil {
		fmt.Fprintf(r.out, "go tool pprof: %v\n", err)
	}
	fmt.Fprintf(r.out, "\n    $ go tool pprof %s %s\n", strings.Join(args, " "), filepath.Base(file))
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if strings.HasPrefix(line, "File:") || strings.HasPrefix(line, "Build ID:") || strings.HasPrefix(line, "Type:") || strings.HasPrefix(line, "Time:") {
			continue
		}
		fmt.Fprintf(r.out, "    %s\n", line)
	}
}
