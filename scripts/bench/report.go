package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// results are everything a run measured.
type results struct {
	Machine   machine
	Publish   *publishResult
	Athena    *athenaResult
	E2E       []e2eResult
	Seq       *seqResult
	Raw       []rawResult
	Rate      *rateResult
	Memory    *memoryResult
	Profile   *profileResult
	Micro     []microLine
	MicroPath string
	Errors    []string
	Wall      time.Duration
}

// row is one line of the summary: a measured value against a target.
type row struct{ metric, value, target, verdict string }

func us(d time.Duration) string { return fmt.Sprintf("%.1f µs", float64(d.Nanoseconds())/1e3) }

// verdict is a row's PASS or MISS (with by how much), from the measured
// value: never written by hand.
func verdict(ok bool, miss string) string {
	if ok {
		return "PASS"
	}
	return strings.TrimSpace("MISS " + miss)
}

// The targets of issue 14 for the batched path (make bench, 2 senders,
// 20 ms fake SES).
const (
	targetCPU         = 60 * time.Microsecond // sendonce processes, per email
	targetRedisCPU    = 25 * time.Microsecond // INFO CPU, per email
	targetRate        = 10_000.0              // emails/s with 2 senders
	targetRateSender  = 2
	targetVsSendEmail = 1.5 // × the bare concurrent SendEmail client
)

func pctOver(got, want float64) string  { return "(+" + pct(100*(got/want-1)) + ")" }
func pctUnder(got, want float64) string { return "(-" + pct(100*(1-got/want)) + ")" }

// pct prints a percentage with a decimal when it is small, so that a
// narrow miss does not read "+0%".
func pct(p float64) string {
	if p < 10 {
		return fmt.Sprintf("%.1f%%", p)
	}
	return fmt.Sprintf("%.0f%%", p)
}

// rawFor is the bare client of the run: SendEmail at total concurrency
// conc, or (bulk) the SendBulkEmail one.
func (r results) rawFor(bulk bool, conc int) *rawResult {
	for i := range r.Raw {
		x := &r.Raw[i]
		if bulk && x.Bulk > 0 || !bulk && x.Bulk == 0 && x.Concurrency == conc {
			return x
		}
	}
	return nil
}

// pathName says which send path an end-to-end run took.
func (e e2eResult) pathName() string {
	if e.Batch > 1 {
		return fmt.Sprintf("batch %d", e.Batch)
	}
	return "batch 1 (SendEmail per user)"
}

func (b *bench) rows() []row {
	r := b.res
	var rows []row
	if p := r.Publish; p != nil {
		rows = append(rows,
			row{fmt.Sprintf("publish %d jobs (CSV → Kafka): wall", p.Users), fmt.Sprintf("%.2f s (%.0f jobs/s)", p.Use.Wall.Seconds(), p.JobsPerSec), "1M in < 10 s",
				verdict(p.JobsPerSec >= 100_000, fmt.Sprintf("(%.0f%% of 100k jobs/s)", 100*p.JobsPerSec/100_000))},
			row{"publish: producer peak RSS", mib(p.Use.MaxRSS), "< 256 MiB", verdict(p.Use.MaxRSS < 256<<20, fmt.Sprintf("(%.0f%% over)", 100*(float64(p.Use.MaxRSS)/(256<<20)-1)))},
			row{"publish: producer CPU per job", us(p.Use.CPU / time.Duration(max(p.Users, 1))), "", ""},
		)
	}
	rows = append(rows, b.athenaRows()...)
	var best *e2eResult
	for i := range r.E2E {
		e := &r.E2E[i]
		tag := fmt.Sprintf("e2e %d sender(s), %s, %d calls in flight each", e.Senders, e.pathName(), e.Concurrency)
		batched := e.Batch > 1
		// The targets are the batched path's; the per-user path is shown
		// against them for comparison, without a verdict.
		tgt := func(target string, ok bool, miss string) (string, string) {
			if !batched {
				return "(" + target + " is for batches)", ""
			}
			return target, verdict(ok, miss)
		}
		cpu, redisCPU := e.perEmail(e.sendonceCPU()), e.perEmail(e.Win.Redis)
		var t, v string
		if e.Senders == targetRateSender || !batched {
			t, v = tgt("≥ 10,000", e.Stats.Avg >= targetRate, pctUnder(e.Stats.Avg, targetRate))
		} else {
			t = fmt.Sprintf("(≥ 10,000 with %d senders)", targetRateSender)
		}
		rows = append(rows, row{tag + ": emails/s (first→last acceptance)", fmt.Sprintf("%.0f", e.Stats.Avg), t, v})
		t, v = tgt("≤ 60 µs", cpu <= targetCPU, pctOver(float64(cpu), float64(targetCPU)))
		rows = append(rows, row{tag + ": CPU per email, sendonce processes", us(cpu), t, v},
			row{tag + ":   of which senders / producer / retrier", fmt.Sprintf("%s / %s / %s", us(e.perEmail(e.sendersCPU())), us(e.perEmail(e.Publish.CPU)), us(e.perEmail(e.Retrier.CPU))), "", ""},
			row{tag + ":   senders while sending (start-up and drain left out)", us(e.perEmail(e.SendersBusy)), "", ""})
		t, v = tgt("≤ 25 µs", redisCPU <= targetRedisCPU, pctOver(float64(redisCPU), float64(targetRedisCPU)))
		rows = append(rows, row{tag + ": Redis CPU per email (INFO used_cpu_sys+user)", us(redisCPU), t, v},
			row{tag + ": CPU per email, Kafka / fake SES", fmt.Sprintf("%s / %s", us(e.perEmail(e.Win.Kafka)), us(e.perEmail(e.Win.Bench))), "(reported apart)", ""})
		if raw := r.rawFor(false, e.Senders*b.o.concurrency); raw != nil && raw.Stats.Avg > 0 {
			x := e.Stats.Avg / raw.Stats.Avg
			t, v = tgt("≥ 1.5×", x >= targetVsSendEmail, pctUnder(x, targetVsSendEmail))
			rows = append(rows, row{fmt.Sprintf("%s: ÷ bare SendEmail client × %d (%.0f/s)", tag, raw.Concurrency, raw.Stats.Avg), fmt.Sprintf("%.2f×", x), t, v})
		}
		if raw := r.rawFor(true, 0); raw != nil && raw.Stats.Avg > 0 && batched {
			rows = append(rows, row{fmt.Sprintf("%s: ÷ bare SendBulkEmail client × %d (%.0f/s, the ceiling)", tag, raw.Concurrency, raw.Stats.Avg), fmt.Sprintf("%.2f×", e.Stats.Avg/raw.Stats.Avg), "", ""})
		}
		rows = append(rows,
			row{tag + ": peak RSS per sender", mib(e.peakSenderRSS()), "", ""},
			row{tag + ": duplicates / missing at the fake", fmt.Sprintf("%d / %d", e.Duplicates, e.Users-min(e.Accepted, e.Users)), "0 / 0", verdict(e.Duplicates == 0 && e.Accepted >= e.Users, "")},
		)
		if best == nil || e.Stats.Avg > best.Stats.Avg {
			best = e
		}
	}
	if m := r.Memory; m != nil {
		rows = append(rows, row{fmt.Sprintf("Redis memory per fenced (sent) user, private Redis, %d users, default layout", m.Users), fmt.Sprintf("%.1f B (MEMORY USAGE of the buckets: %.1f B)", m.PerUser, m.Sampled), "≤ 150 B", verdict(m.PerUser <= 150, pctOver(m.PerUser, 150))})
		for _, l := range m.Layouts[min(1, len(m.Layouts)):] {
			rows = append(rows, row{fmt.Sprintf("  the same in layout %s (%d buckets, %d listpack: too few buckets)", l.Layout, l.Buckets, l.Listpack), fmt.Sprintf("%.1f B", l.PerUser), "", ""})
		}
	}
	if best != nil {
		per := float64(best.Win.RedisMem) / float64(max(best.Users, 1))
		rows = append(rows, row{"Redis memory per fenced user in the fastest e2e run (Δ used_memory)", fmt.Sprintf("%.0f B (fake SES ids are shorter than real ones)", per), "", ""})
	}
	for _, raw := range r.Raw {
		rows = append(rows, row{fmt.Sprintf("bare %s client × %d, no Kafka/Redis: emails/s", raw.api(), raw.Concurrency), fmt.Sprintf("%.0f (client CPU %s/email)", raw.Stats.Avg, us(raw.Client.CPU/time.Duration(max(raw.Users, 1)))), "", ""})
	}
	if s := r.Seq; s != nil {
		rows = append(rows, row{fmt.Sprintf("sequential SendEmail loop (%d users, extrapolated)", s.Users), fmt.Sprintf("%.1f emails/s (200k users: %s)", s.Rate, (time.Duration(200_000/s.Rate) * time.Second).Round(time.Minute)), "", ""})
		if best != nil {
			x := best.Stats.Avg / s.Rate
			rows = append(rows, row{"pipeline speed-up over the sequential loop", fmt.Sprintf("%.0f×", x), "≥ 100×", verdict(x >= 100, "")})
		}
	}
	if best != nil {
		rows = append(rows, row{"peer: listmonk v6.2.0 over SMTP (issue 8)", "99/s default, 9,000–12,000/s tuned, ~100 µs CPU/email", "", fmt.Sprintf("%.0f/s here", best.Stats.Avg)})
	}
	if q := r.Rate; q != nil {
		avgPct := 100 * q.Stats.Avg / q.Cap
		winPct := 100 * float64(q.Stats.MaxWindow) / q.Cap
		rows = append(rows,
			row{fmt.Sprintf("rate: %d senders sharing %g/s, %d jobs, batch %d: average", q.Senders, q.Cap, q.Jobs, max(q.Batch, 1)), fmt.Sprintf("%.1f/s (%.1f%%)", q.Stats.Avg, avgPct), "≥ 95%", verdict(avgPct >= 95, "")},
			row{fmt.Sprintf("rate, batch %d: busiest 1 s window (every call)", max(q.Batch, 1)), fmt.Sprintf("%d (%.1f%%)", q.Stats.MaxWindow, winPct), "≤ 105%", verdict(winPct <= 105, "")},
			row{fmt.Sprintf("rate, batch %d: throttles received", max(q.Batch, 1)), fmt.Sprint(q.Throttles), "0", verdict(q.Throttles == 0, "")},
		)
		rows = append(rows, q.extraRows()...)
	}
	return rows
}

func table(rows []row) string {
	w := [4]int{len("metric"), len("result"), len("target"), len("verdict")}
	for _, r := range rows {
		for i, c := range []string{r.metric, r.value, r.target, r.verdict} {
			w[i] = max(w[i], len([]rune(c)))
		}
	}
	var sb strings.Builder
	line := func(c [4]string) {
		for i := range c {
			sb.WriteString(c[i] + strings.Repeat(" ", w[i]-len([]rune(c[i]))))
			if i < 3 {
				sb.WriteString("  ")
			}
		}
		sb.WriteString("\n")
	}
	line([4]string{"metric", "result", "target", "verdict"})
	line([4]string{strings.Repeat("-", w[0]), strings.Repeat("-", w[1]), strings.Repeat("-", w[2]), strings.Repeat("-", w[3])})
	for _, r := range rows {
		line([4]string{r.metric, r.value, r.target, r.verdict})
	}
	return sb.String()
}

func mdTable(head []string, rows [][]string) string {
	var sb strings.Builder
	sb.WriteString("| " + strings.Join(head, " | ") + " |\n|")
	for range head {
		sb.WriteString(" --- |")
	}
	sb.WriteString("\n")
	for _, r := range rows {
		sb.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	return sb.String()
}

func (b *bench) markdown() string {
	r := b.res
	m := r.Machine
	var sb strings.Builder
	fmt.Fprintf(&sb, "Generated by `make bench` on %s (run %s, commit %s, %s).\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"), b.runID, m.Commit, r.Wall.Round(time.Second))
	fmt.Fprintf(&sb, "Machine: %d CPUs (%s), %.1f GiB RAM, Linux %s, %s, Kafka %s, Redis %s (%s); load average at the start %s. Everything (Kafka, Redis, the fake SES, every sendonce process) runs on this one machine.\n\n",
		m.CPUs, m.CPUModel, m.MemGiB, m.Kernel, m.Go, m.Kafka, m.Redis, m.RedisUse, m.Load)
	var rows [][]string
	for _, x := range b.rows() {
		rows = append(rows, []string{x.metric, x.value, x.target, x.verdict})
	}
	sb.WriteString(mdTable([]string{"metric", "result", "target", "verdict"}, rows))
	if len(r.E2E) > 0 || r.Profile != nil {
		sb.WriteString("\nEnd-to-end runs in detail (CPU is user+system; Kafka (/proc), Redis (INFO CPU) and the bench process — the fake SES — are measured over the same window; \"other\" is the rest of the machine, e.g. other work on the box):\n\n")
		var er [][]string
		all := append([]e2eResult{}, r.E2E...)
		if r.Profile != nil {
			all = append(all, r.Profile.Run)
		}
		for i, e := range all {
			name := fmt.Sprintf("%d × %d, %s", e.Senders, e.Concurrency, e.pathName())
			if r.Profile != nil && i == len(all)-1 {
				name += " (profiled)"
			}
			other := e.Win.Busy - e.sendonceCPU() - e.Win.Kafka - e.Win.Redis - e.Win.Bench
			er = append(er, []string{
				name, fmt.Sprint(e.Users), fmt.Sprintf("%.0f", e.Stats.Avg), fmt.Sprintf("%.1f s", e.Total.Seconds()),
				us(e.perEmail(e.sendersCPU())), us(e.perEmail(e.Publish.CPU)), us(e.perEmail(e.Retrier.CPU)),
				us(e.perEmail(e.Win.Kafka)), us(e.perEmail(e.Win.Redis)), us(e.perEmail(e.Win.Bench)), us(e.perEmail(max(other, 0))),
				mib(e.peakSenderRSS()), fmt.Sprintf("%.0f / %.0f", float64(e.Win.RedisMem)/float64(max(e.Users, 1)), e.RedisSampled),
				fmt.Sprintf("%.0f", e.Outcomes["sent"]), fmt.Sprint(e.Duplicates),
			})
		}
		sb.WriteString(mdTable([]string{"senders × calls in flight, path", "users", "emails/s", "publish start → last email", "senders CPU/email", "producer", "retrier", "Kafka", "Redis", "fake SES", "other", "peak RSS/sender", "Redis B/user (Δ used_memory / MEMORY USAGE)", "sent (metrics)", "duplicates"}, er))
		for _, e := range all {
			if len(e.TopicBytes) == 0 {
				continue
			}
			names := make([]string, 0, len(e.TopicBytes))
			for n := range e.TopicBytes {
				names = append(names, n)
			}
			sort.Strings(names)
			var parts []string
			for _, n := range names {
				if e.TopicBytes[n] > 0 {
					parts = append(parts, fmt.Sprintf("%s %.0f B", n, float64(e.TopicBytes[n])/float64(max(e.Users, 1))))
				}
			}
			fmt.Fprintf(&sb, "\nKafka on disk per user at the end of the %d × %d, %s run (log segments as the clients wrote them, compressed): %s.\n", e.Senders, e.Concurrency, e.pathName(), strings.Join(parts, ", "))
		}
		for _, e := range all {
			var parts []string
			for _, c := range e.Win.RedisCmds[:min(6, len(e.Win.RedisCmds))] {
				parts = append(parts, fmt.Sprintf("%s %d calls, %.1f µs/call, %.2f µs/email", c.Name, c.Calls, float64(c.Usec)/float64(c.Calls), float64(c.Usec)/float64(max(e.Accepted, 1))))
			}
			if len(parts) > 0 {
				fmt.Fprintf(&sb, "\nRedis's own time by command in the %d × %d, %s run (INFO commandstats; the commands a script runs are counted in its EVALSHA too): %s.\n", e.Senders, e.Concurrency, e.pathName(), strings.Join(parts, "; "))
			}
		}
	}
	if p := r.Publish; p != nil {
		fmt.Fprintf(&sb, "\nPublish: %d users, CSV %.0f MiB, wall %.2f s, producer CPU %.2f s (user %.2f, sys %.2f), peak RSS %s; Kafka used %.2f s CPU meanwhile; %d records in the jobs topic.\n",
			p.Users, float64(p.CSVBytes)/(1<<20), p.Use.Wall.Seconds(), p.Use.CPU.Seconds(), p.Use.User.Seconds(), p.Use.Sys.Seconds(), mib(p.Use.MaxRSS), p.Win.Kafka.Seconds(), p.InTopic)
	}
	b.athenaDetail(&sb)
	if q := r.Rate; q != nil {
		for _, x := range []*rateResult{q, q.Bulk} {
			if x == nil {
				continue
			}
			fmt.Fprintf(&sb, "\nRate precision, batch %d: %d senders, `--max-send-rate %g`, %d jobs; the fake SES records every email and throttles above %d in any trailing second. %d emails over %.1f s; average %.1f/s; busiest 1 s window %d, starting %.1f s after the first email; quietest whole second (first and last excluded) %d; throttles %d; duplicates %d. Emails per 100 ms: `%s`.\n",
				max(x.Batch, 1), x.Senders, x.Cap, x.Jobs, x.Limit, x.Stats.N, x.Stats.Span.Seconds(), x.Stats.Avg, x.Stats.MaxWindow, x.Stats.MaxAt.Seconds(), x.Stats.MinSteady, x.Throttles, x.Duplicates, x.Timeline)
		}
		sb.WriteString(q.extraDetail())
	}
	if m := r.Memory; m != nil {
		fmt.Fprintf(&sb, "\nFence memory (scripts/bench/memory.go): a private redis-server %s (no persistence, nothing else on it), %d sent users through ClaimBatch → ArmBatch → MarkBatch in batches of 50 of one shard, with real-shaped 60-character SES message ids, default prefix (bucket keys of %d bytes like `sendonce:f:{%s:11}:63`):",
			m.Version, m.Users, m.KeyBytes, campaignID)
		for _, l := range m.Layouts {
			fmt.Fprintf(&sb, " layout %s: used_memory grew by %.1f B per user, MEMORY USAGE of the buckets %.1f B per user, %d buckets (%d listpack);", l.Layout, l.PerUser, l.Sampled, l.Buckets, l.Listpack)
		}
		sb.WriteString(" MEMORY USAGE leaves out the keys' entries in the main and expires hash tables.\n")
	}
	if len(r.Micro) > 0 {
		fmt.Fprintf(&sb, "\nGo micro-benchmarks (median over -count %d; raw output, benchstat-ready, in `%s`; the fence and limiter ones make real Redis round trips, the sesfake ones run client and fake SES in one process):\n\n", r.Micro[0].Runs, r.MicroPath)
		var mr [][]string
		for _, x := range r.Micro {
			mr = append(mr, []string{x.Name, fmt.Sprintf("%.0f", x.NsOp), fmt.Sprintf("%.0f", x.BOp), fmt.Sprintf("%.0f", x.Allocs), x.Extra})
		}
		sb.WriteString(mdTable([]string{"benchmark", "ns/op", "B/op", "allocs/op", "other"}, mr))
	}
	if p := r.Profile; p != nil {
		per := func(d time.Duration) string {
			return us(d / time.Duration(max(p.Run.Accepted, 1)))
		}
		fmt.Fprintf(&sb, "\nCPU profile of one sender on the batched path (%d users, batch %d, %d calls in flight, %.0f emails/s while profiled; `%s`), split by what the samples were doing (pprof -focus; µs per email are profile samples / emails):\n\n", p.Run.Users, p.Run.Batch, p.Run.Concurrency, p.Run.Stats.Avg, p.Profile)
		var br [][]string
		for _, x := range p.Breakdown {
			br = append(br, []string{x.Name, fmt.Sprintf("%.2f s", x.Cum.Seconds()), fmt.Sprintf("%.1f%%", x.Pct), per(x.Cum)})
		}
		sb.WriteString(mdTable([]string{"part", "samples", "share", "per email"}, br))
		fmt.Fprintf(&sb, "\nTop functions by flat time (`go tool pprof -top`):\n\n```\n%s\n```\n", topLines(p.Top, 25))
		if p.Raw != nil {
			fmt.Fprintf(&sb, "\nThe bare %s client alone (%d emails, %d calls in flight, %.0f emails/s, %s CPU per email; `%s`):\n\n```\n%s\n```\n",
				p.Raw.api(), p.Raw.Users, p.Raw.Concurrency, p.Raw.Stats.Avg, us(p.Raw.Client.CPU/time.Duration(max(p.Raw.Users, 1))), p.RawProfile, topLines(p.RawTop, 20))
		}
	}
	if len(r.Errors) > 0 {
		sb.WriteString("\nPhases that failed in this run:\n\n")
		for _, e := range r.Errors {
			fmt.Fprintf(&sb, "- %s\n", strings.SplitN(e, "\n", 2)[0])
		}
	}
	sb.WriteString("\nCommands (every sendonce process gets `KAFKA_BROKERS`, `REDIS_URL`, `SENDONCE_TOPIC_PREFIX=<fresh prefix>`, `AWS_ENDPOINT_URL_SESV2=<fake SES>`, `AWS_REGION=us-east-1` and dummy keys):\n\n```\n")
	sb.WriteString(strings.Join(b.commands(), "\n"))
	sb.WriteString("\n```\n")
	return sb.String()
}

func (b *bench) commands() []string {
	o := b.o
	flags := strings.Join(os.Args[1:], " ")
	c := []string{
		"make bench" + map[bool]string{true: ` BENCH_FLAGS="` + flags + `"`, false: ""}[flags != ""] + "   # = make build; scripts/services.sh up; go run ./scripts/bench",
		fmt.Sprintf("bin/producer publish --campaign %s --source csv:.cache/bench/users-N.csv --template %s --from %s --partitions %d", campaignID, templateName, fromAddr, o.partitions),
		fmt.Sprintf("bin/sender run %s        # end to end, batched path, %s processes", strings.Join(senderRunArgs(o.batchConc, 50, o.maxRate, o.partitions), " "), o.senders),
		fmt.Sprintf("bin/sender run %s        # end to end, per-user path, %s processes", strings.Join(senderRunArgs(o.concurrency, 1, o.maxRate, o.partitions), " "), o.senders),
		"bin/retrier run",
		fmt.Sprintf("bin/sender run --max-send-rate %g --partitions %d --retry-tiers %s --batch-size 1|50   # rate precision, %d processes", o.rateCap, o.partitions, rateRetryTiers, o.rateSenders),
		fmt.Sprintf("bench raw --concurrency <senders × %d> | --bulk 50 --concurrency <senders × %d>   # bare SendEmail / SendBulkEmail clients", o.concurrency, o.batchConc),
		fmt.Sprintf("bin/retrier run --retry-tiers %s --partitions %d", rateRetryTiers, o.partitions),
		strings.Join(b.microCommand(), " "),
	}
	return c
}

const (
	beginMarker = "<!-- BEGIN GENERATED BY make bench: do not edit by hand -->"
	endMarker   = "<!-- END GENERATED BY make bench -->"
)

// report prints the summary and writes the results files.
func (b *bench) report() error {
	fmt.Println()
	fmt.Printf("sendonce benchmark, run %s — %s\n\n", b.runID, b.res.Machine.oneLine())
	fmt.Print(table(b.rows()))
	if p := b.res.Profile; p != nil {
		fmt.Printf("\nsender CPU profile (%s), by part:\n", p.Profile)
		for _, x := range p.Breakdown {
			fmt.Printf("  %-58s %7.2fs %5.1f%%  %s/email\n", x.Name, x.Cum.Seconds(), x.Pct, us(x.Cum/time.Duration(max(p.Run.Accepted, 1))))
		}
		fmt.Printf("\n%s\n", topLines(p.Top, 15))
	}
	for _, e := range b.res.Errors {
		fmt.Printf("\nFAILED %s\n", e)
	}
	md := b.markdown()
	path := filepath.Join(b.o.out, "results-"+b.runID+".md")
	if err := os.WriteFile(path, []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Printf("\nresults: %s\n", path)
	if b.o.doc == "" {
		return nil
	}
	if err := spliceDoc(b.o.doc, md); err != nil {
		return err
	}
	fmt.Printf("updated: %s\n", b.o.doc)
	return nil
}

// spliceDoc replaces the generated section of doc (or appends one).
func spliceDoc(doc, md string) error {
	old, err := os.ReadFile(doc)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	section := beginMarker + "\n" + md + endMarker
	s := string(old)
	i, j := strings.Index(s, beginMarker), strings.Index(s, endMarker)
	switch {
	case i >= 0 && j > i:
		s = s[:i] + section + s[j+len(endMarker):]
	case len(s) == 0:
		s = "# Benchmarks\n\n" + section + "\n"
	default:
		s = strings.TrimRight(s, "\n") + "\n\n## Latest results\n\n" + section + "\n"
	}
	return os.WriteFile(doc, []byte(s), 0o644)
}
