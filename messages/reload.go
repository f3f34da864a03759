package messages

// ReloadMsg is what the reloader accepts.
type ReloadMsg interface{ reloadMsg() }

// ReloadRequest asks for what SIGHUP does: re-read the file and apply it.
// Reply, when set, gets the outcome.
type ReloadRequest struct {
	Reply chan<- ReloadResult
}

func (ReloadRequest) reloadMsg() {}

// ReloadResult is the outcome of one reload.
type ReloadResult struct {
	Applied    bool     // a new configuration is in force
	Generation uint64   // the generation in force after the reload
	Changes    []string // what changed, one line each
	Err        error    // why the file was refused (the old one keeps serving)
}
