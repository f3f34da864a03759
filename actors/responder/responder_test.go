package responder

import (
	"context"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/miekg/dns"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/opengslb/opengslb/actors/zone"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serve starts a real responder on a loopback port for the test's lifetime.
func serve(t *testing.T, snap *zone.Snapshot) string {
	t.Helper()
	a := New(zerolog.Nop(), zone.StoreOf(snap), "127.0.0.1:0", Options{UDPSockets: 2})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	select {
	case <-a.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("responder did not start: %v", err)
	case <-time.After(5 * time.Second):
		cancel()
		t.Fatal("responder not ready after 5s")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("responder stopped with %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("responder did not stop within 10s")
		}
	})
	return a.Addr()
}

type queryOpts struct {
	tcp     bool
	edns    bool
	size    uint16
	version uint8
	ecs     string // CIDR
	class   uint16
}

func exchange(t *testing.T, addr, name string, qtype uint16, o queryOpts) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	if o.class != 0 {
		m.Question[0].Qclass = o.class
	}
	if o.edns || o.ecs != "" || o.version > 0 {
		size := o.size
		if size == 0 {
			size = 1232
		}
		m.SetEdns0(size, false)
		opt := m.IsEdns0()
		opt.SetVersion(o.version)
		if o.ecs != "" {
			_, ipnet, err := net.ParseCIDR(o.ecs)
			if err != nil {
				t.Fatal(err)
			}
			bits, _ := ipnet.Mask.Size()
			family := uint16(1)
			if ipnet.IP.To4() == nil {
				family = 2
			}
			opt.Option = append(opt.Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: family, SourceNetmask: uint8(bits), Address: ipnet.IP})
		}
	}
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second, UDPSize: 65535}
	if o.tcp {
		c.Net = "tcp"
	}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s over %s: %v", name, dns.TypeToString[qtype], c.Net, err)
	}
	if r.Id != m.Id {
		t.Fatalf("reply id %d for query id %d", r.Id, m.Id)
	}
	return r
}

func section(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		out = append(out, rr.String())
	}
	sort.Strings(out)
	return out
}

func TestAnswers(t *testing.T) {
	addr := serve(t, fixtureSnapshot(t))
	soa := "gslb.example.com.\t60\tIN\tSOA\tns1.gslb.example.com. hostmaster.gslb.example.com. 2026112501 3600 600 86400 60"
	cases := []struct {
		name, qname string
		qtype       uint16
		opts        queryOpts
		rcode       int
		aa          bool
		answer, ns  []string
	}{
		{name: "round-robin serves only healthy IPv4", qname: "webapp.gslb.example.com.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: true, answer: []string{
			"webapp.gslb.example.com.\t30\tIN\tA\t10.0.1.10", "webapp.gslb.example.com.\t30\tIN\tA\t10.0.1.11", "webapp.gslb.example.com.\t30\tIN\tA\t10.0.1.12"}},
		{name: "AAAA from IPv6 backends", qname: "webapp.gslb.example.com.", qtype: dns.TypeAAAA, rcode: dns.RcodeSuccess, aa: true, answer: []string{
			"webapp.gslb.example.com.\t30\tIN\tAAAA\t2001:db8::10"}},
		{name: "over TCP", qname: "webapp.gslb.example.com.", qtype: dns.TypeAAAA, opts: queryOpts{tcp: true}, rcode: dns.RcodeSuccess, aa: true, answer: []string{
			"webapp.gslb.example.com.\t30\tIN\tAAAA\t2001:db8::10"}},
		{name: "NODATA for a family without backends", qname: "failover.gslb.example.com.", qtype: dns.TypeAAAA, rcode: dns.RcodeSuccess, aa: true, ns: []string{soa}},
		{name: "NODATA for another type", qname: "webapp.gslb.example.com.", qtype: dns.TypeMX, rcode: dns.RcodeSuccess, aa: true, ns: []string{soa}},
		{name: "NXDOMAIN", qname: "nope.gslb.example.com.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true, ns: []string{soa}},
		{name: "NXDOMAIN below a domain", qname: "x.webapp.gslb.example.com.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true, ns: []string{soa}},
		{name: "empty non-terminal is NODATA", qname: "deep.gslb.example.com.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: true, ns: []string{soa}},
		{name: "name below an empty non-terminal", qname: "a.deep.gslb.example.com.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: true, answer: []string{
			"a.deep.gslb.example.com.\t30\tIN\tA\t10.0.8.1"}},
		{name: "outside our zones is REFUSED", qname: "www.example.org.", qtype: dns.TypeA, rcode: dns.RcodeRefused},
		{name: "a suffix that is not a label boundary is REFUSED", qname: "xgslb.example.com.", qtype: dns.TypeA, rcode: dns.RcodeRefused},
		{name: "CHAOS class is REFUSED", qname: "webapp.gslb.example.com.", qtype: dns.TypeTXT, opts: queryOpts{class: dns.ClassCHAOS}, rcode: dns.RcodeRefused},
		{name: "apex SOA", qname: "gslb.example.com.", qtype: dns.TypeSOA, rcode: dns.RcodeSuccess, aa: true, answer: []string{
			"gslb.example.com.\t300\tIN\tSOA\tns1.gslb.example.com. hostmaster.gslb.example.com. 2026112501 3600 600 86400 60"}},
		{name: "apex NS", qname: "gslb.example.com.", qtype: dns.TypeNS, rcode: dns.RcodeSuccess, aa: true, answer: []string{
			"gslb.example.com.\t3600\tIN\tNS\tns1.gslb.example.com.", "gslb.example.com.\t3600\tIN\tNS\tns2.gslb.example.com."}},
		{name: "apex A is NODATA", qname: "gslb.example.com.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: true, ns: []string{soa}},
		{name: "AXFR refused", qname: "gslb.example.com.", qtype: dns.TypeAXFR, opts: queryOpts{tcp: true}, rcode: dns.RcodeRefused, aa: true},
		{name: "ANY answers one RRset (RFC 8482)", qname: "failover.gslb.example.com.", qtype: dns.TypeANY, rcode: dns.RcodeSuccess, aa: true, answer: []string{
			"failover.gslb.example.com.\t30\tIN\tA\t10.0.3.1"}},
		{name: "failover serves the primary", qname: "failover.gslb.example.com.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: true, answer: []string{
			"failover.gslb.example.com.\t30\tIN\tA\t10.0.3.1"}},
		{name: "no healthy backend fails open", qname: "down.gslb.example.com.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: true, answer: []string{
			"down.gslb.example.com.\t30\tIN\tA\t10.0.4.9", "down.gslb.example.com.\t30\tIN\tA\t10.0.5.9"}},
		{name: "fallback servfail", qname: "strict.gslb.example.com.", qtype: dns.TypeA, rcode: dns.RcodeServerFailure, aa: true},
		{name: "fallback nodata", qname: "quiet.gslb.example.com.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: true, ns: []string{soa}},
		{name: "EDNS version 1 gets BADVERS", qname: "webapp.gslb.example.com.", qtype: dns.TypeA, opts: queryOpts{version: 1}, rcode: dns.RcodeBadVers},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := exchange(t, addr, tc.qname, tc.qtype, tc.opts)
			if r.Rcode != tc.rcode {
				t.Fatalf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.rcode])
			}
			if r.Authoritative != tc.aa {
				t.Errorf("AA = %v, want %v", r.Authoritative, tc.aa)
			}
			if got, want := section(r.Answer), tc.answer; strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("answer:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if got, want := section(r.Ns), tc.ns; strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("authority:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func TestCasePreserved(t *testing.T) {
	addr := serve(t, fixtureSnapshot(t))
	r := exchange(t, addr, "WebApp.GSLB.Example.COM.", dns.TypeA, queryOpts{})
	if r.Question[0].Name != "WebApp.GSLB.Example.COM." {
		t.Errorf("question came back as %q", r.Question[0].Name)
	}
	if len(r.Answer) != 3 || r.Answer[0].Header().Name != "WebApp.GSLB.Example.COM." {
		t.Errorf("answer %v does not echo the question's case", r.Answer)
	}
}

func TestRoundRobinRotates(t *testing.T) {
	addr := serve(t, fixtureSnapshot(t))
	firsts := make(map[string]int)
	for range 6 {
		r := exchange(t, addr, "webapp.gslb.example.com.", dns.TypeA, queryOpts{})
		firsts[r.Answer[0].(*dns.A).A.String()]++
	}
	if len(firsts) != 3 {
		t.Errorf("first record over 6 queries: %v; want each of the 3 healthy backends first in turn", firsts)
	}
}

func TestTruncationAndTCP(t *testing.T) {
	addr := serve(t, fixtureSnapshot(t))
	r := exchange(t, addr, "big.gslb.example.com.", dns.TypeA, queryOpts{})
	if !r.Truncated || len(r.Answer) != 0 {
		t.Fatalf("60 A records over UDP without EDNS: TC=%v answers=%d, want TC and none", r.Truncated, len(r.Answer))
	}
	r = exchange(t, addr, "big.gslb.example.com.", dns.TypeA, queryOpts{edns: true, size: 4096})
	if r.Truncated || len(r.Answer) != 59 {
		t.Fatalf("60 A records with EDNS 4096 (capped at 1232): TC=%v answers=%d, want all 59 healthy", r.Truncated, len(r.Answer))
	}
	if opt := r.IsEdns0(); opt == nil || opt.UDPSize() != maxUDPSize {
		t.Errorf("reply OPT %v, want our payload size %d", opt, maxUDPSize)
	}
	r = exchange(t, addr, "big.gslb.example.com.", dns.TypeA, queryOpts{tcp: true})
	if r.Truncated || len(r.Answer) != 59 {
		t.Fatalf("over TCP: TC=%v answers=%d, want all 59 healthy", r.Truncated, len(r.Answer))
	}
}

func TestWeightedIsProportionalAndSticky(t *testing.T) {
	addr := serve(t, fixtureSnapshot(t))
	counts := make(map[string]int)
	for i := range 200 {
		ecs := net.IPv4(100, byte(i/256), byte(i%256), 0).String() + "/24"
		r := exchange(t, addr, "weighted.gslb.example.com.", dns.TypeA, queryOpts{ecs: ecs})
		if len(r.Answer) != 1 {
			t.Fatalf("weighted answer has %d records, want 1", len(r.Answer))
		}
		counts[r.Answer[0].(*dns.A).A.String()]++
		again := exchange(t, addr, "weighted.gslb.example.com.", dns.TypeA, queryOpts{ecs: ecs})
		if again.Answer[0].String() != r.Answer[0].String() {
			t.Fatalf("subnet %s got %v then %v; weighted choice must be sticky", ecs, r.Answer[0], again.Answer[0])
		}
		if i == 0 {
			var scope uint8 = 255
			for _, o := range r.IsEdns0().Option {
				if s, ok := o.(*dns.EDNS0_SUBNET); ok {
					scope = s.SourceScope
				}
			}
			if scope != 24 {
				t.Errorf("ECS scope %d, want 24 (the answer depends on the /24)", scope)
			}
		}
	}
	// Weights 300:100 → 75% expected; allow a wide band so the test
	// checks proportion, not luck.
	if share := counts["10.0.2.1"]; share < 120 || share > 180 {
		t.Errorf("heavy backend got %d of 200 subnets, want about 150: %v", share, counts)
	}
}

// Answers given by the fallback rule are counted per domain, so an
// operator can see a domain failing open; healthy answers are not.
func TestFallbackAnswersAreCounted(t *testing.T) {
	addr := serve(t, fixtureSnapshot(t))
	down := metrics.GetOrCreateCounter(`opengslb_dns_fallback_answers_total{domain="down.gslb.example.com."}`)
	healthy := metrics.GetOrCreateCounter(`opengslb_dns_fallback_answers_total{domain="webapp.gslb.example.com."}`)
	downBefore, healthyBefore := down.Get(), healthy.Get()
	for range 3 {
		exchange(t, addr, "down.gslb.example.com.", dns.TypeA, queryOpts{})
		exchange(t, addr, "webapp.gslb.example.com.", dns.TypeA, queryOpts{})
	}
	if got := down.Get() - downBefore; got != 3 {
		t.Errorf("fallback answers for down.gslb.example.com.: %d, want 3", got)
	}
	if got := healthy.Get() - healthyBefore; got != 0 {
		t.Errorf("fallback answers counted for a healthy domain: %d", got)
	}
}
