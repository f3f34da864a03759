package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// The metrics contract: what the shipped alert rules, the HA guide and the
// README name must be on a live overwatch's /metrics, with gossip on and
// an agent reporting, before anything has gone wrong. A rule over a series
// that is not exported yet never fires, and nobody notices.

// alertRules is the shipped Prometheus rule file, from the package
// directory.
var alertRules = filepath.Join("..", "scripts", "prometheus", "opengslb-alerts.yml")

// contractMetrics are the names the README and the HA guide promise,
// besides those in the alert rules.
var contractMetrics = []string{
	"opengslb_dns_queries_total",
	"opengslb_overwatch_agents_registered",
	"opengslb_dnssec_sync_success",
	"opengslb_dnssec_last_sync_timestamp",
	"opengslb_build_info",
	"opengslb_config_reloads_total",
	"opengslb_overrides_active",
	"go_goroutines",
	"process_resident_memory_bytes",
}

// ruleMetrics returns the opengslb_* names the rule file uses, sorted.
func ruleMetrics(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(alertRules)
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`opengslb_[a-z0-9_]+`).FindAllString(string(data), -1)
	slices.Sort(names)
	return slices.Compact(names)
}

// exposes reports whether a Prometheus text exposition has a sample of
// name: a line starting with it and then "{" or a space, or with its
// histogram's _bucket series.
func exposes(text, name string) bool {
	for _, line := range strings.Split(text, "\n") {
		for _, n := range []string{name, name + "_bucket"} {
			if rest, ok := strings.CutPrefix(line, n); ok && (strings.HasPrefix(rest, "{") || strings.HasPrefix(rest, " ")) {
				return true
			}
		}
	}
	return false
}

func TestMetricsContract(t *testing.T) {
	target := startTarget(t, "127.0.0.24")
	c := startCluster(t, 1)
	c.startAgent(agentSpec{name: "agent-1", backends: web(target)})
	c.everyOverwatch(t, gossipTimeout, "the agent registered", metricIs(`opengslb_overwatch_agents_registered`, 1))
	ow := c.ows[0]
	text, err := ow.metricsText()
	if err != nil {
		t.Fatal(err)
	}

	fromRules := ruleMetrics(t)
	if len(fromRules) < 5 {
		t.Fatalf("only %d opengslb_ names in %s: %v", len(fromRules), alertRules, fromRules)
	}
	t.Logf("names in the alert rules: %v", fromRules)
	for _, name := range fromRules {
		if !exposes(text, name) {
			t.Errorf("%s, used by %s, is not on /metrics of a running overwatch with gossip and an agent: "+
				"the rule over it has no series to evaluate until the series first appears", name, alertRules)
		}
	}
	for _, name := range contractMetrics {
		if !exposes(text, name) {
			t.Errorf("%s is not on /metrics", name)
		}
	}
	// An overwatch with no key sync peers has nothing to sync, so its
	// rounds succeed: the guide's "no sync in 2 hours" alert stays quiet.
	checkFor(t, apiTimeout, func() error {
		text, err := ow.metricsText()
		if err != nil {
			return err
		}
		ok, _ := metricValue(text, "opengslb_dnssec_sync_success")
		last, _ := metricValue(text, "opengslb_dnssec_last_sync_timestamp")
		if ok != 1 || time.Since(time.Unix(int64(last), 0)) > time.Minute {
			return fmt.Errorf("sync_success %v, last_sync_timestamp %v: want 1 and about now with no peers", ok, last)
		}
		return nil
	})
	if !hasLinePrefix(text, `opengslb_build_info{version="`) {
		t.Errorf("opengslb_build_info carries no version label")
	}

	// The README's table names more, some only on agents or after an
	// event (a hook run, a dropped message): listed for whoever reads the
	// log, not asserted.
	if readme, err := os.ReadFile(filepath.Join("..", "README.md")); err == nil {
		_, section, _ := strings.Cut(string(readme), "\n## Metrics")
		section, _, _ = strings.Cut(section, "\n## ")
		names := regexp.MustCompile(`opengslb_[a-z0-9_]+`).FindAllString(section, -1)
		slices.Sort(names)
		var absent []string
		for _, name := range slices.Compact(names) {
			if !exposes(text, name) {
				absent = append(absent, name)
			}
		}
		t.Logf("README metrics not on this overwatch's /metrics yet: %v", absent)
	}

	t.Run("promtool check metrics", func(t *testing.T) {
		promtool := lookPromtool(t)
		// Lint advice is logged (the exposition has no HELP lines, which
		// promtool reports one by one); a scrape it cannot parse fails.
		out, code := runPromtool(t, promtool, []byte(text), "check", "metrics")
		var noHelp int
		var other []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			switch {
			case line == "":
			case strings.HasSuffix(line, " no help text"):
				noHelp++
			default:
				other = append(other, line)
			}
		}
		t.Logf("promtool check metrics: exit %d, %d series without help text, other findings: %q", code, noHelp, other)
		if strings.Contains(out, "error while linting") {
			t.Errorf("promtool cannot parse the scrape:\n%s", out)
		}
	})
	t.Run("promtool check rules", func(t *testing.T) {
		promtool := lookPromtool(t)
		out, code := runPromtool(t, promtool, nil, "check", "rules", alertRules)
		if code != 0 {
			t.Errorf("promtool check rules %s: exit %d\n%s", alertRules, code, out)
		}
	})
}

func lookPromtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not on PATH")
	}
	return path
}

// runPromtool runs promtool with args and stdin, bounded, and returns its
// combined output and exit status.
func runPromtool(t *testing.T, promtool string, stdin []byte, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case ctx.Err() != nil:
		t.Fatalf("promtool %s did not finish within 30s", strings.Join(args, " "))
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	default:
		t.Fatalf("promtool %s: %v", strings.Join(args, " "), err)
	}
	return "", 0
}
