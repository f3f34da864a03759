package health

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/opengslb/opengslb/config"
	"github.com/opengslb/opengslb/messages"
	"github.com/opengslb/opengslb/runtime"
	"github.com/opengslb/opengslb/runtime/runtimetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// within bounds every wait in these tests: long enough for a loaded 2-core
// machine under -race, short enough that a hang fails instead of stalling.
const within = 5 * time.Second

// waitFor polls cond until it holds or the bound passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	runtimetest.WaitFor(t, within, what, cond)
}

// flipServer is a real HTTP(S) server on 127.0.0.1 whose status can be
// flipped; script, if set, is answered first, one status per request.
type flipServer struct {
	*httptest.Server
	status atomic.Int32
	hits   atomic.Int64

	mu     sync.Mutex
	script []int
	hosts  map[string]int
}

func newFlipServer(t *testing.T, tlsServer bool, script ...int) *flipServer {
	t.Helper()
	s := &flipServer{script: script, hosts: map[string]int{}}
	s.status.Store(http.StatusOK)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		code := int(s.status.Load())
		s.mu.Lock()
		s.hosts[r.Host]++
		if len(s.script) > 0 {
			code, s.script = s.script[0], s.script[1:]
		}
		s.mu.Unlock()
		w.WriteHeader(code)
		_, _ = w.Write([]byte("ok\n"))
	})
	if tlsServer {
		s.Server = httptest.NewTLSServer(h)
	} else {
		s.Server = httptest.NewServer(h)
	}
	t.Cleanup(s.Close)
	return s
}

func (s *flipServer) addrPort(t *testing.T) netip.AddrPort {
	return mustAddrPort(t, s.Listener.Addr().String())
}

func (s *flipServer) sawHost(h string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hosts[h]
}

func mustAddrPort(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ap := mustAddrPort(t, ln.Addr().String())
	_ = ln.Close()
	return ap
}

// tcpListener accepts and closes connections until the test ends.
func tcpListener(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); <-done })
	return mustAddrPort(t, ln.Addr().String())
}

func backend(service string, ap netip.AddrPort, hc config.HealthCheck) config.Backend {
	return config.Backend{Service: service, Address: ap.Addr().String(), Port: ap.Port(), Weight: 1, HealthCheck: hc}
}

func keyOf(service string, ap netip.AddrPort) messages.BackendKey {
	return messages.BackendKey{Service: service, Address: ap.Addr(), Port: ap.Port()}
}

func ms(n int) config.Duration { return config.Duration{Duration: time.Duration(n) * time.Millisecond} }

// fixedNow is the injected clock: BackendHealth.At must come from it.
var fixedNow = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// harness runs one HealthActor against real mailboxes and records what it
// sends to the zone, per backend, in order.
type harness struct {
	t      *testing.T
	inbox  *runtime.Mailbox[messages.HealthMsg]
	zone   *runtime.Mailbox[messages.ZoneMsg]
	actor  *Actor
	cancel context.CancelFunc
	done   chan error
	seen   map[messages.BackendKey][]messages.BackendHealth

	mu     sync.Mutex
	starts map[messages.BackendKey]int
}

func newHarness(t *testing.T, cfg *config.Config, opts Options) *harness {
	t.Helper()
	if opts.Now == nil {
		opts.Now = func() time.Time { return fixedNow }
	}
	h := &harness{
		t:      t,
		inbox:  runtime.NewMailbox[messages.HealthMsg]("health", 4, runtime.Block, nil),
		zone:   runtime.NewMailbox[messages.ZoneMsg]("zone", 16, runtime.Block, nil),
		seen:   map[messages.BackendKey][]messages.BackendHealth{},
		starts: map[messages.BackendKey]int{},
	}
	h.actor = New(zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel), h.inbox, ToZone(h.zone.Address()), cfg, opts)
	h.actor.onStart = func(k messages.BackendKey) {
		h.mu.Lock()
		h.starts[k]++
		h.mu.Unlock()
	}
	t.Cleanup(h.stop)
	return h
}

// run starts (or restarts) Run in its own goroutine.
func (h *harness) run() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 1)
	go func() { h.done <- h.actor.Run(ctx) }()
}

// stop cancels Run and waits, bounded, for it to return.
func (h *harness) stop() {
	h.t.Helper()
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run returned %v", err)
		}
	case <-time.After(within):
		h.t.Fatalf("Run did not return within %s of cancel", within)
	}
}

func (h *harness) apply(cfg *config.Config, gen uint64) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if err := h.inbox.Address().Send(ctx, messages.ConfigApplied{Config: cfg, Generation: gen}); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) startsOf(k messages.BackendKey) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.starts[k]
}

// expect returns the next report about key and fails unless it says want.
// Reports about other backends are kept for their own expect.
func (h *harness) expect(key messages.BackendKey, want messages.HealthState) messages.BackendHealth {
	h.t.Helper()
	deadline := time.After(within)
	for len(h.seen[key]) == 0 {
		select {
		case msg := <-h.zone.Receive():
			bh, ok := msg.(messages.BackendHealth)
			if !ok {
				h.t.Fatalf("zone got %T, want BackendHealth", msg)
			}
			h.seen[bh.Key] = append(h.seen[bh.Key], bh)
		case <-deadline:
			h.t.Fatalf("no report for %s within %s (want %s)", key, within, want)
		}
	}
	got := h.seen[key][0]
	h.seen[key] = h.seen[key][1:]
	if got.State != want {
		h.t.Fatalf("%s: got %s (%q), want %s", key, got.State, got.Detail, want)
	}
	if !got.At.Equal(fixedNow) {
		h.t.Errorf("%s: At = %v, want the injected clock's %v", key, got.At, fixedNow)
	}
	return got
}

// noMoreReports fails if anything about key was received and not expected.
func (h *harness) noMoreReports(key messages.BackendKey) {
	h.t.Helper()
	for {
		select {
		case msg := <-h.zone.Receive():
			bh := msg.(messages.BackendHealth)
			h.seen[bh.Key] = append(h.seen[bh.Key], bh)
			continue
		default:
		}
		break
	}
	if n := len(h.seen[key]); n > 0 {
		h.t.Fatalf("%s: unexpected reports %+v", key, h.seen[key])
	}
}
