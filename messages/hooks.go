package messages

import "time"

// HookMsg is what the hook runner accepts. ConfigApplied (zone.go) is one:
// the [[hooks]] of a new configuration.
type HookMsg interface{ hookMsg() }

func (ConfigApplied) hookMsg() {}

// HookEvent is one event that [[hooks]] may run a command for. Names follow
// serf's event handlers: member-join, member-leave, member-failed,
// member-update, member-reap, user (with UserEvent set), query; and
// OpenGSLB's own backend-health.
type HookEvent struct {
	Event     string
	UserEvent string // the user event's name, for "user"
	Payload   []byte // the user event's payload, on stdin
	Members   []HookMember
	Backend   *BackendHealth // for backend-health
	At        time.Time
}

func (HookEvent) hookMsg() {}

// HookMember is one member line of a membership event.
type HookMember struct {
	Name   string
	Addr   string
	Role   string
	Tags   map[string]string
	Status string
}
