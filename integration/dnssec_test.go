package integration

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/opengslb/opengslb/actors/signer"
)

// delvValidated and delvNegative are how delv says it validated an answer
// and a denial from the trust anchor down.
const (
	delvValidated = "; fully validated"
	delvNegative  = "; negative response, fully validated"
)

// validator runs BIND's delv against an overwatch with the zone's DS as
// the only trust anchor: what a validating resolver would conclude.
type validator struct {
	t      *testing.T
	server string
	anchor string
}

// newValidator reads the zone's key from the overwatch's data_dir and
// trusts its DS.
func newValidator(t *testing.T, o *overwatch) *validator {
	t.Helper()
	return validatorWithDS(t, o.ports.dns, zoneDS(t, o.dir))
}

// validatorWithDS is delv against server with ds, written into a trust
// anchor file, as the only trust anchor.
func validatorWithDS(t *testing.T, server string, ds *dns.DS) *validator {
	t.Helper()
	if _, err := exec.LookPath("delv"); err != nil {
		t.Skip("delv is not installed (Debian bind9-dnsutils; `make test` installs it)")
	}
	anchor := filepath.Join(t.TempDir(), "anchor.conf")
	text := fmt.Sprintf("trust-anchors { %q static-ds %d %d %d %q; };\n", zoneName, ds.KeyTag, ds.Algorithm, ds.DigestType, ds.Digest)
	if err := os.WriteFile(anchor, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return &validator{t: t, server: server, anchor: anchor}
}

// zoneDS is the DS record of the one key stored for zoneName in dataDir.
func zoneDS(t *testing.T, dataDir string) *dns.DS {
	t.Helper()
	keys, err := signer.LoadKeys(filepath.Join(dataDir, signer.KeyDir))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].Zone != zoneName {
		t.Fatalf("want one key for %s in %s, have %d", zoneName, dataDir, len(keys))
	}
	return keys[0].DS()
}

// check runs delv for name and qtype and returns its output, failing the
// test unless the output holds want.
func (v *validator) check(name, qtype, want string) string {
	v.t.Helper()
	out, err := v.run(name, qtype)
	if err != nil || !strings.Contains(out, want) {
		v.t.Fatalf("delv %s %s: want %q, got (%v):\n%s", name, qtype, want, err, out)
	}
	return out
}

func (v *validator) run(name, qtype string) (string, error) {
	host, port, err := net.SplitHostPort(v.server)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "delv", "@"+host, "-p", port, "-a", v.anchor, "+root="+zoneName, name, qtype)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func dnssecBody(denial string) string {
	return fmt.Sprintf("\n[overwatch.dnssec]\ndenial = %q\n", denial) + dnsBody()
}

func TestDNSSECValidatesWithDelv(t *testing.T) {
	for _, denial := range []string{"nsec3", "nsec"} {
		t.Run(denial, func(t *testing.T) {
			o := startOverwatch(t, dnssecBody(denial))
			o.waitHealthy(t, dnsBackends)
			v := newValidator(t, o)
			positive := []struct{ name, qtype, record string }{
				{"rr.gslb.test", "A", "IN\tA\t192.0.2."},
				{"rr.gslb.test", "AAAA", "IN\tAAAA\t2001:db8::"},
				{"weighted.gslb.test", "A", "IN\tA\t192.0.2.4"},
				{"failover.gslb.test", "A", "IN\tA\t192.0.2.21"},
				{"a.deep.gslb.test", "A", "IN\tA\t192.0.2.30"},
				{"gslb.test", "SOA", "IN\tSOA\tns1.gslb.test."},
				{"gslb.test", "NS", "IN\tNS\tns2.gslb.test."},
				{"gslb.test", "DNSKEY", "IN\tDNSKEY\t257 3 13"},
				{"gslb.test", "CDS", "IN\tCDS\t"},
				{"gslb.test", "CDNSKEY", "IN\tCDNSKEY\t257 3 13"},
			}
			for _, c := range positive {
				out := v.check(c.name, c.qtype, delvValidated)
				if !strings.Contains(out, c.record) {
					t.Errorf("delv %s %s: no %q in\n%s", c.name, c.qtype, c.record, out)
				}
			}
			negative := []struct{ name, qtype, kind string }{
				{"nothere.gslb.test", "A", "NXDOMAIN"},
				{"x.y.z.rr.gslb.test", "AAAA", "NXDOMAIN"}, // below a domain
				{"zzzz.deep.gslb.test", "A", "NXDOMAIN"},   // beside a domain, below an ENT
				{"0-9_a.gslb.test", "A", "NXDOMAIN"},       // sorts before every name
				{"deep.gslb.test", "A", "NXRRSET"},         // an empty non-terminal
				{"v4.gslb.test", "AAAA", "NXRRSET"},        // no backend of that family
				{"rr.gslb.test", "TXT", "NXRRSET"},         // a type no name has
				{"gslb.test", "TXT", "NXRRSET"},            // at the apex
				{"*.gslb.test", "A", "NXDOMAIN"},           // no wildcard exists
				{strings.Repeat("a", 63) + ".gslb.test", "A", "NXDOMAIN"},
			}
			for _, c := range negative {
				out := v.check(c.name, c.qtype, delvNegative)
				if !strings.Contains(out, c.kind) {
					t.Errorf("delv %s %s: want %s in\n%s", c.name, c.qtype, c.kind, out)
				}
			}
		})
	}
}

// A backend that goes down changes the answer; the new answer, signed
// when the snapshot was rebuilt, validates too.
func TestDNSSECAnswerAfterBackendFails(t *testing.T) {
	primary := startTarget(t, "127.0.0.6")
	body := "\n[overwatch.dnssec]\n" + domain("web.gslb.test", `routing = "failover"`) +
		httpBackend("web", primary.addr, "priority = 1") + staticBackend("web", "192.0.2.99", "priority = 2")
	o := startOverwatch(t, body)
	host := primary.ip
	o.waitHealthy(t, 2)
	checkFor(t, healthTimeout, o.expectAddresses("web.gslb.test.", dns.TypeA, host))
	v := newValidator(t, o)
	if out := v.check("web.gslb.test", "A", delvValidated); !strings.Contains(out, host) {
		t.Fatalf("primary not served:\n%s", out)
	}
	primary.failing.Store(true)
	checkFor(t, healthTimeout, o.expectAddresses("web.gslb.test.", dns.TypeA, "192.0.2.99"))
	if out := v.check("web.gslb.test", "A", delvValidated); !strings.Contains(out, "192.0.2.99") {
		t.Fatalf("standby not served after the primary failed:\n%s", out)
	}
}

// A restart signs with the key it stored: the same key tag, the same DS.
func TestDNSSECKeysSurviveRestart(t *testing.T) {
	o := startOverwatch(t, "\n[overwatch.dnssec]\n"+dnsBody())
	before := zoneDS(t, o.dir)
	tagBefore := dnskeyTag(t, o)
	o.stop(syscall.SIGTERM)

	p := newProcess(t, "overwatch")
	p.dir, p.cfgPath = o.dir, o.cfgPath
	again := &overwatch{process: p, ports: o.ports}
	again.launch()
	if err := again.awaitStart(again.ready); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if after := zoneDS(t, o.dir); after.String() != before.String() {
		t.Fatalf("DS changed across a restart:\n before %s\n after  %s", before, after)
	}
	if tag := dnskeyTag(t, again); tag != tagBefore {
		t.Fatalf("served key tag %d after restart, %d before", tag, tagBefore)
	}
	newValidator(t, again).check("v4.gslb.test", "A", delvValidated)
}

func dnskeyTag(t *testing.T, o *overwatch) uint16 {
	t.Helper()
	r := o.must(t, q(zoneName, dns.TypeDNSKEY).withEDNS(1232))
	if len(r.Answer) != 1 {
		t.Fatalf("DNSKEY: %d records", len(r.Answer))
	}
	return r.Answer[0].(*dns.DNSKEY).KeyTag()
}

// Without the DO bit nothing changes; with it, an answer too large for the
// client's buffer is truncated whole, never sent without its RRSIG.
func TestDNSSECRecordsOnlyWithDO(t *testing.T) {
	o := startOverwatch(t, "\n[overwatch.dnssec]\n"+dnsBody())
	o.waitHealthy(t, dnsBackends)
	plain := o.must(t, q("rr.gslb.test.", dns.TypeA).withEDNS(1232))
	for _, rr := range append(plain.Answer, plain.Ns...) {
		if rr.Header().Rrtype == dns.TypeRRSIG {
			t.Fatalf("RRSIG without DO: %s", rr)
		}
	}
	nx := o.must(t, q("nothere.gslb.test.", dns.TypeA).withEDNS(1232))
	if len(nx.Ns) != 1 {
		t.Fatalf("NXDOMAIN without DO carries %d authority records, want the SOA alone", len(nx.Ns))
	}

	signed, err := exchangeDO(o.ports.dns, "big.gslb.test.", dns.TypeA, 1232, false)
	if err != nil {
		t.Fatal(err)
	}
	if !signed.Truncated && !hasRRSIG(signed.Answer, dns.TypeA) {
		t.Fatalf("60 A records with DO: neither TC nor an RRSIG:\n%s", signed)
	}
	small, err := exchangeDO(o.ports.dns, "big.gslb.test.", dns.TypeA, 512, false)
	if err != nil {
		t.Fatal(err)
	}
	if !small.Truncated || len(small.Answer) != 0 {
		t.Fatalf("signed answer over a 512-byte buffer: TC=%v with %d records", small.Truncated, len(small.Answer))
	}
	full, err := exchangeDO(o.ports.dns, "big.gslb.test.", dns.TypeA, 1232, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(full.Answer) != 61 || !hasRRSIG(full.Answer, dns.TypeA) {
		t.Fatalf("over TCP: %d records, want 60 A and their RRSIG", len(full.Answer))
	}
}

func exchangeDO(addr, name string, qtype, size uint16, tcp bool) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(size, true)
	c := &dns.Client{Timeout: 2 * time.Second}
	if tcp {
		c.Net = "tcp"
	}
	r, _, err := c.Exchange(m, addr)
	return r, err
}

func hasRRSIG(rrs []dns.RR, covered uint16) bool {
	for _, rr := range rrs {
		if sig, ok := rr.(*dns.RRSIG); ok && sig.TypeCovered == covered {
			return true
		}
	}
	return false
}
