package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/miekg/dns"

	"github.com/opengslb/opengslb/actors/signer"
)

// The client commands of the binary (status, backends, agents, override,
// reload, ha check) run as subprocesses against live overwatches, as an
// operator runs them.

// cliNodeBody is the zone of the CLI tests: svc with two backends, other
// with one.
var cliNodeBody = domain("svc.gslb.test") + staticBackend("svc", "192.0.2.1") + staticBackend("svc", "192.0.2.2") +
	domain("other.gslb.test") + staticBackend("other", "192.0.2.9")

// cli runs the binary with args and --api pointing at n.
func (n *apiNode) cli(t *testing.T, args ...string) cliResult {
	t.Helper()
	return runCLI(t, append(args, "--api", n.base)...)
}

// decodeCLI unmarshals a command's --output json stdout into v.
func decodeCLI(t *testing.T, r cliResult, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("stdout is not the expected JSON: %v\n%s", err, r)
	}
}

// TestCLIAgainstANode: status, backends, agents, override set/list/clear
// and reload against one overwatch that wants a token for changes.
func TestCLIAgainstANode(t *testing.T) {
	const token = "cli-token-0123456789abcdef"
	n := startAPINode(t, apiSettings{token: token}, cliNodeBody)
	n.waitHealthy(t, 3)

	t.Run("status", func(t *testing.T) {
		r := n.cli(t, "status")
		if r.code != 0 || !hasRow(r.stdout, "ready", "yes") || !hasRow(r.stdout, "backends", "3 healthy, 0 unhealthy, 0 unknown, 0 stale") ||
			!hasRow(r.stdout, "domains", "2") {
			t.Errorf("status:\n%s", r)
		}
		r = n.cli(t, "status", "-o", "json")
		var st apiStatus
		decodeCLI(t, r, &st)
		if r.code != 0 || !st.Ready || st.Domains != 2 || st.Backends.Healthy != 3 {
			t.Errorf("status -o json: %+v\n%s", st, r)
		}
	})

	t.Run("backends", func(t *testing.T) {
		r := n.cli(t, "backends", "--service", "svc", "-o", "json")
		var reply struct {
			Backends []apiBackend `json:"backends"`
		}
		decodeCLI(t, r, &reply)
		var got []string
		for _, b := range reply.Backends {
			got = append(got, b.Service+"/"+b.hostPort()+"/"+b.EffectiveState)
		}
		if want := []string{"svc/192.0.2.1:80/healthy", "svc/192.0.2.2:80/healthy"}; r.code != 0 || !slices.Equal(got, want) {
			t.Errorf("backends --service svc -o json: %v, want %v\n%s", got, want, r)
		}
		r = n.cli(t, "backends", "--service", "svc")
		if r.code != 0 || !strings.HasPrefix(r.stdout, "SERVICE") || !hasRow(r.stdout, "svc", "192.0.2.1", "80", "static") ||
			strings.Contains(r.stdout, "192.0.2.9") {
			t.Errorf("backends --service svc:\n%s", r)
		}
		r = n.cli(t, "backends", "--state", "bogus")
		if r.code != 1 || !strings.Contains(r.stderr, "400") || !strings.Contains(r.stderr, "bogus") {
			t.Errorf("backends --state bogus: want exit 1 with the node's 400\n%s", r)
		}
	})

	t.Run("agents", func(t *testing.T) {
		r := n.cli(t, "agents")
		if r.code != 0 || !strings.Contains(r.stderr, "no agents") {
			t.Errorf("agents on an overwatch without gossip:\n%s", r)
		}
	})

	t.Run("override set list clear", func(t *testing.T) {
		r := n.cli(t, "override", "set", "svc", "192.0.2.1:80", "--state", "drain", "--reason", "kernel update")
		if r.code != 1 || !strings.Contains(r.stderr, "401") || !strings.Contains(r.stderr, "no token given") {
			t.Errorf("override set without --token: want exit 1 saying 401 and no token\n%s", r)
		}
		r = n.cli(t, "override", "set", "svc", "192.0.2.1:80", "--state", "drain", "--token", "wrong-token-0123456789")
		if r.code != 1 || !strings.Contains(r.stderr, "401") || !strings.Contains(r.stderr, "check --token") {
			t.Errorf("override set with a wrong --token: want exit 1 saying 401\n%s", r)
		}
		r = n.cli(t, "override", "set", "svc", "192.0.2.1:80", "--state", "sideways", "--token", token)
		if r.code != 2 {
			t.Errorf("override set --state sideways: want a usage error (exit 2)\n%s", r)
		}
		if list := n.overrides(t); len(list) != 0 {
			t.Fatalf("refused commands left overrides: %+v", list)
		}

		r = n.cli(t, "override", "set", "svc", "192.0.2.1:80", "--state", "drain", "--reason", "kernel update", "--expires", "2h", "--token", token)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "override set: svc 192.0.2.1:80 drain, expires ") || !strings.Contains(r.stdout, "(kernel update)") {
			t.Errorf("override set:\n%s", r)
		}
		checkFor(t, apiTimeout, n.expectAddresses("svc.gslb.test.", dns.TypeA, "192.0.2.2"))

		r = n.cli(t, "override", "list")
		if r.code != 0 || !hasRow(r.stdout, "svc", "192.0.2.1:80", "drain", "kernel update") || !strings.Contains(r.stdout, "127.0.0.1") {
			t.Errorf("override list:\n%s", r)
		}
		var list struct {
			Overrides []apiOverride `json:"overrides"`
		}
		r = n.cli(t, "override", "list", "-o", "json")
		decodeCLI(t, r, &list)
		if len(list.Overrides) != 1 || list.Overrides[0].Backend != "192.0.2.1:80" || list.Overrides[0].Expires == nil {
			t.Errorf("override list -o json: %+v", list.Overrides)
		}
		r = n.cli(t, "backends", "--state", "drain", "-o", "json")
		var drained struct {
			Backends []apiBackend `json:"backends"`
		}
		decodeCLI(t, r, &drained)
		if len(drained.Backends) != 1 || drained.Backends[0].Address != "192.0.2.1" {
			t.Errorf("backends --state drain: %+v", drained.Backends)
		}

		r = n.cli(t, "override", "clear", "svc", "192.0.2.1:80", "--token", token)
		if r.code != 0 || strings.TrimSpace(r.stdout) != "override cleared: svc/192.0.2.1:80" {
			t.Errorf("override clear:\n%s", r)
		}
		checkFor(t, apiTimeout, n.expectAddresses("svc.gslb.test.", dns.TypeA, "192.0.2.1", "192.0.2.2"))
		r = n.cli(t, "override", "list")
		if r.code != 0 || !strings.Contains(r.stderr, "no overrides") {
			t.Errorf("override list after the clear:\n%s", r)
		}
		r = n.cli(t, "override", "clear", "svc", "192.0.2.1:80", "--token", token)
		if r.code != 1 || !strings.Contains(r.stderr, "404") {
			t.Errorf("override clear of nothing: want exit 1 with the node's 404\n%s", r)
		}
	})

	t.Run("reload", func(t *testing.T) {
		r := n.cli(t, "reload")
		if r.code != 1 || !strings.Contains(r.stderr, "401") {
			t.Errorf("reload without --token: want exit 1 saying 401\n%s", r)
		}
		n.writeBody(cliNodeBody + domain("new.gslb.test") + staticBackend("new", "192.0.2.77"))
		r = n.cli(t, "reload", "--token", token)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "reload applied: generation 1") || !strings.Contains(r.stdout, "new.gslb.test") {
			t.Errorf("reload of a new domain:\n%s", r)
		}
		checkFor(t, apiTimeout, n.expectAddresses("new.gslb.test.", dns.TypeA, "192.0.2.77"))

		text := n.writeBody(cliNodeBody + domain("new.gslb.test", "tll = 30"))
		r = n.cli(t, "reload", "--token", token, "-o", "json")
		at := fmt.Sprintf("%s:%d:", n.cfgPath, lineOf(t, text, "tll = 30"))
		var refusal apiError
		decodeCLI(t, r, &refusal)
		if r.code != 1 || !strings.Contains(r.stderr, "422") || !strings.Contains(refusal.detail(), at) {
			t.Errorf("reload of an invalid file: want exit 1, the 422 on stderr and its JSON naming %s on stdout\n%s", at, r)
		}
		checkFor(t, apiTimeout, n.expectAddresses("new.gslb.test.", dns.TypeA, "192.0.2.77"))
	})
}

// hasRow reports whether a line of out holds the cells in order, each
// a whole cell (a table row, columns separated by spaces).
func hasRow(out string, cells ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		rest := " " + strings.Join(strings.Fields(line), " ") + " "
		found := true
		for _, c := range cells {
			i := strings.Index(rest, " "+c+" ")
			if i < 0 {
				found = false
				break
			}
			rest = rest[i+len(c)+1:]
		}
		if found {
			return true
		}
	}
	return false
}

// haReport is the part of `ha check -o json` the test reads.
type haReport struct {
	Agree bool `json:"agree"`
	Nodes []struct {
		URL       string `json:"url"`
		Reachable bool   `json:"reachable"`
		Error     string `json:"error"`
		Backends  int    `json:"backends"`
	} `json:"nodes"`
	Backends    int `json:"backends"`
	Differences []struct {
		Kind      string   `json:"kind"`
		Node      string   `json:"node"`
		Service   string   `json:"service"`
		Address   string   `json:"address"`
		Port      int      `json:"port"`
		Field     string   `json:"field"`
		PresentOn []string `json:"present_on"`
		MissingOn []string `json:"missing_on"`
	} `json:"differences"`
}

// TestCLIHACheck: `ha check` on two overwatches exits 0 while their
// static backends agree and 1 naming the backend when one of them has a
// drained backend or an extra one; a stopped node is a difference too.
func TestCLIHACheck(t *testing.T) {
	body := domain("svc.gslb.test") + staticBackend("svc", "192.0.2.1") + staticBackend("svc", "192.0.2.2")
	a := startAPINode(t, apiSettings{}, body)
	b := startAPINode(t, apiSettings{}, body)
	// These nodes serve plain HTTP, which key sync refuses to carry keys
	// over (keysync_test.go has it over TLS), so they share keys by
	// copying the key directory; ha check tells nodes signing with
	// different keys apart.
	b.stop(syscall.SIGTERM)
	copyKeys(t, a.dir, b.dir)
	b = b.restart(t)
	a.waitHealthy(t, 2)
	b.waitHealthy(t, 2)
	check := func(t *testing.T, args ...string) cliResult {
		t.Helper()
		return runCLI(t, append([]string{"ha", "check", "--node", a.base, "--node", b.base}, args...)...)
	}
	agree := func(t *testing.T) {
		t.Helper()
		checkFor(t, apiTimeout, func() error {
			if r := check(t); r.code != 0 || strings.TrimSpace(r.stdout) != "all 2 nodes agree (2 backends, 1 key tags)" {
				return fmt.Errorf("ha check of agreeing nodes:\n%s", r)
			}
			return nil
		})
	}

	t.Run("agree", func(t *testing.T) {
		agree(t)
		var rep haReport
		r := check(t, "-o", "json")
		decodeCLI(t, r, &rep)
		if r.code != 0 || !rep.Agree || rep.Backends != 2 || len(rep.Differences) != 0 || len(rep.Nodes) != 2 {
			t.Errorf("ha check -o json of agreeing nodes: %+v\n%s", rep, r)
		}
	})

	t.Run("a drained backend", func(t *testing.T) {
		b.setOverride(t, "svc/192.0.2.1:80", `{"state": "drain", "reason": "ha test"}`)
		checkFor(t, apiTimeout, b.expectAddresses("svc.gslb.test.", dns.TypeA, "192.0.2.2"))
		var r cliResult
		checkFor(t, apiTimeout, func() error {
			if r = check(t); r.code != 1 {
				return fmt.Errorf("ha check with a drained backend on one node: want exit 1\n%s", r)
			}
			return nil
		})
		if !strings.Contains(r.stdout, "backend svc 192.0.2.1:80: override differs: none on "+a.base+"; drain on "+b.base) ||
			strings.Contains(r.stdout, "192.0.2.2") || !strings.Contains(r.stderr, "disagree") {
			t.Errorf("ha check with 192.0.2.1 drained on %s: want it named, and 192.0.2.2 not\n%s", b.base, r)
		}
		var rep haReport
		decodeCLI(t, check(t, "-o", "json"), &rep)
		var fields []string
		for _, d := range rep.Differences {
			if d.Kind != "backend_differs" || d.Address != "192.0.2.1" || d.Port != 80 || d.Service != "svc" {
				t.Errorf("difference %+v, want only 192.0.2.1:80 of svc", d)
			}
			fields = append(fields, d.Field)
		}
		if !slices.Contains(fields, "override") || !slices.Contains(fields, "served") {
			t.Errorf("differing fields %v, want override and served among them", fields)
		}
		b.clearOverride(t, "svc/192.0.2.1:80")
		agree(t)
	})

	t.Run("an extra backend", func(t *testing.T) {
		b.writeBody(body + staticBackend("svc", "192.0.2.3"))
		b.mustAPI(t, http.StatusOK, apiReq{method: http.MethodPost, path: "/api/v1/reload"})
		var r cliResult
		checkFor(t, apiTimeout, func() error {
			if r = check(t); r.code != 1 || !strings.Contains(r.stdout, "192.0.2.3") {
				return fmt.Errorf("ha check with an extra backend on one node: want exit 1 naming it\n%s", r)
			}
			return nil
		})
		want := "backend svc 192.0.2.3:80: present on " + b.base + "; missing on " + a.base
		if !strings.Contains(r.stdout, want) {
			t.Errorf("ha check: want %q\n%s", want, r)
		}
		var rep haReport
		decodeCLI(t, check(t, "-o", "json"), &rep)
		if rep.Agree || len(rep.Differences) == 0 || rep.Differences[0].Kind != "backend_missing" ||
			!slices.Equal(rep.Differences[0].MissingOn, []string{a.base}) {
			t.Errorf("ha check -o json: %+v", rep)
		}
		b.writeBody(body)
		b.mustAPI(t, http.StatusOK, apiReq{method: http.MethodPost, path: "/api/v1/reload"})
		agree(t)
	})

	t.Run("a stopped node", func(t *testing.T) {
		b.stop(syscall.SIGTERM)
		r := check(t)
		if r.code != 1 || !strings.Contains(r.stdout, "unreachable: "+b.base) || !strings.Contains(r.stdout, "connection refused") {
			t.Errorf("ha check with %s stopped: want exit 1 naming it unreachable\n%s", b.base, r)
		}
		var rep haReport
		decodeCLI(t, check(t, "-o", "json"), &rep)
		if rep.Agree || len(rep.Nodes) != 2 || !rep.Nodes[0].Reachable || rep.Nodes[1].Reachable || rep.Nodes[1].URL != b.base {
			t.Errorf("ha check -o json with %s stopped: %+v", b.base, rep)
		}
	})
}

// copyKeys replaces the DNSSEC keys under to's data_dir with from's.
func copyKeys(t *testing.T, from, to string) {
	t.Helper()
	dst := filepath.Join(to, signer.KeyDir)
	if err := os.RemoveAll(dst); err != nil {
		t.Fatal(err)
	}
	keys, err := signer.LoadKeys(filepath.Join(from, signer.KeyDir))
	if err != nil || len(keys) == 0 {
		t.Fatalf("keys of %s: %d, %v", from, len(keys), err)
	}
	for _, k := range keys {
		if err := signer.WriteKey(dst, k); err != nil {
			t.Fatal(err)
		}
	}
}
