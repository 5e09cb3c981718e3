package chaos

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/ledger"
	"github.com/sendonce/sendonce/pkg/producer"
	"github.com/sendonce/sendonce/pkg/testenv"
)

func bg() context.Context { return context.Background() }

// execute runs the whole campaign under faults and returns its report.
func (r *run) execute() *report {
	t := r.t
	r.setup()
	if err := r.startRetrier(); err != nil {
		t.Fatal(err)
	}
	for i := range numSenders {
		if err := r.startSender(i); err != nil {
			t.Fatal(err)
		}
	}
	if r.m.events { // after the senders: it refuses to start without the ledger topic they make
		if err := r.startReconcile(); err != nil {
			t.Fatal(err)
		}
	}
	r.logf("%d senders (--batch-size %d), the retrier and %s ready; %d users, %d rows", numSenders, r.m.batch,
		map[bool]string{true: "the reconciler (--resolve-after " + resolveAfter.String() + ")", false: "no reconciler"}[r.m.events],
		len(r.data.valid), r.data.rows)

	campaignStart := time.Now()
	rerun, out := r.publish()
	r.chaos()

	if err := rerun.wait(3 * time.Minute); err != nil {
		t.Fatalf("producer rerun: %v\n%s", err, tail(rerun.log, 30))
	}
	r.logf("producer rerun: %s; summary: %s", rerun.status(), oneLine(out.String()))
	if rerun.exitCode() != 0 {
		t.Errorf("the producer rerun must exit 0 once every valid row is published: %s\n%s\n%s", rerun.status(), out.String(), tail(rerun.log, 30))
	}

	// A safety net, not a timing assertion: 5 minutes plus the campaign
	// at 40% of the mode's planned rate (see plannedRate).
	deadline := time.Now().Add(5*time.Minute + time.Duration(float64(len(r.data.valid))/(0.4*float64(r.m.plannedRate)))*time.Second)
	st := r.waitComplete(deadline, int64(len(r.data.valid)))
	campaignTime := time.Since(campaignStart)
	r.logf("campaign complete per producer status: %+v", st)
	st = r.republish()

	stopErrs := r.stopAll()
	// Read again once nothing runs: the reconciler may have added facts
	// since, and the verdict compares status with the ledger.
	if final, err := r.status(); err != nil {
		t.Errorf("producer status after the services stopped: %v", err)
	} else {
		st = final
	}
	rep := r.verdict(st)
	rep.campaign = campaignTime
	rep.wall = time.Since(r.start)
	rep.stopErrors = stopErrs
	rep.producerSummary = out.String()
	return rep
}

// statusJSON is the contract of `producer status --json`.
type statusJSON struct {
	Campaign     string `json:"campaign"`
	Published    int64  `json:"published"`
	Sent         int64  `json:"sent"`
	Failed       int64  `json:"failed"`
	Retrying     int64  `json:"retrying"`
	DeadLettered int64  `json:"dead_lettered"`
	Expired      int64  `json:"expired"`
	Ambiguous    int64  `json:"ambiguous"`
	Pending      int64  `json:"pending"`
	Complete     bool   `json:"complete"`
	// Of sent, what SES's events said (sender reconcile).
	SettledByEvent int64 `json:"settled_by_event"`
	Delivered      int64 `json:"delivered"`
}

// status runs `producer status --campaign ID --json`, as an operator would.
func (r *run) status() (statusJSON, error) {
	ctx, cancel := context.WithTimeout(bg(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.bins.producer, "status", "--campaign", r.campaign, "--json")
	cmd.Env = r.env()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var st statusJSON
	if err != nil {
		return st, fmt.Errorf("producer status: %w: %s", err, stderr.String())
	}
	if err := json.Unmarshal(out, &st); err != nil {
		return st, fmt.Errorf("producer status --json printed %q: %w", out, err)
	}
	return st, nil
}

// waitComplete polls status until it says complete with published users,
// restarting crashed services meanwhile, then, with events, waits for
// the ambiguous users to be settled (see waitSettled). Past the deadline it
// fails the test with the last status.
func (r *run) waitComplete(deadline time.Time, published int64) statusJSON {
	var (
		st   statusJSON
		err  error
		last time.Time
	)
	for {
		r.watch()
		st, err = r.status()
		if err == nil && st.Complete && st.Published == published {
			return r.waitSettled(st)
		}
		if time.Since(last) > 30*time.Second {
			r.logf("waiting for completion: %+v (err %v); %.0f%% forwarded", st, err, 100*r.progress())
			last = time.Now()
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("the campaign did not complete by the deadline; last status %+v, error %v", st, err)
		}
		time.Sleep(2 * time.Second)
	}
}

// settleWait is how long after completion the ambiguous users of a mode
// with events may take to settle: the window, the longest retry tier
// twice, and the time to send and record.
const settleWait = resolveAfter + 2*8*time.Second + time.Minute

// waitSettled waits, with events, until status counts no ambiguous user:
// ambiguous is terminal for status (it means "not yet settled"), so a
// campaign is complete while SES's events, or the senders after
// --resolve-after, still settle users. Past settleWait it returns the last
// status: the verdict then names every user left unsettled.
func (r *run) waitSettled(st statusJSON) statusJSON {
	if !r.m.events || st.Ambiguous == 0 {
		return st
	}
	r.logf("complete with %d users ambiguous: waiting up to %s for them to be settled", st.Ambiguous, settleWait)
	deadline := time.Now().Add(settleWait)
	for time.Now().Before(deadline) {
		time.Sleep(2 * time.Second)
		r.watch()
		next, err := r.status()
		if err != nil {
			continue
		}
		st = next
		if st.Complete && st.Ambiguous == 0 {
			r.logf("every ambiguous user settled: %+v", st)
			return st
		}
	}
	r.logf("UNSETTLED after %s: %+v", settleWait, st)
	return st
}

// stopAll stops the senders, the retrier and the reconciler with SIGTERM,
// as a deployment is scaled down, and returns what went wrong (a service must drain and
// exit 0).
func (r *run) stopAll() []string {
	all := append(append([]*proc{}, r.senders[:]...), r.retrier)
	if r.reconcile != nil {
		all = append(all, r.reconcile)
	}
	var (
		mu   sync.Mutex
		errs []string
		wg   sync.WaitGroup
	)
	for _, p := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := p.stop(syscall.SIGTERM, drainTimeout+20*time.Second)
			if err == nil && p.exitCode() != 0 {
				err = fmt.Errorf("%s ended with %s after SIGTERM, want exit 0", p.name, p.status())
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, err.Error()+"\n"+tail(p.log, 20))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errs
}

// readLedger reads every ledger entry of the campaign, per user in the
// order they were written (a user's entries share a key, so a partition;
// the ledger is compacted only after a week).
func (r *run) readLedger() map[string][]ledger.Entry {
	ctx, cancel := context.WithTimeout(bg(), 2*time.Minute)
	defer cancel()
	out := map[string][]ledger.Entry{}
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.broker.addr()))
	if err != nil {
		r.t.Fatalf("reading the ledger: %v", err)
	}
	defer cl.Close()
	err = kafka.ReadToEnd(ctx, cl, []string{kafka.Topics{Prefix: r.prefix}.Ledger()}, func(rec *kgo.Record) error {
		if rec.Value == nil {
			return nil
		}
		e, err := ledger.Decode(rec.Value)
		if err != nil {
			return err
		}
		if e.Campaign == r.campaign {
			out[e.UserID] = append(out[e.UserID], e)
		}
		return nil
	})
	if err != nil {
		r.t.Fatalf("reading the ledger: %v", err)
	}
	return out
}

// readRejects counts the producer's rejects report by reason.
func (r *run) readRejects() map[producer.Reason]int {
	f, err := os.Open(filepath.Join(r.dir, "rejects.jsonl"))
	if err != nil {
		r.t.Errorf("the producer wrote no rejects file: %v", err)
		return nil
	}
	defer f.Close()
	out := map[producer.Reason]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var rj producer.Reject
		if err := json.Unmarshal(sc.Bytes(), &rj); err != nil {
			r.t.Errorf("rejects file line %q: %v", sc.Text(), err)
			continue
		}
		out[rj.Reason]++
	}
	return out
}

// ambiguousUser is a user the system reported ambiguous.
type ambiguousUser struct {
	id, reason string
	delivered  bool
}

// verdict judges every user by the emulator's store, and reads the ledger
// only to see what was reported.
func (r *run) verdict(st statusJSON) *report {
	emails, err := testenv.SESStore(bg(), r.ses.url())
	if err != nil {
		r.t.Fatal(err)
	}
	counts := testenv.RecipientCounts(emails, "@"+r.data.domain)
	hist := r.readLedger()
	led := make(map[string]ledger.Entry, len(hist))
	for id, h := range hist {
		led[id] = h[len(h)-1]
	}
	d := r.data

	rep := &report{
		planned: r.planned, fired: r.fired, republished: r.republished,
		mode: r.m.name, users: len(d.valid), rows: d.rows, rejectedRecipients: len(d.rejected),
		invalidRows: d.rejects() - d.duplicates, duplicateRows: d.duplicates,
		restarts: r.restarts, faults: r.proxy.Stats(), accepted: len(emails), recipients: len(counts),
		status: st, crashes: r.crashes, startFails: r.startFails, events: r.events,
		sig: sigName(r.m.sig), batch: r.m.batch, rateCap: r.m.rateCap, withEvents: r.m.events,
	}
	if r.ev != nil {
		rep.published = r.ev.pub.Stats()
	}
	perSecond := map[int64]int{}
	var first, last int64
	for i, e := range emails {
		perSecond[e.At]++
		if i == 0 || e.At < first {
			first = e.At
		}
		last = max(last, e.At)
	}
	for _, n := range perSecond {
		rep.peakAccepted = max(rep.peakAccepted, n)
	}
	if last > first {
		rep.meanAccepted = float64(len(emails)) / float64(last-first+1)
	}

	owner := map[string]string{}
	for id, addr := range d.valid {
		owner[addr] = id
	}
	for addr, n := range counts {
		if id, ok := owner[addr]; !ok || d.rejected[id] {
			rep.unexpected = append(rep.unexpected, fmt.Sprintf("%s (%d emails)", addr, n))
		}
	}
	ledAmbiguous, ledByEvent := 0, 0
	for _, e := range led {
		switch {
		case e.State == ledger.Ambiguous:
			ledAmbiguous++
		case e.State == ledger.Sent && e.Reason == ledger.ReasonSettledByEvent:
			ledByEvent++
		}
	}
	for id, addr := range d.valid {
		e, inLedger := led[id]
		state := string(e.State)
		if !inLedger {
			state = "no ledger entry"
		}
		n := counts[addr]
		// Every user in doubt at some point, rejected recipients too,
		// counted once whatever the size of the call it went in.
		rep.settle.add(id, settle(hist[id]), n)
		if d.rejected[id] {
			switch {
			case n == 0 && (e.State == ledger.Failed || e.State == ledger.DeadLettered):
				rep.rejectedOK++
			case n == 0 && e.State == ledger.Ambiguous && r.m.hard() && !r.m.events:
				// Its sender was killed while the request was on the
				// wire: nobody saw SES's refusal. Honest, and bounded
				// with the other ambiguous users. With events it must
				// be declared not sent after --resolve-after, sent
				// again and refused: failed.
				rep.ambiguous = append(rep.ambiguous, ambiguousUser{id: id, reason: e.Reason})
			default:
				rep.rejectedBad = append(rep.rejectedBad, fmt.Sprintf("%s: %d emails, ledger %s", id, n, state))
			}
			continue
		}
		switch {
		case n > 1:
			rep.duplicates = append(rep.duplicates, fmt.Sprintf("%s: %d emails, ledger %s", id, n, state))
		case e.State == ledger.Ambiguous:
			rep.ambiguous = append(rep.ambiguous, ambiguousUser{id: id, reason: e.Reason, delivered: n == 1})
		case n == 0:
			rep.lost = append(rep.lost, fmt.Sprintf("%s: no email, ledger %s %s", id, state, e.Reason))
		case e.State != ledger.Sent:
			rep.ledgerMismatch = append(rep.ledgerMismatch, fmt.Sprintf("%s: delivered, ledger %s %s", id, state, e.Reason))
		}
	}
	sort.Strings(rep.duplicates)
	sort.Strings(rep.lost)
	sort.Strings(rep.rejectedBad)
	sort.Strings(rep.unexpected)
	sort.Strings(rep.ledgerMismatch)
	sort.Slice(rep.ambiguous, func(i, j int) bool { return rep.ambiguous[i].id < rep.ambiguous[j].id })
	rep.settle.finish()

	if st.Published != int64(len(d.valid)) {
		rep.statusBad = append(rep.statusBad, fmt.Sprintf("status published %d, the file has %d valid users", st.Published, len(d.valid)))
	}
	if st.Ambiguous != int64(ledAmbiguous) {
		rep.statusBad = append(rep.statusBad, fmt.Sprintf("status ambiguous %d, the ledger has %d", st.Ambiguous, ledAmbiguous))
	}
	if st.SettledByEvent != int64(ledByEvent) {
		rep.statusBad = append(rep.statusBad, fmt.Sprintf("status settled_by_event %d, the ledger has %d", st.SettledByEvent, ledByEvent))
	}

	got := r.readRejects()
	want := map[producer.Reason]int{producer.ReasonDuplicateUser: d.duplicates}
	for reason, n := range d.invalid {
		want[reason] += n
	}
	for _, reason := range producer.Reasons {
		if got[reason] != want[reason] {
			rep.rejectsBad = append(rep.rejectsBad, fmt.Sprintf("%s: reported %d, want %d", reason, got[reason], want[reason]))
		}
		rep.rejectsReported += got[reason]
	}
	return rep
}

// republish publishes the campaign again from a different file, as an
// operator re-running it on an updated query would: the second half of its
// users (a subset: they are settled and must get nothing more) and new
// users (a superset: each must get one email). It waits until status counts
// the union as published and complete.
func (r *run) republish() statusJSON {
	t := r.t
	d := r.data
	ids := make([]string, 0, len(d.valid))
	for id := range d.valid {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"user_id", "email", "name", "kwh"})
	for _, id := range ids[len(ids)/2:] {
		_ = w.Write([]string{id, d.valid[id], "Again", "1.0"})
	}
	extra := max(10, len(ids)/10)
	for i := range extra {
		id := fmt.Sprintf("n%07d", i)
		d.valid[id] = id + "@" + d.domain
		_ = w.Write([]string{id, d.valid[id], "New", "2.0"})
	}
	w.Flush()
	path := filepath.Join(r.dir, "users-again.csv")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out := &bytes.Buffer{}
	p, err := r.ps.start(r.logs, "producer-again", r.env(), out, r.bins.producer, "publish", "--campaign", r.campaign,
		"--source", "csv:"+path, "--template", r.template, "--from", "reports@"+d.domain, "--configuration-set", r.configSet,
		"--partitions", strconv.Itoa(partitions), "--retry-tiers", retryTiers)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.wait(3 * time.Minute); err != nil || p.exitCode() != 0 {
		t.Fatalf("re-publishing from a second file: %v (%s)\n%s\n%s", err, p.status(), out.String(), tail(p.log, 30))
	}
	r.republished = extra
	r.logf("re-published the campaign from a second file: %d settled users again and %d new; summary: %s", len(ids)-len(ids)/2, extra, oneLine(out.String()))
	st := r.waitComplete(time.Now().Add(3*time.Minute+time.Duration(float64(extra)/(0.4*float64(r.m.plannedRate)))*time.Second), int64(len(d.valid)))
	r.logf("complete again: %+v", st)
	return st
}
