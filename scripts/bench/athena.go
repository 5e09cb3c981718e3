package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// The Athena phase publishes a big Athena result the way production reads
// it: bin/producer publish --source athena against a fake Athena (in this
// process; it finishes the query at once and reports the result location)
// and an S3 endpoint (gofakes3, in this process, holding the result file as
// Athena writes it: every value quoted). Beside it, the GetQueryResults
// path publishes a smaller sample from the same fake with a latency per
// call, and its time is extrapolated to the full size, labelled as such.

const athenaBucket = "bench-athena-results"

type athenaResult struct {
	Rows, Parallel int
	FileBytes      int64
	Use            usage
	PeakRSS        int64 // VmHWM of the producer (see vmHWM)
	RowsPerSec     float64
	InTopic        int64
	Win            window
	LoadBefore     string // /proc/loadavg at the start: other work on the box
	MemLimit       string // GOMEMLIMIT of the producer; empty: none
	LoadAfter      string

	APIRows         int
	APILatency      time.Duration
	APICalls        int64
	APIUse          usage
	APIPeakRSS      int64
	APIInTopic      int64
	APIExtrapolated time.Duration // APIUse.Wall × Rows / APIRows
	APIRowsPerSec   float64
}

// athenaRow is row i of the bench's users table, as the values Athena
// would return: user_id, email, name, kwh.
func athenaRow(i int, b []string) []string {
	names := [...]string{"Ann", "Bob", "Chloé", "Dmitri", "Eve", "Fatima", "Gus", "Hana"}
	return append(b[:0],
		fmt.Sprintf("u%09d", i),
		fmt.Sprintf("user%09d@bench.example.org", i),
		names[i%len(names)]+" "+strconv.Itoa(i),
		strconv.FormatFloat(float64(100+(i*37)%900)+float64(i%10)/10, 'f', 1, 64))
}

var athenaColumns = []string{"user_id", "email", "name", "kwh"}

// athenaResultFile writes n rows as Athena writes a result file (header,
// every value quoted) under dir once; later runs reuse it.
func athenaResultFile(dir string, n int) (string, error) {
	path := filepath.Join(dir, fmt.Sprintf("athena-users-%d.csv", n))
	if st, err := os.Stat(path); err == nil && st.Size() > 0 {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return "", err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	line := func(vals []string) {
		for i, v := range vals {
			if i > 0 {
				_ = w.WriteByte(',')
			}
			_ = w.WriteByte('"')
			_, _ = w.WriteString(strings.ReplaceAll(v, `"`, `""`))
			_ = w.WriteByte('"')
		}
		_ = w.WriteByte('\n')
	}
	line(athenaColumns)
	var vals []string
	for i := range n {
		vals = athenaRow(i, vals)
		line(vals)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return path, os.Rename(tmp, path)
}

// athenaFake answers StartQueryExecution, GetQueryExecution and
// GetQueryResults. A query ends with "-- rows=N": its execution id is
// users-N, its result file s3://<bucket>/athena/users-N.csv, and
// GetQueryResults pages through N generated rows, waiting latency per call.
type athenaFake struct {
	srv     *http.Server
	url     string
	latency time.Duration
	calls   atomic.Int64 // GetQueryResults calls
}

var rowsRe = regexp.MustCompile(`-- rows=(\d+)`)

func newAthenaFake(latency time.Duration) (*athenaFake, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &athenaFake{url: "http://" + ln.Addr().String(), latency: latency}
	f.srv = &http.Server{Handler: http.HandlerFunc(f.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = f.srv.Serve(ln) }()
	return f, nil
}

func (f *athenaFake) close() { _ = f.srv.Close() }

func (f *athenaFake) serve(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	reply := func(v any) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_ = json.NewEncoder(w).Encode(v)
	}
	id, _ := body["QueryExecutionId"].(string)
	rows, _ := strconv.Atoi(strings.TrimPrefix(id, "users-"))
	switch op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "AmazonAthena."); op {
	case "StartQueryExecution":
		q, _ := body["QueryString"].(string)
		m := rowsRe.FindStringSubmatch(q)
		if m == nil {
			w.WriteHeader(http.StatusBadRequest)
			reply(map[string]string{"__type": "InvalidRequestException", "Message": "bench query needs -- rows=N"})
			return
		}
		reply(map[string]any{"QueryExecutionId": "users-" + m[1]})
	case "GetQueryExecution":
		reply(map[string]any{"QueryExecution": map[string]any{
			"QueryExecutionId":    id,
			"Status":              map[string]any{"State": "SUCCEEDED"},
			"ResultConfiguration": map[string]any{"OutputLocation": fmt.Sprintf("s3://%s/athena/%s.csv", athenaBucket, id)},
		}})
	case "GetQueryResults":
		f.calls.Add(1)
		time.Sleep(f.latency) // the round trip of a real GetQueryResults call
		max := int(body["MaxResults"].(float64))
		start := 0
		if tok, ok := body["NextToken"].(string); ok {
			start, _ = strconv.Atoi(tok)
		}
		all := rows + 1 // the header is row 0
		end := min(start+max, all)
		out := make([]any, 0, end-start)
		var vals []string
		for i := start; i < end; i++ {
			if i == 0 {
				vals = append(vals[:0], athenaColumns...)
			} else {
				vals = athenaRow(i-1, vals)
			}
			data := make([]any, len(vals))
			for k, v := range vals {
				data[k] = map[string]string{"VarCharValue": v}
			}
			out = append(out, map[string]any{"Data": data})
		}
		cols := make([]any, len(athenaColumns))
		for k, c := range athenaColumns {
			cols[k] = map[string]string{"Name": c, "Type": "varchar"}
		}
		res := map[string]any{"ResultSet": map[string]any{"ResultSetMetadata": map[string]any{"ColumnInfo": cols}, "Rows": out}}
		if end < all {
			res["NextToken"] = strconv.Itoa(end)
		}
		reply(res)
	default:
		w.WriteHeader(http.StatusBadRequest)
		reply(map[string]string{"__type": "UnknownOperationException", "Message": op})
	}
}

// s3Fake is gofakes3 (in memory) on a loopback port.
type s3Fake struct {
	srv *http.Server
	url string
	be  *s3mem.Backend
}

func newS3Fake() (*s3Fake, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	be := s3mem.New()
	if err := be.CreateBucket(athenaBucket); err != nil {
		ln.Close()
		return nil, err
	}
	s := &s3Fake{url: "http://" + ln.Addr().String(), be: be}
	s.srv = &http.Server{Handler: gofakes3.New(be).Server(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *s3Fake) put(key, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	_, err = s.be.PutObject(athenaBucket, key, map[string]string{}, bufio.NewReaderSize(f, 1<<20), st.Size(), nil)
	return err
}

func (s *s3Fake) close() { _ = s.srv.Close() }

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

// athena runs the S3 path over o.athenaRows and the GetQueryResults path
// over o.athenaAPIRows.
func (b *bench) athena(ctx context.Context) error {
	n := b.o.athenaRows
	t := time.Now()
	path, err := athenaResultFile(b.o.out, n)
	if err != nil {
		return err
	}
	s3f, err := newS3Fake()
	if err != nil {
		return err
	}
	defer s3f.close()
	key := fmt.Sprintf("athena/users-%d.csv", n)
	if err := s3f.put(key, path); err != nil {
		return fmt.Errorf("putting the result file into gofakes3: %w", err)
	}
	logf("athena: result file of %d rows (%s) in gofakes3 at %s after %s", n, mib(fileSize(path)), s3f.url, time.Since(t).Round(time.Millisecond))
	fa, err := newAthenaFake(b.o.athenaAPILatency)
	if err != nil {
		return err
	}
	defer fa.close()

	r := &athenaResult{Rows: n, Parallel: b.o.athenaParallel, FileBytes: fileSize(path), MemLimit: b.o.athenaMemLimit}
	prefix := b.prefix('a')
	defer b.cleanup(prefix)
	r.LoadBefore = loadavg()
	before := b.snap(ctx)
	use, peak, err := b.publishAthena(ctx, "athena-s3", prefix, n, "s3", fa.url, s3f.url)
	after := b.snap(ctx)
	r.LoadAfter = loadavg()
	if err != nil {
		return err
	}
	r.Use, r.PeakRSS, r.Win = use, peak, between(before, after)
	r.RowsPerSec = float64(n) / use.Wall.Seconds()
	if r.InTopic, err = b.jobsInTopic(ctx, prefix); err != nil {
		return err
	}
	b.res.Athena = r
	logf("athena s3: %d rows in %s: %.0f rows/s, peak RSS %s, CPU %s, %d records in the topic (load %s → %s)",
		n, use.Wall.Round(time.Millisecond), r.RowsPerSec, mib(r.PeakRSS), use.CPU.Round(time.Millisecond), r.InTopic, r.LoadBefore, r.LoadAfter)
	if r.InTopic < int64(n) {
		return fmt.Errorf("only %d of %d jobs in the topic", r.InTopic, n)
	}

	if b.o.athenaAPIRows <= 0 {
		return nil
	}
	r.APIRows, r.APILatency = b.o.athenaAPIRows, b.o.athenaAPILatency
	prefix2 := b.prefix('g')
	defer b.cleanup(prefix2)
	calls := fa.calls.Load()
	r.APIUse, r.APIPeakRSS, err = b.publishAthena(ctx, "athena-api", prefix2, r.APIRows, "api", fa.url, s3f.url)
	if err != nil {
		return err
	}
	r.APICalls = fa.calls.Load() - calls
	r.APIRowsPerSec = float64(r.APIRows) / r.APIUse.Wall.Seconds()
	r.APIExtrapolated = time.Duration(float64(r.APIUse.Wall) * float64(n) / float64(r.APIRows))
	if r.APIInTopic, err = b.jobsInTopic(ctx, prefix2); err != nil {
		return err
	}
	logf("athena api: %d rows in %s (%d GetQueryResults calls at +%s each): %.0f rows/s; %d rows extrapolated: %s",
		r.APIRows, r.APIUse.Wall.Round(time.Millisecond), r.APICalls, r.APILatency, r.APIRowsPerSec, n, r.APIExtrapolated.Round(time.Second))
	if r.APIInTopic < int64(r.APIRows) {
		return fmt.Errorf("api path: only %d of %d jobs in the topic", r.APIInTopic, r.APIRows)
	}
	return nil
}

// publishAthena runs bin/producer publish --source athena with the query of
// rows rows, read the given way. It returns the producer's usage and its
// peak RSS (VmHWM).
func (b *bench) publishAthena(ctx context.Context, phase, prefix string, rows int, read, athenaURL, s3URL string) (usage, int64, error) {
	env := append(b.env(prefix, "http://127.0.0.1:9", ""), "AWS_ENDPOINT_URL_ATHENA="+athenaURL, "AWS_ENDPOINT_URL_S3="+s3URL)
	if b.o.athenaMemLimit != "" {
		env = append(env, "GOMEMLIMIT="+b.o.athenaMemLimit)
	}
	p, err := startProc("producer", b.bin("producer"), []string{
		"publish", "--campaign", campaignID, "--source", "athena",
		"--athena-query", fmt.Sprintf("SELECT user_id, email, name, kwh FROM users -- rows=%d", rows),
		"--athena-read", read, "--athena-s3-parallel", strconv.Itoa(b.o.athenaParallel),
		"--template", templateName, "--from", fromAddr, "--partitions", strconv.Itoa(b.o.partitions),
		"--skip-ses-checks", // no SES in this phase (its endpoint is a closed port)
	}, env, b.logPath(phase, "producer"))
	if err != nil {
		return usage{}, 0, err
	}
	hwm := make(chan int64, 1)
	go func() {
		var peak int64
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if v := vmHWM(p.cmd.Process.Pid); v > peak {
				peak = v
			}
			select {
			case <-p.done:
				hwm <- peak
				return
			case <-t.C:
			}
		}
	}()
	wctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
	err = p.wait(wctx)
	peak := <-hwm
	if err != nil {
		return p.use, peak, err
	}
	if read == "s3" {
		log, _ := os.ReadFile(p.log)
		if strings.Contains(string(log), "paging through GetQueryResults instead") {
			return p.use, peak, errors.New("the producer fell back to GetQueryResults instead of reading S3; see " + p.log)
		}
	}
	return p.use, peak, nil
}

// vmHWM is the peak resident set of pid's current program (VmHWM in
// /proc/<pid>/status), 0 when unknown. getrusage's ru_maxrss is no good
// here: Go starts children with vfork, and Linux carries the parent's peak
// RSS into the child's maxrss at exec — and this bench holds the whole
// result file (gofakes3), so ru_maxrss would report the bench, not the
// producer.
func vmHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// athenaRows are the summary rows of the phase.
func (b *bench) athenaRows() []row {
	a := b.res.Athena
	if a == nil {
		return nil
	}
	out := []row{
		{fmt.Sprintf("Athena %d rows from S3 (--athena-read s3, %d GET(s)) → Kafka: wall", a.Rows, a.Parallel), fmt.Sprintf("%.1f s (%.0f rows/s)", a.Use.Wall.Seconds(), a.RowsPerSec), "10M in ≤ 60 s",
			verdict(a.Use.Wall <= time.Duration(float64(60*time.Second)*float64(a.Rows)/10_000_000), fmt.Sprintf("(+%.0f%%)", 100*(a.Use.Wall.Seconds()/(60*float64(a.Rows)/10_000_000)-1)))},
		{"Athena from S3: producer peak RSS (VmHWM)", mib(a.PeakRSS), "≤ 256 MiB", verdict(a.PeakRSS > 0 && a.PeakRSS <= 256<<20, fmt.Sprintf("(%.0f%% over)", 100*(float64(a.PeakRSS)/(256<<20)-1)))},
	}
	if a.APIRows > 0 {
		out = append(out, row{fmt.Sprintf("Athena via GetQueryResults, %d rows measured (+%s per call), EXTRAPOLATED to %d", a.APIRows, a.APILatency, a.Rows),
			fmt.Sprintf("%.0f rows/s → %s for %d (extrapolated)", a.APIRowsPerSec, a.APIExtrapolated.Round(time.Second), a.Rows), "(the path S3 replaces)", ""})
	}
	return out
}

// athenaDetail is the phase's paragraph under the table.
func (b *bench) athenaDetail(sb *strings.Builder) {
	a := b.res.Athena
	if a == nil {
		return
	}
	other := a.Win.Busy - a.Use.CPU - a.Win.Kafka - a.Win.Bench
	fmt.Fprintf(sb, "\nAthena from S3: %d rows, result file %s (every value quoted, as Athena writes it) in gofakes3 in the bench process; `--athena-read s3 --athena-s3-parallel %d`, GOMEMLIMIT=%s; wall %.2f s (%.0f rows/s, %.1f MiB/s), producer CPU %.2f s (user %.2f, sys %.2f), peak RSS %s (VmHWM; ru_maxrss says %s, but it carries the bench's own peak over the vfork+exec); meanwhile Kafka %.2f s CPU, the bench (gofakes3) %.2f s, other work on the box %.2f s (load average %s before, %s after); %d records in the jobs topic.\n",
		a.Rows, mib(a.FileBytes), a.Parallel, cmp.Or(a.MemLimit, "(none)"), a.Use.Wall.Seconds(), a.RowsPerSec, float64(a.FileBytes)/(1<<20)/a.Use.Wall.Seconds(), a.Use.CPU.Seconds(), a.Use.User.Seconds(), a.Use.Sys.Seconds(), mib(a.PeakRSS), mib(a.Use.MaxRSS),
		a.Win.Kafka.Seconds(), a.Win.Bench.Seconds(), max(other, 0).Seconds(), a.LoadBefore, a.LoadAfter, a.InTopic)
	if a.APIRows > 0 {
		fmt.Fprintf(sb, "\nAthena via GetQueryResults (`--athena-read api`), for comparison: %d rows measured in %.2f s with %d calls of 1,000 rows, each held %s by the fake Athena (the low end of real GetQueryResults latency); peak RSS %s (VmHWM). EXTRAPOLATED (not measured) to %d rows: %s.\n",
			a.APIRows, a.APIUse.Wall.Seconds(), a.APICalls, a.APILatency, mib(a.APIPeakRSS), a.Rows, a.APIExtrapolated.Round(time.Second))
	}
}
