package messages

// GossipMsg is what the GossipActor accepts. ConfigApplied (zone.go) is
// one: tokens, peers and, on an agent, its backends. On an agent,
// BackendHealth is another: a local verdict to report at once.
type GossipMsg interface{ gossipMsg() }

func (ConfigApplied) gossipMsg() {}
func (BackendHealth) gossipMsg() {}
