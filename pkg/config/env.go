package config

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

// wellKnown are flags whose environment variable is an ecosystem name rather
// than SENDONCE_<FLAG>.
var wellKnown = map[string]string{
	"brokers":      "KAFKA_BROKERS",
	"redis-url":    "REDIS_URL",
	"metrics-addr": "METRICS_ADDR",
}

// EnvName returns the environment variable that backs a flag.
func EnvName(flagName string) string {
	if v, ok := wellKnown[flagName]; ok {
		return v
	}
	return "SENDONCE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Parse parses args into fs, then sets every flag not given on the command
// line from its environment variable when that is set. lookup is os.LookupEnv
// in production and a map in tests. Then it checks the flags marked with
// Require and Positive and reports every one that is wrong at once. Every
// error but flag.ErrHelp (--help) is a UsageError (exit 2).
func Parse(fs *flag.FlagSet, args []string, lookup func(string) (string, bool)) error {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	annotateUsage(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return Usage(err)
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var firstErr error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || firstErr != nil {
			return
		}
		name := EnvName(f.Name)
		v, ok := lookup(name)
		if !ok || v == "" {
			return
		}
		if err := f.Value.Set(v); err != nil {
			firstErr = fmt.Errorf("environment variable %s=%q (flag --%s): %w", name, v, f.Name, err)
		}
	})
	if firstErr != nil {
		return Usage(firstErr)
	}
	return Usage(checkMarked(fs))
}

// annotateUsage appends the environment variable to each flag's help text,
// once.
func annotateUsage(fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		env := EnvName(f.Name)
		if !strings.Contains(f.Usage, "$"+env) {
			f.Usage += " ($" + env + ")"
		}
	})
}
