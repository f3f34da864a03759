package integration

import (
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The pieces of a gossip cluster on loopback: overwatches that gossip
// (startCluster), agents (`opengslb agent`) that check backends served by
// the test process and report them, and conditions polled on every
// overwatch. Every process is a real child of the test, found through its
// ports: DNS, metrics and, for agents, the agent API.
//
// Gossip binds 127.0.0.1:0. Memberlist then picks a port free for both TCP
// and UDP (a port chosen here could be taken by the time the child binds
// it, on TCP or UDP), and the child logs what it bound in its "serf
// started" line, which is where the test reads it.

const (
	// webName is the agent-backed name every cluster serves; its service
	// is "web", the first label.
	webName  = "web.gslb.test."
	webToken = "web-token-0123456789abcdef"
	// gossipTimeout bounds what needs gossip to travel: joins, reports and
	// their answers. On loopback all of it takes well under a second; the
	// rest is slack for a loaded 2-core machine under -race.
	gossipTimeout = 10 * time.Second
	// leaveTimeout bounds how long a graceful leave takes to withdraw an
	// agent's backends: the leave intent is gossiped at once.
	leaveTimeout = 3 * time.Second
	// failTimeout bounds how long memberlist's failure detector (default
	// LAN timings: probe every 1s, suspicion 4s scaled by cluster size and
	// shortened by confirmations) takes to declare a killed agent failed.
	failTimeout = 20 * time.Second
)

// newGossipKey returns a fresh gossip encryption key, as `opengslb keygen
// gossip` makes one: base64 of 32 random bytes.
func newGossipKey(t testing.TB) string {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(key)
}

// tomlStrings renders a TOML array of strings.
func tomlStrings(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// tomlTokens renders the body of a table of service tokens, sorted.
func tomlTokens(tokens map[string]string) string {
	var b strings.Builder
	for _, svc := range slices.Sorted(maps.Keys(tokens)) {
		fmt.Fprintf(&b, "%s = %q\n", svc, tokens[svc])
	}
	return b.String()
}

// hookTable is a [[hooks]] table running command for event.
func hookTable(event, command string) string {
	return fmt.Sprintf("\n[[hooks]]\nevent = %q\ncommand = %q\ntimeout = \"5s\"\n", event, command)
}

// --- overwatches ---

// owSpec is the gossip part of one overwatch's configuration.
type owSpec struct {
	name   string
	key    string
	bind   string            // gossip bind_address; default 127.0.0.1:0
	join   []string          // other overwatches' gossip addresses
	tokens map[string]string // [overwatch.agent_tokens]; default web = webToken
	// stale is stale.threshold, which is also the warm-up timeout; default
	// 5s. remove_after is long by default (60s), so that a backend
	// withdrawn within a test was withdrawn by a membership event, not by
	// its age.
	stale  string
	remove string // stale.remove_after; default 60s
	extra  string // appended verbatim: [[hooks]] tables
	timing string // lines for [overwatch.gossip] (probe_interval, ...)
}

// body is the configuration after configText's header. Validation (the
// overwatch re-checking agents' backends itself) is off: these tests are
// about what agents report, and a validation probe would race the agent's
// own verdict.
func (s owSpec) body() string {
	if s.tokens == nil {
		s.tokens = map[string]string{"web": webToken}
	}
	if s.stale == "" {
		s.stale = "5s"
	}
	if s.bind == "" {
		s.bind = "127.0.0.1:0"
	}
	if s.remove == "" {
		s.remove = "60s"
	}
	return fmt.Sprintf(`
[overwatch.identity]
node_id = %q
region = "test"

[overwatch.agent_tokens]
%s
[overwatch.gossip]
bind_address = %q
encryption_key = %q
join = %s
%s
[overwatch.validation]
enabled = false

[overwatch.stale]
threshold = %q
remove_after = %q
`, s.name, tomlTokens(s.tokens), s.bind, s.key, tomlStrings(s.join), s.timing, s.stale, s.remove) + domain("web.gslb.test") + s.extra
}

// gossipAddr is the address the process's serf bound, from its "serf
// started" log line.
func (p *process) gossipAddr() (string, error) {
	e, err := p.findLog("serf started")
	if err != nil {
		return "", err
	}
	addr := e.str("gossip")
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return "", fmt.Errorf("serf started on %q: %v", addr, err)
	}
	return addr, nil
}

func (p *process) mustGossipAddr(t testing.TB) string {
	t.Helper()
	var addr string
	checkFor(t, startTimeout, func() (err error) {
		addr, err = p.gossipAddr()
		return err
	})
	return addr
}

// --- agents ---

// agentSpec is one agent's configuration.
type agentSpec struct {
	name        string
	region      string // default "test"
	key         string // default: the cluster's
	overwatches []string
	tokens      map[string]string // [agent.service_tokens]; default web = webToken
	backends    []agentBackend
	extra       string // appended verbatim
	bind        string // gossip bind_address; default 127.0.0.1:0
	timing      string // lines for [agent.gossip] (probe_interval, ...)
}

// agentBackend is one [[agent.backends]] entry: service, served by target
// and checked over HTTP every 200ms; two failures make it unhealthy, one
// success healthy again.
type agentBackend struct {
	service string
	target  *httpTarget
}

func web(targets ...*httpTarget) []agentBackend {
	out := make([]agentBackend, len(targets))
	for i, t := range targets {
		out[i] = agentBackend{service: "web", target: t}
	}
	return out
}

// agent is one running `opengslb agent` process.
type agent struct {
	*process
	spec         agentSpec
	api, metrics string // listen addresses
}

// reload rewrites the agent's configuration from spec and reloads it
// (SIGHUP), waiting until the reload succeeded.
func (a *agent) reload(t testing.TB, spec agentSpec) {
	t.Helper()
	text, err := a.metricsText()
	if err != nil {
		t.Fatal(err)
	}
	before, _ := metricValue(text, `opengslb_config_reloads_total{result="success"}`)
	a.spec = spec
	a.writeRaw(spec.config(a.dir, a.api, a.metrics))
	a.signal(syscall.SIGHUP)
	checkFor(t, reloadTimeout, func() error {
		text, err := a.metricsText()
		if err != nil {
			return err
		}
		if n, _ := metricValue(text, `opengslb_config_reloads_total{result="success"}`); n != before+1 {
			return fmt.Errorf("agent %s: %v successful reloads, want %v", a.name, n, before+1)
		}
		return nil
	})
}

func (s agentSpec) config(dir, api, metrics string) string {
	if s.region == "" {
		s.region = "test"
	}
	if s.tokens == nil {
		s.tokens = map[string]string{"web": webToken}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `mode = "agent"
data_dir = %q

[logging]
level = "debug"
format = "json"

[api]
listen_address = %q

[metrics]
listen_address = %q

[agent.identity]
node_id = %q
region = %q

[agent.service_tokens]
%s
[agent.gossip]
bind_address = %q
encryption_key = %q
overwatch_nodes = %s
%s

[agent.heartbeat]
interval = "1s"
`, dir, api, metrics, s.name, s.region, tomlTokens(s.tokens), cmp.Or(s.bind, "127.0.0.1:0"), s.key, tomlStrings(s.overwatches), s.timing)
	for _, be := range s.backends {
		host, port, err := net.SplitHostPort(be.target.addr)
		if err != nil {
			panic(err)
		}
		fmt.Fprintf(&b, `
[[agent.backends]]
service = %q
address = %q
port = %s
[agent.backends.health_check]
type = "http"
path = "/health"
interval = "200ms"
timeout = "150ms"
failure_threshold = 2
success_threshold = 1
`, be.service, host, port)
	}
	b.WriteString(s.extra)
	return b.String()
}

// startAgent starts an agent and returns once its API says it is ready,
// which it does once it has joined an overwatch. It is stopped with
// SIGTERM when the test ends, and must exit 0.
func startAgent(t testing.TB, spec agentSpec) *agent {
	t.Helper()
	return launchAgent(t, spec, (*agent).ready)
}

// startAgentUnjoined starts an agent that is not expected to join, and
// returns once its metrics endpoint serves and its serf runs (the agent
// API only starts after a join).
func startAgentUnjoined(t testing.TB, spec agentSpec) *agent {
	t.Helper()
	return launchAgent(t, spec, func(a *agent) error {
		if _, err := a.metricsText(); err != nil {
			return err
		}
		_, err := a.gossipAddr()
		return err
	})
}

func launchAgent(t testing.TB, spec agentSpec, ready func(*agent) error) *agent {
	t.Helper()
	return retryPorts(t, func() (*agent, error) {
		a := &agent{process: newProcess(t, "agent"), api: freeAddr(t, false), metrics: freeAddr(t, false)}
		if a.api == a.metrics {
			return nil, fmt.Errorf("%w: the kernel handed %s out twice", errBindConflict, a.api)
		}
		a.name, a.spec = spec.name, spec
		a.writeRaw(spec.config(a.dir, a.api, a.metrics))
		a.launch()
		return a, a.awaitStart(func() error { return ready(a) })
	})
}

func (a *agent) metricsText() (string, error) { return scrapeMetrics(a.metrics) }

// get fetches path from the agent API and returns the status code and body.
func (a *agent) get(path string) (int, []byte, error) {
	resp, err := scraper.Get("http://" + a.api + path)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// ready is GET /api/v1/ready answering 200.
func (a *agent) ready() error {
	code, body, err := a.get("/api/v1/ready")
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("GET /api/v1/ready: %d %s", code, body)
	}
	return nil
}

// agentStatus is the part of GET /api/v1/agent/backends the tests read.
type agentStatus struct {
	Node    string `json:"node"`
	Joined  bool   `json:"joined"`
	Members []struct {
		Name   string `json:"name"`
		Role   string `json:"role"`
		Status string `json:"status"`
	} `json:"members"`
	Services []struct {
		Service  string `json:"service"`
		Backends []struct {
			Address string `json:"address"`
			Port    uint16 `json:"port"`
			Health  string `json:"health"`
		} `json:"backends"`
		SendError string `json:"send_error"`
		Acks      []struct {
			Overwatch string `json:"overwatch"`
			Accepted  bool   `json:"accepted"`
			Reason    string `json:"reason"`
		} `json:"acks"`
	} `json:"services"`
}

func (a *agent) status() (agentStatus, error) {
	var st agentStatus
	code, body, err := a.get("/api/v1/agent/backends")
	if err != nil {
		return st, err
	}
	if code != http.StatusOK {
		return st, fmt.Errorf("GET /api/v1/agent/backends: %d %s", code, body)
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return st, fmt.Errorf("GET /api/v1/agent/backends: %v\n%s", err, body)
	}
	return st, nil
}

// expectAcks is a checkFor condition: the agent's last report of service
// was answered by exactly the overwatches in want, each accepting it
// (reason "") or refusing it with reason.
func (a *agent) expectAcks(service string, want map[string]string) func() error {
	return func() error {
		st, err := a.status()
		if err != nil {
			return err
		}
		for _, s := range st.Services {
			if s.Service != service {
				continue
			}
			got := make(map[string]string)
			for _, ack := range s.Acks {
				switch {
				case ack.Accepted && ack.Reason == "":
					got[ack.Overwatch] = ""
				case ack.Accepted:
					got[ack.Overwatch] = "accepted with reason " + ack.Reason
				default:
					got[ack.Overwatch] = ack.Reason
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				return fmt.Errorf("agent %s, service %s: acks (overwatch → refusal reason) %v, want %v", a.name, service, got, want)
			}
			return nil
		}
		return fmt.Errorf("agent %s: no service %s in %+v", a.name, service, st.Services)
	}
}

// expectHealth is a checkFor condition: the agent API shows the backend
// of service at target with the agent's verdict health.
func (a *agent) expectHealth(service string, target *httpTarget, health string) func() error {
	return func() error {
		st, err := a.status()
		if err != nil {
			return err
		}
		for _, s := range st.Services {
			for _, b := range s.Backends {
				if s.Service == service && net.JoinHostPort(b.Address, fmt.Sprint(b.Port)) == target.addr {
					if b.Health != health {
						return fmt.Errorf("agent %s: backend %s of %s is %s, want %s", a.name, target.addr, service, b.Health, health)
					}
					return nil
				}
			}
		}
		return fmt.Errorf("agent %s: no backend %s of %s in %+v", a.name, target.addr, service, st.Services)
	}
}

// crash ends the process with SIGKILL, as a crash would: no leave, no
// clean exit to check.
func (p *process) crash() { p.stopOnce.Do(p.kill) }

// --- the cluster ---

// cluster is a set of overwatches gossiping with one key, and the agents
// started on it.
type cluster struct {
	t      testing.TB
	key    string
	ows    []*overwatch
	specs  []owSpec // the overwatches' configurations, by index
	agents []*agent
}

// reloadOverwatches changes every overwatch's configuration with change
// and reloads it (SIGHUP), waiting until the reload succeeded.
func (c *cluster) reloadOverwatches(t testing.TB, change func(s *owSpec)) {
	t.Helper()
	for i, o := range c.ows {
		change(&c.specs[i])
		o.writeConfig(c.specs[i].body())
		success, failure := o.reloads(t)
		o.reload(t, success+1, failure)
	}
}

// startCluster starts n overwatches, each joining those before it, and
// returns once each sees all n alive. configure, if given, adjusts the
// i-th overwatch's spec.
func startCluster(t testing.TB, n int, configure ...func(i int, s *owSpec)) *cluster {
	t.Helper()
	c := &cluster{t: t, key: newGossipKey(t)}
	for i := range n {
		c.startOverwatch(i, configure...)
	}
	c.everyOverwatch(t, gossipTimeout, "every overwatch sees the others", func(o *overwatch) error {
		return o.expectMetric(`opengslb_gossip_members{status="alive"}`, float64(n))()
	})
	return c
}

// startOverwatch starts the i-th overwatch of the cluster, joining the
// ones already started.
func (c *cluster) startOverwatch(i int, configure ...func(i int, s *owSpec)) *overwatch {
	c.t.Helper()
	s := owSpec{name: fmt.Sprintf("ow%d", i+1), key: c.key, join: c.gossipAddrs()}
	for _, f := range configure {
		f(i, &s)
	}
	o := startOverwatch(c.t, s.body())
	o.name = s.name
	c.ows = append(c.ows, o)
	c.specs = append(c.specs, s)
	c.t.Cleanup(c.stopAll)
	return o
}

// gossipAddrs are the overwatches' gossip addresses, as agents list them.
func (c *cluster) gossipAddrs() []string {
	out := make([]string, 0, len(c.ows))
	for _, o := range c.ows {
		out = append(out, o.mustGossipAddr(c.t))
	}
	return out
}

// startAgent starts an agent of the cluster (key and overwatch_nodes
// default to the cluster's) and waits until it has joined.
func (c *cluster) startAgent(spec agentSpec) *agent {
	c.t.Helper()
	return c.addAgent(spec, startAgent)
}

func (c *cluster) addAgent(spec agentSpec, start func(testing.TB, agentSpec) *agent) *agent {
	c.t.Helper()
	if spec.key == "" {
		spec.key = c.key
	}
	if spec.overwatches == nil {
		spec.overwatches = c.gossipAddrs()
	}
	a := start(c.t, spec)
	c.agents = append(c.agents, a)
	c.t.Cleanup(c.stopAll)
	return a
}

// stopAll stops every agent, all at once, then every overwatch, the last
// started first. Each graceful leave takes about a second (serf's
// LeavePropagateDelay), so the agents are not stopped one after the other;
// the overwatches are, because one whose peers are all leaving too waits
// out serf's BroadcastTimeout (5s) for its leave to reach someone. Every
// start registers stopAll again, so the last registration runs before the
// processes' own cleanups (which then only check their output); the later
// runs find nothing left to stop.
func (c *cluster) stopAll() {
	var wg sync.WaitGroup
	for _, a := range c.agents {
		wg.Go(func() { a.stop(syscall.SIGTERM) })
	}
	wg.Wait()
	for _, o := range slices.Backward(c.ows) {
		o.stop(syscall.SIGTERM)
	}
}

// everyOverwatch polls cond on every overwatch of the cluster until it has
// held on each (each overwatch is done once its condition held), and
// returns how long that took; it fails the test with the laggards'
// errors after timeout.
func (c *cluster) everyOverwatch(t testing.TB, timeout time.Duration, what string, cond func(*overwatch) error) time.Duration {
	t.Helper()
	start := time.Now()
	pending := slices.Clone(c.ows)
	err := poll(timeout, func() error {
		var errs []error
		left := pending[:0]
		for _, o := range pending {
			if err := cond(o); err != nil {
				left = append(left, o)
				errs = append(errs, fmt.Errorf("%s: %w", o.name, err))
			}
		}
		pending = left
		return errors.Join(errs...)
	})
	if err != nil {
		t.Fatalf("%s: not on every overwatch within %s:\n%v", what, timeout, err)
	}
	return time.Since(start)
}

// neverServes samples every overwatch's answer for name for the duration
// and fails the test if ip is ever in it.
func (c *cluster) neverServes(t testing.TB, name, ip string, during time.Duration) {
	t.Helper()
	deadline := time.Now().Add(during)
	for n := 0; ; n++ {
		for _, o := range c.ows {
			r, err := o.exchange(q(name, dns.TypeA))
			if err != nil {
				t.Fatal(err)
			}
			if slices.Contains(addresses(r), ip) {
				t.Fatalf("%s answers %s with %v: %s must never be served", o.name, name, addresses(r), ip)
			}
		}
		if time.Now().After(deadline) {
			return
		}
		time.Sleep(pollInterval)
	}
}

// serves is an everyOverwatch condition: name's A answer is NOERROR with
// exactly ips.
func serves(name string, ips ...string) func(*overwatch) error {
	return func(o *overwatch) error { return o.expectAddresses(name, dns.TypeA, ips...)() }
}

// metricAtLeast is an everyOverwatch condition on a counter.
func metricAtLeast(series string, least float64) func(*overwatch) error {
	return func(o *overwatch) error {
		text, err := o.metricsText()
		if err != nil {
			return err
		}
		got, ok := metricValue(text, series)
		if !ok {
			return fmt.Errorf("metric %s not exposed", series)
		}
		if got < least {
			return fmt.Errorf("metric %s = %v, want at least %v", series, got, least)
		}
		return nil
	}
}

// metricIs is an everyOverwatch condition: series has value want.
func metricIs(series string, want float64) func(*overwatch) error {
	return func(o *overwatch) error { return o.expectMetric(series, want)() }
}

// goneReason finds the gossip actor's "agent gone" line for agent on p and
// returns its reason (left, failed).
func (p *process) goneReason(agent string) (string, error) {
	for _, e := range p.logs() {
		if e.str("message") == "agent gone: its backends are withdrawn" && e.str("actor") == "gossip" && e.str("agent") == agent {
			return e.str("reason"), nil
		}
	}
	return "", fmt.Errorf("no \"agent gone\" line for %s", agent)
}
