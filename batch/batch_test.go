package batch_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/usersync/usersync/batch"
)

// recorder is an Apply that records its groups and can hold them.
type recorder struct {
	mu      sync.Mutex
	groups  [][]string
	hold    chan struct{} // while open, apply blocks (after recording)
	entered chan struct{} // told when a group enters apply
}

func newRecorder() *recorder {
	return &recorder{hold: make(chan struct{}), entered: make(chan struct{}, 100)}
}

func (r *recorder) apply(ctx context.Context, in []string) ([]string, []error, error) {
	r.mu.Lock()
	r.groups = append(r.groups, slices.Clone(in))
	r.mu.Unlock()
	r.entered <- struct{}{}
	<-r.hold
	out := make([]string, len(in))
	errs := make([]error, len(in))
	for i, s := range in {
		switch s {
		case "poison": // fails whatever group it is in
			return nil, nil, errors.New("the statement failed")
		case "refused": // fails alone
			errs[i] = errors.New("refused")
		default:
			out[i] = "done " + s
		}
	}
	return out, errs, nil
}

func (r *recorder) seen() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.groups)
}

func wait(t *testing.T, c <-chan struct{}) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(5 * time.Second):
		t.Fatal("timed out")
	}
}

// waitQueued waits until n calls wait behind the group that holds.
func waitQueued(t *testing.T, n int, load func() (waiting, busy int)) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for queued(load) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls queued, want %d", queued(load), n)
		}
		time.Sleep(time.Millisecond)
	}
}

type result struct {
	out string
	err error
}

func goDo(c *batch.Committer[string, string], ctx context.Context, in string, results chan<- result) {
	go func() {
		out, err := c.Do(ctx, in)
		results <- result{out, err}
	}()
}

// holdFirst starts a committer of one worker and groups of at most max;
// its first group, "first" alone, holds in apply until r.hold is closed.
// Then it starts a call for each of queue and returns once all of them
// wait behind that group.
func holdFirst(t *testing.T, max int, queue ...string) (*recorder, *batch.Committer[string, string], chan result) {
	t.Helper()
	r := newRecorder()
	c := batch.New(r.apply, 1, max, time.Minute)
	results := make(chan result, 20)
	goDo(c, context.Background(), "first", results)
	wait(t, r.entered) // no timer: it went alone, at once
	for _, in := range queue {
		goDo(c, context.Background(), in, results)
	}
	waitQueued(t, len(queue), c.Load)
	return r, c, results
}

// numbers is "0" to "n-1".
func numbers(n int) []string {
	var s []string
	for i := range n {
		s = append(s, fmt.Sprint(i))
	}
	return s
}

// TestGroups: a call alone goes at once; calls arriving while a group
// commits all go in the next group, in order.
func TestGroups(t *testing.T) {
	r, _, results := holdFirst(t, 100, numbers(10)...)
	close(r.hold)
	for range 11 {
		if res := <-results; res.err != nil || res.out == "" {
			t.Errorf("result %+v", res)
		}
	}
	groups := r.seen()
	if len(groups) != 2 || len(groups[0]) != 1 || len(groups[1]) != 10 {
		t.Fatalf("groups %v, want [first] then the ten that waited", groups)
	}
	slices.Sort(groups[1])
	if !slices.Equal(groups[1], numbers(10)) {
		t.Errorf("second group %v", groups[1])
	}
}

// TestGroupMax: no group is larger than max.
func TestGroupMax(t *testing.T) {
	r, _, results := holdFirst(t, 3, numbers(7)...)
	close(r.hold)
	for range 8 {
		<-results
	}
	var sizes []int
	for _, g := range r.seen() {
		sizes = append(sizes, len(g))
	}
	if !slices.Equal(sizes, []int{1, 3, 3, 1}) {
		t.Errorf("group sizes %v, want [1 3 3 1]", sizes)
	}
}

// TestFailingGroupGoesOneByOne: a write that fails its group fails alone;
// a write refused on its own never fails the others.
func TestFailingGroupGoesOneByOne(t *testing.T) {
	r, _, results := holdFirst(t, 100, "a", "poison", "b", "refused", "c")
	close(r.hold)
	got := map[string]int{}
	for range 6 {
		res := <-results
		switch {
		case res.err == nil:
			got["ok"]++
		case res.err.Error() == "the statement failed":
			got["poison"]++
		case res.err.Error() == "refused":
			got["refused"]++
		}
	}
	if got["ok"] != 4 || got["poison"] != 1 || got["refused"] != 1 {
		t.Errorf("outcomes %v, want 4 ok, the poison and the refused failing alone", got)
	}
	if groups := r.seen(); len(groups) != 7 || len(groups[1]) != 5 {
		t.Errorf("groups %v, want [first], the five, then each alone", groups)
	}
}

// TestCancelWhileWaiting: a caller that gives up before its write is in a
// group takes it back: never applied.
func TestCancelWhileWaiting(t *testing.T) {
	r, c, results := holdFirst(t, 100)
	ctx, cancel := context.WithCancel(context.Background())
	goDo(c, ctx, "given up", results)
	waitQueued(t, 1, c.Load)
	cancel()
	if res := <-results; !errors.Is(res.err, context.Canceled) {
		t.Fatalf("the cancelled call got %+v, want context.Canceled", res)
	}
	close(r.hold)
	<-results
	for _, g := range r.seen() {
		if slices.Contains(g, "given up") {
			t.Errorf("a write taken back was applied: %v", r.seen())
		}
	}
}

// TestCancelWhileCommitting: once its write is in a group, a caller gets
// what the group did, whatever its context says.
func TestCancelWhileCommitting(t *testing.T) {
	r := newRecorder()
	c := batch.New(r.apply, 1, 100, time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	results := make(chan result, 1)
	goDo(c, ctx, "committing", results)
	wait(t, r.entered)
	cancel()
	select {
	case res := <-results:
		t.Fatalf("returned %+v while its group was committing", res)
	case <-time.After(50 * time.Millisecond):
	}
	close(r.hold)
	if res := <-results; res.err != nil || res.out != "done committing" {
		t.Errorf("got %+v, want the committed outcome", res)
	}
}

func queued(load func() (waiting, busy int)) int {
	w, _ := load()
	return w
}

// TestRounds: the k-th write of each key in round k, arrival order kept.
func TestRounds(t *testing.T) {
	got := batch.Rounds([]string{"a", "b", "a", "c", "a", "b"})
	want := [][]int{{0, 1, 3}, {2, 5}, {4}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("Rounds = %v, want %v", got, want)
	}
	if got := batch.Rounds([]int{}); len(got) != 0 {
		t.Errorf("Rounds of nothing = %v", got)
	}
}
