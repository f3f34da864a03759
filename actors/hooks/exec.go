package hooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/opengslb/opengslb/config"
	"github.com/opengslb/opengslb/messages"
)

const (
	// maxOutput is how much of a command's combined output is kept for the
	// log: the last bytes, where errors usually are (serf keeps 8 KiB).
	maxOutput = 4 << 10
	// waitDelay bounds the wait for a command's output after it exited or
	// was killed: a background process that escaped the process group (or
	// one a successful hook left running) may hold the pipe open forever.
	waitDelay = time.Second
)

// Run results, the result label of opengslb_hook_runs_total.
const (
	resultSuccess = "success"
	resultFailure = "failure"
	resultTimeout = "timeout"
)

// run executes the hook for ev and waits for it, for at most the hook's
// timeout. On timeout, or when ctx ends, the command's whole process group
// is killed, so a script's children die with it.
func (w *worker) run(ctx context.Context, ev messages.HookEvent) {
	runCtx, cancel := context.WithTimeout(ctx, w.key.timeout)
	defer cancel()

	cmd := exec.CommandContext(runCtx, w.shell, "-c", w.hook.Command)
	cmd.Env = append(append(os.Environ(), w.selfEnv...), eventEnv(ev)...)
	if in := stdinOf(ev); in != nil {
		cmd.Stdin = bytes.NewReader(in)
	}
	out := &tailBuffer{max: maxOutput}
	cmd.Stdout, cmd.Stderr = out, out // one writer: exec copies both with one goroutine
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// The command leads its own process group (Setpgid), whose id is
		// its pid; the negative pid signals the whole group.
		if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return err
		}
		return nil
	}
	cmd.WaitDelay = waitDelay

	start := time.Now()
	err := cmd.Run()
	elapsed := time.Since(start)
	runDuration.Update(elapsed.Seconds())

	exitCode := -1
	if cmd.ProcessState != nil {
		exitCode = cmd.ProcessState.ExitCode()
	}
	result := resultSuccess
	var reason string
	switch {
	case err == nil:
	case errors.Is(err, exec.ErrWaitDelay) && exitCode == 0 && runCtx.Err() == nil:
		// The command succeeded; something it started kept the output
		// open. Its output may be cut short, but the hook did its job.
		reason = "a background process kept the output open"
	case ctx.Err() != nil:
		result, reason = resultFailure, "killed: shutting down"
	case errors.Is(runCtx.Err(), context.DeadlineExceeded):
		result, reason = resultTimeout, fmt.Sprintf("killed after timeout %s", w.key.timeout)
	default:
		result = resultFailure
	}
	countRun(ev.Event, result)

	var e = w.log.Debug()
	if result != resultSuccess || reason != "" {
		e = w.log.Warn()
	}
	e.Str("event", ev.Event).Str("user_event", ev.UserEvent).Str("result", result).
		Int("exit_code", exitCode).Dur("duration", elapsed).
		Str("output", out.String()).Bool("output_truncated", out.truncated())
	if err != nil {
		e = e.Err(err)
	}
	if reason != "" {
		e = e.Str("reason", reason)
	}
	e.Msg("hook ran")

	if w.onRun != nil {
		w.onRun(w.hook, ev, result)
	}
}

// selfEnv is the environment that describes this node, as serf's
// invokeEventScript sets it: SERF_SELF_NAME, SERF_SELF_ROLE (the "role"
// tag) and SERF_TAG_<NAME> per tag, the name upper-cased with every
// character outside [A-Z0-9_] replaced by "_". Tags are sorted so the
// environment is the same on every run.
func selfEnv(name, role string, tags map[string]string) []string {
	if role != "" {
		if tags == nil {
			tags = map[string]string{}
		}
		tags["role"] = role
	}
	env := []string{
		"SERF_SELF_NAME=" + name,
		"SERF_SELF_ROLE=" + tags["role"],
	}
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		env = append(env, "SERF_TAG_"+sanitizeTag(k)+"="+tags[k])
	}
	return env
}

func sanitizeTag(name string) string {
	return strings.Map(func(r rune) rune {
		if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') || r == '_' {
			return r
		}
		return '_'
	}, strings.ToUpper(name))
}

// eventEnv is the environment that describes ev. SERF_EVENT and the
// SERF_USER_* and SERF_QUERY_* variables are serf's; every run also gets
// OPENGSLB_EVENT, and backend-health its OPENGSLB_* details. Lamport times
// are not carried by messages.HookEvent and are reported as 0.
func eventEnv(ev messages.HookEvent) []string {
	env := []string{"SERF_EVENT=" + ev.Event}
	switch ev.Event {
	case EventUser:
		env = append(env, "SERF_USER_EVENT="+ev.UserEvent, "SERF_USER_LTIME=0")
	case EventQuery:
		env = append(env, "SERF_QUERY_NAME="+ev.UserEvent, "SERF_QUERY_LTIME=0")
	case config.HookBackendHealth:
		if b := ev.Backend; b != nil {
			env = append(env,
				"OPENGSLB_SERVICE="+b.Key.Service,
				"OPENGSLB_ADDRESS="+b.Key.Address.String(),
				"OPENGSLB_PORT="+strconv.Itoa(int(b.Key.Port)),
				"OPENGSLB_STATE="+b.State.String(),
				"OPENGSLB_DETAIL="+b.Detail,
			)
		}
	}
	return append(env, "OPENGSLB_EVENT="+ev.Event)
}

// stdinOf is what the command reads on stdin, as serf feeds it: the
// payload of a user event or query, newline-terminated because most
// shells' read needs one; for member events one line per member. nil means
// no input (stdin is /dev/null).
func stdinOf(ev messages.HookEvent) []byte {
	switch ev.Event {
	case EventUser, EventQuery:
		p := ev.Payload
		if len(p) > 0 && p[len(p)-1] != '\n' {
			p = append(slices.Clip(p), '\n') // never write into the sender's array
		}
		return p
	case config.HookBackendHealth:
		return nil
	}
	if len(ev.Members) == 0 {
		return nil
	}
	var b bytes.Buffer
	for _, m := range ev.Members {
		writeMember(&b, m)
	}
	return b.Bytes()
}

// writeMember writes one member line in serf's memberEventStdin format:
// "NAME\tADDRESS\tROLE\tTAGS\n", TAGS being k=v pairs joined by commas,
// with tabs and newlines in the name, role and tags written as \t and \n.
// Serf's tag order is its map's; sorting is one such order, and stable.
// Role is the "role" tag, as in serf. The address is cleaned too: serf's
// is a net.IP that cannot hold a tab, ours is a string.
func writeMember(b *bytes.Buffer, m messages.HookMember) {
	tags := m.Tags
	if m.Role != "" && tags["role"] != m.Role {
		tags = maps.Clone(tags)
		if tags == nil {
			tags = map[string]string{}
		}
		tags["role"] = m.Role
	}
	pairs := make([]string, 0, len(tags))
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		pairs = append(pairs, k+"="+tags[k])
	}
	fmt.Fprintf(b, "%s\t%s\t%s\t%s\n",
		eventClean(m.Name), eventClean(m.Addr), eventClean(tags["role"]), eventClean(strings.Join(pairs, ",")))
}

var cleaner = strings.NewReplacer("\t", `\t`, "\n", `\n`)

// eventClean is serf's: a value in a member line cannot break the line.
func eventClean(v string) string { return cleaner.Replace(v) }

// tailBuffer keeps the last max bytes written to it. exec calls Write from
// one goroutine and the buffer is read after Wait, so it needs no lock.
type tailBuffer struct {
	buf   []byte
	max   int
	total int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.total += len(p)
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		n := copy(t.buf, t.buf[over:])
		t.buf = t.buf[:n]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string  { return string(t.buf) }
func (t *tailBuffer) truncated() bool { return t.total > len(t.buf) }
