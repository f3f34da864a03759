package integration

import (
	"fmt"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const reloadTimeout = 5 * time.Second

// Configurations of the reload tests: v1 serves a, v2 adds b.
var (
	reloadV1 = domain("a.gslb.test") + staticBackend("a", "192.0.2.1")
	reloadV2 = reloadV1 + domain("b.gslb.test") + staticBackend("b", "192.0.2.2")
)

// lineOf returns the 1-based line of the first line of text containing
// substr.
func lineOf(t testing.TB, text, substr string) int {
	t.Helper()
	for i, line := range strings.Split(text, "\n") {
		if strings.Contains(line, substr) {
			return i + 1
		}
	}
	t.Fatalf("%q not in the configuration", substr)
	return 0
}

// reload sends SIGHUP and waits until the reload counters read success
// and failure.
func (o *overwatch) reload(t testing.TB, success, failure float64) {
	t.Helper()
	o.signal(syscall.SIGHUP)
	checkFor(t, reloadTimeout, func() error {
		s, f := o.reloads(t)
		if s != success || f != failure {
			return fmt.Errorf("reloads: %v succeeded, %v failed; want %v and %v", s, f, success, failure)
		}
		return nil
	})
}

// refusals returns the errors of the "reload refused" log lines so far.
func (o *overwatch) refusals() []string {
	var out []string
	for _, e := range o.logs() {
		if strings.HasPrefix(e.str("message"), "reload refused") {
			out = append(out, e.str("error"))
		}
	}
	return out
}

func TestReload(t *testing.T) {
	o := startOverwatch(t, reloadV1)
	o.waitHealthy(t, 1)
	checkFor(t, reloadTimeout, o.expectAddresses("a.gslb.test.", dns.TypeA, "192.0.2.1"))
	if err := o.expectRcode("b.gslb.test.", dns.TypeA, dns.RcodeNameError)(); err != nil {
		t.Fatalf("before the reload: %v", err)
	}
	servesV2 := func(t *testing.T) {
		t.Helper()
		for _, tcp := range []bool{false, true} {
			for name, want := range map[string]string{"a.gslb.test.": "192.0.2.1", "b.gslb.test.": "192.0.2.2"} {
				x := q(name, dns.TypeA).over(tcp)
				r := o.must(t, x)
				if got := addresses(r); r.Rcode != dns.RcodeSuccess || strings.Join(got, " ") != want {
					t.Errorf("%s: rcode %s answer %v, want %s", x, dns.RcodeToString[r.Rcode], got, want)
				}
			}
		}
	}

	t.Run("valid file adds a domain", func(t *testing.T) {
		o.writeConfig(reloadV2)
		o.reload(t, 1, 0)
		checkFor(t, reloadTimeout, o.expectAddresses("b.gslb.test.", dns.TypeA, "192.0.2.2"))
		servesV2(t)
		if _, err := o.findLog("configuration reloaded"); err != nil {
			t.Error(err)
		}
	})

	// Each refused file must leave v2 serving and name its problem with
	// the file and line, so the operator can go straight to it.
	refused := []struct {
		name string
		// text returns the whole file and a substring of the line the
		// refusal must point at.
		text func() (file, bad string)
		want string // in the logged error
	}{
		{
			name: "unknown key",
			text: func() (string, string) {
				return configText(o.ports, o.dir, reloadV2+domain("c.gslb.test", "tll = 30")), "tll = 30"
			},
			want: "domains[2].tll: unknown key",
		},
		{
			name: "bad ttl",
			text: func() (string, string) {
				return configText(o.ports, o.dir, reloadV2+domain("c.gslb.test", `ttl = "soon"`)), `ttl = "soon"`
			},
			want: "domains[2].ttl: must be an integer",
		},
		{
			name: "dns.listen_address changed",
			text: func() (string, string) {
				p := o.ports
				p.dns = freeAddr(t, true)
				return configText(p, o.dir, reloadV2), p.dns
			},
			want: "dns.listen_address cannot change without a restart",
		},
		{
			name: "metrics.listen_address changed",
			text: func() (string, string) {
				p := o.ports
				p.metrics = freeAddr(t, false)
				return configText(p, o.dir, reloadV2), p.metrics
			},
			want: "metrics.listen_address cannot change without a restart",
		},
	}
	for i, tc := range refused {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			text, bad := tc.text()
			o.writeRaw(text)
			before := len(o.refusals())
			o.reload(t, 1, float64(i+1))
			checkFor(t, reloadTimeout, func() error {
				if len(o.refusals()) <= before {
					return fmt.Errorf("no new \"reload refused\" log line")
				}
				return nil
			})
			msg := o.refusals()[before]
			if !strings.Contains(msg, tc.want) {
				t.Errorf("refusal %q does not say %q", msg, tc.want)
			}
			if !strings.Contains(msg, o.cfgPath) {
				t.Errorf("refusal %q does not name the file %s", msg, o.cfgPath)
			}
			if at := fmt.Sprintf("%s:%d: ", o.cfgPath, lineOf(t, text, bad)); !strings.Contains(msg, at) {
				t.Errorf("refusal %q does not point at %s (the line with %q)", msg, at, bad)
			}
			t.Logf("refused: %s", msg)
			servesV2(t)
			if err := o.expectRcode("c.gslb.test.", dns.TypeA, dns.RcodeNameError)(); err != nil {
				t.Errorf("the refused file's domain: %v", err)
			}
		})
	}

	t.Run("valid file after refusals applies", func(t *testing.T) {
		o.writeConfig(domain("b.gslb.test") + staticBackend("b", "192.0.2.2"))
		o.reload(t, 2, float64(len(refused)))
		checkFor(t, reloadTimeout, o.expectRcode("a.gslb.test.", dns.TypeA, dns.RcodeNameError))
		checkFor(t, reloadTimeout, o.expectAddresses("b.gslb.test.", dns.TypeA, "192.0.2.2"))
	})
}

// TestReloadUnderLoad queries without pause while the configuration is
// reloaded several times: the swap must be invisible to clients of the
// domain that every version serves.
func TestReloadUnderLoad(t *testing.T) {
	o := startOverwatch(t, reloadV1)
	o.waitHealthy(t, 1)
	checkFor(t, reloadTimeout, o.expectAddresses("a.gslb.test.", dns.TypeA, "192.0.2.1"))

	const (
		minQueries = 300
		maxQueries = 20000 // a bound, should the reloads hang
	)
	var (
		sent     atomic.Int64
		reloaded = make(chan struct{})
		result   = make(chan []string, 1)
	)
	go func() {
		var failures []string
		for i := 0; i < maxQueries; i++ {
			if i >= minQueries {
				select {
				case <-reloaded:
					result <- failures
					return
				default:
				}
			}
			x := q("a.gslb.test.", dns.TypeA).over(i%5 == 4)
			r, err := o.exchange(x)
			switch {
			case err != nil:
				failures = append(failures, err.Error())
			case r.Rcode != dns.RcodeSuccess:
				failures = append(failures, fmt.Sprintf("%s: rcode %s", x, dns.RcodeToString[r.Rcode]))
			case strings.Join(addresses(r), " ") != "192.0.2.1":
				failures = append(failures, fmt.Sprintf("%s: answer %v", x, addresses(r)))
			}
			sent.Add(1)
		}
		result <- append(failures, fmt.Sprintf("gave up after %d queries: the reloads did not finish", maxQueries))
	}()

	checkFor(t, reloadTimeout, func() error {
		if n := sent.Load(); n < 50 {
			return fmt.Errorf("%d queries sent", n)
		}
		return nil
	})
	for i, body := range []string{reloadV2, reloadV1, reloadV2, reloadV1} {
		o.writeConfig(body)
		o.reload(t, float64(i+1), 0)
		rcode := dns.RcodeSuccess
		if body == reloadV1 {
			rcode = dns.RcodeNameError
		}
		checkFor(t, reloadTimeout, o.expectRcode("b.gslb.test.", dns.TypeA, rcode))
	}
	close(reloaded)

	var failures []string
	select {
	case failures = <-result:
	case <-time.After(30 * time.Second):
		t.Fatal("query loop did not finish within 30s")
	}
	n := sent.Load()
	if len(failures) > 0 {
		t.Errorf("%d of %d queries during reloads failed; first: %s", len(failures), n, strings.Join(failures[:min(5, len(failures))], "; "))
	}
	if n < minQueries {
		t.Errorf("only %d queries sent", n)
	}
	t.Logf("%d queries across 4 reloads", n)
}

// TestReloadKeepsHealthVerdicts: a reload that leaves a backend and its
// check alone must leave its verdict alone too. A failing backend that
// came back into answers while the new configuration was applied, even
// briefly, would send clients to it.
func TestReloadKeepsHealthVerdicts(t *testing.T) {
	up, down := startTarget(t, "127.0.0.14"), startTarget(t, "127.0.0.15")
	base := domain("web.gslb.test") + httpBackend("web", up.addr) + httpBackend("web", down.addr)
	o := startOverwatch(t, base)
	o.waitHealthy(t, 2)
	down.failing.Store(true)
	checkFor(t, healthTimeout, o.expectAddresses("web.gslb.test.", dns.TypeA, up.ip))
	checkFor(t, healthTimeout, o.expectMetric(down.healthSeries("web"), 0))

	// The loop watches answers through the reloads and for watchAfter
	// past the last one: long enough for a forgotten verdict to show
	// (the zone rebuilds within 20ms, a check runs every 100ms).
	const watchAfter = 500 * time.Millisecond
	until := make(chan time.Time, 1)
	result := make(chan []string, 1)
	go func() {
		var bad []string
		var deadline time.Time
		for i := 0; i < 20000; i++ {
			select {
			case deadline = <-until:
			default:
			}
			if !deadline.IsZero() && time.Now().After(deadline) {
				result <- bad
				return
			}
			if err := o.expectAddresses("web.gslb.test.", dns.TypeA, up.ip)(); err != nil {
				bad = append(bad, err.Error())
			}
		}
		result <- append(bad, "query loop hit its bound")
	}()
	for i, body := range []string{
		base + domain("other.gslb.test") + staticBackend("other", "192.0.2.9"), // an unrelated domain added
		base, // and removed
		domain("web.gslb.test", "ttl = 10") + httpBackend("web", up.addr) + httpBackend("web", down.addr), // the domain itself changed
	} {
		o.writeConfig(body)
		o.reload(t, float64(i+1), 0)
	}
	until <- time.Now().Add(watchAfter)
	bad := <-result
	if len(bad) > 0 {
		t.Errorf("%d answers during reloads served the failing backend or failed; first: %s", len(bad), strings.Join(bad[:min(3, len(bad))], "; "))
	}
}

// TestReloadChangedCheckKeepsFailingBackendOut: a reload that changes only
// the healthy backend's check (here its interval) must not put the known
// failing backend into answers while the new check has yet to decide. The
// new interval is long, so that undecided time is long too.
func TestReloadChangedCheckKeepsFailingBackendOut(t *testing.T) {
	up, down := startTarget(t, "127.0.0.16"), startTarget(t, "127.0.0.17")
	base := domain("web.gslb.test") + httpBackend("web", up.addr) + httpBackend("web", down.addr)
	o := startOverwatch(t, base)
	o.waitHealthy(t, 2)
	down.failing.Store(true)
	checkFor(t, healthTimeout, o.expectAddresses("web.gslb.test.", dns.TypeA, up.ip))

	changed := strings.Replace(base, `interval = "100ms"`, `interval = "5s"`, 1) // the first backend is up
	if changed == base {
		t.Fatal("the check interval to change is not in the configuration")
	}
	o.writeConfig(changed)
	o.reload(t, 1, 0)
	const watch = time.Second
	var bad []string
	n := 0
	for end := time.Now().Add(watch); time.Now().Before(end) && n < 20000; n++ {
		if err := o.expectAddresses("web.gslb.test.", dns.TypeA, up.ip)(); err != nil {
			bad = append(bad, err.Error())
		}
	}
	if len(bad) > 0 {
		t.Errorf("%d of %d answers in the %s after the reload were wrong; first: %s", len(bad), n, watch, bad[0])
	}
}
