package producer

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/sendonce/sendonce/pkg/config"
	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/pseudonym"
	"github.com/sendonce/sendonce/pkg/retry"
	"github.com/sendonce/sendonce/pkg/source"
)

// SourceFlags say where the users come from (publish and preview).
type SourceFlags struct {
	Spec            string
	AthenaQuery     string
	AthenaQueryFile string
	AthenaDatabase  string
	AthenaWorkgroup string
	AthenaOutput    string
	AthenaTimeout   time.Duration
	// AthenaRead is s3, api or auto (--athena-read); AthenaS3Parallel the
	// ranged GETs reading the result file ahead (--athena-s3-parallel).
	AthenaRead       string
	AthenaS3Parallel int
}

// RegisterFlags binds the source flags.
func (s *SourceFlags) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&s.Spec, "source", "", "users to email: csv:PATH, jsonl:PATH, - (CSV on stdin) or athena")
	fs.StringVar(&s.AthenaQuery, "athena-query", "", "SQL of the Athena query (source athena); result columns user_id, email, and template variables")
	fs.StringVar(&s.AthenaQueryFile, "athena-query-file", "", "file holding the SQL of the Athena query (instead of --athena-query)")
	fs.StringVar(&s.AthenaDatabase, "athena-database", "", "Athena database of the query")
	fs.StringVar(&s.AthenaWorkgroup, "athena-workgroup", "", "Athena workgroup (empty: primary)")
	fs.StringVar(&s.AthenaOutput, "athena-output", "", "s3:// location of the query results (empty: the workgroup's)")
	fs.DurationVar(&s.AthenaTimeout, "athena-timeout", 30*time.Minute, "how long to wait for the Athena query to finish")
	fs.StringVar(&s.AthenaRead, "athena-read", string(source.ReadAuto), "how to read the query's result: s3 (stream the CSV file Athena wrote; needs s3:GetObject on the results prefix), api (page through GetQueryResults, 1,000 rows per call), auto (s3, or api when S3 is denied or the results are client-side encrypted)")
	fs.IntVar(&s.AthenaS3Parallel, "athena-s3-parallel", 1, "ranged GETs of 8 MiB reading the Athena result file ahead of the parser, 1 to 64 (1: one streamed GET)")
}

// Validate names the flag that is wrong.
func (s *SourceFlags) Validate() error {
	if s.Spec == "" {
		return errors.New("--source is required: csv:PATH, jsonl:PATH, - (CSV on stdin) or athena")
	}
	if s.Spec != "athena" {
		if s.AthenaQuery != "" || s.AthenaQueryFile != "" {
			return fmt.Errorf("--athena-query and --athena-query-file need --source athena (got --source %q)", s.Spec)
		}
		return nil
	}
	switch {
	case s.AthenaQuery == "" && s.AthenaQueryFile == "":
		return errors.New("--source athena needs --athena-query or --athena-query-file")
	case s.AthenaQuery != "" && s.AthenaQueryFile != "":
		return errors.New("give either --athena-query or --athena-query-file, not both")
	case s.AthenaOutput != "" && !strings.HasPrefix(s.AthenaOutput, "s3://"):
		return fmt.Errorf("--athena-output must be an s3:// location (got %q)", s.AthenaOutput)
	case s.AthenaTimeout <= 0:
		return errors.New("--athena-timeout must be positive")
	case s.AthenaS3Parallel < 0 || s.AthenaS3Parallel > 64: // 0 (unset) is one GET, like 1
		return fmt.Errorf("--athena-s3-parallel must be 1 to 64 (got %d)", s.AthenaS3Parallel)
	}
	if _, err := source.ParseReadMode(s.AthenaRead); err != nil {
		return err
	}
	return nil
}

// Athena returns the Athena settings of the campaign, reading the query
// file if one is given.
func (s *SourceFlags) Athena(campaign string) (source.AthenaConfig, error) {
	q := s.AthenaQuery
	if s.AthenaQueryFile != "" {
		b, err := os.ReadFile(s.AthenaQueryFile)
		if err != nil {
			return source.AthenaConfig{}, fmt.Errorf("--athena-query-file: %w", err)
		}
		q = strings.TrimSpace(string(b))
		if q == "" {
			return source.AthenaConfig{}, fmt.Errorf("--athena-query-file %s is empty", s.AthenaQueryFile)
		}
	}
	mode, err := source.ParseReadMode(s.AthenaRead)
	if err != nil {
		return source.AthenaConfig{}, err
	}
	return source.AthenaConfig{
		Campaign: campaign, Query: q, Database: s.AthenaDatabase,
		Workgroup: s.AthenaWorkgroup, OutputLocation: s.AthenaOutput,
		Read: mode, S3Parallel: s.AthenaS3Parallel,
	}, nil
}

// PublishCommand is the configuration of `producer publish`.
type PublishCommand struct {
	Common config.Common
	PublishConfig
	Source            SourceFlags
	ExpiresAt         TimeFlag
	RejectsFile       string
	Partitions        int
	ReplicationFactor int
	RetryTiers        string
	ConnectTimeout    time.Duration

	// UnsubscribeKeyFile holds the key of the {{token}} placeholder.
	UnsubscribeKeyFile string

	// CampaignFromDate is a Go time layout (--campaign-from-date) that
	// makes the campaign id from today's UTC date, instead of --campaign.
	CampaignFromDate string
	// ExpiresAfter sets the expiry this long after the publish starts
	// (--expires-after), instead of --expires-at.
	ExpiresAfter time.Duration
	// DryRun validates the whole source and publishes nothing (--dry-run).
	DryRun bool
	// SkipIdentityCheck skips the From identity pre-flight check;
	// SkipSESChecks skips every SES pre-flight check.
	SkipIdentityCheck bool
	SkipSESChecks     bool
	// RequireConfigurationSet refuses to start without --configuration-set
	// (--require-configuration-set): SES publishes the events that settle
	// a send (sender reconcile) only for sends through a configuration set.
	RequireConfigurationSet bool
}

// RegisterFlags binds every flag of publish.
func (c *PublishCommand) RegisterFlags(fs *flag.FlagSet) {
	config.RegisterCommon(fs, &c.Common, "")
	c.Source.RegisterFlags(fs)
	fs.StringVar(&c.Campaign, "campaign", "", "campaign id: 1 to 64 letters, digits, '.', '_' or '-' (e.g. 2026-11)")
	fs.StringVar(&c.Template, "template", "", "SES template name")
	fs.StringVar(&c.From, "from", "", "From address, e.g. news@example.com or \"Example <news@example.com>\"")
	fs.StringVar(&c.ConfigurationSet, "configuration-set", "", "SES configuration set (empty: none); its event destination lets sender reconcile settle every send (docs/EVENTS.md)")
	fs.BoolVar(&c.RequireConfigurationSet, "require-configuration-set", false, "refuse to start without --configuration-set (the senders' --require-configuration-set dead-letters such jobs); false: publish without one, with a warning that the sends cannot be settled by SES events")
	fs.StringVar(&c.Priority, "priority", "normal", "normal, or high: publish to the priority lane <prefix>.jobs.priority, which the senders consume beside the jobs topic so that this campaign never waits behind another's backlog")
	fs.Var(&c.ExpiresAt, "expires-at", "RFC 3339 time after which the jobs are no longer sent (empty: never)")
	fs.StringVar(&c.UnsubscribeURL, "unsubscribe-url", "", "one-click unsubscribe https URL with {{user_id}} and/or {{email}}, and {{token}} (an HMAC of campaign and user, see --unsubscribe-key-file), optionally {{campaign}}; adds List-Unsubscribe and List-Unsubscribe-Post (empty: none)")
	fs.StringVar(&c.UnsubscribeKeyFile, "unsubscribe-key-file", "", "file holding the secret key (at least 32 bytes) that signs the {{token}} of --unsubscribe-url; the unsubscribe endpoint checks it with the same key")
	fs.IntVar(&c.MaxRejects, "max-rejects", -1, "exit non-zero (after publishing every valid row) when more rows than this are rejected; -1: no limit")
	fs.StringVar(&c.RejectsFile, "rejects-file", "", "also write the rejects report to this file as JSON lines (it always goes to the <prefix>.rejects topic)")
	fs.IntVar(&c.Partitions, "partitions", 12, "partitions of the jobs topic when creating it (the sender's scaling limit)")
	fs.IntVar(&c.ReplicationFactor, "replication-factor", -1, "replication of every topic when creating it; -1: the broker's default.replication.factor")
	fs.StringVar(&c.RetryTiers, "retry-tiers", retry.FormatTiers(retry.DefaultTiers), "comma-separated delays of the retry tiers (their topics are created too)")
	fs.DurationVar(&c.ConnectTimeout, "connect-timeout", 20*time.Second, "how long to wait for Kafka at startup")
	fs.DurationVar(&c.FlushTimeout, "flush-timeout", time.Minute, "how long to wait for buffered jobs at the end or after SIGTERM")
	fs.DurationVar(&c.ProgressEvery, "progress-every", 5*time.Second, "interval of progress log lines when not on a terminal")
	fs.StringVar(&c.CampaignFromDate, "campaign-from-date", "", "make the campaign id from today's UTC date with this Go time layout, e.g. 2006-01 (2026-11) or usage-2006-01; instead of --campaign (a monthly CronJob)")
	fs.DurationVar(&c.ExpiresAfter, "expires-after", 0, "the jobs are no longer sent this long after the publish starts, e.g. 168h; instead of --expires-at (0: --expires-at decides)")
	fs.BoolVar(&c.DryRun, "dry-run", false, "read and validate the whole source, print the rejects report and publish nothing (no Kafka at all); the SES checks still run (--skip-ses-checks to validate the source alone)")
	fs.BoolVar(&c.SkipIdentityCheck, "skip-identity-check", false, "do not check that the From address or its domain is verified in SES (for a role without ses:GetEmailIdentity)")
	fs.BoolVar(&c.SkipSESChecks, "skip-ses-checks", false, "skip the pre-flight checks against SES (template exists, renders for the first valid row, From identity verified): for a role without ses:GetEmailTemplate, or no SES at hand")
}

// Validate names the flag that is wrong. It fills the derived fields
// (topics, source, expiry).
func (c *PublishCommand) Validate() error {
	if err := c.Common.Validate(); err != nil {
		return err
	}
	if err := c.Source.Validate(); err != nil {
		return err
	}
	if c.CampaignFromDate != "" {
		if c.Campaign != "" {
			return fmt.Errorf("give either --campaign %q or --campaign-from-date %q, not both", c.Campaign, c.CampaignFromDate)
		}
		id, err := CampaignFromDate(c.CampaignFromDate, time.Now())
		if err != nil {
			return err
		}
		c.Campaign = id
	}
	if c.ExpiresAfter != 0 {
		if c.ExpiresAfter < 0 || !c.ExpiresAt.T.IsZero() {
			return fmt.Errorf("--expires-after must be positive and not given with --expires-at (got %s)", c.ExpiresAfter)
		}
		c.ExpiresAt.T = time.Now().Add(c.ExpiresAfter).UTC().Truncate(time.Second)
	}
	c.PublishConfig.Topics = kafka.Topics{Prefix: c.Common.TopicPrefix}
	c.PublishConfig.Source = c.Source.Spec
	c.PublishConfig.ExpiresAt = c.ExpiresAt.T
	if c.UnsubscribeKeyFile != "" {
		k, err := pseudonym.LoadKey(c.UnsubscribeKeyFile)
		if err != nil {
			return fmt.Errorf("--unsubscribe-key-file: %w", err)
		}
		c.UnsubscribeKey = k
	}
	if err := c.PublishConfig.Validate(); err != nil {
		return err
	}
	if c.RequireConfigurationSet && c.ConfigurationSet == "" {
		return ErrNoConfigurationSet
	}
	if !c.ExpiresAt.T.IsZero() && !c.ExpiresAt.T.After(time.Now()) {
		return fmt.Errorf("--expires-at %s is in the past: every job would expire unsent", c.ExpiresAt.T.Format(time.RFC3339))
	}
	if c.Partitions < 1 {
		return fmt.Errorf("--partitions must be at least 1 (got %d)", c.Partitions)
	}
	if c.ReplicationFactor != -1 && c.ReplicationFactor < 1 || c.ReplicationFactor > 32767 {
		return fmt.Errorf("--replication-factor must be -1 (broker default) or at least 1 (got %d)", c.ReplicationFactor)
	}
	if _, err := c.Tiers(); err != nil {
		return err
	}
	if c.ConnectTimeout <= 0 || c.FlushTimeout <= 0 {
		return errors.New("--connect-timeout and --flush-timeout must be positive")
	}
	return nil
}

// ErrNoConfigurationSet is returned by PublishCommand.Validate for
// --require-configuration-set without --configuration-set.
var ErrNoConfigurationSet = errors.New("--require-configuration-set is on and --configuration-set is empty: " +
	"name the SES configuration set whose event destination feeds sender reconcile (docs/EVENTS.md)")

// NoEventsWarning is the warning publish logs once at start when the jobs
// will name no configuration set, or "".
func NoEventsWarning(c *PublishCommand) string {
	if c.ConfigurationSet != "" {
		return ""
	}
	return "--configuration-set is empty: the campaign's sends cannot be settled by SES events " +
		"(SES publishes none, so nothing can prove an ambiguous send left); set --configuration-set " +
		"to the configuration set with the event destination (docs/EVENTS.md), and --require-configuration-set to make it mandatory"
}

// Tiers parses --retry-tiers.
func (c *PublishCommand) Tiers() ([]time.Duration, error) {
	ts, err := retry.ParseTiers(c.RetryTiers)
	if err == nil {
		err = retry.Policy{Tiers: ts, MaxAttempts: 1}.Validate()
	}
	if err != nil {
		return nil, fmt.Errorf("--retry-tiers %q: %w", c.RetryTiers, err)
	}
	return ts, nil
}

// Layout is the topic layout publish ensures.
func (c *PublishCommand) Layout() kafka.Layout {
	ts, _ := c.Tiers()
	return kafka.Layout{
		Topics:            c.PublishConfig.Topics,
		Partitions:        int32(c.Partitions),
		ReplicationFactor: int16(c.ReplicationFactor),
		Tiers:             ts,
	}
}

// StatusCommand is the configuration of `producer status`.
type StatusCommand struct {
	Common   config.Common
	Campaign string
	JSON     bool
	Timeout  time.Duration
}

// RegisterFlags binds every flag of status.
func (c *StatusCommand) RegisterFlags(fs *flag.FlagSet) {
	config.RegisterCommon(fs, &c.Common, "")
	fs.StringVar(&c.Campaign, "campaign", "", "campaign id")
	fs.BoolVar(&c.JSON, "json", false, "print one JSON object instead of a table")
	fs.DurationVar(&c.Timeout, "timeout", 2*time.Minute, "how long to read the campaign record and the ledger")
}

// Validate names the flag that is wrong.
func (c *StatusCommand) Validate() error {
	if err := c.Common.Validate(); err != nil {
		return err
	}
	if err := ValidateCampaignID(c.Campaign); err != nil {
		return err
	}
	if c.Timeout <= 0 {
		return errors.New("--timeout must be positive")
	}
	return nil
}

// PreviewCommand is the configuration of `producer preview`.
type PreviewCommand struct {
	Common config.Common
	PublishConfig
	Source  SourceFlags
	User    string
	Timeout time.Duration

	// UnsubscribeKeyFile signs the {{token}} shown in the preview.
	UnsubscribeKeyFile string
}

// RegisterFlags binds every flag of preview.
func (c *PreviewCommand) RegisterFlags(fs *flag.FlagSet) {
	config.RegisterCommon(fs, &c.Common, "")
	c.Source.RegisterFlags(fs)
	fs.StringVar(&c.Campaign, "campaign", "", "campaign id")
	fs.StringVar(&c.Template, "template", "", "SES template name")
	fs.StringVar(&c.User, "user", "", "user_id of the row to render")
	fs.StringVar(&c.From, "from", "preview@example.com", "From address shown in the preview")
	fs.StringVar(&c.ConfigurationSet, "configuration-set", "", "SES configuration set shown in the preview")
	fs.StringVar(&c.UnsubscribeURL, "unsubscribe-url", "", "one-click unsubscribe URL template, to show the List-Unsubscribe header")
	fs.StringVar(&c.UnsubscribeKeyFile, "unsubscribe-key-file", "", "key of the {{token}} of --unsubscribe-url (as on publish)")
	fs.DurationVar(&c.Timeout, "timeout", 5*time.Minute, "how long to look for the user and render")
}

// Validate names the flag that is wrong.
func (c *PreviewCommand) Validate() error {
	if err := c.Common.Validate(); err != nil {
		return err
	}
	if err := c.Source.Validate(); err != nil {
		return err
	}
	if c.User == "" {
		return errors.New("--user is required: the user_id to preview")
	}
	if c.Timeout <= 0 {
		return errors.New("--timeout must be positive")
	}
	return renderConfig(&c.PublishConfig, c.Common, c.Source, c.UnsubscribeKeyFile)
}

// renderConfig completes and validates the publish configuration that
// preview and test-send render one user's email with: the topics of the
// prefix, the source, no reject limit, the unsubscribe key.
func renderConfig(pc *PublishConfig, common config.Common, src SourceFlags, keyFile string) error {
	pc.Topics = kafka.Topics{Prefix: common.TopicPrefix}
	pc.Source = src.Spec
	pc.MaxRejects = -1
	if keyFile != "" {
		k, err := pseudonym.LoadKey(keyFile)
		if err != nil {
			return fmt.Errorf("--unsubscribe-key-file: %w", err)
		}
		pc.UnsubscribeKey = k
	}
	return pc.Validate()
}

// TimeFlag is an RFC 3339 time flag; empty is the zero time.
type TimeFlag struct{ T time.Time }

func (t *TimeFlag) String() string {
	if t == nil || t.T.IsZero() {
		return ""
	}
	return t.T.Format(time.RFC3339)
}

// Set parses an RFC 3339 time.
func (t *TimeFlag) Set(s string) error {
	if s == "" {
		t.T = time.Time{}
		return nil
	}
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return fmt.Errorf("want an RFC 3339 time such as 2026-11-30T23:59:59Z: %w", err)
	}
	t.T = v
	return nil
}
