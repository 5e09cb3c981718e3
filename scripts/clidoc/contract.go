package main

import (
	"fmt"
	"sort"
	"strings"
)

// ContractCommand is one row of the operator contract's command table.
type ContractCommand struct {
	Synopsis string   // as the contract writes it
	Commands []string // "binary command" each (pause|resume|cancel is three)
	Flags    []string // the flags the synopsis names, without dashes
	What     string
	Exits    string
	// Baseline rows were in the contract and the code before issue 16;
	// they must never go missing (TestContractKept).
	Baseline bool
}

// ContractKnob is one row of the contract's table of knobs every
// deployment needs, with these names.
type ContractKnob struct {
	Flag     string
	On       []string // "binary command" each
	Meaning  string
	Default  string
	Baseline bool
}

// Contract is the operator contract's command table, word for word.
var Contract = []ContractCommand{
	{Synopsis: "producer publish --campaign ID --source SRC --template NAME --from ADDR [--configuration-set CS] [--expires-at RFC3339] [--unsubscribe-url URL-TEMPLATE] [--max-rejects N]",
		Commands: []string{"producer publish"}, Flags: []string{"campaign", "source", "template", "from", "configuration-set", "expires-at", "unsubscribe-url", "max-rejects"},
		What:  "reads the source, validates each row, publishes one job per valid user",
		Exits: "0 when every valid row is published (rejects are reported, not fatal, unless over `--max-rejects`); non-zero on a fatal error, with the reason", Baseline: true},
	{Synopsis: "producer status --campaign ID [--json]", Commands: []string{"producer status"}, Flags: []string{"campaign", "json"},
		What: "counts per state for the campaign", Exits: "0", Baseline: true},
	{Synopsis: "producer preview --campaign ID --source SRC --template NAME --user USER_ID", Commands: []string{"producer preview"},
		Flags: []string{"campaign", "source", "template", "user"}, What: "renders one user's email without sending", Exits: "0", Baseline: true},
	{Synopsis: "sender run", Commands: []string{"sender run"}, What: "consumes jobs, fences, sends through SES, commits",
		Exits: "runs until SIGTERM/SIGINT, then drains and exits 0", Baseline: true},
	{Synopsis: "sender replay --to earliest|--to-time RFC3339", Commands: []string{"sender replay"}, Flags: []string{"to", "to-time"},
		What: "resets the sender group's committed offsets (group must be empty)", Exits: "0, or non-zero with the reason", Baseline: true},
	{Synopsis: "retrier run", Commands: []string{"retrier run"}, What: "moves due jobs from delay topics back to the jobs topic, or to the DLQ",
		Exits: "like `sender run`", Baseline: true},
	{Synopsis: "retrier redrive [--campaign ID]", Commands: []string{"retrier redrive"}, Flags: []string{"campaign"},
		What: "re-publishes dead-lettered jobs", Exits: "0", Baseline: true},
	{Synopsis: "sender reconcile", Commands: []string{"sender reconcile"}, Flags: []string{"events-queue-url"},
		What:  "consumes SES events (configuration set → SNS → SQS) from `--events-queue-url` and settles every send from them",
		Exits: "like `sender run`"},
	{Synopsis: "producer pause|resume|cancel --campaign ID", Commands: []string{"producer pause", "producer resume", "producer cancel"},
		Flags: []string{"campaign"}, What: "per-campaign control, effective on every sender within seconds", Exits: "0"},
	{Synopsis: "producer status --campaign ID --user USER_ID [--json]", Commands: []string{"producer status"}, Flags: []string{"campaign", "user", "json"},
		What: "one user's state, attempts, message id, reason, times", Exits: "0; 3 when unknown"},
	{Synopsis: "producer report --campaign ID --format csv|jsonl", Commands: []string{"producer report"}, Flags: []string{"campaign", "format"},
		What: "every user's (state, message id, reason, at), streamed to stdout", Exits: "0"},
	{Synopsis: "producer erase --user USER_ID [--campaign ID]", Commands: []string{"producer erase"}, Flags: []string{"user", "campaign"},
		What: "removes a user's jobs, ledger entries and fence keys (erasure request)", Exits: "0", Baseline: true},
}

// Knobs is the contract's table of knobs, with the contract's names.
var Knobs = []ContractKnob{
	{Flag: "partitions", On: []string{"producer publish"}, Meaning: "partitions of the jobs topic (the sender's scaling limit)", Default: "12", Baseline: true},
	{Flag: "replication-factor", On: []string{"producer publish"}, Meaning: "replication of every topic; `-1` takes the broker's `default.replication.factor`", Default: "-1", Baseline: true},
	{Flag: "retry-tiers", On: []string{"sender run", "retrier run"}, Meaning: "comma-separated delays of the retry tiers; topic `<p>.retry.<delay>` each", Default: "30s,2m,10m,1h", Baseline: true},
	{Flag: "max-attempts", On: []string{"sender run", "retrier run"}, Meaning: "attempts before the DLQ", Default: "8", Baseline: true},
	{Flag: "concurrency", On: []string{"sender run"}, Meaning: "in-flight sends per instance", Default: "64", Baseline: true},
	{Flag: "max-send-rate", On: []string{"sender run"}, Meaning: "emails per second shared by all senders (0: from SES `GetAccount` × `--rate-fraction`)", Default: "0", Baseline: true},
	{Flag: "fence-lease", On: []string{"sender run"}, Meaning: "how long an in-flight claim is honoured before it counts as abandoned", Default: "1m", Baseline: true},
	{Flag: "on-ambiguous", On: []string{"sender run"}, Meaning: "`hold` or `resend`", Default: "hold", Baseline: true},
	{Flag: "drain-timeout", On: []string{"sender run", "retrier run"}, Meaning: "how long SIGTERM waits for in-flight work", Default: "25s", Baseline: true},
	{Flag: "batch-size", On: []string{"sender run"}, Meaning: "recipients per SES call (`1`: SendEmail per user; up to 50: SendBulkEmail)", Default: "50"},
	{Flag: "resolve-after", On: []string{"sender reconcile"}, Meaning: "how long an ambiguous send waits for its SES event before it counts as not sent", Default: "30m"},
}

// Missing lists what of the row this build lacks: "binary command" for a
// missing command, "binary command --flag" for a missing flag.
func (r *Reference) Missing(commands, flags []string) []string {
	var out []string
	for _, bc := range commands {
		b, c, _ := strings.Cut(bc, " ")
		cmd := r.Find(b, c)
		if cmd == nil {
			out = append(out, bc)
			continue
		}
		for _, f := range flags {
			if !cmd.Flags[f] {
				out = append(out, bc+" --"+f)
			}
		}
	}
	return out
}

// status says whether the build has everything a contract row names.
func status(missing []string) string {
	if len(missing) == 0 {
		return "yes"
	}
	sort.Strings(missing)
	return fmt.Sprintf("not in this build (missing: `%s`)", strings.Join(missing, "`, `"))
}
