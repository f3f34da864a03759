package gossip

import "time"

// Status is a point-in-time view of the gossip actor, published by its
// goroutine as an immutable value (never modify one you were handed), so
// the API can read it from any goroutine without asking the actor.
type Status struct {
	Role     string    `json:"role"`
	Node     string    `json:"node"`
	Region   string    `json:"region,omitempty"`
	BindAddr string    `json:"bind_addr,omitempty"` // "" while serf is not running
	Running  bool      `json:"running"`
	Joined   bool      `json:"joined"` // joined a peer at least once in this run
	Draining bool      `json:"draining,omitempty"`
	At       time.Time `json:"at"`

	// JoinAttempts and JoinError describe the current round of joining
	// (agents: overwatch_nodes; overwatches: join); both reset on success.
	JoinAttempts int    `json:"join_attempts,omitempty"`
	JoinError    string `json:"join_error,omitempty"`

	Members []MemberStatus `json:"members"`

	// Agent only: per service, the last report sent and who took it.
	Services []ServiceStatus `json:"services,omitempty"`

	// Overwatch only: per agent, what it reported and what was refused.
	Agents   []AgentStatus `json:"agents,omitempty"`
	WarmedUp bool          `json:"warmed_up,omitempty"`
	// Isolated: every other overwatch this node knows has failed, so it
	// may be the one cut off; HeldAgents failed meanwhile and are kept,
	// going stale, instead of withdrawn.
	Isolated   bool `json:"isolated,omitempty"`
	HeldAgents int  `json:"held_agents,omitempty"`
}

// MemberStatus is one serf member as this node sees it.
type MemberStatus struct {
	Name   string `json:"name"`
	Addr   string `json:"addr"`
	Role   string `json:"role"`
	Region string `json:"region,omitempty"`
	Status string `json:"status"` // alive | leaving | left | failed
}

// ServiceStatus is an agent's last report of one service.
type ServiceStatus struct {
	Service   string          `json:"service"`
	Seq       uint64          `json:"seq"`
	SentAt    time.Time       `json:"sent_at"`
	Backends  []BackendStatus `json:"backends"`
	SendError string          `json:"send_error,omitempty"`
	Acks      []AckStatus     `json:"acks"`
}

// BackendStatus is one of the agent's backends as it reports it now.
type BackendStatus struct {
	Address  string `json:"address"`
	Port     uint16 `json:"port"`
	Weight   int    `json:"weight"`
	Priority int    `json:"priority"`
	Region   string `json:"region,omitempty"`
	Health   string `json:"health"` // the agent's local verdict: healthy | unhealthy | unknown
}

// AckStatus is one overwatch's answer to an agent's report of a service.
// Seq says which report it answered (the latest one heard from that
// overwatch, which may be older than the last one sent).
type AckStatus struct {
	Overwatch string    `json:"overwatch"`
	Seq       uint64    `json:"seq"`
	Accepted  bool      `json:"accepted"`
	Reason    string    `json:"reason,omitempty"` // why it was refused
	At        time.Time `json:"at"`
}

// AgentStatus is what an overwatch knows of one agent.
type AgentStatus struct {
	Agent      string `json:"agent"`
	Region     string `json:"region,omitempty"`
	Addr       string `json:"addr,omitempty"`
	Alive      bool   `json:"alive"`
	Registered bool   `json:"registered"` // alive with an accepted report
	// Held: serf has it failed, but no other overwatch could confirm it;
	// its backends are kept and go stale.
	Held        bool      `json:"held,omitempty"`
	LastReport  time.Time `json:"last_report,omitzero"`
	Accepted    uint64    `json:"accepted"`
	Refused     uint64    `json:"refused"`
	LastRefusal string    `json:"last_refusal,omitempty"`
	Services    []string  `json:"services,omitempty"` // services with an accepted report
}
