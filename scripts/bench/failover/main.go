// Command failover measures how long OpenGSLB takes to stop answering a
// backend that fails, when an agent checks it and gossips its verdict to
// the overwatches. scripts/bench-failover.sh builds and runs it.
//
// It starts, on 127.0.0.1 only, two overwatches (the second joining the
// first) and one agent listing both, whose two backends are HTTP servers
// in this process on 127.0.0.2 and 127.0.0.3. The agent checks them every
// -interval with -failures failures to fall (and one success to rise), and
// heartbeats every -heartbeat. The overwatches' own validation checks are
// off: they would race the agent's verdict and blur what is measured.
//
// Each trial waits a random part of a check interval (so the flip does not
// keep one phase against the agent's probe schedule), makes 127.0.0.2
// answer its health check 503, and then polls, concurrently:
//
//   - every overwatch's DNS (UDP, every -dns-poll) until 127.0.0.2 is out
//     of its answer; the last of them is "dropped";
//   - the agent API's GET /api/v1/agent/backends (every -api-poll) until
//     it shows the backend unhealthy: the agent's verdict, as visible from
//     outside (its log's "time" has only second precision).
//
// It also notes when the backend served the -failures-th failing probe
// after the flip: the verdict cannot be earlier than that.
//
// It prints, over the trials, p50/p90/p99/max of:
//
//	(a) flip → dropped: what a client sees end to end;
//	(b) verdict → dropped: the agent API showing the verdict → every
//	    overwatch dropped the backend (gossip and zone rebuild);
//	(c) last failing probe → dropped: (b) plus the agent's own handling.
//
// Between trials the backend answers 200 again, and the next trial starts
// once every overwatch serves it again.
//
// Before each trial (-restart-every) the failing backend moves to a new
// port and the agent is restarted with it. The agent's report waits for
// memberlist's next gossip tick (every 200ms) to leave, and that tick keeps
// a fixed phase against the backend's 1s checks: the ticker starts with
// serf, and the checks start a fixed time later plus an offset hashed from
// the backend's address and port. Without the move, (b) would be one value
// repeated, anywhere in 0-200ms plus processing, depending on the port.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/miekg/dns"
)

const (
	zone     = "gslb.bench"
	name     = "web.gslb.bench."
	service  = "web"
	token    = "bench-web-token-0123456789"
	flipIP   = "127.0.0.2" // the backend the trials fail
	steadyIP = "127.0.0.3" // always healthy, so the name keeps an answer
)

type options struct {
	bin       string
	trials    int
	dir       string
	interval  time.Duration
	failures  int
	heartbeat time.Duration
	dnsPoll   time.Duration
	apiPoll   time.Duration
	bound     time.Duration
	restart   int
}

func main() {
	var o options
	flag.StringVar(&o.bin, "opengslb", "", "the opengslb binary (required)")
	flag.IntVar(&o.trials, "trials", 20, "number of failovers to measure")
	flag.StringVar(&o.dir, "dir", "", "directory for configurations and logs (default: a temporary one, removed)")
	flag.DurationVar(&o.interval, "interval", time.Second, "the agent's health check interval")
	flag.IntVar(&o.failures, "failures", 2, "the agent's failure_threshold")
	flag.DurationVar(&o.heartbeat, "heartbeat", 10*time.Second, "the agent's heartbeat.interval")
	flag.DurationVar(&o.dnsPoll, "dns-poll", 10*time.Millisecond, "pause between DNS polls of each overwatch")
	flag.DurationVar(&o.apiPoll, "api-poll", 5*time.Millisecond, "pause between polls of the agent API")
	flag.DurationVar(&o.bound, "bound", 30*time.Second, "give up on a trial (or a start-up) after this long")
	flag.IntVar(&o.restart, "restart-every", 1, "restart the agent before every n-th trial, for a fresh gossip phase (0: never)")
	flag.Parse()
	if o.bin == "" || o.trials < 1 || o.failures < 1 || o.interval <= 0 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-failover:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench-failover: "+format+"\n", args...)
}

func run(ctx context.Context, o options) (err error) {
	if o.dir == "" {
		if o.dir, err = os.MkdirTemp("", "opengslb-failover-"); err != nil {
			return err
		}
		defer os.RemoveAll(o.dir)
	}
	flip, err := startBackend(flipIP)
	if err != nil {
		return err
	}
	defer func() { flip.close() }() // the one in use by then
	steady, err := startBackend(steadyIP)
	if err != nil {
		return err
	}
	defer steady.close()

	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	c := &cluster{dir: o.dir, bin: o.bin, key: base64.StdEncoding.EncodeToString(key)}
	defer c.stop()
	for i := range 2 {
		if err := c.startOverwatch(ctx, fmt.Sprintf("ow%d", i+1), o.bound); err != nil {
			return err
		}
	}
	if err := c.startAgent(ctx, o, flip, steady); err != nil {
		return err
	}
	logf("2 overwatches and 1 agent up (logs in %s); check interval %s, failure_threshold %d, heartbeat %s; %d trials",
		o.dir, o.interval, o.failures, o.heartbeat, o.trials)

	var flipToDrop, verdictToDrop, probeToDrop []time.Duration
	for i := 1; i <= o.trials; i++ {
		if o.restart > 0 && i > 1 && (i-1)%o.restart == 0 {
			// A new port for the backend, so a new phase of its checks.
			flip.close()
			if flip, err = startBackend(flipIP); err != nil {
				return err
			}
			if err := c.restartAgent(ctx, o, flip, steady); err != nil {
				return fmt.Errorf("trial %d: %w", i, err)
			}
		}
		if err := c.waitServed(ctx, flip, o); err != nil {
			return fmt.Errorf("trial %d: before the flip: %w", i, err)
		}
		// A random phase against the agent's probe schedule.
		if err := sleep(ctx, time.Duration(mrand.Int64N(int64(o.interval)))); err != nil {
			return err
		}
		r, err := c.trial(ctx, o, flip)
		if err != nil {
			return fmt.Errorf("trial %d: %w", i, err)
		}
		flipToDrop = append(flipToDrop, r.dropped.Sub(r.flipped))
		verdictToDrop = append(verdictToDrop, r.dropped.Sub(r.verdict))
		probeToDrop = append(probeToDrop, r.dropped.Sub(r.probe))
		logf("trial %2d/%d: flip→dropped %7s  verdict→dropped %6s  probe→dropped %6s  (per overwatch after the verdict: %s)",
			i, o.trials, ms(r.dropped.Sub(r.flipped)), ms(r.dropped.Sub(r.verdict)), ms(r.dropped.Sub(r.probe)), r.perOverwatch())
		flip.failing.Store(false)
	}

	fmt.Printf("\nfailover: 2 overwatches, 1 agent on loopback; check interval %s, failure_threshold %d, heartbeat %s; %d trials\n",
		o.interval, o.failures, o.heartbeat, o.trials)
	restarts := "the agent and the failing backend's port never change"
	switch {
	case o.restart == 1:
		restarts = "the agent restarted, and the failing backend on a new port, before each trial"
	case o.restart > 1:
		restarts = fmt.Sprintf("the agent restarted, and the failing backend on a new port, every %d trials", o.restart)
	}
	fmt.Printf("DNS polled every %s per overwatch, agent API every %s;\n%s\n\n", o.dnsPoll, o.apiPoll, restarts)
	const width = 40
	pad := func(s string) string { return s + strings.Repeat(" ", max(0, width-utf8.RuneCountInString(s))) }
	fmt.Printf("%s %9s %9s %9s %9s %9s\n", pad(""), "min", "p50", "p90", "p99", "max")
	row := func(label string, d []time.Duration) {
		slices.Sort(d)
		fmt.Printf("%s %9s %9s %9s %9s %9s\n", pad(label), ms(d[0]), ms(pct(d, 50)), ms(pct(d, 90)), ms(pct(d, 99)), ms(d[len(d)-1]))
	}
	row("(a) flip → every overwatch dropped", flipToDrop)
	row("(b) verdict → every overwatch dropped", verdictToDrop)
	row("(c) last failing probe → dropped", probeToDrop)
	fmt.Println("\n(b) takes the verdict from the agent API, (c) from the backend serving the last failing probe the verdict needs.")
	return nil
}

// pct is the nearest-rank percentile of sorted d.
func pct(d []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p/100*float64(len(d)))) - 1
	return d[max(0, min(i, len(d)-1))]
}

func ms(d time.Duration) string {
	if d >= 10*time.Second {
		return d.Round(100 * time.Millisecond).String()
	}
	return fmt.Sprintf("%.0fms", float64(d)/float64(time.Millisecond))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// --- the backends ---

// backend is an HTTP server on one loopback address whose GET /health
// answers 200, or 503 while failing. It notes when it answered 503.
type backend struct {
	ip, addr string
	failing  atomic.Bool
	srv      *http.Server
	served   chan struct{}

	mu    sync.Mutex
	fails []time.Time
}

func startBackend(ip string) (*backend, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return nil, fmt.Errorf("backend on %s: %w", ip, err)
	}
	b := &backend{ip: ip, addr: ln.Addr().String(), served: make(chan struct{})}
	b.srv = &http.Server{
		ReadHeaderTimeout: time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/health" {
				http.NotFound(w, r)
				return
			}
			if b.failing.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
				b.mu.Lock()
				b.fails = append(b.fails, time.Now())
				b.mu.Unlock()
				return
			}
			w.WriteHeader(http.StatusOK)
		}),
	}
	go func() {
		defer close(b.served)
		_ = b.srv.Serve(ln)
	}()
	return b, nil
}

func (b *backend) close() {
	_ = b.srv.Close()
	<-b.served
}

// failsSince returns the 503 answers at or after t.
func (b *backend) failsSince(t time.Time) []time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []time.Time
	for _, f := range b.fails {
		if !f.Before(t) {
			out = append(out, f)
		}
	}
	return out
}

// --- the processes ---

type child struct {
	name, role string
	log        string
	cmd        *exec.Cmd
	exited     chan struct{}
	err        error
}

type cluster struct {
	dir, bin, key string
	ows           []*child
	owDNS         []string
	owGossip      []string
	agent         *child
	agentAPI      string
	agentRuns     int
}

// freePort returns a loopback address whose port was free for TCP and,
// when udp is set, UDP; the child binding it may still lose a race.
func freePort(udp bool) (string, error) {
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		addr := ln.Addr().String()
		ok := true
		if udp {
			pc, err := net.ListenPacket("udp", addr)
			if err != nil {
				ok = false
			} else {
				_ = pc.Close()
			}
		}
		_ = ln.Close()
		if ok {
			return addr, nil
		}
	}
	return "", errors.New("no loopback port free for both UDP and TCP")
}

func (c *cluster) spawn(name, role, config string) (*child, error) {
	dir := filepath.Join(c.dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "opengslb.toml")
	if err := os.WriteFile(cfg, []byte(strings.ReplaceAll(config, "DATA_DIR", dir)), 0o600); err != nil {
		return nil, err
	}
	ch := &child{name: name, role: role, log: filepath.Join(dir, "stderr.log"), exited: make(chan struct{})}
	out, err := os.Create(ch.log)
	if err != nil {
		return nil, err
	}
	ch.cmd = exec.Command(c.bin, role, "--config", cfg)
	ch.cmd.Stdout, ch.cmd.Stderr = out, out
	if err := ch.cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		ch.err = ch.cmd.Wait()
		out.Close()
		close(ch.exited)
	}()
	return ch, nil
}

// stop sends SIGTERM to every child (the agent first, so it leaves while
// the overwatches listen) and waits for each, killing one that takes over
// 15s.
func (c *cluster) stop() {
	var children []*child
	if c.agent != nil {
		children = append(children, c.agent)
	}
	for _, ch := range slices.Backward(c.ows) {
		children = append(children, ch)
	}
	for _, ch := range children {
		_ = ch.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-ch.exited:
		case <-time.After(15 * time.Second):
			logf("%s did not stop within 15s of SIGTERM; killing it", ch.name)
			_ = ch.cmd.Process.Kill()
			<-ch.exited
		}
	}
}

// await polls ready until it passes, the child exits or bound passes.
func await(ctx context.Context, ch *child, bound time.Duration, ready func() error) error {
	deadline := time.Now().Add(bound)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case <-ch.exited:
			return fmt.Errorf("%s exited during start-up (%v); its log:\n%s", ch.name, ch.err, tail(ch.log, 20))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within %s: %v; its log:\n%s", ch.name, bound, err, tail(ch.log, 20))
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// gossipAddr reads the address serf bound from the child's "serf started"
// log line.
func gossipAddr(ch *child) (string, error) {
	f, err := os.Open(ch.log)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var e struct{ Message, Gossip string }
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Message == "serf started" && e.Gossip != "" {
			return e.Gossip, nil
		}
	}
	return "", errors.New(`no "serf started" log line yet`)
}

func tomlList(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func (c *cluster) startOverwatch(ctx context.Context, node string, bound time.Duration) error {
	var addrs [3]string
	for i := range addrs {
		var err error
		if addrs[i], err = freePort(i == 0); err != nil {
			return err
		}
	}
	config := fmt.Sprintf(`mode = "overwatch"
data_dir = "DATA_DIR"

[logging]
level = "info"
format = "json"

[dns]
listen_address = %q
zones = [%q]

[metrics]
listen_address = %q

[api]
listen_address = %q

[overwatch.identity]
node_id = %q
region = "bench"

[overwatch.agent_tokens]
%s = %q

[overwatch.gossip]
bind_address = "127.0.0.1:0"
encryption_key = %q
join = %s

[overwatch.validation]
enabled = false

[[domains]]
name = %q
`, addrs[0], zone, addrs[1], addrs[2], node, service, token, c.key, tomlList(c.owGossip), name)
	ch, err := c.spawn(node, "overwatch", config)
	if err != nil {
		return err
	}
	c.ows = append(c.ows, ch)
	var gossip string
	err = await(ctx, ch, bound, func() error {
		if _, err := exchange(addrs[0], zone+".", dns.TypeSOA); err != nil {
			return err
		}
		gossip, err = gossipAddr(ch)
		return err
	})
	if err != nil {
		return err
	}
	c.owDNS = append(c.owDNS, addrs[0])
	c.owGossip = append(c.owGossip, gossip)
	return nil
}

func (c *cluster) startAgent(ctx context.Context, o options, backends ...*backend) error {
	api, err := freePort(false)
	if err != nil {
		return err
	}
	metrics, err := freePort(false)
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, `mode = "agent"
data_dir = "DATA_DIR"

[logging]
level = "info"
format = "json"

[api]
listen_address = %q

[metrics]
listen_address = %q

[agent.identity]
node_id = "agent-1"
region = "bench"

[agent.service_tokens]
%s = %q

[agent.gossip]
bind_address = "127.0.0.1:0"
encryption_key = %q
overwatch_nodes = %s

[agent.heartbeat]
interval = %q
`, api, metrics, service, token, c.key, tomlList(c.owGossip), o.heartbeat.String())
	for _, be := range backends {
		host, port, _ := net.SplitHostPort(be.addr)
		fmt.Fprintf(&b, `
[[agent.backends]]
service = %q
address = %q
port = %s
[agent.backends.health_check]
type = "http"
path = "/health"
interval = %q
timeout = %q
failure_threshold = %d
success_threshold = 1
`, service, host, port, o.interval.String(), (o.interval / 2).String(), o.failures)
	}
	c.agentRuns++
	ch, err := c.spawn(fmt.Sprintf("agent-1.run%d", c.agentRuns), "agent", b.String())
	if err != nil {
		return err
	}
	c.agent, c.agentAPI = ch, api
	return await(ctx, ch, o.bound, func() error {
		resp, err := httpClient.Get("http://" + api + "/api/v1/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("agent API /api/v1/ready: %s", resp.Status)
		}
		return nil
	})
}

// restartAgent stops the agent (SIGTERM: it leaves, and the overwatches
// withdraw its backends) and starts it again with backends.
func (c *cluster) restartAgent(ctx context.Context, o options, backends ...*backend) error {
	ag := c.agent
	c.agent = nil
	_ = ag.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-ag.exited:
	case <-time.After(15 * time.Second):
		_ = ag.cmd.Process.Kill()
		<-ag.exited
		return errors.New("the agent did not stop within 15s of SIGTERM")
	}
	if ag.err != nil {
		return fmt.Errorf("the agent exited with %v after SIGTERM; its log:\n%s", ag.err, tail(ag.log, 20))
	}
	return c.startAgent(ctx, o, backends...)
}

// --- probing ---

var httpClient = &http.Client{Timeout: time.Second}

func exchange(addr, qname string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(qname, qtype)
	c := &dns.Client{Net: "udp", Timeout: 500 * time.Millisecond}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		return nil, err
	}
	if r.Rcode != dns.RcodeSuccess {
		return r, fmt.Errorf("%s %s: rcode %s", qname, dns.TypeToString[qtype], dns.RcodeToString[r.Rcode])
	}
	return r, nil
}

// serves reports whether addr's answer for name holds ip.
func serves(addr, ip string) (bool, error) {
	r, err := exchange(addr, name, dns.TypeA)
	if err != nil {
		return false, err
	}
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok && a.A.String() == ip {
			return true, nil
		}
	}
	return false, nil
}

// agentHealth is the agent's verdict on the backend at addr, from its API.
func (c *cluster) agentHealth(addr string) (string, error) {
	resp, err := httpClient.Get("http://" + c.agentAPI + "/api/v1/agent/backends")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	var st struct {
		Services []struct {
			Service  string `json:"service"`
			Backends []struct {
				Address string `json:"address"`
				Port    uint16 `json:"port"`
				Health  string `json:"health"`
			} `json:"backends"`
		} `json:"services"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return "", fmt.Errorf("agent API: %w (does it list each backend's health?)", err)
	}
	for _, s := range st.Services {
		for _, b := range s.Backends {
			if s.Service == service && net.JoinHostPort(b.Address, fmt.Sprint(b.Port)) == addr {
				return b.Health, nil
			}
		}
	}
	return "", fmt.Errorf("agent API lists no backend %s", addr)
}

// waitServed waits until the agent calls the backend healthy and every
// overwatch serves it.
func (c *cluster) waitServed(ctx context.Context, b *backend, o options) error {
	deadline := time.Now().Add(o.bound)
	for {
		err := func() error {
			if h, err := c.agentHealth(b.addr); err != nil || h != "healthy" {
				return fmt.Errorf("agent says %q (%v)", h, err)
			}
			for i, addr := range c.owDNS {
				if ok, err := serves(addr, b.ip); err != nil || !ok {
					return fmt.Errorf("ow%d does not serve %s (%v)", i+1, b.ip, err)
				}
			}
			return nil
		}()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("backend not served again within %s: %w", o.bound, err)
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

type result struct {
	flipped, verdict, probe, dropped time.Time
	each                             []time.Time // per overwatch
}

func (r result) perOverwatch() string {
	parts := make([]string, len(r.each))
	for i, t := range r.each {
		parts[i] = fmt.Sprintf("ow%d %s", i+1, ms(t.Sub(r.verdict)))
	}
	return strings.Join(parts, ", ")
}

// trial fails the backend and times its way out of every overwatch.
func (c *cluster) trial(ctx context.Context, o options, b *backend) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, o.bound)
	defer cancel()
	r := result{each: make([]time.Time, len(c.owDNS))}
	var wg sync.WaitGroup
	errs := make([]error, len(c.owDNS)+1)

	r.flipped = time.Now()
	b.failing.Store(true)
	wg.Go(func() {
		for {
			if h, err := c.agentHealth(b.addr); err == nil && h == "unhealthy" {
				r.verdict = time.Now()
				return
			}
			if err := sleep(ctx, o.apiPoll); err != nil {
				errs[0] = fmt.Errorf("the agent API did not show the backend unhealthy: %w", err)
				return
			}
		}
	})
	for i, addr := range c.owDNS {
		wg.Go(func() {
			for {
				if ok, err := serves(addr, b.ip); err == nil && !ok {
					r.each[i] = time.Now()
					return
				}
				if err := sleep(ctx, o.dnsPoll); err != nil {
					errs[i+1] = fmt.Errorf("ow%d kept serving %s: %w", i+1, b.ip, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return r, err
	}
	r.dropped = slices.MaxFunc(r.each, func(x, y time.Time) int { return x.Compare(y) })
	fails := b.failsSince(r.flipped)
	if len(fails) < o.failures {
		return r, fmt.Errorf("dropped after %d failing probes, fewer than failure_threshold %d", len(fails), o.failures)
	}
	r.probe = fails[o.failures-1]
	return r, nil
}
