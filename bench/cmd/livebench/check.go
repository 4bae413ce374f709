package main

import (
	"slices"
	"time"
)

// tally is what the streams received against what was sent.
type tally struct {
	expected   int // location events owed: per stream, per device it follows, the snapshot and every acknowledged point
	received   int // location events read
	missing    int // owed and never received
	duplicates int // received again
	outOfOrder int // received after a point of the same device recorded later
	unexpected int // neither owed nor the point of a failed request (another device, an invented time)
	unacked    int // points of a failed request that arrived anyway (not an error: the server may have committed)
	bad        int // location events that did not parse or whose id did not match the data
	endedEarly int // streams the server ended, or whose connection broke, during the measurement
	events     map[string]int

	// commitToReceive is, for every location event of a point sent during
	// the load (snapshots excluded), the time it was read minus the
	// received_at it carries: an upper bound on commit-to-receive, since
	// the server stamps received_at before its transaction commits.
	commitToReceive []time.Duration
	// sendToReceive is from the start of the point's request to the read.
	sendToReceive []time.Duration
}

// check compares what each stream received with what it was owed: the
// snapshot (the point each device reported before the streams opened),
// then every point of its devices the server acknowledged, each exactly
// once and in recorded_at order.
func check(streams []*stream, sent *sendResult) tally {
	byDevice := map[int64]*deviceLog{}
	for _, d := range sent.devices {
		byDevice[d.u.deviceID] = d
	}
	t := tally{events: map[string]int{}}
	for _, st := range streams {
		st.mu.Lock()
		got := slices.Clone(st.got)
		for name, n := range st.events {
			t.events[name] += n
		}
		t.bad += len(st.bad)
		st.mu.Unlock()
		if st.endedEarly() {
			t.endedEarly++
		}
		t.received += len(got)

		follows := st.spec.follows()
		for _, dev := range follows {
			d := byDevice[dev]
			owed := map[int64]sentPoint{st.spec.u.seedMs: {ms: st.spec.u.seedMs}}
			failed := map[int64]bool{}
			if d != nil {
				for _, p := range d.acked {
					owed[p.ms] = p
				}
				for _, p := range d.failed {
					failed[p.ms] = true
				}
			}
			t.expected += len(owed)
			seen := map[int64]bool{}
			newest := int64(-1 << 62)
			for _, r := range got {
				if r.device != dev {
					continue
				}
				switch p, ok := owed[r.ms]; {
				case seen[r.ms]:
					t.duplicates++
				case ok:
					if r.ms < newest {
						t.outOfOrder++
					}
					if r.ms != st.spec.u.seedMs {
						t.commitToReceive = append(t.commitToReceive, time.Duration(r.at-r.receivedAt*1000)*time.Microsecond)
						t.sendToReceive = append(t.sendToReceive, time.Duration(r.at-p.at)*time.Microsecond)
					}
				case failed[r.ms]:
					t.unacked++
				default:
					t.unexpected++
				}
				seen[r.ms] = true
				newest = max(newest, r.ms)
			}
			for ms := range owed {
				if !seen[ms] {
					t.missing++
				}
			}
		}
		for _, r := range got {
			if !slices.Contains(follows, r.device) {
				t.unexpected++
			}
		}
	}
	slices.Sort(t.commitToReceive)
	slices.Sort(t.sendToReceive)
	return t
}

// owed is how many location events the streams must receive in all.
func owed(streams []*stream, sent *sendResult) int {
	acked := map[int64]int{}
	for _, d := range sent.devices {
		acked[d.u.deviceID] = len(d.acked)
	}
	n := 0
	for _, st := range streams {
		for _, dev := range st.spec.follows() {
			n += 1 + acked[dev]
		}
	}
	return n
}
