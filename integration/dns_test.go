package integration

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// dnsBackends is the number of backends in dnsBody.
const dnsBackends = 5 + 1 + 1 + 2 + 3 + 60

// dnsBody is the zone the DNS tests query. Every backend has health check
// type "none", so answers do not depend on timing.
func dnsBody() string {
	var b strings.Builder
	b.WriteString(domain("rr.gslb.test", `routing = "round-robin"`))
	for _, a := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "2001:db8::1", "2001:db8::2"} {
		b.WriteString(staticBackend("rr", a))
	}
	b.WriteString(domain("v4.gslb.test"))
	b.WriteString(staticBackend("v4", "192.0.2.10"))
	b.WriteString(domain("a.deep.gslb.test", `service = "deep"`))
	b.WriteString(staticBackend("deep", "192.0.2.30"))
	b.WriteString(domain("failover.gslb.test", `routing = "failover"`))
	b.WriteString(staticBackend("failover", "192.0.2.22", "priority = 2"))
	b.WriteString(staticBackend("failover", "192.0.2.21", "priority = 1"))
	b.WriteString(domain("weighted.gslb.test", `routing = "weighted"`))
	b.WriteString(staticBackend("weighted", "192.0.2.41", "weight = 300"))
	b.WriteString(staticBackend("weighted", "192.0.2.42", "weight = 100"))
	b.WriteString(staticBackend("weighted", "192.0.2.43", "weight = 100"))
	b.WriteString(domain("big.gslb.test"))
	for i := 1; i <= 60; i++ {
		b.WriteString(staticBackend("big", fmt.Sprintf("198.51.100.%d", i)))
	}
	return b.String()
}

// startDNS starts an overwatch on dnsBody and waits until its snapshot
// holds every backend as healthy (a "none" check is healthy at once, but
// the verdicts reach the zone asynchronously).
func startDNS(t *testing.T) *overwatch {
	t.Helper()
	o := startOverwatch(t, dnsBody())
	o.waitHealthy(t, dnsBackends)
	return o
}

func TestDNSAnswers(t *testing.T) {
	o := startDNS(t)
	const (
		negSOA  = "gslb.test.\t60\tIN\tSOA\tns1.gslb.test. hostmaster.gslb.test. 0 3600 600 86400 60"
		apexSOA = "gslb.test.\t300\tIN\tSOA\tns1.gslb.test. hostmaster.gslb.test. 0 3600 600 86400 60"
	)
	cases := []struct {
		name   string
		q      query
		rcode  int
		aa     bool
		answer []string
		ns     []string
	}{
		{name: "round-robin A", q: q("rr.gslb.test.", dns.TypeA), rcode: dns.RcodeSuccess, aa: true, answer: []string{
			"rr.gslb.test.\t30\tIN\tA\t192.0.2.1", "rr.gslb.test.\t30\tIN\tA\t192.0.2.2", "rr.gslb.test.\t30\tIN\tA\t192.0.2.3"}},
		{name: "round-robin AAAA", q: q("rr.gslb.test.", dns.TypeAAAA), rcode: dns.RcodeSuccess, aa: true, answer: []string{
			"rr.gslb.test.\t30\tIN\tAAAA\t2001:db8::1", "rr.gslb.test.\t30\tIN\tAAAA\t2001:db8::2"}},
		{name: "NXDOMAIN with SOA", q: q("nope.gslb.test.", dns.TypeA), rcode: dns.RcodeNameError, aa: true, ns: []string{negSOA}},
		{name: "NXDOMAIN below a domain", q: q("x.rr.gslb.test.", dns.TypeA), rcode: dns.RcodeNameError, aa: true, ns: []string{negSOA}},
		{name: "NODATA for a type the domain lacks", q: q("rr.gslb.test.", dns.TypeMX), rcode: dns.RcodeSuccess, aa: true, ns: []string{negSOA}},
		{name: "NODATA for AAAA without IPv6 backends", q: q("v4.gslb.test.", dns.TypeAAAA), rcode: dns.RcodeSuccess, aa: true, ns: []string{negSOA}},
		{name: "empty non-terminal is NODATA", q: q("deep.gslb.test.", dns.TypeA), rcode: dns.RcodeSuccess, aa: true, ns: []string{negSOA}},
		{name: "name below an empty non-terminal", q: q("a.deep.gslb.test.", dns.TypeA), rcode: dns.RcodeSuccess, aa: true, answer: []string{
			"a.deep.gslb.test.\t30\tIN\tA\t192.0.2.30"}},
		{name: "outside the zone is REFUSED", q: q("www.example.org.", dns.TypeA), rcode: dns.RcodeRefused},
		{name: "suffix without a label boundary is REFUSED", q: q("xgslb.test.", dns.TypeA), rcode: dns.RcodeRefused},
		{name: "apex SOA", q: q("gslb.test.", dns.TypeSOA), rcode: dns.RcodeSuccess, aa: true, answer: []string{apexSOA}},
		{name: "apex NS", q: q("gslb.test.", dns.TypeNS), rcode: dns.RcodeSuccess, aa: true, answer: []string{
			"gslb.test.\t3600\tIN\tNS\tns1.gslb.test.", "gslb.test.\t3600\tIN\tNS\tns2.gslb.test."}},
		{name: "apex A is NODATA", q: q("gslb.test.", dns.TypeA), rcode: dns.RcodeSuccess, aa: true, ns: []string{negSOA}},
		{name: "failover answers the primary only", q: q("failover.gslb.test.", dns.TypeA), rcode: dns.RcodeSuccess, aa: true, answer: []string{
			"failover.gslb.test.\t30\tIN\tA\t192.0.2.21"}},
		{name: "EDNS version 1 is BADVERS", q: q("rr.gslb.test.", dns.TypeA).withVersion(1), rcode: dns.RcodeBadVers},
	}
	for _, tc := range cases {
		for _, tcp := range []bool{false, true} {
			x := tc.q.over(tcp)
			t.Run(x.transport()+"/"+tc.name, func(t *testing.T) {
				r := o.must(t, x)
				if r.Rcode != tc.rcode {
					t.Fatalf("%s: rcode %s, want %s", x, dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.rcode])
				}
				if r.Authoritative != tc.aa {
					t.Errorf("%s: AA = %v, want %v", x, r.Authoritative, tc.aa)
				}
				if r.RecursionAvailable {
					t.Errorf("%s: RA set by an authoritative-only server", x)
				}
				if got, want := section(r.Answer), tc.answer; strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("%s: answer:\n%s\nwant:\n%s", x, strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
				if got, want := section(r.Ns), tc.ns; strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("%s: authority:\n%s\nwant:\n%s", x, strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
				if tc.rcode == dns.RcodeBadVers {
					if opt := r.IsEdns0(); opt == nil || opt.Version() != 0 {
						t.Errorf("%s: BADVERS reply OPT %v, want one carrying version 0", x, opt)
					}
				}
			})
		}
	}
}

func TestDNSCasePreserved(t *testing.T) {
	o := startDNS(t)
	const name = "Rr.GSLB.tEsT."
	for _, tcp := range []bool{false, true} {
		x := q(name, dns.TypeA).over(tcp)
		r := o.must(t, x)
		if r.Rcode != dns.RcodeSuccess || len(r.Question) != 1 {
			t.Fatalf("%s: rcode %s, %d questions", x, dns.RcodeToString[r.Rcode], len(r.Question))
		}
		if r.Question[0].Name != name {
			t.Errorf("%s: question came back as %q", x, r.Question[0].Name)
		}
		if len(r.Answer) != 3 {
			t.Fatalf("%s: %d answers, want 3", x, len(r.Answer))
		}
		for _, rr := range r.Answer {
			if rr.Header().Name != name {
				t.Errorf("%s: answer owner %q does not echo the question", x, rr.Header().Name)
			}
		}
	}
}

func TestDNSRoundRobinRotates(t *testing.T) {
	o := startDNS(t)
	first := make(map[string]int)
	for range 9 {
		r := o.must(t, q("rr.gslb.test.", dns.TypeA))
		if len(r.Answer) != 3 {
			t.Fatalf("%d answers, want 3", len(r.Answer))
		}
		first[r.Answer[0].(*dns.A).A.String()]++
	}
	if len(first) != 3 {
		t.Errorf("first record over 9 queries: %v; want each backend first in turn", first)
	}
}

func TestDNSTruncationAndTCP(t *testing.T) {
	o := startDNS(t)
	const name = "big.gslb.test."
	cases := []struct {
		name      string
		q         query
		truncated bool
		answers   int
	}{
		{name: "UDP without EDNS is limited to 512 bytes", q: q(name, dns.TypeA), truncated: true},
		{name: "UDP with EDNS 512", q: q(name, dns.TypeA).withEDNS(512), truncated: true},
		{name: "UDP with EDNS 1232 fits", q: q(name, dns.TypeA).withEDNS(1232), answers: 60},
		{name: "TCP without EDNS", q: q(name, dns.TypeA).over(true), answers: 60},
		{name: "TCP with EDNS 512", q: q(name, dns.TypeA).withEDNS(512).over(true), answers: 60},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := o.must(t, tc.q)
			if r.Rcode != dns.RcodeSuccess {
				t.Fatalf("rcode %s", dns.RcodeToString[r.Rcode])
			}
			if r.Truncated != tc.truncated || len(r.Answer) != tc.answers {
				t.Fatalf("TC=%v with %d answers, want TC=%v with %d", r.Truncated, len(r.Answer), tc.truncated, tc.answers)
			}
			if !tc.truncated {
				if got := addresses(r); len(got) != 60 || got[0] != "198.51.100.1" {
					t.Errorf("answer %v, want the 60 backends", got)
				}
			}
		})
	}
}

func TestDNSWeightedStickyPerSubnet(t *testing.T) {
	o := startDNS(t)
	const name = "weighted.gslb.test."
	valid := map[string]bool{"192.0.2.41": true, "192.0.2.42": true, "192.0.2.43": true}
	seen := make(map[string]int)
	for i := range 40 {
		subnet := fmt.Sprintf("100.64.%d.0/24", i)
		var first string
		for j, x := range []query{
			q(name, dns.TypeA).withECS(subnet),
			q(name, dns.TypeA).withECS(subnet),
			q(name, dns.TypeA).withECS(subnet).over(true),
		} {
			r := o.must(t, x)
			got := addresses(r)
			if r.Rcode != dns.RcodeSuccess || len(got) != 1 || !valid[got[0]] {
				t.Fatalf("%s from %s: rcode %s answer %v, want one of the weighted backends", x, subnet, dns.RcodeToString[r.Rcode], got)
			}
			if j == 0 {
				first = got[0]
				seen[first]++
				if scope := ecsScope(r); scope != 24 {
					t.Errorf("%s from %s: ECS scope %d, want 24 (the choice depends on the subnet)", x, subnet, scope)
				}
			} else if got[0] != first {
				t.Fatalf("subnet %s got %s, then %s over %s: weighted choice must be sticky", subnet, first, got[0], x.transport())
			}
		}
	}
	// 40 subnets at 300:100:100: the heavy backend takes most, and more
	// than one backend is used at all.
	if len(seen) < 2 || seen["192.0.2.41"] < 12 {
		t.Errorf("choices over 40 subnets: %v; want the 300-weight backend most often, and others too", seen)
	}
}

func ecsScope(r *dns.Msg) int {
	if opt := r.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if s, ok := o.(*dns.EDNS0_SUBNET); ok {
				return int(s.SourceScope)
			}
		}
	}
	return -1
}

// TestDNSMalformedInput sends datagrams no resolver would: random bytes,
// a header cut short, a header claiming five questions, a question cut
// short. The server must survive all of them, answer a well-formed query
// afterwards, and count what it discarded.
func TestDNSMalformedInput(t *testing.T) {
	o := startDNS(t)
	conn, err := net.Dial("udp", o.ports.dns)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	rng := rand.New(rand.NewPCG(1, 2)) // fixed seed: a failure reproduces
	for i := range 50 {
		garbage := make([]byte, 1+rng.IntN(600))
		for j := range garbage {
			garbage[j] = byte(rng.UintN(256))
		}
		if i%2 == 0 && len(garbage) > 2 {
			garbage[2] &^= 0x80 // looks like a query, so it is parsed further
		}
		if _, err := conn.Write(garbage); err != nil {
			t.Fatal(err)
		}
	}
	header := func(id, qdcount uint16) []byte {
		h := make([]byte, 12)
		binary.BigEndian.PutUint16(h[0:], id)
		binary.BigEndian.PutUint16(h[4:], qdcount)
		return h
	}
	short := header(0x1111, 1)[:7]
	fiveQuestions := header(0x2222, 5)
	cutQuestion := append(header(0x3333, 1), 2, 'r', 'r', 4, 'g', 's') // name ends mid-label
	for _, p := range [][]byte{short, fiveQuestions, cutQuestion} {
		if _, err := conn.Write(p); err != nil {
			t.Fatal(err)
		}
	}

	// The header with five questions is well enough formed to be told
	// FORMERR. Replies to the random datagrams may arrive too: read until
	// the one with our id, bounded by the deadline.
	if err := conn.SetReadDeadline(time.Now().Add(3 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65535)
	var formerr *dns.Msg
	for formerr == nil {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no reply to a header claiming 5 questions: %v", err)
		}
		m := new(dns.Msg)
		if m.Unpack(buf[:n]) == nil && m.Id == 0x2222 {
			formerr = m
		}
	}
	if formerr.Rcode != dns.RcodeFormatError || !formerr.Response {
		t.Errorf("header claiming 5 questions: rcode %s, QR=%v; want a FORMERR response", dns.RcodeToString[formerr.Rcode], formerr.Response)
	}

	if err := o.expectAddresses("rr.gslb.test.", dns.TypeA, "192.0.2.1", "192.0.2.2", "192.0.2.3")(); err != nil {
		t.Fatalf("after malformed input: %v", err)
	}
	for _, tcp := range []bool{false, true} {
		x := q("v4.gslb.test.", dns.TypeA).over(tcp)
		r := o.must(t, x)
		if got := addresses(r); r.Rcode != dns.RcodeSuccess || len(got) != 1 || got[0] != "192.0.2.10" {
			t.Fatalf("after malformed input, %s: rcode %s answer %v", x, dns.RcodeToString[r.Rcode], got)
		}
	}
	select {
	case <-o.exited:
		t.Fatalf("overwatch exited after malformed input: %v", o.waitErr)
	default:
	}
	text, err := o.metricsText()
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := metricValue(text, "opengslb_dns_malformed_total"); !ok || n < 2 {
		t.Errorf("opengslb_dns_malformed_total = %v (exposed %v), want at least the short header and the cut question", n, ok)
	}
}

// TestDNSConcurrentClients has several clients query different names at
// once over both transports: every reply must answer its own query (id,
// question, records), which a buffer shared between queries would break.
func TestDNSConcurrentClients(t *testing.T) {
	o := startDNS(t)
	type expect struct {
		x     query
		rcode int
		addrs string
	}
	cases := []expect{
		{q("rr.gslb.test.", dns.TypeA), dns.RcodeSuccess, "192.0.2.1 192.0.2.2 192.0.2.3"},
		{q("rr.gslb.test.", dns.TypeAAAA), dns.RcodeSuccess, "2001:db8::1 2001:db8::2"},
		{q("V4.gslb.test.", dns.TypeA), dns.RcodeSuccess, "192.0.2.10"},
		{q("failover.gslb.test.", dns.TypeA).withEDNS(1232), dns.RcodeSuccess, "192.0.2.21"},
		{q("nope.gslb.test.", dns.TypeA), dns.RcodeNameError, ""},
		{q("www.example.org.", dns.TypeA), dns.RcodeRefused, ""},
		{q("big.gslb.test.", dns.TypeA).withEDNS(1232), dns.RcodeSuccess, ""}, // 60 addresses, checked by count
	}
	const clients, perClient = 6, 150
	errs := make(chan error, clients)
	for c := range clients {
		go func() {
			for i := range perClient {
				e := cases[(c+i)%len(cases)]
				x := e.x.over((c+i)%3 == 0)
				r, err := o.exchange(x)
				if err != nil {
					errs <- err
					return
				}
				got := addresses(r)
				switch {
				case r.Rcode != e.rcode:
					err = fmt.Errorf("%s: rcode %s, want %s", x, dns.RcodeToString[r.Rcode], dns.RcodeToString[e.rcode])
				case len(r.Question) != 1 || r.Question[0].Name != x.name || r.Question[0].Qtype != x.qtype:
					err = fmt.Errorf("%s: reply for question %v", x, r.Question)
				case e.x.name == "big.gslb.test." && len(got) != 60:
					err = fmt.Errorf("%s: %d addresses, want 60", x, len(got))
				case e.x.name != "big.gslb.test." && strings.Join(got, " ") != e.addrs:
					err = fmt.Errorf("%s: answer %v, want %s", x, got, e.addrs)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range clients {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestDNSNotifyIsNotImplemented: nothing here is a secondary, so a NOTIFY
// gets NOTIMP, and its reply keeps the NOTIFY opcode (RFC 1035 §4.1.1: the
// opcode is copied into the response); a reply with opcode QUERY is
// discarded by the sender as a mismatch.
func TestDNSNotifyIsNotImplemented(t *testing.T) {
	o := startDNS(t)
	for _, transport := range []string{"udp", "tcp"} {
		m := new(dns.Msg)
		m.SetNotify(zoneName)
		c := &dns.Client{Net: transport, Timeout: 2 * time.Second}
		r, _, err := c.Exchange(m, o.ports.dns)
		if err != nil {
			t.Fatalf("NOTIFY over %s: %v", transport, err)
		}
		if r.Opcode != dns.OpcodeNotify || r.Rcode != dns.RcodeNotImplemented || len(r.Answer) != 0 {
			t.Errorf("NOTIFY over %s: opcode %s rcode %s, %d answers; want opcode NOTIFY, NOTIMP, none",
				transport, dns.OpcodeToString[r.Opcode], dns.RcodeToString[r.Rcode], len(r.Answer))
		}
	}
}
