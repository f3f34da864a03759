package main

import (
	"fmt"
	goruntime "runtime"
	"runtime/debug"

	"github.com/VictoriaMetrics/metrics"
)

// version is set at link time (-ldflags "-X main.version=v1.2.3"); a plain
// go build reports the module version or "devel".
var version = ""

func versionString() string {
	v := version
	commit := ""
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				commit = s.Value[:12]
			}
		}
	}
	if v == "" {
		v = "devel"
	}
	if commit != "" {
		return v + " (" + commit + ")"
	}
	return v
}

// registerBuildInfo exports opengslb_build_info so dashboards can tell
// which release each node runs.
func registerBuildInfo() {
	metrics.GetOrCreateGauge(fmt.Sprintf(`opengslb_build_info{version=%q,goversion=%q}`, versionString(), goruntime.Version()), func() float64 { return 1 })
}
