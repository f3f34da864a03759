package runtime

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

func TestSupervisorRestartsWithGrowingBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := &eventLog{}
		running := make(chan struct{})
		a := &testActor{name: "flaky", run: func(ctx context.Context, n int) error {
			if n <= 5 {
				return fmt.Errorf("attempt %d: connection refused", n)
			}
			close(running)
			return untilDone(ctx, n)
		}}
		s := NewSupervisor("root", Options{
			MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second,
			Intensity: 10, Events: log.record,
		})
		s.Add(a)
		start := time.Now()
		stop, _ := runSupervisor(s)
		<-running
		elapsed := time.Since(start)
		if err := stop(); err != nil {
			t.Fatalf("Run: %v", err)
		}

		restarts := log.of(ActorRestarting, "flaky")
		if len(restarts) != 5 {
			t.Fatalf("%d restarts, want 5", len(restarts))
		}
		var total time.Duration
		for i, e := range restarts {
			base := min(100*time.Millisecond<<i, time.Second)
			if e.Backoff < base/2 || e.Backoff > base {
				t.Errorf("restart %d: backoff %v outside [%v, %v]", i+1, e.Backoff, base/2, base)
			}
			if e.Restarts != i+1 || e.Err == nil || e.Supervisor != "root" {
				t.Errorf("restart %d: event %+v", i+1, e)
			}
			total += e.Backoff
		}
		if first, last := restarts[0].Backoff, restarts[4].Backoff; last <= first {
			t.Errorf("backoff did not grow: first %v, last %v", first, last)
		}
		if elapsed != total {
			t.Errorf("actor ran again after %v, want the sum of back-offs %v", elapsed, total)
		}
		if n := len(log.of(ActorFailed, "flaky")); n != 5 {
			t.Errorf("%d ActorFailed events, want 5", n)
		}
	})
}

func TestSupervisorBackoffResetsAfterStableRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := &eventLog{}
		running := make(chan struct{})
		a := &testActor{name: "flaky", run: func(ctx context.Context, n int) error {
			switch n {
			case 1, 2:
				return errors.New("early failure")
			case 3:
				time.Sleep(time.Minute) // a long, healthy run (fake clock)
				return errors.New("late failure")
			}
			close(running)
			return untilDone(ctx, n)
		}}
		s := NewSupervisor("root", Options{
			MinBackoff: 100 * time.Millisecond, MaxBackoff: 10 * time.Second,
			StableAfter: 30 * time.Second, Intensity: 10, Events: log.record,
		})
		s.Add(a)
		stop, _ := runSupervisor(s)
		<-running
		if err := stop(); err != nil {
			t.Fatalf("Run: %v", err)
		}
		restarts := log.of(ActorRestarting, "flaky")
		if len(restarts) != 3 {
			t.Fatalf("%d restarts, want 3", len(restarts))
		}
		if b := restarts[1].Backoff; b < 100*time.Millisecond {
			t.Errorf("second back-off %v, want doubled (>= 100ms)", b)
		}
		if b := restarts[2].Backoff; b > 100*time.Millisecond {
			t.Errorf("back-off after a stable run %v, want reset to <= MinBackoff", b)
		}
	})
}

func TestSupervisorRecoversPanic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := &eventLog{}
		running := make(chan struct{})
		a := &testActor{name: "buggy", run: func(ctx context.Context, n int) error {
			if n == 1 {
				var xs []int
				_ = xs[n] // a real runtime panic
			}
			close(running)
			return untilDone(ctx, n)
		}}
		s := NewSupervisor("root", Options{Events: log.record})
		s.Add(a)
		stop, _ := runSupervisor(s)
		<-running
		if err := stop(); err != nil {
			t.Fatalf("Run: %v", err)
		}
		failed := log.of(ActorFailed, "buggy")
		if len(failed) != 1 {
			t.Fatalf("%d ActorFailed events, want 1", len(failed))
		}
		e := failed[0]
		if !errors.Is(e.Err, ErrPanic) || !strings.Contains(e.Err.Error(), `"buggy"`) || !strings.Contains(e.Err.Error(), "index out of range") {
			t.Errorf("panic error = %v, want ErrPanic naming the actor and the panic", e.Err)
		}
		if !strings.Contains(string(e.Stack), "TestSupervisorRecoversPanic") {
			t.Errorf("stack does not show where it panicked:\n%s", e.Stack)
		}
		if n := len(log.of(ActorRestarting, "buggy")); n != 1 {
			t.Errorf("%d restarts, want 1", n)
		}
		if a.attempts.Load() != 2 {
			t.Errorf("attempts = %d, want 2", a.attempts.Load())
		}
	})
}

func TestSupervisorEscalatesAfterIntensity(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := &eventLog{}
		errDisk := errors.New("disk full")
		rec := &recorder{}
		steady := &testActor{name: "steady", run: func(ctx context.Context, n int) error {
			<-ctx.Done()
			rec.add("stop steady")
			return nil
		}}
		broken := &testActor{name: "broken", run: func(context.Context, int) error {
			return fmt.Errorf("write state: %w", errDisk)
		}}
		s := NewSupervisor("root", Options{Intensity: 2, Period: time.Minute, Events: log.record})
		s.Add(steady)
		s.Add(broken)
		_, result := runSupervisor(s)
		err := <-result
		if !errors.Is(err, ErrEscalated) || !errors.Is(err, errDisk) {
			t.Fatalf("Run = %v, want ErrEscalated wrapping the last error", err)
		}
		if msg := err.Error(); !strings.Contains(msg, `"broken"`) || !strings.Contains(msg, "disk full") {
			t.Errorf("error %q does not name the actor and its last error", msg)
		}
		if n := broken.attempts.Load(); n != 3 {
			t.Errorf("broken ran %d times, want 3 (Intensity 2 exceeded on the 3rd failure)", n)
		}
		if got := rec.get(); !slices.Equal(got, []string{"stop steady"}) {
			t.Errorf("steady was not stopped: %v", got)
		}
		if ev := log.of(ActorEscalated, "broken"); len(ev) != 1 || !errors.Is(ev[0].Err, ErrEscalated) {
			t.Errorf("escalation events = %+v", ev)
		}
	})
}

func TestSupervisorFailuresOutsidePeriodDoNotEscalate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		running := make(chan struct{})
		a := &testActor{name: "rare", run: func(ctx context.Context, n int) error {
			if n <= 4 {
				time.Sleep(time.Minute) // each failure comes a minute apart
				return errors.New("rare failure")
			}
			close(running)
			return untilDone(ctx, n)
		}}
		s := NewSupervisor("root", Options{Intensity: 1, Period: 30 * time.Second})
		s.Add(a)
		stop, _ := runSupervisor(s)
		<-running
		if err := stop(); err != nil {
			t.Fatalf("Run: %v", err)
		}
	})
}

func TestSupervisorFatalEscalatesAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := &testActor{name: "signer", run: func(context.Context, int) error {
			return fmt.Errorf("load key: %w", ErrFatal)
		}}
		s := NewSupervisor("root", Options{Intensity: 100})
		s.Add(a)
		_, result := runSupervisor(s)
		err := <-result
		if !errors.Is(err, ErrEscalated) || !errors.Is(err, ErrFatal) || !strings.Contains(err.Error(), `"signer"`) {
			t.Fatalf("Run = %v, want ErrEscalated+ErrFatal naming signer", err)
		}
		if n := a.attempts.Load(); n != 1 {
			t.Errorf("ran %d times, want 1", n)
		}
	})
}

func TestSupervisorDoesNotRestartFinishedActors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := &eventLog{}
		once := &testActor{name: "once", run: func(context.Context, int) error {
			return fmt.Errorf("migration complete: %w", ErrDoNotRestart)
		}}
		clean := &testActor{name: "clean", run: func(context.Context, int) error { return nil }}
		s := NewSupervisor("root", Options{Events: log.record})
		s.Add(once)
		s.Add(clean)
		stop, result := runSupervisor(s)
		<-s.Ready()
		synctest.Wait()
		select {
		case err := <-result:
			t.Fatalf("Run returned %v when its actors finished; it should wait for ctx", err)
		default:
		}
		if once.attempts.Load() != 1 || clean.attempts.Load() != 1 {
			t.Errorf("attempts = %d, %d; want 1, 1", once.attempts.Load(), clean.attempts.Load())
		}
		if n := len(log.of(ActorRestarting, "")); n != 0 {
			t.Errorf("%d restarts, want none", n)
		}
		if ev := log.of(ActorStopped, "once"); len(ev) != 1 || !errors.Is(ev[0].Err, ErrDoNotRestart) {
			t.Errorf("stopped events for once = %+v", ev)
		}
		if err := stop(); err != nil {
			t.Fatalf("Run: %v", err)
		}
	})
}

func TestSupervisorStartsInOrderGatedOnReady(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		log := &eventLog{}
		readyAfter := func(name string, d time.Duration) readyActor {
			ready := make(chan struct{})
			return readyActor{ready: ready, testActor: &testActor{name: name, run: func(ctx context.Context, n int) error {
				rec.add("start " + name)
				time.Sleep(d) // warming up (fake clock)
				rec.add("ready " + name)
				close(ready)
				return untilDone(ctx, n)
			}}}
		}
		plain := &testActor{name: "plain", run: func(ctx context.Context, n int) error {
			rec.add("start plain")
			return untilDone(ctx, n)
		}}
		s := NewSupervisor("root", Options{StartTimeout: 5 * time.Second, Events: log.record})
		s.Add(readyAfter("gossip", 2*time.Second))
		s.Add(readyAfter("zone", time.Second))
		s.Add(plain)
		s.Add(readyAfter("dns", 0))
		stop, _ := runSupervisor(s)
		start := time.Now()
		<-s.Ready()
		if waited := time.Since(start); waited != 3*time.Second {
			t.Errorf("supervisor ready after %v, want 3s (each actor in turn)", waited)
		}
		synctest.Wait() // let plain, which has nothing to gate on, get going
		got := rec.get()
		// plain has no Ready, so the supervisor moves on at once and its
		// Run may be entered before or after dns's: only its place after
		// its own dependencies is fixed.
		plainAt := slices.Index(got, "start plain")
		if plainAt < 0 {
			t.Fatalf("plain never started: %v", got)
		}
		if plainAt < slices.Index(got, "ready zone") {
			t.Errorf("plain started before zone was ready: %v", got)
		}
		got = slices.Delete(got, plainAt, plainAt+1)
		want := []string{"start gossip", "ready gossip", "start zone", "ready zone", "start dns", "ready dns"}
		if !slices.Equal(got, want) {
			t.Errorf("start order:\n got %v\nwant %v", got, want)
		}
		var readyOrder []string
		for _, e := range log.of(ActorReady, "") {
			readyOrder = append(readyOrder, e.Actor)
		}
		if want := []string{"gossip", "zone", "plain", "dns"}; !slices.Equal(readyOrder, want) {
			t.Errorf("ActorReady order %v, want %v", readyOrder, want)
		}
		if err := stop(); err != nil {
			t.Fatalf("Run: %v", err)
		}
	})
}

func TestSupervisorNotReady(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(ctx context.Context, n int) error
		want string
	}{
		{"never ready", untilDone, "not ready within 2s"},
		{"finished first", func(context.Context, int) error { return nil }, "finished before it was ready"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				log := &eventLog{}
				first := readyActor{ready: make(chan struct{}), testActor: &testActor{name: "api", run: tc.run}}
				second := &testActor{name: "after", run: untilDone}
				s := NewSupervisor("root", Options{StartTimeout: 2 * time.Second, Events: log.record})
				s.Add(first)
				s.Add(second)
				_, result := runSupervisor(s)
				err := <-result
				if !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), `"api"`) || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("Run = %v, want ErrNotReady naming api (%s)", err, tc.want)
				}
				if n := second.attempts.Load(); n != 0 {
					t.Errorf("the next actor started %d times before its dependency was ready", n)
				}
				if len(log.of(ActorNotReady, "api")) != 1 || len(log.of(ActorStopped, "api")) != 1 {
					t.Errorf("want one ActorNotReady and one ActorStopped for api")
				}
			})
		})
	}
}

func TestSupervisorDrainsThenStopsInReverse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		drainer := func(name string) drainActor {
			return drainActor{
				testActor: &testActor{name: name, run: func(ctx context.Context, _ int) error {
					<-ctx.Done()
					rec.add("stop " + name)
					return nil
				}},
				drain: func(ctx context.Context) error {
					if _, ok := ctx.Deadline(); !ok {
						t.Errorf("drain %s: no deadline", name)
					}
					rec.add("drain " + name)
					return nil
				},
			}
		}
		plain := &testActor{name: "plain", run: func(ctx context.Context, _ int) error {
			<-ctx.Done()
			rec.add("stop plain")
			return nil
		}}
		s := NewSupervisor("root", Options{})
		s.Add(drainer("gossip"))
		s.Add(plain)
		s.Add(drainer("zone"))
		s.Add(drainer("api"))
		stop, _ := runSupervisor(s)
		<-s.Ready()
		if err := stop(); err != nil {
			t.Fatalf("Run: %v", err)
		}
		want := []string{
			"drain api", "drain zone", "drain gossip",
			"stop api", "stop zone", "stop plain", "stop gossip",
		}
		if got := rec.get(); !slices.Equal(got, want) {
			t.Errorf("shutdown order:\n got %v\nwant %v", got, want)
		}
	})
}

func TestSupervisorAbandonsStuckActor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := &eventLog{}
		release := make(chan struct{})
		stuck := &testActor{name: "stuck", run: func(context.Context, int) error {
			<-release // ignores its context
			return nil
		}}
		rec := &recorder{}
		first := &testActor{name: "first", run: func(ctx context.Context, _ int) error {
			<-ctx.Done()
			rec.add("stop first")
			return nil
		}}
		s := NewSupervisor("root", Options{StopTimeout: time.Second, Events: log.record})
		s.Add(first)
		s.Add(stuck)
		stop, _ := runSupervisor(s)
		<-s.Ready()
		start := time.Now()
		err := stop()
		if !errors.Is(err, ErrStopTimeout) || !strings.Contains(err.Error(), `"stuck"`) {
			t.Fatalf("Run = %v, want ErrStopTimeout naming stuck", err)
		}
		if errors.Is(err, ErrEscalated) {
			t.Errorf("a stop timeout is not an escalation: %v", err)
		}
		if waited := time.Since(start); waited != time.Second {
			t.Errorf("Run took %v to stop, want StopTimeout (1s)", waited)
		}
		if got := rec.get(); !slices.Equal(got, []string{"stop first"}) {
			t.Errorf("the actors before the stuck one were not stopped: %v", got)
		}
		if ev := log.of(ActorAbandoned, "stuck"); len(ev) != 1 {
			t.Errorf("ActorAbandoned events = %+v", ev)
		}
		close(release) // let the abandoned goroutine end before the bubble does
	})
}

func TestSupervisorAbandonsStuckDrain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		a := drainActor{
			testActor: &testActor{name: "api", run: untilDone},
			drain: func(context.Context) error {
				<-release // ignores its context
				return nil
			},
		}
		s := NewSupervisor("root", Options{StopTimeout: time.Second})
		s.Add(a)
		stop, _ := runSupervisor(s)
		<-s.Ready()
		err := stop()
		if !errors.Is(err, ErrStopTimeout) || !strings.Contains(err.Error(), `drain actor "api"`) {
			t.Fatalf("Run = %v, want ErrStopTimeout for the drain of api", err)
		}
		close(release)
	})
}

func TestSupervisorDrainErrorIsReported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errLeave := errors.New("leave not acknowledged")
		log := &eventLog{}
		a := drainActor{
			testActor: &testActor{name: "gossip", run: untilDone},
			drain:     func(context.Context) error { return errLeave },
		}
		s := NewSupervisor("root", Options{Events: log.record})
		s.Add(a)
		stop, _ := runSupervisor(s)
		<-s.Ready()
		if err := stop(); !errors.Is(err, errLeave) || !strings.Contains(err.Error(), `"gossip"`) {
			t.Fatalf("Run = %v, want the drain error naming gossip", err)
		}
		if ev := log.of(ActorDrained, "gossip"); len(ev) != 1 || !errors.Is(ev[0].Err, errLeave) {
			t.Errorf("ActorDrained events = %+v", ev)
		}
	})
}

func TestSupervisorCancelDuringStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		slow := readyActor{ready: make(chan struct{}), testActor: &testActor{name: "slow", run: untilDone}}
		next := &testActor{name: "next", run: untilDone}
		s := NewSupervisor("root", Options{StartTimeout: time.Hour})
		s.Add(slow)
		s.Add(next)
		stop, _ := runSupervisor(s)
		synctest.Wait()
		if err := stop(); err != nil {
			t.Fatalf("Run cancelled during start = %v, want nil", err)
		}
		if next.attempts.Load() != 0 {
			t.Errorf("next started although its dependency never got ready")
		}
	})
}

func TestSupervisorRunTwice(t *testing.T) {
	s := NewSupervisor("root", Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Run(ctx); err != nil {
		t.Fatalf("first Run: %v", err)
	}
	if err := s.Run(ctx); !errors.Is(err, ErrAlreadyRun) {
		t.Fatalf("second Run = %v, want ErrAlreadyRun", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("Add after Run did not panic")
		}
	}()
	s.Add(&testActor{name: "late", run: untilDone})
}

func TestSupervisorDuplicateNames(t *testing.T) {
	s := NewSupervisor("root", Options{})
	s.Add(&testActor{name: "zone", run: untilDone})
	s.Add(&testActor{name: "zone", run: untilDone})
	if err := s.Run(context.Background()); err == nil || !strings.Contains(err.Error(), `"zone"`) {
		t.Fatalf("Run = %v, want an error naming the duplicate", err)
	}
}

// On the real clock and scheduler: restarting, draining and stopping
// actors all end, and Run leaves nothing running.
func TestSupervisorLeavesNoGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t)
	flaky := &testActor{name: "flaky", run: func(ctx context.Context, n int) error {
		if n%2 == 1 {
			return errors.New("odd attempt")
		}
		return untilDone(ctx, n)
	}}
	ready := make(chan struct{})
	server := readyActor{ready: ready, testActor: &testActor{name: "server", run: func(ctx context.Context, n int) error {
		// A worker goroutine that Run owns and waits for.
		done := make(chan struct{})
		go func() { defer close(done); <-ctx.Done() }()
		if n == 1 {
			close(ready)
		}
		<-done
		return nil
	}}}
	drainer := drainActor{testActor: &testActor{name: "api", run: untilDone}, drain: func(context.Context) error { return nil }}
	s := NewSupervisor("root", Options{MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Intensity: 1000})
	s.Add(server)
	s.Add(flaky)
	s.Add(drainer)
	stop, _ := runSupervisor(s)
	select {
	case <-s.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("supervisor not ready within 5s")
	}
	waitFor(t, "flaky to restart", func() bool { return flaky.attempts.Load() >= 2 })
	result := make(chan error, 1)
	go func() { result <- stop() }()
	select {
	case err := <-result:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of cancel")
	}
}

func TestEventKindString(t *testing.T) {
	if got := ActorRestarting.String(); got != "actor_restarting" {
		t.Errorf("ActorRestarting.String() = %q", got)
	}
	if got := Kind(0).String(); got != "kind(0)" {
		t.Errorf("Kind(0).String() = %q", got)
	}
	if got := Latest.String(); got != "latest" {
		t.Errorf("Latest.String() = %q", got)
	}
}
