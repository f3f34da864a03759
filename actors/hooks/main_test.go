package hooks

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/opengslb/opengslb/config"
	"github.com/opengslb/opengslb/messages"
	"github.com/opengslb/opengslb/runtime"
	"github.com/opengslb/opengslb/runtime/runtimetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// within bounds every wait in these tests: long enough for a loaded 2-core
// machine under -race, short enough that a hang fails instead of stalling.
const within = 5 * time.Second

// waitFor polls cond until it holds or the bound passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	runtimetest.WaitFor(t, within, what, cond)
}

// record is one finished run, as the worker reported it.
type record struct {
	hook   config.Hook
	ev     messages.HookEvent
	result string
}

// harness runs one Runner against a real Reject mailbox, as it is wired,
// and records every finished run.
type harness struct {
	t      *testing.T
	inbox  *runtime.Mailbox[messages.HookMsg]
	runner *Runner
	cancel context.CancelFunc
	done   chan error

	mu   sync.Mutex
	runs []record
}

var testSelf = Self{Name: "node-1", Role: "overwatch", Tags: map[string]string{"region": "eu-west", "dc-name": "a"}}

func newHarness(t *testing.T, hooks []config.Hook, opts Options) *harness {
	t.Helper()
	h := &harness{t: t, inbox: runtime.NewMailbox[messages.HookMsg]("hooks", 64, runtime.Reject, nil)}
	h.runner = New(zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel), h.inbox, testSelf, hooks, opts)
	h.runner.onRun = func(hk config.Hook, ev messages.HookEvent, result string) {
		h.mu.Lock()
		h.runs = append(h.runs, record{hook: hk, ev: ev, result: result})
		h.mu.Unlock()
	}
	t.Cleanup(func() { h.stop() })
	return h
}

// run starts (or restarts) Run in its own goroutine.
func (h *harness) run() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 1)
	go func() { h.done <- h.runner.Run(ctx) }()
}

// stop cancels Run and waits, bounded, for it to return; it returns how
// long that took.
func (h *harness) stop() time.Duration {
	h.t.Helper()
	if h.cancel == nil {
		return 0
	}
	start := time.Now()
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run returned %v", err)
		}
	case <-time.After(within):
		h.t.Fatalf("Run did not return within %s of cancel", within)
	}
	return time.Since(start)
}

func (h *harness) send(msg messages.HookMsg) {
	h.t.Helper()
	if err := h.inbox.Address().Send(context.Background(), msg); err != nil {
		h.t.Fatal(err)
	}
}

// of returns the finished runs of the hook that runs the script name (as
// written by script).
func (h *harness) of(name string) []record {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []record
	for _, r := range h.runs {
		if strings.Contains(r.hook.Command, "/"+name+".sh'") {
			out = append(out, r)
		}
	}
	return out
}

// waitRuns waits until the hook running the script name finished n runs.
func (h *harness) waitRuns(name string, n int) []record {
	h.t.Helper()
	waitFor(h.t, fmt.Sprintf("%d runs of %s", n, name), func() bool { return len(h.of(name)) >= n })
	return h.of(name)
}

// script writes body to name.sh in dir and returns a hook command that
// runs it with dir as $1. The script is run by sh rather than executed, so
// a fork elsewhere in the test binary that inherited the file's write
// descriptor cannot make exec fail with ETXTBSY.
func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	path := filepath.Join(dir, name+".sh")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("/bin/sh '%s' '%s'", path, dir)
}

// readEnv parses an `env` dump into the SERF_ and OPENGSLB_ variables (and
// any other name in also); other values may span lines and are skipped.
func readEnv(t *testing.T, path string, also ...string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		if strings.HasPrefix(k, "SERF_") || strings.HasPrefix(k, "OPENGSLB_") || slices.Contains(also, k) {
			env[k] = v
		}
	}
	return env
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func lines(path string) []string {
	data, err := os.ReadFile(path)
	if err != nil || len(data) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

// readPID waits for a script to write a pid to path.
func readPID(t *testing.T, path string) int {
	t.Helper()
	var pid int
	waitFor(t, "pid in "+filepath.Base(path), func() bool {
		data, err := os.ReadFile(path)
		if err != nil || !bytes.HasSuffix(data, []byte("\n")) {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(data)))
		return err == nil
	})
	return pid
}

// gone reports whether pid has exited. A zombie counts as exited: once its
// parent shell is killed it is re-parented to an init that, in a
// container, may never reap it.
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// "pid (comm) S ...": the state follows the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

func counter(name string) uint64 { return metrics.GetOrCreateCounter(name).Get() }

func hook(event, command string) config.Hook { return config.Hook{Event: event, Command: command} }

func userEvent(name, payload string) messages.HookEvent {
	return messages.HookEvent{Event: EventUser, UserEvent: name, Payload: []byte(payload)}
}

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}
