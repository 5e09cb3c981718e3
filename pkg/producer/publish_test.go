package producer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sendonce/sendonce/pkg/source"
)

func TestPublishReportsRejectsAndDuplicates(t *testing.T) {
	e := fakeEnv(t)
	src := csvSource(t, 20,
		"u3,again@example.com,dup",         // duplicate of u3
		",x@example.com,no id",             // missing_user_id
		"u21,not-an-address,x",             // invalid_email
		"u22,Ann <ann@example.com>,x",      // invalid_email
		"u23,a@example.com",                // malformed_row: 2 fields
		"u3,u3@example.com,dup again",      // duplicate of u3
		"u24,,x",                           // missing_email
		"u25,u25@example.com,last is fine", // ok
	)
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	var rejFile bytes.Buffer
	cfg := testConfig()
	cfg.Topics = e.topics
	now := time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC)
	sum, err := Publish(context.Background(), cfg, Deps{Client: e.cl, Source: src, Metrics: m, RejectsFile: &rejFile, Now: func() time.Time { return now }})
	require.NoError(t, err)

	require.EqualValues(t, 28, sum.Rows)
	require.EqualValues(t, 21, sum.Published)
	require.EqualValues(t, 5, sum.Rejected)
	require.EqualValues(t, 2, sum.Duplicates)
	require.Equal(t, map[Reason]int64{ReasonMissingUserID: 1, ReasonInvalidEmail: 2, ReasonMalformedRow: 1, ReasonMissingEmail: 1}, sum.RejectedBy)
	require.EqualValues(t, 0, sum.AlreadySent)
	require.Nil(t, sum.Previous)

	records, jobs := readJobs(t, e)
	require.Equal(t, 21, records, "one record per valid user")
	require.Len(t, jobs, 21)
	require.Equal(t, "u3@example.com", jobs["u3"].Email, "the first row of a user wins")
	require.JSONEq(t, `{"first_name":"Name 3"}`, string(jobs["u3"].Data))

	// The report: the file and the topic hold the same entries.
	fileLines := lines(rejFile.String())
	require.Len(t, fileLines, 7)
	topicValues := readValues(t, e, e.topics.Rejects())
	require.ElementsMatch(t, fileLines, topicValues)
	var first Reject
	require.NoError(t, json.Unmarshal([]byte(fileLines[0]), &first))
	require.Equal(t, Reject{Campaign: "2026-11", Row: 21, Line: 22, Reason: ReasonDuplicateUser, Detail: first.Detail, UserID: "u3", At: now}, first)
	var reasons []Reason
	for _, l := range fileLines {
		var r Reject
		require.NoError(t, json.Unmarshal([]byte(l), &r))
		reasons = append(reasons, r.Reason)
		require.NotContains(t, l, "ann@example.com", "no addresses in the report")
	}
	require.Equal(t, []Reason{ReasonDuplicateUser, ReasonMissingUserID, ReasonInvalidEmail, ReasonInvalidEmail, ReasonMalformedRow, ReasonDuplicateUser, ReasonMissingEmail}, reasons)

	// The campaign record.
	rec, err := ReadCampaign(context.Background(), e.cl, e.topics, "2026-11")
	require.NoError(t, err)
	require.NotNil(t, rec)
	require.Equal(t, StatusPublished, rec.Status)
	require.EqualValues(t, 21, rec.Total)
	require.EqualValues(t, 5, rec.Rejected)
	require.EqualValues(t, 2, rec.Duplicates)
	require.Equal(t, "csv:users.csv", rec.Source)
	require.Equal(t, "monthly_news", rec.Template)
	require.Equal(t, now, rec.StartedAt)
	require.NotNil(t, rec.FinishedAt)

	// The metrics.
	require.EqualValues(t, 28, testutil.ToFloat64(m.Rows))
	require.EqualValues(t, 21, testutil.ToFloat64(m.Published))
	require.EqualValues(t, 2, testutil.ToFloat64(m.Duplicates))
	require.EqualValues(t, 2, testutil.ToFloat64(m.Rejected.WithLabelValues("invalid_email")))
	require.EqualValues(t, 0, testutil.ToFloat64(m.Rejected.WithLabelValues("data_too_large")))
	require.EqualValues(t, 21, histCount(t, m.PublishSeconds))

	var text bytes.Buffer
	require.NoError(t, sum.WriteText(&text))
	require.Contains(t, text.String(), "rejected      5 (malformed_row 1, missing_user_id 1, missing_email 1, invalid_email 2)")
	require.Contains(t, text.String(), "duplicates    2")
}

func histCount(t *testing.T, h prometheus.Histogram) uint64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	require.NoError(t, reg.Register(h))
	mfs, err := reg.Gather()
	require.NoError(t, err)
	return mfs[0].GetMetric()[0].GetHistogram().GetSampleCount()
}

func TestPublishMaxRejects(t *testing.T) {
	for _, tt := range []struct {
		max int
		err bool
	}{{max: -1}, {max: 2}, {max: 1, err: true}, {max: 0, err: true}} {
		e := fakeEnv(t)
		cfg := testConfig()
		cfg.Topics = e.topics
		cfg.MaxRejects = tt.max
		src := csvSource(t, 5, "u1,dup@example.com,x", ",a@example.com,x", "u9,bad,x")
		sum, err := Publish(context.Background(), cfg, Deps{Client: e.cl, Source: src})
		if tt.err {
			require.ErrorIs(t, err, ErrTooManyRejects, "max %d", tt.max)
			require.ErrorContains(t, err, "every valid row was published")
		} else {
			require.NoError(t, err, "max %d", tt.max)
		}
		require.EqualValues(t, 5, sum.Published, "valid rows are published either way")
		rec, err := ReadCampaign(context.Background(), e.cl, e.topics, cfg.Campaign)
		require.NoError(t, err)
		require.Equal(t, StatusPublished, rec.Status)
	}
}

func TestPublishFailsOnProduceError(t *testing.T) {
	e := fakeEnv(t)
	produces := 0
	e.fake.ControlKey(int16(kmsg.Produce), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		e.fake.KeepControl()
		produces++
		if produces == 1 {
			return nil, nil, false // the campaign record at the start
		}
		req := kr.(*kmsg.ProduceRequest)
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	cfg := testConfig()
	cfg.Topics = e.topics
	_, err := Publish(context.Background(), cfg, Deps{Client: e.cl, Source: csvSource(t, 1000)})
	require.ErrorIs(t, err, kerr.TopicAuthorizationFailed)
	require.Regexp(t, `publishing the job of user "u\d+"|recording that user "u\d+" belongs to the campaign`, err.Error(), "the first failed record, job or membership, names its user")

	e.fake.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) { return nil, nil, false })
	rec, err := ReadCampaign(context.Background(), e.cl, e.topics, cfg.Campaign)
	require.NoError(t, err)
	require.Equal(t, StatusPublishing, rec.Status, "a failed run never claims completion")
	require.Nil(t, rec.FinishedAt)
}

func TestPublishFailsOnSourceError(t *testing.T) {
	e := fakeEnv(t)
	cfg := testConfig()
	cfg.Topics = e.topics
	src := &errSource{rows: []source.Row{{Num: 1, UserID: "1", Email: "a@example.com"}}, err: errors.New("connection reset")}
	sum, err := Publish(context.Background(), cfg, Deps{Client: e.cl, Source: src})
	require.ErrorContains(t, err, "reading source csv:users.csv: connection reset")
	require.EqualValues(t, 1, sum.Published, "what was read is flushed")
	rec, err := ReadCampaign(context.Background(), e.cl, e.topics, cfg.Campaign)
	require.NoError(t, err)
	require.Equal(t, StatusPublishing, rec.Status)
}

func TestPublishInterruptedFlushesAndClaimsNothing(t *testing.T) {
	e := fakeEnv(t)
	cfg := testConfig()
	cfg.Topics = e.topics
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := &hookSource{Reader: csvSource(t, 1000), hook: func(n int) {
		if n == 300 {
			cancel() // SIGTERM
		}
	}}
	var logs bytes.Buffer
	sum, err := Publish(ctx, cfg, Deps{Client: e.cl, Source: src, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	require.ErrorIs(t, err, ErrInterrupted)
	require.ErrorContains(t, err, "rerun the same command")
	require.True(t, sum.Interrupted)
	require.EqualValues(t, 300, sum.Rows)
	require.EqualValues(t, 300, sum.Published, "buffered jobs are flushed")
	records, _ := readJobs(t, e)
	require.Equal(t, 300, records)
	rec, err := ReadCampaign(context.Background(), e.cl, e.topics, cfg.Campaign)
	require.NoError(t, err)
	require.Equal(t, StatusPublishing, rec.Status)
}

func TestPublishProgressLine(t *testing.T) {
	e := fakeEnv(t)
	cfg := testConfig()
	cfg.Topics = e.topics
	var out bytes.Buffer
	_, err := Publish(context.Background(), cfg, Deps{Client: e.cl, Source: csvSource(t, 10), Progress: &out})
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(out.String(), "\r\033[K"), "%q", out.String())
	require.Contains(t, out.String(), "rows 10  published 10  rejected 0  duplicates 0")
	require.True(t, strings.HasSuffix(out.String(), "\n"))
}

// syncBuf is a bytes.Buffer safe for a logger goroutine and the test.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestPublishProgressLogLines(t *testing.T) {
	e := fakeEnv(t)
	cfg := testConfig()
	cfg.Topics = e.topics
	cfg.ProgressEvery = time.Millisecond
	var logs syncBuf
	src := &hookSource{Reader: csvSource(t, 10), hook: func(n int) {
		if n != 5 {
			return
		}
		// Hold the run until a progress line was logged.
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(logs.String(), "msg=publishing") && time.Now().Before(deadline) {
			runtime.Gosched()
		}
	}}
	_, err := Publish(context.Background(), cfg, Deps{Client: e.cl, Source: src, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	require.Regexp(t, `msg=publishing campaign=2026-11 rows=\d+ published=\d+ rejected=0 duplicates=0 rows_per_second=\d+`, logs.String())
}
