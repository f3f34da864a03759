package integration

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// healthTimeout bounds each wait for a verdict to show in answers. With a
// 100ms interval and thresholds of 2 (fall) and 1 (rise) a change takes
// about 300ms; the rest is slack for a loaded machine under -race.
const healthTimeout = 5 * time.Second

// httpTarget is a real HTTP server on a loopback address that answers its
// health path with 200 or 503, as the test decides.
type httpTarget struct {
	addr    string // host:port
	ip      string
	failing atomic.Bool
	// path, status and host, when set before the overwatch starts, make
	// the target answer like a service with its own health endpoint: path
	// answers status when the Host header is host; anything else is 404.
	path, host string
	status     int
	requests   atomic.Int64 // health requests that matched
}

// startTarget listens on ip (a 127.0.0.0/8 address, distinct per backend:
// a DNS answer carries addresses, not ports, so backends sharing an
// address would be indistinguishable) and serves until the test ends.
func startTarget(t *testing.T, ip string, configure ...func(*httpTarget)) *httpTarget {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("listen on %s: %v", ip, err)
	}
	h := &httpTarget{addr: ln.Addr().String(), ip: ip}
	for _, c := range configure {
		c(h)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			path, status := "/health", http.StatusOK
			if h.path != "" {
				path, status = h.path, h.status
			}
			if r.URL.Path != path || (h.host != "" && r.Host != h.host) || r.Method != http.MethodGet {
				http.NotFound(w, r)
				return
			}
			h.requests.Add(1)
			if h.failing.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(status)
		}),
		ReadHeaderTimeout: time.Second,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("backend %s: %v", h.addr, err)
		}
	})
	return h
}

// healthSeries is the opengslb_backend_healthy series of h as service.
func (h *httpTarget) healthSeries(service string) string {
	return fmt.Sprintf(`opengslb_backend_healthy{service=%q,backend=%q}`, service, h.addr)
}

func TestHealthRoundRobin(t *testing.T) {
	w1, w2 := startTarget(t, "127.0.0.2"), startTarget(t, "127.0.0.3")
	o := startOverwatch(t, domain("web.gslb.test")+httpBackend("web", w1.addr)+httpBackend("web", w2.addr))
	o.waitHealthy(t, 2)
	const name = "web.gslb.test."

	checkFor(t, healthTimeout, o.expectAddresses(name, dns.TypeA, w1.ip, w2.ip))

	w2.failing.Store(true)
	checkFor(t, healthTimeout, o.expectAddresses(name, dns.TypeA, w1.ip))
	checkFor(t, healthTimeout, o.expectMetric(w2.healthSeries("web"), 0))
	checkFor(t, healthTimeout, o.expectMetric(w1.healthSeries("web"), 1))
	// Gone for good while it fails, not merely rotated out of one answer.
	for range 10 {
		if err := o.expectAddresses(name, dns.TypeA, w1.ip)(); err != nil {
			t.Fatalf("with %s failing: %v", w2.ip, err)
		}
	}

	w2.failing.Store(false)
	checkFor(t, healthTimeout, o.expectAddresses(name, dns.TypeA, w1.ip, w2.ip))
	checkFor(t, healthTimeout, o.expectMetric(w2.healthSeries("web"), 1))
}

func TestHealthFailover(t *testing.T) {
	primary, secondary := startTarget(t, "127.0.0.4"), startTarget(t, "127.0.0.5")
	o := startOverwatch(t, domain("db.gslb.test", `routing = "failover"`)+
		httpBackend("db", secondary.addr, "priority = 2")+
		httpBackend("db", primary.addr, "priority = 1"))
	o.waitHealthy(t, 2)
	const name = "db.gslb.test."

	checkFor(t, healthTimeout, o.expectAddresses(name, dns.TypeA, primary.ip))

	primary.failing.Store(true)
	checkFor(t, healthTimeout, o.expectAddresses(name, dns.TypeA, secondary.ip))
	for _, tcp := range []bool{false, true} {
		x := q(name, dns.TypeA).over(tcp)
		if got := addresses(o.must(t, x)); strings.Join(got, " ") != secondary.ip {
			t.Fatalf("%s with the primary failing: %v, want the secondary %s", x, got, secondary.ip)
		}
	}

	primary.failing.Store(false)
	checkFor(t, healthTimeout, o.expectAddresses(name, dns.TypeA, primary.ip))
}

func TestHealthFallback(t *testing.T) {
	x, y, z := startTarget(t, "127.0.0.6"), startTarget(t, "127.0.0.7"), startTarget(t, "127.0.0.8")
	o := startOverwatch(t, domain("open.gslb.test")+httpBackend("open", x.addr)+httpBackend("open", y.addr)+
		domain("strict.gslb.test", `fallback = "servfail"`)+httpBackend("strict", z.addr))
	o.waitHealthy(t, 3)
	const open, strict = "open.gslb.test.", "strict.gslb.test."

	checkFor(t, healthTimeout, o.expectAddresses(open, dns.TypeA, x.ip, y.ip))
	checkFor(t, healthTimeout, o.expectAddresses(strict, dns.TypeA, z.ip))

	// One of two failing: the other alone is served, so health matters.
	x.failing.Store(true)
	checkFor(t, healthTimeout, o.expectAddresses(open, dns.TypeA, y.ip))

	// Both failing: fallback "all" fails open and serves every backend.
	y.failing.Store(true)
	checkFor(t, healthTimeout, o.expectMetric(y.healthSeries("open"), 0))
	checkFor(t, healthTimeout, o.expectAddresses(open, dns.TypeA, x.ip, y.ip))
	checkFor(t, healthTimeout, o.expectMetric(`opengslb_domain_fallback_active{domain="open.gslb.test."}`, 1))

	// Its only backend failing: fallback "servfail" answers SERVFAIL.
	z.failing.Store(true)
	checkFor(t, healthTimeout, o.expectRcode(strict, dns.TypeA, dns.RcodeServerFailure))
	r := o.must(t, q(strict, dns.TypeA).over(true))
	if r.Rcode != dns.RcodeServerFailure || len(r.Answer) != 0 {
		t.Errorf("strict over TCP with its backend failing: rcode %s, answer %v; want SERVFAIL, empty", dns.RcodeToString[r.Rcode], addresses(r))
	}

	// Recovery ends both fallbacks.
	z.failing.Store(false)
	x.failing.Store(false)
	checkFor(t, healthTimeout, o.expectAddresses(strict, dns.TypeA, z.ip))
	checkFor(t, healthTimeout, o.expectAddresses(open, dns.TypeA, x.ip))
	checkFor(t, healthTimeout, o.expectMetric(`opengslb_domain_fallback_active{domain="open.gslb.test."}`, 0))
}

// TestHealthCheckRequest: the check asks the configured path with the
// configured Host header, and only the configured statuses count as
// healthy (a 200 from a service that promises 204 is a failure).
func TestHealthCheckRequest(t *testing.T) {
	good := startTarget(t, "127.0.0.9", func(h *httpTarget) { h.path, h.status, h.host = "/ready", http.StatusNoContent, "svc.example" })
	wrong := startTarget(t, "127.0.0.10", func(h *httpTarget) { h.path, h.status, h.host = "/ready", http.StatusOK, "svc.example" })
	check := []string{`[backends.health_check]`, `path = "/ready"`, `host = "svc.example"`, `expected_status = [204]`}
	body := domain("svc.gslb.test")
	for _, h := range []*httpTarget{good, wrong} {
		host, port, _ := net.SplitHostPort(h.addr)
		body += fmt.Sprintf("\n[[backends]]\nservice = \"svc\"\naddress = %q\nport = %s\n%s\n", host, port, strings.Join(check, "\n"))
		body += "type = \"http\"\ninterval = \"100ms\"\ntimeout = \"90ms\"\nfailure_threshold = 2\nsuccess_threshold = 1\n"
	}
	o := startOverwatch(t, body)
	checkFor(t, healthTimeout, o.expectMetric(good.healthSeries("svc"), 1))
	checkFor(t, healthTimeout, o.expectMetric(wrong.healthSeries("svc"), 0))
	checkFor(t, healthTimeout, o.expectAddresses("svc.gslb.test.", dns.TypeA, good.ip))
	if good.requests.Load() == 0 || wrong.requests.Load() == 0 {
		t.Errorf("health requests matching path and Host: %d and %d, want some for both", good.requests.Load(), wrong.requests.Load())
	}
}

// TestHealthTCPCheck: a tcp check passes while something accepts
// connections on the port and fails once nothing does.
func TestHealthTCPCheck(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.11:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	stopListening := func() { _ = ln.Close(); <-accepted }
	defer stopListening()
	other := startTarget(t, "127.0.0.12")
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	o := startOverwatch(t, domain("tcp.gslb.test")+httpBackend("tcp", other.addr)+
		fmt.Sprintf("\n[[backends]]\nservice = \"tcp\"\naddress = \"127.0.0.11\"\nport = %s\n", port)+
		"[backends.health_check]\ntype = \"tcp\"\ninterval = \"100ms\"\ntimeout = \"90ms\"\nfailure_threshold = 2\nsuccess_threshold = 1\n")
	o.waitHealthy(t, 2)
	checkFor(t, healthTimeout, o.expectAddresses("tcp.gslb.test.", dns.TypeA, "127.0.0.11", other.ip))

	stopListening()
	checkFor(t, healthTimeout, o.expectAddresses("tcp.gslb.test.", dns.TypeA, other.ip))
}
