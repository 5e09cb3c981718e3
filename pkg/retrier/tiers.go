package retrier

import (
	"regexp"
	"slices"
	"strings"
)

// tierPattern matches every tier topic of the prefix, <prefix>.retry.<delay>
// with the delay as retry.TierName writes it, whatever --retry-tiers says
// now: records left in the topics of tiers that were since removed from the
// list (or that a sender with another list writes to) are still moved when
// due. Their due time is in each record, so no tier setting is needed.
func (r *Retrier) tierPattern() string {
	return "^" + regexp.QuoteMeta(r.cfg.Topics.Prefix+".retry.") + "[0-9]+(ms|s|m|h)$"
}

// tierLabel is the tier label of a tier topic: its delay as written in the
// topic name.
func (r *Retrier) tierLabel(topic string) string {
	if t, ok := r.tierOf[topic]; ok {
		return t
	}
	return strings.TrimPrefix(topic, r.cfg.Topics.Prefix+".retry.")
}

// noteTiers logs, once per topic, the assigned tier topics that
// --retry-tiers does not list: the retrier drains them too.
func (r *Retrier) noteTiers(assigned map[string][]int32) {
	r.mu.Lock()
	var added []string
	for t := range assigned {
		if _, ok := r.tierOf[t]; ok || r.extra[t] {
			continue
		}
		r.extra[t] = true
		added = append(added, t)
	}
	all := r.extraLocked()
	r.mu.Unlock()
	if len(added) == 0 {
		return
	}
	slices.Sort(added)
	for _, t := range added {
		tier := r.tierLabel(t)
		r.m.scheduled.WithLabelValues(tier)
		r.m.republished.WithLabelValues(tier)
		r.m.depth.WithLabelValues(tier)
	}
	r.log.Warn("draining tier topics that --retry-tiers does not list; each record is moved when due, as any other. Once sendonce_retrier_tier_depth of their tier is 0 and no sender uses the tier, they can be deleted",
		"topics", added, "all_extra", all, "retry_tiers", r.cfg.Topics.RetryTopics(r.cfg.Policy.Tiers))
}

// tierTopics are the configured tier topics and the extra ones seen.
func (r *Retrier) tierTopics() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append(r.cfg.Topics.RetryTopics(r.cfg.Policy.Tiers), r.extraLocked()...)
}

func (r *Retrier) extraLocked() []string {
	out := make([]string, 0, len(r.extra))
	for t := range r.extra {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}
