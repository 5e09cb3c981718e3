// Package kafka builds franz-go clients the way every sendonce binary wants
// them (slog logging, kprom metrics), names the topics, and creates or checks
// them with kadm.
package kafka
