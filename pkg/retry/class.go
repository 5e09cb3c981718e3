package retry

// Class is what kind of failure a send attempt met. pkg/ses classifies SES
// errors into these.
type Class string

// The error classes.
const (
	// Throttled: SES answered 429/throttling before accepting the email.
	Throttled Class = "throttled"
	// Quota: the daily sending quota is used up.
	Quota Class = "quota"
	// Ambiguous: the request may have reached SES (5xx, timeout or reset
	// after the request was written).
	Ambiguous Class = "ambiguous"
	// NotSent: the request surely never reached SES (connection refused,
	// DNS failure, a context cancelled before writing).
	NotSent Class = "not_sent"
	// Permanent: SES rejected this email for good (MessageRejected,
	// BadRequest, unknown template, unverified domain).
	Permanent Class = "permanent"
	// Stop: the account cannot send at all (suspended, sending paused).
	Stop Class = "stop"
)

// Action is what the sender does about a class.
type Action string

// The actions.
const (
	// ActionRetry releases the fence and sends the job to a retry tier.
	ActionRetry Action = "retry"
	// ActionPause releases the fence, keeps the job and pauses sending until
	// the quota has room again. It does not burn an attempt.
	ActionPause Action = "pause"
	// ActionAmbiguous applies the --on-ambiguous policy.
	ActionAmbiguous Action = "ambiguous"
	// ActionDeadLetter marks the fence failed and sends the job to the DLQ.
	ActionDeadLetter Action = "dead_letter"
	// ActionStop releases the fence and stops all sending.
	ActionStop Action = "stop"
)

// Actions maps each error class to the sender's action. It is the table
// documented in docs/DESIGN.md.
var Actions = map[Class]Action{
	Throttled: ActionRetry,
	NotSent:   ActionRetry,
	Quota:     ActionPause,
	Ambiguous: ActionAmbiguous,
	Permanent: ActionDeadLetter,
	Stop:      ActionStop,
}

// ActionFor returns the action for a class; an unknown class is treated as
// ambiguous, the safe choice for an email that may have left.
func ActionFor(c Class) Action {
	if a, ok := Actions[c]; ok {
		return a
	}
	return ActionAmbiguous
}

// DLQ reasons, carried in the sendonce-dlq-reason header.
const (
	ReasonPermanent = "permanent"
	ReasonExhausted = "attempts_exhausted"
	ReasonMalformed = "malformed"
	// ReasonStopped: SES kept refusing this job's configuration set or
	// identity (or the account) for --stop-cycles checks; it was never
	// sent and can be redriven once the cause is fixed.
	ReasonStopped = "stopped"
)
