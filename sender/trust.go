package main

import (
	"flag"
	"fmt"
	"log/slog"
	"strings"

	"github.com/sendonce/sendonce/pkg/pseudonym"
	"github.com/sendonce/sendonce/pkg/sender"
)

// trustFlags are the flags of `sender run` that decide what a job may ask
// for (pkg/sender's JobPolicy) and key the user_hash tag.
type trustFlags struct {
	allowedFrom      string
	allowedTemplates string
	userHashKeyFile  string
	// requireConfigurationSet: --require-configuration-set.
	requireConfigurationSet bool
}

func (t *trustFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&t.allowedFrom, "allowed-from", "", "comma-separated From addresses (news@example.com) or domains (example.com) jobs may send from; other jobs are dead-lettered with reason policy (empty: any valid address, with a warning)")
	fs.StringVar(&t.allowedTemplates, "allowed-templates", "", "comma-separated SES templates jobs may use; other jobs are dead-lettered with reason policy (empty: any, with a warning)")
	fs.BoolVar(&t.requireConfigurationSet, "require-configuration-set", false, "dead-letter (reason policy) every job that names no SES configuration set: without one SES publishes no event, and sender reconcile cannot settle an ambiguous send (false: such jobs are sent, with one warning per campaign)")
	fs.StringVar(&t.userHashKeyFile, "user-hash-key-file", "", "file holding the secret key (at least 32 bytes) of the user_hash EmailTag, an HMAC of the user id (empty: an unkeyed hash, with a warning)")
}

// apply puts the flags into cfg; cfg.Validate checks the lists.
func (t *trustFlags) apply(cfg *sender.Config) error {
	cfg.JobPolicy.AllowedFrom = splitList(t.allowedFrom)
	cfg.JobPolicy.AllowedTemplates = splitList(t.allowedTemplates)
	cfg.JobPolicy.RequireConfigurationSet = t.requireConfigurationSet
	if t.userHashKeyFile != "" {
		k, err := pseudonym.LoadKey(t.userHashKeyFile)
		if err != nil {
			return fmt.Errorf("--user-hash-key-file: %w", err)
		}
		cfg.UserHashKey = k
	}
	return nil
}

// warn says, once at start, what an unrestricted configuration allows.
func (t *trustFlags) warn(log *slog.Logger) {
	if t.allowedFrom == "" {
		log.Warn("--allowed-from is not set: jobs may send from any address; set it to your sending addresses or domains (the production overlay does)")
	}
	if t.allowedTemplates == "" {
		log.Warn("--allowed-templates is not set: jobs may use any SES template; set it to the campaign templates (the production overlay does)")
	}
	if t.userHashKeyFile == "" {
		log.Warn("--user-hash-key-file is not set: the user_hash EmailTag is an unkeyed hash anyone can compute from a user id; mount a 32-byte secret and set it (the production overlay does)")
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
