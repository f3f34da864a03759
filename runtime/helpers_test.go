package runtime

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// eventLog records every event, so tests assert on what the runtime
// reported rather than on timing.
type eventLog struct {
	mu     sync.Mutex
	events []Event
}

func (l *eventLog) record(e Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

// of returns the events of one kind, optionally for one actor ("" = any).
func (l *eventLog) of(kind Kind, actor string) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Event
	for _, e := range l.events {
		if e.Kind == kind && (actor == "" || e.Actor == actor) {
			out = append(out, e)
		}
	}
	return out
}

// recorder keeps the order in which actors did things.
type recorder struct {
	mu    sync.Mutex
	steps []string
}

func (r *recorder) add(step string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.steps = append(r.steps, step)
}

func (r *recorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.steps)
}

// testActor runs a function per attempt (1-based), counting attempts.
type testActor struct {
	name     string
	run      func(ctx context.Context, attempt int) error
	attempts atomic.Int32
}

func (a *testActor) Name() string { return a.name }

func (a *testActor) Run(ctx context.Context) error {
	return a.run(ctx, int(a.attempts.Add(1)))
}

// untilDone is the run function of a well-behaved actor with nothing to do.
func untilDone(ctx context.Context, _ int) error {
	<-ctx.Done()
	return ctx.Err()
}

type readyActor struct {
	*testActor
	ready chan struct{}
}

func (a readyActor) Ready() <-chan struct{} { return a.ready }

type drainActor struct {
	*testActor
	drain func(ctx context.Context) error
}

func (a drainActor) Drain(ctx context.Context) error { return a.drain(ctx) }

// runSupervisor starts s.Run and returns a function that cancels it and
// returns Run's result, and a channel that yields Run's result on its own
// (for tests where Run ends without being cancelled).
func runSupervisor(s *Supervisor) (stop func() error, result <-chan error) {
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	return func() error { cancel(); return <-errc }, errc
}

// waitFor polls cond with a bound, for the few tests that run on the real
// clock; it never sleeps longer than needed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
