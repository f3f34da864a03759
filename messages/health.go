package messages

// HealthMsg is what the HealthActor accepts. ConfigApplied (zone.go) is one:
// the HealthActor reconciles its checks with the backends of a new config.
type HealthMsg interface{ healthMsg() }

// ValidationTargets lists the agent-reported backends an overwatch checks
// itself (validation.enabled). Each new list replaces the previous one.
type ValidationTargets struct {
	Backends []ValidationTarget
}

func (ValidationTargets) healthMsg() {}

// ValidationTarget is one backend to validate with its agent's check.
type ValidationTarget struct {
	Key   BackendKey
	Check CheckSpec
}
