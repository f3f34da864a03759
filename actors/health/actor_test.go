package health

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"go.uber.org/goleak"

	"github.com/opengslb/opengslb/config"
	"github.com/opengslb/opengslb/messages"
)

// metricValue reads one series from the default set as /metrics shows it.
func metricValue(t *testing.T, series string) (float64, bool) {
	t.Helper()
	var buf bytes.Buffer
	metrics.WritePrometheus(&buf, false)
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", series, err)
			}
			return f, true
		}
	}
	return 0, false
}

func wantMetric(t *testing.T, series string, want float64) {
	t.Helper()
	got, ok := metricValue(t, series)
	if !ok || got != want {
		t.Fatalf("%s = %v (present %v), want %v", series, got, ok, want)
	}
}

func TestHTTPRiseFallRecovery(t *testing.T) {
	// One pass, a failure that resets the run, then three passes: healthy
	// only after the fifth check with success_threshold 3.
	srv := newFlipServer(t, false, 200, 503, 200, 200, 200)
	ap := srv.addrPort(t)
	key := keyOf("rise", ap)
	hc := config.HealthCheck{Type: "http", Path: "/health", Host: "webapp.example.com",
		Interval: ms(20), Timeout: ms(500), SuccessThreshold: 3, FailureThreshold: 2}
	h := newHarness(t, &config.Config{Backends: []config.Backend{backend("rise", ap, hc)}}, Options{})
	h.run()

	url := "http://" + ap.String() + "/health"
	got := h.expect(key, messages.HealthHealthy)
	if n := srv.hits.Load(); n < 5 {
		t.Errorf("healthy after %d checks, want at least 5 (three consecutive passes after the 503)", n)
	}
	if got.Detail != "HTTP 200 from "+url {
		t.Errorf("detail %q", got.Detail)
	}
	if srv.sawHost("webapp.example.com") == 0 {
		t.Errorf("no request carried Host: webapp.example.com (saw %v)", srv.hosts)
	}
	labels := `{service="rise",backend="` + ap.String() + `"}`
	wantMetric(t, "opengslb_backend_healthy"+labels, 1)

	srv.status.Store(http.StatusServiceUnavailable)
	before := srv.hits.Load()
	got = h.expect(key, messages.HealthUnhealthy)
	if n := srv.hits.Load() - before; n < 2 {
		t.Errorf("unhealthy after %d failed checks, want at least failure_threshold 2", n)
	}
	if got.Detail != "HTTP 503 from "+url {
		t.Errorf("detail %q", got.Detail)
	}
	wantMetric(t, "opengslb_backend_healthy"+labels, 0)
	if v, _ := metricValue(t, `opengslb_health_checks_total{service="rise",backend="`+ap.String()+`",result="failure"}`); v < 3 {
		t.Errorf("failure checks counted %v, want at least 3", v)
	}
	if _, ok := metricValue(t, `opengslb_health_check_duration_seconds_count`+labels); !ok {
		t.Error("no duration histogram for the backend")
	}

	srv.status.Store(http.StatusOK)
	h.expect(key, messages.HealthHealthy)
	wantMetric(t, "opengslb_backend_healthy"+labels, 1)
	h.stop()
	wantMetric(t, "opengslb_backend_healthy"+labels, -1) // nobody checks it any more
	h.noMoreReports(key)
}

func TestHTTPS(t *testing.T) {
	srv := newFlipServer(t, true)
	ap := srv.addrPort(t)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	base := config.HealthCheck{Type: "https", Path: "/", Interval: ms(20), Timeout: ms(5000), SuccessThreshold: 1, FailureThreshold: 1}
	// httptest's certificate names example.com and 127.0.0.1.
	verified := base
	verified.Host = "example.com"
	insecure := base
	insecure.InsecureSkipVerify = true
	unverified := base
	cfg := &config.Config{Backends: []config.Backend{
		backend("https-verified", ap, verified),
		backend("https-insecure", ap, insecure),
		backend("https-unknown-ca", ap, unverified),
	}}
	// Roots go through Options.TLSConfig; the unknown-CA case gets none
	// because it is its own actor below.
	h := newHarness(t, &config.Config{Backends: cfg.Backends[:2]}, Options{TLSConfig: &tls.Config{RootCAs: roots}})
	h.run()
	h.expect(keyOf("https-verified", ap), messages.HealthHealthy)
	h.expect(keyOf("https-insecure", ap), messages.HealthHealthy)
	if srv.sawHost("example.com") == 0 {
		t.Error("verified check did not send Host: example.com")
	}

	h2 := newHarness(t, &config.Config{Backends: cfg.Backends[2:]}, Options{})
	h2.run()
	got := h2.expect(keyOf("https-unknown-ca", ap), messages.HealthUnhealthy)
	if !strings.Contains(got.Detail, "certificate") {
		t.Errorf("detail %q, want a certificate error", got.Detail)
	}
}

func TestTCP(t *testing.T) {
	open := tcpListener(t)
	closed := closedPort(t)
	hc := config.HealthCheck{Type: "tcp", Interval: ms(20), Timeout: ms(500), SuccessThreshold: 2, FailureThreshold: 2}
	h := newHarness(t, &config.Config{Backends: []config.Backend{
		backend("tcp", open, hc), backend("tcp", closed, hc),
	}}, Options{})
	h.run()
	got := h.expect(keyOf("tcp", open), messages.HealthHealthy)
	if got.Detail != "TCP connect to "+open.String() {
		t.Errorf("detail %q", got.Detail)
	}
	got = h.expect(keyOf("tcp", closed), messages.HealthUnhealthy)
	if !strings.Contains(got.Detail, "connection refused") || !strings.Contains(got.Detail, closed.String()) {
		t.Errorf("detail %q, want connection refused to %s", got.Detail, closed)
	}
}

func TestNoneIsHealthyAtOnce(t *testing.T) {
	ap := closedPort(t) // nothing listens: a probe would fail
	// An hour's interval: the verdict cannot come from a scheduled check.
	hc := config.HealthCheck{Type: "none", Interval: config.Duration{Duration: time.Hour}}
	h := newHarness(t, &config.Config{Backends: []config.Backend{backend("none", ap, hc)}}, Options{})
	h.run()
	got := h.expect(keyOf("none", ap), messages.HealthHealthy)
	if !strings.Contains(got.Detail, "none") {
		t.Errorf("detail %q", got.Detail)
	}
	wantMetric(t, `opengslb_backend_healthy{service="none",backend="`+ap.String()+`"}`, 1)
}

func TestExpectedStatus(t *testing.T) {
	ok := newFlipServer(t, false)
	unavailable := newFlipServer(t, false)
	unavailable.status.Store(http.StatusServiceUnavailable)
	hc := func(expected ...int) config.HealthCheck {
		return config.HealthCheck{Type: "http", Path: "/health", Interval: ms(20), Timeout: ms(500),
			SuccessThreshold: 1, FailureThreshold: 1, ExpectedStatus: expected}
	}
	h := newHarness(t, &config.Config{Backends: []config.Backend{
		backend("want-204", ok.addrPort(t), hc(204)),
		backend("want-503", unavailable.addrPort(t), hc(503)),
		backend("default-200", unavailable.addrPort(t), hc()),
	}}, Options{})
	h.run()
	got := h.expect(keyOf("want-204", ok.addrPort(t)), messages.HealthUnhealthy)
	if want := "HTTP 200 from http://" + ok.addrPort(t).String() + "/health"; got.Detail != want {
		t.Errorf("detail %q, want %q", got.Detail, want)
	}
	h.expect(keyOf("want-503", unavailable.addrPort(t)), messages.HealthHealthy)
	h.expect(keyOf("default-200", unavailable.addrPort(t)), messages.HealthUnhealthy)
}

func TestTimeout(t *testing.T) {
	// The handler hangs until the client gives up.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	ap := mustAddrPort(t, srv.Listener.Addr().String())
	hc := config.HealthCheck{Type: "http", Path: "/slow", Interval: ms(50), Timeout: ms(30), SuccessThreshold: 1, FailureThreshold: 1}
	h := newHarness(t, &config.Config{Backends: []config.Backend{backend("slow", ap, hc)}}, Options{})
	h.run()
	got := h.expect(keyOf("slow", ap), messages.HealthUnhealthy)
	if want := "GET http://" + ap.String() + "/slow: timeout after 30ms"; got.Detail != want {
		t.Errorf("detail %q, want %q", got.Detail, want)
	}
}

func TestReconcile(t *testing.T) {
	a, b := newFlipServer(t, false), newFlipServer(t, false)
	c := tcpListener(t)
	hc := config.HealthCheck{Type: "http", Path: "/health", Interval: ms(20), Timeout: ms(500), SuccessThreshold: 2, FailureThreshold: 2}
	tcp := config.HealthCheck{Type: "tcp", Interval: ms(20), Timeout: ms(500), SuccessThreshold: 2, FailureThreshold: 2}
	keyA, keyB, keyC := keyOf("rec-a", a.addrPort(t)), keyOf("rec-b", b.addrPort(t)), keyOf("rec-c", c)
	h := newHarness(t, &config.Config{Backends: []config.Backend{
		backend("rec-a", a.addrPort(t), hc), backend("rec-b", b.addrPort(t), hc),
	}}, Options{})
	h.run()
	h.expect(keyA, messages.HealthHealthy)
	h.expect(keyB, messages.HealthHealthy)
	seriesB := `opengslb_backend_healthy{service="rec-b",backend="` + b.addrPort(t).String() + `"}`
	wantMetric(t, seriesB, 1)

	// A is unchanged apart from its weight, B is gone, C is new.
	moved := backend("rec-a", a.addrPort(t), hc)
	moved.Weight = 7
	h.apply(&config.Config{Backends: []config.Backend{moved, backend("rec-c", c, tcp)}}, 2)
	h.expect(keyC, messages.HealthHealthy) // the reload has been applied
	frozen := b.hits.Load()
	fromA := a.hits.Load()
	waitFor(t, "A to go on being checked", func() bool { return a.hits.Load() >= fromA+3 })
	if n := b.hits.Load(); n != frozen {
		t.Errorf("removed backend B was checked %d more times", n-frozen)
	}
	if n := h.startsOf(keyA); n != 1 {
		t.Errorf("unchanged A started %d times, want once", n)
	}
	h.noMoreReports(keyA) // A kept its healthy state: nothing to report
	if slices.ContainsFunc(metrics.ListMetricNames(), func(n string) bool { return strings.Contains(n, `service="rec-b"`) }) {
		t.Errorf("metrics of removed B still registered: %v", metrics.ListMetricNames())
	}

	// A changed check restarts A from unknown: it reports healthy again.
	changed := hc
	changed.Path = "/other"
	h.apply(&config.Config{Backends: []config.Backend{backend("rec-a", a.addrPort(t), changed), backend("rec-c", c, tcp)}}, 3)
	h.expect(keyA, messages.HealthHealthy)
	if n := h.startsOf(keyA); n != 2 {
		t.Errorf("changed A started %d times, want twice", n)
	}
	if n := h.startsOf(keyC); n != 1 {
		t.Errorf("unchanged C started %d times, want once", n)
	}

	// A stale generation is ignored.
	h.apply(&config.Config{}, 1)
	fromA = a.hits.Load()
	waitFor(t, "A to go on being checked after a stale config", func() bool { return a.hits.Load() >= fromA+2 })
	h.noMoreReports(keyC)
}

func TestRestartRebuildsFromLastConfig(t *testing.T) {
	a, b := newFlipServer(t, false), newFlipServer(t, false)
	hc := config.HealthCheck{Type: "http", Path: "/", Interval: ms(20), Timeout: ms(500), SuccessThreshold: 1, FailureThreshold: 1}
	keyA, keyB := keyOf("re-a", a.addrPort(t)), keyOf("re-b", b.addrPort(t))
	h := newHarness(t, &config.Config{Backends: []config.Backend{backend("re-a", a.addrPort(t), hc)}}, Options{})
	h.run()
	select {
	case <-h.actor.Ready():
	case <-time.After(within):
		t.Fatal("not ready")
	}
	h.expect(keyA, messages.HealthHealthy)
	h.apply(&config.Config{Backends: []config.Backend{backend("re-b", b.addrPort(t), hc)}}, 5)
	h.expect(keyB, messages.HealthHealthy)
	h.stop()

	frozen := a.hits.Load()
	h.run() // as a supervisor would after a failure
	h.expect(keyB, messages.HealthHealthy)
	fromB := b.hits.Load()
	waitFor(t, "B to be checked after the restart", func() bool { return b.hits.Load() >= fromB+2 })
	if n := a.hits.Load(); n != frozen {
		t.Errorf("restart checked A, from the constructor's config, %d times", n-frozen)
	}
	h.noMoreReports(keyA)
}

func TestRunStopsPromptly(t *testing.T) {
	inFlight := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case inFlight <- struct{}{}:
		default:
		}
		<-r.Context().Done()
	}))
	ap := mustAddrPort(t, srv.Listener.Addr().String())
	hc := config.HealthCheck{Type: "http", Path: "/", Interval: ms(20), Timeout: config.Duration{Duration: time.Minute}, SuccessThreshold: 1, FailureThreshold: 1}
	other := closedPort(t)
	h := newHarness(t, &config.Config{Backends: []config.Backend{
		backend("stop", ap, hc),
		backend("stop", other, config.HealthCheck{Type: "none"}),
	}}, Options{})
	h.run()
	h.expect(keyOf("stop", other), messages.HealthHealthy)
	select {
	case <-inFlight:
	case <-time.After(within):
		t.Fatal("no check reached the server")
	}
	// A check hangs for up to a minute; cancelling must not wait for it.
	start := time.Now()
	h.stop()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Run took %s to return after cancel", d)
	}
	srv.Close()
	goleak.VerifyNone(t)
}

// A config whose zone mailbox is full must not stop Run from returning.
func TestStopWhileZoneBlocked(t *testing.T) {
	hc := config.HealthCheck{Type: "none"}
	var bs []config.Backend
	for i := range 40 { // more than the zone mailbox holds
		bs = append(bs, backend("blocked", mustAddrPort(t, "10.9.0.1:"+strconv.Itoa(1000+i)), hc))
	}
	h := newHarness(t, &config.Config{Backends: bs}, Options{})
	h.run()
	waitFor(t, "the zone mailbox to fill", func() bool { return len(h.zone.Receive()) == cap(h.zone.Receive()) })
	h.stop()
}

func TestRunWithoutConfig(t *testing.T) {
	h := newHarness(t, nil, Options{})
	h.run()
	ap := tcpListener(t)
	h.apply(&config.Config{Backends: []config.Backend{backend("late", ap, config.HealthCheck{Type: "tcp", Interval: ms(20), SuccessThreshold: 1})}}, 1)
	h.expect(keyOf("late", ap), messages.HealthHealthy)
	if h.actor.Name() != "health" {
		t.Errorf("Name() = %q", h.actor.Name())
	}
}
