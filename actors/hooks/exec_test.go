package hooks

import (
	"bytes"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/opengslb/opengslb/config"
	"github.com/opengslb/opengslb/messages"
)

func TestFilterMatches(t *testing.T) {
	user := func(name string) messages.HookEvent { return messages.HookEvent{Event: EventUser, UserEvent: name} }
	query := messages.HookEvent{Event: EventQuery, UserEvent: "status"}
	join := messages.HookEvent{Event: EventMemberJoin}
	health := messages.HookEvent{Event: config.HookBackendHealth}
	cases := []struct {
		filter string
		ev     messages.HookEvent
		want   bool
	}{
		{"*", join, true},
		{"*", user("deploy"), true},
		{"*", health, true},
		{"member-join", join, true},
		{"member-leave", join, false},
		{"member-join", user("member-join"), false},
		{"user", user("deploy"), true},
		{"user", join, false},
		{"user:deploy", user("deploy"), true},
		{"user:deploy", user("restart"), false},
		{"user:deploy", user(""), false},
		{"user:", user("anything"), true}, // serf: no name is every user event
		{"user:deploy", query, false},
		{"query", query, true},
		{"query:status", query, true},
		{"query:other", query, false},
		{"backend-health", health, true},
		{"backend-health", join, false},
		{"member-joined", join, false},
	}
	for _, c := range cases {
		if got := parseFilter(c.filter).matches(c.ev); got != c.want {
			t.Errorf("%q matches %s/%s = %v, want %v", c.filter, c.ev.Event, c.ev.UserEvent, got, c.want)
		}
	}
}

func TestFilterKnown(t *testing.T) {
	for _, f := range []string{"*", "member-join", "member-leave", "member-failed", "member-update", "member-reap", "user", "user:x", "query", "query:x", "backend-health"} {
		if !parseFilter(f).known() {
			t.Errorf("%q not known", f)
		}
	}
	for _, f := range []string{"", "member-joined", "users", "user-x"} {
		if parseFilter(f).known() {
			t.Errorf("%q known", f)
		}
	}
}

func TestMemberLines(t *testing.T) {
	cases := []struct {
		name string
		m    messages.HookMember
		want string
	}{
		{"tags sorted, role from tags", messages.HookMember{Name: "a", Addr: "10.0.0.1", Tags: map[string]string{"role": "agent", "dc": "x", "b": "2"}},
			"a\t10.0.0.1\tagent\tb=2,dc=x,role=agent\n"},
		{"role field is the role tag", messages.HookMember{Name: "a", Addr: "10.0.0.1", Role: "overwatch", Tags: map[string]string{"dc": "x"}},
			"a\t10.0.0.1\toverwatch\tdc=x,role=overwatch\n"},
		{"role field wins", messages.HookMember{Name: "a", Addr: "10.0.0.1", Role: "overwatch", Tags: map[string]string{"role": "agent"}},
			"a\t10.0.0.1\toverwatch\trole=overwatch\n"},
		{"no tags", messages.HookMember{Name: "a", Addr: "::1"}, "a\t::1\t\t\n"},
		{"tabs and newlines cleaned", messages.HookMember{Name: "a\tb\nc", Addr: "10.0.0.1", Tags: map[string]string{"role": "x\ty", "k": "v\nw"}},
			"a\\tb\\nc\t10.0.0.1\tx\\ty\tk=v\\nw,role=x\\ty\n"},
	}
	for _, c := range cases {
		tags := maps.Clone(c.m.Tags)
		var b bytes.Buffer
		writeMember(&b, c.m)
		if b.String() != c.want {
			t.Errorf("%s: %q, want %q", c.name, b.String(), c.want)
		}
		if !maps.Equal(tags, c.m.Tags) {
			t.Errorf("%s: the event's tags were modified", c.name)
		}
	}
}

func TestStdinOf(t *testing.T) {
	payload := make([]byte, 3, 8)
	copy(payload, "abc")
	got := stdinOf(messages.HookEvent{Event: EventUser, Payload: payload})
	if string(got) != "abc\n" {
		t.Errorf("user payload on stdin = %q, want a trailing newline added", got)
	}
	if string(payload[:4]) == "abc\n" {
		t.Error("the sender's payload array was written to")
	}
	if got := stdinOf(messages.HookEvent{Event: EventQuery, Payload: []byte("q\n")}); string(got) != "q\n" {
		t.Errorf("query payload = %q", got)
	}
	if got := stdinOf(messages.HookEvent{Event: EventUser}); len(got) != 0 {
		t.Errorf("empty payload = %q", got)
	}
	if got := stdinOf(messages.HookEvent{Event: config.HookBackendHealth, Members: []messages.HookMember{{Name: "x"}}}); got != nil {
		t.Errorf("backend-health stdin = %q, want none", got)
	}
}

func TestSelfEnv(t *testing.T) {
	got := selfEnv("node-1", "", map[string]string{"role": "agent", "dc-name": "a", "x.y z": "1", "Mixed": "m"})
	want := []string{
		"SERF_SELF_NAME=node-1",
		"SERF_SELF_ROLE=agent",
		"SERF_TAG_MIXED=m", // sorted by the tag's own name
		"SERF_TAG_DC_NAME=a",
		"SERF_TAG_ROLE=agent",
		"SERF_TAG_X_Y_Z=1",
	}
	if !slices.Equal(got, want) {
		t.Errorf("selfEnv = %q, want %q", got, want)
	}
	if got := selfEnv("n", "", nil); !slices.Equal(got, []string{"SERF_SELF_NAME=n", "SERF_SELF_ROLE="}) {
		t.Errorf("selfEnv without tags = %q", got)
	}
}

func TestTailBufferKeepsTheEnd(t *testing.T) {
	b := &tailBuffer{max: 8}
	_, _ = b.Write([]byte("hello"))
	if b.String() != "hello" || b.truncated() {
		t.Fatalf("%q truncated=%v", b.String(), b.truncated())
	}
	_, _ = b.Write([]byte(" world"))
	if b.String() != "lo world" || !b.truncated() {
		t.Errorf("%q truncated=%v, want the last 8 bytes", b.String(), b.truncated())
	}
	_, _ = b.Write([]byte(strings.Repeat("x", 20) + "12345678"))
	if b.String() != "12345678" {
		t.Errorf("%q, want the last 8 bytes of a long write", b.String())
	}
}
