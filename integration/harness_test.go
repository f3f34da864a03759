package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Bounds of the harness's waits. Everything the tests wait for is polled
// against one of these; none is a sleep that hopes the server caught up.
const (
	startTimeout = 10 * time.Second // process start until DNS and metrics answer
	stopTimeout  = 10 * time.Second // SIGTERM until exit
	pollInterval = 20 * time.Millisecond
)

// zoneName is the zone every test configuration serves.
const zoneName = "gslb.test."

// checkFor calls f every pollInterval until it returns nil, and fails the
// test with f's last error if that has not happened within timeout (after
// nats-server's test helper of the same name).
func checkFor(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	if err := poll(timeout, f); err != nil {
		t.Fatalf("not true within %s: %v", timeout, err)
	}
}

// poll is checkFor without the test: it returns f's last error on timeout,
// or at once when that error is permanent.
func poll(timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		err := f()
		var p permanent
		if err == nil || errors.As(err, &p) {
			return err
		}
		if time.Now().After(deadline) {
			return err
		}
		<-tick.C
	}
}

// permanent marks an error that waiting longer cannot cure (the process
// has exited); poll returns it at once.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// syncBuffer collects a child's stderr; the exec copier writes while the
// test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// ports are the loopback addresses one overwatch listens on.
type ports struct {
	dns, metrics, api string
}

// freeAddr returns a loopback address whose port was free for TCP and, when
// udp is set, for UDP as well. The port is released before it is returned,
// so another process may take it first; startOverwatch retries when that
// happens.
func freeAddr(t testing.TB, udp bool) string {
	t.Helper()
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen on a loopback port: %v", err)
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
			return addr
		}
	}
	t.Fatal("no loopback port free for both UDP and TCP after 50 tries")
	return ""
}

func freePorts(t testing.TB) ports {
	t.Helper()
	p := ports{dns: freeAddr(t, true), metrics: freeAddr(t, false), api: freeAddr(t, false)}
	if p.dns == p.metrics || p.dns == p.api || p.metrics == p.api {
		return freePorts(t) // the kernel handed a port back twice
	}
	return p
}

// configText is a complete overwatch configuration: the fixed header with
// the listeners and the zone, then body ([[domains]] and [[backends]]).
func configText(p ports, dataDir, body string) string {
	return fmt.Sprintf(`mode = "overwatch"
data_dir = %q

[logging]
level = "debug"
format = "json"

[dns]
listen_address = %q
zones = ["gslb.test"]
nameservers = ["ns1.gslb.test", "ns2.gslb.test"]
default_ttl = 30
negative_ttl = 60

[metrics]
listen_address = %q

[api]
listen_address = %q
%s`, dataDir, p.dns, p.metrics, p.api, body)
}

// domain is a [[domains]] table; extra lines (`routing = "failover"`) are
// written into it verbatim.
func domain(name string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n[[domains]]\nname = %q\n", name)
	for _, e := range extra {
		b.WriteString(e + "\n")
	}
	return b.String()
}

// staticBackend is a backend on port 80 that is never probed (type none),
// so it is healthy from the start; extra lines go into [[backends]].
func staticBackend(service, address string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n[[backends]]\nservice = %q\naddress = %q\nport = 80\n", service, address)
	for _, e := range extra {
		b.WriteString(e + "\n")
	}
	b.WriteString("[backends.health_check]\ntype = \"none\"\n")
	return b.String()
}

// httpBackend is a backend probed over HTTP at addr every 100ms: two
// failures make it unhealthy, one success healthy again.
func httpBackend(service, addr string, extra ...string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		panic(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n[[backends]]\nservice = %q\naddress = %q\nport = %s\n", service, host, port)
	for _, e := range extra {
		b.WriteString(e + "\n")
	}
	b.WriteString(`[backends.health_check]
type = "http"
path = "/health"
interval = "100ms"
timeout = "90ms"
failure_threshold = 2
success_threshold = 1
`)
	return b.String()
}

// process is one running opengslb child, an overwatch or an agent: its
// configuration file, its combined output and its exit. The start-up
// differs per role (what "ready" means); stopping and reading the logs do
// not.
type process struct {
	t       testing.TB
	role    string // the subcommand ("overwatch", "agent"), also its name in messages
	name    string // its gossip node name, for messages; "" when it does not gossip
	dir     string // data_dir and the configuration file live here
	cfgPath string
	stderr  *syncBuffer
	// wrap runs the binary through another command (`ip netns exec NS`)
	// that execs it in place, so signals still reach it.
	wrap []string

	cmd     *exec.Cmd
	cancel  context.CancelFunc
	exited  chan struct{} // closed when the process has been reaped
	waitErr error         // cmd.Wait's result; read after exited is closed

	stopOnce sync.Once
}

// overwatch is one running `opengslb overwatch` process.
type overwatch struct {
	*process
	ports ports
}

var errBindConflict = errors.New("a listen address was taken between choosing and binding it")

// startOverwatch writes a configuration with body into a fresh directory,
// starts the binary on free loopback ports and returns once it answers DNS
// over UDP and TCP and serves /metrics. The process is stopped with SIGTERM
// when the test ends, and must exit 0.
func startOverwatch(t testing.TB, body string) *overwatch {
	t.Helper()
	return retryPorts(t, func() (*overwatch, error) { return tryStart(t, body) })
}

// retryPorts runs start, which picks free ports and starts on them, up to
// three times while another process takes a port first.
func retryPorts[T any](t testing.TB, start func() (T, error)) T {
	t.Helper()
	var err error
	for range 3 {
		var v T
		if v, err = start(); err == nil {
			return v
		}
		if !errors.Is(err, errBindConflict) {
			t.Fatal(err)
		}
		t.Logf("retrying with other ports: %v", err)
	}
	t.Fatal(err)
	var zero T
	return zero
}

func tryStart(t testing.TB, body string) (*overwatch, error) {
	t.Helper()
	o := &overwatch{process: newProcess(t, "overwatch"), ports: freePorts(t)}
	o.writeConfig(body)
	o.launch()
	if err := o.awaitStart(o.ready); err != nil {
		return nil, err
	}
	return o, nil
}

// label names the process in messages: "overwatch", or "agent agent-1".
func (p *process) label() string {
	if p.name == "" {
		return p.role
	}
	return p.role + " " + p.name
}

// newProcess prepares a fresh directory for a child of role; it starts
// nothing.
func newProcess(t testing.TB, role string) *process {
	dir := t.TempDir()
	return &process{
		t:       t,
		role:    role,
		dir:     dir,
		cfgPath: filepath.Join(dir, "opengslb.toml"),
		stderr:  &syncBuffer{},
		exited:  make(chan struct{}),
	}
}

// launch starts `opengslb <role> --config <cfgPath>` and reaps it in the
// background.
func (p *process) launch() {
	p.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	args := append(slices.Clone(p.wrap), binaryPath, p.role, "--config", p.cfgPath)
	p.cmd = exec.CommandContext(ctx, args[0], args[1:]...)
	p.cmd.Stdout = p.stderr
	p.cmd.Stderr = p.stderr
	p.cmd.WaitDelay = 5 * time.Second
	p.cmd.Env = childEnv()
	if err := p.cmd.Start(); err != nil {
		cancel()
		p.t.Fatalf("start %s: %v", binaryPath, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
}

// awaitStart polls ready until it passes, within startTimeout, and then
// has the process stopped (SIGTERM, exit 0) when the test ends. An exit
// caused by a taken address is errBindConflict, so the caller can retry
// with other ports; any other failure leaves no process behind.
func (p *process) awaitStart(ready func() error) error {
	err := poll(startTimeout, func() error {
		select {
		case <-p.exited:
			return permanent{errExited}
		default:
		}
		return ready()
	})
	switch {
	case errors.Is(err, errExited) && strings.Contains(p.stderr.String(), "address already in use"):
		p.cancel()
		return fmt.Errorf("%w: %s", errBindConflict, lastLines(p.stderr.String(), 3))
	case errors.Is(err, errExited):
		p.cancel()
		return fmt.Errorf("%s exited during start-up (%v):\n%s", p.label(), p.waitErr, p.stderr.String())
	case err != nil:
		p.kill()
		return fmt.Errorf("%s not ready within %s: %v\n%s", p.label(), startTimeout, err, p.stderr.String())
	}
	p.t.Cleanup(p.cleanup)
	return nil
}

var errExited = errors.New("process exited")

// ready reports whether the apex SOA answers over both transports and the
// metrics endpoint serves.
func (o *overwatch) ready() error {
	for _, tcp := range []bool{false, true} {
		r, err := o.exchange(q(zoneName, dns.TypeSOA).over(tcp).timeout(300 * time.Millisecond))
		if err != nil {
			return err
		}
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			return fmt.Errorf("apex SOA: rcode %s, %d answers", dns.RcodeToString[r.Rcode], len(r.Answer))
		}
	}
	_, err := o.metricsText()
	return err
}

// writeConfig replaces the configuration file: the standard header with
// this process's ports, then body.
func (o *overwatch) writeConfig(body string) string {
	return o.writeRaw(configText(o.ports, o.dir, body))
}

// writeRaw replaces the configuration file with text, atomically (a
// rename), so a SIGHUP never reads half a file.
func (p *process) writeRaw(text string) string {
	p.t.Helper()
	tmp := p.cfgPath + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		p.t.Fatal(err)
	}
	if err := os.Rename(tmp, p.cfgPath); err != nil {
		p.t.Fatal(err)
	}
	return text
}

func (p *process) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("send %v: %v", sig, err)
	}
}

// stop sends sig and waits for the process to exit; it fails the test
// unless the exit is clean (status 0) and within stopTimeout. Only the
// first call acts.
func (p *process) stop(sig os.Signal) {
	p.stopOnce.Do(func() {
		defer p.cancel()
		select {
		case <-p.exited:
			p.t.Errorf("%s had already exited (%v) before the test stopped it", p.label(), p.waitErr)
			return
		default:
		}
		if err := p.cmd.Process.Signal(sig); err != nil {
			p.t.Errorf("send %v: %v", sig, err)
		}
		timer := time.NewTimer(stopTimeout)
		defer timer.Stop()
		select {
		case <-p.exited:
		case <-timer.C:
			p.t.Errorf("%s did not exit within %s of %v; killed", p.label(), stopTimeout, sig)
			p.kill()
			return
		}
		if p.waitErr != nil {
			p.t.Errorf("%s exited with %v after %v, want status 0", p.label(), p.waitErr, sig)
		}
	})
}

// kill ends the process with SIGKILL and reaps it.
func (p *process) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
	p.cancel()
}

func (p *process) cleanup() {
	p.stop(syscall.SIGTERM)
	out := p.stderr.String()
	if strings.Contains(out, "WARNING: DATA RACE") {
		p.t.Errorf("the race detector reported a data race in the %s", p.label())
	}
	if p.t.Failed() {
		p.t.Logf("%s stderr (last 60 lines):\n%s", p.label(), lastLines(out, 60))
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// logEntry is one zerolog JSON line of a process's stderr.
type logEntry map[string]any

func (e logEntry) str(key string) string {
	s, _ := e[key].(string)
	return s
}

// logs parses stderr as zerolog JSON lines; other lines are skipped.
func (p *process) logs() []logEntry {
	var out []logEntry
	sc := bufio.NewScanner(strings.NewReader(p.stderr.String()))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var e logEntry
		if json.Unmarshal(sc.Bytes(), &e) == nil {
			out = append(out, e)
		}
	}
	return out
}

// findLog returns the first log entry with message msg, or an error.
func (p *process) findLog(msg string) (logEntry, error) {
	for _, e := range p.logs() {
		if e.str("message") == msg {
			return e, nil
		}
	}
	return nil, fmt.Errorf("no log line %q yet", msg)
}

// waitHealthy waits until the zone has published a snapshot in which
// healthy backends are healthy (the debug line "snapshot published"). The
// answers alone cannot tell: before any verdict a domain fails open and
// serves every backend, which looks like all of them being healthy, and
// verdicts arrive one by one, so a snapshot may hold only some of them.
func (o *overwatch) waitHealthy(t testing.TB, healthy int) {
	t.Helper()
	checkFor(t, 5*time.Second, func() error {
		most := -1
		for _, e := range o.logs() {
			if e.str("message") != "snapshot published" {
				continue
			}
			n, _ := e["healthy"].(float64)
			if int(n) == healthy {
				return nil
			}
			most = max(most, int(n))
		}
		return fmt.Errorf("no snapshot with %d healthy backends yet (most so far: %d)", healthy, most)
	})
}

// --- DNS ---

// query describes one DNS question and how to send it.
type query struct {
	name    string
	qtype   uint16
	tcp     bool
	edns    bool
	size    uint16 // EDNS payload size; default 1232
	version uint8  // EDNS version
	ecs     string // EDNS client subnet, CIDR
	wait    time.Duration
}

func q(name string, qtype uint16) query { return query{name: name, qtype: qtype} }

func (x query) over(tcp bool) query           { x.tcp = tcp; return x }
func (x query) withECS(cidr string) query     { x.ecs = cidr; return x }
func (x query) timeout(d time.Duration) query { x.wait = d; return x }
func (x query) withEDNS(size uint16) query    { x.edns, x.size = true, size; return x }
func (x query) withVersion(v uint8) query     { x.edns, x.version = true, v; return x }
func (x query) transport() string             { return map[bool]string{false: "udp", true: "tcp"}[x.tcp] }
func (x query) String() string {
	return x.name + " " + dns.TypeToString[x.qtype] + " over " + x.transport()
}
func (o *overwatch) must(t testing.TB, x query) *dns.Msg {
	t.Helper()
	return mustExchange(t, o.ports.dns, x)
}

func (x query) msg() (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(x.name, x.qtype)
	m.RecursionDesired = false
	if x.edns || x.ecs != "" {
		size := x.size
		if size == 0 {
			size = 1232
		}
		m.SetEdns0(size, false)
		opt := m.IsEdns0()
		opt.SetVersion(x.version)
		if x.ecs != "" {
			_, ipnet, err := net.ParseCIDR(x.ecs)
			if err != nil {
				return nil, err
			}
			bits, _ := ipnet.Mask.Size()
			family := uint16(1)
			if ipnet.IP.To4() == nil {
				family = 2
			}
			opt.Option = append(opt.Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: family, SourceNetmask: uint8(bits), Address: ipnet.IP})
		}
	}
	return m, nil
}

func (o *overwatch) exchange(x query) (*dns.Msg, error) { return exchange(o.ports.dns, x) }

// exchange sends x to addr and checks that the reply matches the query.
// UDPSize is the client's buffer, not what it advertises: a reply larger
// than the query allowed must be seen, not cut off by the client.
func exchange(addr string, x query) (*dns.Msg, error) {
	m, err := x.msg()
	if err != nil {
		return nil, err
	}
	wait := x.wait
	if wait == 0 {
		wait = 2 * time.Second
	}
	c := &dns.Client{Net: x.transport(), Timeout: wait, UDPSize: dns.MaxMsgSize}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", x, err)
	}
	if r.Id != m.Id {
		return nil, fmt.Errorf("%s: reply id %d for query id %d", x, r.Id, m.Id)
	}
	return r, nil
}

func mustExchange(t testing.TB, addr string, x query) *dns.Msg {
	t.Helper()
	r, err := exchange(addr, x)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// section renders records one per line, sorted, for comparison. An SOA's
// serial is zeroed: it is the build time of the snapshot.
func section(rrs []dns.RR) []string {
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		if soa, ok := rr.(*dns.SOA); ok {
			c := *soa
			c.Serial = 0
			rr = &c
		}
		out = append(out, rr.String())
	}
	slices.Sort(out)
	return out
}

// addresses returns the A and AAAA addresses of an answer, sorted.
func addresses(r *dns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		switch v := rr.(type) {
		case *dns.A:
			out = append(out, v.A.String())
		case *dns.AAAA:
			out = append(out, v.AAAA.String())
		}
	}
	slices.Sort(out)
	return out
}

// expectAddresses is a checkFor condition: name's A (or AAAA) answer is
// NOERROR with exactly want (in any order).
func (o *overwatch) expectAddresses(name string, qtype uint16, want ...string) func() error {
	slices.Sort(want)
	return func() error {
		r, err := o.exchange(q(name, qtype))
		if err != nil {
			return err
		}
		if r.Rcode != dns.RcodeSuccess {
			return fmt.Errorf("%s %s: rcode %s, want NOERROR with %v", name, dns.TypeToString[qtype], dns.RcodeToString[r.Rcode], want)
		}
		if got := addresses(r); strings.Join(got, " ") != strings.Join(want, " ") {
			return fmt.Errorf("%s %s: answer %v, want %v", name, dns.TypeToString[qtype], got, want)
		}
		return nil
	}
}

// expectRcode is a checkFor condition: name answers rcode.
func (o *overwatch) expectRcode(name string, qtype uint16, rcode int) func() error {
	return func() error {
		r, err := o.exchange(q(name, qtype))
		if err != nil {
			return err
		}
		if r.Rcode != rcode {
			return fmt.Errorf("%s %s: rcode %s (answer %v), want %s", name, dns.TypeToString[qtype],
				dns.RcodeToString[r.Rcode], addresses(r), dns.RcodeToString[rcode])
		}
		return nil
	}
}

// --- metrics ---

// scraper does not keep connections alive, so no idle connection goroutine
// outlives a test (goleak).
var scraper = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}

// metricsText fetches the overwatch's GET /metrics.
func (o *overwatch) metricsText() (string, error) { return scrapeMetrics(o.ports.metrics) }

// scrapeMetrics fetches GET /metrics from addr (host:port).
func scrapeMetrics(addr string) (string, error) {
	resp, err := scraper.Get("http://" + addr + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return string(body), nil
}

// metricValue finds the sample of series (name with its labels, exactly as
// exposed) in a Prometheus text exposition.
func metricValue(text, series string) (float64, bool) {
	for _, line := range strings.Split(text, "\n") {
		rest, ok := strings.CutPrefix(line, series+" ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		return v, err == nil
	}
	return 0, false
}

// expectMetric is a checkFor condition: series has value want.
func (o *overwatch) expectMetric(series string, want float64) func() error {
	return func() error {
		text, err := o.metricsText()
		if err != nil {
			return err
		}
		got, ok := metricValue(text, series)
		if !ok {
			return fmt.Errorf("metric %s not exposed", series)
		}
		if got != want {
			return fmt.Errorf("metric %s = %v, want %v", series, got, want)
		}
		return nil
	}
}

// reloads returns the reload counters of the running process.
func (o *overwatch) reloads(t testing.TB) (success, failure float64) {
	t.Helper()
	text, err := o.metricsText()
	if err != nil {
		t.Fatal(err)
	}
	success, _ = metricValue(text, `opengslb_config_reloads_total{result="success"}`)
	failure, _ = metricValue(text, `opengslb_config_reloads_total{result="failure"}`)
	return success, failure
}
