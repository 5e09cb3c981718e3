package sender

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/ledger"
	"github.com/sendonce/sendonce/pkg/retry"
)

// The sender trusts nothing in a job: anyone who can write to the jobs
// topic could otherwise send any template, from any address, with any
// header. The policy step runs right after a job is decoded, before the
// fence is claimed; a job it refuses is dead-lettered with reason "policy",
// reported dead_lettered in the ledger (so its campaign can complete),
// counted and alerted on, and never sent.

// ErrPolicy is returned by JobPolicy.Check for a job the sender must not send.
// The error names the rule (PolicyError.Rule) and never echoes an address.
var ErrPolicy = errors.New("job refused by the sender policy")

// Policy rules, the rule label of a refusal.
const (
	RuleCampaign         = "campaign_id"
	RuleUserID           = "user_id"
	RuleTemplate         = "template_name"
	RuleTemplateAllowed  = "template_not_allowed"
	RuleRecipient        = "recipient_address"
	RuleFrom             = "from_address"
	RuleFromAllowed      = "from_not_allowed"
	RuleHeader           = "header_not_allowed"
	RuleHeaderValue      = "header_value"
	RuleConfigurationSet = "configuration_set"
	// RuleConfigurationSetMissing: a job without a configuration set while
	// JobPolicy.RequireConfigurationSet is on.
	RuleConfigurationSetMissing = "configuration_set_missing"
)

// PolicyError is a refusal: which rule, and what is wrong in words.
type PolicyError struct {
	Rule   string
	Detail string
}

func (e *PolicyError) Error() string { return e.Rule + ": " + e.Detail }

// Unwrap makes errors.Is(err, ErrPolicy) true.
func (e *PolicyError) Unwrap() error { return ErrPolicy }

func refuse(rule, format string, args ...any) error {
	return &PolicyError{Rule: rule, Detail: fmt.Sprintf(format, args...)}
}

// Headers a job may carry: one-click unsubscribe (RFC 2369, RFC 8058).
const (
	headerListUnsubscribe     = "List-Unsubscribe"
	headerListUnsubscribePost = "List-Unsubscribe-Post"
	oneClickValue             = "List-Unsubscribe=One-Click"
	maxHeaderValue            = 2048
	maxUserIDBytes            = 256
)

// JobPolicy is what the sender accepts from a job. The zero JobPolicy still checks
// the job itself (ids, addresses, headers); the allow-lists narrow it.
type JobPolicy struct {
	// AllowedFrom lists From addresses (news@example.com) or domains
	// (example.com, the exact domain, no subdomains); empty: any valid
	// address.
	AllowedFrom []string
	// AllowedTemplates lists the SES templates jobs may use; empty: any.
	AllowedTemplates []string
	// RequireConfigurationSet refuses a job that names no SES
	// configuration set (--require-configuration-set): SES publishes the
	// events that settle a send (sender reconcile) only for sends through
	// a configuration set. Off: such a job is sent, and each campaign is
	// warned about once (noEventsWarning).
	RequireConfigurationSet bool
}

// compiledPolicy is a validated Policy in lookup form.
type compiledPolicy struct {
	fromAddrs, fromDomains, templates map[string]bool
	// lastFrom is the last From accepted: every job of a campaign has the
	// same, so it is parsed once, not per job.
	lastFrom                atomic.Pointer[string]
	requireConfigurationSet bool
	// warnedNoEvents are the campaigns already warned about sending
	// without a configuration set.
	warnedNoEvents campaignSet
}

// compile checks the allow-lists and puts them in lookup form.
func (p JobPolicy) compile() (*compiledPolicy, error) {
	c := &compiledPolicy{fromAddrs: map[string]bool{}, fromDomains: map[string]bool{}, templates: map[string]bool{}, requireConfigurationSet: p.RequireConfigurationSet}
	for _, f := range p.AllowedFrom {
		f = strings.ToLower(strings.TrimSpace(f))
		if strings.Contains(f, "@") {
			if err := job.CheckAddress(f); err != nil {
				return nil, fmt.Errorf("--allowed-from %q: %w", f, err)
			}
			c.fromAddrs[f] = true
			continue
		}
		if err := job.CheckDomain(f); err != nil {
			return nil, fmt.Errorf("--allowed-from %q is neither an address nor a domain: %w", f, err)
		}
		c.fromDomains[f] = true
	}
	for _, t := range p.AllowedTemplates {
		t = strings.TrimSpace(t)
		if err := job.CheckTemplate(t); err != nil {
			return nil, fmt.Errorf("--allowed-templates %q: %w", t, err)
		}
		c.templates[t] = true
	}
	return c, nil
}

// Check returns nil for a job the sender may send, or a *PolicyError
// (wrapping ErrPolicy) naming the rule it breaks.
func (p JobPolicy) Check(j *job.Job) error {
	c, err := p.compile()
	if err != nil {
		return err
	}
	return c.check(j)
}

func (c *compiledPolicy) check(j *job.Job) error {
	if c == nil { // a Config that skipped Validate: no allow-lists
		c = &compiledPolicy{}
	}
	if err := job.CheckCampaignID(j.Campaign); err != nil {
		return refuse(RuleCampaign, "%v", err)
	}
	if len(j.UserID) > maxUserIDBytes || strings.ContainsFunc(j.UserID, isControl) {
		return refuse(RuleUserID, "user_id is over %d bytes or has control characters", maxUserIDBytes)
	}
	if err := job.CheckTemplate(j.Template); err != nil {
		return refuse(RuleTemplate, "%v", err)
	}
	if len(c.templates) > 0 && !c.templates[j.Template] {
		return refuse(RuleTemplateAllowed, "template %q is not in --allowed-templates", j.Template)
	}
	if err := job.CheckAddress(j.Email); err != nil {
		return refuse(RuleRecipient, "%v", err)
	}
	if err := c.checkFrom(j.From); err != nil {
		return err
	}
	if j.ConfigurationSet != "" && job.CheckTemplate(j.ConfigurationSet) != nil {
		return refuse(RuleConfigurationSet, "configuration set name must be 1 to 64 letters, digits, '_' or '-'")
	}
	if j.ConfigurationSet == "" && c.requireConfigurationSet {
		return refuse(RuleConfigurationSetMissing, "the job names no configuration set and --require-configuration-set is on: "+
			"SES would publish no event to settle this send; publish the campaign with --configuration-set")
	}
	return checkHeaders(j.Headers)
}

func (c *compiledPolicy) checkFrom(from string) error {
	if last := c.lastFrom.Load(); last != nil && *last == from {
		return nil
	}
	if err := c.parseFrom(from); err != nil {
		return err
	}
	c.lastFrom.Store(&from)
	return nil
}

func (c *compiledPolicy) parseFrom(from string) error {
	// net/mail errors echo their input: only our own words go out.
	a, err := mail.ParseAddress(from)
	if err != nil {
		return refuse(RuleFrom, "from is not an address or \"Name <address>\"")
	}
	if err := job.CheckAddress(a.Address); err != nil {
		return refuse(RuleFrom, "from: %v", err)
	}
	if strings.ContainsFunc(a.Name, isControl) {
		return refuse(RuleFrom, "from display name has control characters")
	}
	if len(c.fromAddrs) == 0 && len(c.fromDomains) == 0 {
		return nil
	}
	addr := strings.ToLower(a.Address)
	domain := addr[strings.LastIndexByte(addr, '@')+1:]
	if c.fromAddrs[addr] || c.fromDomains[domain] {
		return nil
	}
	return refuse(RuleFromAllowed, "from address %q is not in --allowed-from", addr)
}

func checkHeaders(h map[string]string) error {
	for k, v := range h {
		switch {
		case strings.EqualFold(k, headerListUnsubscribe):
			if err := checkListUnsubscribe(v); err != nil {
				return err
			}
		case strings.EqualFold(k, headerListUnsubscribePost):
			if v != oneClickValue {
				return refuse(RuleHeaderValue, "%s must be %q", headerListUnsubscribePost, oneClickValue)
			}
		default:
			return refuse(RuleHeader, "header %q is not allowed (only %s and %s)", truncateName(k), headerListUnsubscribe, headerListUnsubscribePost)
		}
	}
	return nil
}

// checkListUnsubscribe accepts a comma-separated list of <https://…> URLs
// (a mailto: is tolerated beside them); the value is never echoed, as it
// may hold a user id or address.
func checkListUnsubscribe(v string) error {
	if len(v) > maxHeaderValue || strings.ContainsFunc(v, isControl) {
		return refuse(RuleHeaderValue, "%s is over %d bytes or has control characters", headerListUnsubscribe, maxHeaderValue)
	}
	https := 0
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if len(part) < 2 || part[0] != '<' || part[len(part)-1] != '>' || strings.ContainsAny(part[1:len(part)-1], "<> ") {
			return refuse(RuleHeaderValue, "%s must be a list of <URL>", headerListUnsubscribe)
		}
		u, err := url.Parse(part[1 : len(part)-1])
		switch {
		case err != nil:
			return refuse(RuleHeaderValue, "%s has an unparsable URL", headerListUnsubscribe)
		case u.Scheme == "https" && u.Host != "":
			https++
		case u.Scheme == "mailto":
		default:
			return refuse(RuleHeaderValue, "%s URLs must be https:// (or mailto:)", headerListUnsubscribe)
		}
	}
	if https == 0 {
		return refuse(RuleHeaderValue, "%s needs an https:// URL for one-click unsubscribe", headerListUnsubscribe)
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func truncateName(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// refused is the policy step: it dead-letters a job the policy refuses and
// reports whether it did (refused) and whether that outcome is durable
// (finished). A refused job is never claimed in the fence and never sent.
func (s *Sender) refused(r *kgo.Record, j *job.Job) (refused, finished bool) {
	err := s.cfg.policy.check(j)
	if err == nil {
		if j.ConfigurationSet == "" && s.cfg.policy.noEventsWarning(j.Campaign) {
			s.log.Warn("campaign's jobs name no SES configuration set: their sends cannot be settled by SES events "+
				"(SES publishes none, so nothing can prove an ambiguous send left); publish with --configuration-set, "+
				"and set --require-configuration-set to refuse such jobs (logged once per campaign)",
				"campaign", j.Campaign)
		}
		return false, false
	}
	rule := "policy"
	var pe *PolicyError
	if errors.As(err, &pe) {
		rule = pe.Rule
	}
	reason := err.Error()
	s.m.count(outPolicy)
	s.m.dlq.WithLabelValues(retry.ReasonPolicy).Inc()
	s.log.Warn("job refused by the sender policy: dead-lettered, not sent",
		"rule", rule, "reason", reason, "partition", r.Partition, "offset", r.Offset)
	recs := []*kgo.Record{s.dlqRecord(r, j, j.Attempt, retry.ReasonPolicy, retry.Class("policy"), reason)}
	// A ledger entry lets the campaign complete; a job whose campaign or
	// user id is itself the violation belongs to no campaign's ledger.
	if rule != RuleCampaign && rule != RuleUserID {
		recs = append(recs, s.ledgerRecord(j, ledger.DeadLettered, "", retry.ReasonPolicy+": "+reason))
	}
	return true, s.emit(recs...) == nil
}

// noEventsWarning reports whether the campaign's sends without a
// configuration set are to be warned about now: once per campaign.
func (c *compiledPolicy) noEventsWarning(campaign string) bool {
	if c == nil {
		return false
	}
	return c.warnedNoEvents.add(campaign)
}

// maxWarnedCampaigns bounds campaignSet: past it the set starts over, and a
// campaign may be warned about once more.
const maxWarnedCampaigns = 4096

// campaignSet is a bounded set of campaign ids, safe for concurrent use.
type campaignSet struct {
	// last is the id added or found last: the jobs of one campaign come
	// in runs, so most calls end here without the lock.
	last atomic.Pointer[string]
	mu   sync.Mutex
	m    map[string]struct{}
}

// add adds id and reports whether it was new.
func (s *campaignSet) add(id string) bool {
	if last := s.last.Load(); last != nil && *last == id {
		return false
	}
	defer s.last.Store(&id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[id]; ok {
		return false
	}
	if s.m == nil || len(s.m) >= maxWarnedCampaigns {
		s.m = map[string]struct{}{}
	}
	s.m[id] = struct{}{}
	return true
}
