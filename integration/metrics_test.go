package integration

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestMetrics(t *testing.T) {
	o := startOverwatch(t, domain("m.gslb.test")+staticBackend("m", "192.0.2.1"))
	o.waitHealthy(t, 1)

	// Start-up readiness sent only SOA queries, so the A and AAAA counters
	// hold exactly what is sent here.
	sent := []struct {
		q     query
		rcode int
		n     int
	}{
		{q: q("m.gslb.test.", dns.TypeA), rcode: dns.RcodeSuccess, n: 4},
		{q: q("m.gslb.test.", dns.TypeA).over(true), rcode: dns.RcodeSuccess, n: 3},
		{q: q("nope.gslb.test.", dns.TypeA), rcode: dns.RcodeNameError, n: 3},
		{q: q("m.gslb.test.", dns.TypeAAAA), rcode: dns.RcodeSuccess, n: 2},
		{q: q("example.org.", dns.TypeAAAA).over(true), rcode: dns.RcodeRefused, n: 1},
	}
	for _, s := range sent {
		for range s.n {
			if r := o.must(t, s.q); r.Rcode != s.rcode {
				t.Fatalf("%s: rcode %s, want %s", s.q, dns.RcodeToString[r.Rcode], dns.RcodeToString[s.rcode])
			}
		}
	}
	// The counter is incremented after the reply is written, so the last
	// reply can arrive before its count: poll.
	for series, want := range map[string]float64{
		`opengslb_dns_queries_total{qtype="A",rcode="NOERROR"}`:        7,
		`opengslb_dns_queries_total{qtype="A",rcode="NXDOMAIN"}`:       3,
		`opengslb_dns_queries_total{qtype="AAAA",rcode="NOERROR"}`:     2,
		`opengslb_dns_queries_total{qtype="AAAA",rcode="REFUSED"}`:     1,
		`opengslb_backend_healthy{service="m",backend="192.0.2.1:80"}`: 1,
		`opengslb_config_reloads_total{result="success"}`:              0,
		`opengslb_config_reloads_total{result="failure"}`:              0,
	} {
		checkFor(t, 5*time.Second, o.expectMetric(series, want))
	}

	resp, err := scraper.Get("http://" + o.ports.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q, want Prometheus text (text/plain)", ct)
	}
	text := string(body)
	for _, prefix := range []string{
		`opengslb_dns_query_duration_seconds_bucket{le="`,
		`opengslb_dns_query_duration_seconds_count `,
		`opengslb_build_info{version="`,
		`opengslb_config_reloads_total{result="success"} `,
		`opengslb_backend_healthy{`,
	} {
		if !hasLinePrefix(text, prefix) {
			t.Errorf("/metrics has no line starting %s", prefix)
		}
	}
	if n, _ := metricValue(text, `opengslb_dns_query_duration_seconds_count`); n < 13 {
		t.Errorf("opengslb_dns_query_duration_seconds_count = %v, want at least the 13 queries sent", n)
	}

	// Only GET /metrics is served.
	resp, err = scraper.Get("http://" + o.ports.metrics + "/nothing")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("GET /nothing: %s, want 404", resp.Status)
	}
}

func hasLinePrefix(text, prefix string) bool {
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, prefix) {
			return true
		}
	}
	return false
}

// TestMetricsForgetRemovedDomain: a domain removed by a reload must not
// leave its series behind. opengslb_domain_fallback_active is what an
// operator alerts on; stuck at 1 for a domain that no longer exists, the
// alert could never clear.
func TestMetricsForgetRemovedDomain(t *testing.T) {
	// Nothing listens on this address, so the tcp check fails and the
	// domain answers from its fallback.
	refused := freeAddr(t, false)
	host, port, _ := strings.Cut(refused, ":")
	live := domain("live.gslb.test") + staticBackend("live", "192.0.2.1")
	dead := domain("dead.gslb.test") + "\n[[backends]]\nservice = \"dead\"\naddress = \"" + host + "\"\nport = " + port + "\n" +
		"[backends.health_check]\ntype = \"tcp\"\ninterval = \"100ms\"\ntimeout = \"90ms\"\nfailure_threshold = 1\nsuccess_threshold = 1\n"
	o := startOverwatch(t, live+dead)
	const gauge = `opengslb_domain_fallback_active{domain="dead.gslb.test."}`
	backend := `opengslb_backend_healthy{service="dead",backend="` + refused + `"}`
	checkFor(t, 5*time.Second, o.expectMetric(backend, 0))
	checkFor(t, 5*time.Second, o.expectMetric(gauge, 1))

	o.writeConfig(live)
	o.reload(t, 1, 0)
	checkFor(t, 5*time.Second, o.expectRcode("dead.gslb.test.", dns.TypeA, dns.RcodeNameError))
	checkFor(t, 2*time.Second, func() error {
		text, err := o.metricsText()
		if err != nil {
			return err
		}
		for _, series := range []string{backend, gauge} {
			if v, ok := metricValue(text, series); ok {
				return fmt.Errorf("%s is still exposed (value %v) after its domain was removed", series, v)
			}
		}
		return nil
	})
}
