package gossip

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestReplayGuard(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) uint64 { return uint64(now.Add(d).UnixNano()) }
	const window = 30 * time.Second

	type step struct {
		agent, service string
		seq            uint64
		want           error // nil: accepted (and recorded)
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"first report is taken", []step{{"a", "web", at(0), nil}}},
		{"increasing seqs", []step{{"a", "web", at(-2 * time.Second), nil}, {"a", "web", at(-time.Second), nil}, {"a", "web", at(0), nil}}},
		{"same seq again", []step{{"a", "web", at(0), nil}, {"a", "web", at(0), ErrReplay}}},
		{"older seq", []step{{"a", "web", at(0), nil}, {"a", "web", at(-time.Second), ErrReplay}}},
		{"per agent", []step{{"a", "web", at(0), nil}, {"b", "web", at(-time.Second), nil}}},
		{"per service", []step{{"a", "web", at(0), nil}, {"a", "api", at(-time.Second), nil}}},
		{"older than the window", []step{{"a", "web", at(-window - time.Millisecond), ErrTooOld}}},
		{"at the window's edge", []step{{"a", "web", at(-window), nil}}},
		{"clock skew allowed", []step{{"a", "web", at(MaxClockSkew), nil}}},
		{"too far in the future", []step{{"a", "web", at(MaxClockSkew + time.Millisecond), ErrFuture}}},
		{"beyond int64", []step{{"a", "web", math.MaxUint64, ErrFuture}}},
		{"zero seq", []step{{"a", "web", 0, ErrReplay}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := NewReplayGuard(window)
			for i, s := range c.steps {
				err := g.Check(s.agent, s.service, s.seq, now)
				if !errors.Is(err, s.want) || (s.want == nil) != (err == nil) {
					t.Fatalf("step %d: Check = %v, want %v", i, err, s.want)
				}
				if err == nil {
					g.Accept(s.agent, s.service, s.seq)
				}
			}
		})
	}
}

func TestReplayErrorsAreReplay(t *testing.T) {
	for _, err := range []error{ErrTooOld, ErrFuture} {
		if !errors.Is(err, ErrReplay) {
			t.Errorf("%v is not ErrReplay", err)
		}
	}
	if ErrTooOld.Error() != "replay: too old" || ErrFuture.Error() != "replay: in the future" {
		t.Errorf("reasons: %q, %q", ErrTooOld, ErrFuture)
	}
}

// Check alone records nothing: a report the zone could not take may come
// again.
func TestReplayCheckDoesNotRecord(t *testing.T) {
	now := time.Now()
	g := NewReplayGuard(time.Minute)
	seq := uint64(now.UnixNano())
	for range 2 {
		if err := g.Check("a", "web", seq, now); err != nil {
			t.Fatal(err)
		}
	}
}

// Pruning forgets only what the window refuses anyway, so a pruned guard —
// like one after an overwatch restart — still refuses an old capture.
func TestReplayPrune(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	g := NewReplayGuard(30 * time.Second)
	old, recent := uint64(t0.UnixNano()), uint64(t0.Add(50*time.Second).UnixNano())
	g.Accept("a", "web", old)
	g.Accept("b", "web", recent)
	later := t0.Add(time.Minute)
	g.Prune(later)
	if g.Len() != 1 {
		t.Fatalf("after prune %d entries, want 1", g.Len())
	}
	if err := g.Check("a", "web", old, later); !errors.Is(err, ErrTooOld) {
		t.Fatalf("pruned capture: %v, want ErrTooOld", err)
	}
	if err := g.Check("b", "web", recent, later); !errors.Is(err, ErrReplay) {
		t.Fatalf("kept entry: %v, want ErrReplay", err)
	}
	// Growing the window later does not re-admit what was pruned under a
	// shorter one: Prune uses the largest window ever set.
	g = NewReplayGuard(2 * time.Minute)
	g.Accept("a", "web", old)
	g.SetWindow(30 * time.Second)
	g.Prune(later)
	if g.Len() != 1 {
		t.Fatalf("entry within the earlier, larger window pruned")
	}
}
