package messages

// HealthMsg is what the HealthActor accepts. ConfigApplied (zone.go) is one:
// the HealthActor reconciles its checks with the backends of a new config.
type HealthMsg interface{ healthMsg() }
