package demo

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/producer"
)

// counters sums the counter family name over every instance, by the value
// of label: what a dashboard would show summed over the pods.
func counters(g prometheus.Gatherer, name, label string) (map[string]float64, error) {
	fams, err := g.Gather()
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			out[labelValue(m, label)] += m.GetCounter().GetValue()
		}
	}
	return out, nil
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// counterValue reads one counter.
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}

// finalCounts reads the campaign's status as `producer status` does, and
// the components' metrics.
func finalCounts(ctx context.Context, w *world, campaign string, rep *Report) error {
	cl, err := kafka.NewClient(kafka.ClientConfig{Brokers: w.brokers, ClientID: "status"})
	if err != nil {
		return err
	}
	defer cl.Close()
	st, err := producer.Status(ctx, cl, w.topics, campaign)
	if err != nil {
		return fmt.Errorf("producer status: %w", err)
	}
	rep.Status = st
	rep.Sent, rep.Ambiguous, rep.Failed = int(st.Sent), int(st.Ambiguous), int(st.Failed)
	rep.DeadLettered, rep.Expired = int(st.DeadLettered), int(st.Expired)
	outcomes, err := counters(w.reg, "sendonce_sender_jobs_total", "outcome")
	if err != nil {
		return err
	}
	for k, v := range outcomes {
		rep.Outcomes[k] = int(v)
	}
	rep.Throttled = rep.Outcomes["throttled"]
	rep.SkippedDuplicate = rep.Outcomes["skipped_duplicate"]
	retried, err := counters(w.reg, "sendonce_retrier_republished_total", "tier")
	if err != nil {
		return err
	}
	for k, v := range retried {
		rep.Retried[k] = int(v)
	}
	return nil
}
