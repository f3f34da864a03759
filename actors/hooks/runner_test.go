package hooks

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opengslb/opengslb/config"
	"github.com/opengslb/opengslb/messages"
)

// dumpScript records its environment and stdin, and its arguments after
// the directory, so a test sees exactly what serf's handlers would.
const dumpScript = `dir=$1; shift
env > "$dir/env"
cat > "$dir/stdin"
echo "$@" > "$dir/args"
`

func TestMemberEventEnvironmentAndStdin(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("SERF_EVENT", "stale")            // the event's value must win
	t.Setenv("OPENGSLB_TEST_INHERITED", "yes") // the process environment is passed on
	h := newHarness(t, []config.Hook{
		hook(EventMemberJoin, script(t, dir, "dump", dumpScript)+" first second"),
		hook(EventMemberLeave, script(t, dir, "leave", "touch \"$1/leave\"\n")),
	}, Options{})
	h.run()

	h.send(messages.HookEvent{Event: EventMemberJoin, Members: []messages.HookMember{
		{Name: "agent-1", Addr: "10.0.0.5", Role: "agent", Tags: map[string]string{"region": "us-east", "role": "agent"}},
		{Name: "odd\tname", Addr: "10.0.0.6", Tags: map[string]string{"role": "agent"}},
		{Name: "bare", Addr: "fd00::1"},
	}})
	runs := h.waitRuns("dump", 1)
	if runs[0].result != resultSuccess {
		t.Fatalf("result = %s, want success", runs[0].result)
	}

	env := readEnv(t, filepath.Join(dir, "env"), "OPENGSLB_TEST_INHERITED")
	want := map[string]string{
		"SERF_EVENT":              "member-join",
		"SERF_SELF_NAME":          "node-1",
		"SERF_SELF_ROLE":          "overwatch",
		"SERF_TAG_ROLE":           "overwatch",
		"SERF_TAG_REGION":         "eu-west",
		"SERF_TAG_DC_NAME":        "a",
		"OPENGSLB_EVENT":          "member-join",
		"OPENGSLB_TEST_INHERITED": "yes",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	for _, k := range []string{"SERF_USER_EVENT", "SERF_USER_LTIME", "OPENGSLB_SERVICE"} {
		if _, ok := env[k]; ok {
			t.Errorf("%s set for a member event", k)
		}
	}

	wantStdin := "agent-1\t10.0.0.5\tagent\tregion=us-east,role=agent\n" +
		"odd\\tname\t10.0.0.6\tagent\trole=agent\n" +
		"bare\tfd00::1\t\t\n"
	if got := readFile(t, filepath.Join(dir, "stdin")); got != wantStdin {
		t.Errorf("stdin = %q, want %q", got, wantStdin)
	}
	if got := readFile(t, filepath.Join(dir, "args")); got != "first second\n" {
		t.Errorf("args = %q, want the command's own arguments", got)
	}

	h.stop()
	if exists(filepath.Join(dir, "leave")) || len(h.of("leave")) != 0 {
		t.Error("member-leave hook ran for member-join")
	}
}

func TestUserEventNameFilter(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, []config.Hook{
		hook("user:deploy", script(t, dir, "deploy", dumpScript)),
		hook(EventUser, script(t, dir, "anyuser", "cat >> \"$1/anyuser\"\n")),
		hook("user:", script(t, dir, "emptyname", "cat >/dev/null\n")),
	}, Options{})
	h.run()

	h.send(userEvent("restart", "r1"))
	h.send(userEvent("deploy", "v1.2"))
	h.send(messages.HookEvent{Event: EventMemberJoin})
	h.waitRuns("anyuser", 2)
	h.waitRuns("emptyname", 2) // "user:" is every user event, as in serf
	h.waitRuns("deploy", 1)
	h.stop()

	if runs := h.of("deploy"); len(runs) != 1 || runs[0].ev.UserEvent != "deploy" {
		t.Fatalf("user:deploy ran for %+v, want only the deploy event", runs)
	}
	if got := readFile(t, filepath.Join(dir, "stdin")); got != "v1.2\n" {
		t.Errorf("stdin = %q, want the payload with serf's trailing newline", got)
	}
	env := readEnv(t, filepath.Join(dir, "env"))
	for k, v := range map[string]string{
		"SERF_EVENT": "user", "SERF_USER_EVENT": "deploy", "SERF_USER_LTIME": "0", "OPENGSLB_EVENT": "user",
	} {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	if got := readFile(t, filepath.Join(dir, "anyuser")); got != "r1\nv1.2\n" {
		t.Errorf(`"user" hook read %q, want both payloads in order`, got)
	}
}

func TestBackendHealthEnvironment(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, []config.Hook{hook(config.HookBackendHealth, script(t, dir, "dump", dumpScript))}, Options{})
	h.run()

	before := counter(runsName(config.HookBackendHealth, resultSuccess))
	h.send(messages.HookEvent{Event: config.HookBackendHealth, Backend: &messages.BackendHealth{
		Key:    messages.BackendKey{Service: "web", Address: netip.MustParseAddr("10.0.0.1"), Port: 8080},
		State:  messages.HealthUnhealthy,
		Detail: "dial tcp 10.0.0.1:8080: connection refused",
	}})
	h.waitRuns("dump", 1)
	h.stop()

	env := readEnv(t, filepath.Join(dir, "env"))
	for k, v := range map[string]string{
		"SERF_EVENT":       "backend-health",
		"OPENGSLB_EVENT":   "backend-health",
		"OPENGSLB_SERVICE": "web",
		"OPENGSLB_ADDRESS": "10.0.0.1",
		"OPENGSLB_PORT":    "8080",
		"OPENGSLB_STATE":   "unhealthy",
		"OPENGSLB_DETAIL":  "dial tcp 10.0.0.1:8080: connection refused",
		"SERF_SELF_NAME":   "node-1",
	} {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	if got := readFile(t, filepath.Join(dir, "stdin")); got != "" {
		t.Errorf("stdin = %q, want empty", got)
	}
	if got := counter(runsName(config.HookBackendHealth, resultSuccess)) - before; got != 1 {
		t.Errorf("success runs counted %d, want 1", got)
	}
}

func TestWildcardMatchesEveryEvent(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, []config.Hook{
		hook(EventAll, script(t, dir, "all", "echo \"$SERF_EVENT\" >> \"$1/all\"\n")),
		hook(EventMemberFailed, script(t, dir, "failed", "true\n")),
	}, Options{})
	h.run()

	unexpected := unexpectedMessages.Get()
	h.send(messages.HookEvent{Event: ""})                       // no name: refused
	h.send(messages.HookEvent{Event: config.HookBackendHealth}) // no backend: refused
	events := []messages.HookEvent{
		{Event: EventMemberJoin}, {Event: EventMemberLeave}, {Event: EventMemberFailed},
		{Event: EventMemberUpdate}, {Event: EventMemberReap}, userEvent("x", ""),
		{Event: EventQuery, UserEvent: "q"},
		{Event: config.HookBackendHealth, Backend: &messages.BackendHealth{State: messages.HealthHealthy}},
	}
	for _, ev := range events {
		h.send(ev)
	}
	h.waitRuns("all", len(events))
	h.waitRuns("failed", 1)
	h.stop()

	want := []string{"member-join", "member-leave", "member-failed", "member-update", "member-reap", "user", "query", "backend-health"}
	if got := lines(filepath.Join(dir, "all")); !slices.Equal(got, want) {
		t.Errorf(`"*" ran for %q, want %q in order`, got, want)
	}
	if got := h.of("failed"); len(got) != 1 {
		t.Errorf("member-failed hook ran %d times, want 1", len(got))
	}
	if got := unexpectedMessages.Get() - unexpected; got != 2 {
		t.Errorf("unexpected messages counted %d, want 2", got)
	}
}

// foreignMsg is a HookMsg the runner does not know: it satisfies the
// sealed interface through the embedded HookEvent, but is another type.
type foreignMsg struct{ messages.HookEvent }

func TestUnexpectedMessageIsCounted(t *testing.T) {
	h := newHarness(t, nil, Options{})
	h.run()
	before := unexpectedMessages.Get()
	h.send(foreignMsg{})
	waitFor(t, "unexpected message counted", func() bool { return unexpectedMessages.Get() > before })
}

func TestTimeoutKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, []config.Hook{{
		Event:   EventMemberJoin,
		Command: script(t, dir, "slow", "sleep 30 &\necho $! > \"$1/child\"\nwait\n"),
		Timeout: config.Duration{Duration: 200 * time.Millisecond},
	}}, Options{})
	h.run()

	before := counter(runsName(EventMemberJoin, resultTimeout))
	start := time.Now()
	h.send(messages.HookEvent{Event: EventMemberJoin})
	runs := h.waitRuns("slow", 1)
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("timed-out hook took %s to be reported", took)
	}
	if runs[0].result != resultTimeout {
		t.Errorf("result = %s, want timeout", runs[0].result)
	}
	if got := counter(runsName(EventMemberJoin, resultTimeout)) - before; got != 1 {
		t.Errorf("timeouts counted %d, want 1", got)
	}
	child := readPID(t, filepath.Join(dir, "child"))
	waitFor(t, "the script's child to be killed", func() bool { return gone(child) })
}

func TestOneRunAtATimePerHook(t *testing.T) {
	dir := t.TempDir()
	// mkdir is atomic: a second run starting while one holds the lock
	// fails to create it and records the overlap.
	const body = `dir=$1
mkdir "$dir/lock" 2>/dev/null || echo overlap >> "$dir/overlap"
cat >> "$dir/order"
sleep 0.02
rmdir "$dir/lock" 2>/dev/null
`
	h := newHarness(t, []config.Hook{hook(EventUser, script(t, dir, "serial", body))}, Options{})
	h.run()
	var want []string
	for i := range 6 {
		p := string(rune('a' + i))
		want = append(want, p)
		h.send(userEvent("e", p))
	}
	h.waitRuns("serial", len(want))
	h.stop()
	if exists(filepath.Join(dir, "overlap")) {
		t.Error("two runs of one hook overlapped")
	}
	if got := lines(filepath.Join(dir, "order")); !slices.Equal(got, want) {
		t.Errorf("runs in order %q, want %q", got, want)
	}
}

// gatedScript logs its payload, then waits for the gate file when the
// payload is "1".
const gatedScript = `dir=$1
read p
echo "$p" >> "$dir/$2"
if [ "$p" = 1 ]; then
	while [ ! -e "$dir/gate" ]; do sleep 0.01; done
fi
`

func TestHooksAreIndependent(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, []config.Hook{
		hook(EventUser, script(t, dir, "gated", gatedScript)+" gated"),
		hook(EventUser, script(t, dir, "quick", "true\n")),
	}, Options{})
	h.run()

	h.send(userEvent("e", "1"))
	waitFor(t, "gated hook to start", func() bool { return len(lines(filepath.Join(dir, "gated"))) == 1 })
	h.send(userEvent("e", "2"))
	h.waitRuns("quick", 2) // while the other hook is still busy
	if n := len(h.of("gated")); n != 0 {
		t.Fatalf("gated hook finished %d runs before its gate opened", n)
	}
	touch(t, filepath.Join(dir, "gate"))
	h.waitRuns("gated", 2)
}

func TestFullQueueDropsOldest(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, []config.Hook{hook(EventUser, script(t, dir, "gated", gatedScript)+" log")}, Options{QueueSize: 2})
	h.run()

	before := counter(droppedName(EventUser))
	h.send(userEvent("e", "1"))
	waitFor(t, "first run to start", func() bool { return len(lines(filepath.Join(dir, "log"))) == 1 })
	// The hook is busy: 2 and 3 fill its queue, 4 evicts 2. The inbox
	// loop takes all of them at once, busy hook or not.
	for _, p := range []string{"2", "3", "4"} {
		h.send(userEvent("e", p))
	}
	waitFor(t, "one drop counted", func() bool { return counter(droppedName(EventUser))-before == 1 })
	if h.inbox.Len() != 0 {
		t.Errorf("inbox holds %d messages behind a busy hook", h.inbox.Len())
	}
	touch(t, filepath.Join(dir, "gate"))
	h.waitRuns("gated", 3)
	h.stop()

	if got, want := lines(filepath.Join(dir, "log")), []string{"1", "3", "4"}; !slices.Equal(got, want) {
		t.Errorf("ran %q, want %q: the oldest queued event dropped", got, want)
	}
	if got := counter(droppedName(EventUser)) - before; got != 1 {
		t.Errorf("drops counted %d, want 1", got)
	}
}

func TestConfigAppliedReplacesHooks(t *testing.T) {
	dir := t.TempDir()
	a := hook(EventMemberJoin, script(t, dir, "a", "true\n"))
	b := hook(EventMemberJoin, script(t, dir, "b", "true\n"))
	h := newHarness(t, []config.Hook{a}, Options{})
	h.run()

	h.send(messages.HookEvent{Event: EventMemberJoin})
	h.waitRuns("a", 1)

	h.send(messages.ConfigApplied{Config: &config.Config{Hooks: []config.Hook{b}}, Generation: 2})
	h.send(messages.HookEvent{Event: EventMemberJoin})
	h.waitRuns("b", 1)

	// An older generation arriving late is ignored, as is a config-less one.
	h.send(messages.ConfigApplied{Config: &config.Config{Hooks: []config.Hook{a}}, Generation: 1})
	h.send(messages.ConfigApplied{Generation: 3})
	h.send(messages.HookEvent{Event: EventMemberJoin})
	h.waitRuns("b", 2)

	// A restarted Run rebuilds its workers from the last applied hooks.
	h.stop()
	h.run()
	h.send(messages.HookEvent{Event: EventMemberJoin})
	h.waitRuns("b", 3)
	h.stop()

	if n := len(h.of("a")); n != 1 {
		t.Errorf("removed hook ran %d times, want only the run before the reload", n)
	}
}

func TestConfigAppliedKeepsUnchangedHooksAndStopsRemoved(t *testing.T) {
	dir := t.TempDir()
	keep := hook(EventUser, script(t, dir, "keep", gatedScript)+" keep")
	removed := hook(EventUser, script(t, dir, "removed", gatedScript)+" removed")
	added := hook(EventUser, script(t, dir, "added", "cat >> \"$1/added\"\n"))
	h := newHarness(t, []config.Hook{keep, removed}, Options{})
	h.run()

	for _, p := range []string{"1", "2", "3"} {
		h.send(userEvent("e", p))
	}
	waitFor(t, "both hooks busy with event 1", func() bool {
		return len(lines(filepath.Join(dir, "keep"))) == 1 && len(lines(filepath.Join(dir, "removed"))) == 1
	})

	before := counter(droppedName(EventUser))
	// The same hook with its default timeout spelled out is unchanged.
	keep30 := keep
	keep30.Timeout = config.Duration{Duration: DefaultTimeout}
	h.send(messages.ConfigApplied{Config: &config.Config{Hooks: []config.Hook{keep30, added}}, Generation: 1})
	waitFor(t, "removed hook's queue dropped", func() bool { return counter(droppedName(EventUser))-before == 2 })
	h.send(userEvent("e", "4"))
	h.waitRuns("added", 1)

	touch(t, filepath.Join(dir, "gate"))
	h.waitRuns("keep", 4)
	h.waitRuns("removed", 1)
	h.stop()

	if got, want := lines(filepath.Join(dir, "keep")), []string{"1", "2", "3", "4"}; !slices.Equal(got, want) {
		t.Errorf("unchanged hook ran %q, want %q: its queue survives the reload", got, want)
	}
	if got, want := lines(filepath.Join(dir, "removed")), []string{"1"}; !slices.Equal(got, want) {
		t.Errorf("removed hook ran %q, want only its current run %q", got, want)
	}
	if runs := h.of("removed"); runs[0].result != resultSuccess {
		t.Errorf("removed hook's current run: %s, want it to finish, not be killed", runs[0].result)
	}
	if got, want := lines(filepath.Join(dir, "added")), []string{"4"}; !slices.Equal(got, want) {
		t.Errorf("new hook ran %q, want %q", got, want)
	}
}

func TestRunReturnsPromptlyOnCancel(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, []config.Hook{
		hook(EventUser, script(t, dir, "slow", "sleep 30 &\necho $! > \"$1/child\"\nwait\n")),
	}, Options{})
	h.run()
	h.send(userEvent("e", "1"))
	h.send(userEvent("e", "2")) // queued behind the running one
	child := readPID(t, filepath.Join(dir, "child"))

	before := counter(droppedName(EventUser))
	if took := h.stop(); took > 2*time.Second {
		t.Errorf("Run took %s to return with a hook running", took)
	}
	if !gone(child) {
		// Run returned after its shell was reaped; the child died in the
		// same kill but may take a moment to be reaped by init.
		waitFor(t, "the script's child to be killed", func() bool { return gone(child) })
	}
	if runs := h.of("slow"); len(runs) != 1 || runs[0].result != resultFailure {
		t.Errorf("runs = %+v, want the running one killed as a failure", runs)
	}
	if got := counter(droppedName(EventUser)) - before; got != 1 {
		t.Errorf("drops counted %d, want the queued event", got)
	}
}

func TestFailureIsCountedWithExitCode(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, []config.Hook{hook(EventMemberReap, script(t, dir, "fail", "echo boom >&2\nexit 3\n"))}, Options{})
	h.run()
	before := counter(runsName(EventMemberReap, resultFailure))
	h.send(messages.HookEvent{Event: EventMemberReap})
	if runs := h.waitRuns("fail", 1); runs[0].result != resultFailure {
		t.Errorf("result = %s, want failure", runs[0].result)
	}
	if got := counter(runsName(EventMemberReap, resultFailure)) - before; got != 1 {
		t.Errorf("failures counted %d, want 1", got)
	}
}

func TestShellOption(t *testing.T) {
	dir := t.TempDir()
	// The command is handed to the shell as one -c argument, so shell
	// syntax works.
	if !exists("/bin/bash") {
		t.Skip("no /bin/bash")
	}
	// Sourced, the script sees the shell's own $0.
	path := filepath.Join(dir, "shell.sh")
	if err := os.WriteFile(path, []byte("echo \"$0\" > \"$1/shell\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, []config.Hook{
		hook(EventMemberUpdate, ". '"+path+"' '"+dir+"' && test -n \"$SERF_EVENT\""),
	}, Options{Shell: "/bin/bash"})
	h.run()
	h.send(messages.HookEvent{Event: EventMemberUpdate})
	if runs := h.waitRuns("shell", 1); runs[0].result != resultSuccess {
		t.Fatalf("result = %s", runs[0].result)
	}
	if got := strings.TrimSpace(readFile(t, filepath.Join(dir, "shell"))); got != "/bin/bash" {
		t.Errorf("ran by %q, want /bin/bash", got)
	}
}

func TestIdenticalHooksEachRun(t *testing.T) {
	dir := t.TempDir()
	same := hook(EventMemberJoin, script(t, dir, "same", "echo x >> \"$1/log\"\n"))
	h := newHarness(t, []config.Hook{same, same, same}, Options{})
	h.run()
	h.send(messages.HookEvent{Event: EventMemberJoin})
	h.waitRuns("same", 3)
	// Reloading the same list keeps all three; dropping one stops one.
	h.send(messages.ConfigApplied{Config: &config.Config{Hooks: []config.Hook{same, same}}, Generation: 1})
	h.send(messages.HookEvent{Event: EventMemberJoin})
	h.waitRuns("same", 5)
	h.stop()
	if n := len(lines(filepath.Join(dir, "log"))); n != 5 {
		t.Errorf("ran %d times, want 3 then 2", n)
	}
}
