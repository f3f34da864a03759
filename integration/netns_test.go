package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// A gossip partition needs traffic that can be dropped between processes
// while the test still reaches each of them. Loopback cannot do it (every
// address on lo is local, and memberlist dials without binding its source),
// so the test builds two network namespaces of its own joined by a veth
// pair, with two subnets on it: gossip on one, DNS and the API on the
// other. Blackhole routes for the peer's gossip address, one in each
// namespace, cut gossip both ways and leave the service subnet alone.
// Nothing is changed outside the two namespaces.
//
// The test process itself must sit in one of them to reach the nodes, so
// it runs again inside namespace A (ip netns exec), with the parent's
// binary; the parent only sets up, waits and cleans up.

const (
	netnsChildEnv = "OPENGSLB_NETNS_CHILD" // set in the re-run: "A B" names
	netnsGossipA  = "10.213.1.1"           // gossip of the nodes in A
	netnsGossipB  = "10.213.1.2"           // gossip of the node in B
	netnsServiceA = "10.213.2.1"           // the test's source towards B
	netnsServiceB = "10.213.2.2"           // DNS, API, metrics of the node in B
	netnsChildMax = 150 * time.Second
)

// netns is the pair of namespaces a child test runs in.
type netns struct{ a, b string }

// inNetns returns the namespaces when this process is the re-run child.
func inNetns() (netns, bool) {
	a, b, ok := strings.Cut(os.Getenv(netnsChildEnv), " ")
	return netns{a, b}, ok
}

// ipCommand finds iproute2's ip, which Debian keeps in /usr/sbin (not
// always on a test's PATH).
func ipCommand() (string, error) {
	if p, err := exec.LookPath("ip"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("iproute2's ip command not found (Debian package iproute2)")
}

func ipRun(args ...string) error {
	ip, err := ipCommand()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, ip, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// runInNetns re-runs the calling test inside fresh namespaces and reports
// its outcome; it returns true in the child, which then runs the test
// body. Where namespaces cannot be made (not root, no iproute2, a
// container without CAP_SYS_ADMIN) the test is skipped, saying why.
func runInNetns(t *testing.T) (netns, bool) {
	t.Helper()
	if ns, ok := inNetns(); ok {
		return ns, true
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces (run the suite as root, as CI does)")
	}
	if _, err := ipCommand(); err != nil {
		t.Skip(err.Error())
	}
	ns := netns{a: fmt.Sprintf("ogslb-a-%d", os.Getpid()), b: fmt.Sprintf("ogslb-b-%d", os.Getpid())}
	if err := ipRun("netns", "add", ns.a); err != nil {
		t.Skipf("cannot create a network namespace here: %v", err)
	}
	t.Cleanup(func() { _ = ipRun("netns", "del", ns.a) })
	setup := [][]string{
		{"netns", "add", ns.b},
		{"-n", ns.a, "link", "set", "lo", "up"},
		{"-n", ns.b, "link", "set", "lo", "up"},
		{"-n", ns.a, "link", "add", "og0", "type", "veth", "peer", "name", "og1", "netns", ns.b},
		{"-n", ns.a, "addr", "add", netnsGossipA + "/24", "dev", "og0"},
		{"-n", ns.a, "addr", "add", netnsServiceA + "/24", "dev", "og0"},
		{"-n", ns.b, "addr", "add", netnsGossipB + "/24", "dev", "og1"},
		{"-n", ns.b, "addr", "add", netnsServiceB + "/24", "dev", "og1"},
		{"-n", ns.a, "link", "set", "og0", "up"},
		{"-n", ns.b, "link", "set", "og1", "up"},
	}
	t.Cleanup(func() { _ = ipRun("netns", "del", ns.b) })
	// The machine decides what a root process may do with namespaces (a
	// container may refuse veth pairs or the mounts `ip netns exec`
	// makes): a refusal skips, saying which step, rather than fails.
	setup = append(setup, []string{"netns", "exec", ns.a, "true"})
	for _, args := range setup {
		if err := ipRun(args...); err != nil {
			t.Skipf("cannot build the test's network namespaces here: %v", err)
		}
	}

	ip, _ := ipCommand()
	ctx, cancel := context.WithTimeout(context.Background(), netnsChildMax)
	defer cancel()
	args := []string{"netns", "exec", ns.a, os.Args[0], "-test.run", "^" + t.Name() + "$", "-test.count=1", "-test.v"}
	cmd := exec.CommandContext(ctx, ip, args...)
	cmd.Env = append(childEnv(), netnsChildEnv+"="+ns.a+" "+ns.b, prebuiltBinaryEnv+"="+binaryPath)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	text := string(out)
	switch {
	case err != nil:
		t.Fatalf("the test inside namespace %s failed (%v):\n%s", ns.a, err, text)
	case strings.Contains(text, "--- SKIP"):
		t.Skipf("skipped inside the namespace:\n%s", lastLines(text, 10))
	case !strings.Contains(text, "--- PASS: "+t.Name()):
		t.Fatalf("the test inside namespace %s did not report a pass:\n%s", ns.a, text)
	}
	t.Logf("inside namespace %s:\n%s", ns.a, lastLines(text, 40))
	return ns, false
}

// cutGossip drops all gossip between the node in B and the rest, both
// ways; heal restores it.
func (ns netns) cutGossip() error {
	if err := ipRun("-n", ns.a, "route", "add", "blackhole", netnsGossipB+"/32"); err != nil {
		return err
	}
	return ipRun("-n", ns.b, "route", "add", "blackhole", netnsGossipA+"/32")
}

func (ns netns) healGossip() error {
	err1 := ipRun("-n", ns.a, "route", "del", "blackhole", netnsGossipB+"/32")
	err2 := ipRun("-n", ns.b, "route", "del", "blackhole", netnsGossipA+"/32")
	if err1 != nil {
		return err1
	}
	return err2
}
