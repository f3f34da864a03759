package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// cliTimeout bounds every command run to completion. The longest is an
// overwatch that cannot bind: its DNS actor is restarted with back-off
// until the supervisor gives up (about 3s).
const cliTimeout = 20 * time.Second

type cliResult struct {
	stdout, stderr string
	code           int
}

// runCLI runs the binary with args to completion and returns its output
// and exit status.
func runCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binaryPath, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	cmd.Env = childEnv()
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("opengslb %s did not finish within %s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), cliTimeout, &stdout, &stderr)
	}
	res := cliResult{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("opengslb %s: %v", strings.Join(args, " "), err)
	}
	return res
}

func (r cliResult) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// writeFile writes text to name in a fresh temporary directory.
func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCLIConfigCheck(t *testing.T) {
	p := ports{dns: "127.0.0.1:5353", metrics: "127.0.0.1:9091", api: "127.0.0.1:9090"}
	body := domain("www.gslb.test") + staticBackend("www", "192.0.2.1")
	good := writeFile(t, "good.toml", configText(p, t.TempDir(), body))

	r := runCLI(t, "config", "check", good)
	if r.code != 0 || !strings.HasPrefix(r.stdout, good+": ok") {
		t.Errorf("config check of a valid file: want exit 0 and %q first\n%s", good+": ok", r)
	}

	badText := configText(p, t.TempDir(), domain("www.gslb.test", "tll = 30")+
		staticBackend("www", "192.0.2.1", "weight = 5000"))
	bad := writeFile(t, "bad.toml", badText)
	r = runCLI(t, "config", "check", bad)
	if r.code != 1 {
		t.Errorf("config check of an invalid file: exit %d, want 1\n%s", r.code, r)
	}
	// Every problem, each with file:line and key, in one run.
	for _, want := range []string{
		fmt.Sprintf("%s:%d: domains[0].tll: unknown key", bad, lineOf(t, badText, "tll = 30")),
		fmt.Sprintf("%s:%d: backends[0].weight: must be between 0 and 1000", bad, lineOf(t, badText, "weight = 5000")),
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("config check of an invalid file does not say %q\n%s", want, r)
		}
	}
	if strings.Contains(r.stdout, ": ok") {
		t.Errorf("config check of an invalid file printed ok\n%s", r)
	}

	syntax := writeFile(t, "syntax.toml", "mode = \"overwatch\"\n[dns\nzones = []\n")
	r = runCLI(t, "config", "check", syntax)
	if r.code != 1 || !strings.Contains(r.stderr, syntax+":2:") {
		t.Errorf("config check of a TOML syntax error: want exit 1 and %s:2:\n%s", syntax, r)
	}

	missing := filepath.Join(t.TempDir(), "missing.toml")
	r = runCLI(t, "config", "check", missing)
	if r.code == 0 || !strings.Contains(r.stderr, missing) {
		t.Errorf("config check of a missing file: want non-zero exit naming it\n%s", r)
	}
}

func TestCLIKeygenGossip(t *testing.T) {
	var keys []string
	for range 2 {
		r := runCLI(t, "keygen", "gossip")
		if r.code != 0 {
			t.Fatalf("keygen gossip:\n%s", r)
		}
		key := strings.TrimSpace(r.stdout)
		raw, err := base64.StdEncoding.DecodeString(key)
		if err != nil || len(raw) != 32 {
			t.Fatalf("keygen gossip printed %q: %d bytes, %v; want base64 of 32 bytes", key, len(raw), err)
		}
		keys = append(keys, key)
	}
	if keys[0] == keys[1] {
		t.Errorf("two keys are the same: %s", keys[0])
	}
}

func TestCLIVersion(t *testing.T) {
	r := runCLI(t, "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "opengslb ") || len(strings.TrimSpace(r.stdout)) <= len("opengslb") {
		t.Errorf("version: want exit 0 and \"opengslb <version>\"\n%s", r)
	}
}

// TestCLIAgentRefusesAnInvalidFile: `opengslb agent` refuses an invalid
// agent file before it starts anything: exit 1, every problem named with
// file:line and key in one run.
func TestCLIAgentRefusesAnInvalidFile(t *testing.T) {
	cfg := writeFile(t, "agent.toml", "mode = \"agent\"\n[agent.gossip]\nencryption_key = \"not base64!\"\n")
	r := runCLI(t, "agent", "--config", cfg)
	if r.code != 1 || !strings.Contains(r.stderr, cfg+":3:") || !strings.Contains(r.stderr, "agent.gossip.encryption_key") {
		t.Errorf("opengslb agent with an invalid file: want exit 1 naming file:line and the key\n%s", r)
	}

	text := fmt.Sprintf(`mode = "agent"

[agent.identity]
node_id = "web-1"

[agent.service_tokens]
web = %q

[agent.gossip]
bind_address = "127.0.0.1:0"
encryption_key = %q
overwatch_nodes = ["127.0.0.1:7946"]

[agent.heartbeat]
interval = "0s"
intervall = "1s"

[[agent.backends]]
service = "web"
address = "127.0.0.1"
port = 70000
`, webToken, newGossipKey(t))
	cfg = writeFile(t, "agent.toml", text)
	r = runCLI(t, "agent", "--config", cfg)
	if r.code != 1 {
		t.Errorf("opengslb agent with an invalid file: exit %d, want 1\n%s", r.code, r)
	}
	for _, want := range []string{
		fmt.Sprintf("%s:%d: agent.heartbeat.interval: must be greater than 0", cfg, lineOf(t, text, `interval = "0s"`)),
		fmt.Sprintf("%s:%d: agent.heartbeat.intervall: unknown key", cfg, lineOf(t, text, "intervall =")),
		fmt.Sprintf("%s:%d: agent.backends[0].port: must be between 1 and 65535", cfg, lineOf(t, text, "port = 70000")),
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("opengslb agent with an invalid file does not say %q\n%s", want, r)
		}
	}
	if strings.Contains(r.stderr, "agent starting") {
		t.Errorf("opengslb agent started with an invalid file\n%s", r)
	}
}

func TestCLIOverwatchNeedsConfig(t *testing.T) {
	r := runCLI(t, "overwatch")
	if r.code == 0 || !strings.Contains(r.stderr, "--config") {
		t.Errorf("overwatch without --config: want a non-zero exit naming --config\n%s", r)
	}
	bad := writeFile(t, "bad.toml", configText(freePorts(t), t.TempDir(), domain("www.gslb.test", "tll = 30")))
	r = runCLI(t, "overwatch", "--config", bad)
	if r.code == 0 || !strings.Contains(r.stderr, bad+":") || !strings.Contains(r.stderr, "domains[0].tll") {
		t.Errorf("overwatch with an invalid file: want a non-zero exit naming file, line and key\n%s", r)
	}
}

// TestCLIOverwatchPortTaken holds the DNS port (UDP and TCP) that the
// configuration names: the overwatch must give up and exit non-zero, saying
// which address it could not bind, rather than run without DNS.
func TestCLIOverwatchPortTaken(t *testing.T) {
	p := freePorts(t)
	udp, err := net.ListenPacket("udp", p.dns)
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	tcp, err := net.Listen("tcp", p.dns)
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()

	cfg := writeFile(t, "taken.toml", configText(p, t.TempDir(), domain("www.gslb.test")+staticBackend("www", "192.0.2.1")))
	r := runCLI(t, "overwatch", "--config", cfg)
	if r.code == 0 {
		t.Fatalf("overwatch on a taken port exited 0\n%s", r)
	}
	if !strings.Contains(r.stderr, p.dns) || !strings.Contains(r.stderr, "address already in use") {
		t.Errorf("overwatch on a taken port: the error does not name %s and the cause\n%s", p.dns, r)
	}
}

// TestOverwatchStopsOnSIGINT: Ctrl-C is a clean stop, like SIGTERM.
func TestOverwatchStopsOnSIGINT(t *testing.T) {
	o := startOverwatch(t, domain("www.gslb.test")+staticBackend("www", "192.0.2.1"))
	o.waitHealthy(t, 1)
	checkFor(t, 5*time.Second, o.expectAddresses("www.gslb.test.", dns.TypeA, "192.0.2.1"))
	o.stop(syscall.SIGINT)
	if _, err := o.findLog("overwatch stopped"); err != nil {
		t.Errorf("after SIGINT: %v", err)
	}
	if _, err := o.exchange(q(zoneName, dns.TypeSOA).over(true).timeout(500 * time.Millisecond)); err == nil {
		t.Errorf("DNS still answers over TCP after the overwatch exited")
	}
}

// TestOverwatchStopsUnderLoad: SIGTERM while clients query over UDP and
// TCP still ends in a clean exit (status 0) within the bound.
func TestOverwatchStopsUnderLoad(t *testing.T) {
	o := startOverwatch(t, domain("www.gslb.test")+staticBackend("www", "192.0.2.1"))
	o.waitHealthy(t, 1)
	var answered atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{}, 4)
	for c := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 100000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				x := q("www.gslb.test.", dns.TypeA).over(c%2 == 1).timeout(200 * time.Millisecond)
				if _, err := o.exchange(x); err == nil {
					answered.Add(1)
				}
			}
		}()
	}
	checkFor(t, 5*time.Second, func() error {
		if n := answered.Load(); n < 50 {
			return fmt.Errorf("%d queries answered", n)
		}
		return nil
	})
	o.stop(syscall.SIGTERM)
	close(stop)
	for range 4 {
		<-done
	}
	total := answered.Load()
	if total == 0 {
		t.Error("no query was answered before the stop")
	}
}
