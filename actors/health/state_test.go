package health

import (
	"testing"
	"time"

	"github.com/opengslb/opengslb/config"
	"github.com/opengslb/opengslb/messages"
)

func TestMachine(t *testing.T) {
	const (
		U = messages.HealthUnknown
		H = messages.HealthHealthy
		D = messages.HealthUnhealthy
	)
	tests := []struct {
		name       string
		rise, fall int
		results    string // p = pass, f = fail
		states     []messages.HealthState
		changes    string // c = changed, . = not
	}{
		{"rise from unknown", 2, 3, "pp", []messages.HealthState{U, H}, ".c"},
		{"fall from unknown", 2, 3, "fff", []messages.HealthState{U, U, D}, "..c"},
		{"passes must be consecutive", 2, 3, "pfpp", []messages.HealthState{U, U, U, H}, "...c"},
		{"failures must be consecutive", 1, 3, "pffpfff", []messages.HealthState{H, H, H, H, H, H, D}, "c.....c"},
		{"healthy to unhealthy", 1, 2, "pff", []messages.HealthState{H, H, D}, "c.c"},
		{"recovery needs rise", 1, 1, "pfp", []messages.HealthState{H, D, H}, "ccc"},
		{"recovery from unhealthy", 3, 1, "fpppp", []messages.HealthState{D, D, D, H, H}, "c..c."},
		{"no change while steady", 1, 1, "ppp", []messages.HealthState{H, H, H}, "c.."},
		{"zero thresholds act as one", 0, 0, "pf", []messages.HealthState{H, D}, "cc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMachine(tt.rise, tt.fall)
			if m.state != U {
				t.Fatalf("start state %s, want unknown", m.state)
			}
			for i, r := range tt.results {
				changed := m.observe(r == 'p')
				if m.state != tt.states[i] || changed != (tt.changes[i] == 'c') {
					t.Fatalf("after %q: state %s changed %v, want %s changed %v",
						tt.results[:i+1], m.state, changed, tt.states[i], tt.changes[i] == 'c')
				}
			}
		})
	}
}

func TestNormalizeAndSameCheck(t *testing.T) {
	bare := config.HealthCheck{Type: "http"}
	explicit := config.HealthCheck{Type: "http", Path: "/", Interval: config.Duration{Duration: defaultInterval},
		Timeout: config.Duration{Duration: defaultTimeout}, SuccessThreshold: defaultRise,
		FailureThreshold: defaultFall, ExpectedStatus: []int{200}}
	if !sameCheck(normalize(bare), normalize(explicit)) {
		t.Errorf("defaults written out should be the same check:\n%+v\n%+v", normalize(bare), normalize(explicit))
	}
	if got := normalize(config.HealthCheck{}).Type; got != config.CheckHTTP {
		t.Errorf("empty type normalizes to %q, want http", got)
	}
	tcp1 := config.HealthCheck{Type: "tcp", Path: "/a", ExpectedStatus: []int{204}}
	tcp2 := config.HealthCheck{Type: "tcp", Path: "/b"}
	if !sameCheck(normalize(tcp1), normalize(tcp2)) {
		t.Error("http-only fields must not distinguish tcp checks")
	}
	changed := explicit
	changed.ExpectedStatus = []int{200, 204}
	if sameCheck(normalize(explicit), normalize(changed)) {
		t.Error("a changed expected_status is a changed check")
	}
	short := config.HealthCheck{Type: "tcp", Interval: config.Duration{Duration: time.Second}}
	if got := normalize(short).Timeout.Duration; got != time.Second {
		t.Errorf("default timeout %s, want capped at the 1s interval", got)
	}
}

func TestFirstOffset(t *testing.T) {
	const interval = 10 * time.Second
	seen := map[time.Duration]bool{}
	for i := range 50 {
		k := messages.BackendKey{Service: "webapp", Address: mustAddrPort(t, "10.0.1.1:80").Addr(), Port: uint16(8000 + i)}
		d := firstOffset(k, interval)
		if d < 0 || d >= interval {
			t.Fatalf("%s: offset %s outside [0, %s)", k, d, interval)
		}
		if again := firstOffset(k, interval); again != d {
			t.Fatalf("%s: offset %s then %s, want deterministic", k, d, again)
		}
		seen[d] = true
	}
	if len(seen) < 45 {
		t.Errorf("50 backends got only %d distinct first-check offsets", len(seen))
	}
}
