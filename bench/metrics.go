package bench

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Outcomes are counts by the outcome label of one of the server's
// counters (user_upserts_total, webhook_deliveries_total).
type Outcomes map[string]int64

// ScrapeOutcomes reads the counter name from base's /metrics and sums it
// by its outcome label.
func ScrapeOutcomes(base, name string) (Outcomes, error) {
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	out := Outcomes{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		outcome := "-"
		if _, rest, ok := strings.Cut(line[:i], `outcome="`); ok {
			outcome, _, _ = strings.Cut(rest, `"`)
		}
		out[outcome] += int64(v)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return out, sc.Err()
}

// Since is o minus before, without the outcomes that did not move.
func (o Outcomes) Since(before Outcomes) Outcomes {
	d := Outcomes{}
	for k, v := range o {
		if v -= before[k]; v != 0 {
			d[k] = v
		}
	}
	return d
}

// String is "a=1 b=2", sorted.
func (o Outcomes) String() string {
	var parts []string
	for k, v := range o {
		parts = append(parts, k+"="+strconv.FormatInt(v, 10))
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}
