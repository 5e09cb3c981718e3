package demo

import (
	"context"
	"fmt"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/ledger"
	"github.com/sendonce/sendonce/pkg/producer"
	"github.com/sendonce/sendonce/pkg/sesfake"
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

// histogram sums the histogram family name over every instance: the
// number of observations, their sum, and the cumulative count at or below
// each upper bound.
func histogram(g prometheus.Gatherer, name string) (count uint64, sum float64, cumulative map[float64]uint64, err error) {
	fams, err := g.Gather()
	if err != nil {
		return 0, 0, nil, err
	}
	cumulative = map[float64]uint64{}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			h := m.GetHistogram()
			count += h.GetSampleCount()
			sum += h.GetSampleSum()
			for _, b := range h.GetBucket() {
				cumulative[b.GetUpperBound()] += b.GetCumulativeCount()
			}
		}
	}
	return count, sum, cumulative, nil
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

// batchCounts reads how the senders grouped users into SES calls.
func batchCounts(w *world, rep *Report) error {
	n, sum, cum, err := histogram(w.reg, "sendonce_sender_batch_size")
	if err != nil {
		return err
	}
	b := &rep.Batches
	b.Batches, b.Users = int(n), int(sum)
	var bounds []float64
	for ub := range cum {
		bounds = append(bounds, ub)
	}
	slices.Sort(bounds)
	below := 0.0
	var prev uint64
	for _, ub := range bounds {
		if c := cum[ub] - prev; c > 0 {
			label := fmt.Sprintf("%g-%g", below+1, ub)
			if ub == below+1 {
				label = fmt.Sprintf("%g", ub)
			}
			b.Sizes = append(b.Sizes, SizeCount{Size: label, Batches: int(c)})
		}
		below, prev = ub, cum[ub]
	}
	bulk, err := counters(w.reg, "sendonce_sender_bulk_calls_total", "")
	if err != nil {
		return err
	}
	b.BulkCalls = int(bulk[""])
	calls := w.ses.Calls()
	b.SESBulkAnswered, b.SESSendAccepted = calls[sesfake.OutcomeBulkAccepted], calls[sesfake.OutcomeAccepted]
	return nil
}

// settlementCounts reads what the reconciler did with SES's events and
// what the ledger says of the injected ambiguous sends.
func settlementCounts(w *world, wt *watcher, amb *ambiguity, rep *Report) error {
	rep.Injected = amb.Injected()
	users := injectedUsers(rep.Injected)
	st := wt.settlement(users)
	s := &rep.Settlement
	s.InjectedUsers = len(users)
	s.AmbiguousBefore = st.everAmbiguous
	for _, ic := range rep.Injected {
		for _, u := range ic.Users {
			at, ok := st.byEvent[u]
			if !ok || wt.latest(u) != ledger.Sent {
				s.Unsettled = append(s.Unsettled, u)
				continue
			}
			s.InjectedSettled++
			s.SlowestSettle = max(s.SlowestSettle, at.Sub(ic.At))
		}
	}
	ev, err := counters(w.reg, "sendonce_reconcile_events_total", "outcome")
	if err != nil {
		return err
	}
	s.EventOutcomes = map[string]int{}
	for k, v := range ev {
		if v > 0 {
			s.EventOutcomes[k] = int(v)
		}
	}
	dup, err := counters(w.reg, "sendonce_reconcile_duplicates_total", "")
	if err != nil {
		return err
	}
	s.DuplicateEmails = int(dup[""])
	ps := w.events.pub.Stats()
	s.EventsPublished = map[string]int{}
	for k, v := range ps.Published {
		s.EventsPublished[string(k)] = v
	}
	s.EventCopies, s.EventsLost = ps.Duplicates, int(w.events.dropped.Load())
	return nil
}
