package config

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Version is what `--version` prints: the binary's name, the module version,
// the VCS revision and time it was built from (with "+dirty" for uncommitted
// changes) and the Go version, from the build info Go embeds in the binary.
func Version(name string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return fmt.Sprintf("%s (no build info) %s\n", name, runtime.Version())
	}
	return formatVersion(name, bi)
}

func formatVersion(name string, bi *debug.BuildInfo) string {
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	version := bi.Main.Version
	if version == "" {
		version = "(devel)"
	}
	rev := settings["vcs.revision"]
	if rev == "" {
		rev = "unknown (built outside git or with -buildvcs=false)"
	}
	if settings["vcs.modified"] == "true" {
		rev += "+dirty"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", name, version)
	fmt.Fprintf(&b, "  module:   %s\n", bi.Main.Path)
	fmt.Fprintf(&b, "  revision: %s\n", rev)
	if t := settings["vcs.time"]; t != "" {
		fmt.Fprintf(&b, "  time:     %s\n", t)
	}
	fmt.Fprintf(&b, "  go:       %s\n", bi.GoVersion)
	return b.String()
}
