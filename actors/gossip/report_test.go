package gossip

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/opengslb/opengslb/messages"
)

var testToken = []byte("webapp-token-0123456789")

func sampleReport() messages.AgentReport {
	return messages.AgentReport{
		Agent:   "agent-us-east-1",
		Region:  "us-east",
		Service: "webapp",
		Seq:     1_764_000_000_123_456_789,
		Backends: []messages.AgentBackend{
			{
				Address: netip.MustParseAddr("10.0.1.10"), Port: 8080, Weight: 100, Priority: 1, Region: "us-east",
				Health: messages.HealthHealthy,
				Check:  messages.CheckSpec{Type: "http", Path: "/health", Host: "webapp.example.com", ExpectedStatus: []int{200, 204}},
			},
			{
				Address: netip.MustParseAddr("2001:db8::10"), Port: 443, Weight: 0, Priority: 2, Region: "us-east",
				Health: messages.HealthUnhealthy,
				Check:  messages.CheckSpec{Type: "https", Path: "/", ExpectedStatus: []int{200}},
			},
			{
				Address: netip.MustParseAddr("10.0.1.11"), Port: 5432, Weight: 1000, Priority: 1,
				Health: messages.HealthUnknown,
				Check:  messages.CheckSpec{Type: "tcp"},
			},
		},
	}
}

func TestReportRoundTrip(t *testing.T) {
	in := sampleReport()
	b, err := Encode(in, testToken)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := got.Verify(testToken); err != nil {
		t.Fatalf("Verify with the signing token: %v", err)
	}
	want := in
	if out := got.AgentReport("", want.Received); !reflect.DeepEqual(out, want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", out, want)
	}
	if got.Version != ReportVersion {
		t.Errorf("version %d", got.Version)
	}
}

func TestReportEmptyAndMapped(t *testing.T) {
	in := messages.AgentReport{Agent: "a", Service: "s", Seq: 1}
	b, err := Encode(in, testToken)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Backends) != 0 || got.Agent != "a" || got.Service != "s" || got.Seq != 1 {
		t.Fatalf("got %+v", got)
	}
	// A 4-in-6 address travels as IPv4.
	in.Backends = []messages.AgentBackend{{Address: netip.MustParseAddr("::ffff:10.0.0.1"), Port: 80}}
	b, err = Encode(in, testToken)
	if err != nil {
		t.Fatal(err)
	}
	if got, err = Decode(b); err != nil || got.Backends[0].Address != netip.MustParseAddr("10.0.0.1") {
		t.Fatalf("got %v, %v", got.Backends, err)
	}
}

func TestReportVerifyFails(t *testing.T) {
	b, err := Encode(sampleReport(), testToken)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Verify([]byte("another-token-0123456789")); !errors.Is(err, ErrBadMAC) {
		t.Errorf("wrong token: %v, want ErrBadMAC", err)
	}
	if err := rep.Verify(nil); !errors.Is(err, ErrNoToken) {
		t.Errorf("no token: %v, want ErrNoToken", err)
	}
	// Every single-bit flip, in the body or the MAC, is caught: either the
	// shape breaks or the MAC does not match.
	for i := range b {
		c := bytes.Clone(b)
		c[i] ^= 0x01
		rep, err := Decode(c)
		if err != nil {
			continue
		}
		if err := rep.Verify(testToken); !errors.Is(err, ErrBadMAC) {
			t.Fatalf("bit flipped at byte %d accepted: %v", i, err)
		}
	}
}

func TestEncodeRefuses(t *testing.T) {
	long := strings.Repeat("x", 256)
	cases := []struct {
		name  string
		edit  func(*messages.AgentReport)
		token []byte
		want  string
	}{
		{"no token", func(*messages.AgentReport) {}, nil, "empty service token"},
		{"no agent", func(r *messages.AgentReport) { r.Agent = "" }, testToken, "agent name"},
		{"long agent", func(r *messages.AgentReport) { r.Agent = strings.Repeat("a", MaxNodeName+1) }, testToken, "agent name"},
		{"no service", func(r *messages.AgentReport) { r.Service = "" }, testToken, "empty service"},
		{"long region", func(r *messages.AgentReport) { r.Region = long }, testToken, "region is 256 bytes"},
		{"bad address", func(r *messages.AgentReport) { r.Backends[0].Address = netip.Addr{} }, testToken, "invalid address"},
		{"weight", func(r *messages.AgentReport) { r.Backends[0].Weight = -1 }, testToken, "weight -1"},
		{"priority", func(r *messages.AgentReport) { r.Backends[0].Priority = 70000 }, testToken, "priority 70000"},
		{"check type", func(r *messages.AgentReport) { r.Backends[0].Check.Type = "icmp" }, testToken, `check type "icmp"`},
		{"health", func(r *messages.AgentReport) { r.Backends[0].Health = 7 }, testToken, "health state 7"},
		{"path", func(r *messages.AgentReport) { r.Backends[0].Check.Path = long }, testToken, "check path is 256 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := sampleReport()
			c.edit(&r)
			_, err := Encode(r, c.token)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

// bigReport has n IPv4 backends of typical size (35 bytes each).
func bigReport(n int) messages.AgentReport {
	r := messages.AgentReport{Agent: "agent-us-east-1", Region: "us-east-1", Service: "webapp", Seq: 1}
	for i := range n {
		r.Backends = append(r.Backends, messages.AgentBackend{
			Address: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), Port: 8080, Weight: 100, Priority: 1,
			Region: "us-east-1", Check: messages.CheckSpec{Type: "http", Path: "/health", ExpectedStatus: []int{200}},
		})
	}
	return r
}

func TestEncodeSizeLimit(t *testing.T) {
	// The documented estimate: about 22 typical IPv4 backends fit.
	if _, err := Encode(bigReport(22), testToken); err != nil {
		t.Fatalf("22 typical backends should fit: %v", err)
	}
	_, err := Encode(bigReport(30), testToken)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("30 backends: %v, want ErrTooLarge", err)
	}
	for _, want := range []string{`"agent-us-east-1"`, `"webapp"`, "1125 bytes", "850-byte limit"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	// Decode refuses an oversized packet before looking at it.
	if _, err := Decode(make([]byte, MaxReportSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Decode oversized: %v", err)
	}
}

func TestDecodeRefuses(t *testing.T) {
	good, err := Encode(sampleReport(), testToken)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"short", good[:20], ErrMalformed},
		{"version", append([]byte{9}, good[1:]...), ErrVersion},
		{"trailing", append(append(bytes.Clone(good[:len(good)-MACSize]), 0), good[len(good)-MACSize:]...), ErrMalformed},
		{"truncated backend", append(bytes.Clone(good[:len(good)-MACSize-3]), good[len(good)-MACSize:]...), ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := Decode(c.b); !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
}
