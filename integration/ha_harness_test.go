package integration

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The high-availability set-up the guide describes, on loopback: three
// overwatches, each with an HTTPS API (a certificate made by the test),
// DNSSEC on, gossiping with each other and with one agent that reports a
// healthy backend, and sharing their keys through key_sync (every peer's
// API URL, one CA bundle, one token). Clients reach them as a stub
// resolver with three nameservers does (stubResolver).
//
// Unlike startCluster, every overwatch's gossip address is fixed before
// any of them starts, and each one's join list names the other two: a
// restarted overwatch binds the same address (its peers and the agent
// know it by that) and finds the cluster again from the same file, which
// is what a rolling restart needs. Whoever starts first retries its join
// until someone is there.

const (
	// haStale is stale.threshold, and so the warm-up timeout: how long a
	// (re)started overwatch waits for the live agents before it answers
	// agent-backed names without them. It is longer than an agent takes
	// to find an overwatch again after all of them were gone (its join
	// backs off 0.5-1s, 1-2s, 2-4s, 4-8s), so that a lone restarted
	// overwatch ends its warm-up because the agent reported, not because
	// it gave up on it.
	haStale = "15s"
	// haPoll is key_sync.poll_interval: short, so that a round runs
	// within a test.
	haPoll = 2 * time.Second
	// haRejoinTimeout bounds how long an agent whose overwatches all went
	// away takes to find one again and have its report accepted: its
	// join backs off up to 8s between the fourth and fifth try, plus the
	// slack of gossipTimeout.
	haRejoinTimeout = 15*time.Second + gossipTimeout
)

// haCluster is three overwatches and one agent, running.
type haCluster struct {
	t      *testing.T
	key    string       // gossip encryption key
	ca     string       // the CA bundle file: every node's certificate
	nodes  []*apiNode   // by index; a restart replaces the entry
	gossip []string     // each node's fixed gossip address, by index
	agent  *agent       // reports target as service "web"
	target *httpTarget  // the agent's healthy backend
	tags   []uint16     // the shared key's tag, as every node listed it after start
	dns    []string     // the nodes' DNS addresses, as resolv.conf lists them
	res    stubResolver // over dns
}

// startHA starts the three overwatches and the agent (its backend served
// on targetIP) and returns once every overwatch answers the agent's name
// with its backend, says it is ready and lists the same single key. All
// of it is stopped when the test ends, the agent first.
func startHA(t *testing.T, targetIP string) *haCluster {
	t.Helper()
	target := startTarget(t, targetIP)
	return retryPorts(t, func() (*haCluster, error) { return tryStartHA(t, target) })
}

func tryStartHA(t *testing.T, target *httpTarget) (*haCluster, error) {
	t.Helper()
	h := &haCluster{t: t, key: newGossipKey(t), target: target}
	h.nodes = []*apiNode{tlsNode(t), tlsNode(t), tlsNode(t)}
	h.gossip = distinctGossipAddrs(t, h.nodes)
	h.ca = caBundle(t, h.nodes...)
	for i, n := range h.nodes {
		n.name = fmt.Sprintf("ow%d", i+1)
		n.writeBody(h.body(i))
		h.dns = append(h.dns, n.ports.dns)
	}
	h.res = newStubResolver(h.dns...)

	// The first makes the zone's key (its peers are not up: "no peer
	// holds DNSSEC keys"); the other two, started together, fetch it
	// from it at start-up rather than make their own.
	n1 := h.nodes[0]
	n1.launch()
	if err := n1.awaitStart(n1.ready); err != nil {
		return nil, err
	}
	started := []*apiNode{n1}
	for _, n := range h.nodes[1:] {
		n.launch()
	}
	var errs []error
	for _, n := range h.nodes[1:] {
		if err := n.awaitStart(n.ready); err != nil {
			errs = append(errs, err)
		} else {
			started = append(started, n)
		}
	}
	if err := errors.Join(errs...); err != nil {
		// Free the ports of those that did start, for the retry.
		for _, n := range started {
			n.stop(syscall.SIGTERM)
		}
		return nil, err
	}
	t.Cleanup(h.stopAll)
	c := h.cluster()
	c.everyOverwatch(t, gossipTimeout, "the three overwatches see each other", metricIs(`opengslb_gossip_members{status="alive"}`, 3))

	h.agent = startAgent(t, agentSpec{name: "agent-1", key: h.key, overwatches: h.gossip, backends: web(target)})
	t.Cleanup(h.stopAll) // again, so that it runs before the agent's own cleanup
	c.everyOverwatch(t, gossipTimeout, "the agent's backend served", serves(webName, target.ip))
	for _, n := range h.nodes {
		checkFor(t, gossipTimeout, n.expectReady)
	}
	checkFor(t, syncTimeout+2*haPoll, expectSameKeys(t, h.nodes...))
	h.tags = h.nodes[0].activeTags(t)
	return h, nil
}

// distinctGossipAddrs picks a loopback address free for TCP and UDP for
// each node's gossip, distinct from each other and from the nodes' other
// ports.
func distinctGossipAddrs(t *testing.T, nodes []*apiNode) []string {
	t.Helper()
	taken := make(map[string]bool)
	for _, n := range nodes {
		taken[n.ports.dns], taken[n.ports.metrics], taken[n.ports.api] = true, true, true
	}
	var out []string
	for range 50 {
		if len(out) == len(nodes) {
			return out
		}
		addr := freeAddr(t, true)
		if !taken[addr] {
			taken[addr] = true
			out = append(out, addr)
		}
	}
	t.Fatal("no distinct gossip ports after 50 tries")
	return nil
}

// body is node i's configuration after the [api] table: gossip with the
// other two (join lists their fixed addresses), the agent-backed name,
// DNSSEC, and key sync with the other two's APIs.
func (h *haCluster) body(i int) string {
	others := slices.Delete(slices.Clone(h.nodes), i, i+1)
	join := slices.Delete(slices.Clone(h.gossip), i, i+1)
	s := owSpec{name: fmt.Sprintf("ow%d", i+1), key: h.key, bind: h.gossip[i], join: join, stale: haStale}
	return s.body() + "\n[overwatch.dnssec]\ndenial = \"nsec3\"\n" +
		keySyncTable(urls(others...), syncToken, h.ca, fmt.Sprintf("poll_interval = %q", haPoll), `timeout = "1s"`)
}

// cluster views the running overwatches as a cluster, for its
// everyOverwatch conditions.
func (h *haCluster) cluster() *cluster {
	c := &cluster{t: h.t, key: h.key}
	for _, n := range h.nodes {
		c.ows = append(c.ows, n.overwatch)
	}
	return c
}

// restart stops node i (SIGTERM, exit 0) and starts it again with the
// same configuration file, data_dir and ports, then waits until
// GET /api/v1/ready answers 200: the warm-up is over, so its answers
// hold what the agents report.
func (h *haCluster) restart(i int) *apiNode {
	h.t.Helper()
	n := h.nodes[i].restart(h.t)
	n.name = h.nodes[i].name
	h.nodes[i] = n
	h.t.Cleanup(h.stopAll)
	checkFor(h.t, haRejoinTimeout, n.expectReady)
	h.servesOnceReady(n)
	return n
}

// servesOnceReady checks the promise a rolling restart relies on: once
// /api/v1/ready says 200, the node already answers the agent's name with
// its backend (ready waits for the warm snapshot to be published, not
// for the gossip actor's word that warm-up ended).
func (h *haCluster) servesOnceReady(n *apiNode) {
	h.t.Helper()
	if err := n.expectAddresses(webName, dns.TypeA, h.target.ip)(); err != nil {
		h.t.Fatalf("%s says ready but does not serve the agent's backend yet: %v", n.name, err)
	}
}

// stopAll stops the agent, then every overwatch, the last first, each
// with SIGTERM and checking its exit; what is already stopped is left
// alone. The agent goes first so that no overwatch waits out serf's
// broadcast timeout for a leave nobody is left to hear.
func (h *haCluster) stopAll() {
	if h.agent != nil {
		h.agent.stop(syscall.SIGTERM)
	}
	for _, n := range slices.Backward(h.nodes) {
		n.stop(syscall.SIGTERM)
	}
}

// expectReady is a checkFor condition: GET /api/v1/ready answers 200.
func (n *apiNode) expectReady() error {
	r, err := n.send(apiReq{method: http.MethodGet, path: "/api/v1/ready"})
	if err != nil {
		return err
	}
	if r.code != http.StatusOK {
		return fmt.Errorf("%s GET /api/v1/ready: %s", n.name, r)
	}
	return nil
}

// lookupWeb resolves the agent's name through the stub resolver and
// checks the answer is the agent's backend.
func (h *haCluster) lookupWeb() error {
	r, err := h.res.lookup(webName, dns.TypeA)
	if err != nil {
		return err
	}
	if got := addresses(r); !slices.Equal(got, []string{h.target.ip}) {
		return fmt.Errorf("%s A: answer %v, want [%s]", webName, got, h.target.ip)
	}
	return nil
}

// mustLookups resolves the agent's name n times through the stub
// resolver and fails the test with every lookup that failed.
func (h *haCluster) mustLookups(t *testing.T, n int, what string) {
	t.Helper()
	var failed []string
	for i := range n {
		if err := h.lookupWeb(); err != nil {
			failed = append(failed, fmt.Sprintf("lookup %d: %v", i+1, err))
		}
	}
	if len(failed) > 0 {
		t.Errorf("%s: %d of %d lookups failed:\n%s", what, len(failed), n, strings.Join(failed, "\n"))
	}
}

// --- the clients' view ---

// stubResolver asks nameservers as a glibc stub resolver does with three
// nameserver lines and `options timeout:1 attempts:2`: one UDP query at
// a time, to each server in the listed order, waiting timeout for each,
// the whole list attempts times. It moves on from a server that does not
// answer, refuses the datagram, or answers other than NOERROR with an
// answer (SERVFAIL during an overwatch's warm-up is meant for exactly
// that). So one lookup takes at most servers × attempts × timeout.
type stubResolver struct {
	servers  []string
	timeout  time.Duration
	attempts int
}

func newStubResolver(servers ...string) stubResolver {
	return stubResolver{servers: servers, timeout: time.Second, attempts: 2}
}

// lookup returns the first answer that is NOERROR with records, or an
// error listing what every try of every server gave.
func (r stubResolver) lookup(name string, qtype uint16) (*dns.Msg, error) {
	var failures []string
	for attempt := 1; attempt <= r.attempts; attempt++ {
		for _, s := range r.servers {
			m, err := exchange(s, q(name, qtype).timeout(r.timeout))
			switch {
			case err != nil:
				failures = append(failures, fmt.Sprintf("%s try %d: %v", s, attempt, err))
			case m.Rcode != dns.RcodeSuccess:
				failures = append(failures, fmt.Sprintf("%s try %d: %s", s, attempt, dns.RcodeToString[m.Rcode]))
			case len(m.Answer) == 0:
				failures = append(failures, fmt.Sprintf("%s try %d: NOERROR without an answer", s, attempt))
			default:
				return m, nil
			}
		}
	}
	return nil, fmt.Errorf("%s %s: no nameserver answered: %s", name, dns.TypeToString[qtype], strings.Join(failures, "; "))
}

// backgroundLookups resolves the agent's name through the stub resolver
// over and over, paced, from its own goroutine, until stopped or max
// lookups are done.
type backgroundLookups struct {
	stopOnce sync.Once
	stopCh   chan struct{}
	done     chan struct{}
	// written by the goroutine; read after done is closed
	count  int
	failed []string
}

func (h *haCluster) startLookups(max int) *backgroundLookups {
	b := &backgroundLookups{stopCh: make(chan struct{}), done: make(chan struct{})}
	// A test that fails before it calls stop must not leave the client
	// running against the processes its cleanups stop.
	h.t.Cleanup(func() { b.stop() })
	go func() {
		defer close(b.done)
		tick := time.NewTicker(pollInterval)
		defer tick.Stop()
		for b.count < max {
			start := time.Now()
			if err := h.lookupWeb(); err != nil {
				b.failed = append(b.failed, fmt.Sprintf("%s (+%s): %v", start.Format("15:04:05.000"), time.Since(start).Round(time.Millisecond), err))
			}
			b.count++
			select {
			case <-b.stopCh:
				return
			case <-tick.C:
			}
		}
	}()
	return b
}

// stop ends the lookups (the one in flight finishes: at most 6s) and
// returns how many were made and the failures.
func (b *backgroundLookups) stop() (int, []string) {
	b.stopOnce.Do(func() { close(b.stopCh) })
	<-b.done
	return b.count, b.failed
}

// expectSigned checks that n answers the agent's name, asked with DO,
// with its backend and an RRSIG over it made by the key tag, and that
// the signature verifies with the DNSKEY of that tag n serves.
func (h *haCluster) expectSigned(t *testing.T, n *apiNode, tag uint16) {
	t.Helper()
	r, err := exchangeDO(n.ports.dns, webName, dns.TypeA, 1232, false)
	if err != nil {
		t.Fatal(err)
	}
	if r.Rcode != dns.RcodeSuccess || !slices.Equal(addresses(r), []string{h.target.ip}) {
		t.Fatalf("%s: %s A with DO: rcode %s, answer %v; want %s", n.name, webName, dns.RcodeToString[r.Rcode], addresses(r), h.target.ip)
	}
	var rrset []dns.RR
	var sig *dns.RRSIG
	var tags []uint16
	for _, rr := range r.Answer {
		switch v := rr.(type) {
		case *dns.A:
			rrset = append(rrset, v)
		case *dns.RRSIG:
			tags = append(tags, v.KeyTag)
			if v.TypeCovered == dns.TypeA && v.KeyTag == tag {
				sig = v
			}
		}
	}
	if sig == nil {
		t.Fatalf("%s: %s A with DO carries RRSIGs by key tags %v, want one by the shared key %d:\n%s", n.name, webName, tags, tag, r)
	}
	keys, err := exchangeDO(n.ports.dns, zoneName, dns.TypeDNSKEY, 1232, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, rr := range keys.Answer {
		if k, ok := rr.(*dns.DNSKEY); ok && k.KeyTag() == tag {
			if err := sig.Verify(k, rrset); err != nil {
				t.Fatalf("%s: the RRSIG by %d over %s A does not verify: %v", n.name, tag, webName, err)
			}
			if !sig.ValidityPeriod(time.Now()) {
				t.Fatalf("%s: the RRSIG by %d is outside its validity period: %s", n.name, tag, sig)
			}
			return
		}
	}
	t.Fatalf("%s: no DNSKEY with tag %d in %v", n.name, tag, keys.Answer)
}
