package hooks

import (
	"strings"

	"github.com/opengslb/opengslb/config"
	"github.com/opengslb/opengslb/messages"
)

// Event names, as serf's EventType.String spells them; config owns the
// list (and validates hooks against it), plus its HookBackendHealth.
const (
	EventMemberJoin   = config.HookMemberJoin
	EventMemberLeave  = config.HookMemberLeave
	EventMemberFailed = config.HookMemberFailed
	EventMemberUpdate = config.HookMemberUpdate
	EventMemberReap   = config.HookMemberReap
	EventUser         = config.HookUser
	EventQuery        = config.HookQuery
	EventAll          = config.HookAll
)

// filter is a hook's event = "..." parsed as serf's ParseEventFilter does:
// "user:NAME" and "query:NAME" become the event and a name; no name means
// every event of that kind.
type filter struct {
	event string
	name  string
}

func parseFilter(s string) filter {
	for _, kind := range []string{EventUser, EventQuery} {
		if name, ok := strings.CutPrefix(s, kind+":"); ok {
			return filter{event: kind, name: name}
		}
	}
	return filter{event: s}
}

// matches mirrors serf's EventFilter.Invoke. For a query the name is
// carried in HookEvent.UserEvent, as the user event's name is.
func (f filter) matches(ev messages.HookEvent) bool {
	if f.event == EventAll {
		return true
	}
	if f.event != ev.Event {
		return false
	}
	if f.name != "" && (f.event == EventUser || f.event == EventQuery) {
		return ev.UserEvent == f.name
	}
	return true
}

// known reports whether some event can ever match: a hook for an unknown
// event is kept (config validation is the place to refuse it) but logged.
func (f filter) known() bool {
	switch f.event {
	case EventMemberJoin, EventMemberLeave, EventMemberFailed, EventMemberUpdate, EventMemberReap,
		EventUser, EventQuery, EventAll, config.HookBackendHealth:
		return true
	}
	return false
}
