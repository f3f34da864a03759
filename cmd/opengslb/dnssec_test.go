package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/opengslb/opengslb/actors/signer"
	"github.com/opengslb/opengslb/config"
)

// writeTestKey makes a key for zone in dataDir/dnssec and returns the path
// of its .key file.
func writeTestKey(t *testing.T, dataDir, zone, algorithm string) string {
	t.Helper()
	k, err := signer.Generate(zone, algorithm, time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(dataDir, signer.KeyDir)
	if err := signer.WriteKey(dir, k); err != nil {
		t.Fatal(err)
	}
	paths, err := filepath.Glob(filepath.Join(dir, "K"+dns.CanonicalName(zone)+"+*.key"))
	if err != nil || len(paths) != 1 {
		t.Fatalf("key file of %s: %v %v", zone, paths, err)
	}
	return paths[0]
}

// dsfromkey is what BIND's dnssec-dsfromkey -2 prints for a key file.
func dsfromkey(t *testing.T, keyFile string) string {
	t.Helper()
	bin, err := exec.LookPath("dnssec-dsfromkey")
	if err != nil {
		t.Skip("dnssec-dsfromkey is not installed (Debian package bind9-utils; `make tools` installs it): " +
			"the DS output cannot be checked against BIND")
	}
	out, err := exec.Command(bin, "-2", keyFile).CombinedOutput()
	if err != nil {
		t.Fatalf("dnssec-dsfromkey -2 %s: %v\n%s", keyFile, err, out)
	}
	return string(out)
}

// sameDS compares DS lines as records, so TTL and spacing do not matter:
// dnssec-dsfromkey prints "zone. IN DS tag alg 2 DIGEST", without a TTL.
func sameDS(t *testing.T, got, want string) {
	t.Helper()
	norm := func(text string) []string {
		var out []string
		for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
			rr, err := dns.NewRR(line)
			if err != nil || rr == nil {
				t.Fatalf("not a DS record: %q: %v", line, err)
			}
			if _, ok := rr.(*dns.DS); !ok {
				t.Fatalf("not a DS record: %q", line)
			}
			rr.Header().Ttl = 0
			out = append(out, rr.String())
		}
		return out
	}
	g, w := norm(got), norm(want)
	if strings.Join(g, "\n") != strings.Join(w, "\n") {
		t.Errorf("DS records differ:\n got %q\nwant %q", g, w)
	}
}

func TestDNSSECDSMatchesDnssecDsfromkey(t *testing.T) {
	dataDir := t.TempDir()
	gslb := writeTestKey(t, dataDir, "gslb.example.com", config.AlgorithmECDSAP256)
	org := writeTestKey(t, dataDir, "example.org.", config.AlgorithmED25519)
	wantGSLB, wantOrg := dsfromkey(t, gslb), dsfromkey(t, org)

	for _, zone := range []string{"gslb.example.com", "gslb.example.com.", "GSLB.Example.COM"} {
		r := run(t, "dnssec", "ds", "--zone", zone, "--data-dir", dataDir)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("--zone %s: %v", zone, r)
		}
		sameDS(t, r.stdout, wantGSLB)
	}
	// Every zone, sorted by name, without --zone.
	r := run(t, "dnssec", "ds", "--data-dir", dataDir)
	if r.code != 0 {
		t.Fatalf("every zone: %v", r)
	}
	sameDS(t, r.stdout, wantOrg+wantGSLB)
	// The line is what (*dns.DS).String() prints.
	if first := strings.SplitN(r.stdout, "\n", 2)[0]; !strings.HasPrefix(first, "example.org.\t3600\tIN\tDS\t") {
		t.Errorf("DS line %q is not in (*dns.DS).String() form", first)
	}
}

func TestDNSSECDSReadsTheConfigsDataDir(t *testing.T) {
	dataDir := t.TempDir()
	keyFile := writeTestKey(t, dataDir, "gslb.example.com", config.AlgorithmECDSAP256)
	cfgFile := filepath.Join(t.TempDir(), "overwatch.toml")
	body := "mode = \"overwatch\"\ndata_dir = \"" + dataDir + "\"\n[dns]\nzones = [\"gslb.example.com\"]\n"
	if err := os.WriteFile(cfgFile, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	want := dsfromkey(t, keyFile)
	r := run(t, "dnssec", "ds", "--config", cfgFile, "--zone", "gslb.example.com")
	if r.code != 0 {
		t.Fatalf("--config: %v", r)
	}
	sameDS(t, r.stdout, want)

	t.Setenv("OPENGSLB_CONFIG", cfgFile)
	if r := run(t, "dnssec", "ds"); r.code != 0 {
		t.Fatalf("OPENGSLB_CONFIG: %v", r)
	} else {
		sameDS(t, r.stdout, want)
	}
}

func TestDNSSECDSNamesAZoneWithoutKeys(t *testing.T) {
	dataDir := t.TempDir()
	writeTestKey(t, dataDir, "gslb.example.com", config.AlgorithmECDSAP256)
	writeTestKey(t, dataDir, "example.org", config.AlgorithmED25519)
	dir := filepath.Join(dataDir, signer.KeyDir)

	r := run(t, "dnssec", "ds", "--zone", "other.example.net", "--data-dir", dataDir)
	if r.code != exitFailure || r.stdout != "" {
		t.Errorf("zone without keys: %v, want exit 1 and nothing printed", r)
	}
	for _, want := range []string{"other.example.net.", dir, "example.org., gslb.example.com."} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the error does not say %q: %s", want, r.stderr)
		}
	}

	empty := t.TempDir()
	r = run(t, "dnssec", "ds", "--data-dir", empty)
	if r.code != exitFailure || !strings.Contains(r.stderr, "no DNSSEC keys in "+filepath.Join(empty, signer.KeyDir)) {
		t.Errorf("a data_dir without keys: %v", r)
	}
	r = run(t, "dnssec", "ds", "--data-dir", empty, "--zone", "gslb.example.com")
	if r.code != exitFailure || !strings.Contains(r.stderr, "gslb.example.com.") || !strings.Contains(r.stderr, "no zone has keys") {
		t.Errorf("a zone in a data_dir without keys: %v", r)
	}
}

func TestDNSSECDSFailsOnACorruptKeyFile(t *testing.T) {
	dataDir := t.TempDir()
	keyFile := writeTestKey(t, dataDir, "gslb.example.com", config.AlgorithmECDSAP256)
	if err := os.WriteFile(keyFile, []byte("gslb.example.com. IN DNSKEY 257 3 13 not*base64\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(t, "dnssec", "ds", "--data-dir", dataDir, "--zone", "gslb.example.com")
	if r.code != exitFailure || r.stdout != "" || !strings.Contains(r.stderr, keyFile) {
		t.Errorf("corrupt key file: %v, want exit 1 with an error naming %s", r, keyFile)
	}
}

func TestDNSSECDSUsage(t *testing.T) {
	t.Setenv("OPENGSLB_CONFIG", "")
	os.Unsetenv("OPENGSLB_CONFIG")
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no source", []string{"dnssec", "ds"}, "give --config FILE"},
		{"both sources", []string{"dnssec", "ds", "--config", "x.toml", "--data-dir", "/tmp"}, "not both"},
		{"an argument", []string{"dnssec", "ds", "--data-dir", "/tmp", "gslb.example.com"}, "unexpected argument"},
		{"unknown flag", []string{"dnssec", "ds", "--zones", "x"}, "zones"},
	} {
		if r := run(t, c.args...); r.code != exitUsage || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%s: %v, want exit 2 saying %q", c.name, r, c.want)
		}
	}
}
