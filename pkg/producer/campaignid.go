package producer

import (
	"fmt"
	"time"
)

// CampaignFromDate makes a campaign id from t's UTC date with a Go time
// layout (--campaign-from-date): "2006-01" gives 2026-11 in November 2026,
// "usage-2006-01" gives usage-2026-11. A monthly CronJob publishes each
// month's campaign without anyone editing its arguments. The layout must
// contain a date element, and the id it makes must be a valid campaign id.
func CampaignFromDate(layout string, t time.Time) (string, error) {
	id := t.UTC().Format(layout)
	if id == layout || id == t.UTC().Add(400*24*time.Hour).Format(layout) {
		return "", fmt.Errorf("--campaign-from-date %q has no date element in it: use a Go time layout such as 2006-01 (year-month) or usage-2006-01-02", layout)
	}
	if err := ValidateCampaignID(id); err != nil {
		return "", fmt.Errorf("--campaign-from-date %q makes %q: %w", layout, id, err)
	}
	return id, nil
}
