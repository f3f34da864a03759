package gossip

import (
	"context"
	"encoding/base64"
	"io"
	"log"
	"net"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
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
const within = 10 * time.Second

// waitFor polls cond until it holds or the bound passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	runtimetest.WaitFor(t, within, what, cond)
}

var (
	keyBytes   = []byte("0123456789abcdef0123456789abcdef")
	testKey    = base64.StdEncoding.EncodeToString(keyBytes)
	otherKey   = base64.StdEncoding.EncodeToString([]byte("fedcba9876543210fedcba9876543210"))
	webToken   = "webapp-token-0123456789"
	apiToken   = "api-token-0123456789abc"
	wrongToken = "not-the-api-token-01234"
)

func testLogger(t *testing.T) zerolog.Logger {
	if testing.Verbose() {
		return zerolog.New(zerolog.NewTestWriter(t)).Level(testLevel())
	}
	return zerolog.Nop()
}

// testOptions are fast timings for loopback.
func testOptions() Options {
	return Options{
		Timings:       LoopbackTimings(),
		RetryMin:      50 * time.Millisecond,
		RetryMax:      200 * time.Millisecond,
		ReportTimeout: 2 * time.Second,
		WarmupTimeout: time.Minute,
	}
}

func overwatchConfig(node string, tokens map[string]string, join ...string) *config.Config {
	return &config.Config{
		Mode: config.ModeOverwatch,
		Overwatch: &config.Overwatch{
			Identity:    config.Identity{NodeID: node, Region: "us-east"},
			AgentTokens: tokens,
			Gossip:      &config.OverwatchGossip{BindAddress: "127.0.0.1:0", EncryptionKey: testKey, Join: join},
			Stale:       config.Stale{Threshold: config.Duration{Duration: 30 * time.Second}},
		},
	}
}

func backend(service, addr string, port uint16) config.Backend {
	return config.Backend{
		Service: service, Address: addr, Port: port, Weight: 100, Priority: 1,
		HealthCheck: config.HealthCheck{Type: "http", Path: "/health", ExpectedStatus: []int{200}},
	}
}

func agentConfig(node, key, bind string, overwatches []string, tokens map[string]string, backends ...config.Backend) *config.Config {
	return &config.Config{
		Mode: config.ModeAgent,
		Agent: &config.Agent{
			Identity:      config.Identity{NodeID: node, Region: "us-east"},
			ServiceTokens: tokens,
			Gossip:        config.AgentGossip{BindAddress: bind, EncryptionKey: key, OverwatchNodes: overwatches},
			Heartbeat:     config.Heartbeat{Interval: config.Duration{Duration: time.Minute}},
			Backends:      backends,
		},
	}
}

// node is one gossip actor under test with the mailboxes it is wired to.
type node struct {
	a      *Actor
	inbox  *runtime.Mailbox[messages.GossipMsg]
	zone   *runtime.Mailbox[messages.ZoneMsg]
	hooks  *runtime.Mailbox[messages.HookMsg]
	cancel context.CancelFunc
	done   chan error
}

func newNode() *node {
	return &node{
		inbox: runtime.NewMailbox[messages.GossipMsg]("gossip", 64, runtime.Block, nil),
		zone:  runtime.NewMailbox[messages.ZoneMsg]("zone", 1024, runtime.Block, nil),
		hooks: runtime.NewMailbox[messages.HookMsg]("hooks", 1024, runtime.Reject, nil),
	}
}

func startOverwatch(t *testing.T, cfg *config.Config, opts Options) *node {
	t.Helper()
	n := newNode()
	a, err := NewOverwatch(testLogger(t), n.inbox, n.zone.Address(), n.hooks.Address(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	n.a = a
	n.run(t)
	select {
	case <-a.Ready():
	case err := <-n.done:
		t.Fatalf("overwatch stopped before ready: %v", err)
	case <-time.After(within):
		t.Fatal("overwatch not ready")
	}
	return n
}

// startAgent starts an agent without waiting for it to join.
func startAgent(t *testing.T, cfg *config.Config, opts Options) *node {
	t.Helper()
	n := newNode()
	a, err := NewAgent(testLogger(t), n.inbox, n.hooks.Address(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	n.a = a
	n.run(t)
	return n
}

func (n *node) waitReady(t *testing.T) {
	t.Helper()
	select {
	case <-n.a.Ready():
	case err := <-n.done:
		t.Fatalf("%s stopped before ready: %v", n.a.set.node, err)
	case <-time.After(within):
		t.Fatalf("%s not ready: %+v", n.a.set.node, n.a.Status())
	}
}

// run starts Run; stop (also a cleanup) cancels it and waits.
func (n *node) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel, n.done = cancel, make(chan error, 1)
	go func() { n.done <- n.a.Run(ctx) }()
	t.Cleanup(func() { n.stop(t) })
}

func (n *node) stop(t *testing.T) {
	t.Helper()
	if n.cancel == nil {
		return
	}
	n.cancel()
	n.cancel = nil
	select {
	case err := <-n.done:
		if err != nil {
			t.Errorf("%s: Run: %v", n.a.set.node, err)
		}
	case <-time.After(within):
		t.Fatalf("%s: Run did not return", n.a.set.node)
	}
}

// nextZone waits for the first zone message of type T matching match,
// discarding others.
func nextZone[T messages.ZoneMsg](t *testing.T, n *node, what string, match func(T) bool) T {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case msg := <-n.zone.Receive():
			if m, ok := msg.(T); ok && (match == nil || match(m)) {
				return m
			}
		case <-deadline:
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
	}
}

// nextHook waits for a hook event matching match.
func nextHook(t *testing.T, n *node, what string, match func(messages.HookEvent) bool) messages.HookEvent {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case msg := <-n.hooks.Receive():
			if ev, ok := msg.(messages.HookEvent); ok && match(ev) {
				return ev
			}
		case <-deadline:
			t.Fatalf("timed out after %s waiting for hook %s", within, what)
		}
	}
}

func hasMember(st Status, name, status string) bool {
	for _, m := range st.Members {
		if m.Name == name && (status == "" || m.Status == status) {
			return true
		}
	}
	return false
}

// freePort finds a port free for TCP and UDP on 127.0.0.1, for a node that
// must come back on the same address after a restart.
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// rawNode is a bare serf node playing an agent or a peer, for what a real
// actor never does (replay a report, forge one, stay silent).
type rawNode struct {
	s      *serf.Serf
	events chan serf.Event
}

func startRaw(t *testing.T, name, role string, key []byte, join ...string) *rawNode {
	t.Helper()
	ml := memberlist.DefaultLANConfig()
	ml.BindAddr, ml.BindPort, ml.AdvertisePort = "127.0.0.1", 0, 0
	ml.SecretKey = key
	tm := LoopbackTimings()
	ml.ProbeInterval, ml.ProbeTimeout, ml.SuspicionMult = tm.ProbeInterval, tm.ProbeTimeout, tm.SuspicionMult
	ml.GossipInterval, ml.PushPullInterval, ml.TCPTimeout = tm.GossipInterval, tm.PushPullInterval, tm.TCPTimeout
	quiet := log.New(io.Discard, "", 0)
	ml.Logger = quiet
	c := serf.DefaultConfig()
	c.NodeName = name
	c.Tags = map[string]string{tagRole: role, tagRegion: "us-east"}
	c.MemberlistConfig = ml
	c.Logger = quiet
	c.LogOutput = nil
	c.QuerySizeLimit = QuerySizeLimit
	c.LeavePropagateDelay = tm.LeavePropagateDelay
	c.BroadcastTimeout = tm.BroadcastTimeout
	// Big enough never to block serf in a test; read selectively.
	r := &rawNode{events: make(chan serf.Event, 4096)}
	c.EventCh = r.events
	s, err := serf.Create(c)
	if err != nil {
		t.Fatal(err)
	}
	r.s = s
	t.Cleanup(func() { _ = s.Shutdown() })
	if len(join) > 0 {
		if _, err := s.Join(join, true); err != nil {
			t.Fatalf("raw node %s: join %v: %v", name, join, err)
		}
	}
	return r
}

// query sends a query and returns the first answer from node.
func (r *rawNode) query(t *testing.T, name string, payload []byte, p *serf.QueryParam, from string) string {
	t.Helper()
	if p.Timeout == 0 {
		p.Timeout = 3 * time.Second
	}
	resp, err := r.s.Query(name, payload, p)
	if err != nil {
		t.Fatalf("query %s: %v", name, err)
	}
	defer resp.Close()
	for nr := range resp.ResponseCh() {
		if nr.From == from {
			return string(nr.Payload)
		}
	}
	t.Fatalf("query %s: no answer from %s", name, from)
	return ""
}

var toOverwatches = map[string]string{tagRole: "^overwatch$"}

// signed encodes a report of one IPv4 backend sent now.
func signed(t *testing.T, agent, service string, seq uint64, token string) []byte {
	t.Helper()
	b, err := Encode(messages.AgentReport{
		Agent: agent, Region: "us-east", Service: service, Seq: seq,
		Backends: []messages.AgentBackend{{Address: netip.MustParseAddr("10.9.0.1"), Port: 80, Weight: 1, Priority: 1, Health: messages.HealthHealthy}},
	}, []byte(token))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testLevel is info, or debug (serf's own lines too) with GOSSIP_DEBUG=1.
func testLevel() zerolog.Level {
	if os.Getenv("GOSSIP_DEBUG") != "" {
		return zerolog.DebugLevel
	}
	return zerolog.InfoLevel
}
